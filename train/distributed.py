"""Where this process stands in a (torchrun) job, and the two collectives the trainer needs."""

from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over ranks in place (no-op alone); returns it."""
        if self.world_size > 1:
            dist.all_reduce(tensor)
        return tensor

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank (a picklable value; no-op alone)."""
        if self.world_size == 1:
            return obj
        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """[obj of rank 0, obj of rank 1, ...] on every rank."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def init_distributed(device: str = "auto", timeout_s: float | None = None) -> DistContext:
    """Join the torchrun job described by RANK/WORLD_SIZE/LOCAL_RANK (if any) and pick the device.

    `timeout_s` bounds every collective (a rank that hangs fails the job instead of stalling it).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"device must be auto, cuda or cpu, got {device!r}")
    target = torch.device("cuda", local % max(1, torch.cuda.device_count())) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(target)
    if world > 1 and not dist.is_initialized():
        kwargs = {} if timeout_s is None else {"timeout": datetime.timedelta(seconds=timeout_s)}
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world, **kwargs)
    return DistContext(rank, world, local, target)


def shutdown_distributed(ctx: DistContext) -> None:
    """Leave the job cleanly after a *successful* run (collective: every rank must call it).

    Order matters. A rank that exits straight after its last collective can reach interpreter shutdown
    while a gloo worker thread is still releasing that collective's tensors; releasing a tensor whose
    Python object was handed to C++ needs the GIL, which a finalising interpreter refuses by ending the
    thread, and the C++ runtime answers with `terminate called without an active exception` (SIGABRT).
    So: first a barrier (no rank leaves while a peer still works, e.g. rank 0 exporting; it completes
    only after every earlier collective of this rank has completed), then drop unreachable objects
    (DDP's reducer holds the group) while the interpreter is whole, then destroy the process group.
    After a failure do not call this: a barrier would wait for a peer that is gone.
    """
    if ctx.world_size <= 1 or not dist.is_initialized():
        return
    if ctx.device.type == "cuda":
        dist.barrier(device_ids=[ctx.device.index])
    else:
        dist.barrier()
    gc.collect()
    dist.destroy_process_group()
