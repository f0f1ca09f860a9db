"""One process or many: the process group that ``torchrun`` describes, and the few collectives
the library needs.

``torchrun --standalone --nproc_per_node=N -m camwalls_lib.experiments.fashion_vgg ...`` starts
``N`` copies of a program and tells each, through its environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), who it is. :func:`setup` reads that
environment and joins the process group (nccl on GPUs, gloo on the CPU); a plain
``python -m ...`` run, whose environment names no group, is the :class:`World` of size 1, where
every collective below returns its input unchanged. So the training loop, the leak table and
the experiments have one code path, and world size 1 is not a special case.

Every rank must call the collectives in the same order; rank 0 (``world.main``) alone writes
files and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .helpers import resolve_device

__all__ = ["World", "current", "setup", "teardown", "sum_numbers", "any_rank",
           "broadcast_object", "gather_objects", "barrier"]


@dataclass(frozen=True)
class World:
    """Who this process is: ``rank`` in ``0..size-1``, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and results."""
        return self.rank == 0


def current() -> World:
    """The world of the process group this process belongs to (size 1 without one)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(),
                     int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return World()


def setup(device=None) -> tuple[World, torch.device]:
    """Join the process group torchrun's environment describes, if any: ``(world, device)``.

    On a GPU each rank takes the GPU of its ``LOCAL_RANK`` and the backend is nccl; on the
    CPU, gloo. Without ``WORLD_SIZE`` (or with ``WORLD_SIZE=1``) nothing is joined.
    """
    device = resolve_device(device)
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1 or (dist.is_available() and dist.is_initialized()):
        return current(), device
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; "
                           "run one process (python -m ...) instead of torchrun.")
    if "LOCAL_RANK" not in os.environ:
        raise RuntimeError("WORLD_SIZE is set but LOCAL_RANK is not: start the program with "
                           "torchrun (torchrun --nproc_per_node=N -m ...), which sets both.")
    local = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current(), device


def teardown() -> None:
    """Leave the process group (at the end of a torchrun program; nothing otherwise)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """Where tensors handed to a collective must live: the GPU for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_numbers(*values: float) -> list[float]:
    """Each value summed over every rank (float64), e.g. a count of correct answers."""
    if current().size == 1:
        return [float(v) for v in values]
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flag: bool) -> bool:
    """True if ``flag`` is True on any rank (e.g. a Ctrl-C that reached one process)."""
    return sum_numbers(float(flag))[0] > 0


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank (picklable objects, tensors included)."""
    if current().size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if current().size == 1:
        return [obj]
    out = [None] * current().size
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a file)."""
    if current().size > 1:
        dist.barrier()
