"""Walled toy CNNs trained on MNIST, cached on disk: the models of the book's "play" part.

:func:`train_walled_mnist` trains the paper's [CNN] (:class:`~camwalls_lib.networks.models.ToyCNN`)
with a wall on the pooled map -- by default the lower third, ``Wall.bottom(4)`` of the 12 x 12
map -- or without one (``wall=None``, the baseline), and caches the weights under
``$CAMWALLS_CACHE`` (default ``~/.cache/camwalls``) in a file named after a hash of the whole
configuration: change anything and it retrains, change nothing and it loads in milliseconds.

Two variants:

- ``"toy"``: ``conv 5x5 (V=32) -> ReLU -> max-pool 2 -> one dense layer`` (the paper's L = 1),
  with biases;
- ``"deep"``: ``conv 5x5 (V=8) -> ReLU -> max-pool 2`` then a second block ``conv 5x5 (16,
  padding 2) -> ReLU -> max-pool 2``, whose 6 x 6 map gets the wall (lower third: 2 rows).

Offline, MNIST's training split is the 19,690-image fallback (see :mod:`camwalls_lib.data`);
the result's ``source`` says which data trained the model -- print it with every number.

Reproducibility: a run is determined by ``seed`` (initialisation, data order, augmentation)
*and* by the PyTorch version, the device type and, on the CPU, the number of intra-op threads
(``torch.get_num_threads()``: the order in which a convolution's gradient sums its terms
depends on it). Two CPU runs that agree on all four give bit-identical weights, in one
process or in two. One thread against two gives weights that differ in their last bits (a
4,000-image epoch: at most 4e-7 apart, same test accuracy); differences can grow over a long
run. The GPU and other PyTorch versions were not compared here and are assumed to differ too.
All four are part of the cache key, so a cached model is only reused where it would have been
trained to the same bits. The cache file is written atomically and holds a
SHA-256 of its weights; a damaged or truncated one is retrained with a one-line notice.

Command line: ``python -m camwalls_lib.experiments.mnist_walls [--variant deep] [--no-wall]``,
or the same under ``torchrun --nproc_per_node=N -m ...`` (N processes share each batch; the
number of processes is then part of the cache key, since it changes the bits).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import distributed, validate
from ..data.mnist import load_mnist
from ..errors import BadType, BadValue
from ..helpers import SHIPPED, cache_dir, cached_files, eval_mode, resolve_device
from ..networks.models import ToyCNN
from ..walls import Wall
from ..training import History, TensorLoader, evaluate, fit

__all__ = ["VARIANTS", "Trained", "make_model", "default_wall", "train_walled_mnist",
           "load_split", "randomize_dead_zone", "invariance_gap"]

VARIANTS: dict[str, dict] = {
    "toy": dict(V=32, k=5, k_pool=2, hidden=(), bias=True),
    "deep": dict(V=8, k=5, k_pool=2, hidden=(), bias=True, extra_convs=(16,)),
}
"""The architectures, as keyword arguments of :class:`~camwalls_lib.networks.models.ToyCNN`."""

RECIPE = dict(batch_size=128, lr=1e-2, images=118_000, optimizer="adam+onecycle", version=1)
"""Adam with a one-cycle learning rate (peak ``lr``), ``images`` training images in all
(about 2 epochs of the full 60,000, 6 of the 19,690-image fallback)."""


@functools.lru_cache(maxsize=2)
def load_split(split: str):
    """:func:`camwalls_lib.data.load_mnist`, read once per process (offline, each call first
    tries a download that takes seconds to fail)."""
    return load_mnist(split)


def default_wall(variant: str = "toy") -> Wall:
    """The lower third of the variant's pooled map: ``Wall.bottom(4)`` of 12 rows (toy),
    ``Wall.bottom(2)`` of 6 (deep)."""
    rows = make_model(variant, None).features(torch.zeros(1, 1, 28, 28)).shape[-2]
    return Wall.bottom(rows // 3)


def make_model(variant: str = "toy", wall: Wall | None | str = "lower third") -> ToyCNN:
    """An untrained model of ``variant`` with ``wall`` ("lower third", a Wall, or None)."""
    if variant not in VARIANTS:
        raise BadValue(f"variant must be one of {list(VARIANTS)}, got {variant!r}.")
    if isinstance(wall, str):
        if wall != "lower third":
            raise BadValue(f"wall must be a Wall, None or 'lower third', got {wall!r}.")
        wall = default_wall(variant)
    elif wall is not None and not isinstance(wall, Wall):
        raise BadType(f"wall must be a Wall (e.g. Wall.bottom(4)), None or 'lower third', "
                      f"got {type(wall).__name__} {wall!r}.")
    return ToyCNN(wall=wall, **VARIANTS[variant])


@dataclass
class Trained:
    """A trained model (a :class:`~camwalls_lib.networks.models.ToyCNN` here, a
    :class:`~camwalls_lib.networks.vit.WalledViT` of :mod:`camwalls_lib.experiments.vit_walls`)
    and how it was obtained.

    ``accuracy``: top-1 on the official 10,000 MNIST test images; ``seconds``: training
    time when it was trained (also reported when loaded from the cache, with
    ``cached=True``); ``source``: the training data (fallback or full).
    """

    model: torch.nn.Module
    accuracy: float
    seconds: float
    source: str
    cached: bool
    config: dict
    history: History = field(default_factory=History)
    path: Path | None = None

    def __str__(self) -> str:
        """What a reader needs: the network, its wall, its test accuracy and its data."""
        wall = self.config["wall"] or "no wall"
        name = self.config.get("family") or f"{self.config['variant']} CNN"
        return (f"{name}, {wall}: test accuracy {100 * self.accuracy:.1f} %, "
                f"trained on {self.source}")


def _wall_key(wall: Wall | None):
    return None if wall is None else {"rows": wall.rows, "cols": wall.cols}


def _shift(s: int):
    """Augmentation: move each image by a random offset in [-s, s]^2 (zero padding)."""
    def transform(x, y):
        N, _, H, W = x.shape
        xp = torch.nn.functional.pad(x, (s, s, s, s))
        dy, dx = torch.randint(0, 2 * s + 1, (N,)), torch.randint(0, 2 * s + 1, (N,))
        rows = (dy[:, None] + torch.arange(H))[:, :, None]
        cols = (dx[:, None] + torch.arange(W))[:, None, :]
        return xp[torch.arange(N)[:, None, None], 0, rows, cols][:, None], y
    return transform


def train_walled_mnist(wall: Wall | None | str = "lower third", variant: str = "toy",
                       seed: int = 0, images: int | None = None, max_train: int | None = None,
                       shift: int = 0, device=None, cache: bool = True,
                       progress: bool = True) -> Trained:
    """Train (or load from the cache) a ``variant`` CNN with ``wall`` on MNIST.

    Parameters
    ----------
    wall : "lower third" (default), a :class:`~camwalls_lib.walls.Wall` on the pooled map, or
        None for the unwalled baseline.
    variant : "toy" or "deep" (see :data:`VARIANTS`).
    seed : initialisation and data order.
    images : training images seen in all (default ``RECIPE["images"]``); the number of epochs
        is ``ceil(images / training set size)``.
    max_train : use only the first ``max_train`` training images (quick runs, tests).
    shift : random translation augmentation of up to ``shift`` pixels (0: none).
    device : None -> GPU if available.
    cache : read/write ``cache_dir()/mnist/<variant>-<hash>.pt``; the hash covers the whole
        configuration and what else changes the bits (PyTorch version, device type, threads).
        A model the library ships under that name is read instead of training
        (:func:`~camwalls_lib.helpers.cached_file`).
    """
    model = make_model(variant, wall)
    seed = validate.positive_int(seed, "seed", minimum=0)
    images = RECIPE["images"] if images is None else validate.positive_int(images, "images")
    shift = validate.positive_int(shift, "shift", minimum=0)
    if max_train is not None:
        validate.positive_int(max_train, "max_train")
    train, test = load_split("train"), load_split("test")
    n_train = len(train) if max_train is None else min(max_train, len(train))
    epochs = max(1, math.ceil(images / n_train))
    source = train.source + (f"; first {n_train:,} used" if n_train < len(train) else "")
    device = resolve_device(device)
    world = distributed.current()
    config = {"variant": variant, "arch": VARIANTS[variant], "wall": _wall_key(model.wall),
              "seed": seed, "epochs": epochs, "n_train": n_train, "shift": shift,
              "train_source_full": train.full, **RECIPE, **bits_key(device)}
    if world.size > 1:             # several processes add the gradients in another order
        config["processes"] = world.size
    key = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
    name = f"mnist/{variant}-{'walled' if model.wall else 'open'}-{key}.pt"
    path = cache_dir() / name
    for found in cached_files(name) if cache else []:    # a damaged copy: try the next one
        blob = _read_cached(found, model)
        if blob is not None:
            return Trained(model.eval(), blob["accuracy"], blob["seconds"], source, True,
                           config, History.from_dict(blob["history"]), found)
    torch.manual_seed(seed)
    model = make_model(variant, wall)
    x, y = train.tensors()
    x, y = x[:n_train], y[:n_train]
    loader = TensorLoader(x, y, RECIPE["batch_size"], shuffle=True,
                          transform=_shift(shift) if shift else None, world=world)
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["lr"],
                                                    total_steps=epochs * len(loader))
    start = time.perf_counter()
    history = fit(model, loader, epochs, optimizer, scheduler, device=device,
                  progress=progress, scheduler_step="batch")
    seconds = time.perf_counter() - start
    xt, yt = test.tensors()
    accuracy, _ = evaluate(model, TensorLoader(xt, yt, 1000 * world.size, world=world,
                                               even=False), device=device)
    model.cpu().eval()
    if cache and world.main:
        state = model.state_dict()
        validate.atomic_save({**validate.sealed(state), "accuracy": accuracy, "seconds": seconds,
                              "source": source, "history": history.to_dict(),
                              "config": json.dumps(config)}, path)
    distributed.barrier()                  # the cache file exists before any rank goes on
    return Trained(model, accuracy, seconds, source, False, config, history, path)


def bits_key(device) -> dict:
    """What besides the configuration changes a trained model's bits: the PyTorch version, the
    device type and (on the CPU) the number of intra-op threads."""
    device = torch.device(device)
    return {"torch": torch.__version__.split("+")[0], "device": device.type,
            "threads": torch.get_num_threads() if device.type == "cpu" else None}


def _read_cached(path: Path, model: ToyCNN) -> dict | None:
    """The cached blob, loaded into ``model``; None (with a one-line notice) when the file is
    damaged, truncated or from another architecture -- the caller then retrains."""
    try:
        what, fix = "cached model", "it will be retrained"
        blob = validate.load_tensors(path, what, fix)
        state = validate.unsealed(blob, path, what, fix)
        if not {"accuracy", "seconds", "source", "history"} <= set(blob):
            raise validate.CorruptFile(f"{path} lacks entries of a cached model")
        model.load_state_dict(state)
    except (validate.CorruptFile, RuntimeError) as e:
        where = "shipped copy" if path.is_relative_to(SHIPPED) else "cache folder"
        print(f"Cached model {path.name} ({where}) is unreadable ({type(e).__name__}): "
              "trying the next copy, else retraining.")
        return None
    return blob


# ----------------------------------------------------------------------------- the wall holds

def randomize_dead_zone(x: torch.Tensor, zone: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``x [N, C, H, W]`` with every dead pixel (``zone [H, W]`` True) replaced by uniform
    noise in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(x.shape, generator=g).to(x)
    return torch.where(zone.to(x.device), noise, x)


@torch.no_grad()
def invariance_gap(model, x: torch.Tensor, zone: torch.Tensor, trials: int = 3) -> float:
    """``max |logits(x) - logits(x with random dead pixels)|`` over ``trials`` draws.

    0 up to floating-point rounding (a convolution may sum the same terms in another order
    when its input changes) if the dead zone is truly dead.
    """
    with eval_mode(model):
        ref = model(x)
        return max(float((model(randomize_dead_zone(x, zone, seed=t)) - ref).abs().max())
                   for t in range(trials))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m camwalls_lib.experiments.mnist_walls",
                                description="Train (or load from the cache) a walled MNIST CNN.")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="toy")
    p.add_argument("--no-wall", action="store_true", help="the unwalled baseline")
    p.add_argument("--images", type=validate.count_arg, help=f"training images seen ({RECIPE['images']:,})")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    a = p.parse_args(argv)
    world, device = distributed.setup(a.device)        # torchrun: join its process group
    try:
        with validate.usage_errors(p):          # a refusal: one line and status 2
            trained = train_walled_mnist(None if a.no_wall else "lower third", a.variant,
                                         images=a.images, device=device, progress=world.main)
    finally:
        distributed.teardown()
    if world.main:
        print(trained)
    return 0


if __name__ == "__main__":
    sys.exit(main())
