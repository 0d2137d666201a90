"""Memory of a training step: weights, gradients, optimizer state, what the forward pass
keeps for the backward pass, and the gradients in flight during it.

Each layer kind says which tensors PyTorch keeps for its backward pass (`LayerKind.saved`):
an input, its own output, or tensors of its own (max pooling's int64 indices, batch norm's
statistics, dropout's mask). A tensor kept by several layers (a conv's output that the next
layer's relu and a later add both keep) is counted once, as autograd holds one storage. A layer
that nothing trainable feeds keeps nothing: autograd does not record it. A softmax on an output
the loss reads, the main output's or a head's, keeps nothing either: training leaves it to the
loss (`Graph.softmax_left_to_loss`).

Two devices, two models (`--device`):

- ``cpu``: what is kept as on a GPU (below), each tensor in the dtype CPU autocast gives it
  (`autocast.py`: layer and group norm, softmax and grn in their input's dtype), but dropout's
  mask in the activations' dtype (its unfused form keeps the scaled noise) and a normalisation's
  statistics in the weights' dtype (`--dtype bf16`: bfloat16; under --amp, float32 weights:
  float32). The peak: weights, gradients, optimizer state, all that is kept, the most the
  backward pass holds at once beyond it (followed as on a GPU, below: what is kept freed as
  the last layer keeping it is done, so that LeNet-5's peak, conv1's tanh backward, no longer
  counts what the later layers kept), with the copies some CPU backward kernels make beside
  the gradients they hand on, alive while they run (`_backward_copies`: batch norm's second
  input gradient; a windowed pool's contiguous copies of its input's gradient and a max's
  indices where its output's gradient comes back contiguous, its output flattened by copy)
  and the loss's log-softmax of each output it reads (which the loss keeps for its backward),
  and the largest copy of a weight alive at once (`_weight_copy`: the fused optimizer step
  and the backward pass copy each weight channels_last lays out apart from a contiguous tensor,
  the forward pass each conv's weight into oneDNN's layout, its output channels padded up to 16,
  one at a time), and in float32 the largest scratch of a grouped conv's
  weight gradient (`_conv_scratch`): PyTorch's CPU backward runs a channels_last float32 conv
  on oneDNN (mkldnn), and where oneDNN's depthwise kernel does not take a grouped conv's weight
  gradient, its generic jit kernel (`jit:avx512_core`) writes it in the blocked layout
  `aBCde16c16b`, each group's output and input channels padded up to 16, then reorders it into
  the gradient: a buffer of ``groups * ceil16(n/groups) * ceil16(C_in/groups) * f_h * f_w * 4``
  bytes, whatever the batch and the map (256 times a depthwise weight). The depthwise kernel
  (`jit_dw`) takes only a depthwise 3x3 window of multiplier 1, undilated, its top padding 0, or
  1 on a map of at least 2 + stride rows (a 2x2 map at stride 1 is not; measured with
  ONEDNN_VERBOSE and the profiler, torch 2.13, oneDNN 3.12, AVX-512):
  ``peak = weights + gradients + state + kept + in flight + weight copy + conv scratch``, an
  upper estimate but for what is not modelled: oneDNN's scratchpad of a conv's forward pass
  (brgemm's per-thread buffers, sized by the thread count the step runs with: 4,096 bytes and
  4,120 a thread for more than one input channel, 102,448 for LeNet-5's conv1 on 2 threads),
  which the peak of a tiny network at a batch of 1 or 2 holds (LeNet-5 at batch 2: 0.983),
  and --amp's or 16-bit weights' conv scratch (bfloat16 runs other oneDNN kernels; README,
  Memory of a training step, gives the measured ratios).
- ``cuda`` (the default), PyTorch's CUDA kernels:
  * dtypes under --amp (`autocast.py`, the rule the roofline's bytes follow too): CUDA
    autocast runs conv, deconv and fc in 16 bits (each keeps a 16-bit copy of a float32
    input, one per layer that reads it, and of its weights: autocast's cast cache; the biases'
    copies are freed when autocast exits, before the backward pass), layer and group norm in
    float32 (aten's autocast fp32 list: each keeps a float32 copy of a 16-bit input, and its
    output is float32) and softmax's output in float32; every other layer runs in the
    widest dtype of its inputs (batch norm in its input's: cuDNN takes 16-bit inputs with
    float32 weights), a layer scale in float32 (its factors are float32 parameters); a
    normalisation's statistics are float32 whatever the activations (`norm.STATS`) and
    dropout's mask one byte (the fused kernel's bool).
  * the peak, by following the backward pass layer by layer from the last: what is kept is
    freed as the layers that keep it are done, while the gradient of each layer's output
    lives from the layer that computes it (the first of its readers in backward order) to
    the layer itself; the loss's gradient of each output it reads, the main output's and
    every head's, lives from the start (the loss's backward runs before any layer's); an
    inline activation's gradient is a tensor of the output's size of its own, add, concat
    and flatten (and a softmax left to the loss) hand their inputs the output's gradient (or
    a slice of it) without a copy, and a gradient accumulated into one already there is freed at once. The
    largest of (kept still alive + gradients alive) over the pass, less everything kept, is
    the "in flight" term, per example. The weights' gradients are counted whole from the
    start (they are made as the pass goes, most by the last layers, which come first), and
    cuBLAS's workspace (32 MiB on Hopper, from the caching allocator, taken at the first
    matrix product: a network with an fc) is added once. The batch itself (the input the
    step is given) is alive all along: where a layer keeps it as given (the first conv in
    float32), autograd holds a reference to that same storage, so it is counted once, as
    kept; otherwise (a 16-bit copy under --amp, or a first layer that keeps nothing) it is
    added as "the batch".
  * not modelled one by one: cuDNN's convolution workspaces (taken and given back inside a
    kernel call, sized by the algorithm cuDNN picks), the allocator's rounding of each tensor
    to 512 bytes, and a cached block of up to 1 MiB more than asked for, reused whole (the
    allocator splits a large block only when more than 1 MiB would be left): an allowance
    of `ALLOWANCE_PERCENT` of what is kept (all of it, at the batch), rounded up to a whole
    byte, from the peaks measured on an H200.

Both devices: `cnnctl train` lays out its maps channels_last (H, W, C in memory;
`channels_last` says which maps are), so flattening a map of more than one position and one
channel is a copy (`_flattens_by_copy`): an fc on such a map keeps that copy, not the map (a
flatten layer's output is its own storage).

The peak is the sum of the terms `TrainingMemory` names: weights, gradients, optimizer
state, kept, the batch, gradients in flight, cuBLAS's workspace, the allowance, the weight copy (CPU). All but the
allowance are fixed + per example x batch; the allowance is a percentage of what is kept,
rounded up, so the largest batch within a budget is still one division
(`TrainingMemory.largest_batch`).

What is kept is listed by the layer whose tensor it is: its output (and autocast's copies of
it), or a tensor of its own (statistics, indices, a mask, its weights' 16-bit copy); the
input image (or its copy) apart. These rows add up to what is kept.
"""

from __future__ import annotations

import itertools

from ..errors import CnnctlError
from ..graph import INPUT, Graph, Node
from ..layers import KINDS
from ..layers.base import OUTPUT, OWN
from ..layers.conv import resolve_padding
from ..layers.dense import MASK
from ..layers.norm import STATS
from ..records import record
from ..shapes import DTYPE_BYTES, TRAINING_DTYPES, numel
from .autocast import AMP_BYTES, FLOAT32_BYTES, input_bytes, runs_in
from .autocast import dtypes as autocast_dtypes
from .summary import last_in
from .training import OPTIMIZERS, needs_grad

DEVICES = ("cuda", "cpu")
CUBLAS_WORKSPACE = 32 * 2**20  # PyTorch's cuBLAS workspace on Hopper (":4096:8"), one per stream
# What cuDNN's workspaces and the allocator's reuse of cached blocks add at the peak, as a share
# of what is kept: on an H200 (issue 23: six networks at batch 64, float32 and --amp) the
# measured peaks held at most 5.5% of it beyond the modelled terms (MobileNetV2 with --amp;
# VGG-16 2.2% in float32, the others under 1%). benchmarks/gpu_check.py measures it again.
ALLOWANCE_PERCENT = 6
ONEDNN_BLOCK = 16  # oneDNN's channel block on AVX-512: a grouped conv's weight gradient pads each group to it


@record
class LayerMemory:
    """Bytes kept for backward that a layer brings: its output, if a layer keeps it, and its
    own tensors (per example and fixed)."""

    path: str
    per_example: int
    fixed: int


@record
class TrainingMemory:
    """Bytes of one training step at `batch`, term by term (each a property, so that a reader
    can add them up): weights, gradients, optimizer state, what is kept for backward, the
    batch (where no layer keeps it as given), the gradients in flight at the peak beyond what
    is kept, cuBLAS's workspace and the allowance (see the module)."""

    batch: int
    dtype: str
    optimizer: str
    amp: bool
    device: str
    weights: int  # parameters and buffers
    gradients: int
    optimizer_state: int
    saved_per_example: int  # kept for backward, per example (the input included, when kept)
    saved_fixed: int  # kept for backward whatever the batch (statistics, autocast's weight copies)
    in_flight_per_example: int  # gradients alive at the peak beyond what is kept (see the module)
    layers: tuple[LayerMemory, ...]  # what is kept, by the layer whose output (or own tensor) it is
    input_saved_per_example: int = 0  # of what is kept, the input: itself, or autocast's copy of it
    batch_input_per_example: int = 0  # the input the step is given, where no layer keeps it as given
    cublas_workspace: int = 0  # whatever the batch: on a GPU, where an fc runs
    allowance_percent: int = 0  # of what is kept, rounded up to a byte: on a GPU, ALLOWANCE_PERCENT
    buffers: int = 0  # of `weights`, the buffers' bytes (the rest are the parameters')
    weight_copy: int = 0  # whatever the batch: on a CPU, the largest copy of a weight (`_weight_copy`)
    conv_scratch: int = 0  # whatever the batch: on a CPU in float32, the largest grouped conv's (`_conv_scratch`)

    @property
    def saved(self) -> int:
        return self.saved_fixed + self.saved_per_example * self.batch

    @property
    def input_saved(self) -> int:
        return self.input_saved_per_example * self.batch

    @property
    def batch_input(self) -> int:
        return self.batch_input_per_example * self.batch

    @property
    def in_flight(self) -> int:
        return self.in_flight_per_example * self.batch

    @property
    def allowance(self) -> int:
        """`allowance_percent` of what is kept, rounded up to a whole byte."""
        return _percent_up(self.allowance_percent, self.saved)

    @property
    def fixed(self) -> int:
        """What does not grow with the batch (the allowance apart)."""
        return (self.weights + self.gradients + self.optimizer_state + self.saved_fixed + self.cublas_workspace
                + self.weight_copy + self.conv_scratch)  # fmt: skip

    @property
    def per_example(self) -> int:
        """What each example adds (the allowance apart)."""
        return self.saved_per_example + self.batch_input_per_example + self.in_flight_per_example

    @property
    def peak(self) -> int:
        return self.fixed + self.per_example * self.batch + self.allowance

    def largest_batch(self, budget: int) -> int:
        """The largest batch whose peak fits in `budget` bytes (0: not even one example).

        peak(b) = F + P*b + ceil(p*(S + K*b)/100) <= budget, with F and P fixed and per example
        (the allowance apart), S and K what is kept fixed and per example: the peak is whole
        bytes, so the ceiling fits where p*(S + K*b)/100 <= budget - F - P*b, and
        b = floor((100*(budget - F) - p*S) / (100*P + p*K)), at most limits.MAX_INT (the largest
        batch any command takes: PyTorch's kernels index with int32).
        """
        from ..limits import MAX_INT

        p = self.allowance_percent
        room = 100 * (budget - self.fixed) - p * self.saved_fixed
        return min(max(room // (100 * self.per_example + p * self.saved_per_example), 0), MAX_INT)


def _percent_up(percent: int, nbytes: int) -> int:
    """`percent` % of `nbytes`, rounded up to a whole byte (in integers: exact at any size)."""
    return -(-percent * nbytes // 100)


@record
class Kept:
    """One tensor a layer keeps: the node (or INPUT) whose output it is, or None for a tensor
    of the layer's own; its values (per example unless not `per_example`) and `Saved.itemsize`."""

    storage: int | None
    values: int
    per_example: bool
    itemsize: int
    flat: bool = False  # an fc's input it keeps as its flattened copy (`_flattens_by_copy`)


def training_memory(
    graph: Graph,
    batch: int = 1,
    dtype: str = "float32",
    optimizer: str = "adam",
    amp: bool = False,
    device: str = "cuda",
    freeze: str | None = None,
) -> TrainingMemory:
    """The memory of a training step of `graph` (see the module's docstring for the models);
    `freeze`: the layers up to and including that path are frozen (as `train --freeze`): their
    weights have no gradients and no optimizer state, and what only they need is not kept."""
    if batch < 1:
        raise CnnctlError.at(f"batch must be at least 1, got {batch}")  # the parameter: the CLI refuses --batch first
    if dtype not in TRAINING_DTYPES:  # autograd trains floating-point tensors only
        raise CnnctlError.at(f"a training step cannot hold its weights and gradients in `{dtype}`",
                             hint="one of " + ", ".join(TRAINING_DTYPES))  # fmt: skip
    if optimizer not in OPTIMIZERS:
        raise CnnctlError.at(f"unknown optimizer `{optimizer}`", hint="one of " + ", ".join(OPTIMIZERS))
    size = DTYPE_BYTES[dtype]
    frozen = last_in(graph, freeze, "freeze") if freeze else -1
    kept = _kept(graph, frozen)
    params = graph.params - sum(n.params for n in graph.nodes[: frozen + 1])  # trainable
    on = _on_cpu if device == "cpu" else _on_cuda
    return TrainingMemory(
        batch,
        dtype,
        optimizer,
        amp,
        device,
        weights=(graph.params + graph.buffers) * size,
        gradients=params * size,
        optimizer_state=OPTIMIZERS[optimizer][1] * params * size,
        buffers=graph.buffers * size,
        **on(graph, kept, size, amp, frozen),
    )


def _on_cpu(graph: Graph, kept: list[list[Kept]], size: int, amp: bool, frozen: int = -1) -> dict:
    """The CPU's model: each tensor in the dtype CPU autocast gives it; the backward pass
    followed as on a GPU, with the copies CPU backward kernels make; the weight copy and the
    conv scratch."""
    dtypes = autocast_dtypes(graph, size, amp, "cpu")
    storages, keepers, owner = _storages(graph, kept, dtypes, size, amp, "cpu")
    per_layer = _per_layer(graph, storages, owner)
    scratch = _conv_scratch(graph, frozen) if size == FLOAT32_BYTES and not amp else 0
    return {
        "saved_per_example": sum(per for per, _ in storages.values()),
        "saved_fixed": sum(fixed for _, fixed in storages.values()),
        # the backward pass followed as on a GPU, with the copies CPU backward kernels make, and the
        # loss's log-softmax of each output it reads, which the loss keeps for its backward
        "in_flight_per_example": _in_flight(
            graph, dtypes, _freed_by(storages, keepers), frozen, _backward_copies(graph, dtypes, frozen)
        )
        + _loss_kept(graph, dtypes, frozen),
        "layers": tuple(LayerMemory(n.path, *per_layer[n.index]) for n in graph.nodes),
        "input_saved_per_example": per_layer[INPUT][0],
        "weight_copy": _weight_copy(graph, size, frozen, scratch),
        "conv_scratch": scratch,
    }


def _backward_copies(graph: Graph, dtypes: dict[int, int], frozen: int = -1) -> dict[int, int]:
    """Per example, by layer: the bytes a CPU backward kernel allocates beside the gradients it
    hands on, alive while it runs (measured with the profiler's allocation events, torch 2.13):

    - batch norm (`native_batch_norm_backward`): where its input and its output's gradient are
      both laid out alike, it allocates the input's gradient, then again for its contiguous path,
      the first freed only once the second is made: one more tensor of the input's size.
    - a windowed max or average pool whose output's gradient comes back contiguous (its output
      flattened by copy, `_flattens_by_copy`) while its input is channels_last: PyTorch picks the
      kernel by the gradient's layout, and the contiguous one (`cpu_max_pool_backward`,
      `cpu_avg_pool_backward`) makes contiguous copies of the channels_last input gradient (the
      input's size) and, for a max, of its int64 indices (the output's size x 8), then copies the
      result back.
    """
    grads = needs_grad(graph, frozen)
    layout = channels_last(graph)
    flattened = {i for n in graph.nodes if n.kind in ("flatten", "fc") for i in n.inputs
                 if i != INPUT and _flattens_by_copy(graph, layout, i)}  # fmt: skip
    copies: dict[int, int] = {}
    for n in graph.nodes:
        if not grads[n.index] or not n.inputs or n.inputs[0] == INPUT or not grads[n.inputs[0]]:
            continue  # no input gradient to make
        i = n.inputs[0]
        in_bytes = numel(graph.nodes[i].shape) * dtypes[i]
        apart = n.index in flattened and layout[i]  # its output's gradient comes back contiguous, its input not
        if n.kind == "bn" and not apart:
            copies[n.index] = in_bytes
        elif n.kind == "pool" and apart and _windowed(n):
            copies[n.index] = in_bytes + (numel(n.shape) * 8 if n.args.op == "max" else 0)
    return copies


def _windowed(n: Node) -> bool:
    """Whether a pool slides a window (not global, adaptive or across the channels)."""
    return not (n.args["global"] or n.args.out is not None or n.args.channels)


def _loss_kept(graph: Graph, dtypes: dict[int, int], frozen: int = -1) -> int:
    """Per example: what the loss keeps for its backward, the log-softmax of each output it
    reads (cross-entropy: log_softmax, then nll_loss), of the output's size and dtype."""
    grads = needs_grad(graph, frozen)
    return sum(numel(graph.nodes[i].shape) * dtypes[i] for i in graph.loss_outputs if grads[i])


def _weight_copy(graph: Graph, size: int, frozen: int = -1, scratch: int = 0) -> int:
    """The bytes of the largest copy of a weight alive at once (measured with the profiler's
    allocation events): the CPU's fused optimizer step copies each trainable weight that
    channels_last lays out apart from a contiguous tensor (`_laid_apart`) to a contiguous
    tensor, one at a time, and its backward makes each such weight's gradient contiguous, then
    copies it to the weight's layout; and the forward pass reorders each conv's weight (groups
    1, trainable or not: every conv runs) into oneDNN's blocked layout, its output channels
    padded up to `ONEDNN_BLOCK`, ``up16(n) * C_in * f_h * f_w`` values, before the conv runs
    (DenseNet-121's 512x1024 1x1 transition conv, 2 MiB: the peak of its step at batch 2 is
    that conv's forward). One of them is alive at a time, so the largest; but the forward's
    reorder never while the backward's `scratch` (`_conv_scratch`) is: only what it needs beyond
    that scratch (ConvNeXt-tiny's 768x3072 1x1 conv, 9 MiB, within its 37 MiB scratch: nothing)."""
    laid_apart = (numel(shape) * size for n in graph.nodes[frozen + 1 :] if n.params
                  for _, shape in KINDS[n.kind].param_shapes(n.args, graph.input_shapes(n), n.shape)
                  if _laid_apart(shape))  # fmt: skip
    reordered = (_up(n.args.n) * graph.input_shapes(n)[0][2] * n.args.f[0] * n.args.f[1] * size
                 for n in graph.nodes if n.kind == "conv" and n.args.groups == 1)  # fmt: skip
    return max(max(laid_apart, default=0), max(reordered, default=0) - scratch)


def _conv_scratch(graph: Graph, frozen: int = -1) -> int:
    """The bytes of the largest scratch a trainable grouped conv's weight gradient takes on a
    CPU in float32 (see the module): oneDNN's generic kernel writes the gradient with each
    group's output and input channels padded up to `ONEDNN_BLOCK`, then reorders it into the
    gradient; one layer's backward at a time, so the largest."""
    return max((_padded_weight(n, graph) for n in graph.nodes[frozen + 1 :]
                if n.kind == "conv" and n.args.groups > 1 and not _depthwise_kernel(n, graph)), default=0)  # fmt: skip


def _padded_weight(n: Node, graph: Graph) -> int:
    """A conv's weight in float32 with each group's channels padded up to `ONEDNN_BLOCK`:
    groups * up(n/groups) * up(C_in/groups) * f_h * f_w * 4 bytes."""
    a, groups = n.args, n.args.groups
    c_in = graph.input_shapes(n)[0][2]
    return groups * _up(a.n // groups) * _up(c_in // groups) * a.f[0] * a.f[1] * FLOAT32_BYTES


def _up(channels: int) -> int:
    """`channels` rounded up to oneDNN's block of channels (16 on AVX-512)."""
    return -(-channels // ONEDNN_BLOCK) * ONEDNN_BLOCK


def _depthwise_kernel(n: Node, graph: Graph) -> bool:
    """Whether oneDNN's depthwise kernel (`jit_dw`) takes the weight gradient of conv `n`, which
    needs no scratch: a depthwise 3x3 window (one input and one output channel a group),
    undilated, and its top padding 0, or 1 on at least 2 + stride rows (measured: torch 2.13,
    oneDNN 3.12; 1 on 2 rows at stride 1, or 3 at stride 2, takes the generic kernel). An
    uneven padding is F.pad's before a conv of none, on the padded rows."""
    a, (h, w, c) = n.args, graph.input_shapes(n)[0]
    if not (c == a.groups == a.n and tuple(a.f) == (3, 3) and tuple(a.dilation) == (1, 1)):
        return False
    (top, bottom), (left, right) = resolve_padding(a, h, w)
    if top != bottom or left != right:  # padded apart, then a conv without padding
        h, top = h + top + bottom, 0
    return top == 0 or (top == 1 and h >= 2 + a.s[0])


def _laid_apart(shape: tuple[int, ...]) -> bool:
    """Whether channels_last lays out a weight of `shape` apart from a contiguous tensor: a 4-d
    weight (out, in, f_h, f_w) with more than one input channel (per group) and a window larger
    than 1x1; the others read the same either way."""
    return len(shape) == 4 and shape[1] > 1 and shape[2] * shape[3] > 1


def _weight_reads_channels_last(n: Node, graph: Graph) -> bool:
    """Whether a conv's or deconv's weight (out, in, f_h, f_w), converted to channels_last, makes
    its output channels_last: unless it has one input channel and a 1x1 window (its strides then
    say nothing of a layout, and PyTorch takes it as contiguous)."""
    return any(len(shape) == 4 and (shape[1] > 1 or shape[2] * shape[3] > 1)
               for _, shape in KINDS[n.kind].param_shapes(n.args, graph.input_shapes(n), n.shape))  # fmt: skip


def _on_cuda(graph: Graph, kept: list[list[Kept]], size: int, amp: bool, frozen: int = -1) -> dict:
    """The GPU's model (see the module's docstring): each tensor in the dtype CUDA autocast
    gives it; the gradients in flight from the backward pass followed layer by layer."""
    dtypes = autocast_dtypes(graph, size, amp, "cuda")
    storages, keepers, _ = owned = _storages(graph, kept, dtypes, size, amp, "cuda")
    per_layer = _per_layer(graph, storages, owned[2])
    # The step's input is alive all along; where a layer keeps it as given (float32, no copy),
    # that is the same storage (autograd keeps a reference): counted once, as kept, and never
    # freed by the backward pass.
    batch_input = 0 if ("out", INPUT) in storages else numel(graph.input_shape) * size
    return {
        "saved_per_example": sum(per for per, _ in storages.values()),
        "saved_fixed": sum(fixed for _, fixed in storages.values()),
        "in_flight_per_example": _in_flight(graph, dtypes, _freed_by(storages, keepers), frozen),
        "layers": tuple(LayerMemory(n.path, *per_layer[n.index]) for n in graph.nodes),
        "input_saved_per_example": per_layer[INPUT][0],
        "batch_input_per_example": batch_input,
        # taken at the first matrix product, on cuBLAS: where an fc runs
        "cublas_workspace": CUBLAS_WORKSPACE if any(n.kind == "fc" for n in graph.nodes) else 0,
        "allowance_percent": ALLOWANCE_PERCENT,
    }


def _freed_by(storages: dict[tuple, list[int]], keepers: dict[tuple, set[int]]) -> dict[int, int]:
    """Bytes per example kept for backward that the backward pass frees once a layer is done:
    each storage when the last of its keepers to run backward (the first in the graph) is; the
    step's input never (the step holds it all along)."""
    freed_by: dict[int, int] = {}
    for key, nodes in keepers.items():
        if key != ("out", INPUT):
            last = min(nodes)
            freed_by[last] = freed_by.get(last, 0) + storages[key][0]
    return freed_by


def _storages(graph: Graph, kept: list[list[Kept]], dtypes: dict[int, int], size: int, amp: bool, device: str):
    """Each storage kept for backward (by key: a node's output, autocast's copy of an input, a
    layer's own tensor, a layer's 16-bit weights), its bytes [per example, whatever the batch],
    the layers that keep it, and the layer it is counted under (its producer, or its own layer)."""
    storages: dict[tuple, list[int]] = {}
    keepers: dict[tuple, set[int]] = {}
    owner: dict[tuple, int] = {}
    for n, keeps in zip(graph.nodes, kept, strict=True):
        for j, k in enumerate(keeps):
            key, nbytes = _kept_bytes(graph, n, j, k, dtypes, size, amp, device)
            if key not in storages:
                storages[key] = [nbytes, 0] if k.per_example else [0, nbytes]
                # counted under the layer whose output it is (autocast's copy of it too), or its own
                owner[key] = n.index if k.storage is None else k.storage
            keepers.setdefault(key, set()).add(n.index)
        if amp and runs_in(n, device) == "16" and keeps:  # the 16-bit copy of its weights, kept to its backward
            key = ("weights", n.index)
            storages[key], owner[key] = [0, _weights(n) * AMP_BYTES], n.index
            keepers[key] = {n.index}
    return storages, keepers, owner


def _per_layer(graph: Graph, storages: dict[tuple, list[int]], owner: dict[tuple, int]) -> dict[int, list[int]]:
    """What is kept, [per example, whatever the batch], by the layer (or INPUT) it is counted under."""
    per_layer = {i: [0, 0] for i in range(len(graph.nodes))}
    per_layer[INPUT] = [0, 0]
    for key, (per, fixed) in storages.items():
        per_layer[owner[key]][0] += per
        per_layer[owner[key]][1] += fixed
    return per_layer


def _kept_bytes(graph: Graph, n: Node, j: int, k: Kept, dtypes: dict[int, int], size: int, amp: bool, device: str):
    """The storage a kept tensor is (its key) and its bytes on `device`."""
    if k.storage is None:
        if k.itemsize == STATS:  # a CPU's kernels keep them in the weights' dtype, a GPU's in float32 at least
            held = size if device == "cpu" else max(FLOAT32_BYTES, dtypes[n.index])
            return ("own", n.index, j), k.values * held
        if k.itemsize == MASK and device == "cpu":  # the unfused dropout keeps its scaled noise
            return ("own", n.index, j), k.values * dtypes[n.index]
        return ("own", n.index, j), k.values * (k.itemsize if k.itemsize > 0 else dtypes[n.index])
    nbytes = numel(graph.input_shape if k.storage == INPUT else graph.nodes[k.storage].shape)
    held = dtypes[k.storage]
    if k.storage != n.index:  # an input: autocast may keep a copy of it in the dtype it runs in
        wanted = input_bytes(n, held, size, amp, device)
        if wanted != held:
            return ("copy", n.index, j), nbytes * wanted
        if k.flat:  # it keeps its flattened copy
            return ("flat", n.index, j), numel(graph.input_shapes(n)[0]) * held
    return ("out", k.storage), nbytes * held


def channels_last(graph: Graph) -> dict[int, bool]:
    """Whether each map (and INPUT) is laid out channels_last (H, W, C in memory) in the step
    `cnnctl train` runs: it converts the batch and the weights with `memory_format=
    torch.channels_last`, which leaves an image of one channel as it is. A conv's or deconv's
    output is channels_last where its input is or its weight reads so
    (`_weight_reads_channels_last`); every other layer's where one of its inputs is."""
    shape = graph.input_shape  # one channel (or one position): left as it is
    layout = {INPUT: len(shape) == 3 and shape[0] * shape[1] > 1 and shape[2] > 1}
    for n in graph.nodes:
        if len(n.shape) != 3:
            layout[n.index] = False
        elif n.kind in ("conv", "deconv") and _weight_reads_channels_last(n, graph):
            layout[n.index] = True
        else:
            layout[n.index] = any(layout[i] for i in n.inputs)
    return layout


def _flattens_by_copy(graph: Graph, layout: dict[int, bool], index: int) -> bool:
    """Whether flattening the output of `index` copies it: a channels_last map of more than one
    position and one channel, read in (C, H, W) order, the fc's weights' order."""
    shape = graph.input_shape if index == INPUT else graph.nodes[index].shape
    return layout[index] and len(shape) == 3 and shape[0] * shape[1] > 1 and shape[2] > 1


def _weights(n: Node) -> int:
    """A conv's, deconv's or fc's weights, its biases left out."""
    return n.params - (n.shape[-1] if n.args.get("bias") else 0)


def _in_flight(
    graph: Graph,
    dtypes: dict[int, int],
    freed_by: dict[int, int],
    frozen: int = -1,
    copies: dict[int, int] | None = None,
) -> int:
    """Per example: the most bytes of gradients alive at any point of the backward pass, less
    the bytes kept for backward that the pass has freed by then (see the module's docstring);
    `copies`: the bytes a layer's backward kernel holds of its own while it runs, beyond the
    gradients it makes (`_backward_copies`, on a CPU)."""
    copies = copies or {}
    grads = needs_grad(graph, frozen)
    nodes = graph.nodes
    buffers: dict[int, list[int]] = {}  # a gradient tensor (by id) -> [bytes, references]
    pending: dict[int, int] = {}  # node -> the id of its output's gradient
    alive = freed = worst = 0
    ids = itertools.count()

    def new(nbytes: int) -> int:
        nonlocal alive
        bid = next(ids)
        buffers[bid] = [nbytes, 1]
        alive += nbytes
        return bid

    def drop(bid: int | None) -> None:
        nonlocal alive
        if bid is not None:
            buffers[bid][1] -= 1
            if buffers[bid][1] == 0:
                alive -= buffers.pop(bid)[0]

    for index in graph.loss_outputs:  # the loss's gradient of each output it reads, made before any layer's
        if grads[index]:
            pending[index] = new(numel(nodes[index].shape) * dtypes[index])
    for n in reversed(nodes):
        if not grads[n.index]:
            continue
        current = pending.pop(n.index, None)
        worst = max(worst, alive - freed)
        act = n.args.get("act")
        left_out = graph.softmax_left_to_loss(n)
        if act and act != "none" and not left_out:
            inner = new(numel(n.shape) * dtypes[n.index])  # the activation's gradient, before the layer's own
            worst = max(worst, alive - freed)
            drop(current)
            current = inner
        transient = copies.get(n.index, 0)
        for i in dict.fromkeys(n.inputs):
            if i == INPUT or not grads[i]:
                continue
            # a softmax layer left to the loss is an identity: it hands the gradient on too
            shares = KINDS[n.kind].passes_gradient(n.args) or (left_out and n.kind == "softmax")
            if i in pending:  # accumulated into the gradient already there: this one is freed at once
                transient += 0 if shares else numel(nodes[i].shape) * dtypes[i]
            elif shares and current is not None:
                buffers[current][1] += 1
                pending[i] = current
            else:
                pending[i] = new(numel(nodes[i].shape) * dtypes[i])
        worst = max(worst, alive + transient - freed)
        drop(current)
        freed += freed_by.get(n.index, 0)
    return worst


def _kept(graph: Graph, frozen: int = -1) -> list[list[Kept]]:
    """What the forward pass keeps, layer by layer: the outputs each layer keeps (by the node,
    or INPUT, that holds their storage) and its own tensors; nothing for the frozen layers
    (up to index `frozen`, a prefix: nothing trainable feeds them)."""
    grads = needs_grad(graph, frozen)
    layout = channels_last(graph)
    kept: list[list[Kept]] = []
    for n in graph.nodes:
        keeps: list[Kept] = []
        kept.append(keeps)
        if not grads[n.index]:
            continue  # nothing trainable on any path to it: autograd records nothing
        args = graph.training_args(n)
        if args is None:
            continue  # a softmax layer left to the loss: an identity in training
        kind = KINDS[n.kind]
        for s in kind.saved(args, graph.input_shapes(n), n.shape):
            if s.of == OWN:
                keeps.append(Kept(None, s.values, s.per_example, s.itemsize))
            else:
                of = n.index if s.of == OUTPUT else n.inputs[s.of]
                flat = n.kind == "fc" and of != n.index and _flattens_by_copy(graph, layout, of)
                keeps.append(Kept(_storage(graph, of, layout), 0, True, 0, flat))
    return kept


def _storage(graph: Graph, index: int, layout: dict[int, bool]) -> int:
    """The node (or INPUT) whose memory the output of `index` is: itself, unless it is a view."""
    while index != INPUT and _is_view(graph, graph.nodes[index], layout):
        index = graph.nodes[index].inputs[0]
    return index


def _is_view(graph: Graph, n: Node, layout: dict[int, bool]) -> bool:
    """Whether the output of `n` is a view of its first input's memory: as its kind says, but a
    flatten of a channels_last map is a copy (`_flattens_by_copy`)."""
    if n.kind == "flatten" and _flattens_by_copy(graph, layout, n.inputs[0]):
        return False
    return KINDS[n.kind].is_view(n.args)
