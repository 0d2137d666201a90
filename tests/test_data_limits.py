"""Files that lie about their size: IDX headers, decompression bombs in images, stray labels.

Each is refused from its header, with cnnctl's message naming the file, before the data is
read or decoded: the tests bound the memory used, not the time taken.
"""

from __future__ import annotations

import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path

import pytest
import torch
from idxfiles import idx_bytes, idx_header, write_idx

import cnnctl
from cnnctl.data import idx, load_data
from cnnctl.data.adapt import MAX_BYTES
from cnnctl.errors import CnnctlError

MB = 1 << 20


def refused(call) -> tuple[str, int]:
    """The message of the CnnctlError `call()` raises (or "" if none), and the peak bytes
    Python allocated meanwhile (IDX data is read into Python buffers)."""
    tracemalloc.start()
    try:
        call()
        text = ""
    except CnnctlError as exc:
        text = str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return text, peak


def gzip_of(head: bytes, zeros: int) -> bytes:
    """`head` then `zeros` zero bytes, gzip-compressed a megabyte at a time (a tiny file)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip wrapping
    parts = [packer.compress(head)]
    block = bytes(MB)
    for _ in range(zeros // MB):
        parts.append(packer.compress(block))
    return b"".join(parts) + packer.flush()


# --- IDX headers claiming more than the file or memory holds -----------------------------


def test_a_gzip_idx_header_claiming_a_billion_images_is_refused_before_decompressing(tmp_path):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip_of(idx_header(10**9, 28, 28), 64 * MB))  # 64 MB of zeros behind the header
    assert bomb.stat().st_size < MB
    claimed = 10**9 * 28 * 28
    assert claimed > MAX_BYTES

    text, peak = refused(lambda: idx.read_idx(bomb, idx.IMAGES_MAGIC))
    assert peak < 8 * MB  # today the 64 MB behind the header are decompressed first
    assert str(bomb) in text and f"{claimed:,} bytes" in text and f"{MAX_BYTES // 2**30} GiB" in text
    # Within the limit but longer than its header: decompression stops just past the claim.
    longer = tmp_path / "t10k-images-idx3-ubyte.gz"
    longer.write_bytes(gzip_of(idx_header(10, 28, 28), 64 * MB))

    text, peak = refused(lambda: idx.read_idx(longer, idx.IMAGES_MAGIC))
    assert peak < 8 * MB and "longer than its header" in text


def test_a_plain_idx_file_shorter_than_its_header_claims_is_refused_from_its_size(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    count, rows, cols = 100_000, 28, 28
    held = 64 * MB
    with path.open("wb") as f:
        f.write(idx_header(count, rows, cols))
        f.truncate(len(idx_header(count, rows, cols)) + held)  # a sparse file: 64 MB of zeros on no disk
    text, peak = refused(lambda: idx.read_idx(path, idx.IMAGES_MAGIC))
    assert peak < 8 * MB  # today the 64 MB are read before the shortfall shows
    assert f"{path}: truncated" in text
    assert f"claims {count:,} images ({count}x{rows}x{cols}, {count * rows * cols:,} bytes)" in text
    assert f"holds {held:,} bytes" in text
    # A plain file claiming more than memory holds names the limit, whatever its size.
    path.write_bytes(idx_header(10**9, 28, 28) + bytes(100))
    text, _ = refused(lambda: idx.read_idx(path, idx.IMAGES_MAGIC))
    assert f"{path}: the header claims {10**9:,} images" in text and f"{MAX_BYTES // 2**30} GiB" in text
    # Longer than the header says: refused from the size too.
    path.write_bytes(idx_bytes(torch.zeros(3, 28, 28, dtype=torch.uint8)) + b"x")
    with pytest.raises(CnnctlError, match="longer than its header says"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


# --- images that decode to far more pixels than the network needs ----------------------------


def png_bytes(width: int, height: int) -> bytes:
    """A black 1-bit grayscale PNG, written from the format's definition: a few KB however
    many pixels (every row is a filter byte and zeros, which deflate to almost nothing)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter type 0, then the row's bits
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def decode_attempt(call) -> tuple[str, list[str], int | None]:
    """Run `call`: the message of the CnnctlError it raises ("" if none), the Pillow
    decompression-bomb warnings that escaped it, and how far the process's peak resident
    memory rose above its size at the start (Pillow decodes outside Python's allocator);
    None for the memory where Linux's /proc/self/clear_refs cannot reset the peak."""
    from PIL import Image

    status = Path("/proc/self/status")

    def field(name: str) -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith(name + ":"))
        return int(line.split()[1]) * 1024

    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
        start = field("VmRSS")
    except OSError:
        start = None
    text = ""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            call()
        except CnnctlError as exc:
            text = str(exc)
    growth = None if start is None else field("VmHWM") - start
    bombs = [str(w.message) for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]
    return text, bombs, growth


@pytest.fixture
def huge_png(tmp_path) -> Path:
    pytest.importorskip("PIL.Image")
    path = tmp_path / "huge.png"
    path.write_bytes(png_bytes(12000, 12000))  # 144 megapixels: 144 MB decoded as grayscale
    assert path.stat().st_size < 100_000
    return path


def check_refusal(text: str, path: Path, h: int, w: int, size: tuple[int, int] = (12000, 12000)) -> None:
    """The refusal names the file, the image's own width x height and pixel count, and the limit."""
    from cnnctl.data.decode import PIXEL_FLOOR, PIXEL_RATIO

    width, height = size
    limit = max(PIXEL_FLOOR, PIXEL_RATIO * h * w)
    assert f"{path}: an image of {width}x{height} pixels (width x height: {width * height:,} pixels)" in text
    assert f"more than the {limit:,} read for a {h}x{w} input" in text and "downscale" in text


def test_an_image_bomb_in_a_class_folder_is_refused_from_its_header(tmp_path, huge_png):
    from PIL import Image

    folder = tmp_path / "pics"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        Image.new("L", (28, 28), 100).save(folder / name / "small.png")
    bomb = folder / "b" / "bomb.png"
    huge_png.rename(bomb)
    text, bombs, growth = decode_attempt(lambda: load_data(str(folder), (28, 28, 1), val_split=0))
    assert growth is None or growth < 50 * MB  # today the 144 megapixels are decoded (and converted) first
    assert bombs == [] and text == ""  # one of 3: within 1% of at least 100 listed, left out
    left = load_data(str(folder), (28, 28, 1), val_split=0)
    assert len(left.train) == 2 and list(left.unreadable) == [str(bomb)]
    why = f"{bomb}: {left.unreadable[str(bomb)]}"  # refused from its header: its size and the limit
    assert f"{bomb}: an image of 12000x12000 pixels (width x height: 144,000,000 pixels)" in why
    assert "more than the 64,000,000 read for a 28x28 input" in why
    # An ordinary photo's size (12 megapixels) is accepted, resized with the others.
    bomb.unlink()
    (folder / "b" / "photo.png").write_bytes(png_bytes(4000, 3000))
    data = load_data(str(folder), (28, 28, 1), val_split=0.3)
    assert len(data.train) + len(data.val) == 3


def test_predict_refuses_an_image_bomb_from_its_header(huge_png):
    from cnnctl.data.decode import decode

    text, bombs, growth = decode_attempt(lambda: decode(str(huge_png), (32, 32, 3)))
    assert growth is None or growth < 50 * MB
    assert bombs == []
    check_refusal(text, huge_png, 32, 32)
    photo = huge_png.with_name("photo.png")
    photo.write_bytes(png_bytes(4000, 3000))
    assert decode(str(photo), (32, 32, 3)).shape == (3, 32, 32)


def test_an_image_pillow_refuses_is_told_by_its_own_size_not_pillows_limit(tmp_path):
    """Past twice Pillow's MAX_IMAGE_PIXELS (179 megapixels) Pillow refuses the header itself:
    the message still gives the image's width, height and pixels, and cnnctl's limit."""
    from PIL import Image

    from cnnctl.data.decode import decode

    width, height = 20000, 10000  # 200 megapixels, wider than high
    assert width * height > 2 * Image.MAX_IMAGE_PIXELS
    path = tmp_path / "wide.png"
    path.write_bytes(png_bytes(width, height))
    pillows = Image.MAX_IMAGE_PIXELS
    text, bombs, growth = decode_attempt(lambda: decode(str(path), (32, 32, 3)))
    assert growth is None or growth < 50 * MB
    assert bombs == []
    check_refusal(text, path, 32, 32, (width, height))
    assert f"{2 * pillows:,}" not in text  # Pillow's threshold is not the image's size
    assert pillows == Image.MAX_IMAGE_PIXELS  # Pillow's own check is back as it was


# --- a stray label in IDX data ---------------------------------------------------------------


def test_a_stray_idx_label_names_its_file_when_the_network_has_too_few_outputs(tmp_path):
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.loop import train

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 28, 28), generator=gen, dtype=torch.uint8)
    write_idx(tmp_path / "data", "train", x, torch.arange(40) % 10, gz=True)
    labels = torch.arange(20) % 10
    top = 255
    labels[7] = top  # one damaged byte
    _, stray = write_idx(tmp_path / "data", "t10k", x[:20], labels, gz=True)
    graph = cnnctl.load_text("input: 28x28x1\nlayers: [conv f=5 n=4 act=relu, pool max f=2, fc 10]")
    config = TrainConfig(data=str(tmp_path / "data"), epochs=1, batch_size=8, device="cpu", out=str(tmp_path / "r"))
    with pytest.raises(CnnctlError) as caught:
        train(graph, config, network_title="small")
    text = str(caught.value)
    assert f"the network has 10 outputs, but the data has {top + 1} classes" in text
    assert f"labels up to {top} in {stray}" in text
    distinct = len(set(labels.tolist()) | set(range(10)))
    assert f"make the last layer `fc {top + 1}`" in text
    assert f"or check {stray.name}: only {distinct} of the labels 0-{top} occur" in text


def test_predict_resizes_images_as_training_does(tmp_path):
    # predict once used Pillow's default (bicubic), then Pillow's bilinear, where training adapted
    # images by cnnctl.data.adapt's rules: one rule now, area averaging to shrink.
    from PIL import Image

    from cnnctl.data.decode import decode

    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (40, 50, 3), dtype=torch.uint8, generator=g)
    for name, (h, w) in {"a": (40, 50), "b": (20, 20)}.items():  # two sizes: the folder is resized
        (tmp_path / name).mkdir()
        raw = bytes(pixels[:h, :w].flatten().tolist())
        Image.frombytes("RGB", (w, h), raw).save(tmp_path / name / "x.png")
    trained = load_data(str(tmp_path), (32, 32, 3), val_split=0).train.x[0]
    # 40x50 to 32x32 shrinks both sides: each output pixel is the mean of the input area it covers
    averaged = torch.nn.functional.adaptive_avg_pool2d(pixels.permute(2, 0, 1).double(), (32, 32))
    reference = averaged.round().to(torch.uint8)
    assert (trained.int() - reference.int()).abs().max() <= 1  # float32 against float64 rounding
    assert torch.equal(decode(str(tmp_path / "a" / "x.png"), (32, 32, 3)), reference)
