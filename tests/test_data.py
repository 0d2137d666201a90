"""cnnctl.data: the synthetic shapes, IDX and CIFAR-10 readers, downloads, adaptation."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from idxfiles import write_idx

from cnnctl.data import DATA_SETS, DataSplits, Split, cifar, data_root, idx, load_data, make_shapes
from cnnctl.data import download as download_module
from cnnctl.data.adapt import adapt, hold_out, plan
from cnnctl.data.download import extract, fetch
from cnnctl.errors import CnnctlError
from cnnctl.train.run_notes import data_caveats
from tests.helpers import MNIST_DIR, NO_MNIST

SHARED_MNIST = MNIST_DIR


@pytest.fixture(autouse=True)
def _quiet_downloads(monkeypatch):
    monkeypatch.setattr(download_module, "progress", lambda message: None)


# --- IDX and CIFAR files written here ---------------------------------------------------


def digits(count: int, size: int = 28, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (count, size, size), generator=gen, dtype=torch.uint8)
    return x, torch.arange(count) % 10


def _str(data: bytes) -> bytes:
    """A Python 2 str in a protocol 2 pickle (SHORT_BINSTRING / BINSTRING), as CIFAR-10 has."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<I", len(data)) + data


def _int(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def cifar_pickle(pixels: bytes, labels: list[int], count: int) -> bytes:
    """A CIFAR-10 batch pickled as the originals are (Python 2, protocol 2, a numpy uint8 array),
    written opcode by opcode since numpy is not installed."""
    out = [b"\x80\x02}(", _str(b"batch_label"), _str(b"testing batch 1 of 1")]
    out += [_str(b"labels"), b"](", *(_int(v) for v in labels), b"e"]
    # numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b'), then BUILD with
    # (1, (count, 3072), dtype('u1', 0, 1) + its state, False, raw bytes).
    out += [_str(b"data"), b"cnumpy.core.multiarray\n_reconstruct\nq\x01", b"cnumpy\nndarray\n"]
    out += [_int(0), b"\x85", _str(b"b"), b"\x87R("]
    out += [_int(1), _int(count), _int(3072), b"\x86", b"cnumpy\ndtype\n", _str(b"u1"), _int(0), _int(1), b"\x87R"]
    out += [b"(", _int(3), _str(b"|"), b"NNN", _int(-1), _int(-1), _int(0), b"tb"]
    out += [b"\x89", _str(pixels), b"tb"]
    out += [_str(b"filenames"), b"](", *(_str(f"img_{i}.png".encode()) for i in range(count)), b"e"]
    out += [b"u."]
    return b"".join(out)


def meta_pickle(names: list[str]) -> bytes:
    body = [b"\x80\x02}(", _str(b"label_names"), b"](", *(_str(v.encode()) for v in names), b"e"]
    body += [_str(b"num_cases_per_batch"), _int(10000), _str(b"num_vis"), _int(3072), b"u."]
    return b"".join(body)


def write_cifar(folder: Path, counts: dict[str, int]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for k, (name, count) in enumerate(counts.items()):
        gen = torch.Generator().manual_seed(k)
        x = torch.randint(0, 256, (count, 3, 32, 32), generator=gen, dtype=torch.uint8)
        y = torch.randint(0, 10, (count,), generator=gen)
        (folder / name).write_bytes(cifar_pickle(bytes(x.flatten().tolist()), y.tolist(), count))
        written[name] = (x, y)
    (folder / "batches.meta").write_bytes(meta_pickle(cifar.CLASSES))
    return written


# --- shapes ---------------------------------------------------------------------------------


def test_shapes_are_deterministic_balanced_and_in_range():
    x1, y1 = make_shapes(200, 32, 32, 1, seed=3)
    x2, y2 = make_shapes(200, 32, 32, 1, seed=3)
    x3, _ = make_shapes(200, 32, 32, 1, seed=4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert x1.shape == (200, 1, 32, 32) and x1.dtype == torch.uint8 and y1.dtype == torch.int64
    assert y1.bincount(minlength=10).tolist() == [20] * 10
    assert int(x1.min()) < 40 and int(x1.max()) > 200  # dark background, bright shapes
    per_image = x1.float().flatten(1)
    assert bool((per_image.amax(1) - per_image.amin(1) > 100).all())  # every image shows a shape
    # Images of one class differ (positions, sizes): not a lookup table.
    assert len({tuple(x1[i].flatten().tolist()) for i in range(200)}) == 200


def test_shapes_dataset_at_the_architecture_input():
    d = load_data("shapes", (32, 32, 1))
    assert isinstance(d, DataSplits) and d.name == "shapes" and len(d.classes) == 10
    assert d.train.x.shape == (6000, 1, 32, 32) and d.val.x.shape == (1000, 1, 32, 32)
    assert d.train.y.bincount().tolist() == [600] * 10 and d.val.y.bincount().tolist() == [100] * 10
    assert not torch.equal(d.train.x[:1000], d.val.x)
    x = d.train.x.double() / 255
    assert d.mean == pytest.approx((x.mean().item(),), abs=1e-5)
    assert d.std == pytest.approx((x.std(unbiased=False).item(),), abs=1e-5)
    assert "seed 0" in d.notes[0]
    colour = load_data("shapes", (24, 40, 3), seed=1)
    assert colour.train.x.shape == (6000, 3, 24, 40) and len(colour.mean) == 3
    assert not torch.equal(colour.train.x[:, 0], colour.train.x[:, 1])  # random hues, not gray
    assert torch.equal(load_data("shapes", (24, 40, 3), seed=1).val.x, colour.val.x)


# --- IDX --------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    x, y = digits(30)
    images, labels = write_idx(tmp_path, "train", x, y, gz)
    assert torch.equal(idx.read_idx(images, idx.IMAGES_MAGIC), x)
    assert torch.equal(idx.read_idx(labels, idx.LABELS_MAGIC), y.to(torch.uint8))
    write_idx(tmp_path, "t10k", *digits(10, seed=1), gz=gz)
    d = load_data(str(tmp_path), (28, 28, 1))
    assert d.name == tmp_path.name and d.classes == [str(k) for k in range(10)]
    assert torch.equal(d.train.x[:, 0], x) and torch.equal(d.train.y, y)
    assert len(d.val) == 10 and not any("padded" in note or "held out" in note for note in d.notes)


def test_truncated_and_foreign_idx_files_name_the_file(tmp_path):
    x, y = digits(20)
    images, labels = write_idx(tmp_path, "train", x, y, gz=False)
    raw = images.read_bytes()
    images.write_bytes(raw[:-100])
    with pytest.raises(CnnctlError, match=r"train-images-idx3-ubyte: truncated"):
        idx.read_idx(images, idx.IMAGES_MAGIC)
    images.write_bytes(raw[:10])
    with pytest.raises(CnnctlError, match=r"train-images-idx3-ubyte: truncated"):
        idx.read_idx(images, idx.IMAGES_MAGIC)
    images.write_bytes(raw + b"extra")
    with pytest.raises(CnnctlError, match="longer than its header"):
        idx.read_idx(images, idx.IMAGES_MAGIC)
    # A labels file where images are expected, and a file that is no IDX at all.
    with pytest.raises(CnnctlError, match=r"train-labels-idx1-ubyte: not an IDX images file: magic number 0x00000801"):
        idx.read_idx(labels, idx.IMAGES_MAGIC)
    images.write_bytes(b"<html>not found</html>")
    with pytest.raises(CnnctlError, match="not an IDX images file: magic number 0x3c68746d"):
        idx.read_idx(images, idx.IMAGES_MAGIC)
    gz_images, _ = write_idx(tmp_path / "gz", "train", x, y, gz=True)
    gz_images.write_bytes(gz_images.read_bytes()[:-300])
    with pytest.raises(CnnctlError, match=r"train-images-idx3-ubyte.gz: truncated"):
        idx.read_idx(gz_images, idx.IMAGES_MAGIC)
    gz_images.write_bytes(raw)  # uncompressed bytes under a .gz name
    with pytest.raises(CnnctlError, match=r"train-images-idx3-ubyte.gz: not a gzip file"):
        idx.read_idx(gz_images, idx.IMAGES_MAGIC)


def test_idx_labels_must_match_their_images(tmp_path):
    x, y = digits(20)
    write_idx(tmp_path, "train", x, y[:15], gz=False)
    with pytest.raises(CnnctlError, match="15 labels for the 20 images"):
        load_data(str(tmp_path), (28, 28, 1))
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(CnnctlError, match="no labels for train-images-idx3-ubyte"):
        load_data(str(tmp_path), (28, 28, 1))


def test_mnist_label_out_of_range(tmp_path):
    write_idx(tmp_path / "mnist", "t10k", torch.zeros(3, 28, 28), torch.tensor([1, 12, 3]), gz=True)
    with pytest.raises(CnnctlError, match="label 12 out of range"):
        load_data("mnist", (32, 32, 1), data_dir=tmp_path, download=False)


def test_one_split_hold_out_is_seeded_disjoint_and_sized(tmp_path):
    x, y = digits(200)
    split = Split(x.unsqueeze(1), torch.arange(200))  # labels = original positions
    train, val = hold_out(split, 0.25, seed=7)
    assert len(val) == 50 and len(train) == 150
    assert set(train.y.tolist()).isdisjoint(val.y.tolist())
    assert sorted(train.y.tolist() + val.y.tolist()) == list(range(200))
    assert torch.equal(val.x[:, 0], x[val.y])  # images stay with their labels
    again = hold_out(split, 0.25, seed=7)[1]
    other = hold_out(split, 0.25, seed=8)[1]
    assert torch.equal(again.y, val.y) and not torch.equal(other.y, val.y)
    # Through load_data: only t10k files -> hold out, recorded in the notes.
    write_idx(tmp_path / "mnist", "t10k", x, y, gz=True)
    d = load_data("mnist", (28, 28, 1), data_dir=tmp_path, val_split=0.2, seed=3, download=False)
    assert (len(d.train), len(d.val)) == (160, 40)
    assert "held out 40 of 200 images for validation (seed 3)" in d.notes
    for bad in (-0.1, 0.95, 1.0):  # the range --val-split's help gives: 0 to 0.9
        with pytest.raises(CnnctlError, match="from 0 to 0.9"):
            load_data("mnist", (28, 28, 1), data_dir=tmp_path, val_split=bad, download=False)
    # 0: every image trains and validation is empty, said in the notes.
    d = load_data("mnist", (28, 28, 1), data_dir=tmp_path, val_split=0.0, download=False)
    assert (len(d.train), len(d.val), d.val_from) == (200, 0, "")
    assert torch.equal(d.train.y, y)
    assert any(note.startswith("no validation: --val-split 0") for note in d.notes)


def test_training_on_test_files_alone_is_said_once(tmp_path):
    # A folder of MNIST's t10k files alone trained on the test set without a word
    write_idx(tmp_path / "t10k_only", "t10k", *digits(20))
    write_idx(tmp_path / "mnist", "t10k", *digits(20), gz=True)
    folder = load_data(str(tmp_path / "t10k_only"), (28, 28, 1))
    by_name = load_data("mnist", (28, 28, 1), data_dir=tmp_path, download=False)
    for d in (folder, by_name):
        # said by train as a warning (train.run_notes.data_caveats), from `train_from` and `no_test`
        (said,) = data_caveats(d)
        assert said.startswith("warning: only the t10k") and "add the training files" in said
        assert not any("trained on" in note for note in d.notes)  # not a plain `data:` line besides
        assert len(d.train) + len(d.val) == 20  # validation held out from the test files
        assert d.test is None and "t10k" in d.no_test and "were trained on" in d.no_test  # evaluate --split test says
    write_idx(tmp_path / "both", "train", *digits(20))
    write_idx(tmp_path / "both", "t10k", *digits(5, seed=1))
    assert not data_caveats(load_data(str(tmp_path / "both"), (28, 28, 1)))


def test_validation_and_test_splits_by_their_names(tmp_path):
    """A `val-` IDX prefix is validation, `t10k-`/`test-` the test split; without a val split
    the test split validates (as MNIST's t10k always has); `test=True` adapts it too."""
    write_idx(tmp_path / "three", "train", *digits(30, seed=1))
    write_idx(tmp_path / "three", "val", *digits(8, seed=2))
    write_idx(tmp_path / "three", "t10k", *digits(5, seed=3))
    d = load_data(str(tmp_path / "three"), (28, 28, 1), test=True)
    assert (len(d.train), len(d.val), len(d.test)) == (30, 8, 5)
    assert torch.equal(d.test.x[:, 0], digits(5, seed=3)[0]) and torch.equal(d.val.x[:, 0], digits(8, seed=2)[0])
    assert d.val_from == "its validation split" and d.test_from == "the t10k-* files"
    assert load_data(str(tmp_path / "three"), (32, 32, 1)).test is None  # adapted only when asked
    write_idx(tmp_path / "two", "train", *digits(30, seed=1))
    write_idx(tmp_path / "two", "test", *digits(5, seed=3))
    for val_split in (0.0, 0.5):  # a test split is never held out from: it validates
        d = load_data(str(tmp_path / "two"), (28, 28, 1), test=True, val_split=val_split)
        assert (len(d.train), len(d.val)) == (30, 5) and d.test is d.val
        assert d.val_from.startswith("its test split, the test-* files")
        assert torch.equal(d.val.x[:, 0], digits(5, seed=3)[0])


def test_image_folder_with_test_split(tmp_path):
    from PIL import Image

    for split, count in (("train", 4), ("val", 2), ("test", 3)):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(count):
                Image.new("L", (8, 8), color=40 * i + (100 if cls == "b" else 0)).save(
                    tmp_path / split / cls / f"{i}.png"
                )
    d = load_data(str(tmp_path), (8, 8, 1), test=True)
    assert (len(d.train), len(d.val), len(d.test)) == (8, 4, 6)
    assert d.test_from == "test/" and d.classes == ["a", "b"]
    assert sorted(d.test.x[:, 0, 0, 0].tolist()) == sorted([40 * i + k for i in range(3) for k in (0, 100)])


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=NO_MNIST)
def test_the_real_mnist_test_set():
    d = load_data("mnist", (32, 32, 1), data_dir=SHARED_MNIST.parent, download=False)
    assert len(d.train) + len(d.val) == 10_000 and len(d.val) == 1_000
    counts = d.train.y.bincount(minlength=10) + d.val.y.bincount(minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d.train.x.shape[1:] == (1, 32, 32) and d.train.x.dtype == torch.uint8
    assert "padded 28x28 to 32x32 with zeros (centred)" in d.notes
    assert int(d.train.x[:, :, :2].max()) == 0 and int(d.train.x[:, :, :, -2:].max()) == 0  # the 2-pixel border
    assert 0.09 < d.mean[0] < 0.11 and 0.25 < d.std[0] < 0.3  # 28x28 MNIST: 0.13, 0.31; padding lowers both
    # The contents are the published test set (the uncompressed MD5s of its README).
    for name, md5 in idx.MNIST_T10K_RAW_MD5.items():
        assert hashlib.md5(gzip.decompress((SHARED_MNIST / f"{name}.gz").read_bytes())).hexdigest() == md5


def test_missing_data_without_download_lists_files_and_folder(tmp_path):
    with pytest.raises(CnnctlError) as info:
        load_data("fashion-mnist", (28, 28, 1), data_dir=tmp_path, download=False)
    text = str(info.value)
    assert f"not in {tmp_path / 'fashion-mnist'}" in text and "download is off" in text
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in text
    with pytest.raises(CnnctlError, match="cifar10 is not in .*test_batch"):
        load_data("cifar10", (32, 32, 3), data_dir=tmp_path, download=False)


def test_offline_download_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setitem(DATA_SETS, "mnist", replace(DATA_SETS["mnist"], mirrors=("http://127.0.0.1:9/mnist/",)))
    with pytest.raises(CnnctlError) as info:
        load_data("mnist", (32, 32, 1), data_dir=tmp_path, download=True)
    text = str(info.value)
    assert "offline" in text and str(tmp_path / "mnist") in text
    assert "http://127.0.0.1:9/mnist/t10k-images-idx3-ubyte.gz" in text
    assert not (tmp_path / "mnist").exists()  # no partial file left behind, nor the folder made for it
    elsewhere = tmp_path / "not" / "there"
    with pytest.raises(CnnctlError, match="offline"):
        load_data("mnist", (32, 32, 1), data_dir=elsewhere, download=True)
    assert not (tmp_path / "not").exists()  # a mistyped --data-dir is not created by a download that failed


def test_download_checks_the_md5_and_renames_into_place(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload" * 1000)
    good = hashlib.md5(source.read_bytes()).hexdigest()
    dest = tmp_path / "data" / "file.bin"
    with pytest.raises(CnnctlError, match="does not match its published checksum"):
        fetch([source.as_uri()], dest, md5="0" * 32)
    assert not dest.parent.exists() or not any(dest.parent.iterdir())
    fetch([(tmp_path / "absent").as_uri(), source.as_uri()], dest, md5=good)  # the second mirror answers
    assert dest.read_bytes() == source.read_bytes() and [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_mnist_download_end_to_end_from_a_local_mirror(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_idx(mirror, "train", *digits(40), gz=True)
    write_idx(mirror, "t10k", *digits(10, seed=2), gz=True)
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in mirror.iterdir()}
    monkeypatch.setitem(
        DATA_SETS, "mnist", replace(DATA_SETS["mnist"], mirrors=(mirror.as_uri() + "/",), files=tuple(md5s.items()))
    )
    d = load_data("mnist", (32, 32, 3), data_dir=tmp_path / "root")
    assert (len(d.train), len(d.val)) == (40, 10) and d.train.x.shape[1:] == (3, 32, 32)
    assert "downloaded t10k-images-idx3-ubyte.gz (MD5 checked)" in d.notes
    assert sorted(p.name for p in (tmp_path / "root" / "mnist").iterdir()) == sorted(md5s)


# --- adaptation -------------------------------------------------------------------------------


def said(steps):
    """What the steps `plan` chose say, in order."""
    return [step.note for step in steps]


def test_adaptation_rules():
    x = torch.full((2, 1, 28, 28), 200, dtype=torch.uint8)
    padded = adapt(x, (32, 32, 1))
    assert padded.shape == (2, 1, 32, 32) and int(padded[:, :, 2:30, 2:30].min()) == 200
    assert int(padded.sum()) == 2 * 28 * 28 * 200
    assert said(plan((28, 28, 1), (32, 32, 1))) == ["padded 28x28 to 32x32 with zeros (centred)"]
    assert said(plan((28, 28, 1), (224, 224, 3))) == [
        "resized 28x28 to 224x224 (bilinear)",
        "replicated 1 channel to 3",
    ]
    assert said(plan((32, 32, 3), (16, 16, 1))) == [
        "converted RGB to 1 channel (luminance 0.299 R + 0.587 G + 0.114 B)",
        "resized 32x32 to 16x16 (area)",
    ]
    assert said(plan((32, 32, 3), (32, 48, 3))) == ["padded 32x32 to 32x48 with zeros (centred)"]
    assert "aspect ratio changed" in plan((32, 32, 3), (16, 64, 3))[0].note
    up = adapt(x, (64, 64, 3))
    assert up.shape == (2, 3, 64, 64) and int(up.min()) == 200 and torch.equal(up[:, 0], up[:, 2])
    checker = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    checker[..., ::2, ::2] = checker[..., 1::2, 1::2] = 255
    assert adapt(checker.repeat(1, 1, 4, 4), (8, 8, 1)).unique().tolist() == [128]  # area: the mean of each 2x2
    red = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    red[:, 0] = 255
    assert adapt(red, (8, 8, 1)).unique().tolist() == [76]  # 0.299 * 255
    with pytest.raises(CnnctlError, match="cannot adapt 4-channel images to a 2-channel input"):
        plan((8, 8, 4), (8, 8, 2))
    with pytest.raises(CnnctlError, match="cannot adapt 3-channel images to a 2-channel input"):
        plan((8, 8, 3), (8, 8, 2))


def test_input_shape_and_spec_errors(tmp_path):
    with pytest.raises(CnnctlError, match="did you mean `mnist`.*or a folder path"):
        load_data("mnsit", (28, 28, 1))
    with pytest.raises(CnnctlError, match="did you mean `fashion-mnist`"):
        load_data("fashion-mnst", (28, 28, 1))
    with pytest.raises(CnnctlError, match="or a folder path"):
        load_data("imagenet", (28, 28, 1))
    with pytest.raises(CnnctlError, match="no folder"):
        load_data(str(tmp_path / "nothing"), (28, 28, 1))
    with pytest.raises(CnnctlError, match="no data in"):
        load_data(str(tmp_path), (28, 28, 1))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CnnctlError, match="is a file, not a folder"):
        load_data(str(tmp_path / "file.txt"), (28, 28, 1))
    with pytest.raises(CnnctlError, match="three integers"):
        load_data("shapes", (28, 28))
    with pytest.raises(CnnctlError, match="zero or negative"):
        load_data("shapes", (28, 0, 1))


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNCTL_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root(tmp_path / "flag") == tmp_path / "flag"
    assert data_root(None) == tmp_path / "env"
    monkeypatch.delenv("CNNCTL_DATA")
    assert data_root(None) == tmp_path / "xdg" / "cnnctl"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    assert data_root(None) == Path.home() / ".cache" / "cnnctl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_root(None) == Path.home() / ".cache" / "cnnctl"


# --- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar_reader_on_synthetic_batches(tmp_path):
    folder = tmp_path / "cifar10" / cifar.FOLDER
    written = write_cifar(folder, {"data_batch_1": 7, "data_batch_2": 5, "test_batch": 4})
    split = cifar.read_batch(folder / "data_batch_1")
    assert torch.equal(split.x, written["data_batch_1"][0]) and torch.equal(split.y, written["data_batch_1"][1])
    d = load_data("cifar10", (32, 32, 3), data_dir=tmp_path, download=False)
    assert d.classes == cifar.CLASSES and (len(d.train), len(d.val)) == (12, 4)
    assert torch.equal(d.train.x[7:], written["data_batch_2"][0])
    assert torch.equal(d.val.y, written["test_batch"][1])
    assert "2 of the 5 training batches" in " ".join(d.notes)
    gray = load_data(str(folder), (32, 32, 1))  # the batches' folder given as a path
    assert gray.train.x.shape == (12, 1, 32, 32) and gray.name == cifar.FOLDER
    # Truncated pixels and a foreign pickle are errors naming the file.
    (folder / "test_batch").write_bytes(cifar_pickle(b"\x00" * 3000, [1], 1))
    with pytest.raises(CnnctlError, match="test_batch: truncated: 3,000 bytes of pixels for 1 images"):
        cifar.read_batch(folder / "test_batch")
    (folder / "test_batch").write_bytes(pickle.dumps({"data": [1, 2, 3], "labels": [0]}))
    with pytest.raises(CnnctlError, match="test_batch: not a CIFAR-10 batch: `data` is not an array"):
        cifar.read_batch(folder / "test_batch")
    (folder / "test_batch").write_bytes(cifar_pickle(b"\x00" * 3072, [1], 1)[:-40])
    with pytest.raises(CnnctlError, match="test_batch: not a readable CIFAR-10 batch"):
        cifar.read_batch(folder / "test_batch")


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_the_restricted_unpickler_refuses_a_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": [0]}))
    with pytest.raises(CnnctlError, match=r"data_batch_1: refused to unpickle `(posix|nt)\.system`"):
        cifar.read_batch(batch)
    assert not marker.exists()
    batch.write_bytes(pickle.dumps(io.BytesIO(b"x")))  # any other class, harmless or not
    with pytest.raises(CnnctlError, match="refused to unpickle `_io.BytesIO`"):
        cifar.read_batch(batch)


def test_cifar_download_and_safe_extraction(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    write_cifar(staging / cifar.FOLDER, {f: 3 for f in [*cifar.TRAIN_FILES, "test_batch"]})
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging / cifar.FOLDER, arcname=cifar.FOLDER)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    mirror = replace(DATA_SETS["cifar10"], mirrors=(tmp_path.as_uri() + "/",), files=((archive.name, md5),))
    monkeypatch.setitem(DATA_SETS, "cifar10", mirror)
    d = load_data("cifar10", (32, 32, 3), data_dir=tmp_path / "root")
    assert (len(d.train), len(d.val)) == (15, 3) and "downloaded" in d.notes[0]
    assert sorted(p.name for p in (tmp_path / "root" / "cifar10").iterdir()) == [cifar.FOLDER]  # archive removed
    # An archive with a member outside the folder is refused as a whole.
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name in (f"{cifar.FOLDER}/test_batch", "../escape", "/etc/absolute"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    out = tmp_path / "out"
    with pytest.raises(CnnctlError, match="unsafe path `../escape`"):
        extract(evil, out, [f"{cifar.FOLDER}/test_batch"])
    assert not out.exists() and not (tmp_path / "escape").exists()
    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as tar:
        info = tarfile.TarInfo(f"{cifar.FOLDER}/test_batch")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(CnnctlError, match="not a regular file"):
        extract(link, out, [f"{cifar.FOLDER}/test_batch"])


# --- image folders (Pillow is optional) --------------------------------------------------------


def test_image_folder(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for split, count in (("train", 3), ("val", 2)):
        for k, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
            folder = tmp_path / "pics" / split / ("red" if k == 0 else "blue")
            folder.mkdir(parents=True)
            for i in range(count):
                image.new("RGB", (20 + 4 * i, 20), colour).save(folder / f"{i}.png")
            (folder / "notes.txt").write_text("not an image")
    d = load_data(str(tmp_path / "pics"), (16, 16, 3))
    assert d.name == "pics" and d.classes == ["blue", "red"]
    assert d.train.x.shape == (6, 3, 16, 16) and d.val.x.shape == (4, 3, 16, 16)
    assert d.train.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert d.train.x[0, 2].unique().tolist() == [255] and d.train.x[3, 0].unique().tolist() == [255]
    assert any("adapted images of 3 sizes (20x20 to 20x28) to 16x16" in note for note in d.notes)
    assert (
        "skipped 4 files that are not PNG or JPEG: train/blue/notes.txt, train/red/notes.txt, val/blue/notes.txt, ..."
        in d.notes
    )
    assert "listed 10 RGB images of 2 classes in " + str(tmp_path / "pics") in d.notes
    flat = tmp_path / "flat" / "only"
    for k, name in enumerate(("only", "other")):
        (tmp_path / "flat" / name).mkdir(parents=True)
        for i in range(5):
            image.new("L", (28, 28), i * 20 + k).save(tmp_path / "flat" / name / f"{i}.jpg")
    g = load_data(str(tmp_path / "flat"), (32, 32, 3), val_split=0.3)
    assert (len(g.train), len(g.val)) == (7, 3)
    assert "padded 28x28 to 32x32 with zeros (centred)" in g.notes and "replicated 1 channel to 3" in g.notes
    (flat / "broken.png").write_bytes(b"\x89PNG garbage")
    kept = load_data(str(tmp_path / "flat"), (32, 32, 3))  # 1 of 11: within 1% of at least 100, left out
    assert list(kept.unreadable) == [str(flat / "broken.png")] and len(kept.train) + len(kept.val) == 10
    (flat / "broken2.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(CnnctlError, match="broken.png: cannot read the image") as told:
        load_data(str(tmp_path / "flat"), (32, 32, 3))
    assert told.value.problems[-1].hint.startswith("repair or remove the damaged files")


def _gray_pngs(folder: Path, count: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("L", (8, 8), 10 * i).save(folder / f"{i}.png")


def test_images_outside_class_folders_are_told(tmp_path):
    _gray_pngs(tmp_path / "flat", 3)  # no class folders at all
    with pytest.raises(CnnctlError, match=r"3 images directly in flat/, no class folders") as err:
        load_data(str(tmp_path / "flat"), (8, 8, 1))
    assert "one subfolder per class" in err.value.problems[0].hint
    _gray_pngs(tmp_path / "mixed", 1)  # one loose image beside a single class folder
    _gray_pngs(tmp_path / "mixed" / "cat", 4)
    with pytest.raises(CnnctlError, match=r"one class folder .*\(`cat`\), and 1 image directly in mixed/") as err:
        load_data(str(tmp_path / "mixed"), (8, 8, 1))
    assert "at least 2 classes" in err.value.problems[0].hint
    _gray_pngs(tmp_path / "mixed" / "dog", 4)  # two classes: trains, the loose image said to be left out
    d = load_data(str(tmp_path / "mixed"), (8, 8, 1), val_split=0.25)
    assert len(d.train) + len(d.val) == 8
    assert "left out 1 image directly in mixed/, in no class folder: 0.png" in d.notes
    assert "listed 8 grayscale images of 2 classes in " + str(tmp_path / "mixed") in d.notes


def test_one_class_is_refused(tmp_path):
    _gray_pngs(tmp_path / "one" / "cat", 4)
    with pytest.raises(CnnctlError, match=r"one class folder in .*one \(`cat`\)\n") as err:
        load_data(str(tmp_path / "one"), (8, 8, 1))
    assert "a classifier needs at least 2 classes" in err.value.problems[0].hint


def test_a_resize_samples_as_its_plan_says():
    from cnnctl.data.adapt import plan, run

    grow, shrink = plan((2, 2, 1), (40, 40, 1)), plan((40, 40, 1), (2, 2, 1))
    assert [(s.op, s.mode) for s in grow] == [("resize", "bilinear")] and "(bilinear)" in grow[0].note
    assert [(s.op, s.mode) for s in shrink] == [("resize", "area")] and "(area)" in shrink[0].note
    x = torch.zeros(1, 1, 40, 40, dtype=torch.uint8)
    x[..., :20, :20] = 200  # one quadrant lit: area averaging gives each output pixel its quadrant's mean
    assert run(x, shrink).flatten().tolist() == [200, 0, 0, 0]
