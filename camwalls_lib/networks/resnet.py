"""Walled residual networks: where the dead zone must be traced through skip connections.

A residual block computes ``ReLU(x + F(x))``: every output position depends on the input
through *two* paths, the identity (receptive field 1) and the branch ``F`` (two 3 x 3
convolutions, receptive field 5). :func:`camwalls_lib.walls.dead_zone` traces both, because
its connectivity surrogate keeps the block's forward pass (the sum included) and only makes
every weight positive: a pixel reaches a visible feature through either path or it is dead.

Two placements of the wall (``variant``):

- ``"head"``: ``stem -> block -> max-pool -> 1x1 conv -> block`` gives ``B [N, c2, 14, 14]``
  (``features``); the classifier walls ``B``'s lowest ``wall_rows`` rows (a
  :class:`~camwalls_lib.walls.FeatureWall`), then global average pooling and one dense layer.
  ``cam_layer`` is the last block: the wall is *at* the explained layer, as in the paper.
- ``"stage"``: the wall sits after the first stage (``stem -> block``, ``[N, c1, 28, 28]``,
  the ``features``); the classifier goes on behind it (max-pool, 1x1 conv, a residual
  block, pooling, dense layer). ``cam_layer`` is that later block, whose convolutions and
  skip connection carry visible features into the walled positions: the wall is *before*
  the explained layer.

Shapes: ``x [N, 1, 28, 28] -> logits [N, 10]``. ``features`` / ``wall`` follow
:class:`~camwalls_lib.networks.models.WalledNet`, so :func:`dead_zone` and the wall test apply.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .. import validate
from ..walls import FeatureWall, Wall
from .models import WalledNet

__all__ = ["ResBlock", "WalledResNet", "VARIANTS", "DEFAULT_WALL_ROWS"]

VARIANTS = ("head", "stage")

DEFAULT_WALL_ROWS = {"head": 7, "stage": 12}
"""Walled rows of the walled map: 7 of 14 (head; the dead zone is input rows 21-27) and 12
of 28 (stage; input rows 19-27)."""


def _conv(c_in: int, c_out: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)


class ResBlock(nn.Module):
    """``x [N, c, h, w] -> ReLU(x + BN(conv(ReLU(BN(conv(x)))))) [N, c, h, w]``."""

    def __init__(self, c: int):
        super().__init__()
        self.branch = nn.Sequential(_conv(c, c), nn.BatchNorm2d(c), nn.ReLU(),
                                    _conv(c, c), nn.BatchNorm2d(c))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.branch(x))


def _stem(c1: int) -> list[nn.Module]:
    return [_conv(1, c1), nn.BatchNorm2d(c1), nn.ReLU(), ResBlock(c1)]


def _stage2(c1: int, c2: int) -> list[nn.Module]:
    return [nn.MaxPool2d(2), _conv(c1, c2, 1), ResBlock(c2)]


def _head(c2: int, num_classes: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c2, num_classes)]


class WalledResNet(WalledNet):
    """A small walled residual network for 28 x 28 grey images (see the module docstring).

    ``variant``: ``"head"`` or ``"stage"``; ``wall_rows``: walled rows of the walled map
    (default :data:`DEFAULT_WALL_ROWS`; ``0`` builds the unwalled twin, ``wall = None``);
    ``c1``, ``c2``: channels of the two stages.
    """

    def __init__(self, variant: str = "head", wall_rows: int | None = None, c1: int = 8,
                 c2: int = 16, num_classes: int = 10):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
        c1, c2 = validate.positive_int(c1, "c1"), validate.positive_int(c2, "c2")
        side = 14 if variant == "head" else 28
        rows = DEFAULT_WALL_ROWS[variant] if wall_rows is None else wall_rows
        if not (isinstance(rows, int) and 0 <= rows < side):
            raise ValueError(f"wall_rows must be an int in 0..{side - 1} (rows of the {side} x "
                             f"{side} walled map; 0 = no wall), got {rows!r}.")
        self.variant, self.wall_rows = variant, rows
        self.wall = Wall.bottom(rows) if rows else None
        wall = FeatureWall(self.wall, (side, side))
        if variant == "head":
            self.features = nn.Sequential(*_stem(c1), *_stage2(c1, c2))
            self.classifier = nn.Sequential(wall, *_head(c2, num_classes))
        else:
            self.features = nn.Sequential(*_stem(c1))
            self.classifier = nn.Sequential(wall, *_stage2(c1, c2), *_head(c2, num_classes))

    @property
    def cam_layer(self) -> nn.Module:
        """The last residual block (its output, after the block's ReLU, is ``B``)."""
        return [m for m in self.modules() if isinstance(m, ResBlock)][-1]

    @property
    def poly_layers(self) -> list[nn.Module]:
        """Every residual block, in order."""
        return [m for m in self.modules() if isinstance(m, ResBlock)]
