"""Making a picture: the format from the file's suffix, Graphviz's `dot` where a layout is
needed (the file is written by cnnctl/writing.py, replaced whole). os.path rather than
pathlib: the analysis commands start without it."""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable

from ..errors import CnnctlError
from ..words import size
from ..writing import file_stem

# suffix -> format; those `dot` lays out are named as its -T option
SUFFIXES = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid"}
DOT_SECONDS = 300  # a layout that takes longer is of a graph too large to look at: --depth helps
MAX_LAID_OUT = 3_000  # boxes Graphviz is asked to lay out (a ResNet-152 has 364; Graphviz slows past thousands)
# Edges Graphviz is asked to lay out: a ResNet-152 has 413, every bundled network fewer than
# 1.3 a box. Its time and memory grow with edges and the ranks each spans: 120,000 edges
# (600 adds of 200 inputs each) took 94 s and 15.9 GB; 3,000 spanning 20 ranks each, minutes.
MAX_EDGES_LAID_OUT = 5_000
# The address space `dot` may map (RLIMIT_AS, where the system has it): a ResNet-152 as PNG at
# PNG_DPI maps under 400 MiB; past this a layout is of a picture no one can look at.
DOT_MEMORY = 2 * 2**30
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
            [program, "-Tplain"],
            input=CLUSTER_ORDER_PROBE,
            capture_output=True,
            timeout=30,
            check=False,
            preexec_fn=_limited(30, DOT_MEMORY),
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    x = {}  # `node NAME X Y ...` lines
    for words in (line.split() for line in done.stdout.decode(errors="replace").splitlines()):
        if len(words) > 2 and words[0] == "node":
            x[words[1]] = float(words[2])
    return "a" in x and "b" in x and x["b"] < x["a"]


def _limited(seconds: int, memory: int) -> Callable[[], None] | None:
    """What `dot`'s process runs before it starts: at most `memory` bytes of address space, and
    `seconds` of CPU time (a `dot` left behind by a cnnctl that was killed stops too). None
    where the system has no resource limits (Windows): there only the wall-clock timeout holds."""
    try:
        import resource
    except ImportError:
        return None

    def limit() -> None:
        for kind, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, seconds)):
            _, hard = resource.getrlimit(kind)
            resource.setrlimit(kind, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))

    return limit


# What `dot` writes where an allocation failed (Graphviz's own, cairo's, GLib's thread stacks, the loader's)
OUT_OF_MEMORY = (
    "out of memory",
    "memory allocation",
    "cannot allocate",
    "resource temporarily unavailable",
    "failed to map",  # its libraries, loaded under the limit
)


def too_large_for_dot(boxes: int, edges: int) -> bool:
    """Whether a graph is past what cnnctl asks `dot` to lay out (MAX_LAID_OUT, MAX_EDGES_LAID_OUT)."""
    return boxes > MAX_LAID_OUT or edges > MAX_EDGES_LAID_OUT


def sfdp_command(path: str) -> str:
    """How to lay out a graph too large for `dot`, from the DOT beside `path`: Graphviz's `sfdp`,
    a force-directed layout (no ranks), takes seconds where `dot` takes minutes or more (a
    network of 5,100 edges: 0.3 s against over 120 s; 20,200 edges: 0.8 s) on the same DOT."""
    stem = os.path.splitext(path)[0]
    dot, svg = shlex.quote(stem + ".dot"), shlex.quote(stem + ".svg")
    return f"sfdp -Tsvg {dot} -o {svg}"


def _too_large(path: str) -> str:
    """The hint where a graph is too large to lay out: less of it, or its DOT laid out by `sfdp`
    (`dot` on the same DOT meets the same wall, and Mermaid's renderers refuse past 500 edges)."""
    dot = shlex.quote(os.path.splitext(path)[0] + ".dot")
    return (
        f"collapse the network with --depth 1 or 2; or write -o {dot} and lay it out with "
        f"`{sfdp_command(path)}`, Graphviz's force-directed layout (seconds, not top to bottom)"
    )


def lay_out(dot_text: str, fmt: str, path: str, boxes: int = 0, edges: int = 0) -> bytes:
    """`dot_text` laid out by Graphviz as `fmt` (svg, png, pdf), in at most DOT_SECONDS and
    DOT_MEMORY bytes."""
    if boxes > MAX_LAID_OUT:
        raise CnnctlError.at(
            f"{boxes:,} boxes are more than a picture shows (at most {MAX_LAID_OUT:,} are laid out)",
            hint=_too_large(path),
        )
    if edges > MAX_EDGES_LAID_OUT:
        raise CnnctlError.at(
            f"{edges:,} edges between the boxes are more than a picture shows "
            f"(at most {MAX_EDGES_LAID_OUT:,} are laid out)",
            hint=_too_large(path),
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
            preexec_fn=_limited(DOT_SECONDS, DOT_MEMORY),
        )
    except subprocess.TimeoutExpired:
        raise CnnctlError.at(
            f"Graphviz took more than {DOT_SECONDS} s to lay out `{path}`", hint=_too_large(path)
        ) from None
    except OSError as exc:
        raise CnnctlError.at(
            f"could not run Graphviz's `dot` ({program}): {exc.strerror or exc}", hint=INSTALL
        ) from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        if done.returncode == -getattr(signal, "SIGXCPU", 0):  # its CPU time ran out
            raise CnnctlError.at(f"Graphviz took more than {DOT_SECONDS} s to lay out `{path}`", hint=_too_large(path))
        memory = f"it may use {size(DOT_MEMORY)} of memory"
        bigger = _too_large(path) + ("; a PNG's pixels take the most: write `.svg`" if fmt == "png" else "")
        if any(w in line.lower() for line in said for w in OUT_OF_MEMORY):
            raise CnnctlError.at(f"Graphviz's `dot` ran out of memory laying out `{path}` ({memory})", hint=bigger)
        if done.returncode < 0:  # under the memory limit, an allocation that fails unchecked ends it by a signal
            name = signal.Signals(-done.returncode).name if -done.returncode in signal.valid_signals() else ""
            raise CnnctlError.at(
                f"Graphviz's `dot` stopped ({name or f'signal {-done.returncode}'}) laying out `{path}`, "
                f"most likely out of memory ({memory})",
                hint=bigger,
            )
        raise CnnctlError.at(
            f"Graphviz's `dot` failed on `{path}`: {said[-1] if said else f'exit code {done.returncode}'}",
            hint="write `.dot` to see what it was given",
        )
    return done.stdout


def default_name(network: str, suffix: str = ".svg") -> str:
    """The file a picture goes to when none is named: the network's name, in this folder (a
    name like `../x` stays here)."""
    return file_stem(network) + suffix
