"""The command that writes an image folder as WebDataset shards: pack."""

from typing import Annotated

from .common import Format, examples, show_result
from .options import argument, format_option, nbytes, option, whole

DEFAULT_SHARD_SIZE = 10**9  # 1 GB: a few seconds of reading each, few enough files for any file system


@examples(
    ("cnnctl pack ./photos -o ./shards", "shards of at most 1 GB: `cnnctl train ARCH --data ./shards`"),
    ("cnnctl pack ./photos -o ./shards --shard-size 500MB --seed 1", "smaller shards, in another order"),
)
def pack_cmd(
    folder: Annotated[str, argument("FOLDER", "An image folder: a subfolder of PNG/JPEG images per class, "
                                    "perhaps inside train/, val/ and test/.")],
    output: Annotated[str, option("-o", "--output", metavar="DIR",
                                  help="The folder to write the shards in: new, or without shards.")],
    shard_size: Annotated[int, option("--shard-size", parser=nbytes, metavar="SIZE",
                                      help="The most bytes a shard holds, e.g. 500MB or 1GiB (one image larger "
                                      "than that gets a shard of its own). Default: 1GB.")] = DEFAULT_SHARD_SIZE,
    seed: Annotated[int, option("--seed", parser=whole(0, 2**32 - 1), metavar="N",
                                help="Seeds the order the images are written in. Default: 0.")] = 0,
    format: Annotated[Format, format_option(Format.table, Format.json)] = Format.table,
) -> int:  # fmt: skip
    """Write an image folder as WebDataset tar shards, for training on data of any size.

    Each image is a sample of its own bytes (KEY.jpg or KEY.png, never re-encoded) and its
    class index (KEY.cls), written in an order shuffled by --seed so that every shard mixes
    the classes. Shards are DIR/train-000000.tar (val-, test- for those splits), each at most
    --shard-size; beside them classes.txt and index.json, which `cnnctl train ARCH --data DIR`
    reads. Files whose header Pillow cannot read are left out and listed in skipped.txt.
    Needs `pip install 'cnnctl[stream]'`.
    """
    from ..data.pack import pack
    from ..render.progress import TerminalBar

    with TerminalBar("packing", every=64) as progress:
        result = pack(folder, output, shard_size, seed, progress)
    show_result(format, result.data, lambda: [_table(result)])
    return 0


def _table(result):
    from ..render.table import Column, Table, num
    from ..words import exact, first, plural, size

    rows = [[k, len(shards), result.images(k), result.bytes(k)] for k, shards in result.shards.items()]
    rows.append(["total", sum(map(len, result.shards.values())), result.images(), result.bytes()])
    over = result.oversized()
    kept = "shards of at most" if not over else "shards asked of at most"
    notes = [f"{len(result.classes)} classes: {first(result.classes, 10)}; seed {result.seed}, {kept} "
             f"{exact(result.shard_size)} bytes ({size(result.shard_size)})",
             "wrote classes.txt and index.json beside them"]  # fmt: skip
    if over:  # a shard holds one image at least, with its tar headers (512-byte blocks) and the archive's end
        notes.append(f"{plural(len(over), 'shard')} of one image each exceed --shard-size: that image with its "
                     f"tar headers and end-of-archive takes up to {exact(max(s.bytes for s in over))} bytes "
                     f"(give at least that)")  # fmt: skip
    if result.skipped:
        notes.append(f"left out {plural(len(result.skipped), 'file')} (listed in skipped.txt with the reason): "
                     f"{first([f for f, _ in result.skipped], 3)}")  # fmt: skip
    if result.not_images:
        are = "is" if len(result.not_images) == 1 else "are"
        notes.append(f"{plural(len(result.not_images), 'file')} in the class folders {are} not PNG or JPEG, not packed "
                     f"(listed in skipped.txt): {first(result.not_images, 3)}")  # fmt: skip
    notes += result.notes
    # CSV: the JSON's key for the bytes written
    columns = [Column("split"), num("shards", exact), num("images", exact), num("bytes", size, key="packed_bytes")]
    return Table(f"packed into {result.out_dir}", columns, rows, notes)
