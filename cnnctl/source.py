"""Reading a network file safely: YAML composed into nodes that keep their line and column.

Plain `yaml.safe_load` forgets where things were; `compose` keeps marks on every node so
every later message can point at a line. Before composing, one pass over the YAML events
refuses what could hang or crash the loader: anchors and aliases (the "billion laughs"
bomb) and absurd nesting (libyaml's composer recurses in C).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import CnnctlError, Loc

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 5_000_000  # a 10,000-layer file is about 0.35 MB
MAX_NESTING = 64


def loc_of(node: yaml.Node | yaml.Mark, file: str) -> Loc:
    mark = getattr(node, "start_mark", node)  # libyaml's marks are not yaml.Mark instances
    return Loc(file, mark.line + 1, mark.column + 1)


def read_text(path: Path, display: str) -> str:
    """The file's text, or a CnnctlError that says why it cannot be read."""
    try:
        if path.is_dir():
            raise CnnctlError.at("is a directory, not a network file", Loc(display))
        if path.stat().st_size > MAX_BYTES:
            raise CnnctlError.at(f"file is larger than {MAX_BYTES // 1_000_000} MB; refusing to read it", Loc(display))
        data = path.read_bytes()
    except OSError as exc:
        raise CnnctlError.at(f"cannot read the file: {exc.strerror or exc}", Loc(display)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CnnctlError.at("not UTF-8 text (is this a YAML network file?)", Loc(display, line, 1)) from None


def compose(text: str, file: str) -> yaml.Node:
    """The YAML document as a node tree with marks, or a located CnnctlError."""
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise CnnctlError.at(
            "the file is empty",
            Loc(file, 1, 1),
            hint="a network needs at least `input: 32x32x3` and a `layers:` list",
        )
    _check_tabs(text, file)
    try:
        _check_events(text, file)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        lines = text.splitlines()
        line = lines[mark.line] if mark and mark.line < len(lines) else ""
        raise CnnctlError.at(
            f"YAML syntax error: {problem}",
            loc_of(mark, file) if mark else Loc(file),
            hint=_syntax_hint(problem, line),
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses; it carries no line
        raise _character_error(text, file, exc.character) from None
    except yaml.YAMLError as exc:
        raise CnnctlError.at(f"YAML error: {exc}", Loc(file)) from None
    if node is None:
        raise CnnctlError.at("the file is empty", Loc(file, 1, 1))
    return node


def _check_tabs(text: str, file: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            raise CnnctlError.at(
                "tab character in indentation",
                Loc(file, number, indent.index("\t") + 1),
                hint="YAML indents with spaces only; replace the tab with spaces",
            )


def _check_events(text: str, file: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise CnnctlError.at(
                "YAML anchors and aliases (`&name`, `*name`) are not supported",
                loc_of(event.start_mark, file),
                hint="to reuse layers, define a block under `blocks:` and use it by name",
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise CnnctlError.at(f"nested more than {MAX_NESTING} levels deep", loc_of(event.start_mark, file))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _character_error(text: str, file: str, character: int | str) -> CnnctlError:
    """Point at a character YAML does not allow (a control character, say).

    The error's offset counts bytes with libyaml and characters without it, so the
    character itself is looked up: the reader stops at its first occurrence.
    """
    char = chr(character) if isinstance(character, int) else str(character)
    index = text.find(char)
    loc = Loc(file, text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)) if index >= 0 else Loc(file)
    return CnnctlError.at(
        f"character U+{ord(char):04X} is not allowed in a YAML file",
        loc,
        hint="remove it (control characters often come from copying out of a PDF or a terminal)",
    )


def _syntax_hint(problem: str, line: str) -> str | None:
    if "${" in line and ("[" in line or "{" in line.replace("${", "")):
        # Inside `[...]` YAML reads the `{` of `${n*4}` as the start of a mapping.
        return "inside [ ... ] quote a layer that uses ${...}, or put it on its own `- ` line"
    if "maximum nesting depth" in problem:  # libyaml's own limit, met while scanning ahead
        return f"cnnctl reads at most {MAX_NESTING} levels of nested lists and mappings"
    if "another document" in problem or "document start" in problem:
        return "one network per file: remove the `---` line"
    if "expected '-' indicator" in problem:
        return "check the indentation: this line must line up with the `- ` items (or the keys) above it"
    if "mapping values are not allowed" in problem:
        return "a `:` inside a value needs quotes, or check the indentation of this line"
    if "could not find expected ':'" in problem:
        return "check the indentation, or the line above for a missing `:`"
    if "found character '\\t'" in problem or "tab" in problem:
        return "YAML indents with spaces only"
    return None
