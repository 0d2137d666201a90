"""What an ARCH argument names: a path is a file of the user's, never a bundled network, and a
folder given to `validate` stands for its network files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from helpers import run_main

# params 3·3·1·2 + 2 + 72·3 + 3 = 239; mults 6·6·2·3·3·1 + 72·3 = 864
NET = "input: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - fc 3\n"
BROKEN = "input: 8x8x1\nlayers:\n  - conv f=9 n=2\n"  # a 9x9 window on an 8x8 input


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A working directory with `nets/resnet_basic.yaml` and `./lenet.yaml` (a name that is also an alias)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "resnet_basic.yaml").write_text(NET)
    (tmp_path / "lenet.yaml").write_text(NET)
    return tmp_path


@pytest.mark.parametrize(
    ("arg", "message", "hint"),
    [
        # a folder that does not exist: before, the bundled vgg16 and resnet50 were read
        ("students/alice/vgg.yaml", "no file `students/alice/vgg.yaml`: there is no folder `students/alice`",
         "`vgg` alone names the bundled network"),
        ("nonexist/resnet50.yaml", "no folder `nonexist`", "`resnet50` alone names the bundled network"),
        # a folder that does: its files, not the bundled names
        ("nets/resnet_basc.yaml", "no file `nets/resnet_basc.yaml`", "did you mean `nets/resnet_basic.yaml`?"),
        ("nets/lenet5.yaml", "no file `nets/lenet5.yaml`", "`lenet5` alone names the bundled network"),
        # `.yml` is no bundled file's suffix: the file here of nearly that name
        ("lenet.yml", "no file `lenet.yml` here", "did you mean `lenet.yaml`?"),
        ("resnet_basc.yml", "no file `resnet_basc.yml` here", None),
    ],
)  # fmt: skip
def test_a_path_that_is_not_there_is_never_a_bundled_network(folder, monkeypatch, capsys, arg, message, hint):
    code, out, err = run_main(monkeypatch, capsys, "summarize", arg)
    assert code == 2 and out == "", out
    assert err.startswith("error: ") and message in err.splitlines()[0], err
    if hint:
        assert f"hint: {hint}" in err, err
    assert "bundled:" not in err  # neither read nor listed
    assert "Traceback" not in err


def test_a_bare_name_still_names_the_bundled_network_where_no_file_is(folder, monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "summarize", "resnet18.yaml")
    assert code == 0 and out.startswith("resnet18  (bundled: resnet18.yaml)")
    code, out, _ = run_main(monkeypatch, capsys, "summarize", "lenet")  # ./lenet.yaml wins over the alias
    assert code == 0 and out.startswith("lenet  (lenet.yaml)")


def test_validate_says_where_it_read_a_bundled_network(folder, monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "validate", "vgg", "lenet.yaml")
    assert code == 0
    assert out.splitlines()[0].startswith("ok  vgg  (bundled: vgg16.yaml; 24 layers, 138,357,544 params")
    assert out.splitlines()[1] == "ok  lenet.yaml  (2 layers, 239 params, 864 mults)"
    code, out, _ = run_main(monkeypatch, capsys, "validate", "vgg", "lenet.yaml", "--format", "json")
    vgg, here = json.loads(out)["files"]
    assert vgg["read"] == "bundled: vgg16.yaml"  # as the README has said
    # the file read in the keys every command's JSON gives a network (summarize's, flops'), the same values
    assert (vgg["file"], vgg["bundled"], here["file"], here["bundled"]) == ("vgg16.yaml", True, "lenet.yaml", False)
    code, summarized, _ = run_main(monkeypatch, capsys, "summarize", "vgg", "--format", "json")
    assert {k: json.loads(summarized)[k] for k in ("file", "bundled")} == {k: vgg[k] for k in ("file", "bundled")}
    # one that cannot be checked names the file it would read too (a bundled one at an --input it cannot take)
    code, out, _ = run_main(monkeypatch, capsys, "validate", "vgg", "--input", "8x8x3", "--format", "json")
    (failed,) = json.loads(out)["files"]
    assert code == 2 and (failed["file"], failed["bundled"], failed["ok"]) == ("vgg16.yaml", True, False)
    code, out, _ = run_main(monkeypatch, capsys, "validate", "vgg", "--format", "csv")
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert (row["file"], row["bundled"]) == ("vgg16.yaml", "true")


def test_validate_a_folder_checks_each_network_file_in_it(folder, monkeypatch, capsys):
    nets = folder / "nets"
    (nets / "b_broken.yml").write_text(BROKEN)
    (nets / "a.yaml").write_text(NET)
    (nets / "digit.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # images beside them: still a folder of networks
    (nets / "sub").mkdir()
    (nets / "sub" / "c.yaml").write_text(BROKEN)  # not walked into, as a linter given a folder
    code, out, err = run_main(monkeypatch, capsys, "validate", "nets")
    assert code == 2
    assert out.splitlines() == [
        "ok  nets/a.yaml  (2 layers, 239 params, 864 mults)",
        "ok  nets/resnet_basic.yaml  (2 layers, 239 params, 864 mults)",
        "2 valid, 1 invalid: nets/b_broken.yml",
    ]
    assert err.startswith("FAIL nets/b_broken.yml\n") and "nets/b_broken.yml:3:5" in err
    code, out, _ = run_main(monkeypatch, capsys, "validate", "nets", "--format", "json")
    assert [(f["file"], f["ok"]) for f in json.loads(out)["files"]] == [
        ("nets/a.yaml", True), ("nets/b_broken.yml", False), ("nets/resnet_basic.yaml", True),
    ]  # fmt: skip


def test_validate_a_folder_of_one_file_still_gives_the_count(folder, monkeypatch, capsys):
    (folder / "one").mkdir()
    (folder / "one" / "net.yaml").write_text(NET)
    code, out, _ = run_main(monkeypatch, capsys, "validate", "one")
    assert code == 0 and out.splitlines()[-1] == "1 valid, 0 invalid"


def test_validate_a_folder_without_network_files_is_one_message(folder, monkeypatch, capsys):
    (folder / "empty").mkdir()
    code, _, err = run_main(monkeypatch, capsys, "validate", "empty")
    assert code == 2 and "`empty` is a directory, not a network file" in err


def cnnctl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnctl", *args], input=stdin, capture_output=True, timeout=60)


def test_a_network_piped_in_is_read_from_dash(tmp_path):
    # `cat net.yaml | cnnctl summarize -` was "no file `-` here, and no bundled architecture called `-`"
    done = cnnctl("summarize", "-", "--format", "json", stdin=NET.encode())
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["file"], data["totals"]["params"], data["totals"]["mults"]) == ("<stdin>", 239, 864)
    table = cnnctl("summarize", "-", stdin=NET.encode())  # named once in the header, not `<stdin>  (<stdin>)`
    assert table.stdout.decode().splitlines()[0].strip() == "<stdin>", table.stdout
    done = cnnctl("validate", "-", "lenet5", stdin=BROKEN.encode())  # its problems are told at `<stdin>`
    assert done.returncode == 2 and b"error: <stdin>:3:5: layer `conv1`" in done.stderr, done.stderr
    # and the file is named as its messages name it: `FAIL <stdin>`, not `FAIL -` (the trial's)
    assert done.stderr.decode().startswith("FAIL <stdin>\n"), done.stderr
    assert b"invalid: <stdin>" in done.stdout, done.stdout
    assert cnnctl("validate", "-", stdin=NET.encode()).stdout.decode().startswith("ok  <stdin>  (")


def test_standard_input_is_named_once_among_a_commands_networks():
    # `compare - -` read the pipe once and set it beside itself, two columns labelled `-`; `validate - -` checked it
    # twice; `summarize - -` hinted `cnnctl compare - -`. One rule: `-` once, standard input can be read once.
    said = "error: `-` is given 2 times, and standard input can be read once\n  hint: give `-` for one network"
    for command in ("compare", "validate"):
        done = cnnctl(command, "-", "-", stdin=NET.encode())
        assert done.returncode == 2 and done.stdout == b"", done.stdout
        assert done.stderr.decode().startswith(said) and f"cnnctl {command} - other.yaml" in done.stderr.decode()
        assert b"Traceback" not in done.stderr
    done = cnnctl("compare", "-", "lenet5", "-", "--format", "json", stdin=NET.encode())
    (error,) = json.loads(done.stdout)["errors"]
    assert done.returncode == 2 and error["message"] == "`-` is given 2 times, and standard input can be read once"
    done = cnnctl("summarize", "-", "-", stdin=NET.encode())
    assert done.returncode == 2 and b"compare - -" not in done.stderr
    assert b"hint: give `-` for one network" in done.stderr
    done = cnnctl("compare", "-", "lenet5", "--format", "json", stdin=NET.encode())  # once is as ever
    assert done.returncode == 0 and [n["params"] for n in json.loads(done.stdout)["networks"]] == [239, 61_706]


def test_a_network_piped_in_is_held_to_the_files_limit():
    from cnnctl.limits import MAX_FILE_BYTES

    done = cnnctl("summarize", "-", stdin=b"#" * (MAX_FILE_BYTES + 1))
    assert done.returncode == 2
    assert done.stderr.decode().startswith(
        "error: <stdin>: standard input holds more than the 5,000,000 bytes (4.77 MiB) cnnctl reads of a network file"
    )


def test_dev_stdin_is_told_to_be_dash():
    done = cnnctl("summarize", "/dev/stdin", stdin=NET.encode())  # a pipe: not a regular file
    assert done.returncode == 2 and b"give `-` (`cat net.yaml | cnnctl summarize -`)" in done.stderr, done.stderr


def test_a_file_over_the_limit_is_told_its_size_the_limit_and_a_hint(tmp_path, monkeypatch, capsys):
    # "file is larger than 5 MB; refusing to read it": no size, no hint
    from cnnctl.limits import MAX_FILE_BYTES

    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1000))
    code, _, err = run_main(monkeypatch, capsys, "summarize", "big.yaml")
    assert code == 2
    # 5,001,000 / 2^20 = 4.769... MiB; 5,000,000 / 2^20 = 4.768... MiB
    assert err.splitlines()[0] == (
        "error: big.yaml: 5,001,000 bytes (4.77 MiB): more than the 5,000,000 bytes (4.77 MiB) cnnctl reads of a "
        "network file"
    )
    assert err.splitlines()[1].startswith("  hint: a network file is a few KB")


def test_a_missing_path_is_not_told_a_bare_name_that_would_read_a_file_here(folder, monkeypatch, capsys):
    # ./lenet.yaml is here: `lenet` alone would read it, not the bundled lenet5
    code, _, err = run_main(monkeypatch, capsys, "summarize", "students/bob/lenet.yaml")
    assert code == 2 and "no folder `students/bob`" in err and "alone names the bundled network" not in err


@pytest.mark.parametrize("command", ["flops", "draw", "validate"])
def test_a_fifo_given_as_arch_is_told_with_the_command_run(command, tmp_path, monkeypatch, capsys):
    """A FIFO is said as files.not_regular says it (`a FIFO (named pipe)`), never opened; the hint
    pipes into the command that was run (it said `cnnctl summarize -` for every command), and JSON
    names the file."""
    import os

    monkeypatch.chdir(tmp_path)
    os.mkfifo("fifo.yaml")
    code, out, err = run_main(monkeypatch, capsys, command, "fifo.yaml", "--format", "json")
    assert code == 2
    (error,) = json.loads(out)["errors"]
    assert error["message"] == "a FIFO (named pipe), not a regular file" and error["file"] == "fifo.yaml"
    assert f"`cat net.yaml | cnnctl {command} - --format json`" in error["hint"]  # the user's other words kept
    assert error["hint"].startswith("cnnctl reads only regular files")


def test_the_fifo_hint_runs_as_printed_with_the_users_other_arguments(tmp_path, monkeypatch, capsys):
    """`cnnctl draw ff.yaml -o 'x y.svg'` on a FIFO said `cat net.yaml | cnnctl draw -`: run as
    printed, it would have drawn nothing to `x y.svg`. The hint keeps `-o` and quotes its file."""
    import os
    import shlex

    monkeypatch.chdir(tmp_path)
    os.mkfifo("ff.yaml")
    code, _, err = run_main(monkeypatch, capsys, "draw", "ff.yaml", "-o", "x y.svg")
    assert code == 2
    line = err.split("(`", 1)[1].split("`)", 1)[0]
    assert line == "cat net.yaml | cnnctl draw - -o 'x y.svg'"
    (tmp_path / "net.yaml").write_text(NET)
    pipe, command = line.split(" | ")
    words = shlex.split(command)
    assert words[0] == "cnnctl"
    with open(shlex.split(pipe)[1], "rb") as net:
        done = subprocess.run([sys.executable, "-m", *words], stdin=net, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x y.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_a_device_given_as_arch_is_a_device():
    done = cnnctl("draw", "/dev/null")
    assert done.returncode == 2
    assert b"error: /dev/null: a device, not a regular file" in done.stderr and b"cnnctl draw -`" in done.stderr


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("summarize", "`cnnctl summarize ARCH`"),
        ("flops", "`cnnctl flops ARCH`"),
        ("draw", "`cnnctl draw ARCH`"),
        ("predict", "`cnnctl predict ARCH IMAGE... --checkpoint RUN`"),
    ],
)
def test_an_old_run_folder_gets_a_hint_its_command_can_follow(command, hint, tmp_path, monkeypatch, capsys):
    """A run without its network.yaml: only evaluate, predict and export take `--checkpoint`, so only
    their hints name it (every command's named `cnnctl evaluate ARCH --checkpoint RUN`)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fr" / "r3").mkdir(parents=True)
    (tmp_path / "fr" / "r3" / "config.json").write_text('{"input": "8x8x3"}')
    extra = ["x.png"] if command == "predict" else []
    code, out, err = run_main(monkeypatch, capsys, command, "fr/r3", *extra)
    assert code == 2 and "the run `fr/r3` was written before run folders kept their network" in err
    assert hint in err
    assert ("--checkpoint" in err) == (command == "predict")


def test_an_old_run_folder_from_python_names_no_command(tmp_path, monkeypatch, capsys):
    """From cnnctl.api no command runs (not even the one the CLI ran before in this process): the
    hint says which commands take the run's weights."""
    import cnnctl

    (tmp_path / "r3").mkdir()
    (tmp_path / "r3" / "config.json").write_text('{"input": "8x8x3"}')
    assert run_main(monkeypatch, capsys, "summarize", str(tmp_path / "r3"))[0] == 2
    with pytest.raises(cnnctl.CnnctlError) as info:
        cnnctl.load(str(tmp_path / "r3"))
    (problem,) = info.value.problems
    assert problem.hint.endswith("evaluate, predict and export take the run's weights with `--checkpoint RUN`")
    assert "cnnctl summarize" not in problem.hint


def test_a_missing_file_is_not_taken_for_a_file_several_edits_away(tmp_path, monkeypatch, capsys):
    """`bare_repeat` is 4 edits from `bare_concat` (r->c, e->o, p->n, e->c), past a slip's bound for
    an 11-character name (max(2, 11 // 3) = 3): no hint names it (it did); `bare_concta` (one swap)
    and `bare_cnocat` are still named."""
    from cnnctl.files import near_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bare_concat.yaml").write_text(NET)
    code, _, err = run_main(monkeypatch, capsys, "summarize", "bare_repeat.yaml")
    assert code == 2 and "bare_concat" not in err
    assert near_file("bare_repeat.yaml", (".yaml",)) is None
    assert near_file("bare_concta.yaml", (".yaml",)) == "bare_concat.yaml"
    assert near_file("bare_cnocat.yaml", (".yaml",)) == "bare_concat.yaml"
    code, _, err = run_main(monkeypatch, capsys, "summarize", "bare_concta.yaml")
    assert code == 2 and "did you mean `bare_concat.yaml`?" in err


def test_at_name_is_the_bundled_network_even_where_a_file_here_shadows_it(tmp_path, monkeypatch, capsys):
    from cnnctl.catalog import bundled, resolve_member

    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18.yaml").write_text(NET)  # a student's own file, named as the bundled network
    assert resolve_member("resnet18")[0] == "resnet18.yaml"  # a file here wins over a bare name
    assert resolve_member("@resnet18")[0] == bundled()["resnet18"]
    assert resolve_member("@resnet18.yaml")[0] == bundled()["resnet18"]
    assert resolve_member("@efficientnet_b3")[2] == "b3"
    assert resolve_member("@efficientnet:b3")[2] == "b3"
    code, _, err = run_main(monkeypatch, capsys, "summarize", "@resnt18")
    assert code == 2 and "no bundled architecture called `resnt18`" in err and "did you mean `resnet18`?" in err
    # the same file twice is warned, with the way to name the bundled one
    code, out, err = run_main(monkeypatch, capsys, "compare", "resnet18.yaml", "resnet18")
    assert code == 0
    assert "`resnet18.yaml` and `resnet18` are the same network (resnet18.yaml)" in err
    assert "`@resnet18` names the bundled network" in err
    code, out, err = run_main(monkeypatch, capsys, "compare", "resnet18.yaml", "@resnet18")
    assert code == 0 and "same network" not in err
    code, out, err = run_main(monkeypatch, capsys, "compare", "lenet5", "lenet")  # an alias: no file to shadow it
    assert "same network" in err and "`@" not in err
