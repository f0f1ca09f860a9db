"""Checkpoints of a training run: weights, optimizer, scheduler, scaler, history and every
random number generator, so that :func:`camwalls_lib.training.fit` resumes to the same bits.

Checkpoints hold only tensors, numbers, strings, lists and dicts, so they load with
``torch.load(path, weights_only=True)`` -- never unpickle arbitrary objects. A walled model's
checkpoint must hold exactly 0 behind its wall (:func:`camwalls_lib.walls.require_walled_state`).
"""

from __future__ import annotations

import random
import signal
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .. import validate
from ..errors import BadValue
from ..walls import require_walled_state

__all__ = ["History", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state",
           "DeferredInterrupt"]


@dataclass
class History:
    """What happened, one entry per finished epoch (``epoch`` counts from 1).

    ``train_loss`` is the mean loss over the epoch's training images; ``val_top1`` /
    ``val_top5`` are fractions in [0, 1] (None without a validation loader, or top-5 with
    fewer than 5 classes); ``images_per_s`` is the training throughput; ``seconds`` the
    epoch's wall-clock time (training + validation); ``lr`` the first group's learning rate
    used during the epoch.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_top1: list[float | None] = field(default_factory=list)
    val_top5: list[float | None] = field(default_factory=list)
    images_per_s: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: list(v) for k, v in d.items()})

    def line(self, i: int = -1, epochs: int | None = None) -> str:
        """One human line for epoch ``i``."""
        e = self.epoch[i]
        parts = [f"epoch {e}" + (f"/{epochs}" if epochs else ""),
                 f"loss {self.train_loss[i]:.4f}"]
        if self.val_top1[i] is not None:
            parts.append(f"val top-1 {100 * self.val_top1[i]:.2f}%")
        if self.val_top5[i] is not None:
            parts.append(f"top-5 {100 * self.val_top5[i]:.2f}%")
        parts += [f"{self.images_per_s[i]:,.0f} img/s", f"{self.seconds[i]:.1f} s"]
        return "  ".join(parts)


# ----------------------------------------------------------------------------- RNG states

def rng_state() -> dict:
    """Every generator a training step may draw from, as tensors and plain numbers only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Put every generator back to ``state`` (from :func:`rng_state`)."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ----------------------------------------------------------------------------- checkpoints

def save_checkpoint(path, model: nn.Module, optimizer=None, scheduler=None, scaler=None,
                    history: History | None = None, epoch: int = 0, rng: dict | None = None,
                    **extra) -> Path:
    """Write a checkpoint atomically (a temporary file, then ``os.replace``) and return its
    path. A SHA-256 of the weights is stored with them and checked by :func:`load_checkpoint`.

    ``rng``: the generators' state to store (default: their state now).

    Everything stored is a tensor, a number, a string or a list/dict of those, so the file
    loads with ``torch.load(path, weights_only=True)``.
    """
    state = model.state_dict()
    ckpt = {
        "format": "camwalls-fit-1",
        **validate.sealed(state),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "history": (history or History()).to_dict(),
        "epoch": int(epoch),
        "rng": rng if rng is not None else rng_state(),
        **extra,
    }
    return validate.atomic_save(ckpt, path)


def load_checkpoint(path, model: nn.Module, optimizer=None, scheduler=None, scaler=None,
                    map_location="cpu", restore_rng: bool = False) -> dict:
    """Load a checkpoint written by :func:`fit` / :func:`save_checkpoint` into the given
    objects (any of them may be None) and return the raw dict, with ``"history"`` as a
    :class:`History`.

    Only ``torch.load(..., weights_only=True)`` is used. An empty, truncated or damaged file
    (its weights' SHA-256 differs from the one stored) raises
    :class:`~camwalls_lib.validate.CorruptFile` naming it. For a walled model the *file's*
    weights behind each wall must be exactly 0 -- checked before loading, since loading
    zeroes them -- otherwise the checkpoint comes from an unwalled model and is refused.
    """
    path = Path(path)
    fix = "delete it and train again (fit(..., checkpoint=...))"
    ckpt = validate.load_tensors(path, "checkpoint", fix, map_location)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise BadValue(f"{path} is not a camwalls checkpoint (no 'model' entry); a bare "
                       "state_dict loads with model.load_state_dict(torch.load(path, "
                       "weights_only=True)).")
    if "model_sha256" in ckpt:                   # (checkpoints from before checksums: none)
        validate.unsealed(ckpt, path, "checkpoint", fix)
    require_walled_state(ckpt["model"], model, path)
    model.load_state_dict(ckpt["model"])
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
        if obj is not None and ckpt.get(key) is not None:
            obj.load_state_dict(ckpt[key])
    if restore_rng:
        set_rng_state(ckpt["rng"])
    ckpt["history"] = History.from_dict(ckpt.get("history") or {})
    return ckpt


# ----------------------------------------------------------------------------- interrupts

class DeferredInterrupt:
    """While active, Ctrl-C only raises a flag; the loop stops at the next step boundary, so
    the checkpoint never holds a half-applied optimizer step. A second Ctrl-C interrupts at
    once. Only possible in the main thread (elsewhere KeyboardInterrupt behaves as usual)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nInterrupt received: finishing this step, saving, then stopping "
              "(press again to stop at once).")

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
