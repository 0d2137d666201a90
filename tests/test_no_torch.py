"""The analysis path never imports torch: checked in a fresh interpreter for every command.

Nor what would slow every start (the issue's goal is 0.07 s for `summarize resnet152`):
`typing` and `dataclasses` (5 ms each), a command-line framework, pathlib.
"""

import subprocess
import sys

import pytest

PROBE = """
import contextlib, io, sys
import cnnctl.cli
sys.argv = ["cnnctl", *{args!r}]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        cnnctl.cli.main()
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
print(sorted(m for m in ("typing", "dataclasses", "inspect", "typer", "click", "pathlib") if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["summarize", "resnet152"],
        ["summarize", "googlenet", "--format", "json"],
        ["flops", "vgg16", "--per-layer"],
        ["validate", "lenet5", "alexnet"],
        ["list"],
    ],
)
def test_analysis_commands_do_not_import_torch(args):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, timeout=60, check=True
    )
    torch, slow = out.stdout.strip().splitlines()[-2:]
    assert torch == "[]" and slow == "[]", (torch, slow)


def test_the_package_import_does_not_import_torch():
    code = "import sys, cnnctl; cnnctl.load('resnet50'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
