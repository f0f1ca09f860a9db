"""Real photos that ship inside scikit-image and scikit-learn, and the stacker of Eq. (6).

No download is needed: :func:`offline_photos` reads the colour photographs bundled in the
scikit-image wheel (``skimage/data/``) and scikit-learn's two sample images, centre-crops them
to squares and resizes them to ``size x size``. :data:`PHOTO_LABELS` gives the ImageNet classes
that honestly describe each photo (for the ones where one exists).

:func:`stack_pair` is the STACK-MIX stacker of the paper's Eq. (6): the top rows of one image
over the bottom rows of another, so that the visible part and the dead zone of a walled network
show different things.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

__all__ = ["stack_pair", "offline_photos", "PHOTO_LABELS", "PHOTO_SOURCES"]


def stack_pair(upper: torch.Tensor, lower: torch.Tensor, split: int) -> torch.Tensor:
    """Eq. (6): rows ``< split`` from ``upper``, rows ``>= split`` from ``lower``.

    Parameters
    ----------
    upper, lower : ``[C, H, W]`` images of the same shape (a batch ``[N, C, H, W]`` works too:
        rows are always the second-to-last dimension).
    split : the first row taken from ``lower``, ``0 < split < H``. For a walled network pass the
        first dead row, ``walls.dead_rows(zone)[0]``: the network then sees only ``upper``
        and the dead zone shows only ``lower``.

    Returns
    -------
    A new tensor shaped like ``upper``.
    """
    if not (torch.is_tensor(upper) and torch.is_tensor(lower)):
        raise TypeError("stack_pair needs two image tensors [C, H, W], got "
                        f"{type(upper).__name__} and {type(lower).__name__}.")
    if upper.shape != lower.shape:
        raise ValueError(f"upper {tuple(upper.shape)} and lower {tuple(lower.shape)} must have the "
                         "same shape [C, H, W]: resize or crop them first (offline_photos(size)).")
    if upper.dim() < 3:
        raise ValueError(f"stack_pair needs images [C, H, W], got shape {tuple(upper.shape)} "
                         "(a grayscale [H, W] image? use img[None]).")
    H = upper.shape[-2]
    if isinstance(split, bool) or not isinstance(split, int) or not 0 < split < H:
        raise ValueError(f"split must be an int row index with 0 < split < H = {H}, got {split!r}; "
                         "use the first dead row, walls.dead_rows(zone)[0].")
    out = upper.clone()
    out[..., split:, :] = lower[..., split:, :]
    return out
