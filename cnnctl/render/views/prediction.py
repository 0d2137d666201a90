"""What `cnnctl predict` shows: each image's top classes, how it was read; the JSON."""

from __future__ import annotations

from ..table import Column, Table, maybe, num
from .problems import problem_json


def _read_as(r) -> str:
    return f"{r.height}x{r.width} {r.mode}"


def prediction_table(results, weights: str = "") -> Table:
    """`results`: cnnctl.train.predict.Prediction. A row per class shown; an image that could
    not be read gets one row saying `not read` (why is its error on stderr, and in CSV's `error`
    column: the class column stays as wide as the classes' names). Under the table, how each
    image was read and adapted, and any warning with its hint; CSV carries them in columns of
    its own."""
    rows, notes = [], []
    for r in results:
        if r.error is not None:
            rows.append([r.image, None, "not read", None, None, None, None, r.error.message])
            continue
        adapted = "; ".join(r.adapted) or "used as read"
        warned = "; ".join(w.message for w in r.warnings) or None
        rows += [[r.image, k, name, p, _read_as(r), adapted, warned, None] for k, (name, p) in enumerate(r.top, 1)]
        notes.append(f"{r.image}: read {_read_as(r)}; {adapted}")
        for w in r.warnings:
            notes += w.format("warning").split("\n")
    title = f"predictions, weights {weights}" if weights else "predictions"
    columns = [
        Column("image"), num("rank", maybe(str)), Column("class"), num("probability", maybe("{:.2%}".format)),
        Column("read", csv_only=True), Column("adapted", csv_only=True), Column("warning", csv_only=True),
        Column("error", csv_only=True),
    ]  # fmt: skip
    return Table(title, columns, rows, notes)


def prediction_json(results, weights: str, left_out: bool = False) -> dict:
    """The `weights` predicted with (where they came from, as the table's title and export's
    JSON say), and each image with its `top` classes, as read (`read`: height, width, Pillow's
    mode), what was done to it (`adapted`) and `warnings`; or with its `error` alone, a warning's
    (`severity`) for a folder's image `left_out` under the rule on unreadable images."""
    out = []
    for r in results:
        if r.error is not None:
            severity = "warning" if left_out and r.in_folder else "error"
            out.append({"image": r.image, "error": problem_json(r.error, severity)})
            continue
        out.append({"image": r.image, "read": {"height": r.height, "width": r.width, "mode": r.mode},
                    "adapted": r.adapted, "warnings": [problem_json(w, "warning") for w in r.warnings],
                    "top": [{"class": n, "probability": p} for n, p in r.top]})  # fmt: skip
    return {"weights": weights, "predictions": out}
