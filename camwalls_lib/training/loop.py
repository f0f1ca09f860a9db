"""A small, honest training loop: one function, :func:`fit`, for every model in the book
(its measure of accuracy, :func:`~.accuracy.evaluate`, has its own module).

``fit`` trains any classifier ``[N, C, H, W] -> [N, K]`` on a loader of ``(x, y)`` batches,
validates it every epoch (top-1, and top-5 when there are at least 5 classes), shows a tqdm bar
and prints one line per epoch. With ``checkpoint=`` it saves everything needed to go on
(:mod:`.checkpoint`) after each epoch and when interrupted (Ctrl-C, or a kernel interrupt in
Jupyter); with ``resume=True`` it continues from there and ends in *the same bits* as a run
that was never interrupted (tested on the CPU). Its steps: :func:`_resume`,
:func:`_train_epoch` (of :func:`_step` s), :func:`_record_epoch`.

Under ``torchrun`` (a process group joined with :func:`camwalls_lib.distributed.setup`) the
same function trains with ``DistributedDataParallel``: every rank gets rank 0's random
generators and a shard of the data (:class:`~.batches.TensorLoader` with ``world=``, or a
``DataLoader`` with a ``DistributedSampler``), the gradients are averaged over the ranks at
every step, the loss, the image counts and a Ctrl-C are summed over them, and rank 0 alone
prints and writes the checkpoint, which records the world size. A plain run is world size 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import distributed, validate
from ..helpers import resolve_device
from .accuracy import evaluate
from .batches import amp_dtype, autocast, epoch_batches, loader_length, shards, to_device
from .checkpoint import (DeferredInterrupt, History, load_checkpoint, rng_state, save_checkpoint,
                         set_rng_state)

__all__ = ["fit"]


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
    callback : called as ``callback(epoch, history)`` after each epoch is saved (on rank 0
        only under torchrun).
    scheduler_step : "epoch" (default) or "batch": when ``scheduler.step()`` is called.
    """
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}.")
    epochs = validate.positive_int(epochs, "epochs", minimum=0)
    if max_steps_per_epoch is not None:
        validate.positive_int(max_steps_per_epoch, "max_steps_per_epoch")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint= (the path to continue from).")
    world = distributed.current()
    _require_sharded(train_loader, world)
    device = resolve_device(device)
    dtype = amp_dtype(amp, device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    run = _Run(model, optimizer, scheduler,
               torch.amp.GradScaler(device.type, enabled=dtype == torch.float16), History(),
               checkpoint, device, dtype, channels_last, loss_fn, scheduler_step,
               progress and world.main, world, model)
    if world.size > 1:
        set_rng_state(distributed.broadcast_object(rng_state()))   # one stream for all ranks
    start = _resume(run, epochs) if resume else _Start()
    if world.size > 1:
        run.net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    with DeferredInterrupt() as interrupt:
        for epoch in range(start.epoch, epochs):
            mid_epoch = epoch == start.epoch and start.step > 0
            stats = _train_epoch(run, train_loader, epoch, epochs, start if mid_epoch else None,
                                 max_steps_per_epoch, interrupt)
            _record_epoch(run, epoch, epochs, stats, val_loader, amp)
            if callback is not None and world.main:
                callback(epoch + 1, run.history)
            if distributed.any_rank(interrupt.requested):        # Ctrl-C during validation
                if run.progress and checkpoint is not None:
                    print(f"Interrupted after epoch {epoch + 1}; saved {checkpoint}.")
                raise KeyboardInterrupt
    return run.history


def _require_sharded(loader, world: distributed.World) -> None:
    """Under torchrun each rank must read its own share of the data."""
    if world.size > 1 and shards(loader) != world.size:
        raise ValueError(
            f"fit runs on {world.size} processes but the training loader is not sharded over "
            f"them, so every rank would train on the same images: build it as "
            f"TensorLoader(..., world=distributed.current()) or as a DataLoader with "
            f"sampler=DistributedSampler(dataset) (batch_size then per rank).")


@dataclass
class _Run:
    """What every step of :func:`fit` works on."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    history: History
    checkpoint: object
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool
    loss_fn: Callable
    scheduler_step: str
    progress: bool
    world: distributed.World
    net: nn.Module            # what the steps call: the model, or its DDP wrapper

    def save(self, epoch, step=0, rng=None, **extra):
        if self.checkpoint is not None and self.world.main:
            save_checkpoint(self.checkpoint, self.model, self.optimizer, self.scheduler,
                            self.scaler, self.history, epoch, rng=rng, step=step,
                            world_size=self.world.size, **extra)


@dataclass
class _Start:
    """Where a run starts: epoch, step inside it, the epoch's partial sums and generators."""

    epoch: int = 0
    step: int = 0
    partial: dict | None = None
    epoch_rng: dict | None = None


def _resume(run: _Run, epochs: int) -> _Start:
    """Load ``run.checkpoint`` if it exists (every generator included) and say where to go on."""
    path = Path(run.checkpoint)
    if not path.exists():
        if run.progress:
            print(f"No checkpoint {path.name} yet: training from scratch.")
        return _Start()
    ckpt = load_checkpoint(path, run.model, run.optimizer, run.scheduler, run.scaler,
                           map_location=run.device)
    run.history, done = ckpt["history"], ckpt["epoch"]
    saved_world = ckpt.get("world_size", 1)
    if saved_world != run.world.size:
        raise ValueError(
            f"{path.name} was written by a run on {saved_world} process(es); this run has "
            f"{run.world.size}. An exact resume needs the same world size: run again with "
            f"torchrun --nproc_per_node={saved_world} (or one process when it is 1), or "
            "start afresh without resume.")
    if done > epochs:
        raise ValueError(f"{run.checkpoint} has already trained {done} epochs, more than "
                         f"epochs={epochs}: pass epochs >= {done} (epochs counts the "
                         "epochs already done), or start afresh without resume.")
    start = _Start(done, ckpt.get("step", 0), ckpt.get("partial"), ckpt.get("epoch_rng"))
    if run.progress:
        where = f" (+{start.step} steps)" if start.step else ""
        # the file's name only: this line lands in book pages, a folder would be the machine's
        print(f"Resuming from {path.name}: {done} epoch(s){where} done.")
    set_rng_state(ckpt["rng"])
    return start


def _train_epoch(run: _Run, loader, epoch: int, epochs: int, resumed: _Start | None,
                 max_steps: int | None, interrupt: DeferredInterrupt) -> dict:
    """One epoch of optimizer steps (from ``resumed.step`` when resuming inside it); on an
    interrupt, save where it stopped and re-raise. Returns the epoch's sums."""
    epoch_rng = resumed.epoch_rng if resumed else rng_state()
    # the generators as the last finished step left them: a batch fetched and then
    # dropped by an interrupt must not shift the random numbers of the resumed run
    rng_after_step = rng_state() if resumed else epoch_rng
    stats = dict(resumed.partial) if resumed and resumed.partial else \
        {"loss_sum": 0.0, "images": 0, "train_seconds": 0.0,
         "lr": float(run.optimizer.param_groups[0]["lr"])}
    step = resumed.step if resumed else 0
    run.model.train()
    if hasattr(getattr(loader, "sampler", None), "set_epoch"):
        loader.sampler.set_epoch(epoch)           # DistributedSampler: this epoch's shuffle
    batches = epoch_batches(loader, step, epoch_rng, resumed is not None)
    limit = max_steps if max_steps is not None else loader_length(loader)
    bar = tqdm(total=limit, initial=step, disable=not run.progress, leave=False,
               desc=f"epoch {epoch + 1}/{epochs}")
    loss_sum = torch.zeros((), device=run.device, dtype=torch.float64)
    t0 = time.perf_counter()
    try:
        while max_steps is None or step < max_steps:
            batch = _next_batch(batches, interrupt)
            if batch is None:
                break
            loss, n = _step(run, batch)
            stop = interrupt.requested
            if run.world.size > 1:     # the step's loss, images and any Ctrl-C, over all ranks
                loss_part, n, stop = distributed.sum_numbers(
                    float(loss.detach().double()) * n, n, float(stop))
                loss_sum += loss_part
                n, stop = int(n), stop > 0
            else:
                loss_sum += loss.detach().double() * n
            stats["images"] += n
            step += 1
            if run.checkpoint is not None:
                rng_after_step = rng_state()
            if run.progress and (step % 20 == 0 or step == limit):
                seen = time.perf_counter() - t0 + stats["train_seconds"]
                bar.set_postfix(loss=f"{loss.item():.4f}",
                                img_s=f"{stats['images'] / max(seen, 1e-9):,.0f}")
            bar.update(1)
            if stop:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        stats["loss_sum"] += float(loss_sum)
        stats["train_seconds"] += time.perf_counter() - t0
        if step == 0 and resumed is None:
            run.save(epoch, rng=epoch_rng)        # nothing done in this epoch yet
        else:
            run.save(epoch, step, rng=rng_after_step, partial=stats, epoch_rng=epoch_rng)
        distributed.barrier()                     # no rank exits before rank 0 has saved
        if run.progress and run.checkpoint is not None:
            print(f"Interrupted in epoch {epoch + 1} after {step} step(s); saved "
                  f"{run.checkpoint}. Run again with resume=True to continue.")
        raise
    bar.close()
    stats["loss_sum"] += float(loss_sum)
    stats["train_seconds"] += time.perf_counter() - t0
    if stats["images"] == 0:
        raise ValueError("The training loader yielded no batch in this epoch.")
    return stats


def _next_batch(batches, interrupt: DeferredInterrupt):
    """The next batch, or None at the end of the epoch."""
    try:
        return next(batches)
    except StopIteration:
        return None
    except Exception:
        if interrupt.requested:   # workers stopped by the same Ctrl-C
            raise KeyboardInterrupt from None
        raise


def _step(run: _Run, batch) -> tuple[torch.Tensor, int]:
    """One optimizer step on ``batch``: ``(loss, number of images)``."""
    x, y = to_device(batch, run.device, run.channels_last)
    with autocast(run.device, run.dtype):
        loss = run.loss_fn(run.net(x), y)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.scheduler is not None and run.scheduler_step == "batch":
        run.scheduler.step()
    return loss, len(y)


def _record_epoch(run: _Run, epoch: int, epochs: int, stats: dict, val_loader, amp) -> None:
    """Validate, step an epoch scheduler, append the epoch to the history, save, print."""
    top1 = top5 = None
    t1 = time.perf_counter()
    if val_loader is not None:
        top1, top5 = evaluate(run.model, val_loader, run.device, amp, run.channels_last)
    if run.scheduler is not None and run.scheduler_step == "epoch":
        run.scheduler.step()
    h = run.history
    h.epoch.append(epoch + 1)
    h.train_loss.append(stats["loss_sum"] / stats["images"])
    h.val_top1.append(top1)
    h.val_top5.append(top5)
    h.images_per_s.append(stats["images"] / max(stats["train_seconds"], 1e-9))
    h.seconds.append(stats["train_seconds"] + time.perf_counter() - t1)
    h.lr.append(stats["lr"])
    run.save(epoch + 1)
    if run.progress:
        print(h.line(-1, epochs))
