"""Reading a network file safely: YAML composed into nodes that keep their line and column.

Plain `yaml.safe_load` forgets where things were; `compose` keeps marks on every node so
every later message can point at a line. Before composing, one pass over the YAML events
refuses what could hang or crash the loader: anchors and aliases (the "billion laughs"
bomb) and absurd nesting (libyaml's composer recurses in C).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import CnnctlError, Loc, Problem, too_many
from .limits import MAX_FILE_BYTES, MAX_LAYERS, MAX_NESTING, MAX_PROBLEMS

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def loc_of(node: yaml.Node | yaml.Mark, file: str) -> Loc:
    mark = getattr(node, "start_mark", node)  # libyaml's marks are not yaml.Mark instances
    return Loc(file, mark.line + 1, mark.column + 1)


def read_text(path: Path, display: str) -> str:
    """The file's text, or a CnnctlError that says why it cannot be read."""
    try:
        if path.is_dir():
            raise CnnctlError.at("is a directory, not a network file", Loc(display))
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CnnctlError.at(
                f"file is larger than {MAX_FILE_BYTES // 1_000_000} MB; refusing to read it", Loc(display)
            )
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
    """Refuse, before composing, what safe loading alone would let through or choke on.

    Anchors and aliases (`&a`, `*a`) are how "billion laughs" bombs work. A tag
    (`!!python/object/apply:os.system`, `!!str`) asks a loader to build something: safe
    loading refuses the Python ones, but only where a value is turned into Python, which
    cnnctl never does, so a tag would otherwise pass unseen. Nesting is bounded because
    libyaml's composer recurses in C, and a list's length because each item is a layer (a
    5 MB file of `- bn` lines would otherwise be parsed for seconds before the layer limit
    refuses it). Every anchor and tag of the file is reported at once.
    """
    problems: list[Problem] = []
    lists: list[list | None] = []  # per open collection: [its start, items so far], or None for a mapping
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _NODE_EVENTS) and lists and lists[-1] is not None:
            lists[-1][1] += 1
            if lists[-1][1] > MAX_LAYERS:  # each item is a layer or more: refused before parsing any
                problems.append(
                    Problem(
                        f"a list of more than {MAX_LAYERS:,} items: a network has at most {MAX_LAYERS:,} layers",
                        loc_of(lists[-1][0], file),
                    )
                )
                break
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            problems.append(
                Problem(
                    "YAML anchors and aliases (`&name`, `*name`) are not supported",
                    loc_of(event.start_mark, file),
                    hint="to reuse layers, define a block under `blocks:` and use it by name",
                )
            )
        tag = getattr(event, "tag", None)
        if tag is not None:  # None unless written: plain and quoted values carry no tag
            problems.append(
                Problem(
                    f"YAML tag `{_short_tag(tag)}` refused: a network file holds plain values, lists and mappings",
                    loc_of(event.start_mark, file),
                    hint="remove the tag; cnnctl never builds objects from a file, and tags are how YAML asks for them",
                )
            )
        if len(problems) >= MAX_PROBLEMS:
            raise too_many(problems, Loc(file))
        if isinstance(event, yaml.CollectionStartEvent):
            lists.append([event.start_mark, 0] if isinstance(event, yaml.SequenceStartEvent) else None)
            if len(lists) > MAX_NESTING:
                problems.append(Problem(f"nested more than {MAX_NESTING} levels deep", loc_of(event.start_mark, file)))
                break
        elif isinstance(event, yaml.CollectionEndEvent):
            lists.pop()
    if problems:
        raise CnnctlError(problems)


_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)


def _short_tag(tag: str) -> str:
    """`tag:yaml.org,2002:python/object/apply:os.system` as it was written: `!!python/...`."""
    return "!!" + tag.removeprefix(_YAML_TAGS) if tag.startswith(_YAML_TAGS) else tag


_YAML_TAGS = "tag:yaml.org,2002:"


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
