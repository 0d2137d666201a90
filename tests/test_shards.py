"""WebDataset shards: `cnnctl pack` writes an image folder as tar shards, cnnctl.data.shards
indexes them (headers only) and reads each image's bytes back by offset."""

import io
import json
import os
import random
import sys
import tarfile
import time

import pytest
from helpers import run_main

from cnnctl.data.shards import OPEN_SHARDS, is_shards, read_member, shard_splits
from cnnctl.errors import CnnctlError

pytest.importorskip("PIL")

CLASSES = ("cat", "dog", "eel")


def image_bytes(kind: str, seed: int, side: int = 8, noise: bool = False) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    if noise:  # incompressible: a PNG of about 3 x side x side bytes
        im = Image.frombytes("RGB", (side, side), bytes(rng.randrange(256) for _ in range(3 * side * side)))
    else:
        im = Image.new("RGB", (side, side), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    buffer = io.BytesIO()
    im.save(buffer, "PNG" if kind == "png" else "JPEG")
    return buffer.getvalue()


def image_folder(root, splits=("train", "val"), per_class=(6, 2)) -> dict:
    """A folder of tiny JPEG and PNG images (train/ and val/, a subfolder per class; the class
    folders at the top for `splits` ("",)); {(split, "class/stem"): (file bytes, class index)},
    the class index by sorted name."""
    written = {}
    for folder_name, count in zip(splits, per_class, strict=True):
        split = folder_name or "train"
        for label, name in enumerate(CLASSES):
            folder = root / folder_name / name
            folder.mkdir(parents=True)
            for i in range(count):
                suffix = ("jpg", "png", "jpeg")[i % 3]
                data = image_bytes("png" if suffix == "png" else "jpg", hash((split, name, i)) % 1000)
                (folder / f"{i:03d}.{suffix}").write_bytes(data)
                written[(split, f"{name}/{i:03d}")] = (data, label)
    return written


def pack(folder, out, shard_size=10**9, seed=0):
    from cnnctl.data.pack import pack as pack_folder

    return pack_folder(folder, out, shard_size, seed)


def read_back(shards) -> dict:
    """{(split, key): (bytes read by offset, label)} of an index."""
    found = {}
    opened = {}
    for split, samples in shards.splits.items():
        for i in range(len(samples)):
            key = samples.members[i].rsplit(".", 1)[0]
            url = samples.names[int(samples.shard[i])]
            data = read_member(url, int(samples.offset[i]), int(samples.size[i]), opened)
            found[(split, key)] = (data, int(samples.labels[i]))
    return found


def member_order(folder) -> list[str]:
    names = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".tar"):
            with tarfile.open(folder / name) as tar:
                names += [m.name for m in tar.getmembers() if not m.name.endswith(".cls")]
    return names


# -- round trip ------------------------------------------------------------------------------
def test_shards_held_in_memory_say_the_adapting_rule_and_their_size_in_its_unit(tmp_path):
    # Every image at the input's 8x8 once read "each image adapted to 8x8 as predict adapts one",
    # and 24 images of 8x8x3 "0.0 MiB decoded"
    from cnnctl.data import load_data

    image_folder(tmp_path / "img", splits=("",), per_class=(8,))  # the class folders at the top
    pack(tmp_path / "img", tmp_path / "out")
    data = load_data(str(tmp_path / "out"), (8, 8, 3), val_split=0, stream=False)
    assert not any("each image adapted" in note for note in data.notes), data.notes
    rule = "any image of another size than 8x8 is adapted to it as predict adapts one: padded where a little smaller"
    assert any(note.startswith(rule) for note in data.notes), data.notes
    held = "held in memory (--no-stream): 24 images at 8x8x3 are 4.50 KiB decoded"  # 24 x 8 x 8 x 3 = 4,608 bytes
    assert held in data.notes, data.notes


def test_pack_then_index_gives_back_every_image_its_bytes_and_class(tmp_path):
    written = image_folder(tmp_path / "img")
    result = pack(tmp_path / "img", tmp_path / "out", shard_size=12 * 1024)
    shards = shard_splits(str(tmp_path / "out"))
    assert shards.classes == sorted(CLASSES)
    assert read_back(shards) == written  # the files' own bytes (not re-encoded) and labels
    assert {k: len(s) for k, s in shards.splits.items()} == {"train": 18, "val": 6}
    assert len(result.shards["train"]) > 1 and result.images() == 24
    assert (tmp_path / "out" / "classes.txt").read_text() == "cat\ndog\neel\n"


def rewritten_in_place(path) -> None:
    """The shard written again with the same samples after a member of no sample: every offset
    moves; its modification time a second later."""
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    before = path.stat().st_mtime_ns
    with tarfile.open(path, "w") as tar:
        padding = tarfile.TarInfo("padding")  # no dot: a member of no sample, ignored
        padding.size = 1000
        tar.addfile(padding, io.BytesIO(bytes(1000)))
        for member, data in members:
            tar.addfile(member, io.BytesIO(data))
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_a_shard_rewritten_in_place_since_a_run_indexed_it_is_indexed_again(tmp_path):
    # The run's index kept no size or time of its shards: one rewritten in place was read at the
    # offsets indexed before, other bytes than its samples', unsaid (an image folder's are told).
    from cnnctl.data.samples import index_bytes
    from cnnctl.data.streamed import listing

    written = image_folder(tmp_path / "img")
    pack(tmp_path / "img", tmp_path / "out", shard_size=12 * 1024)
    index = tmp_path / "data-index.pt"  # as the run folder keeps it
    index.write_bytes(index_bytes(listing(str(tmp_path / "out")).record()))
    again = listing(str(tmp_path / "out"), index)
    assert (again.kept, again.changed) == (str(index), "")  # unchanged: read back, not indexed again
    shard = sorted((tmp_path / "out").glob("train-*.tar"))[0]
    rewritten_in_place(shard)
    again = listing(str(tmp_path / "out"), index)
    said = f"1 shard changed since the run indexed it (another size or modification time): {shard.name}"
    assert again.changed == f"{said}; indexed again" and again.changed in again.notes
    assert read_back(again) == written  # each sample found at its new offset


def test_a_folder_without_splits_is_all_train_and_a_brace_pattern_reads_it(tmp_path):
    written = image_folder(tmp_path / "img", splits=("",), per_class=(5,))  # class folders at the top
    result = pack(tmp_path / "img", tmp_path / "out", shard_size=8 * 1024)
    count = len(result.shards["train"])
    assert set(result.shards) == {"train"} and count > 2
    pattern = str(tmp_path / "out" / f"train-{{000000..{count - 1:06d}}}.tar")
    assert is_shards(pattern)
    assert read_back(shard_splits(pattern)) == written


def test_shards_stay_within_the_size_but_one_larger_sample_alone(tmp_path):
    image_folder(tmp_path / "img", splits=("",), per_class=(10,))
    big = image_bytes("png", 1, side=96, noise=True)  # about 27 KB: more than a shard
    (tmp_path / "img" / "cat" / "big.png").write_bytes(big)
    limit = 16 * 1024  # a few samples of tiny images each
    assert len(big) > limit
    result = pack(tmp_path / "img", tmp_path / "out", shard_size=limit)
    sizes = {s.file: (os.path.getsize(tmp_path / "out" / s.file), s.samples) for s in result.shards["train"]}
    assert len(sizes) > 3
    assert all(size <= limit or samples == 1 for size, samples in sizes.values()), sizes
    alone = [f for f, (size, samples) in sizes.items() if size > limit]
    assert len(alone) == 1
    with tarfile.open(tmp_path / "out" / alone[0]) as tar:
        assert [m.name for m in tar.getmembers()] == ["cat/big.cls", "cat/big.png"]


def test_the_seed_decides_the_order_and_the_same_seed_writes_the_same_bytes(tmp_path):
    image_folder(tmp_path / "img")
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        pack(tmp_path / "img", tmp_path / name, shard_size=12 * 1024, seed=seed)
    a, b, c = (member_order(tmp_path / n) for n in "abc")
    assert a == b and a != c
    assert a != sorted(a)  # shuffled: classes mixed across shards
    first = sorted(n for n in os.listdir(tmp_path / "a") if n.endswith(".tar"))[0]
    assert (tmp_path / "a" / first).read_bytes() == (tmp_path / "b" / first).read_bytes()


def test_webdataset_itself_reads_what_pack_wrote(tmp_path):
    wds = pytest.importorskip("webdataset")
    written = image_folder(tmp_path / "img")
    result = pack(tmp_path / "img", tmp_path / "out", shard_size=12 * 1024)
    for split, shards in result.shards.items():
        urls = [str(tmp_path / "out" / s.file) for s in shards]
        found = {}
        for sample in wds.WebDataset(urls, shardshuffle=False):
            data = sample.get("jpg", sample.get("png"))
            found[(split, sample["__key__"])] = (data, int(sample["cls"]))
        assert found == {k: v for k, v in written.items() if k[0] == split}


def test_keys_have_no_dots_and_stay_unique(tmp_path):
    folder = tmp_path / "img" / "a.b"
    folder.mkdir(parents=True)
    for name in ("x.y.jpg", "x_y.jpg", "x_y.png"):
        (folder / name).write_bytes(image_bytes("jpg" if name.endswith("jpg") else "png", len(name)))
    (tmp_path / "img" / "c").mkdir()  # a second class: a classifier's data has at least two
    (tmp_path / "img" / "c" / "z.jpg").write_bytes(image_bytes("jpg", 0))
    pack(tmp_path / "img", tmp_path / "out")
    names = member_order(tmp_path / "out")
    keys = [n.rsplit(".", 1)[0] for n in names]
    assert sorted(keys) == ["a_b/x_y", "a_b/x_y_2", "a_b/x_y_3", "c/z"]
    assert shard_splits(str(tmp_path / "out")).classes == ["a.b", "c"]


def test_files_pillow_cannot_read_are_left_out_and_listed(tmp_path):
    image_folder(tmp_path / "img", splits=("",), per_class=(2,))
    bad = tmp_path / "img" / "dog" / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    result = pack(tmp_path / "img", tmp_path / "out")
    assert [f for f, _ in result.skipped] == [str(bad)] and result.images() == 6
    assert (tmp_path / "out" / "skipped.txt").read_text().startswith(f"{bad}: cannot read the image")


def test_files_that_are_not_images_are_named_in_the_note_and_skipped_txt(tmp_path, monkeypatch, capsys):
    image_folder(tmp_path / "img", splits=("",), per_class=(2,))
    notes = tmp_path / "img" / "dog" / "notes.txt"
    notes.write_text("not an image")
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert f"1 file in the class folders is not PNG or JPEG, not packed (listed in skipped.txt): {notes}" in out, out
    assert (tmp_path / "out" / "skipped.txt").read_text() == f"{notes}: not a PNG or JPEG file: not packed\n"
    assert shard_splits(str(tmp_path / "out")).notes[0].startswith("indexed 1 shard from ")  # not "1 shards"


# -- shards written by other tools ---------------------------------------------------------
def foreign_shard(path, samples: list[tuple[str, dict]]) -> None:
    """A shard written by webdataset's own TarWriter: (key, {extension: bytes})."""
    wds = pytest.importorskip("webdataset")
    with wds.TarWriter(str(path), encoder=False) as writer:
        for key, members in samples:
            writer.write({"__key__": key, **members})


def test_foreign_shards_split_by_file_name_and_count_classes_from_labels(tmp_path):
    jpg = image_bytes("jpg", 7)
    foreign_shard(tmp_path / "shard-000000.tar", [(f"s{i}", {"jpg": jpg, "cls": b"%d" % i, "json": b"{}"})
                                                   for i in range(3)])  # fmt: skip
    foreign_shard(tmp_path / "shard-000001.tar", [("t0", {"png": image_bytes("png", 1), "cls": b" 4\n"})])
    foreign_shard(tmp_path / "validation-000000.tar", [("v0", {"jpeg": jpg, "cls": b"1"})])
    assert is_shards(str(tmp_path))
    shards = shard_splits(str(tmp_path))
    assert shards.classes == ["0", "1", "2", "3", "4"]  # 0 to the largest label
    assert {k: s.labels.tolist() for k, s in shards.splits.items()} == {"train": [0, 1, 2, 4], "val": [1]}
    assert read_back(shards)[("val", "v0")] == (jpg, 1)
    (tmp_path / "classes.txt").write_text("a\nb\nc\nd\ne\n")
    assert shard_splits(str(tmp_path / "shard-{000000..000001}.tar")).classes == ["a", "b", "c", "d", "e"]


def test_a_member_name_is_never_a_path(tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"outside")
    jpg = image_bytes("jpg", 3)
    foreign_shard(tmp_path / "s.tar", [("../secret", {"jpg": jpg, "cls": b"0"})])
    shards = shard_splits(str(tmp_path / "s.tar"))
    assert read_back(shards) == {("train", "../secret"): (jpg, 0)}


# -- mistakes ------------------------------------------------------------------------------
def error(spec) -> str:
    with pytest.raises(CnnctlError) as info:
        shard_splits(str(spec))
    return str(info.value)


def test_a_file_that_is_not_a_tar_is_named(tmp_path):
    (tmp_path / "notes.tar").write_text("hello\n" * 200)
    message = error(tmp_path / "notes.tar")
    assert message.startswith(f"error: {tmp_path / 'notes.tar'}: not a readable tar file"), message
    assert message.count("error:") == 1


def test_a_truncated_tar_keeps_its_whole_samples_and_says_where_it_was_cut(tmp_path):
    # It was refused whole ("not a readable tar file (unexpected end of data)", a hint about the format).
    foreign_shard(tmp_path / "whole.tar", [(f"s{i}", {"jpg": image_bytes("jpg", i), "cls": b"0"}) for i in range(3)])
    data = (tmp_path / "whole.tar").read_bytes()
    with tarfile.open(tmp_path / "whole.tar") as tar:
        members = tar.getmembers()  # s0.cls, s0.jpg, s1.cls, s1.jpg, ...
    assert [m.name for m in members[:4]] == ["s0.cls", "s0.jpg", "s1.cls", "s1.jpg"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "cut.tar").write_bytes(data[: members[2].offset])  # at the second sample's first header
    (tmp_path / "b" / "cut.tar").write_bytes(data[: members[3].offset_data + 100])  # inside s1.jpg's bytes
    for folder, where in (("a", "after its member `s0.jpg`"), ("b", "in its member `s1.jpg`")):
        shards = shard_splits(str(tmp_path / folder / "cut.tar"))
        assert [shards.splits["train"].members[i] for i in range(len(shards.splits["train"]))] == ["s0.jpg"]
        assert read_back(shards)[("train", "s0")] == (image_bytes("jpg", 0), 0)  # whole, by its offset
        assert (
            f"warning: {tmp_path / folder / 'cut.tar'} is cut short {where}: its 1 whole sample before the cut "
            "are used" in shards.notes[1]
        ), shards.notes


def test_a_packed_shard_cut_short_counts_what_its_index_lists_beyond_the_cut(tmp_path):
    image_folder(tmp_path / "imgs", splits=("",), per_class=(6,))
    pack(tmp_path / "imgs", tmp_path / "shards")
    (shard,) = sorted((tmp_path / "shards").glob("train-*.tar"))
    listed = len(shard_splits(str(tmp_path / "shards")).splits["train"])
    with tarfile.open(shard) as tar:
        cut_in = [m for m in tar.getmembers() if m.name.endswith((".jpg", ".png", ".jpeg"))][5]  # the 6th image
    shard.write_bytes(shard.read_bytes()[: cut_in.offset_data + 10])
    shards = shard_splits(str(tmp_path / "shards"))
    assert len(shards.splits["train"]) == 5  # the samples before the 6th: whole
    assert f"is cut short in its member `{cut_in.name}`: its 5 whole samples before the cut are used" in shards.notes[1]
    assert f"({listed - 5} of the {listed} samples index.json lists)" in shards.notes[1]


def test_samples_without_cls_or_with_a_bad_cls_are_each_named(tmp_path):
    jpg = image_bytes("jpg", 1)
    foreign_shard(tmp_path / "a.tar", [("nolabel", {"jpg": jpg}), ("half", {"jpg": jpg, "cls": b"2.5"}),
                                       ("nojpg", {"cls": b"1"}), ("ok", {"jpg": jpg, "cls": b"1"})])  # fmt: skip
    message = error(tmp_path / "a.tar")
    where = str(tmp_path / "a.tar")
    assert f"{where}:nolabel: the sample `nolabel` has no label (a cls member);" in message
    assert f"{where}:half.cls: the cls member holds '2.5', not a class index" in message
    assert f"{where}:nojpg: the sample `nojpg` has no image (a jpg, jpeg or png member);" in message
    assert message.count("error:") == 3


def test_a_label_beyond_the_class_names_is_named(tmp_path):
    jpg = image_bytes("jpg", 1)
    foreign_shard(tmp_path / "a.tar", [(f"k{i}", {"jpg": jpg, "cls": b"%d" % i}) for i in range(4)])
    (tmp_path / "classes.txt").write_text("x\ny\n")
    message = error(tmp_path / "a.tar")
    assert f"{tmp_path / 'a.tar'}:k2.jpg: class index 2 for 2 classes (0 to 1) (2 samples of this shard" in message


def test_a_brace_pattern_of_a_billion_shards_is_refused_at_once(tmp_path):
    started = time.perf_counter()
    message = error(tmp_path / "s-{000000000..999999999}.tar")
    assert "names 1,000,000,000 shards, more than cnnctl reads" in message
    assert time.perf_counter() - started < 1


def test_read_member_is_bounded_and_keeps_few_shards_open(tmp_path):
    from cnnctl.limits import MAX_IMAGE_BYTES

    with pytest.raises(CnnctlError, match="more than cnnctl reads for one image"):
        read_member(str(tmp_path / "x.tar"), 0, MAX_IMAGE_BYTES + 1, {})
    opened = {}
    for i in range(OPEN_SHARDS + 3):
        (tmp_path / f"{i}.tar").write_bytes(b"%03d" % i)
        assert read_member(str(tmp_path / f"{i}.tar"), 1, 2, opened) == b"%02d" % i
    assert len(opened) == OPEN_SHARDS and str(tmp_path / f"{OPEN_SHARDS + 2}.tar") in opened
    with pytest.raises(CnnctlError, match="the shard ends inside a member"):
        read_member(str(tmp_path / "0.tar"), 1, 10, opened)


# -- the command -----------------------------------------------------------------------------
def test_pack_command_table_and_json(tmp_path, monkeypatch, capsys):
    import json

    image_folder(tmp_path / "img")
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"),
                              "--shard-size", "12KiB", "--format", "json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["images"] == 24 and data["splits"]["val"]["images"] == 6 and data["shard_size_bytes"] == 12 * 1024
    # bytes in keys ending `_bytes` (were `bytes`, `shard_size`): each shard's file size, summed per split and in all
    sizes = {k: [os.path.getsize(tmp_path / "out" / s["file"]) for s in v["shards"]] for k, v in data["splits"].items()}
    assert [[s["packed_bytes"] for s in v["shards"]] for v in data["splits"].values()] == list(sizes.values())
    assert [v["packed_bytes"] for v in data["splits"].values()] == [sum(v) for v in sizes.values()]
    assert data["packed_bytes"] == sum(map(sum, sizes.values())) and "bytes" not in data
    assert data["dir"] == str(tmp_path / "out")  # the folder written; a file written is `file`, as each shard's
    files = sorted(s["file"] for split in data["splits"].values() for s in split["shards"])
    assert files == sorted(n for n in os.listdir(tmp_path / "out") if n.endswith(".tar"))
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["format"] == "cnnctl-shards" and index["classes"] == list(CLASSES)
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "new"))
    rows = [line.split()[:3] for line in out.splitlines()]
    assert code == 0 and ["train", "1", "18"] in rows and ["val", "1", "6"] in rows, out


def test_pack_never_writes_over_shards(tmp_path, monkeypatch, capsys):
    image_folder(tmp_path / "img")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old-000000.tar").write_bytes(b"")
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {tmp_path / 'out'}: the folder holds shards already (old-000000.tar)"), err
    assert err.count("error:") == 1 and os.listdir(tmp_path / "out") == ["old-000000.tar"]


def test_pack_of_a_folder_without_images_is_one_message(tmp_path, monkeypatch, capsys):
    (tmp_path / "img" / "cat").mkdir(parents=True)
    (tmp_path / "img" / "cat" / "notes.txt").write_text("x")
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"))
    assert code == 2 and err.startswith(f"error: {tmp_path / 'img' / 'cat'}: class folder without PNG or JPEG"), err
    assert not (tmp_path / "out").exists()


def test_pack_without_webdataset_says_what_to_install(tmp_path, monkeypatch, capsys):
    image_folder(tmp_path / "img")
    monkeypatch.setitem(sys.modules, "webdataset", None)  # `import webdataset` raises ImportError
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"))
    assert code == 2 and "pip install 'cnnctl[stream]'" in err and err.count("error:") == 1, err


def test_a_url_is_read_through_fsspec(tmp_path):
    pytest.importorskip("fsspec")
    written = image_folder(tmp_path / "img", splits=("",), per_class=(3,))
    last = len(pack(tmp_path / "img", tmp_path / "out", shard_size=8 * 1024).shards["train"]) - 1
    assert last > 0
    url = f"file://{tmp_path / 'out'}/train-{{000000..{last:06d}}}.tar"
    assert is_shards(url) and is_shards(f"file://{tmp_path / 'out'}/train-000000.tar")
    shards = shard_splits(url)
    assert shards.classes == sorted(CLASSES)  # index.json beside the shards, read through fsspec too
    assert read_back(shards) == written


def test_an_image_pillow_would_never_decode_is_left_out_by_its_header(tmp_path):
    import struct
    import zlib

    image_folder(tmp_path / "img", splits=("",), per_class=(1,))
    png = bytearray(image_bytes("png", 0))
    ihdr = struct.pack(">II", 20_000, 20_000) + bytes(png[24:29])  # claims 400 megapixels; the data is 8x8
    png[16:33] = ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    bomb = tmp_path / "img" / "eel" / "bomb.png"
    bomb.write_bytes(bytes(png))
    result = pack(tmp_path / "img", tmp_path / "out")
    assert result.images() == 3 and [f for f, _ in result.skipped] == [str(bomb)]
    assert "an image of 20000x20000 pixels" in result.skipped[0][1] and "Pillow's limit" in result.skipped[0][1]


def test_a_shard_that_lost_samples_since_pack_is_named(tmp_path):
    image_folder(tmp_path / "img", splits=("",), per_class=(2,))
    pack(tmp_path / "img", tmp_path / "out")
    shard = tmp_path / "out" / "train-000000.tar"
    foreign_shard(shard.with_suffix(".new"), [("k", {"jpg": image_bytes("jpg", 0), "cls": b"0"})])
    shard.with_suffix(".new").replace(shard)  # a whole tar, of 1 sample where index.json says 6
    assert f"{shard}: index.json lists 6 samples in this shard; it holds 1" in error(tmp_path / "out")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="a FIFO is a POSIX file")
def test_a_fifo_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.tar")
    assert f"{tmp_path / 'pipe.tar'}: not a regular file" in error(tmp_path / "pipe.tar")
    with pytest.raises(CnnctlError, match="not a regular file"):
        read_member(str(tmp_path / "pipe.tar"), 0, 10, {})


def test_a_brace_pattern_without_braceexpand_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "braceexpand", None)
    assert "pip install 'cnnctl[stream]'" in error(tmp_path / "s-{0..3}.tar")


def test_a_pack_stopped_halfway_leaves_nothing_behind(tmp_path):
    from cnnctl.data.pack import pack as pack_folder

    image_folder(tmp_path / "img")

    def stop(done, total):
        if done == 20:  # in val, train's shards written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pack_folder(tmp_path / "img", tmp_path / "out", 16 * 1024, 0, stop)
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(KeyboardInterrupt):
        pack_folder(tmp_path / "img", tmp_path / "kept", 16 * 1024, 0, stop)
    assert os.listdir(tmp_path / "kept") == []


def test_no_shard_passes_the_shard_size_even_below_tars_record(tmp_path, monkeypatch, capsys):
    # `--shard-size 10KB` wrote 10,240-byte shards: tarfile pads a file to its 10,240-byte record
    wds = pytest.importorskip("webdataset")
    written = image_folder(tmp_path / "img", splits=("",), per_class=(4,))
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"),
                              "--shard-size", "10KB")  # fmt: skip
    assert code == 0, err
    assert "shards of at most 10,000 bytes" in out
    shards = sorted((tmp_path / "out").glob("train-*.tar"))
    assert len(shards) > 1
    for shard in shards:
        size = shard.stat().st_size
        with tarfile.open(shard) as tar:  # each member a header block and its data in whole blocks
            members = sum(512 + -(-m.size // 512) * 512 for m in tar.getmembers())
        assert size <= 10_000 and size == members + 2 * 512  # and tar's two end blocks
    found = {("train", s["__key__"]): (s.get("jpg", s.get("png")), int(s["cls"]))
             for s in wds.WebDataset([str(p) for p in shards], shardshuffle=False)}  # fmt: skip
    assert found == written  # webdataset reads them whole
    assert read_back(shard_splits(str(tmp_path / "out"))) == written  # and so does cnnctl, by offset


def test_a_folder_above_idx_files_is_told_to_give_that_folder(tmp_path, monkeypatch, capsys):
    # `--data /data` above `/data/mnist` (IDX files) was read as a class tree: a class without images
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "data" / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "data"), "-o", str(tmp_path / "out"))
    assert code == 2 and err.count("error:") == 1
    assert f"hint: it holds IDX files (MNIST's format): give that folder itself, `{tmp_path / 'data' / 'mnist'}`" \
        in err  # fmt: skip


def test_a_shard_size_below_one_image_is_said_not_claimed(tmp_path, monkeypatch, capsys):
    # `--shard-size 1KB` wrote 3,072-byte shards and said "shards of at most 1,000 bytes"
    pytest.importorskip("webdataset")
    image_folder(tmp_path / "img", splits=("",), per_class=(2,))
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"),
                              "--shard-size", "1KB")  # fmt: skip
    assert code == 0, err
    shards = sorted((tmp_path / "out").glob("train-*.tar"))
    largest = max(p.stat().st_size for p in shards)
    assert largest > 1_000  # a header block, the image in whole blocks, the class's two, two end blocks
    assert "shards of at most 1,000 bytes" not in out
    assert f"{len(shards)} shards of one image each exceed --shard-size" in out and f"up to {largest:,} bytes" in out


def cut_at_image(shards, out, k: int) -> str:
    """A copy of the one-shard folder `shards` in `out`, its shard cut inside its k-th image (from 0):
    the k samples before it kept whole. Returns the warning train gives of it."""
    import shutil

    shutil.copytree(shards, out)
    (shard,) = sorted(out.glob("train-*.tar"))
    with tarfile.open(shard) as tar:
        cut_in = [m for m in tar.getmembers() if m.name.endswith((".jpg", ".png", ".jpeg"))][k]
    shard.write_bytes(shard.read_bytes()[: cut_in.offset_data + 10])
    return next(n for n in shard_splits(str(out)).notes if n.startswith("warning: "))


def test_samples_lost_to_a_cut_shard_count_under_the_one_rule_in_train_and_evaluate(tmp_path, monkeypatch, capsys):
    # A cut shard was only a warning in train, none in evaluate, and its lost samples counted for nothing:
    # half a data set lost was trained on. The rule: at most 1% of the images listed (of at least 100).
    pytest.importorskip("torch")
    image_folder(tmp_path / "imgs", splits=("",), per_class=(34,))  # 102 listed: 1 may be lost (int(1% of 102))
    pack(tmp_path / "imgs", tmp_path / "shards")
    net = tmp_path / "tiny.yaml"
    net.write_text("input: 8x8x3\nlayers: [conv f=3 p=same n=2 act=relu, pool max f=2, fc 3]\n")
    common = ["--epochs", "1", "--device", "cpu", "--batch-size", "16"]
    code, _, err = run_main(monkeypatch, capsys, "train", str(net), "--data", str(tmp_path / "shards"), *common,
                            "--out", str(tmp_path / "run"))  # fmt: skip
    assert code == 0, err
    one = cut_at_image(tmp_path / "shards", tmp_path / "one", 101)  # the last sample lost: within the rule
    assert "(1 of the 102 samples index.json lists), counted as unreadable images;" in one
    code, out, err = run_main(monkeypatch, capsys, "train", str(net), "--data", str(tmp_path / "one"), *common,
                              "--out", str(tmp_path / "run-one"))  # fmt: skip
    assert code == 0, err
    assert one in out.splitlines()  # a warning of its own, as train tells its data's caveats
    # evaluate says what train said, in its words, on stderr: streamed (--data) and held (the run's own data)
    for args in ([str(tmp_path / "run"), "--data", str(tmp_path / "one")], [str(tmp_path / "run-one")]):
        code, out, err = run_main(monkeypatch, capsys, "evaluate", *args, "--device", "cpu")
        assert code == 0, err
        assert err.splitlines() == [one]
        # and counts it apart from unreadable images (once counted as none: images_skipped 0 and nothing said)
        assert "; 1 sample of its shards lost to a cut (listed in index.json past it)" in out
        code, out, err = run_main(monkeypatch, capsys, "evaluate", *args, "--device", "cpu", "--format", "json")
        assert code == 0, err
        document = json.loads(out)
        assert (document["images_skipped"], document["samples_lost_to_cuts"]) == (0, 1)
    three = cut_at_image(tmp_path / "shards", tmp_path / "three", 99)  # 3 lost of 102: past the rule
    assert "(3 of the 102 samples index.json lists), counted as unreadable images;" in three
    assert "(3 of the 102 samples index.json lists), counted as unreadable images;" in three
    refusal = "(up to 1 may be: 1% of the images listed): 3 samples index.json lists beyond a shard's cut"
    for stream in ("--no-stream", "--stream"):
        code, out, err = run_main(monkeypatch, capsys, "train", str(net), "--data", str(tmp_path / "three"),
                                  *common, stream, "--out", str(tmp_path / f"run{stream}"))  # fmt: skip
        assert code == 2 and "3 of the 102 images listed" in err and refusal in err and "Traceback" not in err, err
        assert "skipped.txt" not in err and "copy or write a shard cut short again" in err  # none named: lost
    code, out, err = run_main(monkeypatch, capsys, "evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "three"),
                              "--device", "cpu")  # fmt: skip
    assert code == 2 and "3 of the 102 images listed" in err and refusal in err and "Traceback" not in err, err


def test_a_pack_killed_leaves_no_shard_cut_and_is_told_as_interrupted_by_train_and_pack(tmp_path, monkeypatch, capsys):
    # Once: `cnnctl pack` killed (kill -9) left its shards under their final names, the last one cut, no
    # index.json; training used the part, and a second pack said only "holds shards already". Now a shard
    # takes its name once whole, and the folder's marker tells train and pack what happened.
    import subprocess

    image_folder(tmp_path / "img")
    out = tmp_path / "out"
    kill = (  # the process ends at once, as kill -9 ends it: no cleanup runs
        "import os, sys\n"
        "from cnnctl.data.pack import pack\n"
        "def stop(done, total):\n"
        "    if done == 20:\n"
        "        os._exit(9)\n"
        f"pack({str(tmp_path / 'img')!r}, {str(out)!r}, 16 * 1024, 0, stop)\n"
    )
    done = subprocess.run([sys.executable, "-c", kill], capture_output=True, text=True, timeout=60)
    assert done.returncode == 9, done.stderr
    left = sorted(os.listdir(out))
    assert ".cnnctl-packing" in left and "index.json" not in left, left
    shards = [name for name in left if name.endswith(".tar")]
    assert shards and all(not name.startswith(".") for name in shards), left
    for name in shards:  # each shard under its own name is whole: every member read to its end
        with tarfile.open(out / name) as tar:
            assert all(tar.extractfile(m).read() is not None for m in tar.getmembers() if m.isfile())
    assert any(name.endswith(".tar.part") for name in left), left  # the one being written, under its own name
    said = error(str(out))
    assert "an interrupted `cnnctl pack` (its .cnnctl-packing is there" in said and "run `cnnctl pack` again" in said
    code, stdout, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(out))
    assert code == 2 and stdout == "" and err.count("error:") == 1, err
    assert f"error: {out}: the folder holds an interrupted `cnnctl pack`" in err and "to start over" in err, err
    assert sorted(os.listdir(out)) == left  # nothing written over
    for name in left:  # what the hint says to remove
        (out / name).unlink()
    code, stdout, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(out))
    assert code == 0, err
    assert "index.json" in os.listdir(out) and ".cnnctl-packing" not in os.listdir(out)
    assert not [name for name in os.listdir(out) if name.endswith(".part")]


def test_shards_named_as_pack_names_them_without_index_json_are_warned_of_and_refused_by_pack(
    tmp_path, monkeypatch, capsys
):
    # A pack older than its marker, killed: only the shards' names and the missing index.json say so.
    # Another tool may name its shards so too: training warns; pack, which never overwrites, says why.
    image_folder(tmp_path / "img")
    pack(tmp_path / "img", tmp_path / "whole")
    out = tmp_path / "out"
    out.mkdir()
    (out / "train-000000.tar").write_bytes((tmp_path / "whole" / "train-000000.tar").read_bytes())
    shards = shard_splits(str(out))
    assert any(note.startswith(f"warning: {out} looks like an interrupted `cnnctl pack`") for note in shards.notes)
    code, _, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(out))
    assert code == 2 and "the folder holds an interrupted `cnnctl pack` (its shards are named as" in err, err
    (out / "classes.txt").write_text("\n".join(CLASSES) + "\n")  # classes beside: shards of their own, not told
    assert not any("interrupted" in note for note in shard_splits(str(out)).notes)
