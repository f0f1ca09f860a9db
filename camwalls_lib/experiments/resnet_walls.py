"""The walled residual networks of the wall-test benchmark, trained on MNIST and shipped.

:func:`train` fits a :class:`~camwalls_lib.networks.resnet.WalledResNet` (one epoch of
Adam with a one-cycle learning rate, about a minute of CPU); :func:`load` reads the weights
the library ships under ``shipped/resnet/`` (``weights_only=True``, SHA-256 checked, the wall
checked); ``python -m camwalls_lib.experiments.resnet_walls --out FOLDER`` re-creates them all:
``head`` and ``stage``, each with seeds 0, 1, 2 (the unwalled twin of a network is the same
weights without the wall, ``WalledResNet(variant, 0)``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .. import validate
from ..helpers import SHIPPED
from ..networks.resnet import VARIANTS, WalledResNet
from ..training.batches import TensorLoader
from ..training import evaluate, fit
from .mnist_walls import load_split

__all__ = ["RECIPE", "SEEDS", "FOLDER", "name_of", "train", "save", "load", "main"]

RECIPE = dict(epochs=1, batch_size=128, lr=1e-2, optimizer="adam+onecycle", version=2)
SEEDS = (0, 1, 2)
FOLDER = SHIPPED / "resnet"
"""Where the shipped weights live."""


def name_of(variant: str, walled: bool = True, seed: int = 0) -> str:
    """The file name of one network: ``head-walled-s0.pt``, ``stage-open-s0.pt``, ..."""
    return f"{variant}-{'walled' if walled else 'open'}-s{seed}.pt"


def train(variant: str = "head", walled: bool = True, seed: int = 0, max_train: int | None = None,
          progress: bool = False) -> tuple[WalledResNet, dict]:
    """Train one network on MNIST's training images (the first ``max_train`` only, if given).

    Returns the model (eval mode, CPU) and its record: ``accuracy`` on the 10,000 test
    images, ``seconds``, ``source`` (the training data), ``recipe``, ``seed``, ``variant``.
    """
    seed = validate.positive_int(seed, "seed", minimum=0)
    data, test = load_split("train"), load_split("test")
    x, y = data.tensors()
    if max_train is not None:
        n = validate.positive_int(max_train, "max_train")
        x, y = x[:n], y[:n]
    torch.manual_seed(seed)
    model = WalledResNet(variant, None if walled else 0)
    loader = TensorLoader(x, y, RECIPE["batch_size"], shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["lr"],
                                                    total_steps=RECIPE["epochs"] * len(loader))
    start = time.perf_counter()
    fit(model, loader, RECIPE["epochs"], optimizer, scheduler, device="cpu", progress=progress,
        scheduler_step="batch")
    seconds = time.perf_counter() - start
    xt, yt = test.tensors()
    accuracy, _ = evaluate(model, TensorLoader(xt, yt, 1000), device="cpu")
    record = {"variant": variant, "walled": walled, "seed": seed, "accuracy": accuracy,
              "seconds": round(seconds, 1), "n_train": len(y), "source": data.source,
              "recipe": RECIPE}
    return model.cpu().eval(), record


def save(model: WalledResNet, record: dict, path) -> Path:
    """Write the weights with their checksum and record, atomically."""
    return validate.atomic_save({**validate.sealed(model.state_dict()),
                                 "accuracy": record["accuracy"], "record": json.dumps(record)},
                                path)


def load(variant: str = "head", walled: bool = True, seed: int = 0,
         folder=None) -> tuple[WalledResNet, dict]:
    """A shipped network (eval mode) and its record, from ``folder`` (default :data:`FOLDER`).

    ``variant``: one of :data:`~camwalls_lib.networks.resnet.VARIANTS` (any case);
    ``walled``: True or False (a string such as ``"no"`` is refused, not read as True);
    ``seed``: an int >= 0. A file that holds another network's weights (another variant, or
    the twin with or without the wall) is a :class:`~camwalls_lib.errors.CorruptFile` naming it.
    """
    variant = validate.choice(variant, "variant", VARIANTS)
    walled = validate.boolean(walled, "walled")
    seed = validate.positive_int(seed, "seed", minimum=0)
    path = Path(folder if folder is not None else FOLDER) / name_of(variant, walled, seed)
    fix = "re-create it with `python -m camwalls_lib.experiments.resnet_walls --out FOLDER`"
    what = "walled residual network" if walled else "unwalled residual network"
    blob = validate.load_tensors(path, what, fix)
    state = validate.unsealed(blob, path, what, fix)
    try:
        record = json.loads(blob["record"])
        made = (record["variant"], record["walled"], record["seed"])
    except (KeyError, TypeError, ValueError) as e:
        raise validate.CorruptFile(f"The {what} {path} lacks its record; {fix}.") from e
    if made != (variant, walled, seed):
        raise validate.CorruptFile(
            f"{path} holds the weights of {name_of(*made)}, not of {path.name} (a file copied "
            f"or renamed?); {fix}.")
    model = WalledResNet(variant, None if walled else 0)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise validate.CorruptFile(f"{path} does not fit the {variant} network "
                                   f"({str(e).splitlines()[0][:160]}); {fix}.") from e
    return model.eval(), record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m camwalls_lib.experiments.resnet_walls",
                                description="Train the wall-test benchmark's residual networks "
                                            "on MNIST (head and stage, seeds 0-2).")
    p.add_argument("--out", required=True, type=validate.existing_dir_arg,
                   help="existing folder for the .pt files")
    p.add_argument("--max-train", type=validate.count_arg,
                   help="train on the first N images only")
    a = p.parse_args(argv)
    jobs = [(variant, True, s) for variant in VARIANTS for s in SEEDS]
    for variant, walled, seed in jobs:
        with validate.usage_errors(p):          # a refusal: one line and status 2
            model, record = train(variant, walled, seed, a.max_train)
            save(model, record, Path(a.out) / name_of(variant, walled, seed))
        print(f"{name_of(variant, walled, seed)}: test accuracy {100 * record['accuracy']:.2f} % "
              f"({record['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
