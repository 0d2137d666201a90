"""The training step, and what it is made of: the module it calls (in DDP with several
workers, compiled if asked), the optimizer and the gradient scaler."""

from __future__ import annotations

import torch

from .config import TrainConfig
from .fastpath import FastPath, compiled
from .metrics import training_loss
from .world import World


def make_optimizer(
    model: torch.nn.Module, config: TrainConfig, head: str | tuple[str, ...] | None = None
) -> torch.optim.Optimizer:
    """The optimizer of `config` over the model's parameters; the layers `head` (a head made
    anew, and the auxiliary heads with it) at --head-lr-factor times the rate (cnnctl.train.finetune.param_groups)."""
    from .finetune import param_groups

    lr, wd = config.learning_rate, config.weight_decay
    params = param_groups(model, head, config.head_lr_factor or 1.0, lr)
    cls, extra = {
        "sgd": (torch.optim.SGD, {"momentum": config.momentum}),
        "adam": (torch.optim.Adam, {}),
        "adamw": (torch.optim.AdamW, {}),
    }[config.optimizer]
    try:  # one fused kernel for all parameters: LeNet-5's Adam step takes a fifth of the time
        return cls(params, lr=lr, weight_decay=wd, fused=True, **extra)
    except (RuntimeError, TypeError, ValueError):  # a device or build without fused kernels
        return cls(params, lr=lr, weight_decay=wd, **extra)


def grad_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler:
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # PyTorch before 2.3


def step_module(
    model: torch.nn.Module, world: World, device: torch.device, compile: bool, cuda_graphs: bool = False
) -> torch.nn.Module:
    """What the training step calls: the model, in DDP with several workers, compiled if asked
    (with `cuda_graphs`, replayed as CUDA graphs: fastpath.compiled)."""
    module = model
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        module = DistributedDataParallel(module, device_ids=ids, gradient_as_bucket_view=True)
    return compiled(module, cuda_graphs) if compile else module


class TrainStep:
    """One optimizer step on one batch: forward under autocast, the loss over what is
    scored (with the heads' losses at `head_weights`: `outputs:`), backward through the
    gradient scaler; returns the loss and the main output's logits, detached."""

    def __init__(
        self,
        module: torch.nn.Module,
        optimizer,
        scaler,
        fast: FastPath,
        label_smoothing: float,
        head_weights: tuple[float, ...] = (),
        class_weights: torch.Tensor | None = None,  # --class-weights balanced: one per class, on the device
    ):
        self.module, self.optimizer, self.scaler, self.fast = module, optimizer, scaler, fast
        self.label_smoothing, self.head_weights, self.class_weights = label_smoothing, head_weights, class_weights

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fast.cuda_graphs:
            # A new step: the graphs' outputs of the last one (its logits, read by the metrics
            # already) may be overwritten by this replay.
            torch.compiler.cudagraph_mark_step_begin()
        with self.fast.autocast():
            loss, logits = training_loss(self.module(x), y, self.head_weights, self.label_smoothing, self.class_weights)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach(), logits.detach()
