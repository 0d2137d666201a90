"""Where a stream's JPEGs are decoded: by the loader processes on the CPU, or on the GPU.

A GPU takes images faster than a few CPU cores decode JPEGs (ResNet-50 on an H200 trains
~6,800 images a second; a core decodes and crops a few hundred 500x375 photos a second).
`--decode auto` compares the two before training starts, and says so in the `fast path:` line:

  - the loader's rate: PROBE training images decoded and cropped here as a loader process
    does, timed, times the loader processes (at most one per usable core);
  - the step's rate: the device's 16-bit peak (cnnctl.analysis.roofline.PROFILES) at
    bench.STEP_SHARE of it, over the analyzer's exact FLOPs of one image's training step
    (bench.expected_step_seconds); a GPU not in the table counts as fast (decoding there is
    the safer bet than a starved GPU).

The GPU decodes when the loader's rate is the lower. Only the photo recipes (`--augment rrc`
and its centre-crop evaluation) decode there; images adapted whole ("fit") stay on the CPU.
In a data-parallel run, rank 0 decides for all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..data.gpu_decode import unavailable
from ..data.loader import Images, Recipe
from ..data.samples import Samples
from ..errors import CnnctlError
from ..graph import Graph
from ..words import plural

if TYPE_CHECKING:
    from ..shapes import Shape

PROBE = 24  # training images timed to estimate the loader's rate


@dataclass(frozen=True)
class Decoding:
    gpu: bool  # the JPEGs decoded on the GPU
    said: str  # for the `fast path:` line ("" when there is nothing to say: a CPU run)


def choose(
    asked: str,
    device: torch.device,
    graph: Graph,
    train: Samples,
    recipe: Recipe,
    target: Shape,
    workers: int,
    seed: int,
) -> Decoding:
    """Where `train`'s images are decoded for `device`, as `asked` (--decode auto|cpu|gpu)."""
    if asked == "cpu":
        return Decoding(False, "JPEGs decoded by the loader processes (--decode cpu)")
    why_not = unavailable(device)
    if why_not is None and recipe.name == "fit":
        why_not = 'the images are adapted whole (GPU decoding serves the photo recipe, "--augment rrc")'
    if asked == "gpu":
        if why_not is not None:
            raise CnnctlError.at(f"--decode gpu: {why_not}", hint=_hint(device))
        return Decoding(True, "JPEGs decoded on the GPU (--decode gpu: nvJPEG through torchvision)")
    if device.type != "cuda":
        return Decoding(False, "")
    if why_not is not None:
        return Decoding(False, f"JPEGs decoded by the loader processes ({why_not})")
    decision = _shared(lambda: _compare(device, graph, train, recipe, target, workers, seed))
    return decision


def _compare(device, graph, train, recipe, target, workers, seed) -> Decoding:
    from ..analysis.training import training_cost
    from ..data.loader import cores
    from .bench import STEP_SHARE, expected_step_seconds

    per_image = probe_seconds(train, recipe, target, seed)
    processes = max(1, min(workers, cores()))
    loader = processes / per_image if per_image > 0 else float("inf")
    seconds, peak = expected_step_seconds(device, max(1, training_cost(graph).step_flops))
    step = 1 / seconds
    rates = (
        f"{plural(processes, 'loader process', 'loader processes')} decode ~{loader:,.0f} images/s, the step "
        f"takes ~{step:,.0f} ({STEP_SHARE:.0%} of {peak:g} TFLOP/s); --decode cpu|gpu to choose"
    )
    if loader < step:
        return Decoding(True, f"JPEGs decoded on the GPU (nvJPEG through torchvision): {rates}")
    return Decoding(False, f"JPEGs decoded by the loader processes: {rates}")


def probe_seconds(train: Samples, recipe: Recipe, target: Shape, seed: int) -> float:
    """Seconds a loader process takes per training image: PROBE of them, seeded, decoded and
    cropped here as a loader process does (unreadable ones count for what they cost)."""
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:PROBE]
    images = Images(train.take(pick), target, recipe, seed)
    started = time.perf_counter()
    images[(0, 0, torch.arange(len(pick)))]
    return (time.perf_counter() - started) / max(1, len(pick))


def _shared(decide) -> Decoding:
    """Rank 0's decision, for every rank of a data-parallel run (each timing its own probe
    could decide otherwise)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return decide()
    box = [decide() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _hint(device: torch.device) -> str:
    if device.type != "cuda":
        return "train on a GPU (--device cuda), or leave --decode out"
    return "pip install torchvision (a build with nvJPEG, as the CUDA wheels are), or --decode cpu"
