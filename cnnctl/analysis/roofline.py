"""A roofline estimate of the time of a forward pass: a lower bound, layer by layer.

A layer cannot run faster than its arithmetic at the device's peak, nor than moving its data
at the device's memory bandwidth:

    time = max(FLOPs / peak, bytes / bandwidth)

with FLOPs as `cnnctl flops` counts them, and bytes the inputs and output of the batch plus
the weights (parameters and buffers), each read or written once, in the dtype. A layer is
compute-bound when the first term is the larger (its arithmetic intensity, FLOPs per byte,
exceeds the device's peak / bandwidth). Real layers also pay for launches, caches, and
kernels below peak, so a measured time is longer: `cnnctl bench` prints both.

A training step adds each layer's backward FLOPs (`cnnctl.analysis.training`) and twice its
forward bytes (the backward reads the output's gradient and what was kept, and writes the
input's gradient and the weights').
"""

from __future__ import annotations

from ..errors import CnnctlError
from ..graph import Graph
from ..records import record
from ..shapes import DTYPE_BYTES, numel
from .training import training_cost


@record
class Profile:
    """A device's peaks: FLOP/s per dtype, and memory bandwidth in bytes/s."""

    name: str
    peak: dict  # dtype -> FLOP/s
    bandwidth: float
    source: str = ""


T = 1e12
# Dense (no sparsity) peaks from the vendors' data sheets. float32 is the TF32 tensor-core
# peak where the GPU has one: PyTorch lets cuDNN use TF32 for float32 convolutions by default.
PROFILES: dict[str, Profile] = {
    "h200": Profile("H200 SXM", {"float32": 494.7 * T, "bfloat16": 989.4 * T, "float16": 989.4 * T}, 4.8e12,
                    "NVIDIA H200 data sheet: TF32 989 and BF16 1,979 TFLOPS with sparsity (half dense), 4.8 TB/s"),
    "h100": Profile("H100 SXM", {"float32": 494.7 * T, "bfloat16": 989.4 * T, "float16": 989.4 * T}, 3.35e12,
                    "NVIDIA H100 data sheet: TF32 989 and BF16 1,979 TFLOPS with sparsity (half dense), 3.35 TB/s"),
    "a100": Profile("A100 SXM 80GB", {"float32": 156 * T, "bfloat16": 312 * T, "float16": 312 * T}, 2.039e12,
                    "NVIDIA A100 data sheet: TF32 156, BF16 312 TFLOPS dense, 2,039 GB/s"),
    "l4": Profile("L4", {"float32": 60 * T, "bfloat16": 121 * T, "float16": 121 * T}, 300e9,
                  "NVIDIA L4 data sheet: TF32 120 and BF16 242 TFLOPS with sparsity (half dense), 300 GB/s"),
    "t4": Profile("T4", {"float32": 8.1 * T, "float16": 65 * T}, 320e9,
                  "NVIDIA T4 data sheet: FP32 8.1, FP16 65 TFLOPS (no TF32, no BF16), 320 GB/s"),
}  # fmt: skip


def custom_profile(peak_tflops: float, bandwidth_gbs: float, dtype: str) -> Profile:
    """A profile from the user's figures (TFLOP/s for `dtype`, GB/s)."""
    for name, value in (("--peak-tflops", peak_tflops), ("--bandwidth", bandwidth_gbs)):
        if not (value > 0 and value != float("inf")):
            raise CnnctlError.at(f"{name} {value}: give the device's figure, a number above 0")
    return Profile("custom", {dtype: peak_tflops * T}, bandwidth_gbs * 1e9)


def profile_named(name: str) -> Profile:
    from ..errors import did_you_mean

    profile = PROFILES.get(name.lower())
    if profile is None:
        raise CnnctlError.at(
            f"no device profile `{name}`",
            hint=did_you_mean(name.lower(), PROFILES)
            or "one of " + ", ".join(PROFILES) + ", or give --peak-tflops and --bandwidth",
        )
    return profile


@record
class LayerTime:
    path: str
    flops: int
    bytes: int
    seconds: float
    compute_bound: bool

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes if self.bytes else 0.0


@record
class Roofline:
    profile: Profile
    dtype: str
    batch: int
    layers: tuple[LayerTime, ...]

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.layers)

    @property
    def flops(self) -> int:
        return sum(t.flops for t in self.layers)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.layers)

    @property
    def compute_bound_seconds(self) -> float:
        return sum(t.seconds for t in self.layers if t.compute_bound)


def roofline(
    graph: Graph, profile: Profile, batch: int = 1, dtype: str = "float32", training: bool = False
) -> Roofline:
    """The roofline time of every layer of one forward pass of `batch` examples (or, with
    `training`, of a training step without the optimizer's update)."""
    if dtype not in DTYPE_BYTES:
        raise CnnctlError.at(f"unknown dtype `{dtype}`", hint="one of " + ", ".join(DTYPE_BYTES))
    peak = profile.peak.get(dtype)
    if peak is None:
        raise CnnctlError.at(
            f"the {profile.name} profile has no {dtype} peak",
            hint="one of " + ", ".join(profile.peak) + " (--dtype), or give --peak-tflops",
        )
    size = DTYPE_BYTES[dtype]
    backward = [c.backward_flops for c in training_cost(graph).layers] if training else None
    layers = []
    for n in graph.nodes:
        values = (numel(n.shape) + sum(numel(s) for s in graph.input_shapes(n))) * batch + n.params + n.buffers
        flops, moved = n.flops * batch, values * size
        if backward is not None:
            flops, moved = flops + backward[n.index] * batch, 3 * moved
        compute, memory = flops / peak, moved / profile.bandwidth
        layers.append(LayerTime(n.path, flops, moved, max(compute, memory), compute > memory))
    return Roofline(profile, dtype, batch, tuple(layers))
