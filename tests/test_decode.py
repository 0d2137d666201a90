"""One decode path: training folders, mask folders and predict read an image the same way,
and a network of any channel count takes grayscale replicated (as training replicates it)."""

import json

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import cnnctl  # noqa: E402
from cnnctl.data import DataSplits, Split, load_data, make_shapes  # noqa: E402
from cnnctl.data import decode as decode_module  # noqa: E402
from cnnctl.data.adapt import plan  # noqa: E402
from cnnctl.train import predict as predict_module  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from tests.helpers import run_main  # noqa: E402

RGB_TO_L = (0.299, 0.587, 0.114)  # ITU-R 601-2, Pillow's "L"


def mask_folder(root, size=(10, 8), count=2):
    """images/ and masks/ in `root`: RGB images of one colour, masks of classes 0 and 1."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        Image.new("RGB", size, (200, 100, 50 + i)).save(root / "images" / f"{i}.png")
        mask = Image.new("L", size, 0)
        mask.putpixel((0, 0), 1)
        mask.save(root / "masks" / f"{i}.png")
    return root


def test_training_folders_mask_folders_and_predict_decode_through_one_function(tmp_path, monkeypatch):
    calls = []
    one = decode_module.pixels

    def counted(im, mode):
        calls.append(mode)
        return one(im, mode)

    monkeypatch.setattr(decode_module, "pixels", counted)
    for name in ("a", "b"):
        (tmp_path / "classes" / name).mkdir(parents=True)
        Image.new("L", (8, 8), 90).save(tmp_path / "classes" / name / "x.png")
    load_data(str(tmp_path / "classes"), (8, 8, 1), val_split=0.5)
    assert calls == ["L", "L"]
    load_data(str(mask_folder(tmp_path / "seg")), (8, 10, 3), masks=(8, 10, 2), val_split=0.5)
    assert calls[2:] == ["RGB", "L", "RGB", "L"]  # each image, then its mask
    predict_module.adapt_image(str(tmp_path / "classes" / "a" / "x.png"), 8, 8, 1)
    assert calls[6:] == ["L"]
    assert not hasattr(predict_module, "read_image")  # predict's second decoder, used only by tests (bug h)


@pytest.mark.parametrize("channels", [2, 4])
def test_a_mask_folder_replicates_grayscale_to_any_channel_count(tmp_path, channels):
    # It ended in a traceback (`shape '[8, 10, 4]' is invalid`): images were read as RGB for
    # any network not of 1 channel. Training replicates grayscale to any count: masks too.
    d = load_data(str(mask_folder(tmp_path)), (8, 10, channels), masks=(8, 10, 2), val_split=0.5)
    x = torch.cat([d.train.x, d.val.x])
    assert x.shape == (2, channels, 8, 10)
    gray = sorted(round(sum(v * k for v, k in zip((200, 100, 50 + i), RGB_TO_L, strict=True))) for i in range(2))
    assert sorted(int(image[0, 0, 0]) for image in x) == gray  # 124 and 124: Pillow's L of each colour
    assert all(torch.equal(image[c], image[0]) for image in x for c in range(channels))


def test_a_mask_folder_resizes_images_as_any_image_is_resized(tmp_path):
    """Area averaging to shrink (cnnctl.data.adapt), not Pillow's bilinear: a 2x2 checker of 0
    and 255 shrunk by two is 128 everywhere (Pillow's bilinear filter gives other values)."""
    root = tmp_path / "seg"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(2):
        checker = Image.new("L", (16, 16), 0)
        for y in range(16):
            for x in range(16):
                if (x + y) % 2 == 0:
                    checker.putpixel((x, y), 255)
        checker.save(root / "images" / f"{i}.png")
        Image.new("L", (16, 16), 1).save(root / "masks" / f"{i}.png")
    d = load_data(str(root), (8, 8, 1), masks=(8, 8, 2), val_split=0.5)
    assert d.train.x.unique().tolist() == [128]


def test_plan_returns_the_steps_it_chose_and_adapt_runs_them():
    steps = plan((28, 28, 1), (32, 32, 4))
    assert [(s.op, s.size, s.channels) for s in steps] == [("pad", (32, 32), 0), ("replicate", (0, 0), 4)]
    assert [s.op for s in plan((32, 32, 3), (16, 16, 1), pad=False)] == ["gray", "resize"]
    assert [s.op for s in plan((28, 28, 1), (32, 32, 1), pad=False)] == ["resize"]  # masks are resized, not padded


# --- predict follows training for any channel count (bug j) -----------------------------------

NET2 = "input: 12x12x2\nlayers: [conv f=3 p=same n=4 act=relu, pool max f=2, fc 10 act=softmax]\n"


@pytest.fixture(scope="module")
def two_channels(tmp_path_factory):
    """(network file, run folder) of a network of 2 input channels trained one epoch."""
    root = tmp_path_factory.mktemp("two")
    x, y = make_shapes(96, 12, 12, 2, seed=0)
    data = DataSplits("shapes", Split(x[:64], y[:64]), Split(x[64:], y[64:]), [str(i) for i in range(10)],
                      (0.2, 0.2), (0.3, 0.3), [])  # fmt: skip
    config = TrainConfig(epochs=1, batch_size=32, seed=0, device="cpu", out=str(root / "run"))
    result = train(cnnctl.load_text(NET2), config, network_title="two", dataset=data)
    assert result.status == 0
    net = root / "two.yaml"
    net.write_text(NET2)
    return net, result.run_dir


def test_predict_replicates_grayscale_for_a_network_of_two_channels(two_channels, tmp_path, monkeypatch, capsys):
    # It refused: "the network takes 2 channels; images have 1 or 3", though training on
    # grayscale data replicated it to 2 channels.
    net, run = two_channels
    Image.new("RGB", (12, 12), (200, 100, 50)).save(tmp_path / "rgb.png")
    Image.new("L", (10, 10), 40).save(tmp_path / "gray.png")
    code, out, err = run_main(monkeypatch, capsys, "predict", str(net), str(tmp_path / "rgb.png"),
                              str(tmp_path / "gray.png"), "--checkpoint", str(run), "--device", "cpu",
                              "--format", "json")  # fmt: skip
    assert code == 0, err
    rgb, gray = json.loads(out)["predictions"]
    assert rgb["adapted"] == ["converted RGB to grayscale (L = 0.299 R + 0.587 G + 0.114 B, ITU-R 601-2)",
                              "replicated 1 channel to 2"]  # fmt: skip
    assert gray["adapted"] == ["padded 10x10 to 12x12 with zeros (centred)", "replicated 1 channel to 2"]
    assert len(rgb["top"]) == 5 and len(gray["top"]) == 5
    x, _ = predict_module.adapt_image(str(tmp_path / "rgb.png"), 12, 12, 2)
    assert x.shape == (1, 2, 12, 12) and x.unique().tolist() == [124]  # 0.299*200 + 0.587*100 + 0.114*50


def test_the_decode_function_travels_to_a_dataloader_worker(tmp_path):
    """A DataLoader worker started by spawn receives the function pickled: it must be a
    module-level function of plain arguments."""
    import functools
    import pickle

    Image.new("L", (6, 6), 77).save(tmp_path / "x.png")
    read = pickle.loads(pickle.dumps(functools.partial(decode_module.decode, target=(8, 8, 3))))
    x = read(str(tmp_path / "x.png"))
    assert x.shape == (3, 8, 8) and x[:, 1:7, 1:7].unique().tolist() == [77] and int(x.sum()) == 3 * 36 * 77


# -- one conversion to gray: Pillow's convert("L") on every path ---------------------------------


def pillow_gray(image) -> torch.Tensor:
    """Pillow's own convert("L") of `image` (a file or a PIL image), (1, H, W) uint8: the reference."""
    im = Image.open(image) if not isinstance(image, Image.Image) else image
    gray = im.convert("L")
    return torch.frombuffer(bytearray(gray.tobytes()), dtype=torch.uint8).view(1, gray.height, gray.width)


def test_a_colour_image_reaches_a_gray_input_bit_for_bit_alike_held_streamed_predicted_and_as_an_array(tmp_path):
    # Pillow's "L" is (19595 R + 38470 G + 7471 B + 32768) >> 16; the float 0.299 R + 0.587 G +
    # 0.114 B rounded differs by a level on ~0.05% of colours, and libjpeg's own gray (a JPEG
    # decoded with draft("L"): its Y) on others. Noise at the input's size: nothing is resized.
    from cnnctl.data.adapt import adapt
    from cnnctl.data.decode import decode_box
    from cnnctl.data.loader import decode_all

    noise = torch.Generator().manual_seed(0)
    files = []
    for i in range(4):
        (tmp_path / f"class{i % 2}").mkdir(exist_ok=True)
        pixels = torch.randint(0, 256, (64, 64, 3), generator=noise, dtype=torch.uint8)
        files.append(tmp_path / f"class{i % 2}" / f"{i // 2}.{'png' if i < 2 else 'jpg'}")
        Image.fromarray(pixels.numpy()).save(files[-1])
    files.sort(key=lambda f: (f.parent.name, f.name))  # as load_data lists them
    target = (64, 64, 1)
    expected = torch.stack([pillow_gray(f) for f in files])
    held = load_data(str(tmp_path), target, val_split=0, stream=False)
    assert torch.equal(held.train.x, expected)
    streamed = load_data(str(tmp_path), target, val_split=0, stream=True)
    assert torch.equal(decode_all(streamed.train, target, 0)[0], expected)
    for f, gray in zip(files, expected, strict=True):
        assert torch.equal(predict_module.adapt_image(str(f), *target)[0][0], gray)  # predict
        whole = decode_box(f, target, lambda width, height: (0, 0, width, height))  # the photo recipe's path
        assert torch.equal(whole, gray)
        colour = Image.open(f).convert("RGB")  # an array that never was a Pillow image (CIFAR's)
        array = torch.frombuffer(bytearray(colour.tobytes()), dtype=torch.uint8).view(1, 64, 64, 3)
        assert torch.equal(adapt(array.permute(0, 3, 1, 2), target)[0], gray)


def test_the_array_conversion_to_gray_is_pillows_for_every_colour():
    # A million colours (every level of each channel many times) as one image: _to_gray (the
    # conversion of arrays in memory) against Pillow's convert("L") of the same pixels.
    from cnnctl.data.adapt import _to_gray

    colours = torch.randint(0, 256, (1, 3, 1000, 1000), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    image = Image.frombytes("RGB", (1000, 1000), colours[0].permute(1, 2, 0).contiguous().numpy().tobytes())
    assert torch.equal(_to_gray(colours)[0], pillow_gray(image))


# -- an image far larger than the input: reduced before it becomes an array ---------------------
def area(a, out):
    """`a` (H, W) resized to `out` (h, w) by area averaging, by its formula: output row i takes
    the input rows floor(i H / h) to ceil((i + 1) H / h) (PyTorch's adaptive pooling), as floats."""
    import numpy as np

    (h0, w0), (h, w) = a.shape, out
    rows = [(i * h0 // h, -(-(i + 1) * h0 // h)) for i in range(h)]
    cols = [(j * w0 // w, -(-(j + 1) * w0 // w)) for j in range(w)]
    return np.array([[a[r0:r1, c0:c1].mean() for c0, c1 in cols] for r0, r1 in rows])


def noise_png(path, width, height, seed=0):
    import numpy as np

    a = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    Image.fromarray(a).save(path)
    return a


def test_an_image_more_than_four_times_the_input_is_reduced_by_whole_blocks_then_resized(tmp_path):
    # A 7,999x7,999 PNG held 30 bytes a pixel on its way to 16x16 (1.9 GB). 70x66 to 8x8: more
    # than 4 x 8 on both axes, so blocks of 70 // 16 = 4 by 66 // 16 = 4 pixels (the least
    # reduction that keeps 2 x 8), the 70 % 4 = 2 and 66 % 4 = 2 pixels past them split between
    # both sides; each block's mean rounded half up (Pillow's reduce), then the area resize
    # from 17x16, rounded half to even as every resize is.
    import numpy as np

    a = noise_png(tmp_path / "big.png", 70, 66).astype(np.int64)
    notes = []
    x = decode_module.decode(tmp_path / "big.png", (8, 8, 1), notes=notes)
    blocks = a[1:65, 1:69].reshape(16, 4, 17, 4).sum((1, 3))
    reduced = (2 * blocks + 16) // 32  # floor(sum / 16 + 1/2)
    assert torch.equal(x[0], torch.from_numpy(np.round(area(reduced, (8, 8))).astype(np.uint8)))
    assert notes[0].startswith("reduced 66x70 to 16x17 (the mean of whole blocks)")  # H x W, as adapting says
    assert notes[1].startswith("resized 16x17 to 8x8")


def test_an_image_up_to_four_times_the_input_is_resized_whole_as_before(tmp_path):
    import numpy as np

    a = noise_png(tmp_path / "x.png", 32, 32)
    notes = []
    x = decode_module.decode(tmp_path / "x.png", (8, 8, 1), notes=notes)
    assert torch.equal(x[0], torch.from_numpy(np.round(area(a.astype(np.int64), (8, 8))).astype(np.uint8)))
    assert notes == ["resized 32x32 to 8x8 (area)"]


def test_no_array_of_more_than_four_times_the_input_side_is_made_of_a_large_image(tmp_path, monkeypatch):
    # what decoding holds past Pillow's own image is bounded by the input, not by the file
    made = []
    pixels = decode_module.pixels
    monkeypatch.setattr(decode_module, "pixels", lambda im, mode: made.append(im.size) or pixels(im, mode))
    Image.new("RGBA", (3000, 2000), (10, 200, 30, 128)).save(tmp_path / "big.png")
    Image.new("RGB", (3000, 2000), (10, 200, 30)).save(tmp_path / "big.jpg")
    for name in ("big.png", "big.jpg"):
        x = decode_module.decode(tmp_path / name, (20, 30, 3))
        assert x.shape == (3, 20, 30) and abs(int(x[1].float().mean()) - 200) <= 2
    assert all(w <= 4 * 30 and h <= 4 * 20 for w, h in made), made


def test_a_crop_box_of_a_large_png_is_reduced_by_whole_blocks_of_its_box_then_resized(tmp_path, monkeypatch):
    # Once the box was resized whole: a 7,999x7,999 PNG's centre crop became a float32 array of
    # its own size. The box 70x66 (more than 4 x 8) is reduced by the rule of whole images:
    # blocks of 70 // 16 = 4 by 66 // 16 = 4, the pixels past them split between both sides,
    # each block's mean rounded half up, then the crops' resize from 17x16 (PyTorch's
    # antialiased bilinear on uint8, as a box up to 4x the input is resized whole).
    import numpy as np

    def bilinear(a):
        x = torch.from_numpy(a.astype(np.uint8))[None, None]
        return torch.nn.functional.interpolate(x, size=(8, 8), mode="bilinear", antialias=True)[0, 0]

    made = []
    pixels = decode_module.pixels
    monkeypatch.setattr(decode_module, "pixels", lambda im, mode: made.append(im.size) or pixels(im, mode))
    a = noise_png(tmp_path / "big.png", 90, 80).astype(np.int64)
    x = decode_module.decode_box(tmp_path / "big.png", (8, 8, 1), lambda w, h: (10, 7, 80, 73))  # 70x66 at (10, 7)
    box = a[7:73, 10:80]
    blocks = box[1:65, 1:69].reshape(16, 4, 17, 4).sum((1, 3))
    reduced = (2 * blocks + 16) // 32  # floor(sum / 16 + 1/2)
    assert torch.equal(x[0], bilinear(reduced))
    assert made == [(17, 16)]  # the only array made: the reduced box
    small = decode_module.decode_box(tmp_path / "big.png", (8, 8, 1), lambda w, h: (10, 7, 42, 39))  # 32x32: 4x
    assert torch.equal(small[0], bilinear(a[7:39, 10:42])) and made[1:] == [(32, 32)]


@pytest.mark.parametrize("where", ["pixels", "adapt"])
def test_out_of_memory_decoding_an_image_is_one_message_at_the_file(where, tmp_path, monkeypatch, capsys):
    # under `ulimit -v` the area resize's float32 copy ended in PyTorch's allocator's traceback
    from cnnctl.data import adapt as adapt_module

    def fail(*_args, **_kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(decode_module if where == "pixels" else adapt_module, where, fail)
    Image.new("L", (40, 40), 9).save(tmp_path / "x.png")
    with pytest.raises(cnnctl.CnnctlError) as info:
        decode_module.decode(tmp_path / "x.png", (8, 8, 1))
    (problem,) = info.value.problems
    assert problem.message == "out of memory decoding the image" and str(problem.loc) == str(tmp_path / "x.png")
    assert "downscale the image: the network takes 8x8" in problem.hint


def test_out_of_memory_in_predicts_decoding_is_one_message_at_the_file(tmp_path, monkeypatch):
    from cnnctl.data import adapt as adapt_module

    def fail(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(adapt_module, "adapt", fail)
    Image.new("L", (40, 40), 9).save(tmp_path / "x.png")
    with pytest.raises(cnnctl.CnnctlError) as info:
        predict_module.adapt_image(str(tmp_path / "x.png"), 8, 8, 1)
    (problem,) = info.value.problems
    assert problem.message == "out of memory decoding the image" and str(problem.loc) == str(tmp_path / "x.png")


def test_predict_reduces_a_large_image_as_training_does(tmp_path):
    noise_png(tmp_path / "big.png", 70, 66)
    x, seen = predict_module.adapt_image(str(tmp_path / "big.png"), 8, 8, 1)
    assert torch.equal(x[0], decode_module.decode(tmp_path / "big.png", (8, 8, 1)))
    assert any(said.startswith("reduced 66x70 to 16x17") for said in seen.adapted), seen.adapted
