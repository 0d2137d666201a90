"""matplotlib, the optional extra (`pip install -e ".[plot]"`) that draws training curves and
the volume view's PNG and PDF: imported only when such a picture is drawn, on its Agg canvas
(no pyplot, no display, no global state changed), and its absence told in words."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL = 'pip install matplotlib (or, in cnnctl\'s source folder, pip install -e ".[plot]")'


class NoMatplotlib(Exception):
    """matplotlib cannot be imported; the message says why, in words."""


def matplotlib_module(name: str) -> ModuleType:
    """`matplotlib.<name>` (`figure`, `backends.backend_agg`...), or NoMatplotlib saying why not."""
    try:
        return importlib.import_module(f"matplotlib.{name}")
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "matplotlib":
            raise NoMatplotlib("matplotlib is not installed") from None
        raise NoMatplotlib(f"matplotlib cannot be imported ({exc})") from None
