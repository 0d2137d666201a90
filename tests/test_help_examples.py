"""Every command's --help ends with examples (written above its handler, cnnctl.cli.common.examples):
each line is parsed by the command's own options, and the analysis commands' lines are run."""

import shlex
import shutil

import pytest
from helpers import onnx_model, onnx_tensor, run_main

from cnnctl.cli import ANALYSIS, COMMANDS
from cnnctl.cli.app import build, handler

WIDTH = 80  # the terminal the help is read on: each line of an example fits it whole
EXAMPLES = [(name, command) for name in COMMANDS for command, _ in getattr(handler(name), "examples", ())]


def parsed(line: str):
    """An example's command line parsed by its command, as `cnnctl` would, without running it: click's
    context holds the values read. A word no parameter takes, or a missing argument, raises."""
    words = shlex.split(line)
    assert words[0] == "cnnctl" and words[1] in COMMANDS, line
    return build(words[1]).make_context(words[1], words[2:])


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_ends_its_help_with_two_to_four_examples(monkeypatch, capsys, name):
    examples = getattr(handler(name), "examples", ())
    assert 2 <= len(examples) <= 4, name
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    code, out, _ = run_main(monkeypatch, capsys, name, "--help")
    assert code == 0
    # the help's last section, each command line under its comment, one a line as written (not refilled)
    shown = "".join(f"  # {what}\n  {command}\n" for command, what in examples)
    assert out.endswith("\nExamples:\n" + shown), out[-600:]
    assert all(len(line) < WIDTH for line in shown.splitlines()), shown
    assert all(command.startswith(f"cnnctl {name}") for command, _ in examples)


def test_the_top_level_help_points_at_each_commands_help(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "--help")
    assert code == 0 and out.endswith("\n\n`cnnctl COMMAND --help` shows a command's options and examples.\n")


@pytest.mark.parametrize(("name", "line"), EXAMPLES)
def test_every_example_parses_with_its_commands_own_options(name, line):
    ctx = parsed(line)
    assert ctx.command.name == name and ctx.args == []  # every word taken by one of its parameters


def test_a_wrong_example_fails_the_parse():
    from typer._click.exceptions import MissingParameter, NoSuchOption, UsageError

    with pytest.raises(NoSuchOption):
        parsed("cnnctl summarize vgg16 --batchsize 32")
    with pytest.raises(MissingParameter):
        parsed("cnnctl summarize --batch 32")
    with pytest.raises(UsageError):  # a value the option refuses
        parsed("cnnctl summarize vgg16 --dtype fp12")
    with pytest.raises(UsageError):  # a word more than the command takes
        parsed("cnnctl flops vgg16 resnet50")
    assert parsed("cnnctl summarize vgg16 --batch 32").params["batch"] == 32


# The files the examples read, made in the folder they run in: a network file of one's own, and an
# ONNX model to import (a 3x3 convolution of 3 channels into 2, then relu).
NET = "input: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - fc 10\n"


def _model_onnx(path) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    from onnx import helper, save

    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]  # fmt: skip
    weights = (onnx_tensor("w", [[[[0.1] * 3] * 3] * 3] * 2), onnx_tensor("b", [0.0, 0.0]))
    save(onnx_model(nodes, weights), str(path))


RUN = [(name, line) for name, line in EXAMPLES if name in ANALYSIS]


@pytest.mark.parametrize(("name", "line"), RUN)
def test_the_analysis_examples_run(monkeypatch, capsys, tmp_path, name, line):
    words = shlex.split(line)
    if words[-1].endswith((".svg", ".png", ".pdf")) and "volumes" not in words and shutil.which("dot") is None:
        pytest.skip("Graphviz's `dot` is not installed")
    outputs = {words[i + 1] for i, word in enumerate(words) if word in ("-o", "--output")}
    monkeypatch.chdir(tmp_path)
    if "net.yaml" in words and "net.yaml" not in outputs:
        (tmp_path / "net.yaml").write_text(NET)
    if "model.onnx" in words:
        _model_onnx(tmp_path / "model.onnx")
    code, out, err = run_main(monkeypatch, capsys, *words[1:])
    assert code == 0, err
    assert out or outputs, line  # it says something, or writes what it was asked to
    for output in outputs:
        assert (tmp_path / output).stat().st_size > 0, output
