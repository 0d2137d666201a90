"""`cnnctl predict`: folders of images, one bad file among good ones, and saying how each image
was adapted (size, mode, alpha, a light background for a light-on-dark network)."""

import csv
import io
import json

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import cnnctl  # noqa: E402
from cnnctl.data import DataSplits, Split, make_shapes  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from cnnctl.train.predict import adapt_image  # noqa: E402
from tests.helpers import run_main  # noqa: E402

NET = "input: 16x16x1\nlayers: [conv f=3 p=same n=4 act=relu, pool max f=2, fc 10 act=softmax]\n"
RGB_TO_L = (0.299, 0.587, 0.114)  # ITU-R 601-2, Pillow's "L"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(network file, run folder) of a tiny network trained one epoch on `shapes` at 16x16x1."""
    root = tmp_path_factory.mktemp("predict")
    x, y = make_shapes(256, 16, 16, 1, seed=0)
    data = DataSplits("shapes", Split(x[:192], y[:192]), Split(x[192:], y[192:]), [str(i) for i in range(10)],
                   (0.2,), (0.3,), [])  # fmt: skip
    config = TrainConfig(epochs=1, batch_size=32, seed=0, device="cpu", out=str(root / "run"))
    result = train(cnnctl.load_text(NET), config, network_title="tiny", dataset=data)
    assert result.status == 0
    net = root / "tiny.yaml"
    net.write_text(NET)
    return net, result.run_dir


def predict(monkeypatch, capsys, trained, *args, checkpoint=None):
    net, run = trained
    return run_main(monkeypatch, capsys, "predict", str(net), *map(str, args), "--checkpoint",
                    str(checkpoint or run), "--device", "cpu")  # fmt: skip


def predict_json(monkeypatch, capsys, trained, *args, checkpoint=None):
    """(exit code, the JSON's predictions, stderr)."""
    code, out, err = predict(monkeypatch, capsys, trained, *args, "--format", "json", checkpoint=checkpoint)
    return code, json.loads(out)["predictions"], err


def gray(path, size=(16, 16), background=20, square=230):
    """A grayscale image: `square` on rows and columns 4 to 11 of `background`."""
    w, h = size
    image = Image.new("L", (w, h), background)
    image.paste(square, (4, 4, 12, 12))
    image.save(path)
    return path


# --- a folder stands for its images ----------------------------------------------------------


def test_a_folder_means_its_png_and_jpeg_files_sorted_then_its_subfolders(trained, tmp_path, monkeypatch, capsys):
    # Its subfolders were left out: `predict RUN data` (a folder of class folders) found no image at all.
    folder = tmp_path / "pics"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a-sub").mkdir()
    for name in ("b.PNG", "a.jpg", "c.JpEg", ".hidden.png", "sub/d.png", "sub/deeper/e.png", "a-sub/f.png"):
        Image.new("L", (16, 16), 9).save(folder / name, format="PNG" if name.lower().endswith("png") else "JPEG")
    (folder / "notes.txt").write_text("not an image")
    code, report, err = predict_json(monkeypatch, capsys, trained, folder)
    assert code == 0, err
    # as the lister reads class folders: a folder's files by name, then its subfolders' in name order
    order = ("a.jpg", "b.PNG", "c.JpEg", "a-sub/f.png", "sub/d.png", "sub/deeper/e.png")
    assert [r["image"] for r in report] == [str(folder / n) for n in order]
    assert all(len(r["top"]) == 5 and "error" not in r for r in report)
    # a file given beside the folder keeps its place in the order given
    code, report, err = predict_json(monkeypatch, capsys, trained, folder / "sub" / "d.png", folder)
    assert code == 0 and [r["image"] for r in report][:2] == [str(folder / "sub" / "d.png"), str(folder / "a.jpg")]


def test_a_folder_without_images_is_a_clear_error(trained, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = predict(monkeypatch, capsys, trained, empty)
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: {empty}: no PNG or JPEG images in this folder\n  hint: predict reads the .png, "), (
        err
    )
    (empty / "scan.bmp").write_bytes(b"BM")
    (empty / "readme.txt").write_text("x")
    code, report, err = predict_json(monkeypatch, capsys, trained, empty)
    assert code == 2 and report == [{"image": str(empty), "error": report[0]["error"]}]
    assert report[0]["error"]["message"] == "no PNG or JPEG images in this folder (2 other files)"
    assert report[0]["error"]["file"] == str(empty)


def test_a_checkpoint_in_a_run_folder_stands_for_the_run_with_those_weights(trained, tmp_path, monkeypatch, capsys):
    # `cnnctl predict RUN/last.pt` (once "not UTF-8 text"): the run's network, the weights named.
    import shutil

    net, trained_run = trained
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    shutil.copy(net, run / "network.yaml")  # as `cnnctl train FILE` leaves it
    image = gray(tmp_path / "one.png")
    code, out, err = run_main(monkeypatch, capsys, "predict", str(run / "last.pt"), str(image), "--device", "cpu")
    assert code == 0, err
    assert out.splitlines()[0] == f"predictions, weights {run / 'last.pt'}"
    by_run = run_main(monkeypatch, capsys, "predict", str(net), str(image), "--checkpoint", str(run / "last.pt"),
                      "--device", "cpu")  # fmt: skip
    assert by_run[1] == out


def test_json_names_the_weights_it_predicted_with(trained, tmp_path, monkeypatch, capsys):
    # the JSON was a list of images alone: the weights were named in the table's title only
    _, run = trained
    image = gray(tmp_path / "one.png")
    code, out, err = predict(monkeypatch, capsys, trained, image, "--format", "json", checkpoint=run / "last.pt")
    assert code == 0, err
    data = json.loads(out)
    assert data["weights"] == str(run / "last.pt")  # the checkpoint given
    assert [p["image"] for p in data["predictions"]] == [str(image)]


# --- one bad file does not stop the others ---------------------------------------------------


def test_unreadable_files_get_their_own_errors_and_the_others_are_predicted(trained, tmp_path, monkeypatch, capsys):
    good = gray(tmp_path / "good.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    missing = tmp_path / "missing.png"
    code, report, err = predict_json(monkeypatch, capsys, trained, broken, good, missing)
    assert code == 2
    assert [r["image"] for r in report] == [str(broken), str(good), str(missing)]
    assert [sorted(r) for r in report] == [["error", "image"], ["adapted", "image", "read", "top", "warnings"],
                                           ["error", "image"]]  # fmt: skip
    assert report[0]["error"]["file"] == str(broken) and report[0]["error"]["message"].startswith("cannot read")
    assert report[2]["error"]["message"] == "cannot read the image: no such file"
    # stderr: one located problem per bad file, then how many, in the project's format
    lines = err.splitlines()
    assert lines[0].startswith(f"error: {broken}: cannot read the image: ")
    assert lines[1:] == [f"error: {missing}: cannot read the image: no such file",
                         "error: 2 of 3 images not read; the others were predicted"]  # fmt: skip
    # exit 2 in JSON has `errors`, as every command's: the same problems, with the predictions kept
    code, out, _ = predict(monkeypatch, capsys, trained, broken, good, missing, "--format", "json")
    document = json.loads(out)
    assert code == 2 and len(document["predictions"]) == 3
    assert [e["text"] for e in document["errors"]] == lines
    code, out, _ = predict(monkeypatch, capsys, trained, good, "--format", "json")
    assert code == 0 and "errors" not in json.loads(out)
    # the good image's prediction is the one it gets alone
    code, alone, _ = predict_json(monkeypatch, capsys, trained, good)
    assert code == 0 and alone[0]["top"] == report[1]["top"]
    # the table: a row saying so for each bad file, the classes for the good one
    code, out, err = predict(monkeypatch, capsys, trained, broken, good, missing, "-k", "2")
    assert code == 2
    table = out.split("\n\n")[0]  # the rows; the notes come after a blank line
    rows = [line.split() for line in table.splitlines() if line.startswith(str(tmp_path))]
    assert [(r[0], r[1]) for r in rows] == [(str(broken), "-"), (str(good), "1"), (str(good), "2"), (str(missing), "-")]
    # a short cell, the reason on stderr: the class column stays as wide as the classes' names
    assert [line.split()[2:4] for line in table.splitlines() if line.startswith((str(broken), str(missing)))] == [
        ["not", "read"], ["not", "read"]]  # fmt: skip
    dashes = table.splitlines()[2].split()  # under the header: a run of dashes per column
    assert len(dashes[2]) < 20 and "cannot read" not in out  # it was as wide as the reason (60 here)
    assert f"error: {missing}: cannot read the image: no such file" in err
    code, out, err = predict(monkeypatch, capsys, trained, broken, good, missing, "-k", "2", "--format", "csv")
    lines = out.splitlines()
    assert lines[0].endswith(",error") and lines[-1].endswith(",cannot read the image: no such file")


def test_when_no_image_could_be_read_it_says_so_and_exits_2(trained, tmp_path, monkeypatch, capsys):
    # it said "2 of 2 images not read; the others were predicted"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    missing = tmp_path / "missing.png"
    code, out, err = predict(monkeypatch, capsys, trained, broken, missing)
    assert code == 2
    assert err.splitlines()[-1] == "error: none of the 2 images could be read"
    assert "the others" not in err


# --- what was done to each image -------------------------------------------------------------


def test_an_image_that_fits_is_used_as_read(trained, tmp_path, monkeypatch, capsys):
    path = gray(tmp_path / "fits.png")
    code, report, _ = predict_json(monkeypatch, capsys, trained, path)
    assert code == 0
    assert report[0]["read"] == {"height": 16, "width": 16, "mode": "L"}
    assert report[0]["adapted"] == [] and report[0]["warnings"] == []
    code, out, _ = predict(monkeypatch, capsys, trained, path)
    assert f"{path}: read 16x16 L; used as read" in out.splitlines()


def test_alpha_colour_and_size_are_said_in_the_order_done(trained, tmp_path, monkeypatch, capsys):
    # 24 wide, 20 high, RGBA: the left 12 columns fully transparent, the rest opaque
    image = Image.new("RGBA", (24, 20), (200, 100, 50, 255))
    image.paste((10, 20, 30, 0), (0, 0, 12, 20))
    path = tmp_path / "photo.png"
    image.save(path)
    code, report, _ = predict_json(monkeypatch, capsys, trained, path)
    assert code == 0
    (r,) = report
    assert r["read"] == {"height": 20, "width": 24, "mode": "RGBA"}
    transparent = 12 * 20 / (24 * 20)
    assert r["adapted"] == [
        f"dropped the alpha channel: {transparent:.1%} of the pixels were (partly) transparent and now show the "
        "colour stored under them",
        "converted RGB to grayscale (L = 0.299 R + 0.587 G + 0.114 B, ITU-R 601-2)",
        "resized 20x24 to 16x16 (area) (aspect ratio changed)",
    ]
    # the table says the same under it; CSV carries it in columns
    code, out, _ = predict(monkeypatch, capsys, trained, path)
    assert f"{path}: read 20x24 RGBA; dropped the alpha channel: 50.0% of the pixels" in out
    code, out, _ = predict(monkeypatch, capsys, trained, path, "--format", "csv", "-k", "1")
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["read"] == "20x24 RGBA" and row["adapted"] == "; ".join(r["adapted"])


def test_conversions_give_the_values_their_formulas_give(tmp_path):
    colour = (200, 100, 50)
    Image.new("RGB", (8, 8), colour).save(tmp_path / "rgb.png")
    x, seen = adapt_image(str(tmp_path / "rgb.png"), 8, 8, 1)
    assert seen.adapted == ["converted RGB to grayscale (L = 0.299 R + 0.587 G + 0.114 B, ITU-R 601-2)"]
    assert x.unique().tolist() == [round(sum(c * k for c, k in zip(colour, RGB_TO_L, strict=True)))]  # 124
    Image.new("L", (8, 8), 77).save(tmp_path / "gray.png")
    x, seen = adapt_image(str(tmp_path / "gray.png"), 4, 4, 3, invert=True)
    assert seen.adapted == ["converted grayscale to RGB (the gray value in each channel)",
                            "inverted (255 - value, --invert)", "resized 8x8 to 4x4 (area)"]  # fmt: skip
    assert x.shape == (1, 3, 4, 4) and x.unique().tolist() == [255 - 77]
    palette = Image.new("P", (8, 8), 3)
    palette.save(tmp_path / "p.png")
    assert adapt_image(str(tmp_path / "p.png"), 8, 8, 1)[1].adapted == ["converted palette colours to grayscale"]


def test_a_blank_image_is_warned_of(trained, tmp_path, monkeypatch, capsys):
    path = tmp_path / "flat.png"
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(path)  # nothing but transparency
    code, report, _ = predict_json(monkeypatch, capsys, trained, path)
    assert code == 0  # a warning, not an error
    (warning,) = report[0]["warnings"]
    assert warning["severity"] == "warning" and warning["message"] == "every pixel is 0 once adapted: a blank image"
    assert "alpha channel" in warning["hint"]


# --- a background the other way round from the training images' ------------------------------

TRAINED_MEAN = 0.2  # the fixture's data: light shapes on dark, 0.2 x 255 = 51 on average


def with_data(trained, tmp_path, data, mean=TRAINED_MEAN):
    """A copy of the run's checkpoint that says it was trained on `data`, whose images average `mean`."""
    state = torch.load(trained[1] / "best.pt", weights_only=True)
    state["config"]["data"] = data
    state["mean"] = [mean]
    path = tmp_path / f"{data.strip('/').replace('/', '_')}-{mean}.pt"
    torch.save(state, path)
    return path


def test_a_dark_on_light_image_is_warned_of_for_a_light_on_dark_network(trained, tmp_path, monkeypatch, capsys):
    dark_on_light = gray(tmp_path / "paper.png", background=230, square=20)
    light_on_dark = gray(tmp_path / "screen.png", background=20, square=230)
    code, report, _ = predict_json(monkeypatch, capsys, trained, dark_on_light, light_on_dark)
    assert code == 0
    (warning,) = report[0]["warnings"]
    assert warning["file"] == str(dark_on_light)
    # the 60 pixels of a 16x16 image's outermost ring are all background: 230
    assert warning["message"] == (
        "a light background: the image's border averages 230 of 255, but the network was trained on `shapes`, "
        f"light on dark (its training images average {TRAINED_MEAN * 255:.0f} of 255)"
    )
    assert warning["hint"] == "give --invert to predict on the inverted image (255 - value)"
    assert report[1]["warnings"] == []
    # in the table: a warning line and its hint, under the table
    code, out, _ = predict(monkeypatch, capsys, trained, dark_on_light)
    lines = out.splitlines()
    i = lines.index(f"warning: {dark_on_light}: {warning['message']}")
    assert lines[i + 1] == f"  hint: {warning['hint']}"


def test_the_background_is_judged_by_the_training_images_whatever_their_data(trained, tmp_path, monkeypatch, capsys):
    # It used to be judged for mnist, fashion-mnist and shapes by name only: never for a run
    # trained on a folder. The checkpoint's channel means say what its images looked like.
    dark_on_light = gray(tmp_path / "paper.png", background=230, square=20)
    light_on_dark = gray(tmp_path / "screen.png", background=20, square=230)
    folder = str(tmp_path / "digits")
    code, report, _ = predict_json(monkeypatch, capsys, trained, dark_on_light, light_on_dark,
                                   checkpoint=with_data(trained, tmp_path, folder))  # fmt: skip
    assert code == 0 and report[1]["warnings"] == []
    (warning,) = report[0]["warnings"]
    assert warning["message"].startswith("a light background: the image's border averages 230 of 255, but the "
                                         "network was trained on `digits`, light on dark")  # fmt: skip
    # photos (CIFAR-10's mean is about 0.47): no convention, no warning either way
    code, report, _ = predict_json(monkeypatch, capsys, trained, dark_on_light, light_on_dark,
                                   checkpoint=with_data(trained, tmp_path, folder, mean=0.47))  # fmt: skip
    assert code == 0 and [r["warnings"] for r in report] == [[], []]
    # dark things on light (scanned pages: 0.9 x 255 = 230 on average): the other way round
    code, report, _ = predict_json(monkeypatch, capsys, trained, dark_on_light, light_on_dark,
                                   checkpoint=with_data(trained, tmp_path, folder, mean=0.9))  # fmt: skip
    assert code == 0 and report[0]["warnings"] == []
    (warning,) = report[1]["warnings"]
    assert warning["message"] == (
        "a dark background: the image's border averages 20 of 255, but the network was trained on `digits`, "
        "dark on light (its training images average 230 of 255)"
    )


def small_digit(path, background=230, ink=20):
    """A 12x12 image for the 16x16 network (padded, as 28x28 MNIST digits are to 32x32): `ink` on
    rows and columns 4 to 7 of `background`."""
    image = Image.new("L", (12, 12), background)
    image.paste(ink, (4, 4, 8, 8))
    image.save(path)
    return path


def test_invert_comes_before_the_padding_which_stays_black(trained, tmp_path, monkeypatch, capsys):
    # --invert inverted the padded image: the zeros of the padding became 255, a white frame
    # around the digit that no training image had (a 28x28 digit lost a fifth of its score).
    paper = small_digit(tmp_path / "paper.png")
    x, seen = adapt_image(str(paper), 16, 16, 1, invert=True)
    assert seen.adapted == ["inverted (255 - value, --invert)", "padded 12x12 to 16x16 with zeros (centred)"]
    expected = torch.zeros(16, 16, dtype=torch.uint8)  # 2 pixels of padding on each side
    expected[2:14, 2:14] = 255 - 230
    expected[6:10, 6:10] = 255 - 20
    assert torch.equal(x[0, 0], expected)
    # and the prediction is the one of the image inverted by hand
    screen = small_digit(tmp_path / "screen.png", background=255 - 230, ink=255 - 20)
    code, by_option, _ = predict_json(monkeypatch, capsys, trained, paper, "--invert")
    assert code == 0
    code, by_hand, _ = predict_json(monkeypatch, capsys, trained, screen)
    assert by_option[0]["top"] == by_hand[0]["top"]


def test_the_background_is_judged_on_the_image_as_read_not_its_padding(trained, tmp_path, monkeypatch, capsys):
    # The border was measured after padding: the padding's zeros hid any light background.
    paper = small_digit(tmp_path / "paper.png")
    code, report, _ = predict_json(monkeypatch, capsys, trained, paper)
    assert code == 0
    (warning,) = report[0]["warnings"]
    assert warning["message"].startswith("a light background: the image's border averages 230 of 255")
    code, report, _ = predict_json(monkeypatch, capsys, trained, paper, "--invert")
    assert code == 0 and report[0]["warnings"] == []


def test_invert_predicts_on_the_inverted_image(trained, tmp_path, monkeypatch, capsys):
    dark_on_light = gray(tmp_path / "paper.png", background=230, square=20)
    inverted = gray(tmp_path / "inverted.png", background=255 - 230, square=255 - 20)
    code, by_option, _ = predict_json(monkeypatch, capsys, trained, dark_on_light, "--invert")
    assert code == 0
    code, by_hand, _ = predict_json(monkeypatch, capsys, trained, inverted)
    assert by_option[0]["top"] == by_hand[0]["top"]
    assert by_option[0]["adapted"] == ["inverted (255 - value, --invert)"] and by_option[0]["warnings"] == []
    # --invert on an image already light on dark: said, with the way back
    code, report, _ = predict_json(monkeypatch, capsys, trained, inverted, "--invert")
    (warning,) = report[0]["warnings"]
    assert warning["message"].startswith(f"a light background after --invert: the image's border averages {230} of")
    assert "leave --invert out" in warning["hint"]


def test_a_class_list_ends_in_dots_only_where_classes_are_left_out(trained, tmp_path):
    """Evaluating on data of other classes names both lists: the checkpoint's ten with "...",
    the folder's two complete, without (it was "a, b..." before)."""
    from cnnctl.errors import CnnctlError
    from cnnctl.train.evaluate import evaluate

    net, run = trained
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        gray(tmp_path / name / "1.png")
        gray(tmp_path / name / "2.png")
    with pytest.raises(CnnctlError) as caught:
        evaluate(cnnctl.load(str(net)), run, str(tmp_path), None, device_name="cpu", split="all")
    message = caught.value.problems[0].message
    assert message.endswith(f"trained on the 10 classes 0, 1, 2, 3, 4, ..., but `{tmp_path.name}` has 2 classes a, b")


# --- weights from an ONNX file cnnctl exported -------------------------------------------------
def test_weights_from_an_exported_onnx_file_bring_its_normalisation_and_classes(trained, tmp_path, monkeypatch,
                                                                                capsys):  # fmt: skip
    # `cnnctl export --checkpoint RUN -o x.onnx` keeps the run's mean, std and classes in the
    # file's metadata_props; `predict --weights x.onnx` reads them back (once "the weights record
    # no normalisation"): the run's own predictions. Changed in the file, they are what is used.
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    net, run = trained
    exported = tmp_path / "x.onnx"
    code, _, err = run_main(monkeypatch, capsys, "export", str(net), "--checkpoint", str(run), "-o", str(exported))
    assert code == 0, err
    images = [gray(tmp_path / "a.png"), gray(tmp_path / "b.png", background=200, square=40)]

    def top(*args: str) -> list:
        code, out, err = run_main(monkeypatch, capsys, "predict", str(net), *map(str, images), "--device", "cpu",
                                  "--format", "json", *args)  # fmt: skip
        assert code == 0, err
        return [[(t["class"], round(t["probability"], 5)) for t in r["top"]] for r in json.loads(out)["predictions"]]

    assert top("--weights", str(exported)) == top("--checkpoint", str(run))
    model = onnx.load(str(exported))
    names = [f"kind{i}" for i in range(10)]
    onnx.helper.set_model_props(
        model,
        {p.key: p.value for p in model.metadata_props}
        | {"cnnctl.mean": "[0.6]", "cnnctl.std": "[0.1]", "cnnctl.classes": json.dumps(names)},
    )
    onnx.save(model, str(tmp_path / "y.onnx"))
    renamed = [[(names[int(c)], p) for c, p in r] for r in top("--weights", str(exported), "--mean", "0.6", "--std",
                                                                 "0.1")]  # fmt: skip
    assert top("--weights", str(tmp_path / "y.onnx")) == renamed


def test_a_bad_normalisation_in_an_onnx_file_is_one_message_naming_the_file(trained, tmp_path, monkeypatch, capsys):
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    net, run = trained
    path = tmp_path / "x.onnx"
    code, _, err = run_main(monkeypatch, capsys, "export", str(net), "--checkpoint", str(run), "-o", str(path))
    assert code == 0, err
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {p.key: p.value for p in model.metadata_props}
                                | {"cnnctl.mean": "[0.5, 0.5, 0.5]", "cnnctl.std": "[0.2, 0.2, 0.2]"})  # fmt: skip
    onnx.save(model, str(path))
    code, out, err = run_main(monkeypatch, capsys, "predict", str(net), str(gray(tmp_path / "a.png")), "--weights",
                              str(path), "--device", "cpu")  # fmt: skip
    assert code == 2 and out == "" and "Traceback" not in err and err.count("error:") == 1, err
    assert err.startswith(f"error: {path}: the channel mean from the weights in {path} has 3 values for a network of "
                          "1 input channel")  # fmt: skip


def test_only_a_network_of_one_channel_is_told_to_invert_and_an_export_says_inverting_is_an_option():
    # A colour photo on a light background, for a colour network trained light on dark, got MNIST's
    # advice `give --invert`; an export's "an image drawn the other way round is inverted first" read
    # as done of itself.
    from types import SimpleNamespace

    from cnnctl.exchange.export import adaptation
    from cnnctl.train.background import Background, image_warnings, training_background

    x = torch.full((1, 3, 8, 8), 230, dtype=torch.uint8)  # its border: 230 of 255, light
    x[..., 3:5, 3:5] = 20
    seen = SimpleNamespace(adapted=[], image="photo.jpg")
    (colour,) = image_warnings(x, seen, Background("`big`", 0.15, dark=True, gray=False), invert=False)
    (drawing,) = image_warnings(x[:, :1], seen, Background("`big`", 0.15, dark=True, gray=True), invert=False)
    assert colour.message == drawing.message and colour.message.startswith("a light background: ")
    assert drawing.hint == "give --invert to predict on the inverted image (255 - value)"
    assert "--invert" not in colour.hint
    state = {"mean": [0.1, 0.1, 0.1], "config": {"data": "big"}}  # what a checkpoint records
    assert not training_background(state).gray and training_background(state | {"mean": [0.1]}).gray
    said = adaptation(cnnctl.load("lenet5"), ("`mnist`", "light on dark"))
    assert said.endswith("an image drawn the other way round may be inverted first, an option, never done of "
                         "itself (255 - value: `cnnctl predict --invert`)")  # fmt: skip


def test_a_folder_of_class_folders_is_predicted_image_by_image(trained, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data"
    for cls in ("circle", "square"):
        (folder / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("L", (16, 16), 9 + i).save(folder / cls / f"{i}.png")
    code, report, err = predict_json(monkeypatch, capsys, trained, folder)
    assert code == 0, err
    assert [r["image"] for r in report] == [str(folder / c / f"{i}.png") for c in ("circle", "square") for i in (0, 1)]


def test_a_folder_of_shards_is_told_to_be_evaluated_not_said_to_hold_no_images(trained, tmp_path, monkeypatch, capsys):
    # it said "no PNG or JPEG images in this folder (4 other files)" of what `cnnctl pack` wrote
    folder = tmp_path / "data"
    for cls in ("circle", "square"):
        (folder / cls).mkdir(parents=True)
        Image.new("L", (16, 16), 9).save(folder / cls / "0.png")
    shards = tmp_path / "shards"
    code, _, err = run_main(monkeypatch, capsys, "pack", str(folder), "-o", str(shards))
    assert code == 0, err
    code, report, err = predict_json(monkeypatch, capsys, trained, shards)
    assert code == 2 and "Traceback" not in err
    assert report[0]["error"]["message"].startswith("a folder of WebDataset shards (.tar, as `cnnctl pack` writes")
    assert f"cnnctl evaluate RUN --data {shards}" in report[0]["error"]["hint"]


def test_a_folders_unreadable_images_follow_the_one_rule_of_train_and_evaluate(trained, tmp_path, monkeypatch, capsys):
    # One unreadable image in a folder of photos made predict exit 2; training and evaluate leave up to 1%
    # of the images listed (of at least 100) out. 101 listed: int(1% of 101) = 1 may be unreadable.
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(100):
        gray(folder / f"{i:03d}.png")
    (folder / "zz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    code, out, err = predict(monkeypatch, capsys, trained, folder, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["images_skipped"] == 1 and "errors" not in document
    report = document["predictions"]
    assert len(report) == 101 and sum("top" in r for r in report) == 100
    assert report[-1]["image"] == str(folder / "zz-broken.png") and report[-1]["error"]["message"].startswith(
        "cannot read the image"
    )
    assert report[-1]["error"]["severity"] == "warning"  # left out, not an error: exit 0
    lines = err.splitlines()
    assert lines[0].startswith(f"warning: {folder / 'zz-broken.png'}: cannot read the image: ")
    assert lines[-1] == (
        "warning: left out 1 unreadable image of the 101 listed in folders (up to 1 may be: 1% "
        "of the images listed); the others were predicted"
    )
    code, out, _ = predict(monkeypatch, capsys, trained, folder, "--format", "csv")
    assert code == 0 and out.splitlines()[-1].endswith(",not read,,,,,cannot read the image: cannot identify "
                                                       f"image file {folder / 'zz-broken.png'}")  # fmt: skip
    # past the rule: one message, the total and the first named; exit 2
    (folder / "zz-broken2.png").write_bytes(b"not an image at all")
    code, out, err = predict(monkeypatch, capsys, trained, folder)
    assert code == 2 and "Traceback" not in err
    told = [line for line in err.splitlines() if line.startswith("error: ")]
    assert told[0].startswith(f"error: 2 of the 102 images listed could not be decoded (up to 1 may be: 1% of the "
                              f"images listed): {folder / 'zz-broken.png'}: cannot read the image")  # fmt: skip
    assert told[1] == "error: 2 of 102 images not read; the others were predicted" and len(told) == 2
    # a single image named that cannot be read stays an error
    code, _, err = predict(monkeypatch, capsys, trained, folder / "zz-broken.png")
    assert code == 2 and err.startswith(f"error: {folder / 'zz-broken.png'}: cannot read the image")


def test_a_branch_nested_too_deep_is_named_and_the_rest_predicted(trained, tmp_path, monkeypatch, capsys):
    # It refused the whole folder with a hint about class folders ("move them nearer the class folder").
    folder = tmp_path / "pics"
    deep = folder.joinpath(*["d"] * 101)
    deep.mkdir(parents=True)
    gray(deep / "lost.png")
    gray(folder / "one.png")
    code, out, err = predict(monkeypatch, capsys, trained, folder, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["images_skipped"] == 1
    report = document["predictions"]
    assert [r["image"] for r in report] == [str(folder / "one.png"), str(folder.joinpath(*["d"] * 101))]
    assert "top" in report[0] and report[1]["error"]["message"] == (
        f"a folder nested more than 100 deep in {folder}: its images are not read"
    )
    assert "class folder" not in err and "give this folder itself" in report[1]["error"]["hint"]
