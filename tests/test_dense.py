"""Dense prediction: a network ending in a volume HxWxK trains per pixel on masks."""

import json

import pytest

torch = pytest.importorskip("torch")

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.data import load_data  # noqa: E402
from cnnctl.data.masks import UNSCORED, resize_masks  # noqa: E402
from cnnctl.data.shapes import draw_shapes  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.evaluate import evaluate  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from cnnctl.train.metrics import iou  # noqa: E402

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
SEGMENTER = """\
input: 16x16x1
layers:
  - conv f=3 p=same n=8 act=relu
  - conv f=3 p=same n=8 act=relu
  - conv f=1 n={k}
"""


def test_shape_masks_cover_the_bright_pixels_of_each_image():
    """The mask is where the shape was drawn: its pixels are the bright ones (foreground
    0.6-1.0 of white, background at most 0.3, noise 0.06), in every image."""
    d = load_data("shapes", (24, 24, 1), masks=(24, 24, 11))
    x, masks = d.val.x[:, 0].float() / 255, d.val.y
    assert d.classes[0] == "background" and len(d.classes) == 11 and masks.dtype == torch.uint8
    _, labels, _ = draw_shapes(1000, 24, 24, 1, seed=1)  # the validation stream of seed 0
    for i in range(0, 1000, 37):
        inside = masks[i] > 0
        assert set(masks[i][inside].tolist()) == {int(labels[i]) + 1}  # one class: the image's shape
        assert float(x[i][inside].mean()) > float(x[i][~inside].mean()) + 0.25
    binary = load_data("shapes", (24, 24, 1), masks=(24, 24, 2))
    assert binary.classes == ["background", "shape"]
    assert torch.equal(binary.val.y, (masks > 0).to(torch.uint8))


def test_masks_are_resized_by_nearest_neighbour():
    masks = torch.tensor([[[0, 1], [2, 3]]], dtype=torch.uint8)
    assert resize_masks(masks, (4, 4)).tolist() == [[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]]
    d = load_data("shapes", (32, 32, 1), masks=(16, 16, 2))
    assert d.train.y.shape[1:] == (16, 16) and set(d.train.y.unique().tolist()) <= {0, 1}


def test_iou_from_a_confusion_matrix():
    # true background 8 pixels (6 right, 2 called shape); true shape 4 (3 right, 1 called background)
    assert iou([[6, 2], [1, 3]]) == [6 / (8 + 7 - 6), 3 / (4 + 5 - 3)]
    assert iou([[5, 0, 0], [0, 0, 0], [0, 0, 1]])[1] is None  # neither present nor predicted


def test_data_without_masks_is_refused_for_a_dense_network():
    with pytest.raises(CnnctlError, match="ends in the volume 16x16x2, a class score per pixel, and `mnist` has no"):
        load_data("mnist", (16, 16, 1), masks=(16, 16, 2), download=False)


def test_a_folder_of_images_and_masks(tmp_path):
    from PIL import Image

    for split, count in (("train", 3), ("val", 2)):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "masks").mkdir()
        for i in range(count):
            Image.new("L", (10, 8), 30 * i).save(tmp_path / split / "images" / f"{i}.png")
            mask = Image.new("L", (10, 8), 0)
            mask.putpixel((0, 0), 2)
            mask.putpixel((9, 7), UNSCORED)
            mask.save(tmp_path / split / "masks" / f"{i}.png")
    (tmp_path / "classes.txt").write_text("sky\nroad\ncar\n")
    d = load_data(str(tmp_path), (8, 10, 1), masks=(8, 10, 3))
    assert (len(d.train), len(d.val), d.classes) == (3, 2, ["sky", "road", "car"])
    assert d.train.y.shape == (3, 8, 10) and int(d.train.y[1, 0, 0]) == 2 and int(d.train.y[1, 7, 9]) == UNSCORED
    assert int(d.train.x[2, 0, 3, 3]) == 60
    (tmp_path / "train" / "masks" / "1.png").unlink()
    with pytest.raises(CnnctlError, match="no mask for 1.png"):
        load_data(str(tmp_path), (8, 10, 1), masks=(8, 10, 3))
    Image.new("RGB", (10, 8)).save(tmp_path / "train" / "masks" / "1.png")
    with pytest.raises(CnnctlError, match="a mask in mode RGB"):
        load_data(str(tmp_path), (8, 10, 1), masks=(8, 10, 3))


def test_a_large_image_and_its_mask_are_reduced_alike_the_mask_by_choice_never_by_averaging(tmp_path, monkeypatch):
    # Once both were decoded whole: a huge pair held its full size as arrays (and a float32 resize).
    # 70x66 for an 8x8 input: blocks of 70 // 16 = 4 by 66 // 16 = 4, the 2 pixels past them split
    # between both sides (decode's rule); the image by each block's mean, the mask by each
    # block's pixel at (2, 2) in it: every class index one the mask holds, never a blend.
    import numpy as np
    from PIL import Image

    from cnnctl.data import decode as decode_module
    from cnnctl.data.masks import load_mask_folder

    rng = np.random.default_rng(3)
    (tmp_path / "images").mkdir(), (tmp_path / "masks").mkdir()
    Image.fromarray(rng.integers(0, 256, (66, 70), dtype=np.uint8)).save(tmp_path / "images" / "a.png")
    mask = rng.choice(np.array([0, 1, 3, UNSCORED], dtype=np.uint8), (66, 70))
    Image.fromarray(mask).save(tmp_path / "masks" / "a.png")
    made = []
    pixels = decode_module.pixels
    monkeypatch.setattr(decode_module, "pixels", lambda im, mode: made.append(im.size) or pixels(im, mode))
    raw = load_mask_folder(tmp_path, (8, 8, 1), (16, 17))  # the output at the reduced size: masks kept as reduced
    assert made == [(17, 16), (17, 16)]  # no array of the pair at its own size
    assert torch.equal(raw.train.y[0], torch.from_numpy(mask[1:65, 1:69][2::4, 2::4].copy()))
    assert torch.equal(raw.train.x[0], decode_module.decode(tmp_path / "images" / "a.png", (8, 8, 1), pad=False))


def test_a_segmenter_trains_per_pixel_and_evaluate_reports_iou(tmp_path):
    graph = cnnctl.load_text(SEGMENTER.format(k=2))
    config = TrainConfig(epochs=2, batch_size=64, device="cpu", out=str(tmp_path / "seg"), augment="crop,flip")
    result = train(graph, config, network_title="seg")
    assert result.status == 0
    last = result.history[-1]
    report = evaluate(graph, result.run_dir, None, None, device_name="cpu")
    assert report.accuracy == pytest.approx(last["val_accuracy"]) and report.mean_iou == pytest.approx(last["val_miou"])
    # By hand: the best weights on the validation images, pixel by pixel.
    from cnnctl.backend import to_torch
    from cnnctl.train.checkpoint import EVALUATE, load_checkpoint

    state = load_checkpoint(result.run_dir / "best.pt", EVALUATE)  # its weights: no resume state
    model = to_torch(graph, logits=True)
    model.load_state_dict(state["model"])
    d = load_data("shapes", (16, 16, 1), masks=(16, 16, 2))
    x = (d.val.x.float() / 255 - torch.tensor(state["mean"]).view(1, -1, 1, 1)) / torch.tensor(state["std"]).view(
        1, -1, 1, 1
    )
    with torch.no_grad():
        predicted = model(x).argmax(1)
    truth = d.val.y.long()
    ious = [float(((predicted == k) & (truth == k)).sum() / ((predicted == k) | (truth == k)).sum()) for k in (0, 1)]
    assert report.mean_iou == pytest.approx(sum(ious) / 2, rel=1e-6)
    assert report.accuracy == pytest.approx(float((predicted == truth).float().mean()), rel=1e-6)
    background = float((truth == 0).float().mean())
    assert report.accuracy > background + 0.02  # better than calling every pixel background
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < row["val_miou"] <= 1 for row in rows)
    header = (result.run_dir / "results.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,val_miou"  # extras last


def test_unet_example_trains_from_the_command_line(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "unet"
    done = subprocess.run(
        [sys.executable, "-m", "cnnctl", "train", str(ROOT / "examples" / "unet_small.yaml"), "--epochs", "1",
         "--out", str(out), "--format", "json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 classes per pixel" in done.stderr and "mIoU" in done.stderr
    report = subprocess.run(
        [sys.executable, "-m", "cnnctl", "evaluate", str(out), "--format", "json"], capture_output=True, text=True
    )
    data = json.loads(report.stdout)
    assert data["pixels"] == 1000 * 32 * 32 and 0.5 < data["mean_iou"] <= 1
    bench = subprocess.run(
        [sys.executable, "-m", "cnnctl", "bench", str(ROOT / "examples" / "unet_small.yaml"), "--steps", "2",
         "--repeats", "1", "--warmup", "1", "--batch-size", "4", "--format", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    assert {t["mode"] for t in json.loads(bench.stdout)["timings"]} == {"forward", "train"}
    png = tmp_path / "a.png"
    png.write_bytes(b"")
    refused = subprocess.run(
        [sys.executable, "-m", "cnnctl", "predict", str(out), str(png)], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "scores every pixel (32x32x2)" in refused.stderr


# How to store an upright picture so that EXIF orientation `turn` shows it upright again: the
# inverse of each of PIL.ImageOps.exif_transpose's transposes (checked by exif_transpose itself).
STORED_FOR = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_90",
              7: "TRANSVERSE", 8: "ROTATE_270"}  # fmt: skip


def save_turned(upright, turn, path):
    """The PIL image `upright` saved to `path` as stored with EXIF orientation `turn`."""
    import numpy as np
    from PIL import Image, ImageOps

    stored = upright if turn == 1 else upright.transpose(getattr(Image.Transpose, STORED_FOR[turn]))
    exif = Image.Exif()
    exif[0x0112] = turn
    stored.save(path, exif=exif)
    with Image.open(path) as back:
        assert back.getexif().get(0x0112) == turn
        if back.format == "JPEG":  # lossy: its pixels are not the picture's
            return
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(back)), np.asarray(upright))


@pytest.mark.parametrize("image_turn,mask_turn", [(6, 1), (1, 8), (3, 5), (7, 2), (5, 5), (4, 6)])
def test_a_mask_follows_its_image_orientation_first_then_the_same_reduction(tmp_path, monkeypatch, image_turn,
                                                                              mask_turn):  # fmt: skip
    # Once a mask of another EXIF orientation (or stored size) than its image's was decoded whole,
    # never reduced. Both shown upright are 71 wide, 54 high: for an 8x8 input, blocks of 71 // 16 =
    # 4 by 54 // 16 = 3 of the upright pair, the 3 columns past them split 1 left, 2 right; the
    # mask's block by its pixel at (4 // 2, 3 // 2) as shown upright, the image's by its mean.
    import numpy as np
    from PIL import Image

    from cnnctl.data import decode as decode_module
    from cnnctl.data.masks import load_mask_folder

    rng = np.random.default_rng(image_turn * 10 + mask_turn)
    (tmp_path / "pair" / "images").mkdir(parents=True), (tmp_path / "pair" / "masks").mkdir()
    picture = rng.integers(0, 256, (54, 71), dtype=np.uint8)
    mask = rng.choice(np.array([0, 1, 3, UNSCORED], dtype=np.uint8), (54, 71))
    save_turned(Image.fromarray(picture), image_turn, tmp_path / "pair" / "images" / "a.png")
    save_turned(Image.fromarray(mask), mask_turn, tmp_path / "pair" / "masks" / "a.png")
    Image.fromarray(picture).save(tmp_path / "upright.png")
    made = []
    pixels = decode_module.pixels
    monkeypatch.setattr(decode_module, "pixels", lambda im, mode: made.append(im.size) or pixels(im, mode))
    raw = load_mask_folder(tmp_path / "pair", (8, 8, 1), (18, 17))  # the output at the reduced size
    assert made and max(max(size) for size in made) <= 18  # no array of the pair at its own size
    assert torch.equal(raw.train.y[0], torch.from_numpy(mask[0:54, 1:69][1::3, 2::4].copy()))
    # the image as any upright image of that size is read (decode's reduction, then its resize)
    assert torch.equal(raw.train.x[0], decode_module.decode(tmp_path / "upright.png", (8, 8, 1), pad=False))


def test_a_jpeg_shown_sideways_is_reduced_as_its_upright_picture_with_its_mask(tmp_path):
    # A camera's JPEG stored sideways (orientation 6) with a mask drawn on it as shown: the image's
    # blocks are the means of Pillow's own upright picture (exif_transpose, then reduce).
    import numpy as np
    from PIL import Image, ImageOps

    from cnnctl.data.masks import reduced_pair

    rng = np.random.default_rng(5)
    save_turned(Image.fromarray(rng.integers(0, 256, (66, 40, 3), dtype=np.uint8)), 6, tmp_path / "a.jpg")
    mask = rng.integers(0, 4, (66, 40), dtype=np.uint8)  # 40 wide, 66 high: the JPEG as shown
    Image.fromarray(mask).save(tmp_path / "a.png")
    with Image.open(tmp_path / "a.jpg") as im, Image.open(tmp_path / "a.png") as m:
        x, y = reduced_pair(im, 6, m, 1, (8, 4), "RGB")  # blocks of 40 // 8 = 5 by 66 // 16 = 4
    with Image.open(tmp_path / "a.jpg") as im:
        expected = ImageOps.exif_transpose(im).convert("RGB").reduce((5, 4), (0, 1, 40, 65))
    assert torch.equal(x, torch.from_numpy(np.asarray(expected).copy()).permute(2, 0, 1))
    assert torch.equal(y[0], torch.from_numpy(mask[1:65][2::4, 2::5].copy()))


def test_masks_not_their_images_size_are_all_told_with_both_files_and_sizes(tmp_path):
    import numpy as np
    from PIL import Image

    from cnnctl.data.masks import load_mask_folder

    (tmp_path / "images").mkdir(), (tmp_path / "masks").mkdir()
    # a: stored alike (10 wide, 8 high), but the image is shown turned (8 wide, 10 high); b: a mask
    # of half the size; c: a mask stored upright for an image stored sideways: its image's size as shown
    save_turned(Image.new("L", (8, 10), 50), 6, tmp_path / "images" / "a.png")
    Image.new("L", (10, 8), 1).save(tmp_path / "masks" / "a.png")
    Image.new("L", (10, 8), 50).save(tmp_path / "images" / "b.png")
    Image.new("L", (5, 4), 1).save(tmp_path / "masks" / "b.png")
    save_turned(Image.new("L", (8, 10), 50), 8, tmp_path / "images" / "c.png")
    mask = np.arange(80, dtype=np.uint8).reshape(10, 8) % 3
    Image.fromarray(mask).save(tmp_path / "masks" / "c.png")
    with pytest.raises(CnnctlError) as err:
        load_mask_folder(tmp_path, (10, 8, 1), (10, 8))
    a, b = err.value.problems
    assert a.loc.file == str(tmp_path / "masks" / "a.png") and b.loc.file == str(tmp_path / "masks" / "b.png")
    assert a.message.startswith(f"the mask is 8x10, its image {tmp_path / 'images' / 'a.png'} 10x8 (stored 8x10, "
                                "EXIF orientation 6)")  # fmt: skip
    assert b.message.startswith(f"the mask is 4x5, its image {tmp_path / 'images' / 'b.png'} 8x10")
    assert "make the mask 10x8 (height x width)" in a.hint and "make the mask 8x10" in b.hint
    for name in ("a", "b"):
        (tmp_path / "masks" / f"{name}.png").unlink(), (tmp_path / "images" / f"{name}.png").unlink()
    raw = load_mask_folder(tmp_path, (10, 8, 1), (10, 8))
    assert torch.equal(raw.train.y[0], torch.from_numpy(mask))
