"""The analysis path never imports torch: checked in a fresh interpreter for every command.

Nor what would slow every start (the issue's goal is 0.07 s for `summarize resnet152`):
`dataclasses` (5 ms), pydantic (which typer 0.29 imports to read options), the standalone
click, rich. Since issue 25 the command line is typer (with `typing`, `inspect` and pathlib):
its cost is measured by benchmarks/startup.py.
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
print(sorted(m for m in ("dataclasses", "pydantic", "click", "rich") if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["summarize", "resnet152"],
        ["summarize", "googlenet", "--format", "json"],
        ["flops", "vgg16", "--per-layer"],
        ["validate", "lenet5", "alexnet"],
        ["list"],
        ["memory", "resnet152", "--budget", "80GiB", "--per-layer"],
        ["compare", "resnet50", "efficientnet_b0", "convnext_tiny", "--format", "json"],
        ["flops", "mobilenet_v2", "--top", "5", "--profile", "h100", "--dtype", "bfloat16"],
        ["summarize", "inception_v3", "--columns", "layer,from,field,jump,start"],
        ["summarize", "convnext_tiny", "--columns", "layer,input,kernel,params", "--format", "json"],
    ],
)
def test_analysis_commands_do_not_import_torch(args):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, timeout=60, check=True
    )
    torch, slow = out.stdout.strip().splitlines()[-2:]
    assert torch == "[]" and slow == "[]", (torch, slow)


def test_a_file_with_train_settings_does_not_import_torch(tmp_path):
    # its `train:` section is checked by every command (cnnctl.train.config, pure Python)
    net = tmp_path / "net.yaml"
    net.write_text("input: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - fc 2\ntrain:\n  epochs: 2\n  lr: 0.01\n")
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=["summarize", str(net)])],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    torch, slow = out.stdout.strip().splitlines()[-2:]
    assert torch == "[]", torch


@pytest.mark.parametrize("picture", ["net.dot", "net.mmd", "net.svg"])
def test_draw_does_not_import_torch(tmp_path, picture):
    style = ["--style", "volumes"] if picture == "net.svg" else []  # the SVG written without Graphviz
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=["draw", "lenet5", "-o", str(tmp_path / picture), *style])],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    torch, slow = out.stdout.strip().splitlines()[-2:]
    assert torch == "[]" and slow == "[]", (torch, slow)
    assert (tmp_path / picture).stat().st_size > 0


def test_schema_does_not_import_torch():
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=["schema"])], capture_output=True, text=True, timeout=60, check=True
    )
    torch, _ = out.stdout.strip().splitlines()[-2:]  # it reads `train:`'s settings: typing comes with them
    assert torch == "[]", torch


def test_the_package_import_does_not_import_torch():
    code = "import sys, cnnctl; cnnctl.load('resnet50'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_runs_and_plot_do_not_import_torch(tmp_path):
    # they read run folders (cnnctl.run_folders) and draw with matplotlib: no torch
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"epochs": 2, "data": "shapes"}')
    row = '"train_loss": 1.0, "val_loss": 1.1, "train_accuracy": 0.5, "val_accuracy": 0.4'
    (run / "metrics.jsonl").write_text("".join(f'{{"epoch": {e}, {row}}}\n' for e in (1, 2)))
    (run / "status.json").write_text('{"status": "finished", "epochs": 2}')
    probes = [["runs", str(tmp_path / "runs"), "--format", "json"], ["runs", str(tmp_path / "runs")]]
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # plot needs it; runs does not
        pass
    else:
        probes.append(["plot", str(run), "-o", str(tmp_path / "c.png")])
    for args in probes:
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, timeout=60, check=True
        )
        torch, _ = out.stdout.strip().splitlines()[-2:]
        assert torch == "[]", (args, torch)
    assert len(probes) == 2 or (tmp_path / "c.png").stat().st_size > 0


def test_bench_results_are_shown_without_torch():
    # bench's records (cnnctl.analysis.timings) are plain data: the table and JSON of a result,
    # --data's too, are made without torch (render/ never imports train/)
    code = """
import json, sys
from cnnctl.analysis.timings import BenchResult, DataTiming, Pass, Timing
from cnnctl.render.table import plain
from cnnctl.render.views.bench import bench_data_table, bench_json, bench_table
step = Timing("cnnctl", "train", 8, [0.01, 0.02, 0.01, 0.02], 10**9, repeats=2)
data = DataTiming("shapes", False, 0, 2, 8, 1, Pass(4, 32, 0.08), step, Pass(4, 32, 0.16))
result = BenchResult("cpu", [step], None, [], data=data)
print(plain(bench_table(result)), plain(bench_data_table(data)), json.dumps(bench_json(result)), file=sys.stderr)
print(bench_json(result)["data"]["images_per_second"]["loader"])
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loader, torch = out.stdout.strip().splitlines()[-2:]
    assert float(loader) == 32 / 0.08 and torch == "[]", (loader, torch)
