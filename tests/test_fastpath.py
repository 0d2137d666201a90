"""The speed settings a run chooses, and batch norm made synchronous, checked on the CPU."""

import pytest

torch = pytest.importorskip("torch")

import cnnctl  # noqa: E402
from cnnctl.backend import sync_batch_norm, to_torch  # noqa: E402
from cnnctl.backend.functional import SyncBatchNorm  # noqa: E402
from cnnctl.train.fastpath import decide  # noqa: E402
from cnnctl.train.world import World  # noqa: E402

CPU = torch.device("cpu")


def test_on_the_cpu_amp_and_compile_are_off_unless_asked_and_amp_says_why():
    default = decide(CPU, amp=None, compile=None)
    assert default.amp_dtype is None and not default.compile and not default.cudnn_benchmark
    assert default.notes == ()
    assert default.describe("adam").startswith("fast path: channels_last, fused adam, ")
    assert default.describe("adam").endswith("; off: amp, compile")
    asked = decide(CPU, amp=True, compile=True)
    assert asked.amp_dtype is None and asked.compile  # bf16 is slower on CPUs: refused, with a note
    assert len(asked.notes) == 1 and "--amp: off on the CPU" in asked.notes[0]
    assert "torch.compile" in asked.describe("sgd")
    assert asked.describe("sgd", fused=False).startswith("fast path: channels_last, sgd, torch.compile")


def test_fp16_needs_a_gradient_scaler_and_bf16_does_not():
    from cnnctl.train.fastpath import FastPath

    fp16 = FastPath(torch.device("cuda"), torch.float16, False, True, ())
    bf16 = FastPath(torch.device("cuda"), torch.bfloat16, False, True, ())
    assert fp16.grad_scaler and not bf16.grad_scaler
    assert "fp16 autocast with a gradient scaler" in fp16.describe("adam")
    assert "bf16 autocast" in bf16.describe("adam") and "cudnn.benchmark" in bf16.describe("adam")


NET = """\
input: 8x8x3
layers:
  - conv f=3 p=same n=4
  - bn act=relu
  - conv f=3 p=same n=4 act=relu
  - bn
  - fc 5
"""


def test_sync_batch_norm_swaps_every_batch_norm_and_keeps_weights_and_activation():
    torch.manual_seed(0)
    model = to_torch(cnnctl.load_text(NET))
    with torch.no_grad():  # running statistics and affine weights that are not the defaults
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 2)
    model.eval()
    x = torch.randn(4, 3, 8, 8)
    before = model(x)
    keys = model.state_dict().keys()
    assert sync_batch_norm(model) == 2
    assert sum(isinstance(m, SyncBatchNorm) for m in model.modules()) == 2
    assert sum(isinstance(m, SyncBatchNorm) for m, _ in model.steps) == 2  # the forward pass runs them
    assert model.state_dict().keys() == keys  # checkpoints stay interchangeable
    # Outside a process group, SyncBatchNorm is batch norm: same output, relu included.
    assert torch.allclose(model(x), before, atol=1e-6)


def test_a_single_process_is_a_world_of_one(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TORCHELASTIC_RESTART_COUNT"):
        monkeypatch.delenv(name, raising=False)
    assert World.from_env() == World() and not World().distributed and World().leader
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    world = World.from_env()
    assert (world.rank, world.size, world.local_rank, world.local_size, world.restarts) == (3, 4, 1, 2, 1)
    assert world.distributed and not world.leader
    assert world.device(CPU) == CPU  # CPU workers share the CPU


def test_compiling_keeps_dynamos_note_about_ddps_profiler_marks_out_of_the_output():
    import logging

    from cnnctl.train.fastpath import compiled

    compiled(torch.nn.Linear(2, 2))  # compiles lazily: nothing runs here
    logger = logging.getLogger("torch._dynamo.variables.ctx_manager")
    note = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "Profiler record function %s will be ignored",
                             ("record_function",), None)  # fmt: skip
    other = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "graph break", (), None)
    assert not logger.filter(note) and logger.filter(other)


def test_threads_follow_the_idle_cores_unless_told(monkeypatch):
    """Each operator waits at a barrier for its slowest thread: on a busy machine, as many
    threads as idle cores (cores less the threads running elsewhere, at least 1)."""
    from cnnctl.train import fastpath

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(fastpath, "cores", lambda: 8)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    for busy, want in ((0.0, 8), (2.6, 5), (7.4, 1), (31.0, 1)):
        monkeypatch.setattr(fastpath, "busy_elsewhere", lambda busy=busy: busy)
        n, why = fastpath.choose_threads(None)
        assert n == want and why == f"{busy:g} busy elsewhere on 8 cores; --threads N to choose"
    monkeypatch.setattr(fastpath, "busy_elsewhere", lambda: None)  # no way to know: PyTorch's own
    assert fastpath.choose_threads(None) == (8, "PyTorch's default")
    assert fastpath.choose_threads(3) == (3, "--threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert fastpath.choose_threads(None) == (8, "OMP_NUM_THREADS")  # what PyTorch took from it
    path = decide(CPU, amp=None, compile=None, threads=1)
    assert "fused adam, 1 CPU thread (--threads); off" in path.describe("adam")


def test_threads_are_a_setting_that_may_change_on_resume(tmp_path):
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.loop import train

    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n  - fc 10\n")
    x = torch.randint(0, 255, (96, 1, 8, 8), dtype=torch.uint8)
    from cnnctl.data import DataSplits, Split

    data = DataSplits("t", Split(x[:64], torch.arange(64) % 10), Split(x[64:], torch.arange(32) % 10),
                   [str(i) for i in range(10)], (0.5,), (0.3,), [])  # fmt: skip
    before = torch.get_num_threads()
    try:
        config = TrainConfig(epochs=1, batch_size=32, device="cpu", threads=1, out=str(tmp_path / "r"))
        train(graph, config, arch="t", dataset=data)
        assert torch.get_num_threads() == 1
        from cnnctl.train.loop import resumed_config

        assert resumed_config(str(tmp_path / "r"), {"threads": 2, "epochs": 2}).threads == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/loadavg"), reason="Linux's /proc/loadavg only")
def test_threads_running_elsewhere_are_counted_now():
    """Spinning processes started just before are seen at once (a load average lags a minute)."""
    import multiprocessing
    import time

    from cnnctl.train import fastpath

    before = fastpath.busy_elsewhere()
    spinners = [multiprocessing.get_context("fork").Process(target=_spin, daemon=True) for _ in range(3)]
    for p in spinners:
        p.start()
    try:
        time.sleep(0.3)
        during = fastpath.busy_elsewhere()
    finally:
        for p in spinners:
            p.kill()
    assert during >= before + 2  # three spinners, give or take one scheduling tick


def _spin() -> None:
    while True:
        pass
