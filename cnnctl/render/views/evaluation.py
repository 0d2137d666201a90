"""What `cnnctl evaluate` shows: accuracy, balanced accuracy, macro F1 and top-5 accuracy; per
class its recall (accuracy), precision and F1; the confusion matrix; the JSON."""

from __future__ import annotations

from ...words import accuracy, exact, plural
from ..table import Column, Table, num


def evaluation_tables(e) -> list[Table]:
    """Per-class recall (its accuracy), precision and F1, then the confusion matrix (rows: true
    class, columns: predicted).

    CSV writes one table: the per-class one, with a `predicted_NAME` column per class (the
    confusion matrix's rows), rather than two tables with different headers in one stream; a
    first column `row` says what a row is (`class`, `overall`: a class may be named `overall`,
    and the summary row's `class` is empty); and after the classes the `overall` row, what the
    text says in the title: every image (pixel), the
    accuracy over them (dense: and the mean IoU), how many were predicted as each class, the
    balanced accuracy, macro F1 and top-5 accuracy, the loss, the split (val, test, train or all), the data
    (its name, and in words) and the weights, in columns of their own that the class rows leave empty.
    """
    dense = getattr(e, "iou", None) is not None  # dense prediction: counts are pixels, and each class has its IoU
    balance = f"balanced accuracy {e.balanced_accuracy:.2%}, macro F1 {e.macro_f1:.2%}"
    if dense:
        title = (
            f"pixel accuracy {e.accuracy:.2%}, mean IoU {e.mean_iou:.2%}, {balance}, loss {e.loss:.4f} on "
            f"{exact(e.pixels)} pixels of {plural(e.examples, 'image')} of {e.split}, weights {e.checkpoint}"
        )
    else:
        top = f", top-5 accuracy {e.top5_accuracy:.2%}" if e.top5_accuracy is not None else ""
        title = f"accuracy {e.accuracy:.2%}, {balance}{top}, loss {e.loss:.4f} on {plural(e.examples, 'image')} "
        title += f"of {e.split}, weights {e.checkpoint}"
    per_class = Table(
        title,
        [
            Column("row", csv_only=True),  # ROW_CLASS or ROW_OVERALL
            Column("class"),
            num("pixels" if dense else "examples", exact),
            num("accuracy", accuracy),  # the class's recall; "-": a class with no examples
            num("precision", accuracy),  # "-": a class never predicted
            num("F1", accuracy),  # "-": a class neither present nor predicted
            *([num("IoU", accuracy)] if dense else []),
            # CSV: `predicted_` and the class's name as written
            *(Column(f"predicted {name}", csv_only=True, key=f"predicted_{name}") for name in e.classes),
            *(Column(name, csv_only=True) for name in OVERALL_COLUMNS),
        ],
        [
            [
                ROW_CLASS,
                name,
                sum(row),
                acc,
                e.precision[k],
                e.f1[k],
                *([e.iou[k]] if dense else []),
                *row,
                *[None] * len(OVERALL_COLUMNS),
            ]
            for k, (name, row, acc) in enumerate(zip(e.classes, e.confusion, e.per_class, strict=True))
        ],  # fmt: skip
        csv_rows=[_overall_row(e, dense)],
    )
    # Columns by name where every name is short and distinct; else by number, the rows saying
    # which number is which class (cut names could collide: `class_0001`, `class_0002`).
    named = all(len(name) <= 12 for name in e.classes) and len(set(e.classes)) == len(e.classes)
    heads = list(e.classes) if named else [str(k) for k in range(len(e.classes))]
    confusion = Table(
        "confusion matrix (rows: true class, columns: predicted)",
        [Column("true"), *(num(head, exact, key=head) for head in heads)],
        [
            [name if named else f"{k} {name}", *row]
            for k, (name, row) in enumerate(zip(e.classes, e.confusion, strict=True))
        ],
        [LEGEND],  # the report's last lines: what the figures above are
    )
    return [per_class, confusion]


# CSV: what the whole evaluation was, on its `overall` row, under the JSON's keys
OVERALL_COLUMNS = (
    "balanced_accuracy",
    "macro_f1",
    "top5_accuracy",
    "loss",
    "split",
    "data",
    "data_words",
    "weights",
    "images_skipped",
    "samples_lost_to_cuts",
)
# Under the report: what the per-class columns and the title's figures are
LEGEND = (
    "accuracy of a class: its recall, the share of its examples predicted as it; precision: the share of those "
    "predicted as it that are it; F1: 2·precision·recall / (precision + recall); balanced accuracy and macro F1: "
    "the means over the classes of recall and of F1 (as scikit-learn's)"
)
# CSV: the `row` column's words, a class's row and the summary's
ROW_CLASS, ROW_OVERALL = "class", "overall"


def _overall_row(e, dense: bool) -> list:
    """The CSV's `overall` row (no class: its `row` says what it is): the per-class columns over
    every class (the predicted counts are the confusion matrix's column sums; precision and F1,
    a class's, are left empty: their means are macro_f1 and balanced_accuracy's columns), then
    OVERALL_COLUMNS, as the JSON has them."""
    predicted = [sum(column) for column in zip(*e.confusion, strict=True)]
    total = sum(predicted)
    return [ROW_OVERALL, None, total, e.accuracy, None, None, *([e.mean_iou] if dense else []), *predicted,
            e.balanced_accuracy, e.macro_f1, e.top5_accuracy,
            e.loss, getattr(e, "split_name", "val"), getattr(e, "data", ""), e.split, e.checkpoint,
            getattr(e, "skipped", 0), getattr(e, "lost", 0)]  # fmt: skip


def evaluation_json(e) -> dict:
    return {"loss": e.loss, "accuracy": e.accuracy, "balanced_accuracy": e.balanced_accuracy, "macro_f1": e.macro_f1,
            "top5_accuracy": e.top5_accuracy, "examples": e.examples, "classes": e.classes,
            # per class: its recall (`per_class_accuracy`, as ever), precision and F1
            "per_class_accuracy": e.per_class, "per_class_precision": e.precision, "per_class_f1": e.f1,
            "confusion": e.confusion,
            # the weights used, as predict's JSON names them (`checkpoint`: the same, as the README has it)
            "weights": e.checkpoint, "checkpoint": e.checkpoint,
            # the data by name or path and the split as fields; the header's sentence beside them
            "data": getattr(e, "data", ""), "split": getattr(e, "split_name", "val"), "data_words": e.split,
            "images_skipped": getattr(e, "skipped", 0),  # unreadable images left out (not in `examples`)
            # samples of the data's shards past a cut, never read (in no split: the data set's count)
            "samples_lost_to_cuts": getattr(e, "lost", 0),
            **(_dense_json(e) if getattr(e, "iou", None) is not None else {})}  # fmt: skip


def _dense_json(e) -> dict:
    return {"pixels": e.pixels, "iou_per_class": e.iou, "mean_iou": e.mean_iou}
