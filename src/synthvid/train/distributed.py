"""Data-parallel training over several processes with torch.distributed.

Launch with ``torchrun --nproc_per_node N -m synthvid ...``: each process trains on its own random batches,
gradients are averaged after every backward pass, and rank 0 alone writes checkpoints, previews and stats.
Backend: gloo on CPU, nccl on CUDA. Without torchrun's environment everything runs in one process.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist

from synthvid.errors import InputError


@dataclasses.dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``cpu``, ``cuda`` (this process's GPU under torchrun) or ``cuda:N``; a clear error when CUDA is absent."""
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} asked for, but this machine has no CUDA GPU; use --device cpu")
        return torch.device(name if ":" in name else f"cuda:{local_rank % torch.cuda.device_count()}")
    raise InputError(f"device must be cpu, cuda or cuda:N, got {name!r}")


def init_distributed(device: str = "cpu") -> DistContext:
    """Join the process group described by torchrun's environment variables (or return a one-process context)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait until every process gets here (nothing to wait for in a one-process run)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


def average_gradients(params: Iterable[torch.nn.Parameter], ctx: DistContext) -> None:
    """All-reduce and average the gradients of ``params`` across processes, in one flat buffer."""
    if not ctx.enabled:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:  # keep buffer layouts identical on every rank
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset: offset + n].view_as(g))
        offset += n


def broadcast_parameters(modules: Iterable[torch.nn.Module], ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every process (so all start identical)."""
    if not ctx.enabled:
        return
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            dist.broadcast(t.data, src=0)


def agree(flag: bool, ctx: DistContext) -> bool:
    """True on every process if ``flag`` is True on any (e.g. "stop now")."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def on_main_first(prepare: Callable[[], object], ctx: DistContext, what: str) -> None:
    """Run ``prepare`` (e.g. writing a data file the others then read) on the main process only, while the others
    wait; if it fails there, every process stops: the main one re-raises its error, the others raise InputError."""
    failure: BaseException | None = None
    if ctx.is_main:
        try:
            prepare()
        except BaseException as e:  # noqa: BLE001 - re-raised below, after telling the other processes
            failure = e
    if agree(failure is not None, ctx):
        if failure is not None:
            raise failure
        raise InputError(f"the main process could not {what} (see its message)")
