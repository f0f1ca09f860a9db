"""Training the masked [VGG]: the paper's recipe and two smaller ones, on top of :func:`fit`.

- :data:`RECIPES` and :func:`train` -- the paper's recipe (ImageNet from scratch), a Colab
  recipe (ImageNet-pretrained convolutions, new conv5_3 and walled head, fine-tuned on a small
  ImageNet-style set such as Imagenette) and a CPU smoke configuration, all on top of
  :func:`camwalls_lib.training.fit` (mixed precision, checkpoints, exact resume); the result
  is saved in the authors' layout (:func:`camwalls_lib.networks.vgg.save_paper_vgg`).
- Command line: ``python -m camwalls_lib.experiments.imagenet_vgg train --data DIR --recipe
  paper|colab|cpu-smoke --out DIR [--resume]``; under ``torchrun --nproc_per_node=N -m ...``
  the same command trains on N processes (GPUs): the recipe's batch is the global batch,
  ``num_workers`` loading workers per process, rank 0 writes every file.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn

from .. import distributed, validate
from ..data.stackmix import IMAGENET_MEAN, IMAGENET_STD, class_folders
from ..errors import BadValue
from ..networks.models import MaskedVGG, masked_vgg16
from ..networks.vgg import save_paper_vgg
from ..training import fit

__all__ = ["Recipe", "RECIPES", "build_model", "image_folder", "loaders", "train",
           "make_synthetic_folder", "PAPER_ACCURACY", "main"]

PAPER_ACCURACY = {"masked [VGG]": {"top1": 66.5, "top5": 87.0},
                  "unmasked [VGG] (baseline)": {"top1": 71.5, "top5": 90.4}}
"""Quoted from the paper (Sec. 3.1, Figure 5): ImageNet-1k validation accuracy in %. Not
measured here."""


# ----------------------------------------------------------------------------- recipes

@dataclass(frozen=True)
class Recipe:
    """Everything a training run depends on (saved with the checkpoint)."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 1e-4
    step_size: int = 30          # StepLR(step_size, gamma), stepped once per epoch
    gamma: float = 0.1
    width: float = 1.0
    input_size: int = 224
    pretrained: bool = False     # torchvision ImageNet VGG16 weights for conv1_1..conv5_2
    pretrained_lr_scale: float = 1.0
    max_steps_per_epoch: int | None = None
    num_workers: int = 8
    amp: str | bool = "auto"     # bf16 where supported (train.fit)
    channels_last: bool = True
    note: str = ""


RECIPES: dict[str, Recipe] = {
    "paper": Recipe(
        "paper", epochs=90, batch_size=256, lr=0.03, step_size=30,
        note="The authors' recipe (their vgg16_training.py): ImageNet-1k from scratch, "
             "SGD 0.03 / momentum 0.9 / wd 1e-4, StepLR(30, 0.1), 90 epochs, batch 256, "
             "mixed precision. Days on one GPU. Paper: 66.5 % top-1, 87.0 % top-5."),
    "colab": Recipe(
        "colab", epochs=8, batch_size=64, lr=0.01, step_size=6, pretrained=True,
        pretrained_lr_scale=0.1, num_workers=2,
        note="One free Colab GPU: ImageNet-pretrained conv1_1..conv5_2 (lr x 0.1), new "
             "256-channel conv5_3 and walled head, fine-tuned on Imagenette (10 classes)."),
    "cpu-smoke": Recipe(
        "cpu-smoke", epochs=2, batch_size=8, lr=0.01, step_size=1, gamma=0.5, width=1 / 16,
        max_steps_per_epoch=3, num_workers=0, channels_last=False,
        note="Executes the whole code path quickly on a CPU: width 1/16 at 224 x 224 (the "
             "paper's geometry and dead zone), a few steps. Not a trained model."),
}


def build_model(recipe: Recipe, num_classes: int) -> MaskedVGG:
    """The masked [VGG] for a recipe; with ``recipe.pretrained``, conv1_1..conv5_2 are copied
    from torchvision's ImageNet VGG16 (downloaded once, ~528 MB)."""
    if recipe.pretrained and recipe.width != 1:
        raise BadValue("Pretrained VGG16 weights need width=1.")
    reference = _torchvision_vgg16() if recipe.pretrained else None   # fail fast when offline
    model = masked_vgg16(num_classes=num_classes, width=recipe.width,
                         input_size=recipe.input_size)
    if reference is not None:
        with torch.no_grad():
            for i, layer in enumerate(model.features[:28]):   # 28 = conv5_3, new
                if isinstance(layer, nn.Conv2d):
                    layer.weight.copy_(reference.features[i].weight)
                    layer.bias.copy_(reference.features[i].bias)
    return model


def _torchvision_vgg16() -> nn.Module:
    import torchvision

    try:
        return torchvision.models.vgg16(weights=torchvision.models.VGG16_Weights.IMAGENET1K_V1)
    except Exception as e:  # no network: URLError, OSError, RuntimeError, ...
        raise RuntimeError(
            "Could not get torchvision's ImageNet VGG16 weights (needs the network once, "
            f"~528 MB): {type(e).__name__}: {e}. Run where the internet is reachable (Colab), or "
            "put vgg16-397923af.pth in $TORCH_HOME/hub/checkpoints/, or use --recipe paper / "
            "cpu-smoke, which start from random weights.") from e


def _pretrained_names(model: MaskedVGG) -> set[str]:
    return {f"features.{i}.{p}" for i, m in enumerate(model.features[:28])
            if isinstance(m, nn.Conv2d) for p in ("weight", "bias")}


# ----------------------------------------------------------------------------- data

def image_folder(root, train: bool, size: int = 224):
    """An ImageNet-style class folder as a torchvision ``ImageFolder`` with ImageNet's class
    indices (:func:`camwalls_lib.data.stackmix.class_folders`: synset or the authors' integer folders).

    Training: RandomResizedCrop(size) + horizontal flip; evaluation: resize to
    ``size * 256/224`` + centre crop. Both: ImageNet normalisation.
    """
    from torchvision import datasets, transforms as T

    classes = class_folders(root)
    if train:
        augment = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        augment = [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]
    transform = T.Compose([*augment, T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    class _Folder(datasets.ImageFolder):
        def find_classes(self, directory):
            return [n for n, _ in classes], dict(classes)

    return _Folder(str(root), transform=transform)


def loaders(data, recipe: Recipe, world: distributed.World | None = None, seed: int = 0):
    """``(train_loader, val_loader or None, num_classes)`` for ``data/train`` and ``data/val``:
    this rank's share of them (``world``: default the current process group, size 1 without
    torchrun). Training: a ``DistributedSampler`` (shuffled by ``seed`` + the epoch, which
    :func:`fit` sets), ``recipe.batch_size / world.size`` images per rank and step,
    ``recipe.num_workers`` loading workers per rank. Validation: every ``world.size``-th image
    from ``world.rank`` on, each image on exactly one rank."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(
            f"Dataset folder {data} does not exist. Expected {data}/train/<class>/*.JPEG and "
            f"{data}/val/<class>/*.JPEG (ImageNet, or Imagenette for --recipe colab: "
            "https://github.com/fastai/imagenette).")
    if not (data / "train").is_dir():
        raise FileNotFoundError(f"{data} has no train/ sub-folder (expected {data}/train/<class>/).")
    train_set = image_folder(data / "train", train=True, size=recipe.input_size)
    val_set = (image_folder(data / "val", train=False, size=recipe.input_size)
               if (data / "val").is_dir() else None)
    num_classes = max(train_set.class_to_idx.values()) + 1
    world = world or distributed.current()
    if recipe.batch_size % world.size:
        raise ValueError(f"batch_size={recipe.batch_size} is the global batch: it must be a "
                         f"multiple of the {world.size} processes (--batch-size).")
    pin = torch.cuda.is_available()
    common = dict(batch_size=recipe.batch_size // world.size, num_workers=recipe.num_workers,
                  pin_memory=pin, persistent_workers=recipe.num_workers > 0)
    # The sampler's order depends on seed + epoch only; augmentation draws from torch's global
    # generator, which fit makes the same on every rank and checkpoints, so a resumed run
    # sees exactly the same batches.
    sampler = torch.utils.data.DistributedSampler(train_set, world.size, world.rank,
                                                  shuffle=True, seed=seed, drop_last=True)
    train_loader = torch.utils.data.DataLoader(train_set, sampler=sampler, drop_last=True,
                                               **common)
    val_loader = None
    if val_set is not None:
        share = torch.utils.data.Subset(val_set, range(world.rank, len(val_set), world.size))
        val_loader = torch.utils.data.DataLoader(share, shuffle=False, **common)
    return train_loader, val_loader, num_classes


def make_synthetic_folder(root, num_classes: int = 10, per_class: int = 8, val_per_class: int = 2,
                          size: int = 224, seed: int = 0) -> Path:
    """Write a tiny ImageNet-style folder of synthetic PNGs for the CPU smoke run.

    Class ``c`` is a disc of hue ``c / num_classes`` somewhere in the upper (visible) part; the
    dead zone (rows >= 170 of 224) holds a disc of another class, which the walled network
    cannot use. Creates ``root/train/<c>/`` and ``root/val/<c>/`` with integer class folders.
    """
    import colorsys

    from PIL import Image, ImageDraw

    root, rng = Path(root), random.Random(seed)
    split = round(size * 170 / 224)
    for part, count in (("train", per_class), ("val", val_per_class)):
        for c in range(num_classes):
            folder = root / part / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                img = Image.new("RGB", (size, size), tuple(rng.randrange(60, 120) for _ in "rgb"))
                draw = ImageDraw.Draw(img)
                for cls, (top, bottom) in ((c, (0, split)),
                                           (rng.randrange(num_classes), (split, size))):
                    colour = tuple(int(255 * v) for v in colorsys.hsv_to_rgb(cls / num_classes, 1, 1))
                    r = rng.randrange(size // 12, size // 6)
                    r = min(r, (bottom - top) // 2 - 1)
                    x, y = rng.randrange(r, size - r), rng.randrange(top + r, bottom - r)
                    draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
                img.save(folder / f"{k:03d}.png")
    return root



# ----------------------------------------------------------------------------- training

def train(recipe: str | Recipe, data, out, resume: bool = False, device=None,
          progress: bool = True, seed: int = 0, **overrides):
    """Train the masked [VGG] with a recipe; returns ``(model, history)``.

    ``recipe``: a name in :data:`RECIPES` or a :class:`Recipe`; ``overrides`` replace its
    fields (``epochs=1``, ``batch_size=32`` ...). ``data``: folder with ``train/`` and
    ``val/`` class folders. ``out``: folder for ``checkpoint.pt`` (every epoch and on
    Ctrl-C, what ``resume=True`` continues from exactly) and, at the end, ``masked_vgg.pt``
    in the authors' layout (:func:`load_paper_vgg`, ``CAMWALLS_VGG_CHECKPOINT``).
    """
    recipe = RECIPES[recipe] if isinstance(recipe, str) else recipe
    recipe = replace(recipe, **overrides)
    torch.manual_seed(seed)
    world = distributed.current()
    train_loader, val_loader, num_classes = loaders(data, recipe, world, seed)
    model = build_model(recipe, num_classes)
    pretrained = _pretrained_names(model) if recipe.pretrained else set()
    groups = [{"params": [p for n, p in model.named_parameters() if n not in pretrained]}]
    if pretrained:
        groups.append({"params": [p for n, p in model.named_parameters() if n in pretrained],
                       "lr": recipe.lr * recipe.pretrained_lr_scale})
    optimizer = torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, recipe.step_size, recipe.gamma)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress and world.main
    if progress:
        print(f"recipe {recipe.name}: {recipe.note}\n{len(train_loader.dataset)} training images, "
              f"{num_classes} classes, width {recipe.width:g}, input {recipe.input_size}")
    history = fit(model, train_loader, recipe.epochs, optimizer, scheduler=scheduler,
                  val_loader=val_loader, device=device, amp=recipe.amp,
                  channels_last=recipe.channels_last, checkpoint=out / "checkpoint.pt",
                  resume=resume, max_steps_per_epoch=recipe.max_steps_per_epoch,
                  progress=progress)
    model = model.cpu().float().to(memory_format=torch.contiguous_format).eval()
    if world.main:
        save_paper_vgg(model, out / "masked_vgg.pt")
        validate.atomic_write_text(out / "recipe.txt", "\n".join(
            f"{k} = {v!r}" for k, v in asdict(recipe).items()))
    return model, history



# ----------------------------------------------------------------------------- CLI

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m camwalls_lib.experiments.imagenet_vgg",
        description="Train the paper's masked VGG16 ([VGG]) with a recipe.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train (or resume) a masked VGG16")
    p.add_argument("--data", required=True,
                   help="ImageNet-style folder with train/ and val/ class sub-folders")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="paper")
    p.add_argument("--out", required=True, help="folder for checkpoint.pt and masked_vgg.pt")
    p.add_argument("--resume", action="store_true",
                   help="continue exactly from OUT/checkpoint.pt")
    p.add_argument("--epochs", type=validate.count_arg,
                   help="override the recipe's number of epochs")
    p.add_argument("--batch-size", type=validate.count_arg,
                   help="override the recipe's batch size")
    p.add_argument("--workers", type=int, help="override the number of data-loading workers")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers must be >= 0 (0: load in the main process), got {args.workers}")
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("num_workers", args.workers)) if v is not None}
    if not Path(args.data).is_dir():
        parser.error(f"--data {args.data}: no such folder (expected DATA/train/<class>/ and "
                     "DATA/val/<class>/ with images).")
    if args.resume and not (Path(args.out) / "checkpoint.pt").is_file():
        parser.error(f"--resume: no checkpoint at {Path(args.out) / 'checkpoint.pt'}.")
    world, device = distributed.setup()          # torchrun: join its process group
    try:
        with validate.usage_errors(parser):     # a refusal: one line and status 2
            train(args.recipe, args.data, args.out, resume=args.resume, device=device,
                  **overrides)
    except KeyboardInterrupt:
        if world.main:
            print(f"\nInterrupted: checkpoint saved in {args.out}; continue with --resume.")
        return 130
    finally:
        distributed.teardown()
    if world.main:
        print(f"done: {Path(args.out) / 'masked_vgg.pt'} (authors' layout; "
              "export CAMWALLS_VGG_CHECKPOINT to use it in the Table 1 chapter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
