"""cnnctl schema: a JSON Schema made from the layer registry, which every bundled and example
file meets, and which agrees with cnnctl's own reading on files written to tell them apart."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cnnctl.api import load_text
from cnnctl.catalog import architectures_dir
from cnnctl.errors import CnnctlError
from cnnctl.layers import KINDS
from tests.helpers import EXAMPLES, run_main

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the dev extra: pip install -e '.[dev]'")

FILES = sorted(Path(architectures_dir()).glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "cnnctl.schema.json"
    subprocess.run([sys.executable, "-m", "cnnctl", "schema", "-o", str(out)], check=True, capture_output=True)
    made = json.loads(out.read_text())
    jsonschema.Draft7Validator.check_schema(made)  # a valid draft-07 schema
    return made


def _errors(schema, text: str) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_bundled_and_example_file_meets_the_schema(schema, path):
    assert _errors(schema, path.read_text()) == []


def test_every_kind_and_argument_comes_from_the_registry(schema):
    defs = schema["definitions"]
    assert {k[len("kind_") :] for k in defs if k.startswith("kind_")} == set(KINDS)
    for name, kind in KINDS.items():
        props = defs[f"kind_{name}"]["properties"]
        assert {a.name for a in kind.args} | {name, "id", "from", "with"} == set(props)
        for a in kind.args:
            if a.doc:
                assert a.doc in props[a.name]["description"]


# Files the schema and cnnctl must agree on: (text, whether it is right).
CASES = [
    ("input: 8x8x3\nlayers:\n  - conv f=3 n=4\n", True),
    ("input: 8x8x3\nargs: n=4\nvariants:\n  a: n=8\n  b: {n: 2}\nlayers:\n  - conv f=3 n=$n\n", True),
    ("input: 8x8x3\nargs: n=4\nvariants: [a, b]\nlayers:\n  - conv f=3 n=$n\n", False),
    ("input: 8x8x3\nlayers:\n  - {conv: {f: 3, n: 4, p: same}, id: c1}\n  - {fc: 10}\n", True),
    ("input: 8x8x3\nlayers:\n  - conv: {f: 1x3, n: 4, act: swish}\n  - {bn: {eps: 1e-06}}\n", True),
    ("input: 8x8x3\nlayers:\n  - {dropout: {rate: 0.2}}\n  - flatten\n  - {fc: {units: 2}}\n", True),
    (
        "input: 8x8x4\nlayers:\n  - concat:\n      a: [conv f=1 n=2]\n      b: [pool max f=3 s=1 p=1]\n"
        "  - add:\n      - [conv f=3 p=same n=6]\n      - []\n    act: relu\n",
        True,
    ),
    (
        "input: 8x8x4\nblocks:\n  two:\n    args: n s=1\n    layers:\n      - {conv: {f: 3, s: $s, p: 1, n: $n}}\n"
        "      - {bn: {}}\nlayers:\n  - repeat: 2\n    layers: [two n=4]\n    first: s=2\n"
        "  - residual: [conv f=3 p=same n=4]\n    shortcut: identity\n    act: relu\n",
        True,
    ),
    ("input: 8x8x3\nlayers:\n  - gate: [pool avg global, conv f=1 n=3 act=sigmoid]\n", True),
    ("input: 8x8x3\nlayerz:\n  - conv f=3 n=4\n", False),  # a misspelt top-level key
    ("input: 8x8\nlayers:\n  - conv f=3 n=4\n", False),  # no channels
    ("input: 8x8x3\nlayers:\n  - {conv: {ff: 3, n: 4}}\n", False),  # no such argument
    ("input: 8x8x3\nlayers:\n  - {conv: {f: three, n: 4}}\n", False),  # not a size
    ("input: 8x8x3\nlayers:\n  - {conv: {f: 3, n: 0}}\n", False),  # n must be positive
    ("input: 8x8x3\nlayers:\n  - {pool: {op: maximum}}\n", False),  # not max or avg
    ("input: 8x8x3\nlayers:\n  - {conv: {f: 3, n: 4, act: rleu}}\n", False),  # no such activation
    ("input: 8x8x3\nlayers:\n  - {dropout: {rate: 1.5}}\n", False),  # not a probability
    ("input: 8x8x3\nlayers:\n  - repeat: 2\n", False),  # nothing to repeat
    ("input: 8x8x3\nlayers:\n  - residual: [conv f=3 p=same n=3]\n    shortcut: projektion\n", False),
    ("input: 8x8x3\nlayers:\n  - repeat: 2\n    layer: [conv f=3 p=same n=3]\n", False),  # `layers`
    ("input: 8x8x3\nlayers:\n  - {conv: {f: 3, n: 4}, bias: maybe}\n", False),  # not true or false
    ("input: 8x8x3\nlayers:\n  - {concat: {a: [conv f=1 n=2]}, act: relu}\n", False),  # concat takes no act
    (  # split attention: two paths, their sum's attention, softmax-ed across them
        "input: 8x8x4\nlayers:\n  - split:\n      - [conv f=3 p=1 n=4]\n      - [conv f=3 p=2 dilation=2 n=4]\n"
        "    attention: [pool avg global, conv f=1 n=2 act=relu, conv f=1 n=8]\n    groups: 1\n",
        True,
    ),
    ("input: 8x8x4\nlayers:\n  - split: [[conv f=1 n=4], [conv f=1 n=4]]\n", False),  # no attention
    (  # `attension`: misspelt
        "input: 8x8x4\nlayers:\n  - split: [[conv f=1 n=4], [conv f=1 n=4]]\n    attension: [conv f=1 n=8]\n",
        False,
    ),
    ("input: 8x8x4\nlayers:\n  - {slice: {start: 1, end: 3}}\n  - slice 0 1\n", True),
]


@pytest.mark.parametrize(("text", "right"), CASES)
def test_the_schema_agrees_with_cnnctl(schema, text, right):
    errors = _errors(schema, text)
    assert (errors == []) is right, errors
    try:
        load_text(text)
        accepted = True
    except CnnctlError:
        accepted = False
    assert accepted is right


def test_schema_prints_to_stdout_and_takes_only_json(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "schema")
    assert code == 0 and json.loads(out)["title"].startswith("cnnctl network")
    code, _, err = run_main(monkeypatch, capsys, "schema", "--format", "table")
    assert code == 2 and "json" in err


def test_schema_dash_is_stdout_and_json_with_a_file_says_the_file(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main(monkeypatch, capsys, "schema", "-o", "-")  # wrote a file named `-`
    assert code == 0 and json.loads(out)["title"].startswith("cnnctl network") and not (tmp_path / "-").exists()
    code, out, err = run_main(monkeypatch, capsys, "schema", "-o", "new.json", "-f", "json")  # stdout was empty
    # the JSON alone, as import's
    assert code == 0 and json.loads(out) == {"format_version": 1, "file": "new.json"} and err == ""
    assert json.loads((tmp_path / "new.json").read_text())["title"].startswith("cnnctl network")
    # `wrote` on stdout, as every other writer says it (it was on stderr)
    code, out, err = run_main(monkeypatch, capsys, "schema", "-o", "again.json")
    assert code == 0 and out == "wrote again.json: the notation's JSON Schema\n" and err == ""


def test_schemas_wrote_line_shows_a_file_name_not_utf8_as_its_bytes(monkeypatch, capsys, tmp_path):
    # `-o "$(printf 's\xe9').json"`: Python holds the byte as a surrogate; the line said `s\udce9.json`
    # (Python's escape of the surrogate, which names no file), where every message says `s\xe9.json`.
    monkeypatch.chdir(tmp_path)
    name = b"s\xe9.json".decode(errors="surrogateescape")
    code, out, _ = run_main(monkeypatch, capsys, "schema", "-o", name)
    assert code == 0 and (tmp_path / name).is_file()
    assert out == "wrote s\\xe9.json: the notation's JSON Schema\n"


def test_lrn_says_its_defaults_are_alexnets_not_pytorchs(schema):
    # `lrn` takes k=2 unless told (AlexNet's, Krizhevsky et al. 2012); torch.nn.LocalResponseNorm's k is 1
    torch = pytest.importorskip("torch")
    assert torch.nn.LocalResponseNorm(5).k == 1.0
    lrn = schema["definitions"]["kind_lrn"]
    assert "alpha=1e-4 beta=0.75 k=2" in lrn["description"] and "PyTorch's k=1" in lrn["description"]
    k = lrn["properties"]["lrn"]["anyOf"][0]["properties"]["k"]["description"]
    assert "PyTorch's LocalResponseNorm has 1" in k and "(default: 2.0)" in k
