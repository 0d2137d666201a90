"""Downloads with checksums, written to a temporary file and renamed into place when complete;
archives extracted member by member, refusing any path that would land outside the folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from ..errors import CnnctlError, Loc
from ..writing import write_failed

TIMEOUT = 30  # seconds without data before a mirror is given up
MAX_DOWNLOAD = 512 << 20  # no file cnnctl downloads is larger (CIFAR-10: 163 MiB)
_BLOCK = 1 << 20


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


progress: Callable[[str], None] = _stderr
"""Called with one line before each download; the trainer may replace it (or silence it)."""


class Offline(Exception):
    """No mirror could be reached: the caller turns it into an error saying what to put where."""


def fetch(urls: Iterable[str], dest: Path, *, md5: str) -> None:
    """Download the first mirror that answers to `dest`, checking its MD5.

    The data goes to a temporary file beside `dest`, renamed only when complete and verified:
    an interrupted or corrupt download never sits where a good file is expected. Raises
    `Offline` when no mirror can be reached, `CnnctlError` when what arrived is wrong.
    """
    made = _missing_folders(dest.parent)  # removed again, empty, unless a file arrives
    try:
        _fetch(urls, dest, md5)
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only an empty one: nothing else is ever removed
        raise


def _missing_folders(folder: Path) -> list[Path]:
    """The folders a download into `folder` would create, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _fetch(urls: Iterable[str], dest: Path, md5: str) -> None:
    failures: list[str] = []
    wrong: list[str] = []
    for url in urls:
        progress(f"downloading {url}")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        except OSError as exc:
            raise write_failed(f"cannot write in {dest.parent}: {exc.strerror or exc}", Loc(str(dest)), exc) from None
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                for block in iter(lambda response=response: response.read(_BLOCK), b""):
                    size += len(block)
                    if size > MAX_DOWNLOAD:
                        raise CnnctlError.at(f"{url} sends more than {MAX_DOWNLOAD >> 20} MiB: refused")
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != md5:
                wrong.append(f"{url}: MD5 {digest.hexdigest()}, expected {md5}")
                continue
            os.replace(tmp, dest)
            return
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            failures.append(f"{url}: {reason}")
        except OSError as exc:
            if isinstance(exc, urllib.error.HTTPError) or exc.filename is None:
                failures.append(f"{url}: {exc}")
            else:
                raise write_failed(f"cannot write {dest}: {exc.strerror or exc}", Loc(str(dest)), exc) from None
        finally:
            tmp.unlink(missing_ok=True)
    if wrong:
        raise CnnctlError.at(
            f"the download of {dest.name} does not match its published checksum:\n  " + "\n  ".join(wrong),
            hint="nothing was saved; try again later, or fetch the file by hand and check it",
        )
    raise Offline("; ".join(failures))


def safe_member(name: str) -> bool:
    """A relative path with no `..`: extracting it cannot write outside the target folder."""
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name and ":" not in name


def extract(archive: Path, folder: Path, wanted: Iterable[str]) -> None:
    """Extract the regular files `wanted` (paths inside the archive) into `folder`.

    The archive is refused as a whole when any member has an absolute path or `..`, and the
    wanted members must be regular files (no links, devices). Each is written to a
    temporary file and renamed, so a failure leaves no half-written file.
    """
    wanted = list(wanted)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                if not safe_member(member.name):
                    raise CnnctlError.at(
                        f"unsafe path `{member.name}` in the archive: refused",
                        Loc(str(archive)),
                        hint="nothing was extracted",
                    )
            by_name = {PurePosixPath(m.name).as_posix(): m for m in members}
            for name in wanted:
                member = by_name.get(name)
                if member is None:
                    raise CnnctlError.at(f"`{name}` is not in the archive", Loc(str(archive)))
                if not member.isfile():
                    raise CnnctlError.at(f"`{name}` in the archive is not a regular file: refused", Loc(str(archive)))
            for name in wanted:
                dest = folder / PurePosixPath(name)
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
                try:
                    source = tar.extractfile(by_name[name])
                    assert source is not None  # a regular file
                    with os.fdopen(fd, "wb") as out, source:
                        shutil.copyfileobj(source, out, _BLOCK)
                    os.replace(tmp_name, dest)
                finally:
                    Path(tmp_name).unlink(missing_ok=True)
    except CnnctlError:
        raise
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CnnctlError.at(f"cannot extract the archive: {exc}", Loc(str(archive))) from None
