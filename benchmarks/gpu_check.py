"""Every GPU figure of the README in one run (issue 23), a Markdown table and the JSON behind it.

    PYTHONPATH=.:.gpu-deps python3 benchmarks/gpu_check.py --out OUT [--seconds 290] [--skip PARTS]
    python benchmarks/gpu_check.py --out OUT --dry-run     # the same code on the CPU, tiny, in seconds

Four parts, in this order, each guarded (one that fails is recorded, the others go on) and
each given until a point of the global time budget (`--seconds`; a part that ends early
leaves its time to the next; what no longer fits is skipped and said):

1. memory: every bundled network at batch 64, float32 and --amp (bf16 autocast), Adam
   (fused, as train), channels_last, cudnn.benchmark as train sets it, eager: the peak of
   torch.cuda.max_memory_allocated over the second step (after reset_peak_memory_stats),
   and the bytes autograd keeps for backward in a forward pass (saved_tensors_hooks, each
   storage once; the parameters apart, as cnnctl counts them with the weights), against
   `cnnctl memory --device cuda`; the kept bytes also by layer kind and dtype (each storage
   under the layer that first keeps it), and per layer in memory_layers.json, to fit the
   model. Then --budget 12GiB: the largest batch cnnctl gives for ResNet-50 and
   EfficientNet-B0, run: whether it fits and how much of the budget it uses.
2. throughput: `cnnctl bench --amp --mode train --reference` through the API (bf16, batch 256,
   128 for EfficientNet-B0), eager then compiled, against the hand-written module
   (cnnctl.train.reference) or torchvision's where there is none: images/s, the ratio,
   TFLOP/s from the exact count, MFU and the roofline's estimate.
3. lenet: `cnnctl train lenet5` on the MNIST IDX files (--mnist, .gpu-data/mnist), 3 epochs,
   with `--cuda-graphs off` and `auto` (where train has the flag; else "flag missing" and one
   run without it): the first epoch and the best after it.
4. feed: benchmarks/gpu_loader.py's streaming measurement with fewer batches: photo-like
   JPEGs (benchmarks/photos.py), `cnnctl bench resnet50 --amp --data FOLDER --stream
   --augment rrc,flip` with `--decode gpu` and `--decode cpu`: the loader, the step, both.

Written to OUT: gpu_check.md (the tables), gpu_check.json (every figure), memory_layers.json
(per layer), gpu_check.log (the progress lines, with times).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

GIB = 2**30
BUDGET_BYTES = 12 * GIB  # the issue's --budget check
BUDGET_NETWORKS = ("resnet50", "efficientnet_b0")
ISSUE_NETWORKS = ("resnet50", "convnext_tiny", "efficientnet_b0", "mobilenet_v2", "vgg16", "inception_v3")
THROUGHPUT = (("resnet50", 256), ("convnext_tiny", 256), ("efficientnet_b0", 128), ("mobilenet_v2", 256),
              ("vgg16", 256))  # fmt: skip
PARTS = ("memory", "throughput", "lenet", "feed")
SHARES = {"memory": 0.33, "throughput": 0.33, "lenet": 0.17, "feed": 0.17}  # of --seconds, in order
GOAL_PEAK = 1.08  # measured <= predicted <= 1.08 x measured
GOAL_SAVED = 0.02
GOAL_USAGE = 0.92


class Run:
    """The run's settings, its clock and its log."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out: Path = args.out
        self.dry = args.dry_run
        self.device = "cpu" if args.dry_run else args.device
        self.log_path = self.out / "gpu_check.log"
        self.deadline = args.seconds
        self.start = time.perf_counter()  # the budget counts from here, not from the import (a test's)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self, until: float) -> float:
        """Seconds left before `until` (seconds from the start), never past the global budget."""
        return min(until, self.deadline) - self.elapsed()

    def say(self, message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{self.elapsed():6.1f}s] {message}"
        print(line, flush=True)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")


def guarded(run: Run, name: str, until: float, part) -> dict:
    """`part(run, until)`, its failure recorded instead of raised."""
    if run.left(until) <= 0:
        run.say(f"{name}: skipped, the time budget is spent")
        return {"skipped": "the time budget was spent before it began"}
    run.say(f"{name}: begins ({run.left(until):.0f} s for it)")
    try:
        result = part(run, until)
    except Exception as exc:  # noqa: BLE001 (recorded; the other parts go on)
        run.say(f"{name}: failed: {exc!r}")
        return {"failed": repr(exc), "traceback": traceback.format_exc()}
    run.say(f"{name}: done")
    return result


# -- 1. memory -------------------------------------------------------------------------------


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device) -> None:
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def training_setup(graph, model, batch: int, amp: bool, device):
    """A fused Adam, a channels_last batch and the step of `model` (on `device`), as `cnnctl
    train` runs them, eager (the memory model is of PyTorch's eager kernels)."""
    import torch
    import torch.nn.functional as F

    from cnnctl.train.fastpath import apply_backend_flags, decide

    apply_backend_flags(decide(device, amp, compile=False))  # cudnn.benchmark on a GPU, as train
    optimizer = torch.optim.Adam(model.parameters(), fused=device.type == "cuda")
    h, w, c = graph.input_shape
    x = torch.randn(batch, c, h, w, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, graph.output_shape[-1], (batch,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()

    return x, autocast, step


def on_device(graph, device):
    """The compiled module of `graph` on `device`, channels_last, in training mode."""
    import torch

    from cnnctl.backend import to_torch

    return to_torch(graph, logits=True).to(device, memory_format=torch.channels_last).train()


def measured(graph, model, batch: int, amp: bool, device, saved: bool = True) -> dict:
    """max_memory_allocated over the second training step of `model` (None on a CPU), then
    (with `saved`) what a training forward pass keeps for backward (`measured_saved`)."""
    import torch

    for p in model.parameters():
        p.grad = None
    _free(device)
    before = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    x, autocast, step = training_setup(graph, model, batch, amp, device)
    step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step()
    _sync(device)
    figures = {"peak": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
               "allocated_before": before}  # fmt: skip
    del step  # the optimizer's state with it
    for p in model.parameters():
        p.grad = None
    _free(device)
    if saved:
        figures.update(measured_saved(graph, model, x, autocast))
    del x
    _free(device)
    return figures


def measured_saved(graph, model, x, autocast) -> dict:
    """What one training-mode forward pass keeps for backward: the distinct storages packed
    through saved_tensors_hooks, the parameters' and buffers' apart (their bytes said as
    `weights_kept`); by layer (the layer that first keeps each storage), kind and dtype."""
    import torch

    weights = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: set[int] = set()
    weights_kept = 0
    current = [-1]  # the node whose module runs now
    by_node: dict[int, dict[str, int]] = {}

    def pack(t):
        nonlocal weights_kept
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in seen:
            return t
        seen.add(ptr)
        if ptr in weights:
            weights_kept += storage.nbytes()
        else:
            dtypes, dtype = by_node.setdefault(current[0], {}), str(t.dtype).removeprefix("torch.")
            dtypes[dtype] = dtypes.get(dtype, 0) + storage.nbytes()
        return t

    hooks = [
        module.register_forward_pre_hook(lambda m, a, i=i: current.__setitem__(0, i))
        for i, (module, _) in enumerate(model.steps)
    ]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
            out = model(x)
        assert out.requires_grad  # recorded: grad mode was on
    finally:
        for h in hooks:
            h.remove()
    del out
    kinds: dict[str, dict[str, int]] = {}
    layers = []
    for index, dtypes in sorted(by_node.items()):
        node = graph.nodes[index] if index >= 0 else None
        kind = node.kind if node is not None else "(outside any layer)"
        for dtype, nbytes in dtypes.items():
            kinds.setdefault(kind, {})[dtype] = kinds.get(kind, {}).get(dtype, 0) + nbytes
        layers.append({"path": node.path if node else None, "kind": kind, "bytes": dtypes})
    saved = sum(sum(d.values()) for d in by_node.values())
    return {"saved": saved, "weights_kept": weights_kept, "by_kind": kinds, "layers": layers}


def predicted(graph, batch: int, amp: bool) -> dict:
    from cnnctl.analysis.memory import training_memory

    m = training_memory(graph, batch, amp=amp, device="cuda")
    kinds: dict[str, int] = {}
    for node, layer in zip(graph.nodes, m.layers, strict=True):
        kinds[node.kind] = kinds.get(node.kind, 0) + layer.per_example * batch + layer.fixed
    parts = {"batch": m.batch_input, "in_flight": m.in_flight, "cublas_workspace": m.cublas_workspace,
             "allowance": m.allowance}  # fmt: skip
    return {"peak": m.peak, "saved": m.saved, **parts, "by_kind_producer": kinds}


def memory_part(run: Run, until: float) -> dict:
    import torch

    import cnnctl
    from cnnctl.catalog import bundled

    device = torch.device(run.device)
    batch = 2 if run.dry else 64
    names = run.args.networks.split(",") if run.args.networks else ["lenet5"] if run.dry else sorted(bundled())
    # the issue's six first, then --budget's check, then the others: what matters most is measured first
    first = [n for n in ISSUE_NETWORKS if n in names]
    rows, layers, budget_rows = [], {}, []
    for name in [*first, "--budget", *(n for n in names if n not in first)]:
        if name == "--budget":
            budget_rows = [budget_check(run, until, n, device) for n in ([] if run.dry else BUDGET_NETWORKS)]
            continue
        if run.left(until) <= 0:
            rows += [{"network": name, "amp": amp, "skipped": "time budget"} for amp in (False, True)]
            continue
        try:
            graph = cnnctl.load(name)
            model = on_device(graph, device) if len(graph.output_shape) == 1 else None
        except Exception as exc:  # noqa: BLE001 (a network that does not build is recorded)
            rows += [{"network": name, "amp": amp, "failed": f"does not build: {exc!r}"} for amp in (False, True)]
            continue
        for amp in (False, True):
            started = time.perf_counter()
            row: dict = {"network": name, "amp": amp, "batch": batch}
            if model is None:
                row["skipped"] = "not a classifier"
            elif run.left(until) <= 0:
                row["skipped"] = "time budget"
            else:
                try:
                    row["predicted"] = predicted(graph, batch, amp)
                    row["measured"] = measured(graph, model, batch, amp, device)
                    layers[f"{name}{' amp' if amp else ''}"] = row["measured"].pop("layers")
                    _ratios(row)
                except Exception as exc:  # noqa: BLE001 (recorded: the next one goes on)
                    row["failed"] = repr(exc)
                    _free(device)
            row["seconds"] = round(time.perf_counter() - started, 2)
            run.say(f"memory {name}{' amp' if amp else ''}: {_said(row)}")
            rows.append(row)
        del model
        _free(device)
    (run.out / "memory_layers.json").write_text(json.dumps(layers, indent=1))
    return {"device": str(device), "rows": rows, "budget": budget_rows}


def budget_check(run: Run, until: float, name: str, device) -> dict:
    """The largest batch `cnnctl memory --budget 12GiB` gives `name` (float32), run: whether
    it fits, and the share of the budget its measured peak uses."""
    import torch

    import cnnctl
    from cnnctl.analysis.memory import training_memory

    if run.left(until) <= 0:
        return {"network": name, "skipped": "time budget"}
    graph = cnnctl.load(name)
    best = training_memory(graph, 1, device="cuda").largest_batch(BUDGET_BYTES)
    row = {"network": name, "budget": BUDGET_BYTES, "batch": best,
           "predicted": training_memory(graph, best, device="cuda").peak}  # fmt: skip
    model = None
    try:
        model = on_device(graph, device)
        row["measured"] = measured(graph, model, best, False, device, saved=False)["peak"]
        row["fits"] = row["measured"] <= BUDGET_BYTES
        row["usage"] = row["measured"] / BUDGET_BYTES
        row["meets_goal"] = row["fits"] and row["usage"] >= GOAL_USAGE
    except torch.cuda.OutOfMemoryError as exc:
        row["fits"], row["failed"] = False, f"out of memory: {exc}"[:300]
    except Exception as exc:  # noqa: BLE001 (recorded)
        row["failed"] = repr(exc)
    del model
    _free(device)
    run.say(f"budget {name}: batch {best}, fits {row.get('fits')}, usage {row.get('usage')}")
    return row


def _ratios(row: dict) -> None:
    p, m = row["predicted"], row["measured"]
    row["saved_ratio"] = p["saved"] / m["saved"] if m["saved"] else None
    row["peak_ratio"] = p["peak"] / m["peak"] if m.get("peak") else None
    row["meets_goal"] = (
        row["peak_ratio"] is not None
        and 1.0 <= row["peak_ratio"] <= GOAL_PEAK
        and abs(row["saved_ratio"] - 1) <= GOAL_SAVED
    )


def _said(row: dict) -> str:
    if "failed" in row or "skipped" in row:
        return row.get("failed") or row["skipped"]
    peak = f"{row['peak_ratio']:.3f}" if row["peak_ratio"] else "-"
    return f"peak predicted/measured {peak}, saved {row['saved_ratio']:.4f} ({row['seconds']} s)"


# -- 2. throughput ---------------------------------------------------------------------------


def _reference_source(name: str) -> str | None:
    """Where the reference module of `name` comes from: the hand-written one, else torchvision's
    (registered for bench), else None."""
    from cnnctl.train.reference import REFERENCES

    if name in REFERENCES:
        return "hand-written (cnnctl.train.reference)"
    try:
        import torchvision.models as tv
    except Exception:  # noqa: BLE001 (no torchvision: no reference)
        return None
    if not hasattr(tv, name):
        return None
    REFERENCES[name] = lambda: getattr(tv, name)(weights=None)
    return f"torchvision {name}"


def _roofline(graph, batch: int, device) -> dict | None:
    """The roofline's estimate of a bf16 training step on `device`, where a profile knows it."""
    from cnnctl.analysis.roofline import roofline
    from cnnctl.errors import CnnctlError
    from cnnctl.train.bench import device_profile

    profile = device_profile(device)
    if profile is None:
        return None
    for dtype in ("bfloat16", "float32"):
        try:
            try:
                r = roofline(graph, profile, batch, dtype, training=True, amp=dtype != "float32")
            except TypeError:  # a roofline without amp (before issue 23's item 2)
                r = roofline(graph, profile, batch, dtype, training=True)
            return {"dtype": dtype, "seconds": r.seconds, "images_per_second": batch / r.seconds}
        except CnnctlError:
            continue
    return None


def throughput_part(run: Run, until: float) -> dict:
    import torch

    import cnnctl
    from cnnctl.train.bench import bench

    device = torch.device(run.device)
    jobs = [("lenet5", 8)] if run.dry else list(THROUGHPUT)
    steps, warmup, repeats = (1, 1, 1) if run.dry else (10, 3, 2)
    rows = []
    for compile in (False,) if run.dry else (False, True):
        for name, batch in jobs:
            # a compiled pair takes about a minute to compile: not begun without it
            need = 60 if compile else 10
            row: dict = {"network": name, "batch": batch, "compile": compile}
            if run.left(until) < need:
                row["skipped"] = "time budget"
                rows.append(row)
                continue
            started = time.perf_counter()
            try:
                graph = cnnctl.load(name)
                row["reference"] = _reference_source(name)
                result = bench(graph, device_name=str(device), batch_size=batch, steps=steps, warmup=warmup,
                               repeats=repeats, modes=("train",), amp=True, compile=compile,
                               reference=row["reference"] is not None)  # fmt: skip
                ours = next(t for t in result.timings if t.model == "cnnctl")
                theirs = next((t for t in result.timings if t.model == "reference"), None)
                ratio = result.reference_ratios().get("train")
                row.update(
                    images_per_second=ours.images_per_second,
                    reference_images_per_second=theirs.images_per_second if theirs else None,
                    ratio=ratio.value if ratio else None,
                    uncertain=ratio.uncertain if ratio else ours.noisy,
                    tflops=ours.tflops,
                    peak_tflops=result.peak_tflops,
                    mfu=ours.tflops / result.peak_tflops if result.peak_tflops else None,
                    roofline=_roofline(graph, batch, device),
                    bench_roofline_seconds=ours.roofline_seconds,
                    notes=result.notes,
                )
            except Exception as exc:  # noqa: BLE001 (recorded: the next network goes on)
                row["failed"] = repr(exc)
            row["seconds"] = round(time.perf_counter() - started, 1)
            _free(device)
            run.say(f"throughput {name} {'compiled' if compile else 'eager'}: "
                    f"{row.get('failed') or row.get('images_per_second')}")  # fmt: skip
            rows.append(row)
    return {"device": str(device), "steps": steps, "warmup": warmup, "repeats": repeats, "rows": rows}


# -- 3. LeNet-5 on MNIST ---------------------------------------------------------------------


def cnnctl_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cnnctl", *args]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def train_has(flag: str) -> bool:
    """Whether `cnnctl train` takes `flag` (issue 23's --cuda-graphs lands in parallel)."""
    done = subprocess.run(cnnctl_command("train", "--help"), capture_output=True, text=True, env=_env(), cwd=ROOT,
                          timeout=60)  # fmt: skip
    return flag in done.stdout


def epoch_seconds(run_dir: Path) -> list[float]:
    """The seconds of each finished epoch of a run, from its metrics.jsonl."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [float(json.loads(line)["seconds"]) for line in path.read_text().splitlines() if line.strip()]


def lenet_part(run: Run, until: float) -> dict:
    mnist = run.args.mnist
    if not mnist.is_dir():
        return {"skipped": f"no MNIST IDX files at {mnist}"}
    has = train_has("--cuda-graphs")
    modes = ("off", "auto") if has else (None,)
    epochs = 1 if run.dry else 3
    rows = []
    for mode in modes:
        left = run.left(until)
        row: dict = {"cuda_graphs": mode or "flag missing"}
        if left < 15:
            row["skipped"] = "time budget"
            rows.append(row)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "run"
            args = ["train", "lenet5", "--data", str(mnist), "--epochs", str(epochs), "--device", run.device,
                    "--out", str(run_dir)]  # fmt: skip
            if mode:
                args += ["--cuda-graphs", mode]
            started = time.perf_counter()
            try:
                done = subprocess.run(cnnctl_command(*args), capture_output=True, text=True, env=_env(), cwd=ROOT,
                                      timeout=left)  # fmt: skip
                row["exit"], text = done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired as exc:
                row["exit"], text = "timeout", f"{exc.stdout or ''}{exc.stderr or ''}"
            row["seconds"] = round(time.perf_counter() - started, 1)
            seconds = epoch_seconds(run_dir)
            row["epoch_seconds"] = seconds
            row["first_epoch"] = seconds[0] if seconds else None
            row["after_warmup"] = min(seconds[1:]) if len(seconds) > 1 else None
            row["lines"] = [line for line in str(text).splitlines() if line.startswith(("fast path", "done", "data"))]
            if row["exit"] != 0:
                row["output_tail"] = str(text)[-2000:]
        run.say(f"lenet cuda-graphs {row['cuda_graphs']}: {row.get('epoch_seconds')} (exit {row['exit']})")
        rows.append(row)
    return {"flag": has, "epochs": epochs, "rows": rows}


# -- 4. the streaming feed rate --------------------------------------------------------------


def _last_json(text: str) -> dict | None:
    """The JSON object a command printed (bench --format json), else None."""
    start = text.find("{")
    while start != -1:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    return None


def feed_part(run: Run, until: float) -> dict:
    import gpu_loader
    from photos import make_photos

    images = 40 if run.dry else run.args.images
    folder = Path(run.args.photos)
    started = time.perf_counter()
    make_photos(folder, images, size=(64, 48) if run.dry else (500, 375))
    result: dict = {"images": images, "photos_seconds": round(time.perf_counter() - started, 1), "rows": []}
    run.say(f"feed: {images:,} photos in {result['photos_seconds']} s")
    arch, batch = ("benchmarks/tiny.yaml", 8) if run.dry else ("resnet50", 256)
    common = ["cnnctl", "bench", arch, "--device", run.device, "--mode", "train", "--batch-size", str(batch),
              "--steps", "2" if run.dry else "8", "--repeats", "1", "--warmup", "2", "--data", str(folder),
              "--stream", "--augment", "rrc,flip", "--format", "json"]  # fmt: skip
    if not run.dry:
        common.append("--amp")
    gpu_loader.DEADLINE[0] = float("inf")  # the limit is this part's, given to each run
    with tempfile.TemporaryDirectory() as tmp:
        for decode in ("cpu",) if run.dry else ("gpu", "cpu"):
            left = int(run.left(until))
            row: dict = {"decode": decode}
            if left < 25:
                row["skipped"] = "time budget"
            else:
                name = f"bench-decode-{decode}"
                gpu_loader.run(Path(tmp), name, [*common, "--decode", decode], left)
                text = (Path(tmp) / f"{name}.txt").read_text() if (Path(tmp) / f"{name}.txt").is_file() else ""
                row["output"] = _last_json(text)
                if row["output"] is None:
                    row["output_tail"] = text[-2000:]
            run.say(f"feed decode {decode}: {'ok' if row.get('output') else row.get('skipped', 'no JSON')}")
            result["rows"].append(row)
    return result


# -- the tables ------------------------------------------------------------------------------


def _gb(n: float | None) -> str:
    return "-" if n is None else f"{n / GIB:.3f} GiB" if n >= GIB / 10 else f"{n / 2**20:.2f} MiB"


def _r(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(results: dict) -> str:
    info = results["info"]
    lines = [f"# GPU check, {info['date']}: {info['gpu'] or 'no GPU'}", "",
             f"torch {info['torch']}, torchvision {info.get('torchvision')}, Python {info['python']}, "
             f"{info['cores']} cores; {info['seconds']:.0f} s in all.", ""]  # fmt: skip
    memory = results.get("memory", {})
    if "rows" in memory:
        batch = next((row["batch"] for row in memory["rows"] if "batch" in row), "-")
        lines += [f"## Memory of a training step (batch {batch}, Adam, eager; --amp: bf16 autocast)", "",
                  "| network | amp | measured peak | predicted | predicted / measured | kept, measured | "
                  "predicted / measured | parameters kept | goal |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
        for row in memory["rows"]:
            amp = "amp" if row["amp"] else "fp32"
            if "measured" not in row or "predicted" not in row:
                lines.append(f"| {row['network']} | {amp} | {row.get('failed') or row.get('skipped')} | | | | | | |")
                continue
            m, p = row["measured"], row["predicted"]
            lines.append(
                f"| {row['network']} | {amp} | {_gb(m.get('peak'))} | {_gb(p['peak'])} | {_r(row['peak_ratio'])} | "
                f"{_gb(m['saved'])} | {_r(row['saved_ratio'], 4)} | {_gb(m['weights_kept'])} | "
                f"{'met' if row['meets_goal'] else 'not met'} |"
            )
        lines += [
            "",
            f"Goal: measured <= predicted <= {GOAL_PEAK} x measured, kept within {GOAL_SAVED:.0%}. Kept: the "
            "distinct storages autograd packs, the parameters' apart (their bytes in their own column; cnnctl "
            "counts them with the weights).",
            "",
        ]
        if memory.get("budget"):
            lines += ["| --budget 12GiB | batch | predicted | measured | fits | usage |",
                      "| --- | ---: | ---: | ---: | --- | ---: |"]  # fmt: skip
            for row in memory["budget"]:
                lines.append(f"| {row['network']} | {row.get('batch', '-')} | {_gb(row.get('predicted'))} | "
                             f"{_gb(row.get('measured'))} | {row.get('fits', row.get('skipped'))} | "
                             f"{_r(row.get('usage'))} |")  # fmt: skip
            lines.append("")
    else:
        lines += ["## Memory", "", f"{memory.get('failed') or memory.get('skipped') or 'not run'}", ""]
    throughput = results.get("throughput", {})
    lines += ["## Training throughput (bf16 autocast, channels_last)", ""]
    if "rows" in throughput:
        lines += ["| network | batch | mode | img/s | reference | reference img/s | ratio | TFLOP/s | MFU | "
                  "roofline img/s |",
                  "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
        for row in throughput["rows"]:
            mode = "compiled" if row["compile"] else "eager"
            if "images_per_second" not in row:
                lines.append(f"| {row['network']} | {row['batch']} | {mode} | "
                             f"{row.get('failed') or row.get('skipped')} | | | | | | |")  # fmt: skip
                continue
            roof = row["roofline"]["images_per_second"] if row.get("roofline") else None
            ref = row["reference_images_per_second"]
            lines.append(
                f"| {row['network']} | {row['batch']} | {mode} | {row['images_per_second']:,.0f} | "
                f"{row['reference'] or '-'} | {'-' if ref is None else f'{ref:,.0f}'} | {_r(row['ratio'])}"
                f"{' (noisy)' if row['uncertain'] else ''} | {row['tflops']:.1f} | {_r(row['mfu'])} | "
                f"{'-' if roof is None else f'{roof:,.0f}'} |"
            )
        lines.append("")
    else:
        lines += [f"{throughput.get('failed') or throughput.get('skipped') or 'not run'}", ""]
    lenet = results.get("lenet", {})
    lines += [f"## LeNet-5 on MNIST (cnnctl train, {lenet.get('epochs', 3)} epochs)", ""]
    if "rows" in lenet:
        lines += ["| --cuda-graphs | first epoch | best epoch after it | exit |", "| --- | ---: | ---: | --- |"]
        for row in lenet["rows"]:
            lines.append(f"| {row['cuda_graphs']} | {_r(row.get('first_epoch'), 2)} s | "
                         f"{_r(row.get('after_warmup'), 3)} s | {row.get('exit', row.get('skipped'))} |")  # fmt: skip
        lines.append("")
    else:
        lines += [f"{lenet.get('failed') or lenet.get('skipped') or 'not run'}", ""]
    feed = results.get("feed", {})
    lines += ["## Streaming feed (bench --data FOLDER --stream --augment rrc,flip)", ""]
    if "rows" in feed:
        lines += ["| --decode | loader img/s | step img/s | together img/s |", "| --- | ---: | ---: | ---: |"]
        for row in feed["rows"]:
            rates = ((row.get("output") or {}).get("data") or {}).get("images_per_second") or {}
            rates = [rates.get(k) for k in ("loader", "step", "together")]
            lines.append(f"| {row['decode']} | " + " | ".join("-" if r is None else f"{r:,.0f}" for r in rates) + " |")
        lines.append("")
    else:
        lines += [f"{feed.get('failed') or feed.get('skipped') or 'not run'}", ""]
    return "\n".join(lines)


def write(out: Path, results: dict, run: Run) -> None:
    results["info"]["seconds"] = run.elapsed()
    (out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "gpu_check.md").write_text(markdown(results))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=290.0, help="the whole run's time budget")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="tiny, on the CPU: the script's own check")
    parser.add_argument("--skip", default="", help="parts to leave out: " + ",".join(PARTS))
    parser.add_argument("--networks", default="", help="the memory part's networks (default: every bundled one)")
    parser.add_argument("--mnist", type=Path, default=ROOT / ".gpu-data" / "mnist")
    parser.add_argument("--images", type=int, default=2560, help="photos for the feed part")
    parser.add_argument("--photos", default=str(Path(tempfile.gettempdir()) / "gpu-check-photos"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    run = Run(args)
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    info = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "torch": torch.__version__,
            "cores": os.cpu_count(), "gpu": gpu, "dry_run": run.dry}  # fmt: skip
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except Exception as exc:  # noqa: BLE001 (recorded, not needed)
        info["torchvision"] = f"does not import: {exc}"
    run.say(f"gpu_check: {info}")
    results: dict = {"info": info}
    skip = set(filter(None, args.skip.split(",")))
    parts = {"memory": memory_part, "throughput": throughput_part, "lenet": lenet_part, "feed": feed_part}
    until = 0.0
    for name in PARTS:
        until += SHARES[name] * args.seconds
        if name in skip:
            results[name] = {"skipped": "--skip"}
            continue
        results[name] = guarded(run, name, until, parts[name])
        write(args.out, results, run)  # as it goes: a run stopped from outside keeps what was measured
    write(args.out, results, run)
    run.say(f"gpu_check: done in {run.elapsed():.0f} s; {args.out / 'gpu_check.md'}")
    return results


if __name__ == "__main__":
    main()
