"""evaluate's metrics beside accuracy: per-class precision, recall and F1, balanced accuracy,
macro F1 and top-5 accuracy, against scikit-learn's formulas written out by hand."""

import csv
import io
import json
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")

from cnnctl.data import Split, make_shapes  # noqa: E402
from cnnctl.train.batches import Batches  # noqa: E402
from cnnctl.train.evaluate import Evaluation  # noqa: E402
from cnnctl.train.metrics import TOP_K, evaluate_batches, f1, precision, recall  # noqa: E402
from tests.test_recipe import cli  # noqa: E402

# 4 classes, rows true, columns predicted: class 2 present but never right, class 3 neither present
# nor predicted (column 3 empty too).
CONFUSION = [
    [5, 2, 1, 0],
    [0, 3, 1, 0],
    [1, 0, 0, 0],
    [0, 0, 0, 0],
]


def test_per_class_scores_from_a_confusion_matrix_by_hand():
    assert recall(CONFUSION) == [5 / 8, 3 / 4, 0.0, None]  # row sums 8, 4, 1, 0
    assert precision(CONFUSION) == [5 / 6, 3 / 5, 0.0, None]  # column sums 6, 5, 2, 0
    # F1 = 2PR / (P + R): (2 · 5/6 · 5/8) / (5/6 + 5/8) = 5/7; (2 · 3/5 · 3/4) / (3/5 + 3/4) = 2/3; 0 where TP = 0
    p, r = Fraction(5, 6), Fraction(5, 8)
    assert 2 * p * r / (p + r) == Fraction(5, 7)
    assert f1(CONFUSION) == [5 / 7, 2 / 3, 0.0, None]


def test_balanced_accuracy_and_macro_f1_are_sklearns_means():
    e = Evaluation(loss=0.5, accuracy=8 / 13, classes=["a", "b", "c", "d"], per_class=recall(CONFUSION),
                   confusion=CONFUSION, examples=13)  # fmt: skip
    # sklearn's balanced_accuracy_score: the mean recall over the classes present in y_true (a, b, c)
    assert e.balanced_accuracy == pytest.approx(float((Fraction(5, 8) + Fraction(3, 4) + 0) / 3), rel=1e-15)
    # f1_score(average="macro"): the mean over the labels present in y_true or y_pred (a, b, c)
    assert e.macro_f1 == pytest.approx(float((Fraction(5, 7) + Fraction(2, 3) + 0) / 3), rel=1e-15)
    assert e.precision == [5 / 6, 3 / 5, 0.0, None] and e.f1 == [5 / 7, 2 / 3, 0.0, None]


def test_top_k_counts_the_images_whose_class_is_among_their_k_highest_scores():
    torch.manual_seed(0)
    scores = torch.randn(40, 8)
    y = torch.randint(0, 8, (40,))

    class Scores(torch.nn.Module):  # the scores of image i, whatever the pixels: x holds i
        def forward(self, x):
            return scores[x.flatten(1)[:, 0].round().long()]

    x = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 1, 2, 2).contiguous()
    source = Batches(Split(x, y), (0.0,), (1 / 255,), torch.device("cpu"))  # (x / 255 - 0) * 255: i again
    stats = evaluate_batches(Scores(), source, 8, top_k=TOP_K, batch_size=16)
    # by hand: an image's class is in its top 5 where fewer than 5 classes score higher than it
    higher = (scores > scores.gather(1, y[:, None])).sum(1)
    want = int((higher < 5).sum())
    assert 0 < want < 40 and stats.top_correct == want
    assert stats.correct == int((higher == 0).sum())  # top-1: the accuracy


def test_evaluate_reports_them_in_json_csv_and_text(tmp_path, capsys):
    from tests.idxfiles import write_idx

    x, y = make_shapes(300, 28, 28, 1, seed=1)  # 10 classes: top-5 is told
    write_idx(tmp_path / "digits", "train", x[:, 0], y)
    out = tmp_path / "r"
    assert cli(["train", "lenet5", "--data", str(tmp_path / "digits"), "--val-split", "0", "--epochs", "1",
                "--out", str(out), "--device", "cpu"]) == 0  # fmt: skip
    capsys.readouterr()
    assert cli(["evaluate", str(out), "--split", "train", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    confusion = report["confusion"]
    rows = [sum(row) for row in confusion]
    columns = [sum(column) for column in zip(*confusion, strict=True)]
    recalls = [row[k] / rows[k] for k, row in enumerate(confusion) if rows[k]]
    assert report["balanced_accuracy"] == pytest.approx(sum(recalls) / len(recalls))
    want_precision = [row[k] / columns[k] if columns[k] else None for k, row in enumerate(confusion)]
    assert report["per_class_precision"] == pytest.approx(want_precision)
    f1s = [2 * row[k] / (rows[k] + columns[k]) if rows[k] + columns[k] else None for k, row in enumerate(confusion)]
    assert report["per_class_f1"] == pytest.approx(f1s)
    defined = [v for v in f1s if v is not None]
    assert report["macro_f1"] == pytest.approx(sum(defined) / len(defined))
    assert report["accuracy"] <= report["top5_accuracy"] <= 1
    assert cli(["evaluate", str(out), "--split", "train", "--format", "csv"]) == 0
    overall = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))[-1]
    assert overall["row"] == "overall" and float(overall["top5_accuracy"]) == report["top5_accuracy"]
    assert float(overall["balanced_accuracy"]) == report["balanced_accuracy"]
    assert float(overall["macro_f1"]) == report["macro_f1"]
    assert cli(["evaluate", str(out), "--split", "train"]) == 0
    text = capsys.readouterr().out
    assert f"balanced accuracy {report['balanced_accuracy']:.2%}, macro F1 {report['macro_f1']:.2%}, top-5 " in text
    assert "precision" in text and "F1" in text and "accuracy of a class: its recall" in text
