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
        train(graph, config, network_title="t", dataset=data)
        assert torch.get_num_threads() == 1
        from cnnctl.train.resume_config import resumed_config

        assert resumed_config(str(tmp_path / "r"), {"threads": 2, "epochs": 2}).threads == 2
    finally:
        torch.set_num_threads(before)


def test_a_resumed_run_takes_the_threads_it_started_with_whatever_the_load_now(tmp_path, monkeypatch, capsys):
    """Float results depend on the thread count, which follows the machine's load: the run
    records the count it chose, and `--resume` takes it again (unless --threads is given), so
    it ends with the weights of a run that went straight through."""
    import json

    from cnnctl.data import DataSplits, Split
    from cnnctl.errors import INTERRUPTED
    from cnnctl.train import fastpath
    from cnnctl.train.checkpoint import load_checkpoint
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.loop import train
    from cnnctl.train.resume_config import resumed_config

    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n  - conv f=3 n=4 act=relu\n  - fc 10\n")
    x = torch.randint(0, 255, (96, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = DataSplits("t", Split(x[:64], torch.arange(64) % 10), Split(x[64:], torch.arange(32) % 10),
                      [str(i) for i in range(10)], (0.5,), (0.3,), [], val_from="test data")  # fmt: skip
    before, set_num_threads = torch.get_num_threads(), torch.set_num_threads
    applied: list[int] = []  # every count the runs set
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (applied.append(n), set_num_threads(n)))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(fastpath, "cores", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # PyTorch's default on 2 cores, the choice's cap

    def load(busy: float) -> int:  # threads running elsewhere now: the count a new choice gives
        monkeypatch.setattr(fastpath, "busy_elsewhere", lambda: busy)
        return fastpath.choose_threads(None)[0]

    def config(name: str) -> TrainConfig:
        return TrainConfig(epochs=2, batch_size=32, seed=1, device="cpu", out=str(tmp_path / name))

    try:
        assert load(busy=1.0) == 1
        straight = train(graph, config("straight"), network_title="t", dataset=data)
        assert json.loads((straight.run_dir / "config.json").read_text())["threads"] == 1
        broken = train(graph, config("r"), network_title="t", dataset=data, stop_after_steps=3)  # mid-epoch 2
        assert broken.status == INTERRUPTED and applied == [1, 1]
        assert load_checkpoint(broken.run_dir)["config"]["threads"] == 1
        assert load(busy=0.0) == 2  # the machine is idle now: a new run would take both cores
        capsys.readouterr()
        resumed = train(graph, resumed_config(str(broken.run_dir), {"threads": None}), network_title="t", dataset=data,
                        resume=str(broken.run_dir))  # fmt: skip
        assert resumed.status == 0 and applied[-1] == 1
        said = "1 CPU thread (recorded by the run, for the same numbers; --threads N to change)"
        assert said in capsys.readouterr().out
        a, b = load_checkpoint(straight.run_dir)["model"], load_checkpoint(resumed.run_dir)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    finally:
        set_num_threads(before)
    # --threads given to a resume wins, and the fast-path line says the numbers may then differ
    n, why = fastpath.choose_threads(2, recorded=1)
    assert n == 2 and "the run recorded 1: its numbers may differ from a run that went straight through" in why
    assert fastpath.choose_threads(1, recorded=1)[0] == 1  # the count replayed, or given the same


def test_a_resume_given_another_thread_count_records_it_in_config_json_as_in_its_checkpoints(tmp_path):
    # config.json kept the count the run started with while its checkpoints kept the last: two
    # records of one run that disagreed (and `cnnctl runs`, evaluate... read config.json).
    import json

    from cnnctl.data import DataSplits, Split
    from cnnctl.train.checkpoint import load_checkpoint
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.loop import train
    from cnnctl.train.resume_config import resumed_config

    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n  - fc 10\n")
    x = torch.randint(0, 255, (96, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = DataSplits("t", Split(x[:64], torch.arange(64) % 10), Split(x[64:], torch.arange(32) % 10),
                      [str(i) for i in range(10)], (0.5,), (0.3,), [])  # fmt: skip
    before = torch.get_num_threads()
    run = tmp_path / "r"

    def recorded() -> tuple[int, int, int]:
        config = json.loads((run / "config.json").read_text())
        return config["threads"], load_checkpoint(run / "last.pt")["config"]["threads"], torch.get_num_threads()

    try:
        first = TrainConfig(epochs=1, batch_size=32, device="cpu", threads=1, out=str(run))
        train(graph, first, network_title="t", dataset=data)
        assert recorded() == (1, 1, 1)
        started = json.loads((run / "config.json").read_text())
        train(
            graph,
            resumed_config(str(run), {"threads": 2, "epochs": 2}),
            network_title="t",
            dataset=data,
            resume=str(run),
        )
        assert recorded() == (2, 2, 2)
        again = json.loads((run / "config.json").read_text())
        assert again == started | {"threads": 2}  # the rest as the run started (its epochs among them)
        train(
            graph,
            resumed_config(str(run), {"threads": None, "epochs": 3}),
            network_title="t",
            dataset=data,
            resume=str(run),
        )
        assert recorded() == (2, 2, 2)  # replayed: the count both record
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


# -- CUDA graphs: the decision, on the CPU; the captured step, on a GPU -----------------------------
def test_cuda_graphs_pay_when_launching_takes_longer_than_the_arithmetic():
    from cnnctl.analysis.training import training_cost
    from cnnctl.train.bench import STEP_SHARE
    from cnnctl.train.fastpath import KERNELS_PER_LAYER, LAUNCH_SECONDS, launch_bound

    for name, batch, expected in (("lenet5", 64, True), ("resnet50", 256, False)):
        graph = cnnctl.load(name)
        flops = training_cost(graph).step_flops * batch
        arithmetic = flops / (989.4e12 * STEP_SHARE)
        launches = KERNELS_PER_LAYER * len(graph.nodes) * LAUNCH_SECONDS
        bound, said = launch_bound(flops, len(graph.nodes), 989.4)
        assert bound == (arithmetic < launches) == expected
        assert f"~{KERNELS_PER_LAYER * len(graph.nodes)} kernels" in said
    # LeNet-5: 7 layers, 21 kernels at 5 µs = 105 µs, against its 147 MFLOP at 20% of 989.4 TFLOP/s, ~1 µs
    assert launch_bound(147_370_000, 7, 989.4)[1] == (
        "147.37 MFLOP a step, launch-bound: ~1 µs of arithmetic at 20% of 989.4 TFLOP/s against ~105 µs launching "
        "~21 kernels"
    )


LAUNCH_BOUND, COMPUTE_BOUND = (True, "launch-bound"), (False, "compute-bound")


@pytest.mark.parametrize(
    ("asked", "device", "compile", "distributed", "streamed", "launch", "on", "said"),
    [
        ("auto", "cuda", True, False, False, LAUNCH_BOUND, True, "launch-bound"),
        ("auto", "cuda", True, False, False, COMPUTE_BOUND, False, "compute-bound; --cuda-graphs on to capture"),
        ("auto", "cuda", True, False, True, LAUNCH_BOUND, False, "the data is streamed"),
        ("auto", "cuda", True, True, False, LAUNCH_BOUND, False, "several processes"),
        ("auto", "cuda", False, False, False, LAUNCH_BOUND, False, "torch.compile, which is off"),
        ("auto", "cpu", True, False, False, None, False, ""),  # nothing to say off a GPU
        ("on", "cpu", False, False, False, None, False, "need a CUDA GPU"),
        ("on", "cuda", True, False, False, COMPUTE_BOUND, True, "--cuda-graphs on"),
        ("on", "cuda", True, False, True, COMPUTE_BOUND, True, "one graph per batch shape"),
        ("on", "cuda", False, False, False, COMPUTE_BOUND, False, "torch.compile, which is off"),
        ("off", "cuda", True, False, False, LAUNCH_BOUND, False, "--cuda-graphs off"),
        ("off", "cpu", True, False, False, None, False, ""),
    ],
)  # fmt: skip
def test_cuda_graphs_are_on_for_one_process_on_a_gpu_with_fixed_batches_when_launch_bound(
    asked, device, compile, distributed, streamed, launch, on, said
):
    from cnnctl.train.fastpath import choose_cuda_graphs

    decided, why = choose_cuda_graphs(asked, device, compile, distributed, streamed, launch)
    assert decided == on and said in why and (said or why == "")


def test_the_fast_path_line_says_whether_cuda_graphs_are_on_and_why(monkeypatch):
    from cnnctl.train.fastpath import FastPath, with_cuda_graphs

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    gpu = FastPath(torch.device("cuda"), torch.bfloat16, True, True, ())
    lenet = with_cuda_graphs(gpu, "auto", cnnctl.load("lenet5"), 64, distributed=False, streamed=False)
    assert lenet.cuda_graphs
    line = lenet.describe("adam")
    assert "torch.compile, CUDA graphs (lenet5: 147.37 MFLOP a step, launch-bound: " in line
    assert "; off:" not in line
    resnet = with_cuda_graphs(gpu, "auto", cnnctl.load("resnet50"), 256, distributed=False, streamed=False)
    assert not resnet.cuda_graphs
    assert resnet.describe("adam").endswith("--cuda-graphs on to capture it all the same)")
    assert "; off: CUDA graphs (6.24 TFLOP a step, compute-bound" in resnet.describe("adam")
    cpu = with_cuda_graphs(decide(CPU, None, None, threads=1), "auto", cnnctl.load("lenet5"), 64, False, False)
    assert not cpu.cuda_graphs and "CUDA graphs" not in cpu.describe("adam")  # nothing to say on a CPU


def test_cuda_graphs_are_a_training_setting_that_may_change_on_resume():
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.settings import BY_NAME, RESUMABLE

    assert TrainConfig().cuda_graphs == "auto" and "cuda_graphs" in RESUMABLE
    assert BY_NAME["cuda_graphs"].parse("ON") == "on"
    with pytest.raises(ValueError, match="expected one of auto, on, off"):
        BY_NAME["cuda_graphs"].parse("sometimes")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_step_replayed_as_cuda_graphs_trains_the_weights_an_eager_step_does():
    from cnnctl.train.fastpath import FastPath, compiled
    from cnnctl.train.step import TrainStep, grad_scaler

    device = torch.device("cuda")
    torch.manual_seed(0)
    eager = to_torch(cnnctl.load("lenet5"), logits=True).to(device, memory_format=torch.channels_last)
    captured = to_torch(cnnctl.load("lenet5"), logits=True).to(device, memory_format=torch.channels_last)
    captured.load_state_dict(eager.state_dict())
    steps = []
    for model, graphs in ((eager, False), (captured, True)):
        fast = FastPath(device, None, graphs, False, (), cuda_graphs=graphs)
        # SGD: an update linear in the gradient, where Adam's m/sqrt(v) would magnify the last bits of
        # near-zero gradients (compiled kernels may sum in another order)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        module = compiled(model, cuda_graphs=True) if graphs else model
        steps.append(TrainStep(module, optimizer, grad_scaler(device, False), fast, 0.0))
    generator = torch.Generator(device).manual_seed(1)
    losses = {False: [], True: []}
    for _ in range(12):  # the first steps record the graphs; the later ones replay them
        x = torch.randn(64, 1, 32, 32, device=device, generator=generator).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (64,), device=device, generator=generator)
        for step, graphs in zip(steps, (False, True), strict=True):
            loss, logits = step(x, y)
            losses[graphs].append(loss.clone())
    torch.cuda.synchronize()
    for a, b in zip(eager.parameters(), captured.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(torch.stack(losses[True]), torch.stack(losses[False]), rtol=1e-3, atol=1e-4)
