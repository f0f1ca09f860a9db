"""Fashion-MNIST, offline first, at the paper's 224 x 224 geometry.

:func:`load_fashion` reads the four official IDX files (gzip) from an explicit ``root``, from
``$CAMWALLS_DATA`` (the folder itself or its ``fashion-mnist/`` subfolder) or from the
``shared/data`` folder beside the repository; only when none has them does it try a download
through torchvision, which fails at once without a network, with a message naming every way
to provide the files.

:func:`to_vgg_input` turns a batch of 28 x 28 items into what the masked [VGG] reads:
bilinear upsampling to 224 x 224 (factor 8), the grey level *replicated* to the three
colour channels (no colourisation), then Fashion-MNIST's mean / std normalisation. The lowest
54 rows of the result (170..223) are the paper's dead zone, so the walled network sees the
item's upper 76 %.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import validate
from ..errors import BadValue
from .mnist import Digits, data_dirs, load_idx

__all__ = ["CLASSES", "MEAN", "STD", "load_fashion", "fashion_dirs", "upsample", "normalize",
           "to_vgg_input"]

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot")
MEAN, STD = 0.2860, 0.3530
"""Fashion-MNIST's pixel mean and standard deviation (training set, values in [0, 1])."""

_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def fashion_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for the Fashion-MNIST files, in order (:func:`~camwalls_lib.data.mnist.data_dirs`)."""
    return data_dirs(root, ("fashion-mnist", "FashionMNIST/raw"), "Fashion-MNIST IDX")


def load_fashion(split: str = "train", root: str | os.PathLike | None = None,
                 download: bool = True) -> Digits:
    """The Fashion-MNIST ``split`` ("train": 60,000 items, "test": 10,000) as
    :class:`~camwalls_lib.data.Digits` (``x`` uint8 ``[N, 28, 28]``, ``y`` int64 ``[N]``)."""
    dirs = fashion_dirs(root)
    got = load_idx(split, _FILES, dirs, _download if download else None,
                   lambda labels, n: f"Fashion-MNIST's {n:,} {'training' if split == 'train' else 'test'} items")
    if got is not None:
        return got
    images, labels = _FILES[split]
    raise FileNotFoundError(
        f"Fashion-MNIST {split} not found. Provide it in one of three ways: (1) root= a folder "
        f"holding {images} and {labels}; (2) CAMWALLS_DATA= such a folder or its parent with "
        "a fashion-mnist/ subfolder; (3) run where the network is available (torchvision "
        "downloads it). Searched: " + ", ".join(str(d) for d in dirs[:6]) + ", ...")


def _download(split: str) -> Digits | None:
    """torchvision's download into ~/.cache/camwalls, or None without a network."""
    try:
        from torchvision.datasets import FashionMNIST
        ds = FashionMNIST(Path.home() / ".cache" / "camwalls", train=split == "train",
                          download=True)
    except Exception:  # offline: the caller explains every way to provide the files
        return None
    return Digits(ds.data.clone(), ds.targets.clone().long(),
                  f"Fashion-MNIST {split} set, {len(ds.targets):,} items (downloaded)")


def upsample(x: torch.Tensor, size: int = 224) -> torch.Tensor:
    """uint8 ``[N, 28, 28]`` (or float in [0, 1] ``[N, 1, H, W]``) -> float in [0, 1]
    ``[N, 3, size, size]``: bilinear upsampling, the grey level replicated to 3 channels."""
    x = validate.tensor(x, "x", "[N, 28, 28] (uint8)")
    size = validate.positive_int(size, "size")
    if x.numel() == 0:
        raise BadValue(f"x is empty (shape {tuple(x.shape)}): pass at least one item.")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4 or x.shape[1] != 1:
        raise BadValue(f"x must be grey items [N, 28, 28] or [N, 1, H, W], got "
                       f"{tuple(x.shape)}.")
    validate.images(x, "x", unit_range=True)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def normalize(x: torch.Tensor) -> torch.Tensor:
    """``(x - MEAN) / STD`` for images in [0, 1] (any shape): what the networks read."""
    return (x - MEAN) / STD


def to_vgg_input(x: torch.Tensor, size: int = 224) -> torch.Tensor:
    """:func:`normalize` of :func:`upsample`: uint8 ``[N, 28, 28]`` -> ``[N, 3, size, size]``."""
    return normalize(upsample(x, size))
