"""Training curves: loss and accuracy against the epoch, for one run or several on the same axes.

Drawn by matplotlib (an optional extra: `pip install -e ".[plot]"`) on its Agg canvas, a
file renderer: no pyplot, no GUI, no display needed, and no global state changed for a
program that uses matplotlib itself. One colour per run; train dashed, val solid.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

from ..errors import printable
from ..run_folders import RunHistory
from .mpl import matplotlib_module

METRICS = ("loss", "accuracy", "both")
FORMATS = ("png", "svg", "pdf")
_MARKERS_UP_TO = 30  # epochs: a marker on each point up to this many (a one-epoch run is then a dot)
# A PNG's text chunk naming the run folders it was drawn of: `cnnctl plot` replaces its own
# picture of the same runs, never another file (plotted_runs).
PLOTTED = "cnnctl plot of"


def _matplotlib() -> tuple[type, type, type, type]:
    figure, agg = matplotlib_module("figure"), matplotlib_module("backends.backend_agg")
    ticker = matplotlib_module("ticker")
    return figure.Figure, agg.FigureCanvasAgg, ticker.MaxNLocator, ticker.PercentFormatter


def curves_picture(runs: Sequence[RunHistory], metric: str = "both", fmt: str = "png") -> bytes:
    """The picture of `runs`' curves as a PNG (or SVG, PDF); NoMatplotlib without matplotlib."""
    Figure, FigureCanvasAgg, MaxNLocator, PercentFormatter = _matplotlib()
    panels = ("loss", "accuracy") if metric == "both" else (metric,)
    fig = Figure(figsize=(5.6 * len(panels), 4.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    single = len(runs) == 1
    epochs = len(runs[0].rows)
    # A folder's name the OS gave, not UTF-8, is drawn as printable writes it (`r\xe9`): no font draws its bytes.
    name = printable(runs[0].name)
    title = f"{name}: {epochs:,} epoch{'s' if epochs != 1 else ''}" if single else f"{len(runs)} runs"
    if single and runs[0].about:
        title += "\n" + printable(runs[0].about)
    fig.suptitle(title, fontsize=12)
    for ax, panel in zip(axes, panels, strict=True):
        for i, run in enumerate(runs):
            # one run: train and val in two colours; several: a colour per run, train dashed
            colors = {"train": "C0", "val": "C1"} if single else {"train": f"C{i % 10}", "val": f"C{i % 10}"}
            x = run.values("epoch")
            marker = "o" if len(x) <= _MARKERS_UP_TO else None
            for split, style in (("train", "--"), ("val", "-")):
                key = f"{split}_{panel}"
                if not run.has(key):
                    continue
                label = split if single else f"{printable(run.name)} {split}"
                ax.plot(x, run.values(key), style, color=colors[split], marker=marker, markersize=3.5, label=label,
                        linewidth=1.8 if split == "val" else 1.3)  # fmt: skip
            if panel == "accuracy" and (best := run.kept()) is not None and math.isfinite(best[0]):
                value, epoch = best  # the epoch best.pt holds, by the run's --monitor, and its accuracy
                # One run's best is said in the legend, beside its star: a label written at the
                # point lay over the train curve, which runs just above the val curve. Several
                # runs: the stars alone, as before.
                said = (f"best {value:.2%} (epoch {epoch:,})" if run.monitor == "val_accuracy"
                        else f"best.pt {value:.2%} (epoch {epoch:,}, best {run.monitor})")  # fmt: skip
                label = said if single else "_best"
                ax.plot([epoch], [value], "*", color=colors["val"], markersize=13, markeredgecolor="black",
                        markeredgewidth=0.6, zorder=5, linestyle="none", label=label)  # fmt: skip
        ax.set_title("Loss" if panel == "loss" else "Accuracy")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy loss" if panel == "loss" else "accuracy")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _one_epoch_axis(ax, runs)
        if panel == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.grid(True, alpha=0.3)
        if ax.lines and any(line.get_label()[:1] != "_" for line in ax.lines):
            ax.legend(loc="upper right" if panel == "loss" else "lower right", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata={PLOTTED: _folders(runs)} if fmt == "png" else None)
    return buffer.getvalue()


def _one_epoch_axis(ax: Any, runs: Sequence[RunHistory]) -> None:
    """Runs of one epoch (all the same): its tick alone, at the middle of a one-epoch wide
    axis; matplotlib's autoscale around a single point gave fractional ticks (0.95 to 1.05),
    which MaxNLocator(integer=True) keeps where the range is under one."""
    epochs = {e for run in runs for e in run.values("epoch") if math.isfinite(e)}
    if len(epochs) == 1:
        (epoch,) = epochs
        ax.set_xticks([epoch])
        ax.set_xlim(epoch - 0.5, epoch + 0.5)


def drawn_text(runs: Sequence[RunHistory]) -> str:
    """The text a picture of `runs` draws that a font may lack: each run's name and what it is,
    as curves_picture writes them (glyphs.drawing_fonts finds the fonts that have it)."""
    return " ".join(f"{printable(run.name)} {printable(run.about or '')}" for run in runs)


def _folders(runs: Sequence[RunHistory]) -> str:
    """The runs drawn, as the PNG's text records them: a folder whose name is not UTF-8 as
    printable writes it (PNG text is UTF-8), the same each time `drew` asks."""
    return "\n".join(printable(os.path.realpath(run.folder)) for run in runs)


def drew(path: str, runs: Sequence[RunHistory]) -> bool:
    """Whether the file `path` is a PNG that curves_picture drew of these runs (the same
    folders, in the same order); False for any other file, or one that cannot be read."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.format == "PNG" and im.text.get(PLOTTED) == _folders(runs)
    except Exception:  # noqa: BLE001 - not a picture of ours, whatever Pillow finds wrong: never replaced
        return False


def finite(values: list[float]) -> list[float | None]:
    """A series for JSON: NaN (no value) as null."""
    return [v if math.isfinite(v) else None for v in values]
