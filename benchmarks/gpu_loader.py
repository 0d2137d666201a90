"""ResNet-50 fed from a JPEG folder on a GPU, against its synthetic-data rate (issue 20).

    python benchmarks/gpu_loader.py OUT [--images 12800] [--arch resnet50] [--batch 256] [--device cuda]

One script for the whole GPU measurement, each part with its own time limit, its figures
written to OUT as it goes (a part that fails leaves the others' figures):

1. `--images` photo-like JPEGs of 500x375 (ImageNet's average size; benchmarks/photos.py),
   made with every core.
2. The decoders alone, on 256 of them: one loader process's rate on the CPU (random resized
   crop to 224 with a flip, as `--augment rrc,flip` streams) and nvJPEG's
   (`torchvision.io.decode_jpeg` on the GPU, the batch in one call) with the crops made
   there (cnnctl.data.gpu_decode); what `--decode auto` chooses and why.
3. `cnnctl bench ARCH --amp --compile --mode train --data FOLDER --augment rrc,flip` with
   `--decode cpu` (the default 8 loader processes and one per core) and `--decode gpu`: the
   synthetic-data step, the loader alone and both together, each as JSON.
4. `cnnctl train ARCH --data FOLDER --epochs 1 --decode auto`: the whole path, its lines.
5. The GPU tests (tests/test_gpu_decode.py).

The goal: fed from the folder, at least 80% of the synthetic-data rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


START = time.perf_counter()
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
DEADLINE = [540.0]  # seconds from the start: a part that would end later gets the time left


def run(out: Path, name: str, args: list[str], limit: int) -> None:
    """`python -m cnnctl ARGS` (or any command), its output kept in OUT/NAME.txt."""
    started = time.perf_counter()
    limit = int(min(limit, DEADLINE[0] - (started - START) - 5))
    if limit < 20:
        print(f"{name}: left out, {DEADLINE[0]:g} s nearly spent", flush=True)
        return
    command = args if args[0] != "cnnctl" else [sys.executable, "-m", "cnnctl", *args[1:]]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, cwd=ROOT,
                              env=ENV)  # fmt: skip
        text, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        text, code = f"{exc.stdout or ''}{exc.stderr or ''}\n(stopped after {limit} s)", "timeout"
    seconds = time.perf_counter() - started
    (out / f"{name}.txt").write_text(f"$ {' '.join(args)}\n(exit {code}, {seconds:.1f} s)\n{text}")
    print(f"{name}: exit {code} in {seconds:.1f} s", flush=True)


def decoders(out: Path, folder: Path, arch: str, device_name: str) -> None:
    import torch

    from cnnctl.api import load
    from cnnctl.data.gpu_decode import GpuDecoder, each_resized, unavailable
    from cnnctl.data.loader import Images, Recipe
    from cnnctl.data.samples import Samples
    from cnnctl.train.decoding import choose

    paths = sorted(str(p) for p in folder.rglob("*.jpg"))[:256]
    samples = Samples.files(paths, [0] * len(paths))
    target, recipe = (224, 224, 3), Recipe("rrc", flip=True)
    request = (0, 0, torch.arange(len(paths)))
    figures: dict = {"images": len(paths)}
    images = Images(samples, target, recipe, 0)
    images[request]  # the file cache warm
    started = time.perf_counter()
    images[request]
    figures["cpu_one_process_images_per_s"] = len(paths) / (time.perf_counter() - started)
    device = torch.device(device_name)
    figures["gpu_unavailable"] = unavailable(device)
    if figures["gpu_unavailable"] is None:
        part = Images(samples, target, recipe, 0, encoded=True)[request]
        decoder = GpuDecoder(target, device)
        ends = part["ends"].tolist()
        data = [part["jpeg"][s:e] for s, e in zip([0, *ends[:-1]], ends, strict=True)]
        for _ in range(2):
            decoder(part)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(5):
            decoded = decoder.decoder(data)
        torch.cuda.synchronize()
        figures["nvjpeg_decode_images_per_s"] = 5 * len(paths) / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(5):
            decoder(part)
        torch.cuda.synchronize()
        figures["gpu_decode_and_crop_images_per_s"] = 5 * len(paths) / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(5):
            Images(samples, target, recipe, 0, encoded=True)[request]
        figures["encoded_batch_one_process_images_per_s"] = 5 * len(paths) / (time.perf_counter() - started)
        del decoded
        for name, resizer in (("roi_align", None), ("one_at_a_time", each_resized)):
            one = GpuDecoder(target, device, resizer=resizer)
            one(part)
            torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(5):
                one(part)
            torch.cuda.synchronize()
            figures[f"gpu_decode_and_crop_{name}_images_per_s"] = 5 * len(paths) / (time.perf_counter() - started)
        (out / "decoders.json").write_text(json.dumps(figures, indent=2))  # kept should the rest fail
        # The same images as the CPU path makes them: the mean difference of their pixels, in levels.
        for recipe_name in ("rrc", "centre"):
            one_recipe = Recipe(recipe_name, flip=recipe_name == "rrc")
            on_cpu, _, _ = Images(samples, target, one_recipe, 0)[request]
            on_gpu, _, _ = decoder(Images(samples, target, one_recipe, 0, encoded=True)[request])
            diff = (on_gpu.cpu().float() - on_cpu.float()).abs()
            figures[f"levels_apart_{recipe_name}"] = {
                "mean": diff.mean().item(),
                "over_8": (diff > 8).float().mean().item(),
            }
    graph = load(arch)
    decision = choose("auto", device, graph, samples, recipe, target, min(8, os.cpu_count() or 1), 0)
    figures["auto"] = {"gpu": decision.gpu, "said": decision.said}
    (out / "decoders.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=12_800)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/gpu-photos"))
    parser.add_argument("--skip", default="", help="parts to leave out, e.g. train,tests")
    parser.add_argument("--deadline", type=float, default=540.0, help="seconds the whole may take")
    args = parser.parse_args()
    DEADLINE[0] = args.deadline
    out, skip = args.out, set(args.skip.split(","))
    out.mkdir(parents=True, exist_ok=True)
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    info = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "torch": torch.__version__,
            "cores": os.cpu_count(), "gpu": gpu}  # fmt: skip
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except Exception as exc:  # noqa: BLE001 (recorded, not needed)
        info["torchvision"] = f"does not import: {exc}"
    (out / "info.json").write_text(json.dumps(info, indent=2))
    print(info, flush=True)

    from photos import make_photos

    started = time.perf_counter()
    make_photos(args.folder, args.images)
    print(f"{args.images:,} photos in {time.perf_counter() - started:.1f} s", flush=True)
    if "decoders" not in skip:
        try:
            decoders(out, args.folder, args.arch, args.device)
        except Exception as exc:  # noqa: BLE001 (the other parts still run)
            (out / "decoders.txt").write_text(f"failed: {exc!r}")
            print(f"decoders failed: {exc!r}", flush=True)
    common = ["cnnctl", "bench", args.arch, "--device", args.device, "--mode", "train", "--batch-size",
              str(args.batch), "--steps", str(args.steps), "--repeats", "3", "--warmup", "5",
              "--data", str(args.folder), "--stream", "--augment", "rrc,flip", "--format", "json"]  # fmt: skip
    if args.device.startswith("cuda"):
        common += ["--amp", "--compile"]
    cores = str(min(os.cpu_count() or 1, 32))
    if "tests" not in skip:
        tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_gpu_decode.py"]
        run(out, "tests", tests, 90)
    parts = [("bench-decode-gpu", ["--decode", "gpu"], 240), ("bench-decode-cpu", ["--decode", "cpu"], 120),
             ("bench-decode-cpu-all-cores", ["--decode", "cpu", "--workers", cores], 100)]  # fmt: skip
    for name, extra, limit in parts:
        if name not in skip:
            run(out, name, [*common, *extra], limit)
    for decode in ("gpu", "cpu"):
        if f"train-{decode}" not in skip:
            run_dir = Path(f"/tmp/gpu-loader-run-{decode}")
            subprocess.run(["rm", "-rf", str(run_dir)], check=False)
            train = ["cnnctl", "train", args.arch, "--data", str(args.folder), "--device", args.device, "--epochs",
                     "1", "--batch-size", str(args.batch), "--stream", "--augment", "rrc,flip", "--decode", decode,
                     "--workers", cores, "--out", str(run_dir)]  # fmt: skip
            run(out, f"train-{decode}", train, 120)


if __name__ == "__main__":
    main()
