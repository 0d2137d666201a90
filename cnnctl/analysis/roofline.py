"""A roofline estimate of the time of a forward pass: a lower bound, layer by layer.

A layer cannot run faster than its arithmetic at the device's peak, nor than moving its data
at the device's memory bandwidth:

    time = max(FLOPs / peak, bytes / bandwidth)

with FLOPs as `cnnctl flops` counts them, and bytes the inputs and output of the batch plus
the weights (parameters and buffers), each read or written once, in the dtype; a layer that
moves no data (`LayerKind.moves_data`: a view such as flatten, or dropout at inference, the
identity) is charged no bytes. A layer is compute-bound when the first term is the larger:
its arithmetic intensity (FLOPs per byte) exceeds the ridge point, the device's peak /
bandwidth (an H100 SXM in TF32: 494.7e12 / 3.35e12 = 148 FLOP/B). Real layers also pay for launches, caches, and
kernels below peak, so a measured time is longer: `cnnctl bench` prints both.

float32 on a GPU has two peaks, and a layer computes at the one PyTorch's defaults give it
(`layer_peak`): a convolution (conv, deconv, channelconv: cuDNN's) at the TF32 tensor cores'
(torch.backends.cudnn.allow_tf32 is True by default), every other layer at the plain FP32
peak: an fc's matmul (torch.backends.cuda.matmul.allow_tf32 is False by default; cnnctl changes
neither) and element-wise work, which no tensor core runs. A GPU without TF32 (V100, T4), a
custom device and a measured CPU have one float32 peak.

A training step adds each layer's backward FLOPs (`cnnctl.analysis.training`) and twice its
forward bytes (the backward reads the output's gradient and what was kept, and writes the
input's gradient and the weights'): per layer max((forward + backward FLOPs) / peak, 3 x
forward bytes / bandwidth), the optimizer's update left out. A frozen layer (`--freeze`) runs
its forward alone: its forward FLOPs and bytes once.

Mixed precision (`amp`, as `train --amp` runs: autocast over float32 weights) computes at the
16-bit peak and moves each activation in the dtype CUDA autocast gives it, by the rule the
memory model follows (`autocast.py`): 2 bytes from a conv, deconv or fc, 4 from a layer or
group norm, a layer scale or softmax, the image 4; a layer reads its input as it is held
(autocast's copy, read again by the layer, is left out: a lower bound). The weights stay
float32: autocast's cast reads each once in 4 bytes (its 16-bit copy is left out too). A
pure 16-bit network (`dtype` bfloat16 without `amp`) keeps its weights in 2 bytes too.
"""

from __future__ import annotations

import re

from ..errors import CnnctlError
from ..graph import Graph
from ..layers import KINDS
from ..records import record
from ..shapes import DTYPE_BYTES, numel
from .autocast import dtypes as autocast_dtypes
from .training import training_cost


@record
class Profile:
    """A device's peaks: FLOP/s per dtype, and memory bandwidth in bytes/s."""

    name: str
    peak: dict  # dtype -> FLOP/s
    bandwidth: float
    source: str = ""
    names: tuple = ()  # how CUDA names the device (torch.cuda.get_device_name), as whole words
    key: str = ""  # how scripts and --profile name it (`h100`; `custom`, `cpu`): JSON's `profile`
    # the plain FP32 peak (CUDA cores, no tensor cores), where peak["float32"] is TF32's: what a float32 fc and
    # element-wise work run at (`layer_peak`); 0: one float32 peak (no TF32, a custom device, a measured CPU)
    fp32: float = 0.0


T = 1e12
# Dense (no sparsity) peaks from the vendors' data sheets (a figure given only with sparsity halved).
# float32 is the TF32 tensor-core peak where the GPU has one (what cuDNN's float32 convolutions run
# at by PyTorch's default), `fp32` the plain FP32 peak beside it (what a float32 fc runs at).
# bfloat16 and float16 are the tensor cores' with float32 accumulation (what PyTorch asks for;
# GeForce cards run it at half their float16-accumulate rate). A GPU is matched to a profile
# by its name (`profile_of_device`), the first that fits: the H100 PCIe and NVL before the SXM.
PROFILES: dict[str, Profile] = {
    "h200": Profile("H200 SXM", {"float32": 494.7 * T, "bfloat16": 989.4 * T, "float16": 989.4 * T}, 4.8e12,
                    "NVIDIA H200 data sheet: FP32 67 (66.9 in the Hopper white paper), TF32 989 and BF16 1,979 "
                    "TFLOPS with sparsity (half dense), 4.8 TB/s", ("H200",), fp32=66.9e12),
    "h100_pcie": Profile("H100 PCIe", {"float32": 378 * T, "bfloat16": 756.5 * T, "float16": 756.5 * T}, 2.0e12,
                         "NVIDIA H100 data sheet: FP32 51, TF32 756 and BF16 1,513 TFLOPS with sparsity (half "
                         "dense), 2 TB/s", ("H100 PCIe",), fp32=51e12),
    "h100_nvl": Profile("H100 NVL", {"float32": 417.5 * T, "bfloat16": 835.5 * T, "float16": 835.5 * T}, 3.9e12,
                        "NVIDIA H100 NVL data sheet: FP32 60, TF32 835 and BF16 1,671 TFLOPS with sparsity (half "
                        "dense), 3.9 TB/s", ("H100 NVL",), fp32=60e12),
    "h100": Profile("H100 SXM", {"float32": 494.7 * T, "bfloat16": 989.4 * T, "float16": 989.4 * T}, 3.35e12,
                    "NVIDIA H100 data sheet: FP32 67 (66.9 in the Hopper white paper), TF32 989 and BF16 1,979 "
                    "TFLOPS with sparsity (half dense), 3.35 TB/s", ("H100",), fp32=66.9e12),
    "a100": Profile("A100 SXM 80GB", {"float32": 156 * T, "bfloat16": 312 * T, "float16": 312 * T}, 2.039e12,
                    "NVIDIA A100 data sheet: FP32 19.5, TF32 156, BF16 312 TFLOPS dense, 2,039 GB/s", ("A100",),
                    fp32=19.5e12),
    "l40s": Profile("L40S", {"float32": 183 * T, "bfloat16": 362.05 * T, "float16": 362.05 * T}, 864e9,
                    "NVIDIA L40S data sheet: FP32 91.6, TF32 183 and BF16 362.05 TFLOPS dense (366 and 733 with "
                    "sparsity), 864 GB/s", ("L40S",), fp32=91.6e12),
    "l4": Profile("L4", {"float32": 60 * T, "bfloat16": 121 * T, "float16": 121 * T}, 300e9,
                  "NVIDIA L4 data sheet: FP32 30.3, TF32 120 and BF16 242 TFLOPS with sparsity (half dense), "
                  "300 GB/s", ("L4",), fp32=30.3e12),
    "a10": Profile("A10", {"float32": 62.5 * T, "bfloat16": 125 * T, "float16": 125 * T}, 600e9,
                   "NVIDIA A10 data sheet: FP32 31.2, TF32 62.5, BF16 125 TFLOPS dense, 600 GB/s", ("A10",),
                   fp32=31.2e12),
    "rtx4090": Profile("GeForce RTX 4090", {"float32": 82.6 * T, "bfloat16": 165.2 * T, "float16": 165.2 * T},
                       1008e9, "NVIDIA Ada Lovelace architecture white paper: FP32 (non-tensor) 82.6, TF32 82.6, "
                       "FP16/BF16 with FP32 accumulate 165.2 TFLOPS dense, 1,008 GB/s", ("RTX 4090",),
                       fp32=82.6e12),
    "rtx3090": Profile("GeForce RTX 3090", {"float32": 35.6 * T, "bfloat16": 71 * T, "float16": 71 * T}, 936e9,
                       "NVIDIA Ampere GA102 white paper: FP32 (non-tensor) 35.6, TF32 35.6, FP16/BF16 with FP32 "
                       "accumulate 71 TFLOPS dense, 936 GB/s", ("RTX 3090",), fp32=35.6e12),
    "v100": Profile("V100 SXM2", {"float32": 15.7 * T, "float16": 125 * T}, 900e9,
                    "NVIDIA V100 data sheet: FP32 15.7, tensor (FP16) 125 TFLOPS (no TF32, no BF16), 900 GB/s",
                    ("V100",), fp32=15.7e12),
    "t4": Profile("T4", {"float32": 8.1 * T, "float16": 65 * T}, 320e9,
                  "NVIDIA T4 data sheet: FP32 8.1, FP16 65 TFLOPS (no TF32, no BF16), 320 GB/s", ("T4",),
                  fp32=8.1e12),
}  # fmt: skip
PROFILES = {key: profile._replace(key=key) for key, profile in PROFILES.items()}

# The element types a roofline can be drawn for: those some device has a peak for (--peak-tflops takes one of them)
ROOFLINE_DTYPES = tuple(dict.fromkeys(dtype for p in PROFILES.values() for dtype in p.peak))


def profile_of_device(device_name: str) -> Profile | None:
    """The profile of the GPU CUDA calls `device_name` ("NVIDIA H100 80GB HBM3"): the first
    whose name stands in it as a whole word (so "A10" is not "A100", nor "L4" "L40S")."""
    return next(
        (p for p in PROFILES.values() if any(re.search(rf"\b{re.escape(n)}\b", device_name, re.I) for n in p.names)),
        None,
    )


# What to do where a profile lacks a peak, in words that name no command line: cnnctl.cli passes its flags'.
NO_MIXED = "compute in float32 (no mixed precision), or give the device's own 16-bit peak (a custom profile)"
OTHER_PEAK = ", or give the device's own peak (a custom profile)"
OTHER_DEVICE = "or give the device's own peak and bandwidth (a custom profile)"


def mixed_dtype(profile: Profile, hint: str = NO_MIXED) -> str:
    """The 16-bit type mixed precision computes in on `profile`: bfloat16, or float16 where the
    device has no bfloat16 peak (V100, T4: mixed precision training uses float16 there too);
    where it has neither, an error with `hint`."""
    for dtype in ("bfloat16", "float16"):
        if dtype in profile.peak:
            return dtype
    raise CnnctlError.at(f"the {profile.name} profile has no 16-bit peak for mixed precision", hint=hint)


# The figures a device of the user's own may have: a microcontroller's MFLOP/s to beyond any
# accelerator's peak, 1 MB/s to 10 PB/s of bandwidth. Outside them a roofline is no estimate:
# 1e-300 TFLOP/s made a time of a 300-digit number of seconds, a bandwidth shown as `0 GB/s`.
PEAK_TFLOPS = (1e-6, 1e6)
BANDWIDTH_GBS = (1e-3, 1e7)


def check_device_figures(
    peak_tflops: float | None, bandwidth_gbs: float | None = None,
    names: tuple[str, str] = ("peak_tflops", "bandwidth_gbs"),
) -> None:  # fmt: skip
    """Refuse, in one message, each figure given (not None) outside its range (PEAK_TFLOPS,
    BANDWIDTH_GBS; nan and inf too), told by its `names` (the caller's words: cnnctl.cli's flags)."""
    wrong = []
    for name, value, (low, high), unit in ((names[0], peak_tflops, PEAK_TFLOPS, "TFLOP/s"),
                                           (names[1], bandwidth_gbs, BANDWIDTH_GBS, "GB/s")):  # fmt: skip
        if value is not None and not low <= value <= high:  # nan fails both comparisons
            wrong.append((f"{name} {value:g}", f"{name}: {low:g} to {high:g} {unit}"))
    if wrong:
        raise CnnctlError.at(
            " and ".join(given for given, _ in wrong) + ": not a device's figure",
            hint="give the device's own, from its data sheet (dense, no sparsity); "
            + "; ".join(allowed for _, allowed in wrong),
        )


def custom_profile(
    peak_tflops: float, bandwidth_gbs: float, dtype: str, names: tuple[str, str] = ("peak_tflops", "bandwidth_gbs")
) -> Profile:
    """A profile from the user's figures (TFLOP/s for `dtype`, GB/s), each within its range
    (`check_device_figures`: those outside told together, by their `names`)."""
    check_device_figures(peak_tflops, bandwidth_gbs, names)
    return Profile("custom", {dtype: peak_tflops * T}, bandwidth_gbs * 1e9, key="custom")


def profile_named(name: str, otherwise: str = OTHER_DEVICE) -> Profile:
    """The device profile `name` (any case), or an error offering the profiles, then `otherwise`."""
    from ..errors import did_you_mean

    profile = PROFILES.get(name.lower())
    if profile is None:
        raise CnnctlError.at(
            f"no device profile `{name}`",
            hint=did_you_mean(name.lower(), PROFILES) or "one of " + ", ".join(PROFILES) + ", " + otherwise,
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
    def intensity(self) -> float | None:
        """FLOPs per byte moved (None: a layer that moves nothing)."""
        return self.flops / self.bytes if self.bytes else None


@record
class Roofline:
    profile: Profile
    dtype: str  # what the arithmetic runs in (and the activations are stored in)
    batch: int
    layers: tuple[LayerTime, ...]
    amp: bool = False  # mixed precision: float32 weights (see the module's docstring)

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
    def peak(self) -> float:
        """The peak convolutions compute at (FLOP/s): in float32 TF32's where the GPU has it."""
        return self.profile.peak[self.dtype]

    @property
    def fc_peak(self) -> float:
        """The peak an fc and element-wise work compute at: in float32 the plain FP32 peak (`layer_peak`)."""
        return layer_peak(self.profile, self.dtype, "fc")

    @property
    def ridge(self) -> float:
        """The ridge point of convolutions, FLOPs per byte: a conv of higher intensity is compute-bound."""
        return self.peak / self.profile.bandwidth

    @property
    def fc_ridge(self) -> float:
        """The ridge point of the other layers (an fc): the same as `ridge` where there is one peak."""
        return self.fc_peak / self.profile.bandwidth

    @property
    def compute_bound_seconds(self) -> float:
        return sum(t.seconds for t in self.layers if t.compute_bound)


def peak_of(profile: Profile, dtype: str, otherwise: str = OTHER_PEAK) -> float:
    """The peak of `profile` in `dtype` (FLOP/s), or an error naming the types it has, then
    `otherwise` (the caller's words: cnnctl.cli's name its flags)."""
    peak = profile.peak.get(dtype)
    if peak is None:
        types = ", ".join(profile.peak)
        raise CnnctlError.at(f"the {profile.name} profile has no {dtype} peak", hint=f"one of {types}{otherwise}")
    return peak


# The layers that run as cuDNN convolutions (backend: nn.Conv2d, nn.ConvTranspose2d, F.conv2d):
# in float32 PyTorch lets them use TF32 (torch.backends.cudnn.allow_tf32 is True by default)
CUDNN_CONVS = frozenset({"conv", "deconv", "channelconv"})


def layer_peak(profile: Profile, dtype: str, kind: str) -> float:
    """The peak a layer of `kind` computes at in `dtype` (FLOP/s): a convolution at the profile's
    peak of `dtype` (TF32's in float32 where the GPU has it); in float32 any other layer at the
    plain FP32 peak (`Profile.fp32`): an fc's matmul (PyTorch leaves
    torch.backends.cuda.matmul.allow_tf32 False, and cnnctl does not change it) and element-wise
    work, which no tensor core runs. A profile with one float32 peak gives it to every layer."""
    peak = peak_of(profile, dtype)
    if dtype == "float32" and profile.fp32 and kind not in CUDNN_CONVS:
        return profile.fp32
    return peak


def fp32_peak(profile: Profile, dtype: str) -> float | None:
    """The plain FP32 peak a float32 fc runs at, beside the convs' (`layer_peak`); None in another dtype."""
    return layer_peak(profile, dtype, "fc") if dtype == "float32" else None


def roofline(
    graph: Graph,
    profile: Profile,
    batch: int = 1,
    dtype: str = "float32",
    training: bool = False,
    amp: bool = False,
    frozen: int = -1,
) -> Roofline:
    """The roofline time of every layer of one forward pass of `batch` examples (or, with
    `training`, of a training step without the optimizer's update, the layers up to and
    including index `frozen` frozen as `training_cost` freezes them); `amp`: mixed precision,
    computing in `dtype` (16-bit) over float32 weights. A forward pass is inference's: the
    heads only training runs (`outputs:`) are in the training step alone, as in the counts."""
    if dtype not in DTYPE_BYTES:
        raise CnnctlError.at(f"unknown dtype `{dtype}`", hint="one of " + ", ".join(DTYPE_BYTES))
    peak_of(profile, dtype)  # a dtype the profile has no peak for, told
    if amp and DTYPE_BYTES[dtype] != 2:
        raise CnnctlError.at(f"mixed precision computes in 16 bits, not {dtype}", hint="bfloat16 or float16")
    size = DTYPE_BYTES[dtype]
    weight_size = DTYPE_BYTES["float32"] if amp else size
    # each tensor in the dtype CUDA autocast gives it (as the memory model): 16 bits from a conv,
    # float32 from a layer norm or a layer scale, a float32 input read as it is held
    held = autocast_dtypes(graph, weight_size, amp, "cuda")
    # a training step's layers as train runs them: a softmax left to the loss not (forward or backward)
    step = training_cost(graph, frozen).layers if training else None
    layers = []
    for n in graph.nodes if training else graph.inference_nodes():
        moves = KINDS[n.kind].moves_data(n.args, training)
        tensors = zip([n.shape, *graph.input_shapes(n)], [n.index, *n.inputs], strict=True)
        activations = sum(numel(s) * held[i] for s, i in tensors) * batch if moves else 0
        flops, moved = n.flops * batch, activations + (n.params + n.buffers) * weight_size
        if step is not None:
            c = step[n.index]
            # a frozen layer has no backward: autograd records none of it
            flops, moved = (c.forward_flops + c.backward_flops) * batch, moved if c.frozen else 3 * moved
        compute, memory = flops / layer_peak(profile, dtype, n.kind), moved / profile.bandwidth
        layers.append(LayerTime(n.path, flops, moved, max(compute, memory), compute > memory))
    return Roofline(profile, dtype, batch, tuple(layers), amp)
