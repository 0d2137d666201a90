"""Every mistake in tests/bad/ gets one located message, exit code 2, and no traceback.

Each file of tests/bad/ holds one mistake. Its first line says what the message must
contain (`# expect: ...`); an optional second line (`# line: N`) says which line the
location must point at. `validate` runs each file in a subprocess (all at once, so the
suite stays quick); `summarize` runs in-process through `cnnctl.cli.main`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import run_main

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "bad"
FILES = sorted(p.name for p in BAD.glob("*.yaml"))
TIMEOUT_S = 20

# Files that cannot carry the `# expect:` header: (expected text, line).
HEADERLESS = {"empty_file.yaml": ("the file is empty", 1)}
# Every message names a place `file:line:column`, except where no line exists. (None so far:
# even a non-UTF-8 file points at the line of its first undecodable byte.)
NO_LOCATION: set[str] = set()


def expectation(name: str) -> tuple[str, int | None]:
    """(the substring the message must contain, the line it must point at, if stated)."""
    if name in HEADERLESS:
        return HEADERLESS[name]
    head = (BAD / name).read_bytes()[:4000].decode("utf-8", "replace").splitlines()
    m = re.match(r"# expect: (.+)", head[0])
    assert m, f"{name}: the first line must be `# expect: <substring of the message>`"
    line = re.match(r"# line: (\d+)\s*$", head[1]) if len(head) > 1 else None
    return m.group(1).strip(), int(line.group(1)) if line else None


def check_message(name: str, display: str, text: str) -> None:
    expect, line = expectation(name)
    assert "Traceback" not in text, text
    assert expect in text, f"{name}: expected `{expect}` in:\n{text}"
    if name not in NO_LOCATION:
        assert re.search(re.escape(display) + r":\d+:\d+", text), f"{name}: no file:line:column in:\n{text}"
    if line is not None:
        assert f"{display}:{line}:" in text, f"{name}: expected the location at line {line} in:\n{text}"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnnctl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def validated() -> dict[str, subprocess.CompletedProcess[str]]:
    """`cnnctl validate FILE` for every bad file, run in parallel subprocesses."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda name: run_cli("validate", f"tests/bad/{name}"), FILES)
        return dict(zip(FILES, results, strict=True))


def test_corpus_is_there():
    assert len(FILES) >= 60


@pytest.mark.parametrize("name", FILES)
def test_validate_subprocess(name: str, validated):
    result = validated[name]
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    assert not result.stdout.strip(), "a failed validation writes to stderr only"
    check_message(name, f"tests/bad/{name}", result.stderr)


@pytest.mark.parametrize("name", FILES)
def test_summarize_in_process(name: str, monkeypatch, capsys):
    path = str(BAD / name)
    code, out, err = run_main(monkeypatch, capsys, "summarize", path)
    assert code == 2, out + err
    assert not out, out
    assert err.startswith("error: "), err
    check_message(name, path, err)


def test_validate_many_files_json():
    """Several files in one run: each is reported, none stops the others."""
    names = FILES[:10]
    result = run_cli("validate", "--format", "json", *[f"tests/bad/{n}" for n in names], "lenet5")
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [f["ok"] for f in report["files"]] == [False] * len(names) + [True]
    assert all(f["problems"] for f in report["files"][:-1])


# -- mistakes on the command line ------------------------------------------------------------
CLI_MISTAKES = [
    (["summarize", "nosuchfile.yaml"], "bundled: alexnet"),
    (["summarize", "lenet5", "--input", "3x224x224"], "did you mean `224x224x3`?"),
    (["summarize", "lenet5", "--input", "abc"], "is not a volume HxWxC"),
    (["summarize", "lenet5", "--input", "28x28"], "28x28x1"),
    (["summarize", "lenet5", "--input", "0x32x3"], "must be at least 1"),
    (["summarize", "lenet5", "--input", "+-32x32x1"], "expected a whole number, got `+-32`"),
    (["flops", "lenet5", "--input", "32x--32x1"], "expected a whole number, got `--32`"),
    (["summarize", "lenet5", "--input", "9" * 100_000 + "x1x1"], "(100,004 characters)"),  # named, not printed
    (["summarize", "lenet5", "--depth", "0"], "--depth"),
    (["summarize", "lenet5", "--format", "xml"], "--format"),
    (["summarize", "lenet5", "--batch", "0"], "--batch"),
    (["summarize", "lenet5", "--dtype", "float7"], "float32"),
    (["summarize", "tests"], "is a directory"),
    (["flops", "tests/bad"], "is a directory"),
    (["validate", "tests"], "is a directory"),
    (["summarize", ""], "the architecture is an empty argument"),
    (["summarize"], "`summarize` needs ARCH"),
    (["frobnicate"], "no command `frobnicate`"),
    (["sumarize", "lenet5"], "did you mean `summarize`?"),
    (["summarize", "lenet5", "--formt", "json"], "did you mean `--format`?"),
    (["train", "lenet5", "--optimizer", "sdg"], "did you mean `sgd`?"),
    # Other tools' option names (Ultralytics' imgsz, lr0; timm's --img-size), told as cnnctl's, per command.
    (["train", "lenet5", "--imgsz", "64"], "did you mean `--input`?"),
    (["train", "lenet5", "--img-size", "64"], "did you mean `--input`?"),
    (["train", "lenet5", "--image_size", "64"], "did you mean `--input`?"),
    (["train", "lenet5", "--lr0", "0.1"], "did you mean `--lr`?"),
    (["train", "lenet5", "--bs", "8"], "did you mean `--batch-size`?"),
    (["memory", "lenet5", "--bs", "8"], "did you mean `--batch`?"),
    (["train", "lenet5", "--lr-base", "0.1"], "did you mean `--lr`?"),
    # timm's options cnnctl does otherwise: what it does instead
    (["train", "lenet5", "--num-classes", "4"], "the head follows the data's classes"),
    (["train", "lenet5", "--num_classes", "4"], "`--head PATH` chooses the layer"),
    (["summarize", "lenet5", "--num-classes", "4"], "its last layer's outputs, in the file (`fc 10`)"),
    (["train", "lenet5", "--model", "resnet18"], "the network is the command's first argument"),
    (["bench", "lenet5", "--model", "resnet18"], "`cnnctl bench resnet18 ...`"),
    (["train", "lenet5", "--budget", "1GiB"], "train sets the batch size with --batch-size; `cnnctl memory ARCH"),
    (["train", "lenet5", "--epochs", "٣"], "--epochs expected a whole number, got `٣`"),
    # Words for what a command does (torchinfo, Keras's plot_model, Netron): the command line that does it
    (["receptive", "lenet5"], "`cnnctl summarize ARCH --columns layer,output,field,jump,start`"),
    (["params", "lenet5"], "`cnnctl summarize ARCH` gives each layer's output, parameters"),
    (["plot_model", "lenet5"], "`cnnctl draw ARCH -o net.svg`"),
    (["netron", "lenet5"], "`cnnctl export ARCH -o net.onnx`, then open net.onnx in Netron"),
]


@pytest.mark.parametrize(("args", "expect"), CLI_MISTAKES, ids=[" ".join(a) for a, _ in CLI_MISTAKES])
def test_cli_mistakes(args: list[str], expect: str, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert expect in err, err


def test_the_command_lines_other_tools_words_point_to_are_real(tmp_path, monkeypatch, capsys):
    import shlex

    from cnnctl.cli.app import COMMAND_SYNONYMS

    monkeypatch.chdir(tmp_path)
    lines = {line for hint in COMMAND_SYNONYMS.values() for line in re.findall(r"`cnnctl ([^`]+)`", hint)}
    assert len(lines) >= 6
    for line in sorted(lines):
        words = [w.replace("ARCH", "lenet5").replace("FILE...", "lenet5") for w in shlex.split(line)]
        if words[0] in ("summarize", "flops", "draw", "validate"):  # quick: run them
            code, out, err = run_main(monkeypatch, capsys, *words)
            assert code == 0, (line, err)
        else:  # export, train: each option they name is one of the command's
            _, help_text, _ = run_main(monkeypatch, capsys, words[0], "--help")
            assert all(w in help_text for w in words if w.startswith("-")), line


def test_a_folder_named_like_a_bundled_network_does_not_hide_it(tmp_path, monkeypatch):
    # `cnnctl train resnet18 --out resnet18` leaves a folder of that name: the name still means the network.
    from cnnctl.catalog import bundled, resolve
    from cnnctl.errors import CnnctlError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18").mkdir()
    assert resolve("resnet18") == (bundled()["resnet18"], "bundled: resnet18.yaml")
    with pytest.raises(CnnctlError, match="is a directory"):  # a path to the folder means the folder
        resolve("resnet18/")


def test_a_block_whose_only_layer_is_wrong_gets_that_one_message(tmp_path):
    net = tmp_path / "net.yaml"
    net.write_text("input: 8x8x3\nblocks:\n  b:\n    layers:\n      - conv f=3 n=4 zz=1\nlayers:\n  - b\n")
    result = run_cli("validate", str(net))
    assert result.returncode == 2 and "`conv` has no argument `zz`" in result.stderr
    assert "has no layers" not in result.stderr and result.stderr.count("error:") == 1


def test_cli_mistake_subprocess():
    """The same through a real process: one message, exit 2, nothing else."""
    result = run_cli("summarize", "nosuchfile.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no file `nosuchfile.yaml`"), result.stderr
    assert "hint: " in result.stderr and "lenet5" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
