"""An image folder held in memory (issue 20): each file decoded once, straight to the network's
input, into one tensor per split; the same pixels as adapting the whole set at once; worker
processes whose problems come out as one message; a progress bar only on a terminal."""

from __future__ import annotations

import io

import pytest
import torch

from cnnctl.data import Split, load_data
from cnnctl.data import loader as loader_module
from cnnctl.data.adapt import _resize, adapt
from cnnctl.data.decode import read
from cnnctl.errors import CnnctlError

Image = pytest.importorskip("PIL.Image")


def photo_folder(root, sizes, per_class=3, mode="RGB", classes=2, suffix="png"):
    """`classes` class folders of `per_class` random images each, the i-th image of each of
    `sizes[i % len(sizes)]` (H, W); the files in the order load_data reads them."""
    g = torch.Generator().manual_seed(0)
    channels = 3 if mode == "RGB" else 1
    files = []
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            pixels = torch.randint(0, 256, (h, w, channels), dtype=torch.uint8, generator=g)
            image = Image.frombytes(mode, (w, h), bytes(pixels.flatten().tolist()))
            files.append(folder / f"{i:03d}.{suffix}")
            image.save(files[-1])
    return files


@pytest.mark.parametrize(
    ("mode", "target"),
    [("RGB", (16, 16, 3)), ("RGB", (36, 44, 3)), ("RGB", (50, 60, 3)), ("RGB", (16, 16, 1)), ("L", (16, 16, 3))],
    ids=["shrink", "pad", "grow", "to-gray", "gray-replicated"],
)
def test_a_same_size_folder_is_the_whole_set_adapted_at_once(tmp_path, mode, target):
    # Before issue 20 the images of one size were decoded at that size, stacked, and adapted
    # together (area, padding, bilinear, luminance): decoded one by one now, the same pixels.
    files = photo_folder(tmp_path, [(30, 40)], mode=mode)
    whole = adapt(torch.stack([read(f, target[:2], mode) for f in files]), target)
    data = load_data(str(tmp_path), target, val_split=0)
    assert data.train.x.dtype == torch.uint8 and torch.equal(data.train.x, whole)


def test_a_folder_of_several_sizes_is_each_image_adapted_on_its_own(tmp_path):
    # Each to the input as predict adapts one: 20x20 padded to 24x24, 40x50 shrunk, 12x12 grown.
    files = photo_folder(tmp_path, [(20, 20), (40, 50), (12, 12)])
    one_by_one = torch.stack([adapt(read(f, (24, 24), "RGB")[None], (24, 24, 3))[0] for f in files])
    data = load_data(str(tmp_path), (24, 24, 3), val_split=0)
    assert torch.equal(data.train.x, one_by_one)
    assert any("adapted images of 3 sizes (12x12 to 40x50) to 24x24" in note for note in data.notes)


def test_each_file_is_decoded_once_straight_to_the_input(tmp_path, monkeypatch):
    # No image is held at its own size (500x375 photos are 3.7 times a 224x224 input) and the
    # hold-out does not copy: 10 files, 10 decodes, each already at the input; the splits are
    # one uint8 tensor each, of exactly their images.
    photo_folder(tmp_path, [(30, 40)], per_class=5, suffix="jpg")
    shapes = []
    decode = loader_module.decode

    def recorded(*args, **kwargs):
        image = decode(*args, **kwargs)
        shapes.append(tuple(image.shape))
        return image

    monkeypatch.setattr(loader_module, "decode", recorded)
    data = load_data(str(tmp_path), (16, 16, 3), val_split=0.2)
    assert shapes == [(3, 16, 16)] * 10
    assert data.train.x.shape == (8, 3, 16, 16) and data.val.x.shape == (2, 3, 16, 16)
    assert data.train.x.dtype == data.val.x.dtype == torch.uint8
    assert data.train.x.untyped_storage().nbytes() == 8 * 3 * 16 * 16
    assert data.val.x.untyped_storage().nbytes() == 2 * 3 * 16 * 16
    assert any("resized 30x40 to 16x16 (area) (aspect ratio changed)" in note for note in data.notes)


def test_held_out_files_are_the_images_the_whole_set_would_give(tmp_path):
    # Held out by index before decoding: the same images, in the same order, as holding out
    # from the decoded set (hold_out on a Split, as IDX data is held out).
    from cnnctl.data.adapt import hold_out

    files = photo_folder(tmp_path, [(20, 20)], per_class=6)
    labels = torch.tensor([0] * 6 + [1] * 6)
    every = Split(torch.stack([read(f, (20, 20), "RGB") for f in files]), labels)
    train, val = hold_out(every, 0.25, seed=3)
    data = load_data(str(tmp_path), (20, 20, 3), val_split=0.25, seed=3)
    assert torch.equal(data.train.x, train.x) and torch.equal(data.val.x, val.x)
    assert torch.equal(data.train.y, train.y) and torch.equal(data.val.y, val.y)


def test_broken_images_among_many_are_one_message_naming_them_with_workers(tmp_path, monkeypatch):
    files = photo_folder(tmp_path, [(20, 20)], per_class=20, suffix="jpg")
    monkeypatch.setattr(loader_module, "MIN_IMAGES_FOR_WORKERS", 0)
    monkeypatch.setattr(loader_module, "PART", 4)
    assert loader_module.workers_for(40) >= 1
    for broken in (files[27], files[5]):
        whole = broken.read_bytes()
        broken.write_bytes(whole[: len(whole) // 2])  # its header reads; its pixels do not
    # 2 of 40: past 1% of at least 100 listed (loader.Skipped's rule), so refused; decoded by the
    # loader processes, each named in the one message as one process would name it
    with pytest.raises(CnnctlError) as caught:
        load_data(str(tmp_path), (16, 16, 3), val_split=0)
    assert len(caught.value.problems) == 1
    said = caught.value.problems[0].message
    assert said.startswith(
        "2 of the 40 images listed could not be decoded (up to 1 may be: 1% of the images listed, a set "
        "of fewer than 100 counted as 100)"
    )
    assert f"{files[27]}: cannot read the image" in said and f"{files[5]}: cannot read the image" in said
    files[5].write_bytes((tmp_path / files[6].relative_to(tmp_path)).read_bytes())  # one left: within 1%
    data = load_data(str(tmp_path), (16, 16, 3), val_split=0)
    assert len(data.train) == 39 and list(data.unreadable) == [str(files[27])]


def test_workers_decode_what_one_process_decodes(tmp_path, monkeypatch):
    photo_folder(tmp_path, [(20, 20), (30, 24)], per_class=10, suffix="jpg")
    alone = load_data(str(tmp_path), (16, 16, 3), val_split=0).train.x
    monkeypatch.setattr(loader_module, "MIN_IMAGES_FOR_WORKERS", 0)
    monkeypatch.setattr(loader_module, "PART", 3)  # parts that do not divide the 20 images
    assert torch.equal(load_data(str(tmp_path), (16, 16, 3), val_split=0).train.x, alone)


def test_workers_are_the_usable_cores_for_many_images_none_for_a_few(monkeypatch):
    monkeypatch.setattr(loader_module, "cores", lambda: 64)
    assert loader_module.workers_for(loader_module.MIN_IMAGES_FOR_WORKERS - 1) == 0
    assert loader_module.workers_for(100_000) == loader_module.MAX_DEFAULT_WORKERS == 8
    monkeypatch.setattr(loader_module, "cores", lambda: 2)
    assert loader_module.workers_for(100_000) == 2


def test_the_progress_bar_shows_on_a_terminal_only(tmp_path, monkeypatch, capfd):
    from rich.console import Console

    photo_folder(tmp_path, [(20, 20)], per_class=4)
    monkeypatch.setattr(loader_module, "PROGRESS_AFTER", 0.0)  # at once, however quick
    load_data(str(tmp_path), (16, 16, 3), val_split=0)
    assert capfd.readouterr().err == ""  # the test's stderr is no terminal
    terminal = io.StringIO()
    monkeypatch.setattr(loader_module, "_stderr_console", lambda: Console(file=terminal, force_terminal=True))
    load_data(str(tmp_path), (16, 16, 3), val_split=0)
    assert "decoding images" in terminal.getvalue() and capfd.readouterr().err == ""


def test_a_resize_converts_a_few_images_at_a_time(monkeypatch):
    # The float copy that resizes a set held in memory (CIFAR-10 to 224x224) is bounded by
    # WORKING_BYTES, not by a count of images: 2,048 images at 224x224x3 were 1.2 GB.
    import cnnctl.data as data_module
    import cnnctl.data.adapt as adapt_module

    x = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    whole = _resize(x, 20, 20, "bilinear")
    sizes = []
    interpolate = adapt_module.F.interpolate

    def counted(part, **kwargs):
        sizes.append(part.shape[0])
        return interpolate(part, **kwargs)

    monkeypatch.setattr(data_module, "WORKING_BYTES", 3 * 4 * 3 * (8 * 8 + 20 * 20))  # 3 images' floats
    monkeypatch.setattr(adapt_module.F, "interpolate", counted)
    assert torch.equal(_resize(x, 20, 20, "bilinear"), whole)
    assert sizes == [3, 3, 3, 1]


def test_statistics_are_summed_a_few_images_at_a_time(monkeypatch):
    # The float64 copy behind the channel statistics is bounded by WORKING_BYTES too (2,048
    # images at 224x224x3 were 2.5 GB, and their squares as much again), with the same result.
    import cnnctl.data as data_module
    from cnnctl.data.stats import computed

    x = torch.randint(0, 256, (7, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    scaled = x.double().div(255)
    mean, std = scaled.mean(dim=(0, 2, 3)), scaled.std(dim=(0, 2, 3), unbiased=False)
    monkeypatch.setattr(data_module, "WORKING_BYTES", 2 * 8 * 3 * 5 * 6)  # two images' float64
    stats = computed(x)
    assert stats.mean == pytest.approx(mean.tolist(), abs=1e-6) and stats.std == pytest.approx(std.tolist(), abs=1e-6)


def test_a_folder_held_in_memory_is_listed_once(tmp_path, monkeypatch):
    # Once listed twice: by the listing that chooses between memory and a stream, again to hold it.
    from cnnctl.data import folder

    photo_folder(tmp_path, [(8, 8)], per_class=2, classes=3)
    listed = []
    images = folder.list_images  # one class folder's listing
    monkeypatch.setattr(folder, "list_images", lambda path, *a, **kw: listed.append(path) or images(path, *a, **kw))
    data = load_data(str(tmp_path), (8, 8, 3), val_split=0)
    assert len(data.train.x) == 6 and any("held in memory" in note for note in data.notes)
    assert sorted(listed) == sorted([tmp_path, *(tmp_path / f"class{c}" for c in range(3))])  # each folder once


def test_the_header_counts_and_json_say_the_images_read_and_the_note_says_listed(tmp_path, monkeypatch, capsys):
    # The header counted the images held (1,799) where JSON gave those listed (1,812), and the folder's
    # note said "read 201" where one of them was unreadable: the note says the images listed; the
    # header and JSON the images read, which the accuracies are out of (they said 32 val where the
    # accuracy was out of 31), the unreadable one said apart with its split.
    import json

    from helpers import run_main

    photo_folder(tmp_path / "pics", [(8, 8)], per_class=50)  # 100 listed: 1 may be unreadable
    (tmp_path / "pics" / "class0" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    net = tmp_path / "tiny.yaml"
    net.write_text("input: 8x8x3\nlayers: [conv f=3 p=same n=2 act=relu, pool max f=2, fc 2]\n")
    args = ["train", str(net), "--data", str(tmp_path / "pics"), "--epochs", "1", "--device", "cpu", "--no-stream"]
    # which split zz.png is in: the hold-out of its listing, by index (seeded), read unreadable or not
    listed = load_data(str(tmp_path / "pics"), (8, 8, 3), val_split=0.1)
    in_val = listed.left_out.get("val", 0)
    assert listed.left_out.get("train", 0) + in_val == 1
    code, out, err = run_main(monkeypatch, capsys, *args, "--out", str(tmp_path / "a"), "--format", "json")
    assert code == 0, err
    counts = json.loads(out)
    # 101 listed, 10% held out by index: 91 train and 10 val listed, the unreadable one not counted
    counted = (counts["train_images"], counts["val_images"], counts["images_skipped"])
    assert counted == (91 - (1 - in_val), 10 - in_val, 1)
    code, out, err = run_main(monkeypatch, capsys, *args, "--out", str(tmp_path / "b"))
    assert code == 0, err
    lines = out.splitlines()
    assert f"| pics: {91 - (1 - in_val)} train, {10 - in_val} val, 2 classes |" in lines[0]
    assert f"data: listed 101 RGB images of 2 classes in {tmp_path / 'pics'}" in lines
    split = "validation" if in_val else "training"
    said = f"data: left out 1 unreadable image (1 {split}), not counted in the first line, at most 1% of those listed"
    assert any(line.startswith(said) for line in lines), out
    rows = [line.split() for line in lines if line.split()[:1] == ["1"]]
    assert rows and rows[0][4].endswith("%")  # the epoch's row: its val accuracy, out of the images counted
    # (a share of 10 - in_val images: its percentage times them is a whole number)
    val_share = float(rows[0][4].rstrip("%")) / 100
    assert abs(val_share * (10 - in_val) - round(val_share * (10 - in_val))) < 0.01


def test_a_train_val_test_folder_holds_and_counts_only_the_splits_it_reads(tmp_path, monkeypatch):
    # Training on train/ val/ test/ said "held in memory: 14 images" with 8 train and 4 val: the
    # test split was counted (and its size judged) though training never decodes it; evaluate's
    # --split test (load_data(test=True)) holds and counts it too.
    for split, per_class in (("train", 4), ("val", 2), ("test", 1)):
        photo_folder(tmp_path / split, [(16, 16)], per_class=per_class)
    decoded = []
    decode = loader_module.decode
    monkeypatch.setattr(loader_module, "decode", lambda *a, **kw: decoded.append(1) or decode(*a, **kw))
    data = load_data(str(tmp_path), (16, 16, 3), val_split=0.1)
    assert (len(data.train), len(data.val), data.test) == (8, 4, None) and len(decoded) == 8 + 4
    held = [note for note in data.notes if note.startswith("held in memory:")]
    assert held and held[0].startswith("held in memory: 12 images at 16x16x3 are "), data.notes
    decoded.clear()
    data = load_data(str(tmp_path), (16, 16, 3), val_split=0.1, test=True)
    assert len(data.test) == 2 and len(decoded) == 8 + 4 + 2
    assert any(note.startswith("held in memory: 14 images at 16x16x3 are ") for note in data.notes), data.notes
