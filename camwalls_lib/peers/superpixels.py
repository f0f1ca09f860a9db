"""The superpixels the perturbation explainers share: a square grid of blocks.

``grid(H, W, side=7)`` labels an ``H x W`` image with ``side x side`` rectangular blocks
(int64 ``[H, W]``, labels ``0 .. side*side - 1`` row by row): 4 x 4 pixels at 28 px, 32 x 32
at 224 px. A block entirely inside the dead zone is a *null player* (no coalition's output
changes when it is removed); a block that straddles the wall's edge is not. Which blocks
straddle depends on the network's dead zone: that is the point of the predictions.
"""

from __future__ import annotations

import torch

from .. import validate

__all__ = ["SIDE", "grid", "straddling"]

SIDE = 7


def grid(H: int, W: int, side: int = SIDE) -> torch.Tensor:
    """int64 ``[H, W]`` block labels of a ``side x side`` grid (edges rounded down)."""
    H, W = validate.positive_int(H, "H"), validate.positive_int(W, "W")
    side = validate.positive_int(side, "side")
    if side > min(H, W):
        raise ValueError(f"A {side} x {side} grid needs an image of at least {side} pixels a "
                         f"side, got {H} x {W}.")
    rows = torch.arange(H) * side // H
    cols = torch.arange(W) * side // W
    return rows[:, None] * side + cols[None, :]


def straddling(zone: torch.Tensor, side: int = SIDE) -> int:
    """How many blocks hold both dead and visible pixels (bool ``zone [H, W]``)."""
    labels = grid(*zone.shape, side)
    count = 0
    for k in range(side * side):
        inside = zone[labels == k]
        count += int(bool(inside.any()) and not bool(inside.all()))
    return count
