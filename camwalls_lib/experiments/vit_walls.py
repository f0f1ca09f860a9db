"""The walled vision transformer of chapter 14: the book's configuration, trained on MNIST.

:data:`ARCH` and :func:`make_vit` give the book's :class:`~camwalls_lib.networks.vit.WalledViT`
(7 x 7 patches, the lowest two patch rows walled); :func:`train_walled_vit` trains a walled
model or its unwalled twin on MNIST with :func:`camwalls_lib.training.fit` and caches it, like
:func:`camwalls_lib.experiments.mnist_walls.train_walled_mnist`.

Command line: ``python -m camwalls_lib.experiments.vit_walls [--no-wall]``, or the same under
``torchrun --nproc_per_node=N -m ...`` (the number of processes then enters the cache key).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys

import torch
import torch.nn as nn

from .. import distributed, validate
from ..errors import BadValue, CorruptFile
from ..helpers import cache_dir, cached_files, resolve_device
from ..networks.vit import WalledViT
from ..training import TensorLoader, evaluate, fit, load_checkpoint, save_checkpoint
from ..walls import Wall
from .mnist_walls import Trained, load_split

__all__ = ["ARCH", "RECIPE", "default_wall", "make_vit", "train_walled_vit", "parameter_count"]


ARCH = dict(patch=4, dim=48, depth=3, heads=4, mlp_ratio=2)
"""The book's ViT: 7 x 7 patches of 4 x 4 pixels, 3 blocks of width 48 (about 60k weights)."""

RECIPE = dict(batch_size=128, lr=3e-3, weight_decay=0.05, epochs=3,
              optimizer="adamw+onecycle", version=1)
"""AdamW with a one-cycle learning rate (peak ``lr``) for ``epochs`` epochs."""


def default_wall() -> Wall:
    """The lowest two of the seven patch rows: input rows 20..27 are dead."""
    return Wall.bottom(2)


def make_vit(wall: Wall | None | str = "default", **arch) -> WalledViT:
    """An untrained :class:`WalledViT` with :data:`ARCH` (overridden by ``arch``) and
    ``wall`` ("default" for :func:`default_wall`, a Wall, or None)."""
    if isinstance(wall, str):
        if wall != "default":
            raise BadValue(f"wall must be a Wall, None or 'default', got {wall!r}.")
        wall = default_wall()
    return WalledViT(wall=wall, **{**ARCH, **arch})


def train_walled_vit(wall: Wall | None | str = "default", seed: int = 0,
                     epochs: int | None = None, max_train: int | None = None, device=None,
                     cache: bool = True, progress: bool = True) -> Trained:
    """Train (or load from the cache) a :data:`ARCH` ViT with ``wall`` on MNIST.

    ``wall``: "default" (:func:`default_wall`), a Wall on the 7 x 7 patch grid, or None for
    the unwalled twin. ``epochs`` defaults to ``RECIPE["epochs"]``; ``max_train`` uses only
    the first training images (tests). With ``cache`` the checkpoint
    ``cache_dir()/vit/vit-<walled|open>-<hash>.pt`` is written after every epoch (atomically)
    and an interrupted run resumes from it; a finished one is loaded (``weights_only``), from
    the cache or from the models the library ships (:func:`~camwalls_lib.helpers.cached_file`).
    """
    model = make_vit(wall)
    train, test = load_split("train"), load_split("test")
    n_train = len(train) if max_train is None else min(max_train, len(train))
    epochs = epochs or RECIPE["epochs"]
    source = train.source + (f"; first {n_train:,} used" if n_train < len(train) else "")
    config = {"family": "ViT", "arch": ARCH, "seed": seed, "epochs": epochs,
              "wall": None if model.wall is None else dataclasses.asdict(model.wall),
              "n_train": n_train, "train_source_full": train.full, **RECIPE}
    world = distributed.current()
    if world.size > 1:             # several processes add the gradients in another order
        config["processes"] = world.size
    key = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    name = f"vit/vit-{'walled' if model.wall else 'open'}-{key}.pt"
    path = cache_dir() / name
    for found in cached_files(name) if cache else []:    # a damaged copy: try the next one
        try:
            done = load_checkpoint(found, model)
        except CorruptFile as e:
            print(f"Cached model {found.name} is unreadable ({e}); trying the next copy, else "
                  "training.")
            continue
        if "accuracy" in done:
            model.eval()
            return Trained(model, done["accuracy"], done["seconds"], source, True,
                           config, done["history"], found)
    torch.manual_seed(seed)
    model = make_vit(wall)
    x, y = train.tensors()
    loader = TensorLoader(x[:n_train], y[:n_train], RECIPE["batch_size"], shuffle=True,
                          world=world)
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["lr"],
                                  weight_decay=RECIPE["weight_decay"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["lr"],
                                                    total_steps=epochs * len(loader))
    history = fit(model, loader, epochs, optimizer, scheduler, device=resolve_device(device),
                  checkpoint=path if cache else None, resume=cache, progress=progress,
                  scheduler_step="batch")
    seconds = history.total_seconds                      # every epoch, resumed ones too
    xt, yt = test.tensors()
    accuracy, _ = evaluate(model, TensorLoader(xt, yt, 1000 * world.size, world=world,
                                               even=False), device=device)
    model.cpu().eval()
    if cache and world.main:
        save_checkpoint(path, model, optimizer, scheduler, history=history, epoch=epochs,
                        accuracy=accuracy, seconds=seconds, source=source,
                        world_size=world.size)
    distributed.barrier()                  # the cache file exists before any rank goes on
    return Trained(model, accuracy, seconds, source, False, config, history, path)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable weights."""
    model = validate.module(model)
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m camwalls_lib.experiments.vit_walls",
                                description="Train (or load from the cache) the walled ViT.")
    p.add_argument("--no-wall", action="store_true", help="the unwalled twin")
    p.add_argument("--epochs", type=validate.count_arg, help=f"epochs ({RECIPE['epochs']})")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    a = p.parse_args(argv)
    world, device = distributed.setup(a.device)        # torchrun: join its process group
    try:
        with validate.usage_errors(p):          # a refusal: one line and status 2
            trained = train_walled_vit(None if a.no_wall else "default", epochs=a.epochs,
                                       device=device, progress=world.main)
    finally:
        distributed.teardown()
    if world.main:
        print(trained)
    return 0


if __name__ == "__main__":
    sys.exit(main())
