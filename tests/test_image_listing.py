"""The one lister of image files (cnnctl.data.folder.list_images): class folders read at any
depth as torchvision's ImageFolder reads them, hidden entries and links out left out, loops of
links never followed for ever; mask folders and predict's folders listed by it too."""

import os

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import cnnctl  # noqa: E402
from cnnctl.data import load_data  # noqa: E402
from cnnctl.data.folder import list_image_folder, list_images  # noqa: E402
from cnnctl.data.pack import pack  # noqa: E402
from cnnctl.data.stats import given  # noqa: E402

PLAIN = given((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 3, "the test")


def image(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, value, value)).save(path, format="PNG")
    return path


def nested(root):
    """cat: 2 images in it, 2 in cat/b/, 1 in cat/a/2024/; dog: only in dog/x/; hidden and junk beside."""
    for name in ("cat/z.png", "cat/a.png", "cat/b/2.png", "cat/b/1.png", "cat/a/2024/0.png", "dog/x/d.png",
                 "dog/x/e.png", "cat/.ipynb_checkpoints/a-checkpoint.png", "cat/._a.png"):  # fmt: skip
        image(root / name)
    (root / "cat" / "b" / "notes.txt").write_text("x")
    return root


def test_class_folders_are_read_at_any_depth_in_a_fixed_order(tmp_path):
    root = nested(tmp_path / "data")
    tree = list_image_folder(root)
    # each folder's files by name, then its subfolders' in name order; hidden files and folders left out
    expected = ["cat/a.png", "cat/z.png", "cat/a/2024/0.png", "cat/b/1.png", "cat/b/2.png"]
    expected += ["dog/x/d.png", "dog/x/e.png"]
    assert [str(f.relative_to(root)) for f, _ in tree.splits["train"]] == expected
    assert [label for _, label in tree.splits["train"]] == [0, 0, 0, 0, 0, 1, 1]
    assert tree.classes == ["cat", "dog"] and [str(f.relative_to(root)) for f in tree.not_images] == ["cat/b/notes.txt"]


@pytest.mark.parametrize("stream", [False, True])
def test_training_reads_the_images_of_subfolders_held_or_streamed(tmp_path, stream):
    root = nested(tmp_path / "data")
    data = load_data(str(root), (8, 8, 3), stream=stream, workers=0, stats=PLAIN, val_split=0.0)
    assert len(data.train) == 7
    assert any(note.startswith(("listed 7 images of 2 classes", "listed 7 RGB images")) for note in data.notes)


def test_pack_writes_the_images_of_subfolders(tmp_path):
    root = nested(tmp_path / "data")
    assert pack(root, tmp_path / "out", 10**9).images() == 7


def test_links_making_loops_are_not_followed(tmp_path):
    root = tmp_path / "data"
    image(root / "cat" / "a.png")
    image(root / "dog" / "b.png")
    (root / "cat" / "self").symlink_to(".")
    (root / "cat" / "up").symlink_to("..")  # holds cat/: a loop, not followed (nor into dog/)
    (root / "dog" / "again").symlink_to(root / "dog")
    tree = list_image_folder(root)
    listed = [str(f.relative_to(root)) for f, _ in tree.splits["train"]]
    assert listed == ["cat/a.png", "dog/b.png"]


def test_a_link_out_below_a_class_folder_is_left_out_and_named(tmp_path):
    root = tmp_path / "data"
    image(root / "cat" / "a.png")
    image(root / "dog" / "b.png")
    image(tmp_path / "elsewhere" / "c.png")
    (root / "cat" / "more").symlink_to(tmp_path / "elsewhere")
    tree = list_image_folder(root)
    assert [f.name for f, _ in tree.splits["train"]] == ["a.png", "b.png"]
    assert tree.outside == [(root / "cat" / "more", str(tmp_path / "elsewhere"))]


def test_the_lister_not_recursive_keeps_files_only(tmp_path):
    folder = tmp_path / "pics"
    for name in ("b.PNG", "a.jpg", ".hidden.png", "sub/d.png"):
        image(folder / name)
    (folder / "dir.png").mkdir()  # a folder named like an image is no image
    found, others = list_images(folder, recursive=False)
    assert [f.name for f in found] == ["a.jpg", "b.PNG"] and others == []


def test_a_mask_folder_leaves_hidden_files_out(tmp_path):
    # macOS's `._a.png` resource files beside the images were once "no mask for ._a.png"
    root = tmp_path / "seg"
    (root / "masks").mkdir(parents=True)
    for name in ("a", "b"):
        image(root / "images" / f"{name}.png")
        Image.new("L", (8, 8), 1).save(root / "masks" / f"{name}.png")
    (root / "images" / "._a.png").write_bytes(b"\x00\x05\x16\x07")
    (root / "images" / "sub.png").mkdir()
    data = load_data(str(root), (8, 8, 3), masks=(8, 8, 2), stats=PLAIN, val_split=0.0)
    assert len(data.train) == 2


def test_a_mask_folder_does_not_read_a_link_out(tmp_path):
    root = tmp_path / "seg"
    (root / "masks").mkdir(parents=True)
    for name in ("a", "b"):
        image(root / "images" / f"{name}.png")
        Image.new("L", (8, 8), 1).save(root / "masks" / f"{name}.png")
    secret = image(tmp_path / "secret.png", 255)
    (root / "images" / "c.png").symlink_to(secret)
    data = load_data(str(root), (8, 8, 3), masks=(8, 8, 2), stats=PLAIN, val_split=0.0)
    assert len(data.train) == 2
    assert any(f"images/c.png -> {secret}" in note for note in data.notes)


def test_predict_lists_a_folder_as_training_does_a_link_out_named(tmp_path):
    from cnnctl.train.predict import image_files

    folder = tmp_path / "pics"
    image(folder / "a.png")
    image(folder / "c.png")
    secret = image(tmp_path / "secret.png")
    (folder / "b.png").symlink_to(secret)
    (folder / "in.png").symlink_to(folder / "a.png")
    got = image_files([str(folder)])
    assert [os.path.basename(p) for p, _, _ in got] == ["a.png", "b.png", "c.png", "in.png"]
    assert [problem is None for _, problem, _ in got] == [True, False, True, True]
    assert all(in_folder for _, _, in_folder in got)  # each listed from the folder: under the 1% rule
    assert got[1][1].message == f"a link leading out of the folder, to {secret}: not read"


def test_an_empty_class_folder_is_still_told(tmp_path):
    root = tmp_path / "data"
    image(root / "cat" / "a.png")
    image(root / "dog" / "b.png")
    (root / "bird" / "empty").mkdir(parents=True)
    with pytest.raises(cnnctl.CnnctlError) as caught:
        list_image_folder(root)
    assert caught.value.problems[0].message == "class folder without PNG or JPEG images"
    assert "in it or in its subfolders" in caught.value.problems[0].hint


def test_class_folders_linked_from_elsewhere_are_named_with_the_way_on(tmp_path):
    # `for c in a b c; do ln -s ../clean/$c three/$c; done` was "no data in three" with a hint about IDX files
    clean = tmp_path / "clean"
    for c in ("a", "b", "c"):
        image(clean / c / "0.png")
        (tmp_path / "three").mkdir(exist_ok=True)
        (tmp_path / "three" / c).symlink_to(f"../clean/{c}")
    with pytest.raises(cnnctl.CnnctlError) as caught:
        load_data(str(tmp_path / "three"), (8, 8, 3), stats=PLAIN)
    (problem,) = caught.value.problems
    links = ", ".join(f"{c} -> {clean / c}" for c in ("a", "b", "c"))
    assert problem.message == f"no class folder: 3 subfolders of three/ are links leading out of it, not read: {links}"
    assert problem.hint.endswith(f"into three/, or give the folder they lead to instead ({clean})")


def test_one_class_left_and_the_others_linked_from_elsewhere_names_the_links(tmp_path):
    image(tmp_path / "clean" / "a" / "0.png")
    image(tmp_path / "two" / "b" / "0.png")
    (tmp_path / "two" / "a").symlink_to(tmp_path / "clean" / "a")
    with pytest.raises(cnnctl.CnnctlError) as caught:
        pack(tmp_path / "two", tmp_path / "out", 10**9)
    message = caught.value.problems[0].message
    assert message.startswith(f"one class folder in {tmp_path / 'two'} (`b`), and 1 subfolder of two/ is a link")
    assert message.endswith(f"a -> {tmp_path / 'clean' / 'a'}")
