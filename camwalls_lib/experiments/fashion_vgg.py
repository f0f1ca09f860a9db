"""The paper's masked [VGG] trained on Fashion-MNIST at the paper's geometry, and its unwalled
twin.

Geometry as in the paper: 224 x 224 input (Fashion-MNIST items upsampled, grey replicated to
three channels: :func:`camwalls_lib.data.fashion.to_vgg_input`), conv5_3 with 256 maps scaled by
``width``, the first dense layer walled on the lowest 9 of the 14 rows, dead zone rows
170..223. The shipped recipe trains a width-1/16 network on all 60,000 training items for five
epochs with AdamW and a one-cycle learning rate (the paper's kind of recipe, SGD with momentum
and a step schedule, is ``optimizer="sgd", schedule="step"``); the wall is re-applied exactly
at every forward pass (:class:`~camwalls_lib.walls.WalledLinear`). The twin is the same
network with an ordinary dense layer, trained from the same seed on the same batches.

- :func:`unwalled_vgg16` -- the twin.
- :func:`train_pair` -- trains one or both with :func:`camwalls_lib.training.fit` (checkpoints,
  exact resume, AMP and channels-last on a GPU) and writes the weights, a JSON record and a
  text log.
- :func:`load_trained` -- the shipped weights (``weights_only=True``, SHA-256 checked).
- Command line: ``python -m camwalls_lib.experiments.fashion_vgg --out DIR [--resume] [--train N]
  [--epochs E] [--width W] [--device cuda]``; the same under
  ``torchrun --nproc_per_node=N -m camwalls_lib.experiments.fashion_vgg ...`` trains on N
  processes (the batch of the recipe is the global batch; rank 0 writes every file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import distributed, validate
from ..data.fashion import load_fashion, to_vgg_input
from ..errors import BadValue
from ..helpers import resolve_device
from ..networks.models import MaskedVGG, masked_vgg16
from ..training import TensorLoader, evaluate, fit
from ..walls import require_walled_state, wall_is_exact

__all__ = ["FashionRecipe", "RECIPE", "unwalled_vgg16", "build", "train_one", "train_pair",
           "load_trained", "ASSETS", "main"]

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "fashion_vgg"
"""Where the shipped weights, record and log live."""


@dataclass(frozen=True)
class FashionRecipe:
    """Everything a run depends on (stored in the record beside the weights)."""

    train_items: int = 60_000    # first N items of the 60,000-item training set
    test_items: int = 10_000     # first N items of the test set, for the final accuracy
    val_items: int = 1000        # first N test items, evaluated after every epoch
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adamw"     # "adamw" or "sgd" (with momentum)
    schedule: str = "onecycle"   # "onecycle" (per step, peak lr) or "step" (StepLR per epoch)
    lr: float = 1e-3             # the peak learning rate of the one-cycle schedule
    momentum: float = 0.9        # SGD only
    weight_decay: float = 0.05
    step_size: int = 2           # "step" only: StepLR(step_size, gamma), once per epoch
    gamma: float = 0.1
    width: float = 1 / 16
    seed: int = 0
    amp: str | bool = "auto"     # bf16 on a GPU that has it, off on the CPU (train.fit)
    channels_last: bool = True

    def __post_init__(self):
        for field, known in (("optimizer", ("adamw", "sgd")), ("schedule", ("onecycle", "step"))):
            value = validate.choice(getattr(self, field), f"FashionRecipe {field}", known)
            object.__setattr__(self, field, value)        # frozen: store the registry spelling


RECIPE = FashionRecipe()


def unwalled_vgg16(**kwargs) -> MaskedVGG:
    """:func:`~camwalls_lib.networks.models.masked_vgg16` with an ordinary ``nn.Linear`` as
    first dense layer (same shapes and state_dict keys, no wall): the paper's baseline."""
    model = masked_vgg16(**kwargs)
    walled = model.classifier[1]
    plain = nn.Linear(walled.in_features, walled.out_features)
    nn.init.normal_(plain.weight, 0, 0.01)
    nn.init.zeros_(plain.bias)
    model.classifier[1] = plain
    model.wall = None          # no wall: dead_zone is empty
    return model


def build(walled: bool, recipe: FashionRecipe = RECIPE) -> MaskedVGG:
    """The untrained network of a recipe (10 classes, 224 x 224), seeded by ``recipe.seed``."""
    torch.manual_seed(recipe.seed)
    make = masked_vgg16 if walled else unwalled_vgg16
    model = make(num_classes=10, width=recipe.width, input_size=224)
    _rescale_dense_init(model)
    return model


@torch.no_grad()
def _rescale_dense_init(model: MaskedVGG) -> None:
    """Kaiming-normal (fan-in) dense layers instead of torchvision's N(0, 0.01).

    N(0, 0.01) suits 4096-wide layers (each keeps the signal's scale: sqrt(4096) x 0.01 =
    0.64); at width 1/16 the layers are 256 wide and each would shrink it about 6-fold, so
    from-scratch SGD stays at chance. The walled weights are zeroed again afterwards."""
    for m in model.classifier:
        if isinstance(m, nn.Linear):
            gain = 1.0 if m is model.classifier[-1] else 2.0
            m.weight.normal_(0, (gain / m.in_features) ** 0.5)
            m.bias.zero_()
            if hasattr(m, "zero_walled_weights"):
                m.zero_walled_weights()


def _log(path: Path | None, line: str) -> None:
    """Print ``line`` and append it to ``path``: on rank 0 only."""
    if not distributed.current().main:
        return
    print(line, flush=True)
    if path is not None:
        with open(path, "a") as f:
            f.write(line + "\n")


def train_one(walled: bool, out, recipe: FashionRecipe = RECIPE, resume: bool = False,
              device=None, log: Path | None = None, progress: bool = False) -> dict:
    """Train one network; returns its record (recipe, history, per-step losses, test
    accuracy, images/s, seconds) and writes ``out/{walled,unwalled}.pt`` (a state_dict)."""
    name = "walled" if walled else "unwalled"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_set, test_set = load_fashion("train"), load_fashion("test")
    train_set.x, train_set.y = train_set.x[:recipe.train_items], train_set.y[:recipe.train_items]
    model = build(walled, recipe)
    torch.manual_seed(recipe.seed + 1)   # data order: identical for the two networks
    world = distributed.current()
    steps: list[float] = []

    def loss_fn(logits, y):
        loss = F.cross_entropy(logits, y)
        steps.append(distributed.sum_numbers(float(loss.detach()))[0] / world.size)
        if len(steps) % 25 == 0:
            _log(log, f"{name} step {len(steps)} loss {sum(steps[-25:]) / 25:.4f}")
        return loss

    val = _subset(test_set, recipe.val_items)
    batches = _loader(train_set, recipe.batch_size, world, shuffle=True)
    optimizer, scheduler = _optimizer(model, recipe, len(batches))
    _log(log, f"{name}: {recipe}")
    t0 = time.perf_counter()
    history = fit(model, batches, recipe.epochs, optimizer, scheduler=scheduler,
                  scheduler_step="batch" if recipe.schedule == "onecycle" else "epoch",
                  val_loader=_loader(val, 64 * world.size, world, even=False),
                  device=device, amp=recipe.amp,
                  channels_last=recipe.channels_last, checkpoint=out / f"{name}.ckpt",
                  resume=resume, loss_fn=loss_fn, progress=progress,
                  callback=lambda e, h: _log(log, f"{name} " + h.line(-1, recipe.epochs)))
    seconds = time.perf_counter() - t0
    test = _subset(test_set, recipe.test_items)
    top1, _ = evaluate(model, _loader(test, 64 * world.size, world, even=False), device,
                       recipe.amp, recipe.channels_last)
    model = model.cpu().float().to(memory_format=torch.contiguous_format).eval()
    if walled and not wall_is_exact(model):
        raise RuntimeError("The wall leaked during training; this is a bug, please report it.")
    if world.main:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        validate.atomic_save(validate.sealed(state), out / f"{name}.pt")
    record = {"name": name, "recipe": asdict(recipe), "history": history.to_dict(),
              "step_losses": steps, "test_top1": top1, "test_items": len(test.y),
              "train_seconds": seconds, "device": str(resolve_device(device)),
              "processes": world.size,
              "threads": torch.get_num_threads()}
    _log(log, f"{name}: test top-1 {100 * top1:.2f}% on {len(test.y)} items, "
              f"{history.images_per_s[-1]:.1f} img/s, {seconds:.0f} s in all")
    return record


def _optimizer(model: nn.Module, recipe: FashionRecipe, steps_per_epoch: int):
    """The recipe's optimizer and learning-rate schedule.

    "adamw" + "onecycle" (the shipped recipe): AdamW, the learning rate warming up over the
    first 30 % of the steps to ``lr`` and annealing to nearly 0 (one-cycle, stepped per batch).
    "sgd" + "step": the paper's kind of recipe, SGD with momentum and StepLR per epoch."""
    params, wd = model.parameters(), recipe.weight_decay
    if recipe.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=wd)
    else:
        optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                                    weight_decay=wd)
    if recipe.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=0.3)
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, recipe.step_size, recipe.gamma)
    return optimizer, scheduler


def _loader(items, batch_size: int, world, shuffle: bool = False,
            even: bool = True) -> TensorLoader:
    """Batches ``(to_vgg_input(x), y)`` of this rank's share of ``items``, upsampled batch by
    batch (the whole set at 224 x 224 would not fit in memory)."""
    return TensorLoader(items.x, items.y, batch_size, shuffle=shuffle, world=world, even=even,
                        transform=lambda x, y: (to_vgg_input(x), y))


def _subset(items, n: int):
    return replace(items, x=items.x[:n], y=items.y[:n])


def train_pair(out, recipe: FashionRecipe = RECIPE, resume: bool = False, device=None,
               which=("walled", "unwalled"), progress: bool = False) -> dict:
    """Train the walled network and its twin; writes ``out/record.json`` and ``out/train_log.txt``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "record.json"
    records = json.loads(path.read_text()) if resume and path.is_file() else {}
    for name in which:
        records[name] = train_one(name == "walled", out, recipe, resume, device,
                                  out / "train_log.txt", progress)
        if distributed.current().main:
            validate.atomic_write_text(path, json.dumps(records, indent=1))
    return records


def load_trained(walled: bool = True, folder=None) -> MaskedVGG:
    """The trained network (eval mode) from ``folder`` (default: the shipped weights), read with
    ``torch.load(weights_only=True)`` and checked against the SHA-256 stored with it; the
    file's own weights behind the wall must be 0 (checked before loading, which would zero
    them), and ``record.json`` must hold this network's recipe."""
    walled = validate.boolean(walled, "walled")
    folder = Path(folder) if folder is not None else ASSETS
    name = "walled" if walled else "unwalled"
    fix = "re-create it with `python -m camwalls_lib.experiments.fashion_vgg --out FOLDER`"
    path, what = folder / f"{name}.pt", f"trained {name} VGG"
    state = validate.unsealed(validate.load_tensors(path, what, fix), path, what, fix)
    model = build(walled, _recipe_of(folder / "record.json", name, fix))
    require_walled_state(state, model, path)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise validate.CorruptFile(f"{path} does not fit the network its record describes "
                                   f"({str(e).splitlines()[0][:160]}); {fix}.") from e
    return model.eval()


def _recipe_of(path: Path, name: str, fix: str) -> FashionRecipe:
    """The recipe of network ``name`` in ``record.json``; :class:`CorruptFile` naming the file
    when it is missing, not JSON, or lacks a sound recipe for ``name``."""
    try:
        recipe = json.loads(path.read_text())[name]["recipe"]
        recipe = FashionRecipe(**recipe)
        numbers = (recipe.train_items, recipe.test_items, recipe.epochs, recipe.batch_size)
        if not all(isinstance(n, int) and n > 0 for n in numbers) or not recipe.width > 0:
            raise BadValue("a count or the width is not positive")
    except FileNotFoundError as e:
        raise FileNotFoundError(f"No record {path} beside the weights (it holds the recipe "
                                f"they were trained with); {fix}.") from e
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise validate.CorruptFile(f"The record {path} is damaged or lacks the recipe of the "
                                   f"{name} network ({type(e).__name__}: {str(e)[:120]}); "
                                   f"{fix}.") from e
    return recipe


def _device(text: str) -> str:
    """argparse type: a device torch knows (cpu, cuda, cuda:1, mps)."""
    try:
        return str(torch.device(text))
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use cpu or cuda") from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m camwalls_lib.experiments.fashion_vgg",
                                description="Train the masked VGG16 and its unwalled twin on "
                                            "Fashion-MNIST at 224 x 224.")
    p.add_argument("--out", required=True, type=validate.dir_arg,
                   help="folder for weights, record.json, train_log.txt")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints")
    p.add_argument("--train", type=validate.count_arg, default=RECIPE.train_items,
                   help="training items")
    p.add_argument("--test", type=validate.count_arg, default=RECIPE.test_items,
                   help="test items")
    p.add_argument("--val", type=validate.count_arg, default=RECIPE.val_items,
                   help="test items evaluated after every epoch")
    p.add_argument("--epochs", type=validate.count_arg, default=RECIPE.epochs)
    p.add_argument("--width", type=validate.positive_arg, default=RECIPE.width)
    p.add_argument("--lr", type=validate.positive_arg, default=RECIPE.lr,
                   help="(peak) learning rate")
    p.add_argument("--batch", type=validate.count_arg, default=RECIPE.batch_size,
                   help="global batch size")
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default=RECIPE.optimizer)
    p.add_argument("--schedule", choices=["onecycle", "step"], default=RECIPE.schedule)
    p.add_argument("--only", choices=["walled", "unwalled"], help="train one network only")
    p.add_argument("--device", type=_device, help="cpu or cuda (default: cuda if available)")
    a = p.parse_args(argv)               # every argument checked before any work
    recipe = replace(RECIPE, train_items=a.train, test_items=a.test, val_items=a.val,
                     epochs=a.epochs, batch_size=a.batch, optimizer=a.optimizer,
                     schedule=a.schedule, width=a.width, lr=a.lr)
    which = (a.only,) if a.only else ("walled", "unwalled")
    _, device = distributed.setup(a.device)     # torchrun: join its process group
    try:
        with validate.usage_errors(p):          # a refusal: one line and status 2
            train_pair(a.out, recipe, a.resume, device, which)
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
