"""JPEG decoding on the GPU (cnnctl.data.gpu_decode, cnnctl.train.decoding): the loader hands over each JPEG as
stored with the crop the CPU path would take; the GPU side decodes, crops and resizes it. Here the GPU's decoder is
stood in for by Pillow on the CPU (an independent decoder); on a machine with a CUDA GPU and torchvision, the last
test compares nvJPEG's batches with the CPU path's."""

import math

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from cnnctl.api import load_text  # noqa: E402
from cnnctl.data.decode import RATIO, SCALE  # noqa: E402
from cnnctl.data.gpu_decode import GpuDecoder, boxes_resized, crop_resized, each_resized, unavailable  # noqa: E402
from cnnctl.data.loader import Images, Recipe  # noqa: E402
from cnnctl.data.samples import Samples  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402
from cnnctl.train.decoding import choose  # noqa: E402

CPU = torch.device("cpu")
TARGET = (32, 32, 3)


def photo(path, w, h, seed):
    """A smooth picture (gradients and a disc): JPEG keeps it within a few levels, so two decoders agree."""
    g = torch.Generator().manual_seed(seed)
    a, b, c = (torch.rand(3, generator=g) * 255).tolist()
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    disc = ((xs - w / 3) ** 2 + (ys - h / 2) ** 2 < (h / 4) ** 2).float() * 80
    rgb = torch.stack([a * xs / w + disc, b * ys / h + 40, c * (1 - xs / w) + disc / 2], -1).clamp(0, 255)
    Image.fromarray(rgb.to(torch.uint8).numpy()).save(path, quality=95)
    return str(path)


def folder(tmp_path, n=6):
    paths = [photo(tmp_path / f"{i}.jpg", 60 + 7 * i, 45 + 5 * i, i) for i in range(n)]
    return Samples.files(paths, [i % 3 for i in range(n)])


def pillow_decoder(data):
    """The GPU's decoder stood in for: each JPEG decoded whole by Pillow, (C, H, W) uint8."""
    import io

    out = []
    for one in data:
        im = Image.open(io.BytesIO(one.numpy().tobytes())).convert("RGB")
        out.append(
            torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(im.height, im.width, 3).permute(2, 0, 1)
        )
    return out


def test_the_loader_hands_over_each_jpeg_as_stored_with_a_crop_of_the_recipes_ranges(tmp_path):
    samples = folder(tmp_path)
    part = Images(samples, TARGET, Recipe("rrc", flip=True), seed=5, encoded=True)[(2, 10, torch.arange(6))]
    assert part["decoded_at"].numel() == 0 and part["bad"] == []
    ends = [0, *part["ends"].tolist()]
    for k in range(6):
        stored = (tmp_path / f"{k}.jpg").read_bytes()
        assert part["jpeg"][ends[k] : ends[k + 1]].numpy().tobytes() == stored  # the file's bytes, untouched
        left, top, right, bottom = part["boxes"][k].tolist()
        width, height = 60 + 7 * k, 45 + 5 * k
        assert 0 <= left < right <= width + 1e-9 and 0 <= top < bottom <= height + 1e-9
        area, aspect = (right - left) * (bottom - top) / (width * height), (right - left) / (bottom - top)
        unclamped = right - left < width - 1e-9 and bottom - top < height - 1e-9
        if unclamped:  # Inception's ranges: 8% to all of the area, aspect 3/4 to 4/3
            assert SCALE[0] - 1e-9 <= area <= SCALE[1] + 1e-9 and RATIO[0] - 1e-9 <= aspect <= RATIO[1] + 1e-9
    assert torch.equal(part["labels"], samples.labels)


def test_the_gpu_side_makes_the_batch_the_cpu_path_makes_within_a_few_levels(tmp_path):
    samples = folder(tmp_path)
    for recipe in (Recipe("rrc", flip=True), Recipe("centre")):
        request = (1, 0, torch.arange(6))
        on_cpu, labels, bad = Images(samples, TARGET, recipe, seed=9)[request]
        part = Images(samples, TARGET, recipe, seed=9, encoded=True)[request]
        on_gpu, labels_gpu, bad_gpu = GpuDecoder(TARGET, CPU, pillow_decoder)(part)
        assert bad == bad_gpu == [] and torch.equal(labels, labels_gpu)
        assert on_gpu.shape == on_cpu.shape == (6, 3, 32, 32)
        assert on_gpu.is_contiguous(memory_format=torch.channels_last)
        diff = (on_gpu.float() - on_cpu.float()).abs()
        # The same box and flip, resampled by Pillow's filter and by interpolate's: a level or two apart,
        # the box's edges rounded to whole pixels here; a wrong flip or box would be tens of levels off.
        assert diff.mean() < 3, (recipe, diff.mean())


def test_images_that_are_not_jpegs_are_decoded_by_the_loader_and_bad_ones_left_out(tmp_path):
    paths = [photo(tmp_path / "a.jpg", 50, 40, 1)]
    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "b.png")
    (tmp_path / "c.jpg").write_bytes(b"not an image at all")
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 0, 0))
    cmyk.save(tmp_path / "d.jpg")
    samples = Samples.files([*paths, str(tmp_path / "b.png"), str(tmp_path / "c.jpg"), str(tmp_path / "d.jpg")],
                            [0, 1, 2, 0])  # fmt: skip
    part = Images(samples, TARGET, Recipe("centre"), seed=0, encoded=True)[(0, 0, torch.arange(4))]
    assert part["names"] == paths  # only the RGB JPEG goes to the GPU; CMYK and PNG are decoded here
    assert part["decoded_at"].tolist() == [1, 2] and part["jpeg_at"].tolist() == [0]
    assert [name for name, _ in part["bad"]] == [str(tmp_path / "c.jpg")]
    x, y, bad = GpuDecoder(TARGET, CPU, pillow_decoder)(part)
    assert y.tolist() == [0, 1, 0] and len(bad) == 1
    assert x[1, :, 16, 16].tolist() == [10, 200, 30]  # the PNG, one colour, as the loader decoded it


def test_a_jpeg_the_gpu_rejects_is_decoded_by_pillow_or_named_when_neither_can(tmp_path):
    good = [photo(tmp_path / f"{i}.jpg", 48, 36, i) for i in range(3)]
    whole = (tmp_path / "0.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 3])  # a header Pillow reads, then too little data
    samples = Samples.files([*good, str(tmp_path / "cut.jpg")], [0, 1, 2, 1])
    part = Images(samples, TARGET, Recipe("centre"), seed=0, encoded=True)[(0, 0, torch.arange(4))]
    refused = {len((tmp_path / "1.jpg").read_bytes())}  # nvJPEG stood in for: it refuses file 1, and the cut one

    def picky(data):
        if any(len(d) in refused or len(d) == len(whole) // 3 for d in data):
            raise RuntimeError("nvjpeg: bad data")
        return pillow_decoder(data)

    x, y, bad = GpuDecoder(TARGET, CPU, picky)(part)
    assert y.tolist() == [0, 1, 2]  # file 1 decoded by Pillow instead; the cut one left out
    assert [name for name, _ in bad] == [str(tmp_path / "cut.jpg")]
    expected, _, _ = Images(samples.take(torch.arange(3)), TARGET, Recipe("centre"), seed=0)[(0, 0, torch.arange(3))]
    assert torch.equal(x[1], expected[1])  # Pillow's own crop, the CPU path's exactly


def test_a_stream_decoding_on_the_gpu_gives_the_cpu_streams_batches_and_can_stop_mid_epoch(tmp_path):
    from cnnctl.train.stream import Stream

    samples = folder(tmp_path, 10)
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    common = {"seed": 4, "workers": 2, "recipe": Recipe("rrc", flip=True)}
    plain = Stream(samples, TARGET, mean, std, CPU, **common)
    gpu = Stream(samples, TARGET, mean, std, CPU, gpu=GpuDecoder(TARGET, CPU, pillow_decoder), **common)
    for epoch in (0, 1):
        pairs = list(zip(plain.epoch(epoch, 0, 3, 0, 1), gpu.epoch(epoch, 0, 3, 0, 1), strict=True))
        assert len(pairs) == 3
        for (xp, yp), (xg, yg) in pairs:
            assert torch.equal(yp, yg) and (xp - xg).abs().mean() < 3 / 255  # normalised x / 255
    early = gpu.epoch(2, 0, 3, 0, 1)
    next(early)
    early.close()  # the decoding thread stops; the loader serves the next pass
    assert len(list(gpu.epoch(3, 0, 3, 0, 1))) == 3


def test_a_crop_is_cut_on_whole_pixels_and_resized_with_antialiasing():
    image = torch.arange(2 * 40 * 60, dtype=torch.float32).view(2, 40, 60).remainder(251).to(torch.uint8)
    same = crop_resized(image, [10.2, 5.4, 26.0, 21.0], (16, 16, 2))
    assert torch.equal(same, image[:, 5:21, 10:26].float())  # a box of the input's size is cut, not resampled
    gray = crop_resized(image[:1], [0, 0, 60, 40], (8, 12, 3))
    assert gray.shape == (3, 8, 12) and torch.equal(gray[0], gray[2])  # one channel replicated to three
    mean = image[:1].float().mean()
    assert math.isclose(gray[0].mean().item(), mean.item(), rel_tol=0.05)  # antialiased: the mean stays


def roi_align_here() -> None:
    """Skips the calling test where torchvision's roi_align (boxes_resized's one call) cannot run."""
    try:
        from torchvision.ops import roi_align  # noqa: F401
    except Exception as exc:  # noqa: BLE001 (missing, or built for another torch)
        pytest.skip(f"torchvision does not import beside this torch ({exc.__class__.__name__}): no roi_align to check")


def test_roi_align_takes_the_cpu_paths_whole_pixel_box():
    roi_align_here()
    image = torch.randint(0, 256, (3, 40, 60), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    # Sides at 10.4, 5.6, 26.4, 21.6 round to the nearest whole pixels 10, 6, 26, 22: a 16x16 box.
    box = [10.4, 5.6, 26.4, 21.6]
    plain = boxes_resized([image, image.flip(0)], [box, box], (16, 16, 3))
    assert torch.equal(plain[0], image[:, 6:22, 10:26].float())  # a plain crop: the pixels themselves
    assert torch.equal(plain[1], image.flip(0)[:, 6:22, 10:26].float())
    # Twice the input's size: two samples a side per output pixel, at the pixels' centres: 2x2 means.
    halved = boxes_resized([image], [[10.4, 5.6, 42.4, 37.6]], (16, 16, 3))[0]
    expected = torch.nn.functional.avg_pool2d(image[:, 6:38, 10:42].float(), 2)
    assert torch.allclose(halved, expected, atol=1e-4)


NET = load_text("name: t\ninput: 32x32x3\nlayers:\n  - conv f=3 n=4 p=1\n  - pool avg global\n  - fc 3\n")


def test_decode_gpu_without_a_gpu_is_one_message_and_auto_stays_on_the_cpu(tmp_path):
    samples = folder(tmp_path, 3)
    with pytest.raises(CnnctlError) as caught:
        choose("gpu", CPU, NET, samples, Recipe("rrc"), TARGET, 2, 0)
    problem = caught.value.problems[0]
    assert "--decode gpu: the device is cpu" in problem.message and "--device cuda" in problem.hint
    auto = choose("auto", CPU, NET, samples, Recipe("rrc"), TARGET, 2, 0)
    assert auto.gpu is False and auto.said == ""
    assert choose("cpu", CPU, NET, samples, Recipe("rrc"), TARGET, 2, 0).gpu is False


CUDA = torch.device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nvjpeg_makes_the_batch_the_cpu_path_makes_within_a_few_levels(tmp_path):
    if (why := unavailable(CUDA)) is not None:
        pytest.skip(why)
    samples = folder(tmp_path, 8)
    for recipe in (Recipe("rrc", flip=True), Recipe("centre")):
        request = (3, 0, torch.arange(8))
        on_cpu, labels, _ = Images(samples, TARGET, recipe, seed=2)[request]
        part = Images(samples, TARGET, recipe, seed=2, encoded=True)[request]
        on_gpu, labels_gpu, bad = GpuDecoder(TARGET, CUDA)(part)  # resized by roi_align, a group at a time
        assert on_gpu.is_cuda and bad == [] and torch.equal(labels, labels_gpu)
        assert (on_gpu.cpu().float() - on_cpu.float()).abs().mean() < 3
        each, _, _ = GpuDecoder(TARGET, CUDA, resizer=each_resized)(part)  # and one image at a time
        assert (on_gpu.float() - each.float()).abs().mean() < 3


# --- the crop-box arithmetic both paths share (cnnctl.data.crops.crop_plan) -------------------


def test_the_crop_plan_takes_libjpegs_scale_then_whole_blocks_by_the_formula():
    from cnnctl.data.crops import crop_plan
    from cnnctl.data.decode import centre_box

    # A 1,000x750 JPEG's centre crop for 32x32 (224 of 256): resized by max(32 / 0.875 / 750,
    # 32 / 0.875 / 1000) = 0.04876, the box is 656.25 a side from (171.875, 46.875); it keeps the
    # input's pixels at ceil(1000 x 32 / 656.25) = 49 by ceil(750 x 32 / 656.25) = 37, which
    # libjpeg's 1/8 still covers (1000 // 49 = 750 // 37 = 20): decoded 125x94 (ceil of 750 / 8),
    # the box there from 171.875 x 125/1000 = 21.48 to 103.52 (rounded: 21 to 104), 5.875 to
    # 88.125 (6 to 88): 83x82, not more than 4 x 32, so not reduced; at the JPEG's own size,
    # eight times it: 168 to 832, 48 to 704.
    plan = crop_plan((1000, 750), 1, centre_box(32, 32, 0.875)(1000, 750), (32, 32), jpeg=True)
    assert (plan.scale, plan.request, plan.decoded) == (8, (49, 37), (125, 94))
    assert (plan.kept, plan.blocks, plan.region(1000, 750)) == ((21, 6, 104, 88), (1, 1), (168, 48, 832, 704))
    # A 1,000x750 PNG whole for 32x32: more than 4 x 32 a side, blocks of 1000 // 64 = 15 by
    # 750 // 64 = 11, the 10 and 2 pixels past them split: from 5 and 1, 66 and 68 blocks.
    png = crop_plan((1000, 750), 1, (0, 0, 1000, 750), (32, 32), jpeg=False)
    assert (png.scale, png.kept, png.blocks) == (1, (5, 1, 995, 749), (15, 11))
    # A 4,000x3,000 JPEG whole: 1/8 (500x375), then blocks of 7 by 5 from (1, 0): 71 by 75 of them;
    # at its own size the region ends at 498 x 8 = 3,984 and the bottom edge, 3,000.
    big = crop_plan((4000, 3000), 1, (0, 0, 4000, 3000), (32, 32), jpeg=True)
    assert (big.scale, big.decoded, big.kept, big.blocks) == (8, (500, 375), (1, 0, 498, 375), (7, 5))
    assert big.region(4000, 3000) == (8, 0, 3984, 3000)


@pytest.mark.parametrize("size", [(1000, 750), (1001, 753), (333, 97), (97, 333), (2000, 1500)])
@pytest.mark.parametrize("turn", [1, 6])
def test_the_crop_plans_scale_is_the_one_pillows_draft_decodes_at(tmp_path, size, turn):
    import io

    from cnnctl.data.crops import crop_plan
    from cnnctl.data.decode import area_box, centre_box

    out = io.BytesIO()
    Image.new("RGB", size, (120, 60, 30)).save(out, format="JPEG")
    upright = size[::-1] if turn >= 5 else size
    for box in (centre_box(32, 32, 0.875), centre_box(8, 12, 0.5), area_box(0.1, 0.2, 0.3, 0.9),
                area_box(0.9, -0.1, 0.5, 0.5)):  # fmt: skip
        plan = crop_plan(size, turn, box(*upright), (32, 32), jpeg=True)
        with Image.open(io.BytesIO(out.getvalue())) as im:
            _, scaled = im.draft(None, plan.request)  # (0, 0, width / scale, height / scale)
            assert im.size == plan.decoded and size[0] / scaled[2] == plan.scale
            assert all(0 <= a <= b for a, b in zip(plan.kept[:2], plan.kept[2:], strict=True))
            assert plan.kept[2] <= im.size[0] and plan.kept[3] <= im.size[1]


def test_the_gpu_side_resizes_the_pixels_the_cpu_paths_crop_keeps(tmp_path):
    # Once the GPU path took the box in whole pixels of the JPEG at its own size (172 to 828,
    # 47 to 703 for the centre crop above), not those the CPU path keeps of it as libjpeg decodes it.
    samples = Samples.files([photo(tmp_path / "a.jpg", 1000, 750, 4)], [0])
    part = Images(samples, TARGET, Recipe("centre"), seed=0, encoded=True)[(0, 0, torch.arange(1))]
    given = []

    def resizer(images, boxes, target):
        given.extend(boxes)
        return each_resized(images, boxes, target)

    on_gpu, _, bad = GpuDecoder(TARGET, CPU, pillow_decoder, resizer)(part)
    assert bad == [] and given == [[168, 48, 832, 704]]  # test_the_crop_plan_takes_libjpegs_scale...
    on_cpu, _, _ = Images(samples, TARGET, Recipe("centre"), seed=0)[(0, 0, torch.arange(1))]
    assert (on_gpu.float() - on_cpu.float()).abs().mean() < 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nvjpeg_resizes_the_pixels_the_cpu_paths_crop_keeps(tmp_path):
    if (why := unavailable(CUDA)) is not None:
        pytest.skip(why)
    samples = Samples.files([photo(tmp_path / "a.jpg", 1000, 750, 4)], [0])
    part = Images(samples, TARGET, Recipe("centre"), seed=0, encoded=True)[(0, 0, torch.arange(1))]
    given = []

    def resizer(images, boxes, target):
        given.extend(boxes)
        return boxes_resized(images, boxes, target)

    on_gpu, _, bad = GpuDecoder(TARGET, CUDA, resizer=resizer)(part)  # nvJPEG, at the JPEG's own size
    assert bad == [] and given == [[168, 48, 832, 704]]  # test_the_crop_plan_takes_libjpegs_scale...
    on_cpu, _, _ = Images(samples, TARGET, Recipe("centre"), seed=0)[(0, 0, torch.arange(1))]
    assert (on_gpu.cpu().float() - on_cpu.float()).abs().mean() < 3
