"""A folder of IDX files as a student may give one: a file linking out of the folder is never
read, a FIFO, a folder or a link to nowhere named like an IDX file is one message saying what it
is, and a small .gz whose header claims more than the memory free is refused before it is
decompressed (data.folder.load_idx_folder, data.idx.read_idx)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from idxfiles import idx_header, write_idx  # noqa: E402

from cnnctl import limits  # noqa: E402
from cnnctl.data.folder import load_idx_folder  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def _pair(folder: Path, count: int = 4) -> tuple[Path, Path]:
    return write_idx(folder, "train", torch.zeros(count, 8, 8), torch.arange(count) % 2)


def _refused(folder: Path) -> str:
    with pytest.raises(CnnctlError) as caught:
        load_idx_folder(folder)
    return str(caught.value)


@pytest.mark.parametrize("which", [IMAGES, LABELS])
def test_an_idx_file_linking_out_of_the_data_folder_is_named_not_read(which, tmp_path):
    images, labels = _pair(tmp_path / "elsewhere")
    mine = tmp_path / "mine"
    mine.mkdir()
    for real in (images, labels):
        if real.name == which:
            (mine / real.name).symlink_to(real)
        else:
            (mine / real.name).write_bytes(real.read_bytes())
    said = _refused(mine)
    assert (
        f"{mine / which}: a link leading out of the folder {mine.resolve()}, to {tmp_path / 'elsewhere' / which}"
        in said
    )


def test_idx_files_linked_inside_the_data_folder_are_read(tmp_path):
    images, labels = _pair(tmp_path / "data" / "kept")
    (tmp_path / "data" / IMAGES).symlink_to(Path("kept") / IMAGES)
    (tmp_path / "data" / LABELS).symlink_to(labels)
    raw = load_idx_folder(tmp_path / "data")
    assert tuple(raw.train.x.shape) == (4, 1, 8, 8)


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (os.mkfifo, "a FIFO (named pipe), not a regular file"),
        (os.mkdir, "a folder, not a regular file"),
        (lambda p: os.symlink("gone.gz", p), "a link to gone.gz, where no file is"),
    ],
    ids=["fifo", "folder", "dangling link"],
)
@pytest.mark.parametrize("which", [IMAGES, LABELS])
def test_an_idx_name_that_is_no_file_is_one_message_saying_what_it_is(make, what, which, tmp_path):
    images, labels = _pair(tmp_path / "d")
    (images if which == IMAGES else labels).unlink()
    make(str(tmp_path / "d" / which))
    said = _refused(tmp_path / "d")
    assert f"{tmp_path / 'd' / which}: {what}" in said and "no labels" not in said


@pytest.mark.parametrize(
    "make", [os.mkfifo, os.mkdir, lambda p: os.symlink("gone", p)], ids=["fifo", "folder", "dangling"]
)
def test_a_lone_images_name_that_is_no_file_is_said_as_what_it_is_not_as_missing_labels(make, tmp_path):
    (tmp_path / "d").mkdir()
    make(str(tmp_path / "d" / IMAGES))
    said = _refused(tmp_path / "d")
    assert f"{tmp_path / 'd' / IMAGES}: " in said and "no labels" not in said


def test_a_gz_claiming_more_than_the_memory_free_is_refused_before_it_is_decompressed(tmp_path, monkeypatch):
    """5,000 images of 28x28 claimed (3,920,000 bytes): with 4 MB free, more than half of it."""
    folder = tmp_path / "bomb"
    folder.mkdir()
    (folder / f"{IMAGES}.gz").write_bytes(gzip.compress(idx_header(5000, 28, 28) + bytes(100)))
    (folder / f"{LABELS}.gz").write_bytes(gzip.compress(idx_header(5000) + bytes(5000)))
    monkeypatch.setattr(limits, "available_memory", lambda: 4_000_000)
    said = _refused(folder)
    assert f"{folder / IMAGES}.gz: the header claims 5,000 images (5000x28x28, 3,920,000 bytes)" in said
    assert ": 3.74 MiB, more than 50% of the 3.81 MiB of memory free now: the data set does not fit in memory" in said
    monkeypatch.setattr(limits, "available_memory", lambda: 7_840_001)  # the claim is then under half: read
    assert "truncated" in _refused(folder)  # it goes on to read the 100 bytes the file holds


def test_the_memory_free_is_what_the_address_space_limit_leaves(monkeypatch):
    """Under `ulimit -v`, a process may take less than the machine has free."""
    import resource

    with open("/proc/self/statm", encoding="ascii") as statm:
        size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")  # a test worker may map GBs already
    monkeypatch.setattr(limits, "_system_free", lambda: 64 * 2**30)
    monkeypatch.setattr(resource, "getrlimit", lambda _: (size + 3 * 2**30, resource.RLIM_INFINITY))
    assert abs(limits.available_memory() - 3 * 2**30) < 64 * 2**20  # the process grew a little since
    monkeypatch.setattr(resource, "getrlimit", lambda _: (size // 2, resource.RLIM_INFINITY))
    assert limits.available_memory() <= 64 * 2**20  # past its limit already: nothing more to take
