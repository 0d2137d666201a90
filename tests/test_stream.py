"""Streaming image folders (cnnctl.train.stream, cnnctl.data.loader): the same batches as data held in memory,
disjoint shares for every rank and loader worker, exact resume, unreadable files skipped."""

import sys

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
ImageFilter = pytest.importorskip("PIL.ImageFilter")

import cnnctl  # noqa: E402
from cnnctl.cli import run as run_cli  # noqa: E402
from cnnctl.data import load_data  # noqa: E402
from cnnctl.data.decode import area_box, centre_box, decode_box  # noqa: E402
from cnnctl.data.loader import Recipe, Skipped, decode_all  # noqa: E402
from cnnctl.data.stats import given  # noqa: E402
from cnnctl.train.batches import Batches  # noqa: E402
from cnnctl.train.checkpoint import load_checkpoint  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from cnnctl.train.stream import Stream  # noqa: E402
from tests.helpers import ruff_objections  # noqa: E402

CPU = torch.device("cpu")
NET = """name: tiny
input: 8x8x3
layers:
  - conv f=3 n=4 p=1
  - bn
  - relu
  - pool avg global
  - fc 3
"""
PLAIN = given((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 3, "the test")  # x / 255: a batch's pixels say which images


def coded_folder(root, n=90, classes=3, sizes=((12, 12), (10, 14), (16, 9))):
    """`n` PNGs in `classes` class folders; image i is one colour, (i % 256, i // 256, 7 i % 256):
    a decoded, resized image still says which file it was."""
    for i in range(n):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        w, h = sizes[i % len(sizes)]
        Image.new("RGB", (w, h), (i % 256, i // 256, 7 * i % 256)).save(folder / f"{i:05d}.png")
    return root


def ids(x: torch.Tensor) -> list[int]:
    """The image numbers of a batch normalised with PLAIN (x / 255)."""
    pixels = (x[:, :, 0, 0] * 255).round().long()
    return (pixels[:, 0] + 256 * pixels[:, 1]).tolist()


def test_a_stream_gives_the_batches_of_the_same_data_held_in_memory(tmp_path):
    folder = coded_folder(tmp_path / "imgs")
    streamed = load_data(str(folder), (8, 8, 3), stream=True, workers=2, stats=PLAIN, seed=3)
    held = load_data(str(folder), (8, 8, 3), stream=False, stats=PLAIN, seed=3)
    assert streamed.streamed is True and held.streamed is False
    assert torch.equal(streamed.train.labels, held.train.y) and torch.equal(streamed.val.labels, held.val.y)
    stream = Stream(streamed.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, seed=3, workers=2)
    memory = Batches(held.train, PLAIN.mean, PLAIN.std, CPU, seed=3)
    for epoch in (0, 1):
        pairs = list(zip(stream.epoch(epoch, 0, 16, 0, 1), memory.epoch(epoch, 0, 16, 0, 1), strict=True))
        assert len(pairs) == 81 // 16
        for (xs, ys), (xm, ym) in pairs:
            assert torch.equal(xs, xm) and torch.equal(ys, ym)


def test_every_rank_and_loader_worker_reads_its_own_images_and_together_all_of_them(tmp_path):
    folder = coded_folder(tmp_path / "imgs", n=103)
    data = load_data(str(folder), (8, 8, 3), stream=True, workers=0, stats=PLAIN, val_split=0.0)
    batch, world = 5, 2
    per_rank = []
    for rank in range(world):
        stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, seed=1, workers=2)
        per_rank.append([ids(x) for x, _ in stream.epoch(4, 0, batch, rank, world)])
    assert len(per_rank[0]) == len(per_rank[1]) == 103 // (batch * world)  # the same steps on every rank
    seen = [i for rank in per_rank for b in rank for i in b]
    assert len(seen) == len(set(seen)) == 100  # no image twice; the 3 left over wait for other epochs
    assert set(seen) <= set(range(103))
    one = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, seed=1, workers=1)
    together = [ids(x) for x, _ in one.epoch(4, 0, batch * world, 0, 1)]
    assert [a + b for a, b in zip(*per_rank, strict=True)] == together  # 2 ranks x 5: the steps of 1 x 10
    shares = [
        ids(x)
        for rank in range(3)
        for x, _ in Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, workers=2).in_order(8, rank, 3)
    ]
    assert sorted(i for b in shares for i in b) == list(range(103))  # evaluation: each image once


def test_random_resized_crops_depend_on_the_image_and_epoch_not_on_the_loader_workers(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(24):
        (folder / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        gradient = Image.linear_gradient("L").resize((40 + i, 30)).convert("RGB")
        gradient.save(folder / f"c{i % 2}" / f"{i}.jpg", quality=95)
    data = load_data(str(folder), (8, 8, 3), stream=True, workers=0, stats=PLAIN, val_split=0.0)

    def epoch(workers, e=0):
        stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, seed=5, workers=workers,
                        recipe=Recipe("rrc"))  # fmt: skip
        return torch.cat([x for x, _ in stream.epoch(e, 0, 6, 0, 1)])

    none, two = epoch(0), epoch(2)
    assert torch.equal(none, two)
    assert not torch.equal(none, epoch(0, e=1))  # another epoch, other crops


def test_a_crop_box_reads_what_a_full_decode_then_crop_reads(tmp_path):
    """decode_box reduces a large JPEG while decoding (DCT scaling); the result is the
    crop of the whole image, resized: compared with Pillow decoding all of it."""
    path = tmp_path / "big.jpg"
    Image.linear_gradient("L").resize((1600, 1200)).convert("RGB").save(path, quality=95)
    box = centre_box(32, 32, 224 / 256)
    fast = decode_box(str(path), (32, 32, 3), box)
    with Image.open(path) as im:
        whole = im.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR, box=box(1600, 1200))
    reference = torch.frombuffer(bytearray(whole.tobytes()), dtype=torch.uint8).view(32, 32, 3).permute(2, 0, 1)
    assert fast.shape == (3, 32, 32)
    assert (fast.float() - reference.float()).abs().mean() < 3  # reduced by 8 while decoding, still the same picture
    left, top, right, bottom = area_box(0.25, 0.0, 0.5, 0.5)(1600, 1200)
    assert (right - left) * (bottom - top) == pytest.approx(0.25 * 1600 * 1200)  # a quarter of the area, square
    assert (left + right) / 2 == pytest.approx(800) and right - left == pytest.approx(bottom - top)


def test_unreadable_images_are_skipped_named_and_counted_until_too_many(tmp_path):
    folder = coded_folder(tmp_path / "imgs", n=300)
    (folder / "class0" / "00000.png").write_bytes(b"not a png")
    data = load_data(str(folder), (8, 8, 3), stream=True, workers=0, stats=PLAIN, val_split=0.0)
    skipped = Skipped(tmp_path / "skipped.txt")
    stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, workers=2, skipped=skipped)
    got = [i for x, _ in stream.epoch(0, 0, 10, 0, 1) for i in ids(x)]
    assert 0 not in got and len(got) == 299  # 30 steps of 10, one image short
    assert skipped.epoch_bad == 1 and "00000.png" in (tmp_path / "skipped.txt").read_text()
    for i in range(1, 5):  # 5 of 300 unreadable: more than 1%
        (folder / f"class{i % 3}" / f"{i:05d}.png").write_bytes(b"")
    stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, workers=0, skipped=Skipped())
    with pytest.raises(cnnctl.CnnctlError, match=r"could not be decoded \(up to 1 may be: 1% of the images listed"):
        list(stream.epoch(0, 0, 10, 0, 1))


def test_images_gone_since_the_listing_are_told_as_gone_not_damaged(tmp_path):
    folder = coded_folder(tmp_path / "imgs", n=30)
    data = load_data(str(folder), (8, 8, 3), stream=True, workers=0, stats=PLAIN, val_split=0.0)  # listed
    for i in (0, 3):
        (folder / "class0" / f"{i:05d}.png").unlink()
    stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, workers=0, skipped=Skipped())
    with pytest.raises(cnnctl.CnnctlError) as caught:
        list(stream.epoch(0, 0, 10, 0, 1))
    (problem,) = caught.value.problems
    gone = folder / "class0" / "00000.png"
    assert problem.message.startswith(
        f"2 files the run listed are gone since it started (e.g. {gone}): at least 2 of the "
    )
    assert "(up to 1 may be: 1% of the images listed, a set of fewer than 100 counted as 100)" in problem.message
    assert problem.hint.startswith("put them back, or start a new run") and "remove" not in problem.hint
    (tmp_path / "skipped.txt").write_text(f"{gone}: cannot read the image: no such file\n")
    assert Skipped(tmp_path / "skipped.txt").gone == [str(gone)]  # a resumed run knows them from its file


def test_a_streamed_run_resumes_exactly_with_crops_flips_and_loader_workers(tmp_path):
    folder = coded_folder(tmp_path / "imgs", n=120)

    def run(name, **kw):
        config = TrainConfig(epochs=2, batch_size=8, seed=3, device="cpu", out=str(tmp_path / name), stream=True,
                             workers=2, augment="rrc,flip", data=str(folder))  # fmt: skip
        return train(cnnctl.load_text(NET), config, network_title="tiny", **kw)

    whole = run("whole")
    stopped = run("stopped", stop_after_steps=17)  # 13 steps an epoch: in the middle of the second
    assert stopped.status != 0 and (stopped.run_dir / "data-index.pt").is_file()
    resumed = run("stopped", resume=str(stopped.run_dir))
    assert resumed.status == 0
    a, b = load_checkpoint(whole.run_dir)["model"], load_checkpoint(resumed.run_dir)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_choice_between_memory_and_stream_is_said_and_can_be_forced(tmp_path, monkeypatch):
    import cnnctl.data.streamed as streamed

    folder = coded_folder(tmp_path / "imgs", n=30)
    monkeypatch.setattr(streamed, "available_memory", lambda: 10 * 2**30)
    data = load_data(str(folder), (8, 8, 3), stats=PLAIN)
    assert data.streamed is False and any(n.startswith("held in memory: 30 images at 8x8x3") for n in data.notes)
    monkeypatch.setattr(streamed, "available_memory", lambda: 8 * 8 * 3 * 30)  # half of it is less than the set
    data = load_data(str(folder), (8, 8, 3), stats=PLAIN)
    assert data.streamed is True and any("streamed from disk: 30 images" in n for n in data.notes)
    data = load_data(str(folder), (8, 8, 3), stats=PLAIN, stream=False)
    assert data.streamed is False and any("(--no-stream)" in n for n in data.notes)


def test_statistics_of_a_stream_come_from_its_images(tmp_path):
    folder = coded_folder(tmp_path / "imgs", n=40)
    data = load_data(str(folder), (8, 8, 3), stream=True, workers=0, val_split=0.0)
    x, _ = decode_all(data.train, (8, 8, 3), workers=0)
    red = torch.tensor([i % 256 for i in range(40)], dtype=torch.float64) / 255
    assert data.mean[0] == pytest.approx(float(red.mean()), abs=1e-6)  # every pixel of image i is i / 255
    blue = torch.tensor([7 * i % 256 for i in range(40)], dtype=torch.float64) / 255
    assert data.mean[2] == pytest.approx(float(blue.mean()), abs=1e-6) and x.shape == (40, 3, 8, 8)
    assert data.std[0] == pytest.approx(float(red.std(unbiased=False)), abs=1e-6)


def test_train_streams_from_the_command_line_and_resumes_from_the_kept_list(tmp_path, capsys):
    folder = coded_folder(tmp_path / "imgs", n=60)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    code = run_cli(["train", str(net), "--data", str(folder), "--stream", "--workers", "1", "--epochs", "1",
                    "--batch-size", "8", "--out", str(run), "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "streamed from disk (--stream): 60 images at 8x8x3" in out.out and "1 loader process" in out.out
    assert f"data: listed 60 images of 3 classes in {folder}" in out.out
    code = run_cli(["train", "--resume", str(run), "--epochs", "2", "--device", "cpu"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "the list of images read back from" in out.out
    assert "listed" not in out.out  # nothing is listed: `listed 60 images` came before `read back` (said once)


def test_evaluate_streams_a_streamed_run_and_scores_as_its_last_validation(tmp_path, capsys):
    import json

    folder = coded_folder(tmp_path / "imgs", n=60)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", str(folder), "--stream", "--workers", "0", "--epochs", "1", "--batch-size", "8"]
    assert run_cli(["train", str(net), *args, "--augment", "rrc", "--out", str(run), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert run_cli(["evaluate", str(run), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert result["examples"] == 6  # 10% of 60 held out, as in training
    assert result["accuracy"] == pytest.approx(history[-1]["val_accuracy"])  # the same centre crops, the same weights
    assert run_cli(["evaluate", str(run), "--split", "all", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 60


def test_evaluate_csv_ends_in_an_overall_row_with_what_the_json_says(tmp_path, capsys):
    # The per-class CSV once lacked the overall accuracy and loss, the split and the weights: its
    # `overall` row has them as the JSON does, and the matrix's column sums as its predicted counts.
    import csv
    import io
    import json

    folder = coded_folder(tmp_path / "imgs", n=30)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", str(folder), "--epochs", "1", "--batch-size", "8", "--out", str(run), "--device", "cpu"]
    assert run_cli(["train", str(net), *args]) == 0
    capsys.readouterr()
    assert run_cli(["evaluate", str(run), "--split", "all", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert run_cli(["evaluate", str(run), "--split", "all", "--format", "csv"]) == 0
    *classes, overall = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert [r["class"] for r in classes] == report["classes"] and (overall["row"], overall["class"]) == ("overall", "")
    assert {r["row"] for r in classes} == {"class"}
    assert all(r["loss"] == r["split"] == r["data"] == r["data_words"] == r["weights"] == "" for r in classes)
    assert int(overall["examples"]) == report["examples"] == 30 == sum(int(r["examples"]) for r in classes)
    assert float(overall["accuracy"]) == report["accuracy"] and float(overall["loss"]) == report["loss"]
    assert (overall["split"], overall["data"], overall["data_words"], overall["weights"]) == (
        "all", report["data"], report["data_words"], report["weights"])  # fmt: skip
    for k, name in enumerate(report["classes"]):
        assert int(overall[f"predicted_{name}"]) == sum(row[k] for row in report["confusion"])


def test_predict_reads_a_large_folder_in_loader_processes_with_the_same_answers(tmp_path, capsys, monkeypatch):
    import json

    import cnnctl.train.predict as predict

    folder = coded_folder(tmp_path / "imgs", n=45)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", str(folder), "--epochs", "1", "--batch-size", "8", "--out", str(run), "--device", "cpu"]
    assert run_cli(["train", str(net), *args]) == 0
    (folder / "class1" / "00001.png").write_bytes(b"broken")
    capsys.readouterr()

    def predicted(many: int) -> list:
        monkeypatch.setattr(predict, "MANY_IMAGES", many)
        run_cli(["predict", str(run), str(folder / "class1"), "--format", "json"])
        return json.loads(capsys.readouterr().out)["predictions"]

    alone, workers = predicted(10**9), predicted(4)  # 15 images: read here, then by loader processes
    assert alone == workers and len(alone) == 15
    assert [p["image"].endswith("00001.png") for p in alone if "error" in p] == [True]  # the broken one, told
    assert all(len(p["top"]) == 3 for p in alone if "error" not in p)


# -- shards ----------------------------------------------------------------------------------------


def packed(tmp_path, n=120):
    from cnnctl.data.pack import pack

    folder = coded_folder(tmp_path / "imgs", n=n)
    pack(folder, tmp_path / "shards", 8 * 1024 * 10)  # a few shards of about 80 KB
    return folder, tmp_path / "shards"


def test_shards_stream_every_image_once_an_epoch_in_a_seeded_order_read_forward(tmp_path):
    from cnnctl.train.stream import epoch_order

    _, shards = packed(tmp_path)
    data = load_data(str(shards), (8, 8, 3), stream=True, workers=0, stats=PLAIN, val_split=0.0)
    assert data.streamed and data.train.kind == "shards" and len(data.train.names) > 3
    stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, seed=2, workers=2)
    seen = [i for x, _ in stream.in_order(16, 0, 1) for i in ids(x)]
    assert sorted(seen) == list(range(120))  # every image of the folder, read back from the shards
    first = epoch_order(data.train, 2, 0)
    assert sorted(first.tolist()) == list(range(120)) and not torch.equal(first, epoch_order(data.train, 2, 1))
    assert torch.equal(first, epoch_order(data.train, 2, 0))
    # Within each window of images (all of them here: fewer than one window), one shard after another.
    shard_of = data.train.shard[first]
    assert sorted(set(shard_of.tolist())) == list(range(len(data.train.names)))


def test_a_run_on_shards_resumes_exactly(tmp_path):
    _, shards = packed(tmp_path)

    def run(name, **kw):
        config = TrainConfig(epochs=2, batch_size=8, seed=3, device="cpu", out=str(tmp_path / name), stream=True,
                             workers=2, augment="rrc,flip", data=str(shards))  # fmt: skip
        return train(cnnctl.load_text(NET), config, network_title="tiny", **kw)

    whole = run("whole")
    stopped = run("stopped", stop_after_steps=17)
    resumed = run("stopped", resume=str(stopped.run_dir))
    assert stopped.status != 0 and resumed.status == 0
    a, b = load_checkpoint(whole.run_dir)["model"], load_checkpoint(resumed.run_dir)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_shards_held_in_memory_are_the_folders_images(tmp_path):
    folder, shards = packed(tmp_path, n=60)
    held = load_data(str(shards), (8, 8, 3), stream=False, stats=PLAIN, val_split=0.0)
    direct = load_data(str(folder), (8, 8, 3), stream=False, stats=PLAIN, val_split=0.0)
    assert held.streamed is False and len(held.train) == 60
    pixels = lambda d: sorted(ids(d.train.x.float() / 255))  # noqa: E731
    assert pixels(held) == pixels(direct) == list(range(60))
    assert sorted(held.train.y.tolist()) == sorted(direct.train.y.tolist())


def test_a_folder_too_large_to_hold_says_it_can_stream(tmp_path, monkeypatch):
    import cnnctl.data.adapt as adapt

    folder = coded_folder(tmp_path / "imgs", n=30)
    monkeypatch.setattr(adapt, "MAX_BYTES", 8 * 8 * 3 * 29)  # one image too many
    with pytest.raises(cnnctl.CnnctlError) as caught:
        load_data(str(folder), (8, 8, 3), stream=False, stats=PLAIN)
    assert "30 images at 8x8x3" in str(caught.value) and "--stream reads them from disk" in str(caught.value)


def test_the_largest_seed_draws_crops_and_flips_in_memory_and_in_the_loader():
    """The draws' generator took (seed * 1,000,003 + epoch) * 1,000,000,007 + place, more
    than a seed's 63 bits from --seed 9,224 on: `--augment flip` crashed with an overflow."""
    from cnnctl.data.loader import Images, draws_generator
    from cnnctl.data.samples import Samples
    from cnnctl.train.augment import Augment
    from cnnctl.train.settings import MAX_SEED

    x = torch.rand(4, 3, 8, 8)
    out, _ = Augment("rrc,flip", MAX_SEED, torch.zeros(1, 3, 1, 1))(x, torch.arange(4), 99, 10**6, 4, 0)
    assert out.shape == x.shape
    images = Images(Samples.files([], []), (8, 8, 3), Recipe("rrc", flip=True), MAX_SEED)
    assert len(images.draws(99, 10**9)) == 5
    small = draws_generator(3, 1, 5).initial_seed()
    assert small == (3 * 1_000_003 + 1) * 1_000_000_007 + 5  # small seeds draw as they always did


def test_unreadable_images_of_a_folder_held_in_memory_are_judged_at_once_by_the_rule_of_a_stream(tmp_path):
    folder = coded_folder(tmp_path / "imgs", n=30)
    for i in (3, 7):
        (folder / f"class{i % 3}" / f"{i:05d}.png").write_bytes(b"not an image")
    with pytest.raises(cnnctl.CnnctlError) as caught:
        load_data(str(folder), (8, 8, 3), stream=False, stats=PLAIN, val_split=0.0)
    (problem,) = caught.value.problems  # 2 of 30: more than 1% of at least 100, as in a stream
    assert problem.message.startswith("2 of the 30 images listed could not be decoded (up to 1 may be: 1%")
    assert "00003.png: cannot read the image" in problem.message and "00007.png: cannot" in problem.message


def test_a_resumed_stream_names_each_unreadable_image_once_and_evaluate_counts_what_it_scored(tmp_path, capsys):
    import json

    folder = coded_folder(tmp_path / "imgs", n=200)
    (folder / "class0" / "00000.png").write_bytes(b"")
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", str(folder), "--stream", "--workers", "0", "--batch-size", "8", "--device", "cpu"]
    assert run_cli(["train", str(net), *args, "--epochs", "1", "--out", str(run), "--val-split", "0"]) == 0
    assert run_cli(["train", "--resume", str(run), "--epochs", "2", "--device", "cpu"]) == 0
    lines = (run / "skipped.txt").read_text().splitlines()
    assert len(lines) == 1 and "00000.png" in lines[0]  # named once, though read in both epochs
    capsys.readouterr()
    assert run_cli(["evaluate", str(run), "--split", "all", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == 199 == sum(map(sum, result["confusion"]))
    with pytest.raises(cnnctl.CnnctlError) as caught:
        run_cli(["train", "--resume", str(run), "--epochs", "3", "--no-stream", "--device", "cpu"])
    said = str(caught.value)
    assert "--stream cannot change when a run is resumed (it was started with --stream)" in said
    assert "start a new run to train with --no-stream;" in said and "False" not in said


def test_workers_given_for_data_held_in_memory_are_said_to_be_unused(tmp_path, capsys):
    folder = coded_folder(tmp_path / "imgs", n=30)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    args = ["--data", str(folder), "--no-stream", "--workers", "2", "--epochs", "1", "--batch-size", "8"]
    assert run_cli(["train", str(net), *args, "--out", str(tmp_path / "run"), "--device", "cpu"]) == 0
    assert "data: --workers 2 unused: loader processes read streamed data only" in capsys.readouterr().out


def test_a_val_split_given_for_data_with_its_own_validation_split_is_said_to_be_unused(tmp_path, capsys):
    coded_folder(tmp_path / "imgs" / "train", n=24)
    coded_folder(tmp_path / "imgs" / "val", n=6)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    args = ["--data", str(tmp_path / "imgs"), "--epochs", "1", "--batch-size", "8", "--device", "cpu"]
    assert run_cli(["train", str(net), *args, "--out", str(tmp_path / "run"), "--val-split", "0"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--val-split 0 unused: it holds training images out only where the data has no validation" in out, out
    assert "validates on its validation split" in out, out
    assert run_cli(["train", str(net), *args, "--out", str(tmp_path / "run2")]) == 0  # the default: nothing to say
    assert "--val-split" not in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_the_crop_is_resized_as_pillow_resizes_it(mode):
    """resize_box (PyTorch's antialiased uint8 bilinear) against Pillow's BILINEAR resize of
    the same whole-pixel box: shrinking and growing, colour and gray. Inside, within 0.05
    levels on average (the two kernels' fixed-point rounding); on the border row and column
    Pillow's filter also reads the pixels just outside the box, the crop's repeats its edge."""
    from cnnctl.data.decode import pixels, resize_box

    gen = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (120, 160, 3), generator=gen, dtype=torch.uint8)
    image = Image.frombytes("RGB", (160, 120), bytes(noise.flatten().tolist())).filter(ImageFilter.GaussianBlur(1.5))
    image = image.convert(mode)
    x = pixels(image, mode)
    for box, size in [((10.4, 5.6, 130.2, 101.0), (32, 32)), ((3, 4, 23, 19), (40, 56)), ((0, 0, 160, 120), (60, 80))]:
        got = resize_box(x, box, size)
        whole = tuple(float(round(v)) for v in box)
        want = pixels(image.resize(size[::-1], Image.Resampling.BILINEAR, box=whole), mode)
        assert got.shape == want.shape == (len(mode), *size)
        error = (got.float() - want.float()).abs()
        inside = error[:, 1:-1, 1:-1]
        assert inside.mean() < 0.05 and error.max() <= 8, (box, inside.mean(), error.max())


# --- a run killed outright (kill -9): its loader workers end with it, quietly ---------------------------------


def _children(pid: int) -> list[int]:
    """The processes `pid` started (Linux: each of its threads lists its own)."""
    from pathlib import Path

    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _running(pid: int) -> bool:
    """Whether `pid` still runs: one ended but not reaped (a zombie: a container may have no init) does not."""
    from pathlib import Path

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_streamed_run_killed_outright_leaves_no_loader_worker_and_no_traceback(tmp_path):
    # Its workers lived on for 5 s (PyTorch's check between requests), one printing a
    # ConnectionResetError traceback as it read its next request from the killed trainer.
    import os
    import signal
    import subprocess
    import time
    from pathlib import Path

    folder = coded_folder(tmp_path / "imgs", n=120)
    (tmp_path / "tiny.yaml").write_text(NET)
    here = str(Path(cnnctl.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "cnnctl", "train", "tiny.yaml", "--data", str(folder), "--stream", "--workers",
               "2", "--epochs", "100", "--batch-size", "8", "--out", "run", "--device", "cpu"]  # fmt: skip
    err = tmp_path / "stderr.txt"
    with open(err, "w") as stderr:  # a file: the workers share it, and may write after the trainer is gone
        run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        for line in run.stdout:  # the first epoch's line: its workers have served requests, and keep serving
            if line.split()[:1] == ["1"]:
                break
        else:
            pytest.fail(f"the run ended first: {err.read_text()}")
        workers = _children(run.pid)
        time.sleep(0.1)  # within the second epoch: requests in flight
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    assert len(workers) >= 2  # the training stream's two, at least
    deadline = time.monotonic() + 3.0  # PyTorch's own check would take 5 s
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if _running(pid)] == []
    time.sleep(0.2)  # anything a worker wrote as it ended
    assert "Traceback" not in err.read_text() and "Error" not in err.read_text()


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "looks"])
def test_a_loader_worker_knows_when_the_process_it_serves_has_ended(monkeypatch, pidfd):
    # Linux tells through a pidfd; elsewhere (no os.pidfd_open) the worker looks every PARENT_POLL seconds.
    import subprocess

    from cnnctl.data.loader import Maker

    if not pidfd:
        monkeypatch.delattr("os.pidfd_open", raising=False)
    elif not hasattr(__import__("os"), "pidfd_open"):
        pytest.skip("no pidfd here")
    served = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        maker = Maker(served.pid)
        assert maker.ends_within(0) is False and maker.ends_within(0.3) is False
    finally:
        served.kill()
        served.wait()
    assert maker.ends_within(2) is True


# -- the run's validation recipe, followed by every later use of its weights --------------------


def photo_folders(root, n=24):
    """train/ and val/ of 3 classes of noise photos, 24x16 and 16x24 (not the 8x8 input: the
    centre crop and the whole image resized differ), one validation image per class."""
    noise = torch.Generator().manual_seed(0)
    for split, count in (("train", n), ("val", 3)):
        for i in range(count):
            folder = root / split / f"class{i % 3}"
            folder.mkdir(parents=True, exist_ok=True)
            h, w = (16, 24) if i % 2 else (24, 16)
            pixels = torch.randint(0, 256, (h, w, 3), generator=noise, dtype=torch.uint8)
            pixels[:, :, i % 3] //= 4  # a class's colour is darker
            suffix = "jpg" if i % 2 else "png"
            Image.fromarray(pixels.numpy()).save(folder / f"{i:03d}.{suffix}")
    return root


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    """A run that streamed random resized crops of photos: it validated on the centre crop."""
    tmp = tmp_path_factory.mktemp("photo_run")
    folder = photo_folders(tmp / "photos")
    net = tmp / "tiny.yaml"
    net.write_text(NET)
    run = tmp / "run"
    args = ["--data", str(folder), "--stream", "--workers", "0", "--epochs", "1", "--batch-size", "8"]
    assert run_cli(["train", str(net), *args, "--augment", "rrc,flip", "--out", str(run), "--device", "cpu"]) == 0
    return folder, run


def test_a_runs_validation_recipe_is_what_its_settings_record():
    from cnnctl.data.loader import validation_recipe

    assert validation_recipe({"stream": True, "augment": "rrc,flip"}) == Recipe("centre")
    assert validation_recipe({"stream": False, "augment": "rrc,flip"}) == Recipe()  # crops of images held in memory
    assert validation_recipe({"stream": True, "augment": "crop,flip"}) == Recipe()
    assert validation_recipe({}) == Recipe()  # weights from no run


def test_evaluate_reads_any_data_as_the_runs_validation_did(photo_run, tmp_path, capsys):
    import json
    import shutil

    folder, run = photo_run
    config = json.loads((run / "config.json").read_text())
    assert config["stream"] is True and config["augment"] == "rrc,flip"  # recorded: the recipe follows from them
    capsys.readouterr()
    losses = []
    other = tmp_path / "other"
    shutil.copytree(folder / "val", other)  # the same 3 images, as another data set
    for extra in ([], ["--data", str(folder), "--split", "val"], ["--data", str(other)]):
        assert run_cli(["evaluate", str(run), *extra, "--format", "json", "--device", "cpu"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["examples"] == 3
        losses.append(result["loss"])
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses == pytest.approx([history[-1]["val_loss"]] * 3, abs=1e-6)


def test_predict_and_the_exported_preprocess_prepare_an_image_as_the_runs_validation(photo_run, tmp_path, capsys):
    import importlib.util
    import json

    from cnnctl.exchange.export import model_for
    from cnnctl.train.weighted import trained_for_export, weighted_model

    folder, run = photo_run
    graph = cnnctl.load_text(NET)
    loaded = weighted_model(graph, CPU, run)
    stats = loaded.stats
    mean, std = torch.tensor(stats.mean).view(1, 3, 1, 1), torch.tensor(stats.std).view(1, 3, 1, 1)
    image = folder / "val" / "class1" / "001.jpg"
    # The validation tensor: the image as stored, resized to cover 8x8 at 256/224 (9x13), its centre 8x8.
    seen = decode_box(image, (8, 8, 3), centre_box(8, 8, 224 / 256))[None]
    with torch.no_grad():
        expected = torch.softmax(loaded.model((seen.float() / 255 - mean) / std), dim=1)[0]
    capsys.readouterr()
    assert run_cli(["predict", str(run), str(image), "--format", "json", "--device", "cpu"]) == 0
    said = json.loads(capsys.readouterr().out)["predictions"][0]
    got = {top["class"]: top["probability"] for top in said["top"]}
    assert [got[c] for c in ("class0", "class1", "class2")] == pytest.approx(expected.tolist(), abs=1e-6)
    assert "resized so the shorter side is 9, then the centre 8x8" in " ".join(said["adapted"])

    expects = model_for(graph, trained_for_export(graph, run, None, None, None))[2]
    assert "resized so the shorter side is 9, then the centre 8x8" in expects.onnx_props()["cnnctl.adaptation"]
    assert run_cli(["export", str(run), "-o", str(tmp_path / "net.py")]) == 0
    assert not ruff_objections(tmp_path / "net.py")  # as ruff's defaults format it, the copied rules too
    spec = importlib.util.spec_from_file_location("exported_centre", tmp_path / "net.py")
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    assert "shorter side is 9" in source.__doc__.replace("\n", " ")
    torch.testing.assert_close(source.preprocess(Image.open(image)), (seen.float() / 255 - mean) / std)
    torch.testing.assert_close(source.adapt(Image.open(folder / "val" / "class0" / "000.png")),
                               decode_box(folder / "val" / "class0" / "000.png", (8, 8, 3),
                                          centre_box(8, 8, 224 / 256))[None])  # fmt: skip


def test_predict_says_the_centre_crop_of_a_large_image_in_the_order_it_is_done(photo_run, tmp_path, capsys):
    # A 120x40 image for an 8x8 input: the notes said "reduced 120x40 to 40x40 ... as it is more than
    # 4 times the input" (of the whole image, which the input is not made of), then the centre
    # recipe: read in order, a squashed image. What is done is the centre of the image as stored:
    # its shorter side 40 resized to 8 * 256 / 224 would keep the centre 40 * 224 / 256 = 35 pixels a
    # side; 35 is more than 4 * 8, so reduced by blocks of 35 // (2 * 8) = 2: the crop kept in whole
    # blocks, 34x34 (crops.crop_plan), to 17x17, then resized.
    import json

    from cnnctl.data.decode import REDUCE_FROM, REDUCE_TO

    _, run = photo_run
    image = tmp_path / "tall.png"
    Image.new("RGB", (40, 120), (200, 30, 60)).save(image)
    assert run_cli(["predict", str(run), str(image), "--format", "json", "--device", "cpu"]) == 0
    adapted = json.loads(capsys.readouterr().out)["predictions"][0]["adapted"]
    side = 40 * 224 // 256
    block = side // (REDUCE_TO * 8)
    assert side > REDUCE_FROM * 8 and block == 2
    assert len(adapted) == 3 and not any(note.startswith("reduced 120x40") for note in adapted), adapted
    kept = side // block * block  # whole blocks
    assert adapted[0].startswith(f"cropped 120x40 to {kept}x{kept} at (")
    assert adapted[0].endswith("(its centre: resized so the shorter side is 9, then the centre 8x8 (the 256 -> 224 "
                               "recipe))")  # fmt: skip
    reduced = side // block
    assert adapted[1] == (f"reduced {kept}x{kept} to {reduced}x{reduced} (the mean of whole blocks), as it is more "
                          "than 4 times the input")  # fmt: skip
    assert adapted[2] == f"resized {reduced}x{reduced} to 8x8 (bilinear, antialiased)"


@pytest.mark.parametrize("suffix", [".onnx", ".safetensors"])
def test_weights_exported_from_a_streamed_rrc_run_predict_with_its_centre_crop(photo_run, tmp_path, capsys, suffix):
    # The run validated on the centre crop; its exported file says so in `cnnctl.centre`, which
    # `predict NET --weights FILE` reads back: the run's own probabilities, not the whole image's.
    import json

    from cnnctl.exchange.weights import onnx_record, safetensors_record

    folder, run = photo_run
    net = run.parent / "tiny.yaml"
    image = folder / "val" / "class1" / "001.jpg"  # 24x16: its centre crop and the whole image differ
    exported = tmp_path / f"net{suffix}"
    assert run_cli(["export", str(run), "-o", str(exported)]) == 0
    record = (onnx_record if suffix == ".onnx" else safetensors_record)(str(exported))
    assert record["centre"] == 224 / 256
    answers = []
    for source in ([str(run)], [str(net), "--weights", str(exported)]):
        capsys.readouterr()
        assert run_cli(["predict", *source, str(image), "--format", "json", "--device", "cpu"]) == 0
        said = json.loads(capsys.readouterr().out)["predictions"][0]
        assert "resized so the shorter side is 9, then the centre 8x8" in " ".join(said["adapted"])
        answers.append({top["class"]: top["probability"] for top in said["top"]})
    assert sorted(answers[1]) == ["class0", "class1", "class2"]
    assert [answers[1][c] for c in sorted(answers[0])] == pytest.approx([answers[0][c] for c in sorted(answers[0])],
                                                                        abs=1e-5)  # fmt: skip
    # evaluate with the file as the weights scores the validation images as the run's last validation did
    args = [str(net), "--weights", str(exported), "--data", str(folder / "val"), "--format", "json"]
    capsys.readouterr()
    assert run_cli(["evaluate", *args, "--device", "cpu"]) == 0
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(history[-1]["val_loss"], abs=1e-5)


@pytest.fixture(scope="module")
def unnormalised_photo_run(photo_run, tmp_path_factory):
    """photo_run's run as an older cnnctl wrote it: its checkpoints record no mean and std (predict
    then maps pixel values / 255 to -1..1: a mean and std of 0.5)."""
    import shutil

    folder, run = photo_run
    copy = tmp_path_factory.mktemp("unnormalised") / "run"
    shutil.copytree(run, copy)
    for name in ("best.pt", "last.pt"):
        state = torch.load(copy / name, weights_only=True)
        state.pop("mean"), state.pop("std")
        torch.save(state, copy / name)
    return folder, copy, run.parent / "tiny.yaml"


@pytest.mark.parametrize("suffix", [".onnx", ".safetensors"])
def test_weights_exported_without_a_normalisation_keep_the_runs_centre_crop(unnormalised_photo_run, tmp_path, capsys,
                                                                             suffix):  # fmt: skip
    # The crop is the run's validation recipe, whatever its normalisation: the exported file records it in
    # `cnnctl.centre` (and the classes), and predict with the file (given the mean and std predict uses for
    # the run) gives the run's own probabilities, of the centre crop, not of the whole image resized
    import json

    from cnnctl.exchange.weights import onnx_record, safetensors_record

    folder, run, net = unnormalised_photo_run
    image = folder / "val" / "class1" / "001.jpg"  # 24x16: its centre crop and the whole image differ
    exported = tmp_path / f"net{suffix}"
    capsys.readouterr()
    assert run_cli(["export", str(run), "-o", str(exported)]) == 0
    told = capsys.readouterr().out
    assert "no normalisation is known" in told and "then the centre 8x8" in told, told
    assert "preprocess(" not in told  # the PyTorch export has no preprocess() without a mean and std
    record = (onnx_record if suffix == ".onnx" else safetensors_record)(str(exported))
    assert "mean" not in record and record["centre"] == 224 / 256
    halves = ["--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]
    answers = []
    for source in ([str(run)], [str(net), "--weights", str(exported), *halves]):
        capsys.readouterr()
        assert run_cli(["predict", *source, str(image), "--format", "json", "--device", "cpu"]) == 0
        said = json.loads(capsys.readouterr().out)["predictions"][0]
        assert "resized so the shorter side is 9, then the centre 8x8" in " ".join(said["adapted"])
        answers.append({top["class"]: top["probability"] for top in said["top"]})
    assert sorted(answers[1]) == sorted(answers[0])
    assert [answers[1][c] for c in sorted(answers[0])] == pytest.approx([answers[0][c] for c in sorted(answers[0])],
                                                                        abs=1e-5)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0.875", 'is not {"recipe": "centre", "share": S}'),
        ('{"recipe": "fit", "share": 0.5}', 'is not {"recipe": "centre", "share": S}'),
        ('{"recipe": "centre", "share": "7/8"}', 'is not {"recipe": "centre", "share": S}'),
        ('{"recipe": "centre", "share": true}', 'is not {"recipe": "centre", "share": S}'),
        ('{"recipe": "centre", "share": 0}', "holds the share `0`"),
        ('{"recipe": "centre", "share": 1.5}', "holds the share `1.5`"),
        ('{"recipe": "centre", "share": NaN}', "holds the share `NaN`"),
        ('{"recipe": "centre", "share": -Infinity}', "holds the share `-Infinity`"),
        ('{"recipe": "centre", "share": 1' + "0" * 400 + "}", "holds the share `1000"),
        ("{", "is not JSON"),
    ],
)
def test_a_bad_centre_crop_in_exported_metadata_is_one_message_at_its_key(value, said):
    from cnnctl.errors import CnnctlError
    from cnnctl.exchange.preprocessing import recorded_in_onnx

    with pytest.raises(CnnctlError) as caught:
        recorded_in_onnx({"cnnctl.centre": value}, "net.onnx")
    (problem,) = caught.value.problems
    assert problem.message.startswith("its metadata `cnnctl.centre` ") and said in problem.message
    assert problem.loc.file == "net.onnx"
    assert recorded_in_onnx({"cnnctl.centre": '{"recipe": "centre", "share": 1}'}, "net.onnx") == {"centre": 1.0}


def test_evaluate_on_other_data_leaves_unreadable_images_out_as_a_stream_does(photo_run, tmp_path, capsys):
    import json

    _, run = photo_run
    other = coded_folder(tmp_path / "other", n=120)
    (other / "class0" / "00000.png").write_bytes(b"\xff\xd8\xff\xe0garbage")  # 1 of 120: within the 1%
    capsys.readouterr()
    assert run_cli(["evaluate", str(run), "--data", str(other), "--format", "json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == 119 == sum(map(sum, result["confusion"]))
    assert run_cli(["evaluate", str(run), "--data", str(other), "--device", "cpu"]) == 0
    assert "1 unreadable image left out" in capsys.readouterr().out
    for i in (3, 6):  # 3 of 120: more than 1%, the run's own rule
        (other / "class0" / f"{i:05d}.png").write_bytes(b"")
    with pytest.raises(cnnctl.CnnctlError) as caught:
        run_cli(["evaluate", str(run), "--data", str(other), "--device", "cpu"])
    said = str(caught.value)
    assert "3 of the 120 images listed could not be decoded (up to 1 may be: 1% of the images listed)" in said
    assert "--stream" not in said  # evaluate has no such option


def test_a_stream_without_validation_says_nothing_of_validation_images(tmp_path, capsys):
    # `no validation: --val-split 0 ...` was followed by how the validation images are read
    folder = coded_folder(tmp_path / "imgs", n=24)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    args = ["--data", str(folder), "--stream", "--workers", "0", "--epochs", "1", "--batch-size", "8"]
    args += ["--device", "cpu"]
    assert run_cli(["train", str(net), *args, "--val-split", "0", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "data: no validation: --val-split 0 trains on every image" in out and "24 train, no validation" in out
    assert "validation images" not in out and "training images: each adapted to 8x8" in out
    assert run_cli(["train", str(net), *args, "--out", str(tmp_path / "run2")]) == 0  # held out: both said
    assert "data: validation images: each adapted to 8x8" in capsys.readouterr().out


# -- the one rule for unreadable images: a share of the images listed, not of those read so far -------------


def spoil(folder, numbers, classes=3):
    """Image `i` of coded_folder's for each of `numbers` made unreadable (its bytes no PNG)."""
    for i in numbers:
        (folder / f"class{i % classes}" / f"{i:05d}.png").write_bytes(b"not a png")


def test_whether_unreadable_images_stop_a_stream_does_not_depend_on_the_seed(tmp_path):
    # 3 of 300 listed is 1%: never more, whichever order an epoch reads them in. The rule once
    # took the share of the images read so far, of at least 100: two of them among the first
    # 200 read (most orders) stopped the run, which went on with another seed.
    folder = coded_folder(tmp_path / "imgs", n=300)
    spoil(folder, (1, 2, 3))
    data = load_data(str(folder), (8, 8, 3), stream=True, workers=0, stats=PLAIN, val_split=0.0)
    for seed in range(6):
        stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, seed=seed, workers=0)
        assert sum(len(y) for _, y in stream.epoch(0, 0, 10, 0, 1)) == 297
        assert stream.skipped.epoch_bad == 3
    spoil(folder, (4,))  # 4 of 300: more than 1%, refused with every seed, each named once
    for seed in range(3):
        stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, seed=seed, workers=0)
        with pytest.raises(cnnctl.CnnctlError, match="4 of the 300 images listed could not be decoded"):
            list(stream.epoch(0, 0, 10, 0, 1))


def test_a_known_unreadable_image_is_counted_once_whatever_reads_it_again(tmp_path):
    from cnnctl.errors import Problem

    bad = [(f"{i}.png", Problem("cannot read the image")) for i in range(3)]
    skipped = Skipped(tmp_path / "skipped.txt", listed=300)  # 1% of 300: 3 may be unreadable
    for _ in range(5):  # five epochs read the same three
        skipped.add(bad)
    resumed = Skipped(tmp_path / "skipped.txt", listed=300)  # a resumed run: its file read back
    resumed.add(bad)
    assert len(resumed.names) == 3 and resumed.epoch_bad == 3
    with pytest.raises(cnnctl.CnnctlError, match="4 of the 300 images listed"):
        resumed.add([("3.png", Problem("cannot read the image"))])


def test_a_streamed_run_with_unreadable_images_resumes_as_it_would_have_gone_on(tmp_path):
    # Resumed, the run read its skipped.txt back but counted the images read from zero: the
    # three it knew were more than 1% of "the images read" at the first unreadable one again.
    folder = coded_folder(tmp_path / "imgs", n=300)
    spoil(folder, (1, 2, 3))  # 1% of the 300 listed

    def run(name, epochs=2, **kw):
        config = TrainConfig(epochs=epochs, batch_size=32, seed=3, device="cpu", out=str(tmp_path / name),
                             stream=True, workers=0, data=str(folder))  # fmt: skip
        return train(cnnctl.load_text(NET), config, network_title="tiny", **kw)

    whole = run("whole")
    assert whole.status == 0
    stopped = run("stopped", stop_after_steps=12)  # 9 steps an epoch: Ctrl-C in the second
    assert stopped.status != 0
    resumed = run("stopped", resume=str(stopped.run_dir))
    shorter = run("extended", epochs=1)  # then --resume --epochs 2
    extended = run("extended", resume=str(shorter.run_dir))
    assert resumed.status == 0 and extended.status == 0
    a = load_checkpoint(whole.run_dir)["model"]
    for other in (resumed, extended):
        b = load_checkpoint(other.run_dir)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert len((other.run_dir / "skipped.txt").read_text().splitlines()) == 3  # each named once


def test_an_epoch_resumed_in_its_middle_counts_the_unreadable_images_skipped_before_it_stopped(tmp_path, capsys):
    # Once: the resumed epoch's `... unreadable images this epoch` counted only those read since
    # the resume; the mid-epoch checkpoint now holds the epoch's count so far. And the same files,
    # skipped again in every epoch, were said under every row: said once, by the epoch that found them.
    folder = coded_folder(tmp_path / "imgs", n=300)
    spoil(folder, (1, 2, 3))  # each read once an epoch: 3 skipped in every epoch, found in the first

    def run(name, **kw):
        config = TrainConfig(epochs=2, batch_size=32, seed=3, device="cpu", out=str(tmp_path / name),
                             stream=True, workers=0, data=str(folder), val_split=0.0)  # fmt: skip
        result = train(cnnctl.load_text(NET), config, network_title="tiny", **kw)
        return result, [line for line in capsys.readouterr().out.splitlines() if "this epoch" in line]

    whole, whole_said = run("whole")
    assert whole.status == 0 and whole_said == [
        f"found 3 unreadable images this epoch, left out of every epoch (named in {whole.run_dir / 'skipped.txt'})"
    ]
    stopped, _ = run("stopped", stop_after_steps=7)  # 9 steps an epoch: stopped after step 7 of the first
    assert stopped.status != 0 and load_checkpoint(stopped.run_dir)["epoch_skipped"] > 0  # some found before it
    resumed, said = run("stopped", resume=str(stopped.run_dir))
    assert resumed.status == 0 and said == [whole_said[0].replace("whole", "stopped")]
    assert resumed.data["images_skipped"] == whole.data["images_skipped"] == 3


def test_evaluate_scores_the_validation_split_its_run_scored_with_unreadable_images_left_out(tmp_path, capsys):
    import json

    # 2 of the 30 validation images, 1% of the run's 300: training took them; evaluate judged them
    # against its own 30 (of at least 100) and refused the run's own split.
    coded_folder(tmp_path / "data" / "train", n=270)
    coded_folder(tmp_path / "data" / "val", n=30)
    spoil(tmp_path / "data" / "val", (1, 2))
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", str(tmp_path / "data"), "--stream", "--workers", "0", "--epochs", "1", "--batch-size", "32"]
    assert run_cli(["train", str(net), *args, "--out", str(run), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert run_cli(["evaluate", str(run), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (
        result["examples"] == 28
        and result["images_skipped"] == 2
        and "2 unreadable images left out" in result["data_words"]
    )


def test_a_resume_that_fails_before_it_changed_anything_leaves_a_killed_run_told_as_killed(tmp_path, capsys):
    import json

    from cnnctl.render.runs import runs_table
    from cnnctl.run_folders import list_runs

    folder = coded_folder(tmp_path / "imgs", n=120)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "runs" / "run"
    args = ["--data", str(folder), "--stream", "--workers", "0", "--batch-size", "8", "--device", "cpu"]
    assert run_cli(["train", str(net), *args, "--epochs", "1", "--out", str(run)]) == 0
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps(status | {"status": "running"}))  # as kill -9 leaves it
    spoil(folder, range(5))  # 5 of 120 listed: the resume is refused at its first batches, at the second found
    with pytest.raises(cnnctl.CnnctlError, match="2 of the 120 images listed"):
        run_cli(["train", "--resume", str(run), "--epochs", "2", "--device", "cpu"])
    capsys.readouterr()
    (info,) = list_runs(str(tmp_path / "runs"))
    assert info.status == "killed"  # not `failed`: the resume changed nothing of the run
    assert info.reason.startswith("a --resume failed: at least 2 of the 120 images listed could not be decoded")
    table = runs_table(str(tmp_path / "runs"), [info])
    assert table.rows[0][7] == "killed: " + info.reason[:31] + "…"  # the status column: 32 characters of why
    assert f"run: killed: {info.reason}" in table.notes


def test_more_workers_than_cores_is_one_cnnctl_note_not_pytorchs_raw_warning(tmp_path):
    import os
    import subprocess
    from pathlib import Path

    from cnnctl.data.loader import cores
    from cnnctl.limits import MAX_LOADER_WORKERS

    workers = cores() + 1
    if workers > MAX_LOADER_WORKERS:
        pytest.skip(f"{cores()} usable cores: --workers {workers} is above cnnctl's most")
    folder = coded_folder(tmp_path / "imgs", n=60)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "cnnctl", "train", str(net), "--data", str(folder), "--stream",
                           "--workers", str(workers), "--epochs", "1", "--batch-size", "8", "--device", "cpu",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "UserWarning" not in done.stderr and "This DataLoader will create" not in done.stderr, done.stderr
    usable = f"{cores()} usable core{'s' if cores() != 1 else ''}"
    assert done.stdout.count(f"data: --workers {workers} on {usable}: the loader processes take turns") == 1


def test_a_stream_with_more_workers_than_cores_warns_nothing_whatever_the_callers_warnings_filters(tmp_path):
    # Once a warnings filter set when cnnctl.data.loader was imported: lost where the caller
    # resets its filters (pytest, around each test), PyTorch's raw warning came back.
    import warnings

    from cnnctl.data.loader import cores
    from cnnctl.limits import MAX_LOADER_WORKERS

    workers = cores() + 1
    if workers > MAX_LOADER_WORKERS:
        pytest.skip(f"{cores()} usable cores: {workers} loader processes are above cnnctl's most")
    data = load_data(str(coded_folder(tmp_path / "imgs", n=12)), (8, 8, 3), stream=True, workers=workers,
                     stats=PLAIN, val_split=0.0)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning shown, none filtered: as a caller's defaults may be
        stream = Stream(data.train, (8, 8, 3), PLAIN.mean, PLAIN.std, CPU, workers=workers)
        assert sum(len(y) for _, y in stream.epoch(0, 0, 4, 0, 1)) == 12
    assert not [str(w.message) for w in caught if "worker processes" in str(w.message)]


def test_a_streams_training_images_line_says_the_padded_crop_done_on_the_device(tmp_path, capsys):
    # `--augment crop,flip` streamed: the line said the loader's flip only; the crop was in `recipe:` alone.
    folder = coded_folder(tmp_path / "imgs", n=60)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    code = run_cli(["train", str(net), "--data", str(folder), "--stream", "--workers", "0", "--epochs", "1",
                    "--batch-size", "8", "--augment", "crop,flip", "--out", str(tmp_path / "r"),
                    "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("data: training images:"))
    # the CIFAR recipe's padding, an eighth of the side: 8 / 8 = 1 pixel at 8x8
    assert "half flipped left to right" in line and line.endswith(
        "then, on the cpu, a random 8x8 crop of it padded by 1 with black"
    )
