"""The commands that read run folders: plot, runs. Neither imports torch."""

import sys
from typing import Annotated, Optional

from ..errors import CnnctlError, Problem
from .common import Format, examples, show_result
from .options import argument, choice, complete_run, format_option, option, words


@examples(
    ("cnnctl plot runs/lenet5-mnist", "loss and accuracy of a run, in ./curves.png"),
    ("cnnctl plot runs/lenet5-mnist runs/lenet5-sgd --metric accuracy -o acc.svg", "two runs on the same axes"),
)
def plot_cmd(
    runs: Annotated[list[str], argument("RUN...", "Run folders (or their metrics.jsonl or results.csv).",
                                        complete_run)],
    output: Annotated[Optional[str], option(
        "-o", "--output", metavar="FILE", help="The picture: .png, .svg, .pdf. Default: ./curves.png, as a new file "
        "(or over plot's own picture of the same runs).",
    )] = None,
    metric: Annotated[str, option("--metric", parser=choice(("both", "loss", "accuracy")), metavar="loss|accuracy|both",
                                  complete=words("both", "loss", "accuracy"),
                                  help="What to draw. Default: both, side by side.")] = "both",
    format: Annotated[Format, format_option(Format.table, Format.json)] = Format.table,
) -> int:  # fmt: skip
    """Draw runs' loss and accuracy against the epoch; several runs on the same axes.

    Reads each run's metrics.jsonl (else results.csv): a run folder, or one of those files.
    The picture goes to ./curves.png as a new file, or over the one plot drew of the same runs
    (or -o FILE, replaced if it exists: .png, .svg, .pdf), never into a run folder unasked: a
    run's own curves.png is the one its training drew. The legend names each run by its
    folder. Needs matplotlib (pip install matplotlib, or pip install -e ".[plot]").
    """
    import os

    from ..render.curves import FORMATS, curves_picture, drawn_text, drew
    from ..render.glyphs import drawing_fonts, missing_glyphs
    from ..render.mpl import INSTALL, NoMatplotlib
    from ..render.runs import plot_json, plot_table
    from ..run_folders import CURVES, read_histories
    from ..writing import refuse_existing, write_file

    runs, warnings = read_histories(runs)
    for warning in warnings:
        sys.stderr.write(Problem(warning).format("warning") + "\n")
    out = output or CURVES  # here: reading runs changes nothing in their folders
    stem, suffix = os.path.splitext(out)
    fmt = suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise CnnctlError.at(
            f"cannot draw `{out}`: the picture is written as " + ", ".join(f".{f}" for f in FORMATS),
            hint=f"e.g. -o {stem}.png",
        )
    # Like draw, a file the user did not name is never replaced: but for the picture plot drew
    # of these same runs, which drawing them again is meant to bring up to date.
    replace = output is not None or drew(out, runs)
    if not replace:
        refuse_existing(out)
    try:
        with drawing_fonts(drawn_text(runs)) as lacking:  # every format: matplotlib writes an SVG's text as paths too
            picture = curves_picture(runs, metric, fmt)
    except NoMatplotlib as exc:
        raise CnnctlError.at(f"`cnnctl plot` draws with matplotlib: {exc}", hint=INSTALL) from None
    write_file(out, picture, replace=replace)
    if lacking:
        sys.stderr.write(missing_glyphs("".join(lacking), out, svg_is_text=False).format("warning") + "\n")
    show_result(format, lambda: plot_json(runs, out, metric), lambda: [plot_table(runs, out, metric)])
    return 0


@examples(
    ("cnnctl runs", "the runs in ./runs, the newest first"),
    ("cnnctl runs experiments --format json", "those in another folder, as JSON"),
)
def runs_cmd(
    folder: Annotated[str, argument("DIR", "The folder holding the run folders. Default: ./runs.")] = "runs",
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """The runs in a folder: network, data, epochs, best accuracy, status, checkpoints.

    Every run folder in DIR (default ./runs: a folder holding config.json, last.pt or
    network.yaml), the newest first; a file of a run that cannot be read (a checkpoint every
    other command refuses among them) is said under the table, and broken rows of its
    metrics.jsonl (else results.csv) are left out, counted at the first. Status: running (a
    process holds the run's lock), finished, stopped early (--patience), stopped (Ctrl-C or
    SIGTERM: --resume continues it), diverged, failed (the reason follows the table), killed
    (it ended without a word: kill -9, out of memory, a machine that went down), unknown (a
    run from before runs recorded how they end).
    """
    from ..render.runs import runs_json, runs_table
    from ..run_folders import list_runs

    runs = list_runs(folder)
    show_result(format, lambda: runs_json(folder, runs), lambda: [runs_table(folder, runs)])
    return 0
