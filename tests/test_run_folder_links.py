"""A run folder's files are read only inside it (files.open_regular, files.run_folder_of): a link
leading out of the folder (`network.yaml -> /a/secret`, a folder of links to another run's
files) is never opened, and is named with where it leads; a link inside the folder is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnnctl.files import Unread, open_regular
from tests.helpers import run_main
from tests.test_reading import a_run, within

SECRET = "password: hunter2-0f9e\n"  # YAML, so a parser that read it would quote its key


def test_summarize_of_a_run_whose_network_links_out_names_the_link_and_never_reads_it(tmp_path, monkeypatch, capsys):
    secret = tmp_path / "secret.yaml"
    secret.write_text(SECRET)
    run = a_run(tmp_path / "runs" / "r")
    (run / "network.yaml").unlink()
    (run / "network.yaml").symlink_to(secret)
    with within(60):
        code, out, err = run_main(monkeypatch, capsys, "summarize", str(run))
    assert code == 2 and "Traceback" not in err
    assert (
        f"{run / 'network.yaml'}: " in err
        and f"a link leading out of its run folder {run.resolve()}, to {secret}" in err
    )
    assert "password" not in out + err and "hunter2" not in out + err


def test_a_run_folder_of_links_to_another_runs_files_is_not_evaluated_as_its_own(tmp_path, monkeypatch, capsys):
    real = a_run(tmp_path / "runs" / "base")
    cheat = tmp_path / "evil" / "cheat"
    cheat.mkdir(parents=True)
    for name in os.listdir(real):
        (cheat / name).symlink_to(real / name)
    with within(60):
        code, _, err = run_main(monkeypatch, capsys, "evaluate", str(cheat), "--data", "shapes")
    assert code == 2 and "Traceback" not in err
    assert f"{cheat / 'config.json'}: " in err and f"to {real / 'config.json'}" in err
    with within(60):
        code, out, err = run_main(monkeypatch, capsys, "runs", str(cheat))
    assert code == 0, err
    assert f"{cheat / 'metrics.jsonl'}: cannot read metrics.jsonl: a link leading out of its run folder" in out
    # the network and the checkpoints, which every other command refuses, were not flagged by `runs`
    for name in [n for n in ("network.yaml", "best.pt", "last.pt") if (real / n).exists()]:
        assert f"{cheat / name}: {name} is a link leading out of the run folder, to {real / name}: never read" in out


def test_runs_flags_a_network_linking_out_and_not_one_linking_inside(tmp_path, monkeypatch, capsys):
    run = a_run(tmp_path / "runs" / "r")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_bytes((run / "network.yaml").read_bytes())
    (run / "network.yaml").unlink()
    (run / "network.yaml").symlink_to(outside)
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"))
    assert code == 0 and f"network.yaml is a link leading out of the run folder, to {outside}" in out, err
    (run / "network.yaml").unlink()
    (run / "kept.yaml").write_bytes(outside.read_bytes())
    (run / "network.yaml").symlink_to("kept.yaml")  # inside the folder: fine
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"))
    assert code == 0 and "link leading out" not in out, err


def test_links_inside_a_run_folder_and_a_run_folder_reached_by_a_link_are_read(tmp_path, monkeypatch, capsys):
    run = a_run(tmp_path / "runs" / "r")
    (run / "network.yaml").rename(run / "kept.yaml")
    (run / "network.yaml").symlink_to("kept.yaml")  # relative, inside the folder
    (tmp_path / "latest").symlink_to(run)  # the folder itself through a link from elsewhere
    for given in (run, tmp_path / "latest"):
        with within(60):
            code, out, err = run_main(monkeypatch, capsys, "summarize", str(given))
        assert code == 0 and "conv" in out, err


def test_a_link_out_of_a_folder_that_is_no_run_is_read_as_before(tmp_path):
    """Only a run folder's files are bound to their folder: a user's own link to a network file is theirs."""
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "a.yaml").write_text(SECRET)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.yaml").symlink_to(tmp_path / "nets" / "a.yaml")
    with open_regular(tmp_path / "mine" / "a.yaml") as file:
        assert file.read() == SECRET.encode()
    run = a_run(tmp_path / "r")
    (run / "weights.pt").symlink_to(tmp_path / "nets" / "a.yaml")
    with pytest.raises(Unread, match="leading out of its run folder"), open_regular(run / "weights.pt"):
        pass


def test_a_checkpoint_linking_out_of_its_run_is_not_opened_to_tell_it_cut_short(tmp_path):
    from cnnctl.run_marks import cut_short

    outside = tmp_path / "x.pt"
    outside.write_bytes(b"PK\x03\x04 no directory")  # cut short, were it read
    run = a_run(tmp_path / "r")
    (run / "best.pt").symlink_to(outside)
    assert not cut_short(str(run / "best.pt"))
    (run / "last.pt").write_bytes(outside.read_bytes())
    assert cut_short(str(run / "last.pt"))


def test_a_run_never_writes_through_a_link_leading_out_of_its_folder(tmp_path, monkeypatch, capsys):
    # skipped.txt -> ~/.bashrc was appended to (each unreadable image a line): refused before training.
    bashrc, other = tmp_path / "bashrc", tmp_path / "other.json"
    bashrc.write_text("# mine\n")
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "skipped.txt").symlink_to(bashrc)
    (run / "status.json").symlink_to(other)  # to nowhere yet: it would be made there
    with within(120):
        code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--data", "shapes", "--epochs", "1",
                                "--device", "cpu", "--out", str(run))  # fmt: skip
    assert code == 2 and "Traceback" not in err and err.count("error:") == 2, err
    for name, target in (("skipped.txt", bashrc), ("status.json", other)):
        assert f"error: {run / name}: {name} is a link leading out of the run folder, to {target}: " in err
    assert bashrc.read_text() == "# mine\n" and not other.exists()
    assert not (run / "architecture.json").exists()  # refused before the run wrote anything


def test_a_temporary_file_that_is_a_link_is_never_written_through(tmp_path):
    from cnnctl.writing import replace_through

    victim = tmp_path / "victim"
    victim.write_text("mine\n")
    (tmp_path / ".status.json.tmp").symlink_to(victim)  # the name the write of status.json goes through
    replace_through(str(tmp_path / "status.json"), lambda tmp: Path(tmp).write_text("{}\n"))
    assert victim.read_text() == "mine\n" and (tmp_path / "status.json").read_text() == "{}\n"
    assert not os.path.lexists(tmp_path / ".status.json.tmp")


def test_a_skipped_txt_swapped_for_a_link_while_the_run_trains_is_not_written_through(tmp_path):
    # The run refuses a link before it begins; one put there since was followed by the append.
    from cnnctl.data.loader import Skipped
    from cnnctl.errors import CnnctlError, Problem

    victim = tmp_path / "bashrc"
    victim.write_text("export PATH\n")
    skipped = Skipped(tmp_path / "skipped.txt", listed=1000)
    skipped.add([("a.png", Problem("cannot read the image"))])
    (tmp_path / "skipped.txt").unlink()
    (tmp_path / "skipped.txt").symlink_to(victim)  # swapped in while it trains
    with pytest.raises(CnnctlError) as refused:
        skipped.add([("b.png", Problem("cannot read the image"))])
    assert "became a link while the run trained: never written through" in str(refused.value)
    assert victim.read_text() == "export PATH\n"
