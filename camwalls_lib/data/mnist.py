"""MNIST, offline first.

:func:`load_mnist` looks, in order, in an explicit ``root``, in ``$CAMWALLS_DATA``, in the
``shared/data`` folder beside the repository, and in torchvision's usual folder; only if none
has the files and the network answers does it download (through torchvision). The complete
training set needs ``train-images-idx3-ubyte.gz``; where only the offline fallback
``mnist_train_first19690.npz`` exists (the first 19,690 official training images), it is used
and the returned :class:`Digits` says so in ``source`` -- every figure built on it must too.

An *explicit* location -- ``root=`` or ``$CAMWALLS_DATA`` -- that does not exist is an error,
never silently replaced by the default folders.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import validate
from ..errors import BadValue

__all__ = ["Digits", "load_mnist", "load_idx", "mnist_dirs", "data_dirs", "find_idx", "read_idx"]

_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FALLBACK = "mnist_train_first19690.npz"
_SPLIT_NAME = {"train": "training set", "test": "test set"}


@dataclass
class Digits:
    """Images ``x`` (uint8 ``[N, 28, 28]``), labels ``y`` (int64 ``[N]``) and where they came
    from (``source``: a sentence to print under results, naming the data and never a path on
    the machine that read it). ``full`` is False for the offline
    fallback subset."""

    x: torch.Tensor
    y: torch.Tensor
    source: str
    full: bool = True

    def __len__(self) -> int:
        return len(self.y)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0, 1] ``[N, 1, 28, 28]`` and labels ``[N]``."""
        return self.x[:, None].float() / 255.0, self.y


def data_dirs(root, subfolders: tuple[str, ...], what: str) -> list[Path]:
    """Folders searched for a dataset's files, in order: an explicit ``root``, then
    ``$CAMWALLS_DATA``, the ``shared/data`` folder beside the repository, ``~/.cache/camwalls``
    and ``./data``; in each, its ``subfolders`` first, then the folder itself. An explicit
    ``root`` or ``$CAMWALLS_DATA`` must be an existing folder (FileNotFoundError /
    NotADirectoryError otherwise, never silently skipped)."""
    repo = Path(__file__).resolve().parent.parent.parent      # camwalls_lib/data -> repository
    candidates = []
    if root is not None:
        candidates.append(validate.explicit_dir(
            root, "root=", f"pass the folder that holds the {what} files (or its parent with a "
            f"{subfolders[0]}/ subfolder), or root=None to search the default places"))
    if os.environ.get("CAMWALLS_DATA"):
        candidates.append(validate.explicit_dir(
            os.environ["CAMWALLS_DATA"], "$CAMWALLS_DATA =", "set it to the folder that holds "
            f"{subfolders[0]}/ (e.g. shared/data), or unset it to search the default places"))
    candidates += [repo.parent / "shared" / "data", repo / "shared" / "data",
                   Path.home() / ".cache" / "camwalls", Path("data")]
    return [d for c in candidates for d in (*(c / sub for sub in subfolders), c)]


def find_idx(dirs: list[Path], images: str, labels: str):
    """The first folder of ``dirs`` that holds both IDX files, read and checked:
    ``(folder, x uint8 [N, 28, 28], y int64 [N])``; None if no folder holds them."""
    for d in dirs:
        if (d / images).is_file() and (d / labels).is_file():
            x, y = read_idx(d / images), read_idx(d / labels).long()
            if x.shape[1:] != (28, 28) or len(x) != len(y):
                raise BadValue(f"{d / images}: expected [N, 28, 28] images with N labels, got "
                               f"{tuple(x.shape)} and {len(y)} labels (a damaged copy?).")
            return d, x, y
    return None


def load_idx(split: str, files: dict, dirs: list[Path], fetch, describe) -> Digits | None:
    """The ``split`` ("train" or "test") of an MNIST-like dataset whose IDX files are
    ``files[split] = (images, labels)``: read from the first folder of ``dirs`` holding both
    (``describe(labels_path, N)`` names the copy), else ``fetch(split)`` (a download, None where
    there is no network; ``fetch=None``: no download); None if neither gives it."""
    if split not in files:
        raise BadValue(f"split must be 'train' or 'test', got {split!r}.")
    images, labels = files[split]
    found = find_idx(dirs, images, labels)
    if found is not None:
        folder, x, y = found
        return Digits(x, y, describe(folder / labels, len(y)))
    return None if fetch is None else fetch(split)


def mnist_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for MNIST files, in order (:func:`data_dirs`)."""
    return data_dirs(root, ("mnist", "MNIST/raw"), "MNIST")


def load_mnist(split: str = "train", root: str | os.PathLike | None = None,
               download: bool = True) -> Digits:
    """The MNIST ``split`` ("train" or "test") as :class:`Digits`.

    Raises ``FileNotFoundError`` naming every way to provide the data when nothing works.
    """
    dirs = mnist_dirs(root)
    digits = load_idx(split, _FILES, dirs, _download if download else None,
                      lambda labels, n: f"MNIST's {_count(labels)} {_SPLIT_NAME[split][:-4]}images")
    if digits is not None:
        return digits
    images, labels = _FILES[split]
    if split == "train":
        for d in dirs:
            if (d / FALLBACK).exists():
                with np.load(d / FALLBACK) as f:
                    x, y = torch.from_numpy(f["x"]), torch.from_numpy(f["y"]).long()
                return Digits(x, y, f"{len(y):,} of MNIST's 60,000 training images",
                              full=False)
    raise FileNotFoundError(
        f"MNIST {split} not found. Provide it in one of three ways: (1) pass root= a folder "
        f"holding {images} and {labels}; (2) set the environment variable CAMWALLS_DATA to "
        "such a folder (or its parent with an mnist/ subfolder); (3) run where the network is "
        "available, and torchvision downloads it. Searched: "
        + ", ".join(str(d) for d in dirs[:6]) + ", ..."
    )


def read_idx(path: Path) -> torch.Tensor:
    """Read a gzipped IDX file (the MNIST format) into a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape).copy())


def _count(labels_path: Path) -> str:
    with gzip.open(labels_path, "rb") as f:
        return f"{int.from_bytes(f.read(8)[4:8], 'big'):,}"


def _download(split: str) -> Digits | None:
    """torchvision's download into ~/.cache/camwalls, or None when offline."""
    try:
        from torchvision.datasets import MNIST
        ds = MNIST(Path.home() / ".cache" / "camwalls", train=split == "train", download=True)
    except Exception:  # no network, no mirror answering: the caller falls back or explains
        return None
    return Digits(ds.data.clone(), ds.targets.clone().long(),
                  f"MNIST {split}, {len(ds.targets):,} images (downloaded by torchvision)")
