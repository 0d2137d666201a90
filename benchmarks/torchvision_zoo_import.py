"""torchvision's classification CNNs through both of PyTorch's ONNX exporters and `cnnctl import`
(issue 22, item 2): the score the README's *Import from ONNX* states.

torchvision is not cnnctl's dependency and does not install beside the CPU torch cnnctl's own
environment has; it runs from a second environment (torch with torchvision, onnx, onnxscript,
onnxruntime). Run it from the repository's root with that environment's Python:

    nice /work/tvenv/bin/python benchmarks/torchvision_zoo_import.py [--models a,b] [--first] [--timeout 900]

For each model of `torchvision.models.list_models(module=torchvision.models)` of the CNN families
the issue names (not ViT, Swin or MaxViT: attention), one process in that environment builds it
(seeded; every tensor that starts constant, batch norms' scales, shifts and statistics, made
random so that a tensor misplaced shows), puts it in eval mode and exports it to a folder outside
the repository with `dynamo=False` (batch norms kept: TrainingMode.PRESERVE, so that its counts
are the model's own) and with `dynamo=True`. It writes beside them the independent reference:
the parameters and the buffers of the model (sum of numel; batch norm's num_batches_tracked
left out: it counts training steps and no exporter writes it) and the multiplications counted by
forward hooks on every Conv2d and Linear (out volume x in-channels per group x window, out x in).
Where the exporter folded batch norms into the convs before them (the dynamo exporter does in
eval mode), the file's own counts follow from those (`folded`); transform_input's six numbers
are buffers of cnnctl's affines (TRANSFORM_INPUT).
GoogLeNet and Inception v3 are built without their auxiliary classifiers (they do not run in
eval mode, so no exporter writes them) and with `transform_input=True` (as with their weights).

Then one process in cnnctl's environment (CNNCTL_PYTHON, this worktree first on PYTHONPATH)
runs `python -m cnnctl import FILE -o net.yaml` and compares the network read: its params,
buffers and multiplications against the reference, and the outputs of its compiled module with
the file's weights (`--weights model.onnx`) against ONNX Runtime's on the same random image:
the largest difference relative to the largest logit (max(1, |logit|)), within 1e-5.

`--segmentation` measures instead the CNNs of `torchvision.models.segmentation` (SEGMENTATION:
FCN, DeepLabV3, LRASPP; `aux_loss` off, no backbone weights), whose forward returns a dict: the
module exported is the model with its `["out"]` (`Out`), at 224x224, where every interpolation
is by a whole factor (the ResNets' features at 1/8, 28x28: by 8; MobileNet v3's at 1/16, 14x14,
and LRASPP's low-level ones at 1/8: by 16, 2 and 8; ASPP's pooled 1x1 to the features: by 28 or
14). Their reference adds the bilinear interpolations, observed independently of cnnctl: a
TorchFunctionMode records each F.interpolate call's output size, and their FLOPs follow from
cnnctl's documented convention (8 per output value: 4 multiply-adds, fvcore's count), against
the FLOPs of the `upsample ... mode=bilinear` layers read. Their table is
benchmarks/results/torchvision_segmentation_import.md.

Each step runs under a timeout; a model whose export fails or runs out of time is listed as not
measured, with why. The results are kept (one JSON line per file) in the work folder, so a run
can be resumed; the table is written to benchmarks/results/torchvision_zoo_import.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "torchvision_zoo_import.md"
SEGMENTATION_RESULTS = ROOT / "benchmarks" / "results" / "torchvision_segmentation_import.md"
WORK = Path(os.environ.get("ZOO_WORK", "/tmp/cnnctl_torchvision_zoo"))
CNNCTL_PYTHON = os.environ.get("CNNCTL_PYTHON", "/work/main/.venv/bin/python")
TOLERANCE = 1e-5
# The families, in its order (a model's family: the longest prefix of its name listed)
FAMILIES = ("resnet", "resnext", "wide_resnet", "vgg", "alexnet", "squeezenet", "densenet", "googlenet",
            "inception", "mobilenet_v2", "mobilenet_v3", "mnasnet", "shufflenet_v2", "efficientnet_b",
            "efficientnet_v2", "regnet_x", "regnet_y", "convnext")  # fmt: skip
NOT_CNNS = ("vit_", "swin_", "maxvit_")  # attention: not read, not measured
# torchvision.models.segmentation's CNNs (each its own family, for the table's order)
SEGMENTATION = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")  # fmt: skip
BILINEAR_FLOPS = 8  # per output value of a bilinear interpolation: cnnctl's documented convention
EXPORTERS = ("torchscript", "dynamo")
# Built with transform_input=True: its 3 factors and 3 offsets are Python numbers to torchvision
# (no buffers), written as constants by the exporters, and read as affines that keep them as buffers.
TRANSFORM_INPUT = ("googlenet", "inception_v3")


def family(name: str) -> str | None:
    return max((f for f in (*FAMILIES, *SEGMENTATION) if name.startswith(f)), key=len, default=None)


def order(name: str) -> int:
    """Where a model's family comes in the table."""
    return (*FAMILIES, *SEGMENTATION).index(family(name))


# -- in torchvision's environment ------------------------------------------------------------
def build(name: str):
    import torch
    import torchvision

    torch.manual_seed(0)
    extra = {"aux_logits": False, "transform_input": True} if name in TRANSFORM_INPUT else {}
    if name in SEGMENTATION:  # no backbone weights (none downloaded), no auxiliary head
        extra = {"weights_backbone": None, "aux_loss": False}
    model = torchvision.models.get_model(name, weights=None, **extra).eval()
    if name in SEGMENTATION:

        class Out(torch.nn.Module):
            """The model with its `["out"]`: the one output an exporter writes."""

            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, x):
                return self.model(x)["out"]

        model = Out(model).eval()
    with torch.no_grad():  # constant tensors made random (as benchmarks/torchvision_reference.py's distinct)
        for key, t in model.state_dict().items():
            if t.is_floating_point() and t.numel() > 1 and t.std() == 0:
                low, high = (-0.1, 0.1) if key.endswith(("bias", "running_mean")) else (0.5, 1.5)
                t.uniform_(low, high)
    return model


def multiplications(model, x) -> int:
    """Conv2d and Linear multiply-accumulates for one image, by forward hooks (independent of cnnctl)."""
    import torch

    total = [0]

    def conv(m, args, out):
        total[0] += out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, args, out):
        total[0] += out[0].numel() * m.in_features

    hooks = [
        m.register_forward_hook(conv if isinstance(m, torch.nn.Conv2d) else linear)
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return total[0]


def interpolations(model, x) -> list[dict]:
    """Each F.interpolate call of a forward pass, its mode and output size, as a TorchFunctionMode
    sees the call (independent of cnnctl and of the exporters)."""
    import torch
    from torch.overrides import TorchFunctionMode

    calls = []

    class Seen(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if func is torch.nn.functional.interpolate:
                mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
                corners = kwargs.get("align_corners", args[4] if len(args) > 4 else None)
                calls.append({"mode": mode, "align_corners": bool(corners), "in": list(args[0].shape),
                              "out": list(out.shape)})  # fmt: skip
            return out

    with torch.no_grad(), Seen():
        model(x)
    return calls


def biased_bn_channels(model) -> int:
    """The channels of the batch norms right after a conv with a bias (VGG's): folded, they add none."""
    import torch

    leaves = [m for m in model.modules() if not list(m.children())]
    return sum(
        bn.num_features
        for conv, bn in zip(leaves, leaves[1:], strict=False)
        if isinstance(bn, torch.nn.BatchNorm2d) and isinstance(conv, torch.nn.Conv2d) and conv.bias is not None
    )


def export(name: str, folder: Path) -> None:
    import contextlib
    import io
    import warnings

    import torch

    model = build(name)
    size = 299 if name == "inception_v3" else 224
    x = torch.randn(1, 3, size, size)
    calls = interpolations(model, x) if name in SEGMENTATION else []
    reference = {
        "interpolations": calls,
        "bilinear_flops": sum(BILINEAR_FLOPS * math.prod(c["out"]) for c in calls if c["mode"] == "bilinear"),
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": sum(b.numel() for k, b in model.named_buffers() if not k.endswith("num_batches_tracked")),
        "mults": multiplications(model, x),
        "bn_channels": sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)),
        "biased_bn_channels": biased_bn_channels(model),
        "size": size,
    }
    (folder / f"{name}.json").write_text(json.dumps(reference))
    for exporter in EXPORTERS:
        path = folder / f"{name}_{exporter}.onnx"
        dynamo = exporter == "dynamo"
        keep = {} if dynamo else {"training": torch.onnx.TrainingMode.PRESERVE, "opset_version": 18}
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (x,), str(path), dynamo=dynamo, **keep)
        except Exception as exc:  # noqa: BLE001 -- reported as not measured
            (folder / f"{name}_{exporter}.failed").write_text(f"{type(exc).__name__}: {str(exc).splitlines()[0]}"[:300])


# -- in cnnctl's environment ------------------------------------------------------------------
def folded(path: Path, reference: dict) -> dict:
    """The reference counts of the file where the exporter folded batch norms into the convs
    before them (the dynamo exporter's optimizer does, in eval mode): each folded channel's scale
    and shift go into the conv, which gains a bias where it had none (VGG's convs before a batch
    norm have one, the others' none), its running mean and variance go. The batch norms kept
    are the file's BatchNormalization nodes."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    kept = sum(dims.get(n.input[1], [0])[0] for n in model.graph.node if n.op_type == "BatchNormalization")
    gone = reference["bn_channels"] - kept
    biased = min(gone, reference.get("biased_bn_channels", 0))
    fixed = 6 if path.parent.name in TRANSFORM_INPUT else 0  # transform_input's numbers, an affine's buffers
    params = reference["params"] - 2 * gone + (gone - biased)  # each folded channel's scale and shift; a bias
    return {"params": params, "buffers": reference["buffers"] - 2 * gone + fixed, "folded": gone}


def check(path: Path, reference: dict) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    import cnnctl
    from cnnctl.exchange.weights import place_weights

    net = path.with_suffix(".yaml")
    done = subprocess.run(
        [sys.executable, "-m", "cnnctl", "import", str(path), "-o", str(net)], capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        said = next((ln for ln in lines if "ONNX node" in ln), lines[0] if lines else f"exit {done.returncode}")
        return {"result": "import refused", "why": said.strip()[:400], "problems": len(lines)}
    graph = cnnctl.load(str(net))
    counts = {"params": graph.params, "buffers": graph.buffers, "mults": graph.mults}
    if reference.get("interpolations"):  # the upsample layers read, against the calls observed
        ups = [n for n in graph.nodes if n.kind == "upsample"]
        counts["bilinear_flops"] = sum(n.flops for n in ups if n.args.mode == "bilinear")
        counts["interpolations"] = len(ups)
        reference = {**reference, "interpolations": len(reference["interpolations"])}
    reference = {**reference, **folded(path, reference)}
    wrong = [f"{k} {counts[k]:,} (torchvision {reference[k]:,})" for k in counts if counts[k] != reference[k]]
    model = cnnctl.to_torch(graph).eval()
    place_weights(model, str(path))
    size = reference["size"]
    x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).numpy().reshape(theirs.shape)
    difference = float(np.abs(ours - theirs).max() / max(1.0, float(np.abs(theirs).max())))
    same = difference <= TOLERANCE
    result = "exact, within 1e-5" if not wrong and same else ("counts differ" if wrong else "outputs differ")
    bn = f"batch norms folded: {reference['folded']:,} channels" if reference["folded"] else ""
    if "interpolations" in counts:
        scales = [f"{n.args.scale}" for n in graph.nodes if n.kind == "upsample"]
        bn = "; ".join(x for x in (bn, f"bilinear upsamples by {', '.join(scales)}") if x)
    if path.parent.name in TRANSFORM_INPUT:
        bn = "; ".join(x for x in (bn, "transform_input's 6 numbers kept as the affines' buffers") if x)
    return {"result": result, "why": "; ".join(wrong), "difference": difference, "folded": bn, **counts}


# -- the driver (torchvision's environment) ----------------------------------------------------
def run(argv: list[str], timeout: float, env: dict | None = None) -> tuple[int | None, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, f"more than {timeout:.0f} s"
    return done.returncode, (done.stdout + done.stderr).strip()


def measure(name: str, timeout: float, work: Path = WORK) -> list[dict]:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    code, said = run([sys.executable, __file__, "--export", name, "--folder", str(folder)], timeout)
    if code != 0:
        why = said if code is None else (said.splitlines() or ["?"])[-1][:300]
        return [{"model": name, "exporter": e, "result": "not measured", "why": f"export: {why}"} for e in EXPORTERS]
    rows = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for exporter in EXPORTERS:
        failed = folder / f"{name}_{exporter}.failed"
        if failed.exists():
            rows.append({"model": name, "exporter": exporter, "result": "not measured",
                         "why": f"export: {failed.read_text()}"})  # fmt: skip
            continue
        path = folder / f"{name}_{exporter}.onnx"
        code, said = run([CNNCTL_PYTHON, __file__, "--check", str(path)], timeout, env)
        last = said.splitlines()[-1] if said else ""
        if code == 0 and last.startswith("{"):
            rows.append({"model": name, "exporter": exporter, **json.loads(last)})
        else:
            rows.append({"model": name, "exporter": exporter, "result": "check failed", "why": last[:300]})
        for made in (path, path.with_name(path.name + ".data"), path.with_suffix(".safetensors")):
            made.unlink(missing_ok=True)  # the ONNX files are large; the table is what is kept
    print(f"{name}: {', '.join(r['result'] for r in rows)} ({time.monotonic() - start:.0f} s)", flush=True)
    return rows


def table(rows: list[dict], versions: str, segmentation: bool = False) -> str:
    score = []
    for exporter in EXPORTERS:
        mine = [r for r in rows if r["exporter"] == exporter]
        measured = [r for r in mine if r["result"] != "not measured"]
        good = sum(r["result"].startswith("exact") for r in mine)
        score.append(f"{exporter}: {good} of {len(measured)} measured exact and within 1e-5 ({len(mine)} listed)")
    what = (
        'segmentation CNNs (`torchvision.models.segmentation`, 224x224, `["out"]`)'
        if segmentation
        else ("classification CNNs")
    )
    interpolations = (
        " Bilinear interpolations: their count and FLOPs (8 per output value) against F.interpolate's calls "
        "as a TorchFunctionMode records them."
        if segmentation
        else ""
    )
    lines = [
        f"# torchvision's {what} through both exporters and `cnnctl import`",
        "",
        f"Made by benchmarks/torchvision_zoo_import.py on {time.strftime('%Y-%m-%d')}, {versions}.",
        "Params and buffers against the model's own (sum of numel, without num_batches_tracked), "
        "multiplications against Conv2d/Linear hooks, outputs against ONNX Runtime (largest difference "
        "relative to max(1, largest logit), within 1e-5)." + interpolations,
        "",
        "**Score**: " + "; ".join(score) + ".",
        "",
        "| network | exporter | result | difference | first failure / why | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (order(r["model"]), r["model"], r["exporter"])):
        diff = f"{r['difference']:.1e}" if "difference" in r else ""
        why = r.get("why", "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r['model']} | {r['exporter']} | {r['result']} | {diff} | {why} | {r.get('folded', '')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="names, comma-separated, measured in that order (default: the zoo's CNNs)")
    parser.add_argument("--first", action="store_true", help="one model per family")
    parser.add_argument("--again", action="store_true", help="measure again models already measured")
    parser.add_argument("--table", action="store_true", help="measure nothing: the table of what was measured")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per step of one model")
    parser.add_argument("--skip", default="", help="models not to measure (e.g. too large for a machine)")
    parser.add_argument("--segmentation", action="store_true", help="torchvision.models.segmentation's CNNs instead")
    parser.add_argument("--export", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        return export(args.export, Path(args.folder))
    if args.check:
        path = Path(args.check)
        reference = json.loads((path.parent / f"{path.parent.name}.json").read_text())
        return print(json.dumps(check(path, reference)))
    import onnx
    import torch
    import torchvision

    names = [n for n in torchvision.models.list_models(module=torchvision.models) if not n.startswith(NOT_CNNS)]
    names = zoo = [n for n in names if family(n)]
    work, results = WORK, RESULTS
    if args.segmentation:
        segmentation = set(torchvision.models.list_models(module=torchvision.models.segmentation))
        names = zoo = [n for n in SEGMENTATION if n in segmentation]
        work, results = WORK / "segmentation", SEGMENTATION_RESULTS
    if args.table:
        names = []
    if args.models:
        names = [n for n in args.models.split(",") if n in names]  # in the order given
    if args.first:
        names = [n for n in names if n == min((m for m in names if family(m) == family(n)), key=len)]
    work.mkdir(parents=True, exist_ok=True)
    kept = work / "results.jsonl"
    rows = [json.loads(line) for line in kept.read_text().splitlines()] if kept.exists() else []
    skipped = set(args.skip.split(",")) if args.skip else set()
    too_large = "left out (--skip)"
    rows = [r for r in rows if r["model"] not in skipped]
    rows += [{"model": n, "exporter": e, "result": "not measured", "why": too_large} for n in zoo if n in skipped
             for e in EXPORTERS]  # fmt: skip
    for name in names:
        if name in skipped:
            continue
        if any(r["model"] == name for r in rows) and not args.again:
            continue
        rows = [r for r in rows if r["model"] != name] + measure(name, args.timeout, work)
        kept.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept.write_text("".join(json.dumps(r) + "\n" for r in rows))
    measured = {r["model"] for r in rows}
    why = "not reached in the time this run had (2 shared cores)"
    rows += [{"model": n, "exporter": e, "result": "not measured", "why": why} for n in zoo if n not in measured
             for e in EXPORTERS]  # fmt: skip
    versions = f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(table(rows, versions, args.segmentation))
    print(results.read_text().split("\n\n")[2])


if __name__ == "__main__":
    main()
