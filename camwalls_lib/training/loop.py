"""A small, honest training loop: one function, :func:`fit`, for every model in the book.

``fit`` trains any classifier ``[N, C, H, W] -> [N, K]`` on a loader of ``(x, y)`` batches,
validates it every epoch (top-1, and top-5 when there are at least 5 classes), shows a tqdm bar
and prints one line per epoch. With ``checkpoint=`` it saves everything needed to go on --
weights, optimizer, scheduler, AMP scaler, epoch, history and every random number generator --
after each epoch and when interrupted (Ctrl-C, or a kernel interrupt in Jupyter); with
``resume=True`` it continues from there and ends in *the same bits* as a run that was never
interrupted (tested on the CPU).

Checkpoints hold only tensors, numbers, strings, lists and dicts, so they load with
``torch.load(path, weights_only=True)`` -- never unpickle arbitrary objects.

A walled model (:class:`~camwalls_lib.walls.WalledLinear`) keeps exactly 0 behind its wall
through any optimizer, because the wall's mask sits inside the forward pass; after loading a
checkpoint this is checked anyway (:func:`camwalls_lib.walls.wall_is_exact`).
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import validate
from .walls import WalledLinear, wall_is_exact

__all__ = ["fit", "History", "TensorLoader", "evaluate", "save_checkpoint", "load_checkpoint",
           "resolve_device"]


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


class TensorLoader:
    """Batches ``(x[i], y[i])`` straight from two tensors: a fast ``DataLoader`` for data that
    fits in memory (no per-sample indexing or collation).

    ``shuffle=True`` draws a fresh permutation from torch's global generator at every
    ``iter()``, so runs are reproducible under ``torch.manual_seed`` and :func:`fit` can resume
    them exactly. ``transform(x, y) -> (x, y)`` is applied per batch (e.g. augmentation; it
    may use the global generator too).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128,
                 shuffle: bool = False, drop_last: bool = False,
                 transform: Callable | None = None):
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} images, {len(y)} labels.")
        batch_size = validate.positive_int(batch_size, "batch_size")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.drop_last, self.transform = shuffle, drop_last, transform

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n) if self.shuffle else None
        for b in range(len(self)):
            idx = slice(b * self.batch_size, min(n, (b + 1) * self.batch_size))
            if order is not None:
                idx = order[idx]
            x, y = self.x[idx], self.y[idx]
            yield self.transform(x, y) if self.transform is not None else (x, y)


# ----------------------------------------------------------------------------- devices, AMP

def resolve_device(device=None) -> torch.device:
    """``None`` -> "cuda" if available else "cpu"; otherwise ``torch.device(device)``."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _amp_dtype(amp, device: torch.device) -> torch.dtype | None:
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
        raise ValueError(f"amp must be 'auto', True, False, 'bf16' or 'fp16', got {amp!r}.")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if amp is True else None
    return None


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ----------------------------------------------------------------------------- RNG states

def _rng_state() -> dict:
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


def _set_rng_state(state: dict) -> None:
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
        "model": state,
        "model_sha256": validate.checksum(state),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "history": (history or History()).to_dict(),
        "epoch": int(epoch),
        "rng": rng if rng is not None else _rng_state(),
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
        raise ValueError(f"{path} is not a camwalls checkpoint (no 'model' entry); a bare "
                         "state_dict loads with model.load_state_dict(torch.load(path, "
                         "weights_only=True)).")
    if "model_sha256" in ckpt and validate.checksum(ckpt["model"]) != ckpt["model_sha256"]:
        raise validate.CorruptFile(f"The checkpoint {path} is damaged: its weights do not match "
                                   f"the checksum stored with them; {fix}.")
    _check_walled_state(ckpt["model"], model, path)
    model.load_state_dict(ckpt["model"])
    if any(isinstance(m, WalledLinear) for m in model.modules()) and not wall_is_exact(model):
        raise RuntimeError(f"The model loaded from {path} has non-zero weights behind its wall: "
                           "the checkpoint does not come from this walled architecture.")
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
        if obj is not None and ckpt.get(key) is not None:
            obj.load_state_dict(ckpt[key])
    if restore_rng:
        _set_rng_state(ckpt["rng"])
    ckpt["history"] = History.from_dict(ckpt.get("history") or {})
    return ckpt


def _check_walled_state(state: dict, model: nn.Module, path) -> None:
    """Refuse a state_dict whose weights behind a :class:`WalledLinear`'s wall are not 0."""
    for name, layer in model.named_modules():
        weight = state.get(f"{name}.weight" if name else "weight")
        if not isinstance(layer, WalledLinear) or not torch.is_tensor(weight) \
                or weight.shape != layer.weight.shape:
            continue
        behind = weight[:, layer.weight_mask.to(weight.device) == 0]
        if behind.count_nonzero():
            raise ValueError(
                f"{path}: {int(behind.count_nonzero())} weights of {name} behind its wall "
                f"({layer.wall}) are not 0, so the checkpoint was saved from a model without "
                "this wall; loading it would silently zero them and make another network. "
                "Load it into an unwalled model, or train the walled one.")


# ----------------------------------------------------------------------------- evaluation

def _batch(batch, device, channels_last):
    if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
        raise TypeError("fit/evaluate expect a loader of (images, labels) batches, got "
                        f"{type(batch).__name__}; wrap your dataset so it yields (x, y).")
    if not (torch.is_tensor(batch[0]) and batch[0].is_floating_point()):
        kind = batch[0].dtype if torch.is_tensor(batch[0]) else type(batch[0]).__name__
        raise TypeError(f"The loader's images must be a float tensor (values in [0, 1]), got "
                        f"{kind}; convert them with x.float() / 255 (Digits.tensors() does).")
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device=None, amp="auto",
             channels_last: bool = False,
             max_batches: int | None = None) -> tuple[float, float | None]:
    """Top-1 and top-5 accuracy (fractions) of ``model`` on ``loader``; top-5 is None with
    fewer than 5 classes. The model is put in eval mode and restored afterwards."""
    device = resolve_device(device)
    dtype = _amp_dtype(amp, device)
    was_training = model.training
    model.eval()
    correct1 = correct5 = total = 0
    num_classes = None
    try:
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x, y = _batch(batch, device, channels_last)
            with _autocast(device, dtype):
                logits = model(x)
            num_classes = logits.shape[1]
            top = logits.topk(min(5, num_classes), dim=1).indices
            hit = top == y[:, None]
            correct1 += int(hit[:, 0].sum())
            correct5 += int(hit.any(1).sum())
            total += len(y)
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("The validation loader yielded no batch.")
    return correct1 / total, (correct5 / total if num_classes >= 5 else None)


# ----------------------------------------------------------------------------- interrupts

class _DeferredInterrupt:
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


# ----------------------------------------------------------------------------- fit

def fit(model: nn.Module, train_loader: Iterable, epochs: int, optimizer: torch.optim.Optimizer,
        scheduler=None, val_loader: Iterable | None = None, device=None, amp="auto",
        channels_last: bool = False, checkpoint=None, resume: bool = False,
        max_steps_per_epoch: int | None = None, progress: bool = True,
        loss_fn: Callable = F.cross_entropy,
        callback: Callable[[int, History], None] | None = None,
        scheduler_step: str = "epoch") -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Parameters
    ----------
    model : a classifier ``[N, C, H, W] -> [N, K]`` raw scores; moved to ``device``.
    train_loader : iterable of ``(x [N, ...], y [N])`` batches, re-iterated every epoch.
    epochs : total number of epochs (with ``resume``, including those already done).
    optimizer : any torch optimizer over ``model``'s parameters.
    scheduler : stepped once at the end of every epoch (None: constant learning rate); with
        ``scheduler_step="batch"``, after every optimizer step instead (e.g. OneCycleLR).
    val_loader : evaluated after every epoch (top-1; top-5 with >= 5 classes).
    device : None -> "cuda" if available else "cpu".
    amp : "auto" (bf16 autocast on GPUs that have it, fp16 + GradScaler on older GPUs, off on
        the CPU), True (also bf16 on the CPU), False, "bf16" or "fp16".
    channels_last : use the channels-last memory format (faster convolutions on GPUs).
    checkpoint : a path; saved after every epoch and, on an interrupt, at the step where it
        stopped -- then the KeyboardInterrupt is re-raised.
    resume : continue from ``checkpoint`` if it exists (model, optimizer, scheduler, scaler,
        epoch, position inside the epoch, RNG states, history); start afresh if it does not.
        The result is bit-identical to an uninterrupted run when the loader is deterministic
        given the random generators (e.g. ``DataLoader(shuffle=True)``).
    max_steps_per_epoch : stop each epoch after this many batches (small CPU configurations).
    progress : a tqdm bar (loss, images/s) and one printed line per epoch; False is silent.
    loss_fn : ``loss_fn(logits, y) -> scalar``; default cross-entropy.
    callback : called as ``callback(epoch, history)`` after each epoch is saved.
    scheduler_step : "epoch" (default) or "batch": when ``scheduler.step()`` is called.
    """
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}.")
    epochs = validate.positive_int(epochs, "epochs", minimum=0)
    if max_steps_per_epoch is not None:
        validate.positive_int(max_steps_per_epoch, "max_steps_per_epoch")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint= (the path to continue from).")
    device = resolve_device(device)
    dtype = _amp_dtype(amp, device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    history, start_epoch, start_step, partial, epoch_rng = History(), 0, 0, None, None
    if resume and Path(checkpoint).exists():
        ckpt = load_checkpoint(checkpoint, model, optimizer, scheduler, scaler,
                               map_location=device)
        history, start_epoch = ckpt["history"], ckpt["epoch"]
        if start_epoch > epochs:
            raise ValueError(f"{checkpoint} has already trained {start_epoch} epochs, more than "
                             f"epochs={epochs}: pass epochs >= {start_epoch} (epochs counts the "
                             "epochs already done), or start afresh without resume.")
        start_step, partial = ckpt.get("step", 0), ckpt.get("partial")
        epoch_rng = ckpt.get("epoch_rng")
        if progress:
            where = f" (+{start_step} steps)" if start_step else ""
            # the file's name only: this line lands in book pages, a folder would be the machine's
            print(f"Resuming from {Path(checkpoint).name}: {start_epoch} epoch(s){where} done.")
        _set_rng_state(ckpt["rng"])
    elif resume and progress:
        print(f"No checkpoint {Path(checkpoint).name} yet: training from scratch.")

    def save(epoch, step=0, rng=None, **extra):
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, scaler, history, epoch,
                            rng=rng, step=step, **extra)

    with _DeferredInterrupt() as interrupt:
        for epoch in range(start_epoch, epochs):
            resumed_mid_epoch = epoch == start_epoch and start_step > 0
            if not resumed_mid_epoch:
                epoch_rng = _rng_state()
            # the generators as the last finished step left them: a batch fetched and then
            # dropped by an interrupt must not shift the random numbers of the resumed run
            rng_after_step = _rng_state() if resumed_mid_epoch else epoch_rng
            stats = dict(partial) if resumed_mid_epoch and partial else \
                {"loss_sum": 0.0, "images": 0, "train_seconds": 0.0,
                 "lr": float(optimizer.param_groups[0]["lr"])}
            step = start_step if resumed_mid_epoch else 0
            model.train()
            batches = _epoch_batches(train_loader, step, epoch_rng, resumed_mid_epoch)
            limit = max_steps_per_epoch if max_steps_per_epoch is not None else _len(train_loader)
            bar = tqdm(total=limit, initial=step, disable=not progress, leave=False,
                       desc=f"epoch {epoch + 1}/{epochs}")
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            t0 = time.perf_counter()
            try:
                while max_steps_per_epoch is None or step < max_steps_per_epoch:
                    try:
                        batch = next(batches)
                    except StopIteration:
                        break
                    except Exception:
                        if interrupt.requested:   # workers stopped by the same Ctrl-C
                            raise KeyboardInterrupt from None
                        raise
                    x, y = _batch(batch, device, channels_last)
                    with _autocast(device, dtype):
                        loss = loss_fn(model(x), y)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    if scheduler is not None and scheduler_step == "batch":
                        scheduler.step()
                    loss_sum += loss.detach().double() * len(y)
                    stats["images"] += len(y)
                    step += 1
                    if checkpoint is not None:
                        rng_after_step = _rng_state()
                    if progress and (step % 20 == 0 or step == limit):
                        seen = time.perf_counter() - t0 + stats["train_seconds"]
                        bar.set_postfix(loss=f"{loss.item():.4f}",
                                        img_s=f"{stats['images'] / max(seen, 1e-9):,.0f}")
                    bar.update(1)
                    if interrupt.requested:
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                bar.close()
                stats["loss_sum"] += float(loss_sum)
                stats["train_seconds"] += time.perf_counter() - t0
                if step == 0 and not resumed_mid_epoch:
                    save(epoch, rng=epoch_rng)        # nothing done in this epoch yet
                else:
                    save(epoch, step, rng=rng_after_step, partial=stats, epoch_rng=epoch_rng)
                if progress and checkpoint is not None:
                    print(f"Interrupted in epoch {epoch + 1} after {step} step(s); saved "
                          f"{checkpoint}. Run again with resume=True to continue.")
                raise
            bar.close()
            stats["loss_sum"] += float(loss_sum)
            stats["train_seconds"] += time.perf_counter() - t0
            if stats["images"] == 0:
                raise ValueError("The training loader yielded no batch in this epoch.")
            top1 = top5 = None
            t1 = time.perf_counter()
            if val_loader is not None:
                top1, top5 = evaluate(model, val_loader, device, amp, channels_last)
            if scheduler is not None and scheduler_step == "epoch":
                scheduler.step()
            history.epoch.append(epoch + 1)
            history.train_loss.append(stats["loss_sum"] / stats["images"])
            history.val_top1.append(top1)
            history.val_top5.append(top5)
            history.images_per_s.append(stats["images"] / max(stats["train_seconds"], 1e-9))
            history.seconds.append(stats["train_seconds"] + time.perf_counter() - t1)
            history.lr.append(stats["lr"])
            start_step = 0
            save(epoch + 1)
            if progress:
                print(history.line(-1, epochs))
            if callback is not None:
                callback(epoch + 1, history)
            if interrupt.requested:                   # Ctrl-C during validation
                if progress and checkpoint is not None:
                    print(f"Interrupted after epoch {epoch + 1}; saved {checkpoint}.")
                raise KeyboardInterrupt
    return history


def _len(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _epoch_batches(loader, skip: int, epoch_rng: dict | None, replay: bool):
    """An iterator over this epoch's batches. When resuming inside an epoch, the loader is
    re-created under the generators' state at the start of the epoch and ``skip`` batches
    are drawn and dropped, so the remaining ones are exactly those the interrupted run would
    have seen; the generators are then put back where the interruption left them."""
    if not replay:
        return iter(loader)
    now = _rng_state()
    _set_rng_state(epoch_rng)
    it = iter(loader)
    for _ in range(skip):
        next(it)
    _set_rng_state(now)
    return it
