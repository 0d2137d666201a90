"""What cnnctl refuses to read, in one place: every bound on what a user can give it.

A network file is text from anyone; these limits keep every command within seconds and a
few hundred MB whatever the file holds, far beyond any real network. Each is checked as
early as it can be: file size and nesting before YAML is composed, list lengths and tags
while scanning it, layer counts before any layer is built.
"""

MAX_FILE_BYTES = 5_000_000  # a 10,000-layer file is about 0.35 MB
MAX_NESTING = 64  # lists and mappings inside each other: libyaml's composer recurses in C
MAX_LAYERS = 250_000  # layers a network may expand to (ResNet-152 has 515)
MAX_VALUES = 2**40
"""The most values an input, a layer's output or a layer's parameters may hold (about 10^12:
4 TiB as float32). It keeps every later number (memory, PyTorch's sizes) inside 64-bit
integers: unbounded, two `upsample 100000` make sizes that overflow PyTorch."""
MAX_INT = 2**31 - 1  # one written number: PyTorch's kernels index with int32
MAX_VALUE_CHARS = 10_000  # one value once block arguments are put in (`$a$a` doubles a text)
MAX_PROBLEMS = 30  # problems told for one file: past that, collecting them costs more than it tells
MAX_FAILED_LAYERS = 300  # layers that fail while building, the same mistake repeated included: then it stops
MAX_BLOCK_DEPTH = 32  # blocks used inside blocks
# Composites inside composites, counted across blocks: the builder recurses once per level
# (a few Python frames each), so this keeps it far from Python's recursion limit.
MAX_DEPTH = 100
# An expression `${...}`: its written numbers' digits either side of the point (exact.py), and
# its parentheses and calls nested (notation/expr.py reads them by recursion).
MAX_DIGITS = 18
MAX_EXPR_NESTING = 32
# An ONNX file (cnnctl import): its bytes, read before they are parsed, up to protobuf's own
# limit for one message (2 GiB); its nodes; and the values of one constant whose values are
# read (a clip's bounds, a resize's scales, a reshape's shape, a slice's bounds: 4 or 5 each).
MAX_ONNX_BYTES = 2 * 1024**3
MAX_ONNX_NODES = 200_000
MAX_ONNX_CONSTANT = 64
MAX_VAL_SPLIT = 0.9  # the validation fraction (--val-split): more held out leaves too little to train on
MAX_CHANNEL_VALUES = 4096  # numbers written one per channel (`affine scale=...`), an imported one's included
# Data in WebDataset shards (cnnctl pack, cnnctl.data.shards): one image's encoded bytes (a
# 100-megapixel PNG is under 300 MB; a member claiming more is read from nowhere), the shards a
# brace pattern may name (100,000 shards of 1 GB: 100 TB), and the classes a label may ask for
# (ImageNet-21k has 21,841): each one refused before anything is read or allocated for it.
MAX_IMAGE_BYTES = 512 * 2**20
MAX_SHARDS = 100_000
MAX_CLASSES = 1_000_000
# Folders inside a data folder's class folder (`cat/2024/05/a.jpg` is 2 deep): real data sets
# nest a few; a folder nested thousands deep would cost a walk of quadratic time (each folder's
# real path is found through all those above it), so past this one is an error naming it.
MAX_FOLDER_DEPTH = 100
MAX_LOADER_WORKERS = 32  # --workers: loader processes per training process
MAX_THREADS = 4096  # --threads: CPU threads per process
MAX_SEED = 2**32 - 1  # the epoch order seeds a generator with seed * 1_000_003 + epoch: it must fit 64 bits
# cnnctl bench: steps per repeat (--steps, --warmup) and repeats. Every timed step's latency is
# kept (for its percentiles): 10,000 x 100 is a million per contender (about 32 MB), far past
# where more steps make the figures surer; unbounded, `--steps 10**12` ran for ever.
MAX_BENCH_STEPS = 10_000
MAX_BENCH_REPEATS = 100


# What a run folder holds, read by `runs`, `plot`, evaluate and predict: config.json and
# status.json (a few hundred bytes as a run writes them), architecture.json (about 150 bytes a
# layer: MAX_LAYERS of them), and metrics.jsonl / results.csv, read a line at a time, a row of
# about 200 bytes per epoch (100,000 epochs: 20 MB). Past these the file is not one a run wrote:
# refused before it is read, or where a line or the lines go past their bound, never read whole.
MAX_RECORD_BYTES = 2**20
MAX_ARCHITECTURE_BYTES = 64 * 2**20
MAX_ROWS = 100_000
MAX_ROW_BYTES = 2**20
MAX_ROWS_BYTES = 64 * 2**20
# Weights read from a file (--weights, --checkpoint's tensors, `cnnctl import`'s ONNX
# initializers and external data): their sizes are known from the file's header before a value
# is read, and a file is refused when its tensors together hold more than MAX_WEIGHT_BYTES (4 GiB:
# a billion float32 values, nearly three times ConvNeXt-XLarge's 350 million parameters) or
# more than the memory available now (a .pt archive, which may be a checkpoint with the
# optimizer's state too: the memory only): reading it would exhaust memory, or die where the
# system kills it. Given to a network, a tensor with more values than the network's largest cannot be
# placed: past UNPLACEABLE_BYTES it is refused before anything is read too (smaller, it is read,
# and the message of the tensors that do not fit names both shapes: exchange.weights.check_weight_sizes).
MAX_WEIGHT_BYTES = 4 * 2**30
UNPLACEABLE_BYTES = 64 * 2**20
# A pickle file read to find what it asks to import (cnnctl.pickled), without loading it: a
# checkpoint's pickle is a few dozen bytes per tensor (a 10,000-tensor one: about 1 MB).
# The opcodes of a pickle read without loading it (cnnctl.pickled), each making at most one object:
# a state_dict's are a few per tensor (a 10,000-tensor one with Adam's state: about 400,000); a
# few seconds' reading. And the bytes their objects may hold, by cnnctl.pickled's reckoning.
MAX_PICKLE_OPS = 4_000_000
MAX_PICKLE_HELD = 256 * 2**20
MAX_PICKLE_BYTES = 64 * 2**20  # a checkpoint's pickle (its tensors aside), read whole for that: a few MB at most
SAFETENSORS_HEADER = 100_000_000  # the most header bytes of a .safetensors file: the safetensors library's own bound
MAX_ARCHIVE_NAMES = (
    100_000  # names of a zip archive read to tell what it is (not ONNX): its layout shows in the first few
)
# What is read back of an exported file's preprocessing record (an ONNX file's metadata_props,
# a TorchScript extra file): its texts before they are parsed, a class name, a network name.
MAX_RECORD_CHARS = 16 * 2**20  # a JSON list of 21,841 ImageNet-21k names is about 1 MB
MAX_CLASS_CHARS = 1_000
MAX_NAME_CHARS = 200


# Not a bound on input: the entries each cache of what a layer's line means keeps across files
# (notation/parse.py's READ, graph/build.py's INFERRED and TYPED), so memory stays bounded.
CACHE_ENTRIES = 100_000
MEMORY_SHARE = 0.5  # the most of the memory free that data held in memory may take (a stream's chooser, IDX files)


def available_memory() -> int:
    """Bytes of memory free for new data: MemAvailable of /proc/meminfo (Linux), else the
    free pages; 0 where neither can be read. Less where this process may not take that much:
    what its address-space limit (`ulimit -v`, RLIMIT_AS) leaves of it."""
    free = _system_free()
    left = _address_space_left()
    return min(free, left) if free and left is not None else free


def _system_free() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def _address_space_left() -> int | None:
    """Bytes this process may still map under its RLIMIT_AS (its limit less its size now, from
    /proc/self/statm); None where it has no such limit or that cannot be told."""
    try:
        import os
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm", encoding="ascii") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(limit - size, 1)  # 1, not 0: 0 says "cannot be told"
    except (ImportError, OSError, ValueError, IndexError, AttributeError):
        return None


def weight_bytes_limit(weights_only: bool = True) -> tuple[int | None, str]:
    """The most bytes of weights read from one file, and why that many: MAX_WEIGHT_BYTES, or
    the memory available when less. A checkpoint (`weights_only` False) also holds the
    optimizer's state (Adam's: twice the weights again), so only the memory bounds it; None
    where that cannot be told."""
    free = available_memory()
    if free > 0 and (not weights_only or free < MAX_WEIGHT_BYTES):
        return free, "the memory available now"
    return (MAX_WEIGHT_BYTES, "cnnctl's limit for one file's weights") if weights_only else (None, "")


def weight_bytes_past(sizes: list[tuple[str, int]], weights_only: bool = True) -> str | None:
    """Where the tensors of one weights file, each its name and bytes as the file declares them
    before any is read, hold more than cnnctl reads (weight_bytes_limit), that in words; else None.
    Said alike of a .safetensors or ONNX file's header and of a .pt archive's directory (a few
    compressed bytes may declare a member of gigabytes), by the commands that load one and `runs`."""
    total = sum(size for _, size in sizes)
    limit, why = weight_bytes_limit(weights_only)
    if limit is None or total <= limit:
        return None
    name, size = max(sizes, key=lambda named: named[1])
    return (
        f"its tensors hold {total:,} bytes (the largest, `{name}`, {size:,}): more than cnnctl reads "
        f"({limit:,} bytes: {why}); nothing was read"
    )


def leads_out(path: str, folder: str) -> str | None:
    """Where `path` really is (its links followed) when that lies outside `folder` (a real path,
    os.path.realpath's), else None: cnnctl reads through a link only to a place inside the
    folder it was given (an ONNX model's, a data folder), never /etc/shadow through
    `dog/x.png -> /etc/shadow`. A loop of links stays where it is, inside: read, it fails."""
    import os

    real = os.path.realpath(path)
    return None if os.path.commonpath([folder, real]) == folder else real
