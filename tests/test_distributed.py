"""Data-parallel training through torchrun's launcher, on CPU workers (gloo).

The runs are real: separate processes, a real rendezvous, real all-reduces. The data is
written here as IDX files, so every run reads the same images in the same order.
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from idxfiles import write_idx  # noqa: E402

from cnnctl.data import make_shapes  # noqa: E402
from cnnctl.train.checkpoint import load_checkpoint  # noqa: E402

TIMEOUT = 240  # seconds: a hung group fails the test instead of the CI job
EPOCHS, STEPS_PER_EPOCH = 2, 10  # 640 images, 64 a step


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("idx")
    x, y = make_shapes(640 + 64, 32, 32, 1, seed=5)
    write_idx(folder, "train", x[:640, 0], y[:640])
    write_idx(folder, "t10k", x[640:, 0], y[640:])
    return folder


def cnnctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnctl", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def train_args(data: Path, out: Path, batch: int, epochs: int = EPOCHS) -> list[str]:
    return ["train", "lenet5", "--data", str(data), "--epochs", str(epochs), "--batch-size", str(batch),
            "--seed", "7", "--device", "cpu", "--out", str(out)]  # fmt: skip


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.allclose(wa[name], wb[name], atol=atol, rtol=0), name


@pytest.fixture(scope="module")
def single(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "single"
    done = cnnctl(*train_args(data, out, 64))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def pair(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "pair"
    done = cnnctl(*train_args(data, out, 32), "--nproc-per-node", "2", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "training on 2 workers (cpu)" in done.stderr and "batch 32 per worker (64 a step)" in done.stderr
    result = json.loads(done.stdout)  # one document: rank 0's
    assert result["exit_code"] == 0 and result["status"] == "finished" and result["epochs_done"] == EPOCHS
    return out


def test_two_workers_of_32_end_with_the_weights_of_one_process_of_64(single, pair):
    # Each step, worker r takes images [64k + 32r, 64k + 32r + 32) of the epoch's order, and
    # DDP averages the two mean gradients: the mean gradient of the 64 images.
    assert_same_weights(single, pair)
    assert load_checkpoint(pair)["workers"] == 2


def test_metrics_are_global_and_written_once_by_rank_0(single, pair):
    rows = [json.loads(line) for line in (pair / "metrics.jsonl").read_text().splitlines()]
    alone = [json.loads(line) for line in (single / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for a, b in zip(rows, alone, strict=True):  # all-reduced: the same numbers as one process
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], abs=1e-9)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=1e-9)
    assert not list(pair.glob(".*tmp"))


def test_plain_torchrun_runs_the_same_training(data, single, tmp_path):
    out = tmp_path / "torchrun"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "cnnctl", *train_args(data, out, 32)],
        capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("training on 2 workers") == 1  # rank 0 alone prints
    assert_same_weights(single, out)


def test_a_worker_that_dies_mid_epoch_is_restarted_from_the_last_checkpoint(data, pair, tmp_path):
    out = tmp_path / "fault"
    die_at = STEPS_PER_EPOCH + 4  # worker 1, epoch 2: after the epoch-1 checkpoint
    done = cnnctl(
        *train_args(data, out, 32), "--nproc-per-node", "2", "--max-restarts", "1",
        env={"CNNCTL_TEST_FAULT": f"1:{die_at}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restart 1 of 1 after a worker failed: continuing from" in done.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]  # epoch 2 once, though it was started twice
    assert not list(out.glob(".*tmp"))  # nothing half-written
    # Epoch 2 replayed from the checkpoint: the same weights as the run that never failed.
    assert_same_weights(pair, out)
    assert "Traceback" not in done.stderr


def test_a_time_based_save_every_saves_every_worker_together_and_resumes_to_the_same_weights(data, pair, tmp_path):
    # --save-every 1s over 2 workers: each worker's clock falls due at its own step (they started
    # apart), the group saves when any is due (a save sums every worker's sums: one worker alone
    # would wait for the others for ever), and every clock counts again from the save.
    out = tmp_path / "timed"
    die_at = STEPS_PER_EPOCH + 8  # worker 1, step 8 of epoch 2: after a save 1 s (4 steps) into it
    done = cnnctl(*train_args(data, out, 32), "--nproc-per-node", "2", "--save-every", "1s",
                  env={"CNNCTL_TEST_FAULT": f"1:{die_at}", "CNNCTL_TEST_SLOW": "0.25"})  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    saved = load_checkpoint(out)
    assert saved["epoch"] == 1 and 1 <= saved["step"] < 8, (saved["epoch"], saved["step"])  # mid-epoch 2
    # both workers' sums: 2 x 32 images a step (one worker's alone would be half)
    assert saved["stats"]["seen"] == 64 * saved["step"] and saved["workers"] == 2
    resumed = cnnctl("train", "--resume", str(out), "--nproc-per-node", "2")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"epoch 2 from step {saved['step'] + 1}" in resumed.stdout + resumed.stderr
    assert_same_weights(pair, out)  # the state saved mid-epoch is the one the uninterrupted run had there


@pytest.mark.parametrize("die_at", [3, STEPS_PER_EPOCH + 4], ids=["before-a-checkpoint", "after-epoch-1"])
def test_without_restarts_a_dying_worker_ends_the_run_with_one_line_and_how_to_go_on(data, tmp_path, die_at):
    # It printed the survivor's "lost contact" line, the launcher's line and a hint, and no --resume.
    out = tmp_path / "r"
    done = cnnctl(*train_args(data, out, 32), "--nproc-per-node", "2", env={"CNNCTL_TEST_FAULT": f"1:{die_at}"})
    assert done.returncode == 1
    go_on = (
        f"resume with: cnnctl train --resume {out} --nproc-per-node 2"
        if die_at > STEPS_PER_EPOCH
        else f"no checkpoint was saved yet: start it again with the same command (--out {out})"
    )
    assert done.stderr == f"error: training stopped: worker 1 exited with code 1\n{go_on}\n"


def test_a_mistake_met_by_the_workers_is_told_once_and_not_retried(data, tmp_path):
    # The largest rate and weight decay the settings allow (issue 19 refuses --lr 1e38, which
    # this test used) multiply the weights by about -9 a step: float32 overflows within 40
    # steps (10 an epoch here), and every worker stops on the user's mistake (exit 2). torchrun
    # would restart the group for it twice over.
    diverging = ["--optimizer", "sgd", "--lr", "10", "--weight-decay", "1", "--momentum", "0.99"]
    args = [*train_args(data, tmp_path / "r", 32, epochs=8), *diverging]
    done = cnnctl(*args, "--nproc-per-node", "2", "--max-restarts", "2")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("training diverged") == 1
    assert "restart" not in done.stdout and "Traceback" not in done.stderr
    assert "terminate called" not in done.stderr  # the workers left without an abort


def test_only_restarted_workers_of_cnnctls_launcher_give_up(tmp_path, monkeypatch):
    from cnnctl import worker

    marker = tmp_path / "user-error"
    monkeypatch.setenv(worker.GIVE_UP, str(marker))
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    worker.give_up()
    assert not marker.exists()  # not a worker: nothing to tell a launcher
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "run")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    worker.give_up()
    assert marker.exists() and not worker.gave_up()  # the first attempt itself goes on
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert worker.gave_up()
    monkeypatch.delenv(worker.GIVE_UP)  # plain torchrun: no launcher to read it
    assert not worker.gave_up()


def test_sigterm_to_the_launcher_ends_with_143_and_says_how_to_resume(data, tmp_path):
    import signal
    import time

    out = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnctl", *train_args(data, out, 32, epochs=1000), "--nproc-per-node", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline:  # one epoch has ended
        time.sleep(0.2)
    # The launcher holds the run folder for its workers: a second run is refused, naming it.
    second = cnnctl("train", "lenet5", "--resume", str(out))
    said = f"{out}: the run folder is in use by process {proc.pid} on host"
    assert second.returncode == 2 and said in second.stderr, second.stderr
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert f"resume with: cnnctl train --resume {out} --nproc-per-node 2" in stderr
    assert load_checkpoint(out)["epoch"] >= 1 and "Traceback" not in stderr


def test_the_workers_are_given_the_mean_and_std_as_the_command_line_takes_them():
    # Once `--mean (0.5,)`: a tuple's Python text, which every worker refused.
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.launch import config_args
    from cnnctl.train.settings import numbers_text

    args = config_args(TrainConfig(mean=(0.5, 0.1), std=(0.25,)), None)
    mean, std = args[args.index("--mean") + 1], args[args.index("--std") + 1]
    assert (mean, std) == ("0.5,0.1", "0.25") and numbers_text(mean) == (0.5, 0.1)


def test_the_resume_line_repeats_the_launch_options():
    from cnnctl.train.launch import LaunchOptions

    assert LaunchOptions(2).command_line() == "--nproc-per-node 2"
    several = LaunchOptions(4, nnodes=2, node_rank=1, rdzv_endpoint="10.0.0.1:29400", max_restarts=1)
    assert several.command_line() == (
        "--nproc-per-node 4 --nnodes 2 --node-rank 1 --rdzv-endpoint 10.0.0.1:29400 --max-restarts 1"
    )


def test_the_worker_that_failed_is_named_not_one_that_only_lost_its_peers():
    from types import SimpleNamespace as Failure

    from cnnctl.errors import LOST_PEERS
    from cnnctl.train.launch import _cause

    # Worker 0 noticed the broken group and exited before the launcher saw worker 1 die.
    failures = {0: Failure(exitcode=LOST_PEERS, timestamp=10), 1: Failure(exitcode=1, timestamp=11)}
    assert _cause(failures)[0] == 1
    # Only consequences (e.g. a peer killed from outside the launcher): the first of them.
    failures = {0: Failure(exitcode=LOST_PEERS, timestamp=12), 1: Failure(exitcode=LOST_PEERS, timestamp=11)}
    assert _cause(failures)[0] == 1
    # Two real failures at the same instant: the lower rank, every time.
    failures = {3: Failure(exitcode=-9, timestamp=5), 2: Failure(exitcode=1, timestamp=5)}
    assert _cause(failures)[0] == 2


def test_more_workers_than_gpus_is_refused_before_anything_starts(data, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has GPUs")
    done = cnnctl(*train_args(data, tmp_path / "r", 32), "--nproc-per-node", "2", "--device", "cuda")
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr


def test_a_port_in_use_is_named(data, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = cnnctl(
            *train_args(data, tmp_path / "r", 32), "--nproc-per-node", "2", "--rdzv-endpoint", f"localhost:{port}"
        )
    assert done.returncode == 2
    assert f"port {port} is in use" in done.stderr and "Traceback" not in done.stderr


def test_an_endpoint_held_by_another_program_is_named_not_waited_on(monkeypatch):
    # A mistyped port that reaches some other server: torchrun's store client would wait for
    # its answer forever, deaf to Ctrl-C and to --rdzv-timeout.
    from cnnctl.errors import CnnctlError
    from cnnctl.train import launch

    monkeypatch.setattr(launch, "STORE_ANSWER_SECONDS", 3)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts connections, never says a word
        port = server.getsockname()[1]
        with pytest.raises(CnnctlError, match="does not answer as a PyTorch rendezvous store"):
            launch.check_store_answers(f"127.0.0.1:{port}", "127.0.0.1", port)
    # A real store answers; nobody listening yet is left to the rendezvous, which waits. (Its
    # answer is given the time a loaded machine may need: 3 s was once too short for the probe.)
    monkeypatch.setattr(launch, "STORE_ANSWER_SECONDS", 60)
    store = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    launch.check_store_answers(f"127.0.0.1:{store.port}", "127.0.0.1", store.port)
    launch.check_store_answers(f"127.0.0.1:{port}", "127.0.0.1", port)


def test_a_rendezvous_that_nobody_joins_times_out_with_the_reason(data, tmp_path):
    with socket.socket() as s:  # a port free now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = cnnctl(
        *train_args(data, tmp_path / "r", 32), "--nnodes", "2", "--node-rank", "0", "--nproc-per-node", "1",
        "--rdzv-endpoint", f"localhost:{port}", "--rdzv-timeout", "3",
    )  # fmt: skip
    assert done.returncode == 2
    assert "timed out after 3 s: not all 2 nodes joined" in done.stderr and "Traceback" not in done.stderr


def test_sync_bn_on_cpu_workers_is_refused_with_the_reason(data, tmp_path):
    done = cnnctl(*train_args(data, tmp_path / "r", 32), "--nproc-per-node", "2", "--sync-bn")
    assert done.returncode == 2
    assert "--sync-bn needs GPU workers" in done.stderr and "Traceback" not in done.stderr


def test_a_run_of_two_workers_resumes_on_one_process_with_the_same_batches(data, single, tmp_path):
    out = tmp_path / "mixed"
    first = cnnctl(*train_args(data, out, 32, epochs=1), "--nproc-per-node", "2")
    assert first.returncode == 0, first.stderr
    rest = cnnctl("train", "lenet5", "--resume", str(out), "--epochs", str(EPOCHS))
    assert rest.returncode == 0, rest.stderr
    assert "resumed in 1 process: batch 64 keeps the run's 64 images a step" in rest.stdout
    assert_same_weights(single, out)


def test_more_workers_than_gpus_names_the_count(monkeypatch):
    from cnnctl import CnnctlError
    from cnnctl.train.launch import LaunchOptions, check_setup

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_setup(LaunchOptions(nproc_per_node=1), "cuda")  # one worker, one GPU: fine
    with pytest.raises(CnnctlError) as info:
        check_setup(LaunchOptions(nproc_per_node=2), "cuda")
    assert "--nproc-per-node 2, but this machine has 1 GPU: each worker needs its own" in str(info.value)
    assert "--nproc-per-node 1 or fewer" in str(info.value)


def test_several_machines_need_a_well_formed_meeting_point():
    from cnnctl import CnnctlError
    from cnnctl.train.launch import LaunchOptions, check_setup

    with pytest.raises(CnnctlError, match="--nnodes 2 needs --rdzv-endpoint HOST:PORT"):
        check_setup(LaunchOptions(nnodes=2), "cpu")
    with pytest.raises(CnnctlError, match="--node-rank 2 with --nnodes 2: machines are numbered 0 to 1"):
        check_setup(LaunchOptions(nnodes=2, node_rank=2, rdzv_endpoint="10.0.0.1:29400"), "cpu")
    for bad in ("10.0.0.1", "10.0.0.1:http", ":29400", "host:70000"):
        with pytest.raises(CnnctlError, match="is not HOST:PORT"):
            check_setup(LaunchOptions(nnodes=2, node_rank=1, rdzv_endpoint=bad), "cpu")


def test_launcher_options_need_workers_and_an_endpoint_that_resolves(data, tmp_path):
    alone = cnnctl(*train_args(data, tmp_path / "r", 32), "--max-restarts", "2")
    assert alone.returncode == 2 and "--max-restarts without --nproc-per-node" in alone.stderr
    scheme = cnnctl(*train_args(data, tmp_path / "r", 32), "--nproc-per-node", "2",
                    "--rdzv-endpoint", "http://localhost:29400")  # fmt: skip
    assert scheme.returncode == 2 and "is not HOST:PORT" in scheme.stderr
    unknown = cnnctl(*train_args(data, tmp_path / "r", 32), "--nproc-per-node", "2",
                     "--rdzv-endpoint", "no-such-host.invalid:29400")  # fmt: skip
    assert unknown.returncode == 2 and "cannot find the host `no-such-host.invalid`" in unknown.stderr
    for done in (alone, scheme, unknown):
        assert "Traceback" not in done.stderr


def test_workers_started_by_torchrun_cannot_launch_workers(monkeypatch):
    from cnnctl import CnnctlError
    from cnnctl.train.launch import LaunchOptions, check_setup

    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    with pytest.raises(CnnctlError, match="would start workers of workers"):
        check_setup(LaunchOptions(nproc_per_node=2), "cpu")


def test_a_worker_that_finishes_leaves_without_the_interpreters_teardown(monkeypatch, capsys):
    # The process group's threads can abort a finishing worker in teardown (SIGABRT), and the
    # launcher would take a finished run for a failed one: workers leave through os._exit.
    from cnnctl import cli, worker

    class Left(Exception):
        pass

    def exit_now(code):
        raise Left(code)

    monkeypatch.setattr(worker.os, "_exit", exit_now)
    monkeypatch.setattr(sys, "argv", ["cnnctl", "--version"])
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "run")
    with pytest.raises(Left) as left:
        cli.main()
    assert left.value.args == (0,) and "cnnctl" in capsys.readouterr().out
    monkeypatch.delenv("TORCHELASTIC_RUN_ID")  # not a worker: the usual SystemExit
    with pytest.raises(SystemExit):
        cli.main()


def test_two_workers_streaming_an_image_folder_train_as_one_process(tmp_path):
    """Each rank's loader processes read its own images of every step (cnnctl.train.stream):
    2 ranks x 16 end where 1 process x 32 ends, and the list of images is made once."""
    from PIL import Image

    x, y = make_shapes(256, 32, 32, 1, seed=5)
    for i in range(len(y)):
        folder = tmp_path / "imgs" / f"class{int(y[i])}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.frombytes("L", (32, 32), bytes(x[i, 0].flatten().tolist())).save(folder / f"{i:04d}.png")
    runs = {}
    for name, batch, extra in (("one", 32, []), ("two", 16, ["--nproc-per-node", "2"])):
        runs[name] = tmp_path / name
        args = train_args(tmp_path / "imgs", runs[name], batch, epochs=1)
        done = cnnctl(*args, "--stream", "--workers", "1", "--augment", "rrc,flip", *extra)
        assert done.returncode == 0, done.stdout + done.stderr
    assert (runs["two"] / "data-index.pt").is_file()
    assert_same_weights(runs["one"], runs["two"])


def test_unreadable_images_are_judged_over_every_workers_share_of_the_data(tmp_path):
    """The 1% rule and the count are the data set's, not a rank's: 3 unreadable of 256 listed (more
    than 2, 1% of 256) stop a run of 2 workers as they stop one process, whichever worker read
    which; once each worker judged its own share (two of them on one, one on the other: allowed).
    --mean and --std given: no sample of the images read for them before training."""
    from PIL import Image

    x, y = make_shapes(256, 32, 32, 1, seed=5)
    for i in range(len(y)):
        folder = tmp_path / "imgs" / f"class{int(y[i])}"
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"{i:04d}.png"
        if i in (10, 100, 200):
            file.write_bytes(b"not a png")
        else:
            Image.frombytes("L", (32, 32), bytes(x[i, 0].flatten().tolist())).save(file)
    args = [*train_args(tmp_path / "imgs", tmp_path / "two", 16, epochs=1), "--stream", "--workers", "0",
            "--val-split", "0", "--mean", "0.5", "--std", "0.25", "--nproc-per-node", "2"]  # fmt: skip
    done = cnnctl(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "3 of the 256 images listed could not be decoded" in said and "Traceback" not in said, said
    assert said.count("could not be decoded") == 1  # told once, by rank 0


def test_skipped_txt_names_the_unreadable_images_every_machine_read(tmp_path):
    """Two machines, here two launchers on this one (--nnodes 2, a worker each), each with a run
    folder of its own, as machines without a shared disk have: rank 0's skipped.txt named only
    the images its own machine could not read. 2 unreadable of 256 (within 1%), read by one
    worker each (rank 1 reads image 10, rank 0 image 200, in this seed's order)."""
    from PIL import Image

    x, y = make_shapes(256, 32, 32, 1, seed=5)
    bad = []
    for i in range(len(y)):
        folder = tmp_path / "imgs" / f"class{int(y[i])}"
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"{i:04d}.png"
        if i in (10, 200):
            file.write_bytes(b"not a png")
            bad.append(str(file))
        else:
            Image.frombytes("L", (32, 32), bytes(x[i, 0].flatten().tolist())).save(file)
    # The rendezvous port: one below the kernel's ephemeral range, where no connection's own end is
    # given (a client retrying localhost:P from an ephemeral P can connect to itself and hold P), free
    # when chosen; taken before the launcher binds it (tests run side by side), chosen again.
    rng = random.Random(os.getpid())
    for attempt in range(3):
        port = _free_port_below_ephemeral(rng)
        machines = []
        for rank in (0, 1):
            endpoint = f"localhost:{port}"
            args = [*train_args(tmp_path / "imgs", tmp_path / f"machine{rank}", 16, epochs=1), "--stream",
                    "--workers", "0", "--val-split", "0", "--mean", "0.5", "--std", "0.25", "--nnodes", "2",
                    "--node-rank", str(rank), "--nproc-per-node", "1", "--rdzv-endpoint", endpoint]  # fmt: skip
            machines.append(subprocess.Popen([sys.executable, "-m", "cnnctl", *args], stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True))  # fmt: skip
        first = machines[0].communicate(timeout=TIMEOUT)
        if attempt < 2 and f"port {port} is in use" in first[1]:
            machines[1].kill()  # it would wait for a rendezvous that will not come
            machines[1].communicate()
            for rank in (0, 1):
                shutil.rmtree(tmp_path / f"machine{rank}", ignore_errors=True)
            continue
        said = [first, machines[1].communicate(timeout=TIMEOUT)]
        break
    for machine, (out, err) in zip(machines, said, strict=True):
        assert machine.returncode == 0, out + err
    lines = (tmp_path / "machine0" / "skipped.txt").read_text().splitlines()
    assert sorted(line.partition(": ")[0] for line in lines) == sorted(bad)  # each once, whichever machine read it
    assert not (tmp_path / "machine1" / "skipped.txt").exists()  # rank 0 writes it


def _free_port_below_ephemeral(rng: random.Random) -> int:
    """A port free now, below the kernel's ephemeral range (where connections take their own end)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        port = rng.randrange(max(1024, low // 2), low)
        with socket.socket() as s:
            try:
                s.bind(("localhost", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port below the ephemeral range")


# Each worker of a 2-process torchrun with its own OMP_NUM_THREADS (as two machines may have): it
# records the threads it trains on at its first step, where the run stops (and saves, as after Ctrl-C).
_OWN_THREADS = """
import os, sys
rank = int(os.environ["RANK"])
os.environ["OMP_NUM_THREADS"] = str(rank + 1)  # read as torch is imported
sys.path.insert(0, sys.argv[2])
import torch
import cnnctl
from test_train import SMALL_NET, small_data
from cnnctl.train.config import TrainConfig
from cnnctl.train.loop import train

out = sys.argv[1]

def record(taken):
    if taken == 1:
        with open(f"{out}.rank{rank}", "w") as f:
            f.write(str(torch.get_num_threads()))
    return True

config = TrainConfig(out=out, epochs=1, batch_size=32, seed=3, device="cpu")
train(cnnctl.load_text(SMALL_NET), config, network_title="small", dataset=small_data(), hooks=[record])
sys.stdout.flush()
os._exit(0)  # as cnnctl's own workers leave (cnnctl.worker): no teardown beside the group's threads
"""


def test_every_worker_trains_on_the_one_thread_count_the_run_records(tmp_path):
    # Each chose its own (rank 0 one thread, rank 1 two) and the run recorded rank 0's alone.
    script = tmp_path / "own_threads.py"
    script.write_text(_OWN_THREADS)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), str(out), str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    used = [int(Path(f"{out}.rank{rank}").read_text()) for rank in (0, 1)]
    assert used == [1, 1]  # rank 0's choice (its OMP_NUM_THREADS), on both
    assert json.loads((out / "config.json").read_text())["threads"] == 1
    assert load_checkpoint(out)["config"]["threads"] == 1 and load_checkpoint(out)["workers"] == 2


def test_a_network_piped_in_is_read_by_every_worker_from_the_run_folder(data, single, tmp_path):
    # `cat lenet5.yaml | cnnctl train - --nproc-per-node 2`: the launcher reads standard input
    # (once; the workers' is empty), writes it as the run's network.yaml, and the workers build
    # the network from there: the same training as the bundled lenet5 in one process. Without
    # `name:`, the run knows it as one process does, `<stdin>` (files.STDIN_NAME), not by the
    # file's stem, `network`.
    from cnnctl.catalog import resolve

    text = Path(resolve("lenet5")[0]).read_text().replace("name: lenet5\n", "")
    assert "name:" not in text
    out = tmp_path / "piped"
    args = ["-" if a == "lenet5" else a for a in train_args(data, out, 32)]
    done = subprocess.run(
        [sys.executable, "-m", "cnnctl", *args, "--nproc-per-node", "2"],
        input=text, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "network.yaml").read_text() == text
    assert_same_weights(single, out)
    assert json.loads((out / "status.json").read_text())["network"] == "<stdin>"
    assert json.loads((out / "architecture.json").read_text())["name"] == "<stdin>"


def test_a_network_piped_in_is_refused_where_the_run_folder_cannot_carry_it(data, single, tmp_path):
    # Resumed, the run folder keeps its network (the pipe's would replace it); on several
    # machines the others' workers cannot read this one's standard input. One message each,
    # before any worker starts.
    from cnnctl.catalog import resolve

    text = Path(resolve("lenet5")[0]).read_text()
    args = ["-" if a == "lenet5" else a for a in train_args(data, tmp_path / "r", 32)]
    several = ["--nproc-per-node", "1", "--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "localhost:29999"]
    resumed = ["train", "-", "--resume", str(single), "--epochs", "3", "--nproc-per-node", "2"]
    for words, said in (
        (several, "`-` (a network piped in) with --nnodes 2: the workers on the other machines cannot read"),
        (resumed, "`-` (a network piped in) with --resume and --nproc-per-node: the run folder keeps its network"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cnnctl", *(args + words if words is several else words)],
            input=text, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert done.returncode == 2 and done.stderr.startswith(f"error: {said}"), done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()
