"""The training curves' picture (cnnctl.render.curves): what it says of the best epoch, read
back from the SVG matplotlib writes (each text drawn as paths after a comment holding it)."""

import xml.etree.ElementTree as ET

import pytest

from cnnctl.run_folders import RunHistory

pytest.importorskip("matplotlib")
from cnnctl.render.curves import curves_picture  # noqa: E402 - after the skip: it needs matplotlib

SVG = "{http://www.w3.org/2000/svg}"
# Train accuracy runs a few points above val's, which peaks at epoch 8 (85.36%) and falls after.
ROWS = [
    {"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_accuracy": t, "val_accuracy": v}
    for e, t, v in zip(
        range(1, 13),
        [0.63, 0.71, 0.767, 0.807, 0.836, 0.857, 0.872, 0.883, 0.891, 0.896, 0.900, 0.903],
        [0.607, 0.684, 0.740, 0.780, 0.808, 0.829, 0.843, 0.8536, 0.851, 0.846, 0.840, 0.833],
        strict=True,
    )
]


def texts(svg: bytes) -> dict[str, list[str]]:
    """The texts of the picture by where they are drawn: the legends' (`legend`), the others (`other`)."""
    root = ET.fromstring(svg, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    found: dict[str, list[str]] = {"legend": [], "other": []}

    def walk(element, inside: str) -> None:
        for child in element:
            if child.tag is ET.Comment:
                found[inside].append(child.text.strip())
                continue
            walk(child, "legend" if (child.get("id") or "").startswith("legend") else inside)

    walk(root, "other")
    return found


def test_the_best_epoch_is_said_in_the_legend_not_over_the_curves():
    # The label written 10 points above the best val point lay over the train curve just above it.
    said = texts(curves_picture([RunHistory("r", "r", "metrics.jsonl", ROWS)], "both", "svg"))
    assert "best 85.36% (epoch 8)" in said["legend"]  # beside the star, with train and val
    assert {"train", "val"} <= set(said["legend"])
    assert not any(t.startswith("best") for t in said["other"])


def test_several_runs_keep_their_stars_without_a_label():
    other = [dict(row, val_accuracy=row["val_accuracy"] - 0.05) for row in ROWS]
    runs = [RunHistory("a", "a", "metrics.jsonl", ROWS), RunHistory("b", "b", "metrics.jsonl", other)]
    said = texts(curves_picture(runs, "accuracy", "svg"))
    assert not any("best" in t for t in said["legend"] + said["other"])
    assert {"a train", "a val", "b train", "b val"} <= set(said["legend"])


def test_by_val_loss_the_star_is_best_pts_epoch_with_its_accuracy(tmp_path):
    # Once: with --monitor val_loss, runs, plot and the curves paired the highest val accuracy
    # (epoch 8) with best.pt, which holds the epoch of the lowest val loss (epoch 12 here).
    import json

    from cnnctl.render.runs import plot_table, runs_json
    from cnnctl.run_folders import read_history, run_info

    folder = tmp_path / "pat"
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    (folder / "config.json").write_text(json.dumps({"monitor": "val_loss", "epochs": 12, "input": "8x8x1"}))
    (folder / "best.pt").write_bytes(b"")
    history = read_history(str(folder))
    assert history.kept() == (0.833, 12)  # val_loss 1.1 / 12, the lowest; its accuracy, not the highest
    said = texts(curves_picture([history], "both", "svg"))
    assert "best.pt 83.30% (epoch 12, best val_loss)" in said["legend"]
    listed = runs_json(str(tmp_path), [run_info(folder)])
    (run,) = listed["runs"]
    # a run folder is `run_dir`, as train's JSON names it; the folder holding the runs `dir`
    assert (listed["dir"], run["run_dir"]) == (str(tmp_path), str(folder))
    assert (run["epochs_done"], run["epochs_planned"]) == (12, 12)  # the CSV's names: epochs_planned, not epochs
    assert (run["best_val_accuracy"], run["best_epoch"], run["monitor"]) == (0.833, 12, "val_loss")
    (row,) = plot_table([history], "p.png", "both").rows
    assert row[4:6] == [0.833, 12]


def x_ticks(svg: bytes) -> list[str]:
    """The x axis' tick labels as drawn (matplotlib groups each tick as `xtick_N`)."""
    root = ET.fromstring(svg, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    return [c.text.strip() for g in root.iter() if (g.get("id") or "").startswith("xtick_")
            for c in g.iter() if c.tag is ET.Comment]  # fmt: skip


@pytest.mark.parametrize("runs", [1, 2])
def test_a_one_epoch_run_has_one_integer_tick(runs):
    # autoscale around the single point gave 0.950 to 1.050: fractional epochs
    histories = [RunHistory(f"r{i}", f"r{i}", "metrics.jsonl", ROWS[:1]) for i in range(runs)]
    ticks = x_ticks(curves_picture(histories, "both", "svg"))
    assert ticks and set(ticks) == {"1"}


def test_several_epochs_keep_integer_ticks():
    ticks = x_ticks(curves_picture([RunHistory("r", "r", "metrics.jsonl", ROWS)], "loss", "svg"))
    assert ticks and all(t.lstrip("−-").isdigit() for t in ticks)
