"""The one error type cnnctl raises for anything a user wrote wrong.

Every problem carries where it is (file:line:column), which layer, and a hint. The CLI
catches `CnnctlError` alone: any other exception escaping is a bug in cnnctl.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable

from .limits import MAX_PROBLEMS
from .records import record


@record
class Loc:
    """A place in a source file; line and column are 1-based, as editors show them."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        file = self.file.replace("\n", "\\n")  # a file name with a newline stays on the message's line
        if self.line <= 0:
            return file
        return f"{file}:{self.line}:{self.col}"

    def shifted(self, offset: int) -> Loc:
        """The same line, `offset` characters further right (for tokens inside a scalar)."""
        return Loc(self.file, self.line, self.col + offset)


@record
class Problem:
    """One thing wrong: a message, where, in which layer, and what to do about it."""

    message: str
    loc: Loc | None = None
    layer: str | None = None
    hint: str | None = None

    def format(self, label: str = "error") -> str:
        """`error: file:3:5: layer `conv2`: message` and a hint line; `label` may be `warning`."""
        where = f"{self.loc}: " if self.loc else ""
        layer = f"layer `{self.layer}`: " if self.layer else ""
        text = f"{label}: {where}{layer}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return printable(text)


class CnnctlError(Exception):
    """One or more user-facing problems. `str()` gives the full, printable message.
    `exit_code`: 2, the user's mistake (fix the input and run again); FaultError's is 1."""

    exit_code = 2

    def __init__(self, problems: Problem | Iterable[Problem], warnings: Iterable[Problem] = ()):
        self.problems: tuple[Problem, ...] = (problems,) if isinstance(problems, Problem) else tuple(problems)
        # What is legal but suspicious in the same file, found before it failed: told with the
        # errors, since one often explains another (a pool that drops a row, a join that misses it).
        self.warnings: tuple[Problem, ...] = tuple(warnings)
        super().__init__("\n".join(p.format() for p in self.problems))

    def told(self) -> str:
        """The errors, then the warnings found with them, as the terminal shows them."""
        return "\n".join([str(self), *(w.format("warning") for w in self.warnings)])

    @classmethod
    def at(
        cls,
        message: str,
        loc: Loc | None = None,
        *,
        layer: str | None = None,
        hint: str | None = None,
    ) -> CnnctlError:
        return cls(Problem(message, loc, layer, hint))


class FaultError(CnnctlError):
    """A command or run that could not go on for a fault outside what the user gave (a full
    disk under any file cnnctl writes, an I/O error: cnnctl.writing.write_failed decides; a
    loader process killed), told as any problem is (its place, a hint), but exit code 1,
    RunFailed's: nothing given is to be fixed, the machine is (make room, then run or resume)."""

    exit_code = 1


class LimitError(CnnctlError):
    """A limit met while reading or expanding a file (its size, its nesting, its number of
    problems): whoever collects problems stops at once and passes it on."""


def too_many(problems: Iterable[Problem], where: Loc | None = None) -> LimitError:
    """The first MAX_PROBLEMS `problems`, then a last one saying that reading stopped there.

    A file of 200,000 misspelt layers must not print 400,000 lines (nor take seconds and
    hundreds of MB to collect them): the parser, the builder and the settings check stop here.
    """
    kept = list(problems)[:MAX_PROBLEMS]
    return LimitError([*kept, Problem(f"stopped after {MAX_PROBLEMS} problems", where, hint="fix these and run again")])


class RunFailed(Exception):
    """A run that could not go on for a reason outside what the user gave: a worker of a
    data-parallel run died. One line on stderr and exit code 1, not a traceback.

    A worker that stops only because another one died exits with LOST_PEERS instead, so the
    launcher can tell the cause from its consequences and name the worker that failed first.
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


LOST_PEERS = 3  # a worker's exit code: it stopped because its peers went away
INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C (128 + SIGINT)
# A command whose reader went away (`cnnctl evaluate RUN | head -1`): 128 + SIGPIPE, what the
# shell reports for git or ls there, so `set -o pipefail` scripts see what they see for those.
BROKEN_PIPE = 141


class ShapeError(Exception):
    """Raised by a layer kind's rules; the graph builder adds location and layer path."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


# C0 and C1 control characters but newline: text quoted from a file must not drive the terminal.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c != 0x0A}
# ... nor reorder or hide what it shows: Unicode's format characters (category Cf: the
# bidirectional controls, U+202E in `\u202egnp.exe.png` shows it as `exe.png`-looking text
# written right to left; U+200B, a zero-width space that makes two names look alike; U+FEFF)
# and its line and paragraph separators (Zl, Zp) are written as `\u202e`, `\U000e0041`.
_INVISIBLE = ("Cf", "Zl", "Zp")


def quoted(text: object, limit: int = 40) -> str:
    """`text` in backticks for a message, cut to `limit` characters: a 100,000-digit number
    written in a file is named, not printed whole."""
    text = str(text)
    return f"`{text}`" if len(text) <= limit else f"`{text[: limit - 3]}...` ({len(text):,} characters)"


def printable(text: str) -> str:
    """`text` with control characters (an ESC from a hostile file, say) written as `\\x1b`,
    invisible ones (a zero-width space, a bidirectional control) as `\\u200b`, and
    a name the OS gave that is not UTF-8 (Python holds its bytes as surrogates) as its bytes,
    `r\\xe9`: no terminal, file or font can show a surrogate, and encoding one fails."""
    if text.isprintable():  # no control, format, separator (but the space) or surrogate: most text
        return text
    text = text.translate(_CONTROL)
    if not text.isascii():
        text = "".join(_visible(c) for c in text)
    return bytes_escaped(text)


def _visible(c: str) -> str:
    """`c`, or where it is invisible (a format character, a line or paragraph separator) its code."""
    if unicodedata.category(c) not in _INVISIBLE:
        return c
    return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"


def bytes_escaped(text: str) -> str:
    """`text` with each surrogate written as `printable` writes it (a name the OS gave that is
    not UTF-8, `r\\udce9`, as its bytes: `r\\xe9`), all else as it is: text that encodes as
    UTF-8. JSON output takes this alone (JSON escapes the control characters itself)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return "".join(_SURROGATE.get(ord(c)) or c for c in text)
    return text


# A surrogate as the byte it escapes (surrogateescape: U+DC80..U+DCFF), any other as `\udXXX`.
_SURROGATE = {c: f"\\x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"\\u{c:04x}" for c in range(0xD800, 0xE000)}


def one_line(text: str) -> str:
    """`text` (a file's name, a class's) safe on one line of the terminal or of a file cnnctl
    writes (skipped.txt): `printable`, its line breaks written `\\n` too."""
    return printable(text).replace("\n", "\\n")


def shown(text: object, limit: int = 60) -> str:
    """A value read from a user's file in backticks for a one-line message: cut to `limit`, its
    line breaks written `\\n` and its control characters escaped (`one_line`)."""
    return quoted(one_line(str(text)), limit)


# A hint's search is bounded: a file can declare 100,000 ids or blocks with names of 1,000
# characters, and comparing each misspelling with each of them took minutes.
HINT_WORD = 64  # longer words get no suggestion
HINT_CHOICES = 500  # candidates compared, among those of a similar length
HINT_OTHERS = 6  # the names with other numbers a hint lists


def did_you_mean(
    word: str, choices: Iterable[str], synonyms: dict[str, str] | None = None, *, family: bool = False
) -> str | None:
    """A 'did you mean `x`?' hint for a misspelt name, or None when nothing is close. With
    `family`, for a caller that does not list the choices itself (a file's layer names), a
    name that is no slip but has siblings with other numbers gets them (other_numbers)."""
    choices = list(choices)
    if word != word.lower() and word.lower() in choices:
        return f"did you mean `{word.lower()}`? (names are lower case)"
    if synonyms and word.lower() in synonyms:
        meant = synonyms[word.lower()]
        return f"did you mean {meant}?" if "`" in meant else f"did you mean `{meant}`?"
    match = closest(word, choices)
    if match:
        return f"did you mean `{match}`?"
    others = other_numbers(word, choices) if family else []
    if not others:
        return None
    named = ", ".join(f"`{c}`" for c in others[:HINT_OTHERS])
    return f"the same name with other numbers: {named}" + (", ..." if len(others) > HINT_OTHERS else "")


def other_numbers(word: str, choices: Iterable[str]) -> list[str]:
    """The choices that are `word` with other numbers (`conv1`, `conv2` for `conv3`): no slip
    for it (closest), but the family it names, which a hint can list."""
    if len(word) > HINT_WORD:
        return []
    shape = _NUMBER.sub("0", word)
    return [c for c in choices if c != word and _NUMBER.sub("0", c) == shape] if shape != word else []


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to a misspelt `word`, or None when nothing is close.

    Only a choice with the same numbers as `word` is a candidate, or with one digit more that
    `word` dropped (`resnet5` for `resnet50`, `h10` for `h100`): a number written differently
    is another thing, not a slip (`float8` is not `float64`, `rtx5090` not `rtx4090`, `vgg19`
    not `vgg16`), and a hint names a spelling only where it means the same.
    A `word` that begins exactly one candidate names it, however short (`acc` for `accuracy`).
    Otherwise which choices are close is difflib's (a ratio of at least 0.6); among them the
    fewest edits win (a character changed, added, dropped, or two swapped), then a key pressed
    twice, then the longer beginning in common (the first keys are the surest: `summery` is as
    many edits from `memory` as from `summarize`), then the nearest length: `adamq` is one
    change from `adamw` and one deletion from `adam`, and a changed key is the likelier slip
    (difflib alone prefers the shorter word); but `adamm` is `adam` with its last key pressed
    twice, likelier than `adamw` with an `m` for a `w`.
    """
    import difflib  # only on the error path: it slows every start-up otherwise
    from functools import partial
    from itertools import islice

    if len(word) > HINT_WORD:
        return None
    # difflib's ratio is 2M/(a+b) for M matching characters: at the 0.6 cutoff the shorter
    # word is at least 3/7 of the longer, so other lengths cannot be close.
    numbers = _NUMBER.findall(word)
    choices = list(choices)
    # a digit dropped, and nothing else: `lenet4` is not `resnet34`, `conv1x` not `conv19`
    dropped = [c for c in choices if len(c) == len(word) + 1 and _digit_dropped(word, c)]
    choices = [c for c in choices if _NUMBER.findall(c) == numbers] + dropped
    begun = [c for c in choices if c != word and c.lower().startswith(word.lower())] if len(word) >= 2 else []
    if len(begun) == 1:
        return begun[0]
    similar = (c for c in choices if 3 * max(len(c), len(word)) <= 7 * min(len(c), len(word)))
    candidates = list(islice(similar, HINT_CHOICES))
    if not candidates:  # difflib wants n > 0
        return None
    for text in (word, word.lower()):
        close = difflib.get_close_matches(text, candidates, n=len(candidates), cutoff=0.6)  # best ratio first
        if close:
            return min(close, key=partial(_slip, text))  # min keeps the first of ties
    return None


_NUMBER = re.compile(r"[0-9]+")  # the numbers written in a name, compared as written (`b0`, `x4090`)


def _digit_dropped(typed: str, meant: str) -> bool:
    """Whether `typed` is `meant` with one digit of a number dropped, and nothing else (`h10`,
    `h100`); not a whole number (`conv` is not `conv1`, a name without its number)."""
    digit = [c.isdigit() for c in meant] + [False]  # [-1]: False, before the first character
    return any(
        digit[i] and (digit[i - 1] or digit[i + 1]) and meant[:i] + meant[i + 1 :] == typed for i in range(len(meant))
    )


def _slip(typed: str, meant: str) -> tuple[int, bool, int, int]:
    """How unlikely a slip `typed` is for `meant`, least first (see closest)."""
    begun = len(os.path.commonprefix([typed, meant]))
    return edits(typed, meant), not pressed_twice(typed, meant), -begun, abs(len(meant) - len(typed))


def pressed_twice(typed: str, meant: str) -> bool:
    """Whether `typed` is `meant` with one of its characters doubled (`adamm` for `adam`)."""
    return len(typed) == len(meant) + 1 and any(
        typed[i] == typed[i - 1] and typed[:i] + typed[i + 1 :] == meant for i in range(1, len(typed))
    )


def edits(a: str, b: str) -> int:
    """The fewest single-character edits from `a` to `b`: change, insert, delete, or swap two
    neighbours (the optimal string alignment distance)."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]
