"""The command line's text output: validate's report, help texts, CSV for scripts."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

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
    commands = out[out.index("Commands:") :].splitlines()[1:]
    expected = list(COMMANDS)  # every command, in the order of the registry
    assert [ln.split()[0] for ln in commands if ln.strip()] == expected
    assert not any(ln.rstrip().endswith("...") for ln in commands), out


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
    assert rows[0] == ["Layer", "Shorthand", "Output", "Params", "Mults", "Field"]
    assert rows[1] == ["conv1", "conv f=5 n=6 act=tanh", "28x28x6", "156", "117600", "5"]  # a 5x5 filter's field
    chosen = cli("summarize", "lenet5", "-f", "csv", "--columns", "layer,output,memory").stdout
    assert list(csv.reader(io.StringIO(chosen)))[:2] == [["Layer", "Output", "Memory"], ["conv1", "28x28x6", "18816"]]
    rows = list(csv.reader(io.StringIO(cli("list", "-f", "csv").stdout)))
    lenet = next(r for r in rows if r[0] == "lenet5")
    assert lenet[1:4] == ["32x32x1", "61706", "416520"]


def test_validate_writes_csv_a_row_per_file(one_layer, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 8x8x1\nlayers:\n  - conv f=3 n=2 act=rleu\n")
    done = cli("validate", str(one_layer), str(bad), "--format", "csv")
    assert done.returncode == 2
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    # conv f=3 n=2 on 8x8x1: 6x6x2 out, (3*3*1)*2 + 2 = 20 params, (6*6*2)*(3*3*1) = 648 mults.
    assert [(r["Status"], r["Params"], r["Mults"]) for r in rows] == [("ok", "20", "648"), ("FAIL", "", "")]
    assert "did you mean `relu`" in rows[1]["Problems"]


def test_validate_json_gives_each_problem_its_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: 8x8x1\nlayers:\n  - conv f=3 n=2 act=rleu\n")
    done = cli("validate", str(bad), "--format", "json")
    assert done.returncode == 2
    (detail,) = json.loads(done.stdout)["files"][0]["details"]
    # `rleu` starts at column 22 of line 3: "  - conv f=3 n=2 act=" is 21 characters.
    assert (detail["severity"], detail["file"], detail["line"], detail["column"]) == ("error", str(bad), 3, 22)
    assert detail["layer"] == "conv1" and detail["hint"] == "did you mean `relu`?"
