"""Small internal helpers that several parts of the library share, written once.

- :func:`eval_mode` -- a model in eval mode for a block, its previous mode restored after
  (``try/finally``: also when the block raises);
- :func:`hooked` -- a forward hook on a layer for a block;
- :func:`resolve_target` -- the explained class of each image: ``[N]`` indices;
- :func:`cache_dir` -- where trained models and tables are cached;
- :func:`choose_device` / :func:`resolve_device` -- the device a chapter or a training run uses.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
import torch.nn as nn

from . import validate

__all__ = ["eval_mode", "hooked", "resolve_target", "cache_dir", "choose_device",
           "resolve_device"]


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """``model`` in eval mode for the duration; its previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def hooked(layer: nn.Module, hook):
    """``layer`` with a forward ``hook(module, inputs, output)`` for the duration."""
    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def resolve_target(target, logits: torch.Tensor) -> torch.Tensor:
    """``[N]`` class indices: each image's predicted class (``target=None``), or the checked
    ``target`` (an int or N ints) for raw scores ``logits [N, K]`` (finite)."""
    if logits.dim() != 2:
        raise ValueError(f"The model must return raw class scores [N, K], got "
                         f"{tuple(logits.shape)}.")
    validate.finite(logits.detach(), "the model's logits", "image")
    if target is None:
        return logits.argmax(1)
    return validate.target(target, logits.shape[0], logits.shape[1], logits.device)


def cache_dir() -> Path:
    """``$CAMWALLS_CACHE`` or ``~/.cache/camwalls`` (created if needed)."""
    return validate.cache_folder(
        os.environ.get("CAMWALLS_CACHE", Path.home() / ".cache" / "camwalls"),
        "The cache folder ($CAMWALLS_CACHE or ~/.cache/camwalls)")


def choose_device() -> str:
    """``"cuda"`` where a GPU is available, else ``"cpu"``: the device every chapter uses."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device=None) -> torch.device:
    """``None`` -> :func:`choose_device`; otherwise ``torch.device(device)``."""
    return torch.device(choose_device() if device is None else device)
