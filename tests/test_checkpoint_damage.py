"""Damaged checkpoints that still carry cnnctl's format tag: one message and exit 2, never a traceback.

One real run of lenet5 is trained once; each test edits a copy of its checkpoint the way a
person with torch.load/torch.save could, then runs `evaluate` or `train --resume` on it.
"""

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import run_main  # noqa: E402

from cnnctl import CnnctlError  # noqa: E402
from cnnctl.train.checkpoint import EVALUATE, RESUME, load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cnnctl", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "a"
    result = cli("train", "lenet5", "--epochs", "1", "--batch-size", "128", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def damaged(run_dir, tmp_path, edit) -> Path:
    """A copy of the run's last.pt after `edit(state)`, alone in a folder as a run's last.pt."""
    state = torch.load(run_dir / "last.pt", weights_only=True)
    edit(state)
    path = tmp_path / "damaged" / "last.pt"
    path.parent.mkdir()
    torch.save(state, path)
    return path


def assert_refused(code, err, path, *words):
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith(f"error: {path}: the checkpoint is damaged") or "does not fit" in err, err
    assert err.count("error:") == 1, err  # one message
    for word in words:
        assert word in err, (word, err)
    assert "hint:" in err


def drop(key):
    return lambda state: state.pop(key)


def put(key, value):
    return lambda state: state.__setitem__(key, value)


def test_an_intact_checkpoint_passes_both_checks(run_dir):
    for purpose in (EVALUATE, RESUME):
        state = load_checkpoint(run_dir, purpose)
        assert state["config"]["data"] == "shapes" and state["epoch"] == 1


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (drop("model"), ["no `model`"]),
        (drop("config"), ["no `config`"]),
        (put("config", {}), ["no `data`"]),
        (put("config", "shapes"), ["`config` is not a mapping"]),
        (put("mean", ["x"]), ["`mean` is not a list of numbers"]),
        (put("std", [0.0]), ["`std` is not a list of positive numbers"]),
        (put("classes", [1, 2]), ["`classes` is not a list of names"]),
        (put("model", {"conv1.weight": "x"}), ["`model` is not a mapping of names to tensors"]),
        (put("network", {"input": "32x32x1"}), ["`network` is not"]),
    ],
    ids=["no-model", "no-config", "empty-config", "config-text", "mean-text", "std-zero", "classes", "model", "net"],
)
def test_evaluate_refuses_a_damaged_checkpoint(run_dir, tmp_path, monkeypatch, capsys, edit, words):
    path = damaged(run_dir, tmp_path, edit)
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "lenet5", "--checkpoint", str(path), "--device", "cpu")
    assert_refused(code, err, path, *words)


def test_weights_that_are_not_finite_are_refused_naming_each_tensor(run_dir, tmp_path, monkeypatch, capsys):
    # They evaluated as "loss nan" without a word.
    def poison(state):
        state["model"]["conv1.weight"][0, 0, :2, 0] = float("nan")  # 2 of lenet5's 6x1x5x5 = 150
        state["model"]["fc3.bias"][3] = float("inf")  # 1 of 10

    path = damaged(run_dir, tmp_path, poison)
    for command in (["evaluate", "lenet5", "--checkpoint", str(path), "--device", "cpu"],
                    ["export", "lenet5", "--checkpoint", str(path), "-o", str(tmp_path / "l.ts")],
                    ["train", "lenet5", "--epochs", "2", "--resume", str(path)]):  # fmt: skip
        code, _, err = run_main(monkeypatch, capsys, *command)
        assert_refused(code, err, path, "its tensor `conv1.weight` holds 2 NaN values of 150",
                       "its tensor `fc3.bias` holds 1 infinite value of 10")  # fmt: skip
    assert not (tmp_path / "l.ts").exists()


def test_a_checkpoint_without_its_network_record_is_refused(run_dir, tmp_path, monkeypatch, capsys):
    # Without it, a network whose weights fit (max for avg pooling) was accepted unchecked.
    path = damaged(run_dir, tmp_path, drop("network"))
    for command in (["evaluate", "lenet5", "--checkpoint", str(path), "--device", "cpu"],
                    ["train", "lenet5", "--epochs", "2", "--resume", str(path)]):  # fmt: skip
        code, _, err = run_main(monkeypatch, capsys, *command)
        assert_refused(code, err, path, "it has no `network` (record of its layers)")


def test_means_for_other_channels_are_refused(run_dir, tmp_path, monkeypatch, capsys):
    path = damaged(run_dir, tmp_path, put("mean", [0.1, 0.2, 0.3]))  # lenet5 takes 1 channel
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "lenet5", "--checkpoint", str(path), "--device", "cpu")
    assert_refused(code, err, path, "`mean` has 3 values for a network of 1 channel")


def test_weights_of_the_wrong_shape_are_named(run_dir, tmp_path, monkeypatch, capsys):
    def reshape(state):  # conv1 of lenet5: 6 filters of 5x5x1
        state["model"]["conv1.weight"] = torch.zeros(6, 1, 3, 3)
        del state["model"]["fc3.bias"]

    path = damaged(run_dir, tmp_path, reshape)
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "lenet5", "--checkpoint", str(path), "--device", "cpu")
    assert_refused(code, err, path, "does not fit `lenet5`", "conv1.weight 6x1x3x3 vs 6x1x5x5", "missing: fc3.bias")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (drop("optimizer"), ["no `optimizer` (optimizer state)"]),
        (drop("rng"), ["no `rng` (random state)"]),
        (drop("step"), ["no `step` (steps done in its epoch)"]),
        (drop("stats"), ["no `stats`"]),
        (put("rng", torch.zeros(7, dtype=torch.uint8)), ["`rng` is not"]),
        (put("epoch", "1"), ["`epoch` is not a whole number"]),
        (put("epoch_seconds", "soon"), ["`epoch_seconds` is not a number"]),  # was a traceback (float())
        (put("stats", {"seen": 0}), ["`stats` is not"]),
        # the loss divides by `weight` once `seen` > 0: 0 was a ZeroDivisionError, -3 a loss of the wrong sign
        (put("stats", {"loss_sum": 6.0, "correct": 2, "seen": 3, "weight": 0.0}), ["`stats` is not", "`weight`"]),
        (put("stats", {"loss_sum": 6.0, "correct": 2, "seen": 3, "weight": -3.0}), ["`stats` is not", "`weight`"]),
        (put("stats", {"loss_sum": 6.0, "correct": 2, "seen": 3, "weight": float("nan")}), ["`stats` is not"]),
        (put("optimizer", {"state": {}}), ["`optimizer` is not"]),
        (lambda s: s["config"].pop("batch_size"), ["settings have no `batch_size`"]),
        (lambda s: s["config"].update(lr=float("nan")), ["setting `lr` must be a finite number"]),
    ],
    ids=[
        "no-optimizer",
        "no-rng",
        "no-step",
        "no-stats",
        "rng",
        "epoch",
        "seconds",
        "stats",
        "stats-weight-zero",
        "stats-weight-negative",
        "stats-weight-nan",
        "optimizer",
        "batch",
        "lr",
    ],
)
def test_resume_refuses_a_damaged_checkpoint(run_dir, tmp_path, monkeypatch, capsys, edit, words):
    path = damaged(run_dir, tmp_path, edit)
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "2", "--resume", str(path))
    assert_refused(code, err, path, *words)


def test_a_checkpoint_missing_only_training_state_still_evaluates_but_does_not_resume(run_dir, tmp_path):
    path = damaged(run_dir, tmp_path, drop("optimizer"))
    assert "model" in load_checkpoint(path, EVALUATE)
    with pytest.raises(CnnctlError, match="no `optimizer`"):
        load_checkpoint(path, RESUME)


def test_an_optimizer_state_for_other_weights_is_refused_on_resume(run_dir, tmp_path, monkeypatch, capsys):
    def reshape_moment(state):  # Adam keeps exp_avg shaped like its parameter: conv1.weight is 6x1x5x5
        state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(2, 2)

    path = damaged(run_dir, tmp_path, reshape_moment)
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "2", "--resume", str(path))
    assert_refused(code, err, path, "optimizer state does not fit its weights", "`exp_avg`", "2x2", "6x1x5x5")


def test_damage_is_reported_without_a_traceback_in_a_real_process(run_dir, tmp_path):
    path = damaged(run_dir, tmp_path, drop("model"))
    result = cli("evaluate", "lenet5", "--checkpoint", str(path), "--device", "cpu")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {path}: the checkpoint is damaged: it has no `model`"), result.stderr


def test_the_input_size_hint_fits_the_command(run_dir, monkeypatch, capsys):
    """evaluate and predict, as train --resume, take --input: the hint offers the run's, and the
    run alone. Another network altogether is told as such, with the network to give."""
    small = run_dir.parent / "lenet5_16.yaml"  # the same network (its name too) at another input
    small.write_text((run_dir / "network.yaml").read_text().replace("input: 32x32x1", "input: 16x16x1"))
    for command in (["evaluate", str(small)], ["predict", str(small), "none.png"]):
        code, _, err = run_main(monkeypatch, capsys, *command, "--checkpoint", str(run_dir), "--device", "cpu")
        assert code == 2 and "trained at input 32x32x1" in err, err
        assert "give --input 32x32x1, or give the run alone: " in err and f"`cnnctl {command[0]} {run_dir}`" in err
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "alexnet", "--checkpoint", str(run_dir), "--device", "cpu")
    assert code == 2 and "the checkpoint is `lenet5`'s (input 32x32x1), not `alexnet`'s (input 227x227x3)" in err
    assert f"hint: give `lenet5` as ARCH, or the run alone: `cnnctl evaluate {run_dir}`" in err
    code, _, err = run_main(monkeypatch, capsys, "train", "alexnet", "--resume", str(run_dir))
    assert f"hint: leave ARCH out: `cnnctl train --resume {run_dir}` resumes the run's own network" in err
    # lenet5 also builds at 16x16x1 (16-5+1 = 12, 6, 2, 1): the same layers at another input
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--input", "16x16x1", "--resume", str(run_dir))
    assert code == 2 and "trained at input 32x32x1" in err and "give --input 32x32x1" in err, err


def test_a_checkpoint_of_shared_references_is_refused_without_walking_them(run_dir, tmp_path, monkeypatch, capsys):
    # Pickle stores an object once: a 6 MB file held 2,000,000 references to one record of
    # 1,000,000 inputs, and checking each element of each hung evaluate for ever.
    record = ["conv1", "conv f=3 n=4 act=relu", [0] * 1_000_000]
    path = damaged(run_dir, tmp_path, lambda s: s["network"].__setitem__("layers", [record] * 2_000_000))
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "lenet5", "--checkpoint", str(path), "--device", "cpu")
    assert_refused(code, err, path, "its `network` is not an input and a list of layers (250,000 at most)")


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("history", [{}] * 100_001, "`history` is not a list of epochs (100,000 at most)"),
        ("classes", ["a"] * 1_000_001, "`classes` is not a list of names (1,000,000 at most)"),
        ("mean", [0.5] * 4097, "`mean` is not a list of numbers (4,096 at most)"),
    ],
    ids=["history", "classes", "mean"],
)
def test_lists_past_their_bound_are_refused(run_dir, tmp_path, monkeypatch, capsys, key, value, words):
    path = damaged(run_dir, tmp_path, put(key, value))
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "2", "--resume", str(path))
    assert_refused(code, err, path, words)


def test_a_record_shared_within_the_bounds_is_checked_once(run_dir, tmp_path):
    # Within every length bound, 250,000 references to one record of 250,000 inputs are
    # 6 * 10^10 checks done one per reference: each object is checked once, so this finishes.
    def share(state):
        record = ["conv1", "conv f=3 n=4 act=relu", [0] * 250_000]
        state["network"]["layers"] = [record] * 250_000
        groups = state["optimizer"]["param_groups"]
        groups[:] = [{**groups[0], "params": [0] * 250_000}] * 250_000

    path = damaged(run_dir, tmp_path, share)
    state = load_checkpoint(path, RESUME)
    assert len(state["network"]["layers"]) == 250_000


def test_the_hint_for_a_damaged_checkpoint_names_only_a_checkpoint_there_is(run_dir, tmp_path, monkeypatch, capsys):
    # The hint said "use the run's other checkpoint (last.pt or best.pt)" for a file of its own
    # and for a run without another: it names the run's other checkpoint only where there is one.
    alone = damaged(run_dir, tmp_path, drop("model"))  # last.pt alone in its folder
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "lenet5", "--checkpoint", str(alone), "--device", "cpu")
    assert_refused(code, err, alone)
    assert err.rstrip().endswith("hint: train again") and "other checkpoint" not in err
    (alone.parent / "best.pt").write_bytes((run_dir / "best.pt").read_bytes())  # a whole best.pt beside it
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--epochs", "2", "--resume", str(alone))
    # best.pt holds no optimizer state (only last.pt does): a new run from its weights, not a resume
    best = alone.parent / "best.pt"
    assert_refused(code, err, alone, f"start a new run from the weights of its best epoch: --weights {best}")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (put("network", {"input": "32x32x1"}), "its `network` is not an input and a list of layers (250,000 at most)"),
        (drop("network"), "it has no `network` (record of its layers)"),
    ],
    ids=["broken", "missing"],
)
def test_runs_flags_a_checkpoint_whose_network_record_every_command_refuses(run_dir, tmp_path, monkeypatch, capsys,
                                                                            edit, words):  # fmt: skip
    # `runs` listed it as finished with no word, while evaluate, predict, export and --resume refused it.
    import json
    import shutil

    run = tmp_path / "runs" / "a"
    shutil.copytree(run_dir, run)
    state = torch.load(run / "best.pt", weights_only=True)
    edit(state)
    torch.save(state, run / "best.pt")
    code, out, _ = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"), "--format", "json")
    problems = json.loads(out)["runs"][0]["problems"]
    assert code == 0 and [p["file"] for p in problems] == [str(run / "best.pt")], problems
    assert problems[0]["message"] == f"best.pt is damaged: {words}: every command that loads it refuses it"
    assert problems[0]["hint"] == "use the run's last.pt, or train again"
    code, _, err = run_main(monkeypatch, capsys, "evaluate", str(run), "--device", "cpu")  # the same words
    assert_refused(code, err, run / "best.pt", words)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (put("network", {"input": "32x32x1"}), "`network` is not"),
        (drop("network"), "no `network`"),
        (put("config", {}), "no `data`"),
        (put("mean", ["x"]), "`mean` is not a list of numbers"),
    ],
    ids=["net", "no-net", "empty-config", "mean-text"],
)
def test_weights_refuses_a_damaged_checkpoint_as_evaluate_does(run_dir, tmp_path, monkeypatch, capsys, edit, words):
    # `cnnctl weights lenet5 CHECKPOINT` placed its `model` unchecked: one check for both now.
    path = damaged(run_dir, tmp_path, edit)
    evaluate = ["evaluate", "lenet5", "--weights", str(path), "--device", "cpu"]
    for command in (["weights", "lenet5", str(path)], evaluate):
        code, _, err = run_main(monkeypatch, capsys, *command)
        assert_refused(code, err, path, words)
