"""Writing a picture: the format from the file's suffix, Graphviz's `dot` where a layout is
needed, and the file replaced whole (a reader never sees half of it). os.path rather than
pathlib: the analysis commands start without it."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable

from ..errors import CnnctlError
from ..files import not_regular

# suffix -> format; those `dot` lays out are named as its -T option
SUFFIXES = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid"}
LAID_OUT = ("svg", "png", "pdf")
DOT_SECONDS = 300  # a layout that takes longer is of a graph too large to look at: --depth helps
MAX_LAID_OUT = 3_000  # boxes Graphviz is asked to lay out (a ResNet-152 has 364; Graphviz slows past thousands)
INSTALL = (
    "install Graphviz (Debian/Ubuntu: `sudo apt install graphviz`, Fedora: `sudo dnf install graphviz`, "
    "macOS: `brew install graphviz`, conda: `conda install graphviz`); or write `.dot` or `.mmd` (Mermaid, "
    "rendered by GitHub and GitLab in Markdown), which need nothing installed"
)


def picture_format(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise CnnctlError.at(
            f"cannot tell what picture to write from `{path}`",
            hint="end the file name in one of: " + ", ".join(SUFFIXES),
        )
    return SUFFIXES[suffix]


def dot_program() -> str | None:
    return shutil.which("dot")


# Sibling clusters, `a` before `b` in the text: Graphviz lays them out left to right as
# written, older versions (2.43, still Debian's and Ubuntu's) right to left.
CLUSTER_ORDER_PROBE = (
    b"digraph { s; subgraph cluster_p { subgraph cluster_a { a } subgraph cluster_b { b } } s -> a; s -> b; }"
)
PNG_DPI = 144  # Graphviz's 96 makes 10-point text 13 pixels high: small at the picture's own size


@functools.cache
def reverses_clusters() -> bool:
    """Whether the installed `dot` lays sibling clusters out in the reverse of their order in
    its input (False where there is no `dot`, or it cannot tell)."""
    program = dot_program()
    if program is None:
        return False
    try:
        done = subprocess.run(
            [program, "-Tplain"], input=CLUSTER_ORDER_PROBE, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    x = {}  # `node NAME X Y ...` lines
    for words in (line.split() for line in done.stdout.decode(errors="replace").splitlines()):
        if len(words) > 2 and words[0] == "node":
            x[words[1]] = float(words[2])
    return "a" in x and "b" in x and x["b"] < x["a"]


def lay_out(dot_text: str, fmt: str, path: str, boxes: int = 0) -> bytes:
    """`dot_text` laid out by Graphviz as `fmt` (svg, png, pdf)."""
    if boxes > MAX_LAID_OUT:
        raise CnnctlError.at(
            f"{boxes:,} boxes are more than a picture shows (at most {MAX_LAID_OUT:,} are laid out)",
            hint="collapse the network with --depth 1 or 2, or write `.dot` or `.mmd`, which need no layout",
        )
    program = dot_program()
    if program is None:
        raise CnnctlError.at(f"drawing `{path}` needs Graphviz's `dot`, which is not installed", hint=INSTALL)
    try:
        done = subprocess.run(
            [program, f"-T{fmt}", *([f"-Gdpi={PNG_DPI}"] if fmt == "png" else [])],
            input=dot_text.encode(),
            capture_output=True,
            timeout=DOT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CnnctlError.at(
            f"Graphviz took more than {DOT_SECONDS} s to lay out `{path}`",
            hint="collapse the network with --depth 1 or 2, or write `.dot` and lay it out yourself",
        ) from None
    except OSError as exc:
        raise CnnctlError.at(
            f"could not run Graphviz's `dot` ({program}): {exc.strerror or exc}", hint=INSTALL
        ) from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise CnnctlError.at(
            f"Graphviz's `dot` failed on `{path}`: {said[-1] if said else f'exit code {done.returncode}'}",
            hint="write `.dot` to see what it was given",
        )
    return done.stdout


def default_name(network: str, suffix: str = ".svg") -> str:
    """The file a picture goes to when none is named: the network's name, in this folder (a
    name like `../x` stays here)."""
    return file_stem(network) + suffix


def file_stem(network: str) -> str:
    """A network's name (`cnnctl.graph.Graph.title`) as a file or folder name of one level:
    letters, digits, `-`, `_` and `.` kept, all else `_` (the `:` and `=` of settings given on
    top of a member, `/` of an expression `${1/1000}`, which would make folders), no leading dot."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in network).lstrip(".")
    return stem or "network"


def _exists(path: str) -> CnnctlError:
    return CnnctlError.at(
        f"`{path}` already exists, and a file not named with -o is never replaced",
        hint=f"replace it with `-o {path}`, or name another file with -o",
    )


def refuse_existing(path: str) -> None:
    """Stop before any work if `path` exists: a file the user did not name is never replaced."""
    if os.path.lexists(path):
        raise _exists(path)


def _cannot_write(path: str, exc: OSError) -> CnnctlError:
    return unwritable(path) or CnnctlError.at(f"cannot write `{path}`: {exc.strerror or exc}")


def refuse_unwritable(path: str, example: str = "FILE", reads: Iterable[str | None] = (),
                      replaces: Iterable[str] = ()) -> None:  # fmt: skip
    """Raise `unwritable`'s refusal of `path`, if any: before any work is done for it."""
    refused = unwritable(path, example, reads, replaces)
    if refused is not None:
        raise refused


def unwritable(path: str, example: str = "FILE", reads: Iterable[str | None] = (),
               replaces: Iterable[str] = ()) -> CnnctlError | None:  # fmt: skip
    """Why the file `path` cannot, or must not, be written, with a hint; else None. `example`: a
    file name to offer. Plain before trying: a folder by that name; its folder missing. Never
    written over: what is not a regular file (a device, a FIFO: the rename would put a file in
    its place; a link to a regular file is followed, as `open` does); a file a run folder holds
    (its checkpoints and records are the run's own: a new file beside them is written); any of
    the files `reads` (what the command reads: the network file, the ONNX file, a checkpoint);
    an existing file whose suffix is not one of `replaces` (the kinds of file the command
    writes, where it names them: `schema -o net.yaml` would put JSON over a network file)."""
    import shlex

    folder = os.path.dirname(path)
    if os.path.isdir(path):
        return CnnctlError.at(f"`{path}` is a folder: name the file to write",
                              hint=f"e.g. -o {shlex.quote(os.path.join(path, example))}")  # fmt: skip
    if not os.path.isdir(folder or "."):
        return CnnctlError.at(f"cannot write `{path}`: the folder `{folder}` does not exist",
                              hint=f"create it first (mkdir -p {shlex.quote(folder)}), or name a file in a folder "
                              "that exists")  # fmt: skip
    other = f"name another file, e.g. -o {shlex.quote(os.path.join(folder, example))}"
    kind = not_regular(path)  # a link is followed; a dangling link is replaced, as before
    if kind is not None:
        return CnnctlError.at(f"`{path}` is {kind}, not a file: give a file path", hint=other)
    from ..catalog import is_run_folder

    if os.path.lexists(path) and is_run_folder(folder or "."):  # a new file beside them harms nothing
        return CnnctlError.at(f"`{path}` is a file of the run folder `{folder or '.'}`: its files are the run's own",
                              hint=f"write it outside the run, e.g. -o {shlex.quote(example)}")  # fmt: skip
    for read in reads:
        if read and _same_file(path, read):
            same = "" if os.path.normpath(read) == os.path.normpath(path) else f" (`{read}`)"
            return CnnctlError.at(f"`{path}` is a file this command reads{same}: writing it would destroy it",
                                  hint=other)  # fmt: skip
    replaces = tuple(replaces)
    if replaces and os.path.lexists(path) and not path.lower().endswith(replaces):
        return CnnctlError.at(
            f"`{path}` exists and is not a {' or '.join(replaces)} file: -o replaces only a file of the kind written",
            hint=f"{other}, or remove `{path}` first",
        )
    return None


def _same_file(path: str, other: str) -> bool:
    """Whether `path` and `other` are the same file (a link or a hard link to it included)."""
    try:
        return os.path.samefile(path, other)
    except OSError:  # either missing
        return os.path.realpath(path) == os.path.realpath(other)


def write_file(path: str, data: bytes, replace: bool = True) -> None:
    """Write `path` through a temporary file beside it and a rename (a reader never sees half
    of it); without `replace`, only as a new file (checked as it is created: another writer
    cannot slip in between)."""
    if not replace:
        _write_new(path, data)
        return

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    write_through(path, write)


def write_through(path: str, write: Callable[[str], None], keep_suffix: bool = False) -> None:
    """Make `path` by `write(temporary path beside it)`, then a rename: a reader never sees half
    of it, and a write that fails leaves nothing behind. `keep_suffix`: the temporary file ends
    as `path` does (`.net.tmp.onnx`), for what reads it back by its suffix."""
    refuse_unwritable(path)
    folder, name = os.path.split(path)
    stem, suffix = os.path.splitext(name) if keep_suffix else (name, "")
    tmp = os.path.join(folder, f".{stem}.tmp{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:  # whatever stopped it (a full disk, a check that failed, Ctrl-C): no half file left
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _write_new(path: str, data: bytes) -> None:
    refuse_unwritable(path)
    created = False
    try:
        with open(path, "xb") as f:
            created = True
            f.write(data)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        if created:
            os.unlink(path)  # no half picture left behind
        raise _cannot_write(path, exc) from None
