"""Reading a network file safely: YAML composed into nodes that keep their line and column.

Plain `yaml.safe_load` forgets where things were; `compose` keeps marks on every node so
every later message can point at a line. The nodes are built here from libyaml's events,
refusing as they come what could hang or crash a loader or run code: anchors and aliases
(the "billion laughs" bomb), tags, absurd nesting and lists.
"""

from __future__ import annotations

import os
import re

import yaml

from ..errors import CnnctlError, Loc, Problem, too_many
from ..files import DASH, TooLarge, Unread, regular_bytes, stdin_bytes
from ..limits import MAX_FILE_BYTES, MAX_LAYERS, MAX_NESTING, MAX_PROBLEMS
from ..words import size

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def loc_of(node: yaml.Node | yaml.Mark, file: str) -> Loc:
    mark = getattr(node, "start_mark", node)  # libyaml's marks are not yaml.Mark instances
    return Loc(file, mark.line + 1, mark.column + 1)


def read_text(path: str | os.PathLike, display: str) -> str:
    """The file's text, or a CnnctlError that says why it cannot be read."""
    if os.path.isdir(path) and path != DASH:
        raise CnnctlError.at("is a directory, not a network file", Loc(display))
    try:  # only a regular file (a FIFO would block), its size checked before it is read; or what is piped in
        data = stdin_bytes(MAX_FILE_BYTES) if path == DASH else regular_bytes(path, MAX_FILE_BYTES)
    except TooLarge as large:
        held = "standard input holds more" if path == DASH else f"{large.size:,} bytes ({size(large.size)}): more"
        raise CnnctlError.at(
            f"{held} than the {MAX_FILE_BYTES:,} bytes ({size(MAX_FILE_BYTES)}) cnnctl reads of a network file",
            Loc(display),
            hint="a network file is a few KB (a 10,000-layer file is about 0.35 MB): is this the network file? "
            "Many layers alike are written once, with `repeat:` or a block",
        ) from None
    except Unread as refused:
        raise CnnctlError.at(f"cannot read the file: {refused.message}", Loc(display), hint=refused.hint) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(data, exc.start, display) from None


def _not_utf8(data: bytes, start: int, display: str) -> CnnctlError:
    """The error for a file that is not UTF-8 text, at its first byte that is not: the column
    counts the characters before it on its line, as an editor does."""
    line_start = data.rfind(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    return CnnctlError.at(
        f"not UTF-8 text: byte 0x{data[start]:02x} here is not part of a UTF-8 character (is this a YAML network "
        "file?)",
        Loc(display, data.count(b"\n", 0, start) + 1, column),
        hint="save it as UTF-8 text (an editor's encoding setting); a Latin-1 or UTF-16 file is not read as it is",
    )


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
        node = _compose(text, file)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses; it carries no line
        raise _character_error(text, file, exc.character) from None
    except yaml.YAMLError as exc:
        raise CnnctlError.at(f"YAML error: {exc}", Loc(file)) from None
    if node is None:
        raise CnnctlError.at("the file is empty", Loc(file, 1, 1))
    return node


_DASHES = re.compile(r"[ ]*(?:-[ \t]+)+")  # a line's indentation and list dashes, with what follows each


def _check_tabs(text: str, file: str) -> None:
    if "\t" not in text:  # almost every file: no line to look at
        return
    for number, line in enumerate(text.splitlines(), 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            raise CnnctlError.at(
                "tab character in indentation",
                Loc(file, number, indent.index("\t") + 1),
                hint="YAML indents with spaces only; replace the tab with spaces",
            )
        dashes = _DASHES.match(line)  # `  -\tfc 10`: the space after a list's `-` is indentation too
        if dashes and "\t" in dashes.group():
            raise CnnctlError.at(
                "tab character after a list's `-`",
                Loc(file, number, dashes.group().index("\t") + 1),
                hint="YAML indents with spaces only, the space after `-` too; replace the tab with a space",
            )


def _compose(text: str, file: str) -> yaml.Node | None:
    """The document's node tree, built in one pass over libyaml's events (None for no document).

    Composing here rather than with `yaml.compose` refuses what safe loading alone would let
    through or choke on, as it is met, and costs one pass instead of a check and a compose
    (libyaml's composer also resolves every value's type, which nothing here uses):

    - anchors and aliases (`&a`, `*a`): they are how "billion laughs" bombs work, and an
      alias can make a structure contain itself;
    - tags (`!!python/object/apply:os.system`, `!!str`): a tag asks a loader to build
      something; safe loading refuses the Python ones only where a value is turned into
      Python, which cnnctl never does, so a tag would otherwise pass unseen;
    - nesting deeper than MAX_NESTING, and a list of more than MAX_LAYERS items (each item is
      a layer or more: a 5 MB file of `- bn` lines is refused before any is parsed);
    - a second document.

    Every tag of the file is reported, up to MAX_PROBLEMS; its anchors and aliases once, counted.
    """
    problems: list[Problem] = []
    root: yaml.Node | None = None
    documents = 0
    anchors = 0  # anchors and aliases met
    # Open collections, innermost last: [node, its list of values, a mapping's key waiting for its value].
    stack: list[list] = []
    scalar, alias = yaml.ScalarEvent, yaml.AliasEvent
    starts = {yaml.SequenceStartEvent: yaml.SequenceNode, yaml.MappingStartEvent: yaml.MappingNode}
    ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    loader = _Loader(text)
    try:
        while True:
            event = loader.get_event()  # libyaml's parser, without the generator around it
            kind = type(event)
            if kind is scalar:
                node = yaml.ScalarNode(event.tag, event.value, event.start_mark, event.end_mark, event.style)
            elif kind in starts:
                node = starts[kind](event.tag, [], event.start_mark, event.end_mark, event.flow_style)
                stack.append([node, node.value, None])
                if len(stack) > MAX_NESTING:
                    raise _Stop(Problem(f"nested more than {MAX_NESTING} levels deep", loc_of(event.start_mark, file)))
            elif kind in ends:
                node = stack.pop()[0]
                node.end_mark = event.end_mark
            elif kind is alias:
                node = yaml.ScalarNode(None, "", event.start_mark, event.end_mark)  # a stand-in: it is refused
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Stop(
                        Problem(
                            "a second YAML document",
                            loc_of(event.start_mark, file),
                            hint="one network per file: remove the `---` line",
                        )
                    )
                continue
            elif kind is yaml.StreamEndEvent:
                break
            else:  # the stream's start, a document's end
                continue
            if kind not in ends and (event.anchor is not None or kind is alias):
                anchors += 1  # told once, at the first, with their count (`_anchors`): a bomb has dozens
                if anchors == 1:
                    problems.append(_anchors(event, file))
            if kind not in ends and kind is not alias and event.tag is not None:
                problems.append(_tag_refused(event, file))
                if len(problems) >= MAX_PROBLEMS:
                    raise too_many(_counted(problems, anchors), Loc(file))
            if kind in starts:
                continue
            # A finished node goes into the collection around it (or is the document).
            if not stack:
                root = node
            else:
                top = stack[-1]
                if top[0].__class__ is yaml.SequenceNode:
                    top[1].append(node)
                    if len(top[1]) > MAX_LAYERS:
                        raise _Stop(
                            Problem(
                                f"a list of more than {MAX_LAYERS:,} items: a network has at most {MAX_LAYERS:,} "
                                "layers",
                                loc_of(top[0], file),
                            )
                        )
                elif top[2] is None:
                    top[2] = node
                else:
                    top[1].append((top[2], node))
                    top[2] = None
    except _Stop as stop:
        raise CnnctlError([*_counted(problems, anchors), stop.problem]) from None
    finally:
        loader.dispose()
    if problems:
        raise CnnctlError(_counted(problems, anchors))
    return root


ANCHORS = "YAML anchors and aliases (`&name`, `*name`) are not supported"


def _anchors(event: yaml.Event, file: str) -> Problem:
    """The problem of the file's anchors and aliases, at the first one (`_counted` adds how many)."""
    return Problem(
        ANCHORS,
        loc_of(event.start_mark, file),
        hint="to reuse layers, define a block under `blocks:` and use it by name",
    )


def _counted(problems: list[Problem], anchors: int) -> list[Problem]:
    """`problems`, the anchors' saying how many the file has where it has more than one."""
    if anchors < 2:
        return problems
    told = f"{ANCHORS} (this one and {anchors - 1:,} more in the file)"
    return [p._replace(message=told) if p.message == ANCHORS else p for p in problems]


def _tag_refused(event: yaml.Event, file: str) -> Problem:
    """The problem of a tag (`!!python/object/apply:os.system`): each is told where it is."""
    return Problem(
        f"YAML tag `{_short_tag(event.tag)}` refused: a network file holds plain values, lists and mappings",
        loc_of(event.start_mark, file),
        hint="remove the tag; cnnctl never builds objects from a file, and tags are how YAML asks for them",
    )


class _Stop(Exception):
    """A problem after which reading the file stops."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


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


_CLOSING = {"[": "]", "{": "}", '"': '"', "'": "'"}


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> CnnctlError:
    """The located error for YAML that does not parse.

    Where a bracket or a quote is left open, the parser stops where it gave up looking for
    its end (often the end of the file) and names where it began only in its context mark:
    the message says both, and points at the opening one when the file ended first.
    """
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    lines = text.splitlines()
    long_key = _key_past_limit(exc, lines)
    if long_key is not None:
        return CnnctlError.at(
            f"YAML syntax error: a key longer than {SIMPLE_KEY_LIMIT:,} characters (YAML's limit), of "
            f"{long_key:,} characters",
            loc_of(exc.context_mark, file),
            hint="keys are short words (`input`, `layers`, `blocks`, a block's name): shorten it; a long "
            "value goes after the `:`",
        )
    line = _line_of(lines, mark) if mark else ""
    opened = exc.context_mark if exc.problem_mark is not None else None
    opener = _char_at(lines, opened) if opened is not None else ""
    if opener in _CLOSING:
        what = "quote " if opener in "\"'" else ""
        start, closing = loc_of(opened, file), _CLOSING[opener]
        hint = f"close it with `{closing}`" + (", or write each item on its own `- ` line" if opener == "[" else "")
        if _only_blank_after(lines, exc.problem_mark):
            return CnnctlError.at(
                f"YAML syntax error: the {what}`{opener}` opened here is not closed: the file ends first",
                start,
                hint=_syntax_hint(problem, _line_of(lines, opened)) or hint,
            )
        return CnnctlError.at(
            f"YAML syntax error: {problem} (in the `{opener}` opened at {start.line}:{start.col})",
            loc_of(mark, file),
            hint=_syntax_hint(problem, line) or hint,
        )
    return CnnctlError.at(
        f"YAML syntax error: {problem}", loc_of(mark, file) if mark else Loc(file), hint=_syntax_hint(problem, line)
    )


# The longest key YAML reads without quotes (the YAML 1.1 spec's bound on an implicit key, which
# PyYAML and libyaml both hold): past it, the `:` after the key is no longer looked for.
SIMPLE_KEY_LIMIT = 1024


def _key_past_limit(exc: yaml.MarkedYAMLError, lines: list[str]) -> int | None:
    """The length of the key where the parser gave up looking for its `:` only because the key
    ran past SIMPLE_KEY_LIMIT (its `:` is there, further on the same line); None otherwise."""
    start, stop = exc.context_mark, exc.problem_mark
    if exc.context != "while scanning a simple key" or start is None or stop is None or start.line != stop.line:
        return None
    if stop.index - start.index <= SIMPLE_KEY_LIMIT:
        return None
    rest = _line_of(lines, start)[start.column :]
    colon = next((i for i, c in enumerate(rest) if c == ":" and rest[i + 1 : i + 2] in ("", " ", "\t")), None)
    return len(rest[:colon].rstrip()) if colon is not None and colon > SIMPLE_KEY_LIMIT else None


def _line_of(lines: list[str], mark: yaml.Mark) -> str:
    return lines[mark.line] if mark.line < len(lines) else ""


def _char_at(lines: list[str], mark: yaml.Mark) -> str:
    line = _line_of(lines, mark)
    return line[mark.column] if mark.column < len(line) else ""


def _only_blank_after(lines: list[str], mark: yaml.Mark) -> bool:
    """Whether nothing but blanks and comments follows `mark`: where the parser met the end of the file."""
    rest = [lines[mark.line][mark.column :]] if mark.line < len(lines) else []
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in [*rest, *lines[mark.line + 1 :]])


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
