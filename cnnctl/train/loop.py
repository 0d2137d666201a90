"""The training loop: in-memory data batched by index, progress, checkpoints, resume, signals.

Small datasets live on the device as uint8 tensors; a batch is an index into them, not a
collation of samples. Each epoch's order comes from (seed, epoch) alone, so a run resumed
from a checkpoint, even one saved mid-epoch, replays exactly the batches it would have seen.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import CnnctlError
from ..graph import Graph
from ..report import summarize
from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .config import TrainConfig
from .device import resolve_device

INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C
EVAL_BATCH = 512  # validation keeps no activations for backward: larger batches, fewer calls


class EpochStats:
    """Running loss and accuracy. The sums stay on the device: reading them waits for the
    device, so that happens only when they are shown or saved, not at every step."""

    def __init__(self, loss_sum: float = 0.0, correct: int = 0, seen: int = 0):
        self._loss: float | torch.Tensor = loss_sum
        self._correct: int | torch.Tensor = correct
        self.seen = seen

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self._loss = self._loss + loss.detach() * len(y)
        self._correct = self._correct + (logits.argmax(1) == y).sum()
        self.seen += len(y)

    @property
    def loss_sum(self) -> float:
        return float(self._loss)

    @property
    def correct(self) -> int:
        return int(self._correct)

    @property
    def loss(self) -> float:
        return self.loss_sum / self.seen if self.seen else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / self.seen if self.seen else math.nan


@dataclass
class RunResult:
    run_dir: Path
    status: int  # 0, or INTERRUPTED
    epochs_done: int
    best_val_accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)


class _StopFlag:
    """Set by SIGINT/SIGTERM: the loop finishes its current step, saves and stops."""

    def __init__(self) -> None:
        self.set = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers, no graceful stop
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.set:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch: a function of the seed and the epoch only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params, lr, wd = list(model.parameters()), config.learning_rate, config.weight_decay
    cls, extra = {
        "sgd": (torch.optim.SGD, {"momentum": config.momentum}),
        "adam": (torch.optim.Adam, {}),
        "adamw": (torch.optim.AdamW, {}),
    }[config.optimizer]
    try:  # one fused kernel for all parameters: LeNet-5's Adam step takes a fifth of the time
        return cls(params, lr=lr, weight_decay=wd, fused=True, **extra)
    except (RuntimeError, TypeError, ValueError):  # a device or build without fused kernels
        return cls(params, lr=lr, weight_decay=wd, **extra)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.scheduler == "step":  # divide the rate by 10 at each third of the run
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1)
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None


class Batches:
    """A split on the device, normalised batch by batch: x uint8 NCHW, y int64."""

    def __init__(self, split, mean, std, device: torch.device):
        self.x = split.x.to(device)
        self.y = split.y.to(device)
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, device=device, dtype=torch.float32).view(shape)
        self.std = torch.tensor(std, device=device, dtype=torch.float32).view(shape)

    def __len__(self) -> int:
        return len(self.y)

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # channels_last (NHWC in memory): oneDNN's and cuDNN's fast convolution layout;
        # LeNet-5 trains about 1.5x faster with it on CPU.
        x = self.x[index].to(torch.float32, memory_format=torch.channels_last)
        return x.div_(255).sub_(self.mean).div_(self.std), self.y[index]


def default_run_dir(arch: str) -> Path:
    return Path("runs") / f"{arch}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def evaluate_batches(
    model, batches: Batches, batch_size: int, classes: int, confusion: torch.Tensor | None = None
) -> EpochStats:
    """Loss and accuracy over a split, on the first `classes` outputs; counts into
    `confusion[true, predicted]` when given."""
    stats = EpochStats()
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(batches), batch_size):
            index = torch.arange(start, min(start + batch_size, len(batches)), device=batches.x.device)
            x, y = batches.get(index)
            logits = model(x)[:, :classes]
            stats.add(F.cross_entropy(logits, y), logits, y)
            if confusion is not None:
                pairs = (y * classes + logits.argmax(1)).cpu()
                confusion += torch.bincount(pairs, minlength=classes * classes).view(classes, classes)
    return stats


def check_classes(graph: Graph, classes: list[str]) -> None:
    out = graph.output_shape
    if len(out) != 1:
        raise CnnctlError.at(
            f"the network ends in the volume {'x'.join(map(str, out))}; a classifier ends in a vector of class scores",
            hint="add `flatten`" if out[:2] == (1, 1) else f"end it with `fc {len(classes)}`",
        )
    if out[0] < len(classes):
        raise CnnctlError.at(
            f"the network has {out[0]} output{'s' if out[0] != 1 else ''}, but the data has {len(classes)} classes",
            hint=f"make the last layer `fc {len(classes)}`",
        )


def train(
    graph: Graph,
    config: TrainConfig,
    *,
    arch: str,
    resume: str | None = None,
    dataset=None,
    console=None,
    source: str | None = None,  # the ARCH as the user wrote it, for the "resume with" line
    stop_after_steps: int | None = None,  # tests: behave as if Ctrl-C came after this many steps
) -> RunResult:
    """Train `graph` as `config` says; returns where the run is and how it ended."""
    from ..data import load_data  # torch-side module: imported with the trainer only
    from ..render.progress import TrainDisplay

    device = resolve_device(config.device)
    state = load_checkpoint(resume) if resume else None
    torch.manual_seed(config.seed)
    data = dataset or load_data(
        config.data, graph.input_shape, data_dir=config.data_dir, val_split=config.val_split, seed=config.seed
    )
    check_classes(graph, data.classes)
    from ..backend import to_torch

    model = to_torch(graph, logits=True).to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config)
    train_set = Batches(data.train, data.mean, data.std, device)
    val_set = Batches(data.val, data.mean, data.std, device)
    # A last batch of one image is dropped: batch norm cannot normalise a single value.
    steps_per_epoch = len(train_set) // config.batch_size + (len(train_set) % config.batch_size > 1)
    if steps_per_epoch == 0 or (config.batch_size == 1 and any(n.kind == "bn" for n in graph.nodes)):
        raise CnnctlError.at(
            f"batch norm needs at least 2 images per batch (--batch-size {config.batch_size}, "
            f"{len(train_set):,} training images)",
            hint="use --batch-size 2 or more",
        )

    start_epoch, start_step, stats, history, best = 0, 0, EpochStats(), [], -1.0
    if state is not None:
        load_weights(model, state, resume, graph.name)
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        start_epoch, start_step = state["epoch"], state["step"]
        stats = EpochStats(**state["stats"])
        history, best = state["history"], state["best"]
        torch.set_rng_state(state["rng"])
        run_dir = Path(resume) if Path(resume).is_dir() else Path(resume).parent
    else:
        run_dir = Path(config.out) if config.out else default_run_dir(arch)
        if (run_dir / "last.pt").exists():
            raise CnnctlError.at(
                f"{run_dir} already holds a run", hint=f"continue it with --resume {run_dir}, or choose another --out"
            )
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "architecture.json").write_text(json.dumps(_architecture(graph), indent=2) + "\n")
            (run_dir / "config.json").write_text(json.dumps(config.as_dict(), indent=2) + "\n")
        except OSError as exc:
            raise CnnctlError.at(f"cannot write the run folder {run_dir}: {exc.strerror or exc}") from None

    display = TrainDisplay(console, config, device, data, run_dir, resumed=state is not None)
    if config.amp and device.type == "cpu":
        display.line("--amp: off on the CPU, where bf16 is slower than float32; it applies on GPUs")
    amp = _autocast(device, config.amp)

    def checkpoint(name: str, epoch: int, step: int) -> None:
        save_checkpoint(
            run_dir / name,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "epoch": epoch,
                "step": step,
                "stats": {"loss_sum": stats.loss_sum, "correct": stats.correct, "seen": stats.seen},
                "history": history,
                "best": best,
                "rng": torch.get_rng_state(),
                "config": config.as_dict() | {"lr": config.lr},
                "arch": arch,
                "classes": list(data.classes),
                "mean": list(data.mean),
                "std": list(data.std),
            },
        )

    steps_done = 0
    with _StopFlag() as stop:
        for epoch in range(start_epoch, config.epochs):
            model.train()
            perm = order(len(train_set), config.seed, epoch).to(device)
            started = time.perf_counter()
            display.start_epoch(epoch, steps_per_epoch, start_step)
            for step in range(start_step, steps_per_epoch):
                index = perm[step * config.batch_size : (step + 1) * config.batch_size]
                x, y = train_set.get(index)
                with amp:
                    logits = model(x)
                    loss = F.cross_entropy(logits.float(), y)
                if not torch.isfinite(loss):
                    # No checkpoint: last.pt keeps the last good weights, not these.
                    where = f"epoch {epoch + 1}, step {step + 1}"
                    raise CnnctlError.at(
                        f"the loss became {float(loss.detach())} at {where}: training diverged",
                        hint=f"start again with a lower --lr (now {config.learning_rate:g}), or --optimizer adam",
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                stats.add(loss.detach(), logits.detach(), y)
                display.step(step + 1, stats, len(y))
                steps_done += 1
                if stop_after_steps is not None and steps_done >= stop_after_steps:
                    stop.set = True
                if stop.set:
                    checkpoint("last.pt", epoch, step + 1)
                    display.interrupted(run_dir, source or arch)
                    return RunResult(run_dir, INTERRUPTED, epoch, best, history)
            start_step = 0
            if scheduler is not None:
                scheduler.step()
            val = evaluate_batches(model, val_set, EVAL_BATCH, len(data.classes))
            row = {
                "epoch": epoch + 1,
                "train_loss": stats.loss,
                "train_accuracy": stats.accuracy,
                "val_loss": val.loss,
                "val_accuracy": val.accuracy,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - started,
            }
            history.append(row)
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            stats = EpochStats()
            improved = val.accuracy > best
            best = max(best, val.accuracy)
            checkpoint("last.pt", epoch + 1, 0)
            if improved:
                checkpoint("best.pt", epoch + 1, 0)
            display.end_epoch(row, improved)
    display.finish(history, best)
    return RunResult(run_dir, 0, config.epochs, best, history)


RESUMABLE = ("epochs", "device", "amp")  # what may change when a run is resumed


def resumed_config(resume: str, overrides: dict[str, Any]) -> TrainConfig:
    """The settings a run was started with; only --epochs, --device and --amp may change.

    The rest would not take effect (the optimizer's state carries the learning rate) or
    would break the replay (batch size, seed and data decide each epoch's batches).
    """
    saved = load_checkpoint(resume)["config"]
    config = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
    for name, value in overrides.items():
        current = config.learning_rate if name == "lr" else getattr(config, name)
        if value is None or value == current:
            continue
        if name not in RESUMABLE:
            flag = "--" + name.replace("_", "-")
            raise CnnctlError.at(
                f"{flag} cannot change when a run is resumed (it was {current})",
                hint=f"start a new run to train with {flag} {value}; --resume may change only "
                + ", ".join("--" + r for r in RESUMABLE),
            )
        if name == "epochs" and config.scheduler != "none":
            raise CnnctlError.at(
                f"--epochs cannot change a run with the {config.scheduler} schedule: it was planned for "
                f"{config.epochs} epochs",
                hint="start a new run",
            )
        setattr(config, name, value)
    return config


def _architecture(graph: Graph) -> dict:
    from ..render.views import summary_json

    return summary_json(summarize(graph))


def _autocast(device: torch.device, enabled: bool):
    # On CPUs bf16 autocast is several times slower than float32 for these networks
    # (LeNet-5: 3.1 s against 0.7 s an epoch here), so --amp applies to GPUs only.
    if not enabled or device.type == "cpu":
        return torch.autocast(device.type, enabled=False)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, dtype=torch.bfloat16)
