"""Training: a run folder with metrics and checkpoints, exact resume, clear failures."""

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.data import DataSplits, Split, make_shapes  # noqa: E402
from cnnctl.errors import INTERRUPTED  # noqa: E402
from cnnctl.train.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from cnnctl.train.config import TrainConfig, resolve_config  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from tests.helpers import MNIST_DIR, NO_MNIST  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL_NET = """\
input: 16x16x1
layers:
  - conv f=3 p=same n=8 act=relu
  - pool max f=2
  - dropout 0.3
  - fc 10 act=softmax
"""


def small_data(n_train=384, n_val=128, seed=0):
    x, y = make_shapes(n_train + n_val, 16, 16, 1, seed)
    split = (Split(x[:n_train], y[:n_train]), Split(x[n_train:], y[n_train:]))
    return DataSplits("shapes", *split, [str(i) for i in range(10)], (0.2,), (0.3,), [])


def run(tmp_path, name="run", resume=None, **settings):
    settings = {"epochs": 2, "batch_size": 32, "seed": 3, "device": "cpu", **settings}
    config = TrainConfig(out=str(tmp_path / name), **settings)
    graph = cnnctl.load_text(SMALL_NET)
    return train(graph, config, network_title="small", resume=resume, dataset=small_data())


def weights(run_dir):
    return load_checkpoint(run_dir)["model"]


def test_a_run_folder_holds_the_architecture_config_metrics_and_checkpoints(tmp_path):
    result = run(tmp_path)
    assert result.status == 0 and result.epochs_done == 2
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"architecture.json", "config.json", "metrics.jsonl", "last.pt", "best.pt"} <= names
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    architecture = json.loads((result.run_dir / "architecture.json").read_text())
    assert architecture["totals"]["params"] == (3 * 3 * 1 * 8 + 8) + (8 * 8 * 8 * 10 + 10)  # conv + fc on 8x8x8
    assert not list(result.run_dir.glob("*.tmp"))  # atomic writes leave no temporary files


def test_interrupted_then_resumed_run_ends_with_the_same_weights(tmp_path):
    straight = run(tmp_path, "straight")
    steps_per_epoch = 384 // 32
    for stop in (5, steps_per_epoch, steps_per_epoch + 7):  # mid-epoch, at the epoch's end, in epoch 2
        graph = cnnctl.load_text(SMALL_NET)
        config = TrainConfig(epochs=2, batch_size=32, seed=3, device="cpu", out=str(tmp_path / f"broken{stop}"))
        broken = train(graph, config, network_title="small", dataset=small_data(), stop_after_steps=stop)
        assert broken.status == INTERRUPTED
        resumed = train(graph, config, network_title="small", dataset=small_data(), resume=str(broken.run_dir))
        assert resumed.status == 0
        a, b = weights(straight.run_dir), weights(resumed.run_dir)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (stop, key)


def test_training_learns_the_shapes_well_above_chance(tmp_path):
    config = TrainConfig(epochs=3, batch_size=32, seed=0, device="cpu", out=str(tmp_path / "learn"))
    x, y = make_shapes(2400, 32, 32, 1, 0)
    data = DataSplits(
        "shapes", Split(x[:2000], y[:2000]), Split(x[2000:], y[2000:]), list("0123456789"), (0.2,), (0.3,), []
    )
    result = train(cnnctl.load("lenet5"), config, network_title="lenet5", dataset=data)
    assert result.best_val_accuracy > 0.3  # chance is 0.1


@pytest.mark.parametrize(
    ("scheduler", "factors"),
    [("step", [1, 0.1, 0.01]), ("cosine", [1, (1 + math.cos(math.pi / 3)) / 2, (1 + math.cos(2 * math.pi / 3)) / 2])],
)
def test_each_epochs_row_shows_the_rate_it_trained_at(tmp_path, scheduler, factors):
    # step: divided by 10 every epoch (a third of 3); cosine: lr0 (1 + cos(pi e / 3)) / 2 in epoch e = 0, 1, 2.
    result = run(tmp_path, epochs=3, lr=0.01, scheduler=scheduler)
    assert [row["lr"] for row in result.history] == pytest.approx([0.01 * f for f in factors])


def test_more_outputs_than_classes_trains_with_a_warning():
    from cnnctl.train.data_checks import unused_outputs

    ten = [str(i) for i in range(10)]
    graph = cnnctl.load_text("input: 8x8x1\nlayers: [fc 20]")
    assert unused_outputs(graph, ten) == (
        "warning: the network has 20 outputs for 10 classes: outputs 10 to 19 are never a target "
        "(make the last layer `fc 10` to fit this data)"
    )
    assert unused_outputs(cnnctl.load_text("input: 8x8x1\nlayers: [fc 10]"), ten) is None


def test_a_second_ctrl_c_waits_for_the_checkpoint_being_written():
    from cnnctl.train.stop_flag import StopRequest

    stop = StopRequest()
    stop._handle(signal.SIGINT, None)  # the first: finish the step, save, stop
    assert stop.set
    written = []
    with pytest.raises(KeyboardInterrupt), stop.saving():
        stop._handle(signal.SIGINT, None)  # the second, mid-write: held back...
        written.append("last.pt")  # ...so the write completes
    assert written == ["last.pt"]
    with pytest.raises(KeyboardInterrupt):  # outside a write it stops at once
        stop._handle(signal.SIGINT, None)


def test_best_pt_holds_the_weights_without_the_optimizer_state_that_only_a_resume_reads(tmp_path, monkeypatch, capsys):
    # best.pt was last.pt's size (Adam's two moments: 3x the weights), rewritten at each better
    # epoch; a run resumes from last.pt, so best.pt holds the weights and the run's record alone.
    from cnnctl.train.checkpoint import OPTIMIZATION
    from tests.helpers import run_main

    result = run(tmp_path, optimizer="adam")
    best = torch.load(result.run_dir / "best.pt", weights_only=True)
    last = torch.load(result.run_dir / "last.pt", weights_only=True)
    assert set(OPTIMIZATION) == {"optimizer", "scheduler", "scaler"}
    assert not set(best) & set(OPTIMIZATION) and "optimizer" in last
    assert set(best) == set(last) - set(OPTIMIZATION)
    moments = sum(t.numel() for s in last["optimizer"]["state"].values() for t in s.values() if t.dim())
    assert moments == 2 * sum(t.numel() for t in last["model"].values() if t.is_floating_point())  # Adam's two
    assert os.path.getsize(result.run_dir / "best.pt") < os.path.getsize(result.run_dir / "last.pt") / 2
    # every reader of a run's weights reads it: evaluate's (predict's, export's) and --weights RUN's
    from cnnctl.train.checkpoint import EVALUATE, run_weights

    assert load_checkpoint(result.run_dir / "best.pt", EVALUATE)["epoch"] == best["epoch"]
    assert all(torch.equal(run_weights(result.run_dir)[k], best["model"][k]) for k in best["model"])
    # --resume best.pt: told what it holds and where a run goes on from, not "damaged"
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--resume", str(result.run_dir / "best.pt"))
    assert code == 2 and err.count("error:") == 1 and "damaged" not in err, err
    assert "best.pt holds the weights of the run's best epoch without the optimizer's state" in err
    assert f"--resume {result.run_dir}" in err and f"--weights {result.run_dir / 'best.pt'}" in err


def test_a_run_written_before_data_folders_were_absolute_still_resumes(tmp_path, monkeypatch):
    from cnnctl.train.resume_config import resumed_config

    result = run(tmp_path)
    state = torch.load(result.run_dir / "last.pt", weights_only=True)
    state["config"]["data"] = "imgs"  # as older checkpoints kept a folder: as written
    torch.save(state, result.run_dir / "last.pt")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    config = resumed_config(str(result.run_dir), {"data": "imgs", "epochs": 3})
    assert config.data == str((tmp_path / "imgs").resolve()) and config.epochs == 3


def test_a_diverging_loss_stops_with_a_hint(tmp_path):
    with pytest.raises(CnnctlError) as info:
        run(tmp_path, optimizer="sgd", lr=1e9)
    assert "training diverged" in str(info.value) and "--lr" in str(info.value)


def test_truncated_and_foreign_checkpoints_are_refused(tmp_path):
    result = run(tmp_path)
    data = (result.run_dir / "last.pt").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CnnctlError, match="not a readable cnnctl checkpoint"):
        load_checkpoint(cut)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CnnctlError, match="not a cnnctl checkpoint"):
        load_checkpoint(foreign)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "x", "payload": Path("/")}, evil)  # an arbitrary object: weights_only refuses it
    with pytest.raises(CnnctlError):
        load_checkpoint(evil)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    save_checkpoint(target, {"epoch": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(target, {"epoch": 2})
    assert torch.load(target, weights_only=True)["epoch"] == 1  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_settings_come_from_the_file_then_the_command_line():
    graph = cnnctl.load_text("input: 8x8x1\ntrain: {epochs: 3, batch-size: 16, optimizer: sgd}\nlayers: [fc 2]")
    config = resolve_config(graph.train, {"epochs": 5, "lr": None})
    assert (config.epochs, config.batch_size, config.optimizer, config.learning_rate) == (5, 16, "sgd", 0.05)
    bad = cnnctl.load_text("input: 8x8x1\ntrain:\n  epochs: ten\nlayers: [fc 2]", "net.yaml")
    with pytest.raises(CnnctlError) as info:
        resolve_config(bad.train, {})
    assert info.value.problems[0].loc.line == 3
    typo = cnnctl.load_text("input: 8x8x1\ntrain: {epoch: 3}\nlayers: [fc 2]")
    with pytest.raises(CnnctlError, match="did you mean `epochs`"):
        resolve_config(typo.train, {})


def cli(*args, timeout=120, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "cnnctl", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error():
    result = cli("train", "lenet5", "--device", "cuda", "--epochs", "1")
    assert result.returncode == 2
    assert "no CUDA GPU is available" in result.stderr and "available: cpu" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("code", "done", "planned", "word"),
    [(0, 3, 3, "finished"), (0, 2, 5, "stopped early"), (INTERRUPTED, 1, 3, "stopped")],
)
def test_train_json_gives_the_exit_code_and_runs_word_for_how_it_ended(tmp_path, code, done, planned, word):
    from cnnctl.render.runs import train_json
    from cnnctl.train.result import RunResult

    out = train_json(RunResult(tmp_path, code, done, 0.5, epochs_planned=planned))
    assert (out["exit_code"], out["status"], out["epochs_done"], out["epochs_planned"]) == (code, word, done, planned)


def test_a_run_names_its_network_and_says_and_records_what_it_used(tmp_path):
    # the header named no network; the normalisation was never said and config.json held "mean": null and
    # "device": "auto"; train's JSON had no network, data, device or warnings; a caveat was a plain `data:` line
    from rich.console import Console

    from cnnctl.render.runs import train_json

    data = small_data()
    # as data.idx.combine leaves MNIST's t10k files alone: trained on
    data.train_from, data.no_test = "the t10k files", "only the t10k files are in x, and they were trained on"
    caveat = "only the t10k files are in x, and they were trained on: no unseen images are left to test on; add the " \
             "training files beside them"  # fmt: skip
    data.stats_from = "computed over the 384 training images"
    console = Console(file=io.StringIO(), width=300)
    config = TrainConfig(out=str(tmp_path / "r"), epochs=1, batch_size=32, device="auto")
    graph = cnnctl.load_text(SMALL_NET)
    result = train(graph, config, network_title="small", dataset=data, console=console)
    said = console.file.getvalue().splitlines()
    # SMALL_NET: conv 3x3x1x8 + 8 = 80 params, fc 8*8*8 x 10 + 10 = 5,130 (16x16 pooled to 8x8)
    params = 3 * 3 * 1 * 8 + 8 + 8 * 8 * 8 * 10 + 10
    assert (
        said[0].startswith(f"training on cpu | small ({len(graph.nodes)} layers, {params:,} params, ")
        and params == graph.params
    )
    assert f"warning: {caveat}" in said  # not a plain `data:` line
    assert "input normalised with mean 0.2 and std 0.3, computed over the 384 training images" in said
    recorded = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (recorded["device"], recorded["device_asked"], recorded["amp"], recorded["amp_asked"]) == (
        "cpu",
        "auto",
        False,
        None,
    )
    assert (recorded["mean"], recorded["std"], recorded["mean_asked"]) == ([0.2], [0.3], None)
    assert recorded["normalisation_from"] == "computed over the 384 training images"
    assert load_checkpoint(result.run_dir)["config"]["device"] == "auto"  # what a resume replays: as asked
    out = train_json(result)
    assert (out["network"], out["data"], out["device"], out["mean"], out["std"]) == (
        "small",
        "shapes",
        "cpu",
        [0.2],
        [0.3],
    )
    assert out["normalisation_from"] == "computed over the 384 training images"
    (warning,) = out["warnings"]
    assert (warning["severity"], warning["message"]) == (
        "warning",
        caveat,
    )


def test_train_evaluate_from_the_command_line(tmp_path):
    out = tmp_path / "cli"
    result = cli("train", "lenet5", "--epochs", "1", "--out", str(out), "--seed", "1", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "val acc" in result.stderr and (out / "best.pt").is_file()  # progress on stderr, the result on stdout
    trained = json.loads(result.stdout)
    assert trained["exit_code"] == 0 and trained["run_dir"] == str(out) and len(trained["history"]) == 1
    # how it ended in the word `runs` and status.json use, the exit code apart
    assert trained["status"] == json.loads((out / "status.json").read_text())["status"] == "finished"
    assert (trained["epochs_done"], trained["epochs_planned"]) == (1, 1)
    result = cli("evaluate", "lenet5", "--checkpoint", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["confusion"]) == 10 and sum(map(sum, report["confusion"])) == report["examples"]
    exact = [row[i] / sum(row) if sum(row) else None for i, row in enumerate(report["confusion"])]
    assert report["per_class_accuracy"] == exact  # from the integer counts, not float32
    best = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["val_accuracy"]
    assert report["accuracy"] == pytest.approx(best)  # the same split and weights as the run's last epoch
    wrong = cli("evaluate", "alexnet", "--checkpoint", str(out))
    assert wrong.returncode == 2 and "the checkpoint is `lenet5`'s (input 32x32x1), not `alexnet`'s" in wrong.stderr
    assert "hint: give `lenet5` as ARCH" in wrong.stderr  # another network, not another size: no --input hint


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_saves_a_checkpoint_and_exits_128_plus_its_number(tmp_path, sig):
    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnctl", "train", "lenet5", "--epochs", "50", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # inside the first epochs
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr  # 130 after Ctrl-C, the shell's convention; 143 after SIGTERM
    assert "resume with" in stdout and (out / "last.pt").is_file()
    assert "Traceback" not in stderr
    state = load_checkpoint(out)
    assert state["epoch"] < 50


MNIST = MNIST_DIR


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").is_file(), reason=NO_MNIST)
def test_lenet5_reaches_97_percent_on_real_mnist(tmp_path):
    # The real MNIST test set (10,000 images), seeded 8,000 / 2,000 split, LeNet-5 as in the course.
    config = TrainConfig(
        data="mnist", data_dir=str(MNIST.parent), val_split=0.2, epochs=10, batch_size=32, seed=0, device="cpu",
        out=str(tmp_path / "mnist"),
    )  # fmt: skip
    result = train(cnnctl.load("lenet5"), config, network_title="lenet5")
    assert result.best_val_accuracy >= 0.97
    assert os.path.getsize(result.run_dir / "best.pt") > 0


def test_predict_gives_top_k_probabilities_for_image_files(tmp_path):
    image = pytest.importorskip("PIL.Image")
    result = run(tmp_path)
    x, y = make_shapes(2, 16, 16, 1, seed=7)
    paths = []
    for i in range(2):
        path = tmp_path / f"img{i}.png"
        image.frombytes("L", (16, 16), bytes(x[i, 0].flatten().tolist())).save(path)
        paths.append(str(path))
    net = tmp_path / "small.yaml"
    net.write_text(SMALL_NET)
    out = cli("predict", str(net), *paths, "--checkpoint", str(result.run_dir), "-k", "3", "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["predictions"]
    assert [r["image"] for r in report] == paths
    for r in report:
        probs = [t["probability"] for t in r["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    missing = cli("predict", str(net), str(tmp_path / "nope.png"), "--checkpoint", str(result.run_dir))
    assert missing.returncode == 2 and "cannot read the image" in missing.stderr


def test_a_last_partial_batch_is_left_out_so_batch_norm_never_sees_one_image(tmp_path):
    graph = cnnctl.load_text("input: 16x16x1\nlayers: [fc 16, bn act=relu, fc 10]")
    x, y = make_shapes(385 + 64, 16, 16, 1, 0)  # 385 = 12 * 32 + 1
    data = DataSplits(
        "shapes", Split(x[:385], y[:385]), Split(x[385:], y[385:]), list("0123456789"), (0.2,), (0.3,), []
    )
    config = TrainConfig(epochs=1, batch_size=32, device="cpu", out=str(tmp_path / "bn"))
    assert train(graph, config, network_title="bn", dataset=data).status == 0
    with pytest.raises(CnnctlError, match="at least 2 images per batch"):
        train(
            graph,
            TrainConfig(epochs=1, batch_size=1, device="cpu", out=str(tmp_path / "bn1")),
            network_title="bn",
            dataset=data,
        )


def test_resume_refuses_settings_that_would_not_replay(tmp_path):
    from cnnctl.train.resume_config import resumed_config

    result = run(tmp_path)
    assert resumed_config(str(result.run_dir), {"epochs": 4, "lr": None}).epochs == 4
    for name, value in (("lr", 0.5), ("batch_size", 128), ("seed", 9), ("optimizer", "sgd")):
        with pytest.raises(CnnctlError, match="cannot change when a run is resumed"):
            resumed_config(str(result.run_dir), {name: value})
    with pytest.raises(CnnctlError, match="already holds a run"):
        run(tmp_path)  # the same --out again


def test_compile_trains_and_saves_plain_weights(tmp_path):
    result = run(tmp_path, compile=True)
    assert result.status == 0
    saved = weights(result.run_dir)
    assert not any(k.startswith("_orig_mod") for k in saved)  # the module's keys, not the compiler's wrapper
    model = cnnctl.to_torch(cnnctl.load_text(SMALL_NET), logits=True)
    model.load_state_dict(saved)


def test_steps_in_an_epoch_leave_out_a_partial_last_step():
    from cnnctl.train.batches import steps_in_epoch

    assert steps_in_epoch(100, 0, 32, 1) == 3  # 32+32+32; the last 4 wait for another epoch
    assert steps_in_epoch(96, 0, 32, 1) == 3
    assert steps_in_epoch(100, 0, 16, 2) == 3  # 3 x 32 images, 16 on each worker
    assert steps_in_epoch(100, 64, 16, 2) == 1  # resumed after 64 images
    assert steps_in_epoch(100, 0, 64, 1) == 1 and steps_in_epoch(100, 0, 101, 1) == 0


def test_a_batch_larger_than_the_data_is_refused_with_the_largest_that_fits(tmp_path):
    config = TrainConfig(epochs=1, batch_size=1000, device="cpu", out=str(tmp_path / "big"))
    with pytest.raises(CnnctlError) as info:
        train(cnnctl.load_text(SMALL_NET), config, network_title="small", dataset=small_data())
    assert "--batch-size 1000 is more than the 384 training images" in str(info.value)
    assert "use --batch-size 384 or less" in str(info.value)


def test_a_run_stopped_before_its_first_checkpoint_says_so(tmp_path):
    folder = tmp_path / "early"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(CnnctlError, match="stopped before its first checkpoint") as info:
        load_checkpoint(folder)
    assert f"--out {folder}" in str(info.value)


def test_a_text_file_is_not_called_a_file_that_runs_code(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n')
    with pytest.raises(CnnctlError) as info:
        load_checkpoint(path)
    assert "not a readable cnnctl checkpoint" in str(info.value) and "run code" not in str(info.value)


class RunsCode:
    """What a malicious checkpoint holds: unpickling it calls os.system."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_checkpoint_that_asks_to_run_code_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "last.pt"
    torch.save({"format": "cnnctl-checkpoint-1", "model": RunsCode(f"echo pwned > {marker}")}, evil)
    with pytest.raises(CnnctlError) as info:
        load_checkpoint(evil)
    (problem,) = info.value.problems
    assert problem.loc.file == str(evil)
    assert "asks to run code" in problem.message and "was not loaded" in problem.message
    assert f"`{os.system.__module__}.system`" in problem.message  # posix.system: the function it names
    assert "cut short" not in problem.hint
    assert not marker.exists()
    other = tmp_path / "other.pt"  # torch's other wording, for a global outside the blocked modules
    torch.save({"format": "x", "payload": Path("/")}, other)
    with pytest.raises(CnnctlError, match=f"asks to run code .*`pathlib.{type(Path('/')).__name__}`"):
        load_checkpoint(other)


def test_a_checkpoint_knows_its_network_even_where_the_weights_would_fit(tmp_path):
    from cnnctl.train.checkpoint import load_weights

    result = run(tmp_path)
    state = load_checkpoint(result.run_dir)
    other = cnnctl.load_text(SMALL_NET.replace("pool max f=2", "pool avg f=2"))  # no weights change
    with pytest.raises(CnnctlError) as info:
        load_weights(cnnctl.to_torch(other, logits=True), state, result.run_dir, "other")
    message = str(info.value)
    assert "trained on another network" in message and "`pool avg f=2" in message and "`pool max f=2" in message
    same = cnnctl.to_torch(cnnctl.load_text(SMALL_NET), logits=True)
    load_weights(same, state, result.run_dir, "small")  # the network it was trained on: no complaint


def test_a_network_too_large_for_the_machine_is_refused_before_building_it(tmp_path):
    # 8x8 upsampled by 8000 is 64,000x64,000; an fc of 200 after it holds 819,200,000,200
    # weights: 4 x 4 bytes each with Adam (weight, gradient, two moments) = 11.92 TiB. It used
    # to die allocating them with "out of memory, lower --batch-size".
    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n  - upsample 8000\n  - fc 200\n")
    config = TrainConfig(out=str(tmp_path / "big"), epochs=1, device="cpu")
    with pytest.raises(CnnctlError) as info:
        train(graph, config, network_title="big", dataset=small_data())
    message = str(info.value)
    assert "the network's 819,200,000,200 parameters need 11.92 TiB as float32" in message
    assert "`fc1` alone holds 819,200,000,200 parameters" in message
    assert not (tmp_path / "big").exists()


@pytest.mark.parametrize(("momentum", "copies", "state"), [(0.0, 2, ""), (0.9, 3, ", the momentum")])
def test_the_refusal_counts_sgds_state_as_the_memory_analysis_does(tmp_path, momentum, copies, state):
    # plain SGD keeps nothing per weight, SGD with momentum one buffer (analysis.training.OPTIMIZERS)
    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n  - upsample 8000\n  - fc 200\n")
    config = TrainConfig(out=str(tmp_path / "big"), epochs=1, device="cpu", optimizer="sgd", momentum=momentum)
    with pytest.raises(CnnctlError) as info:
        train(graph, config, network_title="big", dataset=small_data())
    tib = 4 * copies * 819_200_000_200 / 2**40
    assert f"parameters need {tib:.2f} TiB as float32 (weights, gradients{state})" in str(info.value)


# Inception v3 is not among them: its auxiliary head (`outputs:`) pools Mixed_6e's 17x17 to 5x5
# and needs the whole 299x299 input, as torchvision's with aux_logits; a network training with
# heads is tests/test_outputs.py's, and its layers' module tests/test_backend.py's.
MODERN = ["mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "resnext50_32x4d",
          "shufflenet_v2_x1_0", "densenet121"]  # fmt: skip


def modern_run(tmp_path, name: str, stop: int | None = None, resume: str | None = None, folder: str = "run"):
    """A short run of a bundled modern network, at a small input, on 32 training images."""
    size = 32
    x, y = make_shapes(48, size, size, 3, seed=2)
    data = DataSplits("shapes", Split(x[:32], y[:32]), Split(x[32:], y[32:]), [str(i) for i in range(10)],
                   (0.2,) * 3, (0.3,) * 3, [])  # fmt: skip
    config = TrainConfig(epochs=2, batch_size=8, seed=5, device="cpu", out=str(tmp_path / folder))
    graph = cnnctl.load(name, input=f"{size}x{size}x3")
    return train(graph, config, network_title=name, dataset=data, stop_after_steps=stop, resume=resume)


@pytest.mark.parametrize("name", MODERN)
def test_the_modern_networks_train(tmp_path, name):
    result = modern_run(tmp_path, name)
    assert result.status == 0 and result.epochs_done == 2
    assert all(math.isfinite(row["train_loss"]) for row in result.history)


def test_a_run_of_a_family_member_records_the_member(tmp_path):
    # mobilenet_v3_small is the family file mobilenet_v3.yaml's member `small`: the run keeps the
    # file as written and the member (config.json), and what reads the run (evaluate, predict,
    # --resume: cnnctl.load of the run) builds that member, not the file's default.
    from cnnctl.catalog import bundled

    result = modern_run(tmp_path, "mobilenet_v3_small")
    assert result.status == 0
    assert json.loads((result.run_dir / "config.json").read_text())["member"] == "small"
    assert (result.run_dir / "network.yaml").read_text() == Path(bundled()["mobilenet_v3"]).read_text()
    # Its head (1,000 outputs as written) was made for the data's 10 classes; the run records it too.
    head = json.loads((result.run_dir / "config.json").read_text())["head"]
    assert head["classes"] == 10
    again, member = cnnctl.load(result.run_dir), cnnctl.load("mobilenet_v3_small", "32x32x3", {head["layer"]: 10})
    assert (again.name, again.input_shape, again.params) == ("mobilenet_v3_small", (32, 32, 3), member.params)


def test_stochastic_depth_trains_and_resumes_exactly(tmp_path):
    # EfficientNet-B0 drops residual paths at random in training: a run stopped mid-epoch and
    # resumed must draw the same drops, and end with the weights of one that ran straight through.
    straight = modern_run(tmp_path, "efficientnet_b0", folder="straight")
    broken = modern_run(tmp_path, "efficientnet_b0", stop=3, folder="broken")
    assert broken.status == INTERRUPTED
    resumed = modern_run(tmp_path, "efficientnet_b0", resume=str(broken.run_dir), folder="broken")
    assert resumed.status == 0
    a, b = weights(straight.run_dir), weights(resumed.run_dir)
    assert all(torch.equal(a[key], b[key]) for key in a)
    # The drops happen in training: two passes over the same batch differ.
    model = cnnctl.to_torch(cnnctl.load(straight.run_dir))  # the run's network: its head made for the 10 classes
    model.load_state_dict(a)
    x = torch.randn(8, 3, 32, 32)
    model.train()
    torch.manual_seed(0)
    first = model(x)
    torch.manual_seed(1)
    assert not torch.allclose(first, model(x))  # the same batch and statistics: only the drops differ


def test_evaluate_a_run_uses_its_best_weights_and_says_which(tmp_path):
    out = tmp_path / "run"
    assert cli("train", "lenet5", "--epochs", "1", "--out", str(out), "--seed", "1").returncode == 0
    # best.pt made different from last.pt: the last layer's weights zeroed, so every class ties
    state = torch.load(out / "last.pt", weights_only=True)
    state["model"] = {k: torch.zeros_like(v) if k.startswith("fc3.") else v for k, v in state["model"].items()}
    torch.save(state, out / "best.pt")
    by_run = json.loads(cli("evaluate", "lenet5", "--checkpoint", str(out), "--format", "json").stdout)
    by_last = json.loads(cli("evaluate", "lenet5", "--checkpoint", str(out / "last.pt"), "--format", "json").stdout)
    assert by_run["checkpoint"] == str(out / "best.pt") and by_last["checkpoint"] == str(out / "last.pt")
    assert by_run["accuracy"] != by_last["accuracy"]  # not the same weights
    assert "validation split of shapes" in by_run["data_words"]
    assert (by_run["data"], by_run["split"]) == ("shapes", "val")  # the data by name, the split as fields
    assert by_run["weights"] == by_run["checkpoint"]  # predict's name for the weights used
    table = cli("evaluate", "lenet5", "--checkpoint", str(out)).stdout
    assert f"weights {out / 'best.pt'}" in table


def test_a_run_folder_is_all_evaluate_predict_and_summarize_need(tmp_path):
    out = tmp_path / "run"
    done = cli("train", "lenet5", "--input", "40x40x1", "--epochs", "1", "--out", str(out), "--seed", "2")
    assert done.returncode == 0, done.stderr
    assert (out / "network.yaml").read_text() == (ROOT / "architectures" / "lenet5.yaml").read_text()
    # trained at 40x40x1, not the file's 32x32x1: the run folder says so and is read so
    result = cli("evaluate", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["checkpoint"] == str(out / "best.pt")
    summary = json.loads(cli("summarize", str(out), "--format", "json").stdout)
    assert summary["input"] == "40x40x1"
    exported = cli("export", str(out), "-o", str(tmp_path / "l.ts"))
    assert exported.returncode == 0 and str(out / "best.pt") in exported.stdout
    # a run written before run folders kept their network: told what to give instead
    (out / "network.yaml").unlink()
    old = cli("evaluate", str(out))
    assert old.returncode == 2 and "cnnctl evaluate ARCH --checkpoint RUN" in old.stderr
    missing = cli("evaluate", "lenet5")
    assert missing.returncode == 2 and "--checkpoint" in missing.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_lenet5_trains_on_a_gpu_with_its_step_replayed_as_cuda_graphs(tmp_path, capsys):
    from rich.console import Console

    x, y = make_shapes(2400, 32, 32, 1, 0)
    data = DataSplits(
        "shapes", Split(x[:2000], y[:2000]), Split(x[2000:], y[2000:]), list("0123456789"), (0.2,), (0.3,), []
    )
    results = {}
    for graphs in ("off", "auto"):  # auto: LeNet-5 is launch-bound, so on
        config = TrainConfig(epochs=2, batch_size=32, seed=0, device="cuda", amp=False, compile=True,
                             cuda_graphs=graphs, out=str(tmp_path / graphs))  # fmt: skip
        console = Console(file=io.StringIO(), width=400)
        results[graphs] = train(cnnctl.load("lenet5"), config, network_title="lenet5", dataset=data, console=console)
        said = console.file.getvalue()
        assert ("CUDA graphs (lenet5: " in said and "launch-bound" in said) == (graphs == "auto"), said
    # the same batches, the same weights at the start: the same losses, to float tolerance
    for a, b in zip(results["off"].history, results["auto"].history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
        assert b["val_accuracy"] == pytest.approx(a["val_accuracy"], abs=0.01)
