"""Batches for the training loop: tensors in memory, the device, mixed precision, and an
epoch's batches replayed exactly when a run resumes inside an epoch."""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch

from .. import validate
from ..errors import BadType, BadValue
from .checkpoint import rng_state, set_rng_state

__all__ = ["TensorLoader", "shards", "to_device", "amp_dtype", "autocast", "loader_length",
           "epoch_batches"]


class TensorLoader:
    """Batches ``(x[i], y[i])`` straight from two tensors: a fast ``DataLoader`` for data that
    fits in memory (no per-sample indexing or collation).

    ``shuffle=True`` draws a fresh permutation from torch's global generator at every
    ``iter()``, so runs are reproducible under ``torch.manual_seed`` and :func:`fit` can resume
    them exactly. ``transform(x, y) -> (x, y)`` is applied per batch (e.g. augmentation or
    upsampling; it may use the global generator too).

    ``world`` (a :class:`~camwalls_lib.distributed.World` of size ``W``) shards the loader as
    ``DistributedSampler`` does: ``batch_size`` stays the *global* batch, each rank gets
    ``batch_size / W`` images of each global batch (rank ``r`` the positions ``r, r + W, ...``
    of it), and the union of the ranks' ``k``-th batches is the ``k``-th batch of the
    unsharded loader. Every rank draws the same permutation, because :func:`fit` gives every
    rank the same generators (rank 0's). With ``even=True`` (training) the order is padded
    with its first items to a multiple of ``W``, so that every rank sees as many images at
    every step; ``even=False`` (evaluation) gives each item to exactly one rank.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128,
                 shuffle: bool = False, drop_last: bool = False,
                 transform: Callable | None = None, world=None, even: bool = True):
        if len(x) != len(y):
            raise BadValue(f"x and y differ in length: {len(x)} images, {len(y)} labels.")
        batch_size = validate.positive_int(batch_size, "batch_size")
        self.size = 1 if world is None else world.size
        self.rank = 0 if world is None else world.rank
        if batch_size % self.size:
            raise ValueError(f"batch_size={batch_size} is the global batch and must be a "
                             f"multiple of the world size {self.size} (each rank takes "
                             f"batch_size / {self.size}); pass e.g. "
                             f"{batch_size - batch_size % self.size or self.size}.")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.drop_last, self.transform = shuffle, drop_last, transform
        self.even = even

    def _count(self) -> int:
        """Items in the (padded) order."""
        n = len(self.y)
        return n if self.drop_last or not self.even else math.ceil(n / self.size) * self.size

    def __len__(self) -> int:
        n = self._count()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n) if self.shuffle else None
        if self.size > 1:   # pad by repeating the order, as DistributedSampler does
            order = torch.arange(n) if order is None else order
            order = order.repeat(-(-self._count() // max(n, 1)))[:self._count()]
        for b in range(len(self)):
            idx = slice(b * self.batch_size, (b + 1) * self.batch_size)
            if order is not None:
                idx = order[idx][self.rank::self.size]
                if len(idx) == 0:       # even=False: a short last batch may miss this rank
                    continue
            x, y = self.x[idx], self.y[idx]
            yield self.transform(x, y) if self.transform is not None else (x, y)


def shards(loader) -> int:
    """Over how many ranks ``loader`` is sharded: a :class:`TensorLoader`'s world size, a
    ``DataLoader``'s ``DistributedSampler`` replicas, else 1."""
    if isinstance(loader, TensorLoader):
        return loader.size
    return getattr(getattr(loader, "sampler", None), "num_replicas", 1)


def amp_dtype(amp, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None: full precision).

    ``"auto"``: bf16 on a GPU that supports it, fp16 (with a GradScaler) on an older GPU,
    nothing on the CPU. ``True``: the same on a GPU, bf16 on the CPU. ``False``: nothing.
    ``"bf16"`` / ``"fp16"`` force a dtype.
    """
    if amp in (False, None):
        return None
    if amp in ("bf16", torch.bfloat16):
        return torch.bfloat16
    if amp in ("fp16", torch.float16):
        return torch.float16
    if amp not in (True, "auto"):
        raise BadValue(f"amp must be 'auto', True, False, 'bf16' or 'fp16', got {amp!r}.")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if amp is True else None
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(batch, device, channels_last):
    if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
        raise BadType("fit/evaluate expect a loader of (images, labels) batches, got "
                      f"{type(batch).__name__}; wrap your dataset so it yields (x, y).")
    if not (torch.is_tensor(batch[0]) and batch[0].is_floating_point()):
        kind = batch[0].dtype if torch.is_tensor(batch[0]) else type(batch[0]).__name__
        raise BadType(f"The loader's images must be a float tensor (values in [0, 1]), got "
                      f"{kind}; convert them with x.float() / 255 (Digits.tensors() does).")
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def loader_length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def epoch_batches(loader, skip: int, epoch_rng: dict | None, replay: bool):
    """An iterator over this epoch's batches. When resuming inside an epoch, the loader is
    re-created under the generators' state at the start of the epoch and ``skip`` batches
    are drawn and dropped, so the remaining ones are exactly those the interrupted run would
    have seen; the generators are then put back where the interruption left them."""
    if not replay:
        return iter(loader)
    now = rng_state()
    set_rng_state(epoch_rng)
    it = iter(loader)
    for _ in range(skip):
        next(it)
    set_rng_state(now)
    return it
