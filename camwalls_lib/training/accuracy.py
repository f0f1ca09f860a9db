"""Accuracy of a classifier on a loader: :func:`evaluate` (top-1 and top-5), which
:func:`~.loop.fit` calls after every epoch and the recipes call on the test set; under torchrun
every rank counts its shard and the counts are summed."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn

from .. import distributed
from ..helpers import eval_mode, resolve_device
from .batches import amp_dtype, autocast, to_device

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device=None, amp="auto",
             channels_last: bool = False,
             max_batches: int | None = None) -> tuple[float, float | None]:
    """Top-1 and top-5 accuracy (fractions) of ``model`` on ``loader``; top-5 is None with
    fewer than 5 classes. The model is put in eval mode and restored afterwards. Under
    torchrun every rank calls it on its shard (``TensorLoader(..., world=, even=False)``) and
    the counts are summed over the ranks."""
    device = resolve_device(device)
    dtype = amp_dtype(amp, device)
    correct1 = correct5 = total = 0
    num_classes = None
    with eval_mode(model):
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x, y = to_device(batch, device, channels_last)
            with autocast(device, dtype):
                logits = model(x)
            num_classes = logits.shape[1]
            top = logits.topk(min(5, num_classes), dim=1).indices
            hit = top == y[:, None]
            correct1 += int(hit[:, 0].sum())
            correct5 += int(hit.any(1).sum())
            total += len(y)
    # under torchrun every rank evaluates its shard: the counts are summed over the ranks
    correct1, correct5, total, top5 = distributed.sum_numbers(
        correct1, correct5, total, int((num_classes or 0) >= 5))
    if total == 0:
        raise ValueError("The validation loader yielded no batch.")
    return correct1 / total, (correct5 / total if top5 else None)
