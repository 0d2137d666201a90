"""The command line's text output: validate's report, help texts, CSV for scripts."""

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from helpers import run_main

from cnnctl.cli import COMMANDS


def cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "cnnctl", *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def one_layer(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("input: 8x8x1\nlayers:\n  - conv f=3 n=2\n")
    return str(path)


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("input: 4x4x1\nlayers:\n  - conv f=5 n=1\n")
    return str(path)


def test_validate_one_layer_is_singular(one_layer):
    r = cli("validate", one_layer)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"ok  {one_layer}  (1 layer, 20 params, 648 mults)\n"


def test_validate_stdout_alone_names_the_invalid_file(one_layer, bad):
    r = cli("validate", one_layer, bad)
    assert r.returncode == 2
    # `2>/dev/null` still says which file failed: the total line names it
    assert r.stdout.splitlines()[-1] == f"1 valid, 1 invalid: {bad}"
    assert r.stderr.startswith(f"FAIL {bad}\n  ") and "larger than its padded input" in r.stderr


def test_validate_escapes_control_characters_in_a_file_name():
    r = cli("validate", "no\x1bsuch.yaml", "lenet5")
    assert r.returncode == 2
    assert "\x1b" not in r.stdout + r.stderr
    assert "no\\x1bsuch.yaml" in r.stdout


def test_help_shows_whole_command_descriptions():
    out = cli("--help", columns=80).stdout
    commands = out[out.index("Commands:") :].split("\n\n")[0].splitlines()[1:]  # the block, up to its blank line
    expected = list(COMMANDS)  # every command, in the order of the registry
    assert [ln.split()[0] for ln in commands if ln.strip()] == expected
    assert not any(ln.rstrip().endswith("...") for ln in commands), out
    # each a whole first paragraph, ending its sentence (evaluate's was cut where its docstring wraps)
    assert all(ln.rstrip().endswith(".") for ln in commands if ln.strip()), out
    assert "the confusion matrix." in next(ln for ln in commands if ln.split()[0] == "evaluate")


@pytest.mark.parametrize("command", ["summarize", "flops"])
def test_usage_line_has_no_braces(command):
    out = cli(command, "--help").stdout
    assert f" {command} [OPTIONS] ARCH\n" in out
    assert "{" not in out.splitlines()[0]


def test_batch_help_says_what_it_does():
    def words(command: str) -> str:
        return " ".join(cli(command, "--help").stdout.split())

    assert "Batch size: memory is for B images, and totals per batch are added." in words("summarize")
    assert "Batch size: adds multiplications and FLOPs for B images." in words("flops")


def test_csv_from_the_cli_is_machine_readable():
    rows = list(csv.reader(io.StringIO(cli("summarize", "lenet5", "-f", "csv").stdout)))
    assert rows[0] == ["layer", "shorthand", "output", "params", "mults", "field"]  # --columns' names, snake_case
    assert rows[1] == ["conv1", "conv f=5 n=6 act=tanh", "28x28x6", "156", "117600", "5"]  # a 5x5 filter's field
    chosen = cli("summarize", "lenet5", "-f", "csv", "--columns", "layer,output,memory").stdout
    assert list(csv.reader(io.StringIO(chosen)))[:2] == [["layer", "output", "memory"], ["conv1", "28x28x6", "18816"]]
    rows = list(csv.reader(io.StringIO(cli("list", "-f", "csv").stdout)))
    lenet = next(r for r in rows if r[0] == "lenet5")
    assert lenet[1:4] == ["32x32x1", "61706", "416520"]
    # the params at inference, under the JSON's name for them (its `params` count the heads only training runs)
    assert rows[0] == ["name", "input", "inference_params", "mults", "description"]


@pytest.mark.parametrize("columns", [None, 40])
def test_list_piped_is_one_line_per_network_whatever_columns_says(columns):
    # piped, `cnnctl list` wrapped its descriptions to $COLUMNS (else 100): `cnnctl list | grep` cut them;
    # summarize's plain text never wraps, nor now list's
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = str(columns)
    run = subprocess.run([sys.executable, "-m", "cnnctl", "list"], capture_output=True, text=True, timeout=60, env=env)
    lines = run.stdout.splitlines()
    rows = list(csv.DictReader(io.StringIO(cli("list", "-f", "csv").stdout)))
    assert run.returncode == 0 and max(len(r["description"]) for r in rows) > 100  # (one would have wrapped)
    start = lines[1].index("Description")
    listed = [ln for ln in lines[3:] if ln.strip() and not ln.startswith(" ")]  # a network's row
    assert [ln[start:] for ln in listed[: len(rows)]] == [r["description"] for r in rows]  # each whole, on its row


def test_validate_writes_csv_a_row_per_file(one_layer, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 8x8x1\nlayers:\n  - conv f=3 n=2 act=rleu\n")
    done = cli("validate", str(one_layer), str(bad), "--format", "csv")
    assert done.returncode == 2
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    # conv f=3 n=2 on 8x8x1: 6x6x2 out, (3*3*1)*2 + 2 = 20 params, (6*6*2)*(3*3*1) = 648 mults.
    assert [(r["status"], r["params"], r["mults"]) for r in rows] == [("ok", "20", "648"), ("fail", "", "")]  # one case
    assert "did you mean `relu`" in rows[1]["problems"] and rows[1]["file"] == str(bad)


def test_validate_json_gives_each_problem_its_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 8x8x1\nlayers:\n  - conv f=3 n=2 act=rleu\n")
    done = cli("validate", str(bad), "--format", "json")
    assert done.returncode == 2
    (detail,) = json.loads(done.stdout)["files"][0]["details"]
    # `rleu` starts at column 22 of line 3: "  - conv f=3 n=2 act=" is 21 characters.
    assert (detail["severity"], detail["file"], detail["line"], detail["column"]) == ("error", str(bad), 3, 22)
    assert detail["layer"] == "conv1" and detail["hint"] == "did you mean `relu`?"
    # exit 2 has `errors`, as every command's JSON does; `ok` and `files` as they were
    document = json.loads(done.stdout)
    assert document["ok"] is False and document["errors"] == [detail]
    assert "errors" not in json.loads(cli("validate", "lenet5", "--format", "json").stdout)


# --- what ARCH or RUN is when it is something else: messages that say what was given -----------
LENET = "architectures/lenet5.yaml"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder as `cnnctl train` leaves it: runs/l5 and runs/l5-2 (their network and config, a
    checkpoint's first bytes: torch.save writes a zip), a folder of images and one of class folders."""
    import pickle
    import zipfile
    from pathlib import Path

    network = (Path(__file__).resolve().parents[1] / LENET).read_text()
    for name in ("l5", "l5-2"):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        (run / "network.yaml").write_text(network)
        (run / "config.json").write_text('{"input": "32x32x1"}')
        with zipfile.ZipFile(run / "best.pt", "w") as archive:  # whole, laid out as torch.save's: `runs` flags others
            archive.writestr("l5/data.pkl", pickle.dumps({}, protocol=2))
            archive.writestr("l5/version", "3\n")
    for name in ("a.png", "b.png", "c.jpg"):
        (tmp_path / "imgs").mkdir(exist_ok=True)
        (tmp_path / "imgs" / name).write_bytes(b"\x89PNG")
    for name in ("cat", "dog"):
        (tmp_path / "data" / "train" / name).mkdir(parents=True)
        (tmp_path / "data" / "train" / name / "1.png").write_bytes(b"\x89PNG")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def mistake(monkeypatch, capsys, *args: str) -> str:
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "Traceback" not in err, out + err
    return err


def test_a_folder_of_runs_names_a_few_of_them(workdir, monkeypatch, capsys):
    err = mistake(monkeypatch, capsys, "evaluate", "runs")
    assert "`runs` holds runs: runs/l5, runs/l5-2; give one of them" in err
    for n in range(3, 9):  # past five, the others are counted
        (workdir / "runs" / f"r{n}").mkdir()
        (workdir / "runs" / f"r{n}" / "last.pt").write_bytes(b"PK\x03\x04")
    err = mistake(monkeypatch, capsys, "predict", "runs", "imgs")
    assert "`runs` holds runs: runs/l5, runs/l5-2, runs/r3, runs/r4, runs/r5 and 3 more; give one of them" in err


@pytest.mark.parametrize(
    ("folder", "kind", "advice"),
    [("imgs", "3 PNG or JPEG images", "cnnctl predict RUN imgs"), ("data", "images in subfolders", "--data")],
)  # fmt: skip
def test_a_folder_of_data_is_told_as_data_with_what_goes_there(workdir, monkeypatch, capsys, folder, kind, advice):
    err = mistake(monkeypatch, capsys, "evaluate", folder)
    assert f"`{folder}` looks like data ({kind}), not a network" in err
    assert advice in err and "--data" in err
    assert "give a run folder (runs/l5: its network and best weights), a network file (.yaml)" in err


def test_class_folders_of_images_at_any_depth_are_told_as_data_as_training_reads_them(workdir, monkeypatch, capsys):
    # data_kind looked two levels down: train/cat/2024/05/1.png, which training reads, was "a directory"
    from cnnctl.data.folder import list_image_folder

    for split in ("train", "val"):
        for name in ("cat", "dog"):
            deep = workdir / "photos" / split / name / "2024" / "05"
            deep.mkdir(parents=True)
            (deep / "1.png").write_bytes(b"\x89PNG")
        (workdir / "photos" / split / "cat" / "0-up").symlink_to("..")  # a loop of links, looked into first
    tree = list_image_folder(workdir / "photos")
    assert tree.classes == ["cat", "dog"] and [len(tree.splits[s]) for s in ("train", "val")] == [2, 2]
    err = mistake(monkeypatch, capsys, "train", "photos")
    assert "`photos` looks like data (images in subfolders), not a network" in err


def test_a_folder_of_network_files_lists_them(monkeypatch, capsys):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    err = mistake(monkeypatch, capsys, "summarize", "architectures")
    assert "`architectures` is a directory of network files: architectures/alexnet.yaml" in err


@pytest.mark.parametrize("command", [["summarize"], ["flops"], ["memory"], ["compare", "alexnet"]])
def test_json_names_a_bundled_networks_file_for_scripts(command):
    """A script reads `"file": "lenet5.yaml", "bundled": true`, not the header's `bundled: lenet5.yaml`;
    a file given by its path is that path, `"bundled": false`."""
    out = json.loads(cli(*command, "lenet5", "--format", "json").stdout)
    for network in out.get("networks", [out]):
        assert (network["file"], network["bundled"]) == (f"{network['name']}.yaml", True)
    assert "bundled:" not in json.dumps(out)
    given = json.loads(cli(*command, "examples/residual_small.yaml", "--format", "json").stdout)
    networks = given.get("networks", [given])
    assert (networks[-1]["file"], networks[-1]["bundled"]) == ("examples/residual_small.yaml", False)


def test_a_problems_json_names_a_bundled_file_as_other_json_does():
    from cnnctl.errors import Loc, Problem
    from cnnctl.render.views.problems import problem_json

    said = problem_json(Problem("a note", Loc("bundled: lenet5.yaml", 3, 5), "fc3", None), "warning")
    assert (said["file"], said["bundled"], said["line"], said["column"]) == ("lenet5.yaml", True, 3, 5)
    said = problem_json(Problem("a note", Loc("nets/my.yaml", 3, 5), None, None))
    assert (said["file"], said["bundled"]) == ("nets/my.yaml", False)


def test_summarize_json_gives_the_per_batch_totals_the_text_says(monkeypatch, capsys):
    # LeNet-5 multiplies 416,520 times an image (conv 117,600 + 240,000, fc 48,000 + 10,080 + 840); -b 4: 4 images
    code, out, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "-b", "4", "--format", "json")
    totals = json.loads(out)["totals"]
    assert code == 0 and totals["mults"] == 416_520 and totals["batch_mults"] == 4 * 416_520, err
    assert totals["batch_flops"] == 4 * totals["flops"]
    code, out, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "-b", "4")
    assert f"{4 * 416_520:,}" in out and f"{4 * totals['flops']:,}" in out


def test_a_file_here_wins_over_a_bundled_name_and_the_header_says_which_was_read(tmp_path, monkeypatch, capsys):
    # `lenet5` read the bundled LeNet-5 though ./lenet5.yaml was there, and both headers said `(lenet5.yaml)`
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--format", "json")
    said = json.loads(out)
    assert code == 0 and (said["file"], said["bundled"]) == ("lenet5.yaml", True) and said["totals"]["layers"] == 7
    (tmp_path / "lenet5.yaml").write_text("name: mine\ninput: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - fc 2\n")
    for arg in ("lenet5", "lenet5.yaml"):
        code, out, err = run_main(monkeypatch, capsys, "summarize", arg)
        assert code == 0 and out.startswith("mine  (lenet5.yaml)\n"), out + err
    code, out, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--format", "json")
    said = json.loads(out)
    assert code == 0 and (said["name"], said["file"], said["bundled"]) == ("mine", "lenet5.yaml", False)
    code, out, err = run_main(monkeypatch, capsys, "summarize", "resnet18")
    assert code == 0 and out.startswith("resnet18  (bundled: resnet18.yaml)\n"), out + err


@pytest.mark.parametrize(
    ("arg", "hint"),
    # `runs/l5-3` is not a slip for `runs/l5-2`, another run: the message lists them instead
    [("runs/l5x", "did you mean `runs/l5`?"), ("runs/l5-3", "give one of them"), ("runs/nothere", "give one")],
)  # fmt: skip
def test_a_missing_run_suggests_the_nearest_run_not_a_network(workdir, monkeypatch, capsys, arg, hint):
    err = mistake(monkeypatch, capsys, "evaluate", arg)
    assert f"no run `{arg}`: `runs` holds runs/l5, runs/l5-2" in err
    assert hint in err and "bundled:" not in err


def test_a_missing_file_in_a_run_suggests_the_runs_files(workdir, monkeypatch, capsys):
    err = mistake(monkeypatch, capsys, "evaluate", "runs/l5/bset.pt")
    assert "the run `runs/l5` holds best.pt, config.json, network.yaml" in err
    assert "did you mean `runs/l5/best.pt`?" in err


def test_a_checkpoint_in_a_run_folder_means_that_run(workdir, monkeypatch, capsys):
    from cnnctl.catalog import resolve
    from cnnctl.run_marks import run_input

    assert resolve("runs/l5/best.pt") == ("runs/l5/network.yaml", "runs/l5/network.yaml")
    assert run_input("runs/l5/best.pt") == "32x32x1"
    code, by_checkpoint, err = run_main(monkeypatch, capsys, "summarize", "runs/l5/best.pt")
    assert code == 0, err
    assert by_checkpoint == run_main(monkeypatch, capsys, "summarize", "runs/l5")[1]


def test_a_run_folder_names_its_network_as_runs_does(workdir, monkeypatch, capsys):
    # `summarize runs/RUN` called a network without `name:` "network" (its copy network.yaml's
    # stem), while `runs` showed the name the run recorded: the stem of the file it trained.
    import json

    run = workdir / "runs" / "unnamed"
    run.mkdir()
    (run / "network.yaml").write_text("input: 8x8x1\nlayers: [conv f=3 n=2, fc 3]\n")  # no `name:`
    (run / "config.json").write_text('{"input": "8x8x1"}')
    (run / "status.json").write_text('{"status": "finished", "epochs_done": 1, "epochs": 1, "network": "tiny"}')
    code, out, err = run_main(monkeypatch, capsys, "runs", "runs", "--format", "json")
    assert code == 0, err
    assert [r["network"] for r in json.loads(out)["runs"] if r["name"] == "unnamed"] == ["tiny"]
    for arg in ("runs/unnamed", "runs/unnamed/best.pt"):
        (run / "best.pt").write_bytes(b"PK\x03\x04" + bytes(60))
        code, out, err = run_main(monkeypatch, capsys, "summarize", arg)
        assert code == 0, err
        assert out.splitlines()[0] == "tiny  (runs/unnamed/network.yaml)"
    code, out, err = run_main(monkeypatch, capsys, "summarize", "runs/unnamed", "--format", "json")
    assert json.loads(out)["name"] == "tiny"


@pytest.mark.parametrize("name", ["w.pt", "weights.pth", "weights"])  # by its suffix, else torch.save's zip
def test_a_checkpoint_alone_is_told_to_go_after_checkpoint(workdir, monkeypatch, capsys, name):
    (workdir / name).write_bytes(b"PK\x03\x04" + bytes(60))
    err = mistake(monkeypatch, capsys, "evaluate", name)
    assert f"error: {name}: a checkpoint (trained weights), not a network file" in err
    assert f"--checkpoint {name}" in err and "not UTF-8" not in err


def test_which_weights_names_a_real_run(workdir, tmp_path_factory, monkeypatch, capsys):
    err = mistake(monkeypatch, capsys, "evaluate", "lenet5")
    assert "which weights?" in err and "e.g. cnnctl evaluate runs/l5 " in err
    monkeypatch.chdir(tmp_path_factory.mktemp("empty"))
    err = mistake(monkeypatch, capsys, "predict", "lenet5", "x.png")
    assert "no runs in ./runs: `cnnctl train lenet5` writes one there" in err and "runs/lenet5" not in err


# One edit away from a bundled network, in every way: a changed character, a swap, one more or
# one fewer character.
NEAR = {
    "lenrt5": "lenet5",
    "alexnte": "alexnet",
    "resnte18": "resnet18",
    "vg16": "vgg16",
    "mobilenet-v2": "mobilenet_v2",  # (`mobilenet_v4` is as near to mobilenet_v2 as to mobilenet_v3)
    "efficientnet-b0": "efficientnet_b0",
    "densenett121": "densenet121",
    "googlenett": "googlenet",
}
# Another number is another network, not a slip: no hint names it (the message lists them all).
OTHER_NUMBER = ("lenet6", "lenet4", "resnet19", "resnet51", "resnet150", "vgg19", "densenet122")


def test_did_you_mean_prefers_a_changed_character_over_a_dropped_one(monkeypatch, capsys):
    from cnnctl.catalog import ALIASES, bundled
    from cnnctl.errors import did_you_mean

    names = [*bundled(), *ALIASES]
    for word, meant in NEAR.items():
        assert meant in names and did_you_mean(word, names) == f"did you mean `{meant}`?", word
    err = mistake(monkeypatch, capsys, "summarize", "lenrt5")
    assert "did you mean `lenet5`?" in err


def test_did_you_mean_never_names_another_number(monkeypatch, capsys):
    # `--dtype float8` was told `float64`, `--profile rtx5090` `rtx4090`: other things, not typos
    from cnnctl.catalog import ALIASES, bundled
    from cnnctl.errors import did_you_mean

    names = [*bundled(), *ALIASES]
    for word in OTHER_NUMBER:
        assert did_you_mean(word, names) is None, word
    floats = ["float32", "float16", "bfloat16", "float64"]
    assert did_you_mean("float8", floats) is None
    assert did_you_mean("flaot64", floats) == "did you mean `float64`?"
    assert did_you_mean("rtx5090", ["rtx4090", "h100"]) is None
    assert did_you_mean("rtx4009", ["rtx4090"]) is None  # the digits differ, though only swapped
    assert did_you_mean("rtz4090", ["rtx4090", "rtx3090"]) == "did you mean `rtx4090`?"
    # where the caller lists nothing itself (a file's layers), the names with other numbers, as such
    others = "the same name with other numbers: `float32`, `float16`, `float64`"
    assert did_you_mean("float8", floats, family=True) == others
    assert did_you_mean("conv9", [f"conv{i}" for i in range(1, 9)], family=True).endswith("`conv6`, ...")  # six
    assert did_you_mean("conv", ["conv1"], family=True) is None  # no number: not its family
    err = mistake(monkeypatch, capsys, "summarize", "lenet6")  # no slip, but named as its family
    assert "did you mean" not in err and "hint: the same name with other numbers: `lenet5` (bundled: " in err
    err = mistake(monkeypatch, capsys, "summarize", "lenet5", "--dtype", "float8")
    assert "did you mean" not in err and "expected one of float32, float16, bfloat16, float64" in err
    err = mistake(monkeypatch, capsys, "flops", "lenet5", "--profile", "rtx5090")
    assert "did you mean" not in err and "hint: one of h200" in err and "rtx4090, rtx3090" in err


def test_did_you_mean_prefers_a_key_pressed_twice_over_a_changed_one(monkeypatch, capsys):
    # `--optimizer adamm` suggested adamw: one change, as adam is one deletion; a doubled key is the likelier slip
    from cnnctl.errors import did_you_mean

    assert did_you_mean("adamm", ["sgd", "adam", "adamw"]) == "did you mean `adam`?"
    assert did_you_mean("adamq", ["sgd", "adam", "adamw"]) == "did you mean `adamw`?"  # no doubled key: the change
    assert did_you_mean("alexnex", ["alexne", "alexnet"]) == "did you mean `alexnet`?"  # a change, not a drop
    err = mistake(monkeypatch, capsys, "train", "lenet5", "--optimizer", "adamm")
    assert "(did you mean `adam`?)" in err


def test_a_word_with_no_name_of_similar_length_gets_no_hint(monkeypatch, capsys):
    from cnnctl.errors import did_you_mean

    assert did_you_mean("t", ["lenet5", "vgg16"]) is None  # no name within 3/7 of its length
    assert did_you_mean("t", []) is None
    err = mistake(monkeypatch, capsys, "summarize", "q")
    assert "did you mean" not in err and "bundled: " in err


def test_edits_counts_changes_insertions_deletions_and_swaps():
    from cnnctl.errors import edits

    # kitten -> sitting: k->s, e->i, +g (the textbook Levenshtein example)
    pairs = [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("ab", "ba", 1), ("abc", "abc", 0)]
    for a, b, n in pairs:
        assert edits(a, b) == n == edits(b, a)
    assert all(edits(word, meant) == 1 for word, meant in NEAR.items())  # as NEAR says


def test_a_wrong_dtype_is_told_before_the_network_is_read(monkeypatch, capsys):
    # issue 19, bug i: the option's values are checked first, and the message names the option
    code, out, err = run_main(monkeypatch, capsys, "summarize", "nosuchfile.yaml", "--dtype", "foo")
    assert code == 2 and err.startswith("error: --dtype expected one of float32"), err
    assert "nosuchfile" not in err and "Traceback" not in err


def test_a_command_imports_only_its_own_module():
    probe = (
        "import sys, io, contextlib, cnnctl.cli\n"
        "sys.argv = ['cnnctl', 'summarize', 'lenet5']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        cnnctl.cli.main()\n    except SystemExit as exc:\n        assert exc.code == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('cnnctl.cli.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(eval(out.stdout.strip().splitlines()[-1]))
    assert "cnnctl.cli.summarize" in loaded
    assert not loaded & {f"cnnctl.cli.{m}" for m in ("analyze", "train", "use", "runs", "exchange", "draw", "check")}


def test_every_command_has_a_handler_in_its_module():
    import importlib

    for name, module in COMMANDS.items():
        handler = getattr(importlib.import_module(f"cnnctl.cli.{module}"), f"{name}_cmd")
        assert handler.__doc__, name


def test_train_options_are_the_settings_table():
    from cnnctl.train.settings import SETTINGS

    text = " ".join(cli("train", "--help", columns=200).stdout.split())
    for s in SETTINGS:
        assert s.option in text, s.name
        assert " ".join(s.help.split()) in text, s.name  # its help, with its default and range
    assert "Learning rate, above 0, at most 10." in text


@pytest.mark.parametrize(
    ("command", "other"),
    [(["summarize", "lenet5"], "--batch-size"), (["flops", "lenet5"], "--batch-size"),
     (["memory", "lenet5"], "--batch-size"), (["compare", "lenet5", "alexnet"], "--batch-size"),
     (["train", "lenet5"], "--batch"), (["bench", "lenet5"], "--batch"), (["evaluate", "lenet5"], "--batch")],
)  # fmt: skip
def test_every_command_with_a_batch_takes_both_spellings(command, other):
    # `evaluate --batch` was told "did you mean `--data`?", `summarize --batch-size` "did you mean `--batch`?"
    for given in ([other, "0"], [f"{other}=0"]):
        done = cli(*command, *given)
        assert done.returncode == 2 and "got 0" in done.stderr and "no option" not in done.stderr, done.stderr
    assert not re.search(rf"{other}\b(?!-)", cli(command[0], "--help").stdout)  # taken, not listed


def test_the_other_batch_spelling_sets_the_batch():
    out = json.loads(cli("summarize", "lenet5", "--batch-size", "4", "-f", "json").stdout)
    assert out["memory"]["batch"] == 4 and out["memory"]["input_bytes"] == 4 * 32 * 32 * 4  # 4 images, float32
    out = json.loads(cli("flops", "lenet5", "--batch-size=3", "-f", "json").stdout)
    assert out["batch_mults"] == 3 * 416_520  # LeNet-5's multiplications, by hand in the README


def test_json_with_standard_error_closed_is_still_json_and_exit_2(tmp_path):
    # `2>&-`: the message had nowhere to go, and that ended the command (exit 1, no JSON)
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 8x8x1\nlayers:\n  - conv f=3 n=2 act=rleu\n")
    shell = '"$0" -m cnnctl summarize "$1" -f json 2>&-'
    done = subprocess.run(["sh", "-c", shell, sys.executable, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    (error,) = json.loads(done.stdout)["errors"]
    assert (error["file"], error["line"], error["column"]) == (str(bad), 3, 22)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full (a disk always full) is a Linux device")
@pytest.mark.parametrize("command", [["list"], ["summarize", "vgg16", "--format", "json"], ["schema"]])
def test_a_full_disk_or_no_standard_output_is_one_message(command):
    import subprocess
    import sys

    cnnctl = [sys.executable, "-m", "cnnctl", *command]
    with open("/dev/full", "w") as full:
        done = subprocess.run(cnnctl, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1, done.stderr  # a full disk is the machine's fault (writing.MACHINE_FAULTS)
    assert done.stderr == (
        "error: cannot write to standard output: No space left on device\n"
        "  hint: send the output to a file on a disk with room, or let it show here\n"
    )
    closed = subprocess.run(cnnctl, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60,
                            preexec_fn=lambda: os.close(1))  # fmt: skip
    assert closed.returncode == 2 and "Traceback" not in closed.stderr, closed.stderr  # `>&-`: the command line's
    assert closed.stderr.startswith("error: cannot write to standard output: there is none"), closed.stderr


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_output_cut_by_a_file_size_limit_is_a_fault_never_a_short_file_and_exit_0(tmp_path, unbuffered):
    # `ulimit -f 1`: the disk takes 1,024 bytes, then refuses. Unbuffered (PYTHONUNBUFFERED=1), Python's text
    # layer dropped what the short write left: a cut JSON file and exit 0.
    import resource
    import signal

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as Python itself sets it: the write fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    with open(tmp_path / "s.json", "w") as out:
        done = subprocess.run([sys.executable, "-m", "cnnctl", "summarize", "resnet50", "--format", "json"],
                              stdout=out, stderr=subprocess.PIPE, text=True, timeout=120, env=env,
                              preexec_fn=limited)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: cannot write to standard output: File too large"), done.stderr
    assert (tmp_path / "s.json").stat().st_size == 1024  # all the disk took; the message says the rest is missing


def test_evaluates_data_default_is_the_runs_own():
    text = " ".join(cli("evaluate", "--help", columns=200).stdout.split())
    assert "or a folder. Default: the data the run trained on." in text and "Default: shapes" not in text


def test_evaluates_description_says_other_data_is_taken_whole():
    # it said "the validation split of its data (or of --data)": on other --data the default is all of it,
    # and --split val is refused there (evaluate.evaluate)
    text = " ".join(cli("evaluate", "--help", columns=200).stdout.split())
    assert "or of --data" not in text and "or on all of other --data" in text


def test_small_mistakes_of_the_command_line_say_what_is_wrong(monkeypatch, capsys):
    # Each was told in a way that pointed elsewhere (trials of issue 19's command line).
    err = mistake(monkeypatch, capsys, "train", "lenet5", "--amp=yes")
    assert "error: --amp takes no value\n  hint: give --amp alone, or --no-amp for off" in err  # was "expected one"
    err = mistake(monkeypatch, capsys, "summarize", "vgg16", "--batch", "99999999999999999999")
    assert "--batch `99999999999999999999` is far too large" in err  # "expected a whole number" of a whole number
    err = mistake(monkeypatch, capsys, "flops", "vgg16", "--profile", "h100", "--peak-tflops", "1", "--bandwidth", "1")
    assert "describe the device twice" in err  # "a roofline needs a device", with both given


@pytest.mark.parametrize(
    ("config", "why", "where"),
    [(None, "is missing", "config.json: "),
     ('{"input": "32x3', "is not JSON (Unterminated string", "config.json:1:11: "),
     ("[1]", "holds a JSON list", "config.json: ")],
    ids=["missing", "truncated", "a-list"],
)  # fmt: skip
def test_a_run_without_a_readable_config_is_one_message_never_an_untrained_export(
    workdir, monkeypatch, capsys, config, why, where
):
    # Once: export wrote random weights (exit 0), evaluate and predict asked "which weights?" naming another run.
    run = workdir / "runs" / "l5"
    if config is None:
        (run / "config.json").unlink()
    else:
        (run / "config.json").write_text(config)
    for args in (("export", "runs/l5", "-o", "m.onnx"), ("evaluate", "runs/l5"), ("predict", "runs/l5", "imgs"),
                 ("evaluate", "runs/l5/best.pt"), ("summarize", "runs/l5")):  # fmt: skip
        err = mistake(monkeypatch, capsys, *args)
        assert f"error: runs/l5/{where}the run's config.json {why}" in err, args
        assert "hint: give the network and the weights apart: `ARCH --checkpoint runs/l5/best.pt`" in err
        assert "runs/l5-2" not in err and err.count("error:") == 1
    assert not (workdir / "m.onnx").exists()
    code, out, err = run_main(monkeypatch, capsys, "runs", "--format", "json")
    problems = {r["name"]: r["problems"] for r in json.loads(out)["runs"]}
    assert code == 0 and problems["l5-2"] == [] and problems["l5"][0]["file"] == "runs/l5/config.json"
    assert why in problems["l5"][0]["message"]


@pytest.mark.parametrize("name", ["config.json", "status.json", "metrics.jsonl"])
def test_a_runs_own_record_given_as_a_network_or_weights_names_the_run_folder(workdir, monkeypatch, capsys, name):
    # Once: `evaluate runs/l5/config.json` read the settings as a network: an error for each of its 30 keys.
    record = workdir / "runs" / "l5" / name
    record.write_text('{\n  "data": "shapes",\n  "epochs": 3,\n  "lr": 0.001\n}\n')
    given = f"runs/l5/{name}"
    normalised = ("--mean", "0.5", "--std", "0.5")
    for args, wanted in [(("evaluate", given), "a network file"), (("summarize", given), "a network file"),
                         (("evaluate", "lenet5", "--checkpoint", given), "a checkpoint"),
                         (("evaluate", "lenet5", "--weights", given), "weights"),
                         (("predict", "lenet5", "--weights", given, *normalised, "imgs"), "weights")]:  # fmt: skip
        err = mistake(monkeypatch, capsys, *args)
        assert err.count("error:") == 1, err
        assert f"error: {given}: this is a run's {name} (" in err
        assert f"not {wanted}: give the run folder `runs/l5`" in err


def test_no_command_prints_the_help_on_stderr_and_exits_2(monkeypatch, capsys):
    # `cnnctl` alone exited 0: no command is a mistake on the command line, as click says (exit 2)
    code, out, err = run_main(monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.startswith("Usage: cnnctl [OPTIONS] COMMAND [ARGS]...") and "\n  summarize " in err
    code, out, err = run_main(monkeypatch, capsys, "--help")  # asked for: stdout, exit 0
    assert code == 0 and out.startswith("Usage: cnnctl") and err == ""


def test_more_networks_than_summarize_takes_hint_compare(monkeypatch, capsys):
    err = mistake(monkeypatch, capsys, "summarize", "lenet5", "alexnet")
    assert err == ("error: `summarize` takes no more arguments: `alexnet`\n"
                   "  hint: to set networks side by side: cnnctl compare lenet5 alexnet\n")  # fmt: skip
    err = mistake(monkeypatch, capsys, "draw", "lenet5", "alexnet")  # draws one network: its --help
    assert "hint: `cnnctl draw --help`" in err


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["summarize", "resnet5"], "did you mean `resnet50`?"),  # a digit dropped
        (["flops", "lenet5", "--profile", "h10"], "did you mean `h100`?"),  # not `a10`: the first keys are surer
        (["summery", "lenet5"], "did you mean `summarize`?"),  # not `memory`, as many edits away
        (["plot", "--metric", "acc"], "(did you mean `accuracy`?)"),  # the one it begins
        (["roofline"], "`cnnctl flops ARCH --profile h100`"),
        (["profile"], "`cnnctl flops ARCH --profile h100`"),
        (["onnx"], "`cnnctl export ARCH -o net.onnx` writes ONNX; `cnnctl import FILE.onnx` reads it"),
        (["tensorboard"], "`cnnctl train ARCH --data DATA --tensorboard`"),
    ],
)
def test_did_you_mean_finds_a_dropped_digit_a_beginning_and_other_tools_words(args, hint, monkeypatch, capsys):
    assert hint in mistake(monkeypatch, capsys, *args)


def test_a_dropped_digit_is_a_slip_but_another_number_is_not():
    from cnnctl.errors import did_you_mean

    assert did_you_mean("vgg1", ["vgg16", "alexnet"]) == "did you mean `vgg16`?"
    assert did_you_mean("float6", ["float8x", "float64"]) == "did you mean `float64`?"
    assert did_you_mean("float640", ["float64"]) is None  # a digit added is another number
    assert did_you_mean("conv1x", ["conv19", "conv1"]) == "did you mean `conv1`?"  # no digit dropped: a key added
    assert did_you_mean("conv", ["conv1"]) is None  # no number where the choice has one: not a beginning
    assert did_you_mean("res", ["resnet18", "resnet50"]) is None  # the beginning of two: neither


def test_an_option_before_the_command_is_cnnctls_own(monkeypatch, capsys):
    # `cnnctl --verbose summarize lenet5` was told "`summarize` has no option `--verbose`"
    err = mistake(monkeypatch, capsys, "--verbose", "summarize", "lenet5")
    assert err.startswith("error: `cnnctl` itself has no option `--verbose`\n"), err
    assert "the options before COMMAND are cnnctl's own: --version" in err and "summarize --help" not in err
    err = mistake(monkeypatch, capsys, "--format", "json", "summarize", "lenet5")
    assert "--format is an option of `summarize`: give it after the command (`cnnctl summarize ... --format`)" in err
    err = mistake(monkeypatch, capsys, "summarize", "lenet5", "--verbose")
    assert err.startswith("error: `summarize` has no option `--verbose`"), err


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        # `--receptive` was offered `--freeze`: the `--` every option shares made any two names close
        (["summarize", "lenet5", "--receptive"], "`cnnctl summarize ARCH --columns layer,output,field,jump,start`"),
        (["flops", "lenet5", "--field"], "`cnnctl summarize ARCH --columns layer,output,field,jump,start`"),
        (["summarize", "lenet5", "--depht"], "did you mean `--depth`?"),
        (["flops", "lenet5", "--perlayer"], "did you mean `--per-layer`?"),
        (["summarize", "lenet5", "--recep"], "`cnnctl summarize --help` lists its options and arguments"),
        (["memory", "lenet5", "--verbose"], "`cnnctl memory --help` lists its options and arguments"),
    ],
)
def test_an_unknown_option_is_told_what_it_means_or_nothing_unrelated(monkeypatch, capsys, args, hint):
    err = mistake(monkeypatch, capsys, *args)
    assert err.splitlines()[1].startswith("  hint: ") and err.splitlines()[1].endswith(hint), err


def test_an_unknown_option_before_the_command_with_nothing_after_is_one_message(monkeypatch, capsys):
    # `cnnctl --vresion` ended in a traceback: the JSON check read the words click had taken off
    err = mistake(monkeypatch, capsys, "--vresion")
    assert err.startswith("error: `cnnctl` itself has no option `--vresion`\n  hint: did you mean `--version`?"), err


def test_every_batch_option_has_the_short_form_b():
    """summarize, flops, memory and compare take -b/--batch; bench and train -b/--batch-size:
    `cnnctl bench x.yaml -b 8` works as `cnnctl memory x.yaml -b 8` does."""
    from cnnctl.cli.app import build

    for command, name in [("summarize", "--batch"), ("flops", "--batch"), ("memory", "--batch"),
                          ("compare", "--batch"), ("bench", "--batch-size"), ("train", "--batch-size")]:  # fmt: skip
        opts = [p.opts for p in build(command).params if name in p.opts]
        assert opts == [["-b", name]], command
        every = [o for p in build(command).params for o in (*p.opts, *p.secondary_opts)]
        assert every.count("-b") == 1, command  # no other option of the command is -b


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="/proc (files the kernel makes as read) is Linux's")
def test_a_file_whose_size_is_0_but_holds_text_is_read_not_called_empty(monkeypatch, capsys):
    # /proc's files say 0 bytes and hold text: they were told "the file is empty", which they are not
    code, _, err = run_main(monkeypatch, capsys, "summarize", "/proc/self/status")
    assert code == 2 and "the file is empty" not in err and "unknown top-level key `Name`" in err, err


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_given_as_the_file_to_write_is_offered_a_file_here_not_in_its_folder(monkeypatch, capsys):
    code, _, err = run_main(monkeypatch, capsys, "schema", "-o", "/dev/null")
    assert code == 2 and "`/dev/null` is a device" in err and "hint: name a file, e.g. -o cnnctl.schema.json" in err
    assert "/dev/cnnctl" not in err


def test_a_budget_in_any_unit_up_to_an_exbibyte_and_a_batch_no_larger_than_the_batch_options_take(monkeypatch, capsys):
    # `--budget 2PiB` was "did you mean `TiB`?" while the range said "up to 1 EiB"; and a budget with room for
    # 410,576,708,561 examples offered that batch, which --batch and train refuse (at most 2**31 - 1)
    for budget in ("2PiB", "1EiB", "1PB"):
        code, out, err = run_main(monkeypatch, capsys, "memory", "lenet5", "--budget", budget, "--format", "json")
        assert code == 0, err
        said = json.loads(out)
        assert said["largest_batch"] == 2**31 - 1
    code, out, _ = run_main(monkeypatch, capsys, "memory", "lenet5", "--budget", "1PB")
    assert "batch 2,147,483,647 (the largest a batch may be; --budget has room)" in out
    code, _, err = run_main(monkeypatch, capsys, "memory", "lenet5", "--budget", "0")
    assert code == 2 and "hint: e.g. 16GiB or 16GB (16B for bytes)" in err and "0GiB" not in err
    code, _, err = run_main(monkeypatch, capsys, "memory", "lenet5", "--budget", "2EiB")
    assert code == 2 and "must be from 1 byte to 1 EiB" in err


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["help", "summarize"], "hint: `cnnctl summarize --help` shows its options and examples"),
        (["help"], "hint: `cnnctl --help` lists the commands"),
    ],
)
def test_help_as_a_command_points_to_the_help_option(monkeypatch, capsys, args, hint):
    # `cnnctl help summarize` was "no command `help`" with the list of commands
    err = mistake(monkeypatch, capsys, *args)
    assert err.startswith("error: no command `help`\n") and hint in err, err


def test_version_has_the_short_form_V(monkeypatch, capsys):
    from cnnctl import __version__

    code, out, _ = run_main(monkeypatch, capsys, "-V")
    assert code == 0 and out == f"cnnctl {__version__}\n"


@pytest.mark.parametrize("command", ["summarize", "flops", "memory", "draw", "export", "weights", "train"])
def test_every_arch_help_names_every_form_arch_takes(command):
    from cnnctl.cli.app import build

    (arch,) = [p for p in build(command).params if p.human_readable_name == "ARCH"]
    for form in ("YAML file", "bundled name", "run folder", "- for standard input", "FILE:MEMBER", ":dropout=0.1"):
        assert form in arch.help, (command, form)


def test_train_takes_o_for_out_as_every_writing_command_does():
    from cnnctl.cli.app import build

    for command, name in [("train", "--out"), ("draw", "--output"), ("export", "--output"), ("pack", "--output")]:
        assert [p.opts for p in build(command).params if name in p.opts] == [["-o", name]], command


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["predict", "runs/l5", "imgs", "--top", "2"], "did you mean `--top-k`? (predict's K most likely classes; "
         "--top N is flops' and memory's N heaviest rows)"),
        (["flops", "lenet5", "--top-k", "2"], "did you mean `--top`? (the N heaviest rows; --top-k K is predict's"),
    ],
)  # fmt: skip
def test_top_and_top_k_are_two_ideas_and_the_hint_says_which(workdir, monkeypatch, capsys, args, hint):
    assert hint in mistake(monkeypatch, capsys, *args)


def test_exports_format_lists_formats_and_points_file_types_to_to(monkeypatch, capsys):
    # it listed "table, json, onnx, torchscript, pytorch, safetensors": file types are --to's
    err = mistake(monkeypatch, capsys, "export", "lenet5", "-o", "l.onnx", "--format", "csv")
    assert "error: --format expected one of table, json, got `csv`\n" in err
    assert "hint: a file type is --to's: onnx, torchscript, pytorch, safetensors" in err


def test_compare_refuses_each_dtype_with_its_own_reason(monkeypatch, capsys):
    err = mistake(monkeypatch, capsys, "compare", "lenet5", "alexnet", "--dtype", "fp64")
    assert "fp64 is not offered here: no device profile has its peak" in err and "autograd" not in err
    err = mistake(monkeypatch, capsys, "compare", "lenet5", "alexnet", "--dtype", "int8")
    assert "int8 is not offered here: autograd trains floating-point tensors only" in err and "profile" not in err


def test_compare_takes_flops_own_device_options(monkeypatch, capsys):
    # compare had --profile alone: --peak-tflops and --bandwidth were flops' only
    custom = ("--peak-tflops", "100", "--bandwidth", "1000")
    _, out, _ = run_main(monkeypatch, capsys, "compare", "lenet5", "alexnet", *custom, "--no-amp", "-f", "json")
    compared = json.loads(out)
    _, out, _ = run_main(monkeypatch, capsys, "flops", "lenet5", "--batch", "64", *custom, "-f", "json")
    roofline = json.loads(out)["roofline"]
    assert compared["profile"] == roofline["profile"] == "custom"
    # one device, one latency: each lenet5 layer is under the ridge (100 FLOP/B), so the time is bytes / bandwidth
    assert compared["networks"][0]["latency_seconds"] == roofline["seconds"]
    assert roofline["compute_bound_seconds"] == 0
    assert roofline["seconds"] == pytest.approx(roofline["roofline_bytes"] / 1e12)
    err = mistake(monkeypatch, capsys, "compare", "lenet5", "alexnet", "--peak-tflops", "100")
    assert "a roofline needs a device: --profile NAME, or both --peak-tflops and --bandwidth" in err


def test_a_budget_with_room_past_the_largest_batch_says_that_batch_is_the_bound_not_the_budget(monkeypatch, capsys):
    # it said "one more example would need 118.33 TiB" of a 2 PiB budget: the bound was the batch's, not memory's
    code, out, _ = run_main(monkeypatch, capsys, "memory", "lenet5", "--budget", "2PiB")
    assert code == 0 and "Largest batch within 2.00 PiB: 2,147,483,647, the largest a batch may be" in out
    assert "one more example would need" not in out
    code, out, _ = run_main(monkeypatch, capsys, "memory", "lenet5", "--budget", "1GiB")
    assert code == 0 and "one more example would need" in out
