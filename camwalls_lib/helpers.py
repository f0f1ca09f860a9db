"""Small internal helpers that several parts of the library share, written once.

- :func:`eval_mode` -- a model in eval mode for a block, its previous mode restored after
  (``try/finally``: also when the block raises);
- :func:`hooked` -- a forward hook on a layer for a block;
- :func:`resolve_target` -- the explained class of each image: ``[N]`` indices;
- :func:`cache_dir` -- where trained models and tables are cached; :func:`cached_file` -- where
  to read one: the user's cache, else the copy the library ships (:data:`SHIPPED`);
  :func:`cached_files` -- every copy, best first;
- :func:`choose_device` / :func:`resolve_device` -- the device a chapter or a training run uses.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
import torch.nn as nn

from . import validate
from .errors import BadType, BadValue, UnsafePath

__all__ = ["eval_mode", "hooked", "resolve_target", "cache_dir", "cached_file",
           "cached_files", "SHIPPED",
           "choose_device", "resolve_device"]

SHIPPED = Path(__file__).resolve().parent / "shipped"
"""Trained models the library ships, laid out like the cache folder (``mnist/``, ``vit/``,
``explorer/``): the files the book's own build wrote there, by the library's training code.
A file's name holds the hash of everything that sets its bits (configuration, data, PyTorch
version, device, threads), so it is found only where training would give the same bits; on
any other set-up (e.g. a GPU, the full MNIST training set) the model is trained as usual."""


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """``model`` in eval mode for the duration; its previous mode restored after."""
    model = validate.module(model)
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
        raise BadValue(f"The model must return raw class scores [N, K], got "
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


def cached_file(relative) -> Path:
    """Where to read the cached artefact ``relative`` (e.g. ``"mnist/toy-walled-<hash>.pt"``):
    the cache folder's copy if there is one, else the library's shipped copy (:data:`SHIPPED`)
    if there is one, else the cache folder's path (not written yet). Always write to
    ``cache_dir() / relative``; readers verify what they load either way (and fall back to
    the next of :func:`cached_files` when a copy is damaged)."""
    found = cached_files(relative)
    return found[0] if found else cache_dir() / _relative(relative)


def cached_files(relative) -> list[Path]:
    """Every copy of the cached artefact ``relative`` there is, best first: the cache
    folder's, then the shipped one. ``relative`` must stay inside the cache folder (no
    absolute path, no ``..``); a *folder* at its place in the cache is refused
    (:class:`~camwalls_lib.errors.UnsafePath`) -- training could never write the file there."""
    relative = _relative(relative)
    own, shipped = cache_dir() / relative, SHIPPED / relative
    if own.is_dir():
        raise UnsafePath(f"The cache path {own} is a folder, not a file: remove or rename that "
                         "folder (nothing in it was touched), then run again.")
    return [p for p in (own, shipped) if p.is_file()]


def _relative(relative) -> Path:
    """``relative`` checked as a path inside the cache folder."""
    if not isinstance(relative, (str, os.PathLike)):
        raise BadType(f"relative must be a relative path inside the cache folder (a str), got "
                      f"{relative!r} ({type(relative).__name__}).")
    path = Path(relative)
    if str(relative) in ("", ".") or path.is_absolute() or ".." in path.parts:
        raise BadValue(f"relative must be a relative path inside the cache folder, such as "
                       f"'mnist/name.pt', without '..'; got {str(relative)!r}.")
    return path


def choose_device() -> str:
    """``"cuda"`` where a GPU is available, else ``"cpu"``: the device every chapter uses."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device=None) -> torch.device:
    """``None`` -> :func:`choose_device`; otherwise ``torch.device(device)``."""
    if device is None:
        return torch.device(choose_device())
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise BadValue(f"device must be None, 'cpu', 'cuda' (or 'cuda:N'), 'mps' or a "
                       f"torch.device, got {device!r:.60}.") from None
