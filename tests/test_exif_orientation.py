"""A photo stored sideways with an EXIF orientation (a phone held upright) is read as viewers show
it, on every decoding path (cnnctl.data.decode: whole, cropped, JPEG reduced while decoded; the
loader's hand-over to nvJPEG; a folder held in memory; predict), against PIL.ImageOps.exif_transpose."""

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
ImageOps = pytest.importorskip("PIL.ImageOps")

from cnnctl.data import load_data  # noqa: E402
from cnnctl.data.decode import area_box, centre_box, decode, decode_box, read  # noqa: E402
from cnnctl.data.loader import Images, Recipe  # noqa: E402
from cnnctl.data.samples import Samples  # noqa: E402
from cnnctl.data.stats import given  # noqa: E402

PLAIN = given((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 3, "the test")
ORIENTATIONS = range(1, 9)


def noise(w, h, seed=0):
    """An image of random pixels, `w` wide and `h` tall: every flip and turn of it differs."""
    g = torch.Generator().manual_seed(seed)
    return Image.fromarray(torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, generator=g).numpy())


def with_orientation(image, path, turn, **options):
    exif = Image.Exif()
    exif[0x0112] = turn
    image.save(path, exif=exif.tobytes(), **options)
    return path


def as_tensor(image) -> torch.Tensor:
    image = image.convert("RGB")
    return (
        torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        .view(image.height, image.width, 3)
        .permute(2, 0, 1)
    )


def shown(path) -> torch.Tensor:
    """The image as PIL's exif_transpose shows it (the independent reference)."""
    with Image.open(path) as im:
        return as_tensor(ImageOps.exif_transpose(im))


@pytest.mark.parametrize("turn", ORIENTATIONS)
@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_an_image_is_read_as_exif_transpose_shows_it(tmp_path, turn, suffix):
    path = with_orientation(noise(7, 5), tmp_path / f"a.{suffix}", turn)
    x = read(path, (5, 7), "RGB")
    expected = shown(path)
    assert expected.shape[1:] == ((7, 5) if turn >= 5 else (5, 7))  # the turns of 5-8 swap height and width
    assert torch.equal(x, expected)


@pytest.mark.parametrize("turn", ORIENTATIONS)
def test_a_crop_of_an_image_is_taken_from_it_as_shown(tmp_path, turn):
    stored = with_orientation(noise(23, 11, seed=turn), tmp_path / "turned.png", turn)
    upright = tmp_path / "upright.png"
    with Image.open(stored) as im:
        ImageOps.exif_transpose(im).save(upright)  # the same pixels shown upright, with no orientation
    for box in (centre_box(6, 6, 0.8), area_box(0.3, 0.2, 0.1, 0.7), area_box(0.9, -0.25, 1.0, 0.0)):
        for flip in (False, True):
            got = decode_box(str(stored), (6, 6, 3), box, flip)
            assert torch.equal(got, decode_box(str(upright), (6, 6, 3), box, flip)), (box, flip)


def smooth(w, h):
    """A picture JPEG keeps within a few levels (gradients), with a dark quarter at its top left."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    rgb = torch.stack([200 * xs / w + 30, 200 * ys / h + 30, torch.full_like(xs, 120.0)], -1)
    rgb[: h // 2, : w // 2] = 0
    return Image.fromarray(rgb.to(torch.uint8).numpy())


@pytest.mark.parametrize("turn", [3, 6, 8])
def test_a_jpeg_reduced_while_decoded_is_cropped_as_shown(tmp_path, turn):
    # 400x200 to a 16x16 centre crop: libjpeg decodes it at an eighth (Pillow's draft), in stored order
    stored = with_orientation(smooth(400, 200), tmp_path / "big.jpg", turn, quality=95)
    upright = tmp_path / "upright.png"
    with Image.open(stored) as im:
        ImageOps.exif_transpose(im).save(upright)
    box = centre_box(16, 16, 0.875)
    got = decode_box(str(stored), (16, 16, 3), box).float()
    reference = decode_box(str(upright), (16, 16, 3), box).float()
    assert (got - reference).abs().mean() < 4  # the reduced decode is within a few levels of the whole one
    dark = got.mean(0) < 40  # the dark quarter lies where the image shows it
    assert dark.any() and (dark == (reference.mean(0) < 40)).float().mean() > 0.95


def test_a_sideways_jpeg_is_decoded_by_the_loader_not_handed_to_nvjpeg(tmp_path):
    upright = str(with_orientation(smooth(60, 40), tmp_path / "a.jpg", 1, quality=95))
    sideways = str(with_orientation(smooth(60, 40), tmp_path / "b.jpg", 6, quality=95))
    samples = Samples.files([upright, sideways], [0, 1])
    part = Images(samples, (16, 16, 3), Recipe("centre"), seed=0, encoded=True)[(0, 0, torch.arange(2))]
    assert part["names"] == [upright] and part["decoded_at"].tolist() == [1]  # nvJPEG would decode it as stored
    expected = decode_box(sideways, (16, 16, 3), centre_box(16, 16, 224 / 256))
    assert torch.equal(part["decoded"][0], expected)


@pytest.mark.parametrize("stream", [False, True])
def test_a_folder_reads_sideways_photos_upright_held_or_streamed(tmp_path, stream):
    # three photos 30 wide and 60 tall: one stored upright, two stored 60x30 with orientation 6 and 8
    for name, turn in (("a", 1), ("b", 6), ("c", 8)):
        for label in ("cat", "dog"):
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            image = noise(30, 60, seed=ord(name)) if turn == 1 else noise(60, 30, seed=ord(name))
            with_orientation(image, tmp_path / "data" / label / f"{name}.png", turn)
    data = load_data(str(tmp_path / "data"), (60, 30, 3), stream=stream, workers=0, stats=PLAIN, val_split=0.0)
    assert not any("sizes" in note for note in data.notes)  # all 60x30 (height x width) as shown: none resized
    path = tmp_path / "data" / "cat" / "b.png"
    if not stream:
        assert torch.equal(data.train.x[1], shown(path))
    else:
        assert torch.equal(decode(str(path), (60, 30, 3)), shown(path))


def test_predict_reads_a_sideways_photo_as_shown_and_says_so(tmp_path):
    from cnnctl.train.predict import image_as_read

    path = with_orientation(noise(60, 30), tmp_path / "exif6.jpg", 6)  # stored 60 wide, shown 60 tall
    native, seen = image_as_read(str(path), 60, 30, 3)
    assert (seen.height, seen.width) == (60, 30) and torch.equal(native[0], shown(path))
    assert seen.adapted[0] == "turned 90° clockwise, as its EXIF orientation (6) says it is shown"


@pytest.mark.parametrize("centre", [None, 224 / 256])
@pytest.mark.parametrize("turn", [1, 6, 7])
def test_the_exported_pytorch_files_adapt_reads_a_sideways_photo_as_predict_does(tmp_path, centre, turn):
    import importlib.util

    from cnnctl.api import load_text
    from cnnctl.exchange.preprocessing import Preprocessing
    from cnnctl.exchange.pytorch_source import pytorch_source
    from cnnctl.train.predict import adapt_image

    graph = load_text("name: n\ninput: 16x16x3\nlayers:\n  - pool avg global\n  - fc 2\n")
    expects = Preprocessing((3, 16, 16), (0.5,) * 3, (0.25,) * 3, adaptation="as cnnctl", centre=centre)
    path = tmp_path / "net.py"
    path.write_text(pytorch_source(graph, expects))
    spec = importlib.util.spec_from_file_location(f"exported_exif_{turn}_{centre}", path)
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    photo = with_orientation(smooth(200, 120), tmp_path / "photo.jpg", turn, quality=95)  # reduced while decoded
    if centre is None:
        expected = adapt_image(str(photo), 16, 16, 3)[0]  # predict's pixels, adapted whole
    else:
        expected = decode_box(str(photo), (16, 16, 3), centre_box(16, 16, centre))[None]
    assert torch.equal(source.adapt(Image.open(photo)), expected)


def test_an_image_and_its_mask_stored_sideways_are_both_read_upright(tmp_path):
    root = tmp_path / "seg"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    with_orientation(noise(8, 4), root / "images" / "a.png", 6)  # stored 8 wide, 4 tall; shown 4 wide, 8 tall
    stored = torch.zeros((4, 8), dtype=torch.uint8)
    stored[:, :3] = 1  # its 3 left columns, stored: shown as the 3 top rows once turned 90° clockwise
    mask = with_orientation(Image.fromarray(stored.numpy(), mode="L"), root / "masks" / "a.png", 6)
    data = load_data(str(root), (8, 4, 3), masks=(8, 4, 2), stats=PLAIN, val_split=0.0)
    assert torch.equal(data.train.x[0], shown(root / "images" / "a.png"))
    assert torch.equal(data.train.y[0], shown(mask)[0])
    assert data.train.y[0][:3].eq(1).all() and data.train.y[0][3:].eq(0).all()
