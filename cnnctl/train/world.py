"""The worker's side of data-parallel training: who am I, and the few collectives the loop needs.

A worker is a process started by torchrun (or by `cnnctl train --nproc-per-node`, which
uses the same launcher). torchrun tells it its place through the environment: RANK,
WORLD_SIZE, LOCAL_RANK, and TORCHELASTIC_RESTART_COUNT after a restart. One process
without those variables is a world of one, and nothing here touches torch.distributed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import NamedTuple

import torch
import torch.distributed as dist

from ..errors import LOST_PEERS, CnnctlError, RunFailed

# How long a collective may wait for the other workers before it fails. Long enough for a
# first torch.compile on a slow rank; short enough that a stalled group ends with a message.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)


class World(NamedTuple):
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    restarts: int = 0  # how many times torchrun has restarted this group
    max_restarts: int = 0
    local_size: int = 1  # workers on this machine

    @classmethod
    def from_env(cls) -> World:
        env = os.environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return cls()
        return cls(
            rank=int(env["RANK"]),
            size=int(env["WORLD_SIZE"]),
            local_rank=int(env.get("LOCAL_RANK", "0")),
            restarts=int(env.get("TORCHELASTIC_RESTART_COUNT", "0")),
            max_restarts=int(env.get("TORCHELASTIC_MAX_RESTARTS", "0")),
            local_size=int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])),
        )

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one worker that prints and writes."""
        return self.rank == 0

    def device(self, chosen: torch.device) -> torch.device:
        """Each worker on a node takes the GPU of its local rank."""
        if not self.distributed or chosen.type != "cuda":
            return chosen
        gpus = torch.cuda.device_count()
        if self.local_size > gpus:  # checked by every worker, so that rank 0 says it too
            raise CnnctlError.at(
                f"{self.local_size} workers on this machine, but it has {gpus} GPU{'s' if gpus != 1 else ''}: "
                "each worker needs its own",
                hint=f"start at most one worker per GPU: --nproc-per-node {max(1, gpus)}",
            )
        return torch.device("cuda", self.local_rank)


def check_sync_bn(device: torch.device) -> None:
    if device.type != "cuda":
        raise CnnctlError.at(
            "--sync-bn needs GPU workers: PyTorch's SyncBatchNorm runs on CUDA only",
            hint="on CPU workers each normalises over its own batch; leave out --sync-bn",
        )


class Group:
    """The process group of a run, and a CPU side channel for small control messages.

    The flags the workers agree on every step (stop, diverged) travel on the CPU (gloo):
    on a GPU, reading a value the NCCL group produced would make each step wait for it.
    """

    def __init__(self, world: World, device: torch.device):
        self.world = world
        self.control = None
        if not world.distributed:
            return
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        # torchrun's agent shares one key-value store with every attempt of the group, and
        # keeps the keys of the last one: a restarted worker could read the address of a
        # dead peer and wait for it (pytorch/pytorch#135712). Keys of their own per attempt.
        store, _, _ = next(dist.rendezvous("env://", timeout=COLLECTIVE_TIMEOUT))
        store = dist.PrefixStore(f"cnnctl/attempt-{world.restarts}", store)
        dist.init_process_group(
            backend, store=store, rank=world.rank, world_size=world.size, timeout=COLLECTIVE_TIMEOUT
        )
        self.control = dist.new_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT) if backend != "gloo" else None

    def any(self, *flags: bool) -> list[bool]:
        """Each flag true on every worker when it is true on any: all stop at the same step."""
        if not self.world.distributed:
            return list(flags)
        value = torch.tensor([int(f) for f in flags], dtype=torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.control)
        return [bool(v) for v in value.tolist()]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the workers (in float64: counts of images stay exact)."""
        if not self.world.distributed:
            return values
        total = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(total, group=self.control)
        return total.tolist()

    def union(self, mapping: dict[str, str]) -> dict[str, str]:
        """Every worker's `mapping` merged (rank 0's first, then in rank order): small ones only,
        each is sent whole to every worker."""
        if not self.world.distributed:
            return dict(mapping)
        each: list = [None] * self.world.size
        dist.all_gather_object(each, mapping, group=self.control)
        merged: dict[str, str] = {}
        for part in each:
            merged.update({k: v for k, v in part.items() if k not in merged})
        return merged

    def from_leader(self, value: int | None) -> int | None:
        """Rank 0's `value` (a count, or None) on every worker: a choice made once for all."""
        if not self.world.distributed:
            return value
        sent = torch.tensor([-1 if value is None else value], dtype=torch.int64)
        dist.broadcast(sent, src=0, group=self.control)
        return None if sent.item() < 0 else int(sent.item())

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (batch norm's running statistics) to every worker."""
        if self.world.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)

    def barrier(self) -> None:
        if self.world.distributed:
            dist.barrier(group=self.control)

    def close(self) -> None:
        if self.world.distributed and dist.is_initialized():
            dist.destroy_process_group()


_LOST = re.compile(r"connection|peer|gloo|nccl|timed out|timeout|broken pipe", re.IGNORECASE)


@contextlib.contextmanager
def group(world: World, device: torch.device) -> Iterator[Group]:
    """The run's process group. A worker that loses its peers (one died, and torchrun is
    stopping or restarting the group) says so in one line and exits with LOST_PEERS; the
    launcher decides what happens next."""
    g = None
    try:
        g = Group(world, device)  # joining may fail too: a peer that died at start-up
        yield g
    except RuntimeError as exc:
        if not world.distributed or not (isinstance(exc, dist.DistError) or _LOST.search(str(exc))):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFailed(
            f"worker {world.rank} stops: it lost contact with the other workers ({_short(first)})",
            exit_code=LOST_PEERS,
        ) from None
    finally:
        if g is not None:
            with contextlib.suppress(Exception):  # the group may already be broken
                g.close()


def _short(text: str) -> str:
    # gloo's messages start with a source path in brackets: keep what follows it.
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    text = text.split(". ")[0]  # the first sentence; the rest is general advice
    return text if len(text) <= 120 else text[:117] + "..."
