"""Something a run does now and then, every so many steps or every so long: `--log-interval`
(a plain progress line where no bar is drawn) and `--save-every` (last.pt mid-epoch).

One form for both, a number and its unit: `500steps` (also `500`, timm's `--log-interval 50`),
`30s`, `10min`, `1h`. Pure Python, below train/ and render/: the settings' table reads it without
torch, and train's display times its lines with it.
"""

from __future__ import annotations

import re
import time

from .limits import MAX_INT
from .values import ArgValueError

_UNITS = {"steps": 0, "step": 0, "s": 1, "sec": 1, "min": 60, "h": 3600}  # 0: steps, else seconds each
_FORM = re.compile(r"\s*(\d{1,12})\s*([a-z]*)\s*")
FORMS = "N steps or a time: 500steps, 30s, 10min, 1h"


def every_text(text: str) -> str:
    """`500` or `500 steps` -> `500steps`; `10 min` -> `10min`: the value as it is kept (config.json,
    checkpoints) and shown."""
    match = _FORM.fullmatch(str(text).lower())
    if not match or match[2] not in ("", *_UNITS):
        raise ArgValueError(f"expected {FORMS}; got `{text}`")
    count, unit = int(match[1]), match[2] or "steps"
    if count < 1 or count > MAX_INT:
        raise ArgValueError(f"expected at least 1 ({FORMS}); got `{text}`")
    return f"{count}{'steps' if _UNITS[unit] == 0 else unit}"


def valid_every(value: object) -> None:
    """A kept value (a file's, a checkpoint's) read by the same rule as a typed one."""
    if not isinstance(value, str) or every_text(value) != value:
        raise ArgValueError(f"expected {FORMS}; got {value!r}")


class Every:
    """When something falls due: every `steps` steps of an epoch, or every `seconds` since the last
    time it was done (or since `start`)."""

    def __init__(self, text: str) -> None:
        count, unit = _FORM.fullmatch(every_text(text)).groups()
        scale = _UNITS[unit]
        self.steps = int(count) if scale == 0 else None
        self.seconds = int(count) * scale if scale else None
        self.last = time.perf_counter()

    def start(self) -> None:
        """Count the time from now (an epoch's start)."""
        self.last = time.perf_counter()

    def due(self, step: int) -> bool:
        """Whether it falls due after `step` steps of the epoch; a time counts again from here."""
        if self.steps is not None:
            return step % self.steps == 0
        now = time.perf_counter()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True
