"""An image folder as a student may give one: folders nested thousands deep are one message at
the folder past limits.MAX_FOLDER_DEPTH (never a RecursionError, never a walk of quadratic time),
and a FIFO, a socket or a folder of the wrong kind in a class folder is named with what it is,
never opened (data.folder.list_images, its notes, and `pack`'s skipped.txt)."""

import os
import socket

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from cnnctl.data.folder import folder_samples, list_image_folder, list_images  # noqa: E402
from cnnctl.data.pack import pack  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402
from cnnctl.limits import MAX_FOLDER_DEPTH  # noqa: E402
from tests.test_reading import within  # noqa: E402


def image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path, format="PNG")
    return path


def nest(top, levels: int):
    """`levels` folders one inside the other under `top` (`top/a/a/...`), made through a
    relative path from each (a path of 3,000 levels is longer than PATH_MAX)."""
    here = os.open(top, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("a", dir_fd=here)
            below = os.open("a", os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = below
    finally:
        os.close(here)


def unnest(top) -> None:
    """Remove what `nest` made under `top`, one level at a time: shutil.rmtree (and pytest's
    clean-up of old temporary folders) recurses once per level, past Python's limit."""
    chain, moved = top / "a", top / "a_rest"
    while chain.is_dir():
        if (chain / "a").is_dir():
            os.rename(chain / "a", moved)  # the rest of the chain, one level up
        os.rmdir(chain)
        if moved.is_dir():
            os.rename(moved, chain)


def test_folders_nested_thousands_deep_are_one_message_at_the_folder_past_the_limit(tmp_path):
    image(tmp_path / "d" / "cat" / "a.png")
    image(tmp_path / "d" / "dog" / "b.png")
    nest(tmp_path / "d" / "cat", 3000)
    try:
        with within(60), pytest.raises(CnnctlError) as caught:
            list_image_folder(tmp_path / "d")
        said = str(caught.value)
        deepest = tmp_path / "d" / "cat" / os.path.join(*["a"] * (MAX_FOLDER_DEPTH + 1))
        assert f"{deepest}: folders nested more than {MAX_FOLDER_DEPTH} deep in {tmp_path / 'd' / 'cat'}" in said
        with within(60), pytest.raises(CnnctlError, match="nested more than"):
            pack(tmp_path / "d", tmp_path / "out", 10**9)
    finally:
        unnest(tmp_path / "d" / "cat")
    assert not (tmp_path / "d" / "cat" / "a").exists()


def test_images_as_deep_as_the_limit_are_read(tmp_path):
    image(tmp_path / "d" / "dog" / "b.png")
    deep = tmp_path / "d" / "cat" / os.path.join(*["a"] * MAX_FOLDER_DEPTH)
    image(deep / "a.png")
    found, _ = list_images(tmp_path / "d" / "cat")
    assert found == [deep / "a.png"]


def test_a_fifo_and_a_socket_in_a_class_folder_are_named_with_what_they_are_never_opened(tmp_path):
    root = tmp_path / "d"
    image(root / "cat" / "a.png")
    image(root / "dog" / "b.png")
    os.mkfifo(root / "cat" / "pipe.png")  # named like an image: opening it for a read would wait for ever
    bound = socket.socket(socket.AF_UNIX)
    try:
        bound.bind(str(root / "dog" / "sock"))
        with within(60):
            found, others = list_images(root / "cat")
            assert found == [root / "cat" / "a.png"] and others == [root / "cat" / "pipe.png"]
            listing = folder_samples(root)
            assert (
                "skipped 2 files that are not PNG or JPEG: cat/pipe.png (a FIFO (named pipe)), dog/sock (a socket)"
                in (listing.notes)
            )
            pack(root, tmp_path / "out", 10**9)
        skipped = (tmp_path / "out" / "skipped.txt").read_text()
        assert (
            f"{root / 'cat' / 'pipe.png'}: a FIFO (named pipe), not a regular file: never opened, not packed" in skipped
        )
        assert f"{root / 'dog' / 'sock'}: a socket, not a regular file: never opened, not packed" in skipped
    finally:
        bound.close()
