"""The wall test with Quantus's interface, and a cross-check against Quantus itself.

:class:`WallMass` is called like a Quantus metric, ``metric(model=, x_batch=, y_batch=,
a_batch=, s_batch=)``, with numpy batches (``x_batch [N, C, H, W]``, ``a_batch [N, H, W]`` or
``[N, C, H, W]``, non-negative; ``s_batch`` the **dead zone**, bool ``[N, 1, H, W]`` or
``[H, W]``) and returns one score per image: the dead zone's share of the map's mass
(``"mass"``, default) or the paper's mu (``"mu"``); ``metric.verdicts`` holds the per-image
verdicts. Lower is better; a faithful map scores 0 exactly.

:func:`cross_check` computes Quantus's own ``RelevanceMassAccuracy`` with the *visible*
zone as the segmentation mask: its score is the visible share of the mass, so
``1 - RMA`` must equal :class:`WallMass`'s mass share (to rounding).
"""

from __future__ import annotations

import numpy as np
import torch

from ..metrics.mu import mass_share, mu
from . import require

__all__ = ["WallMass", "cross_check"]


class WallMass:
    """The wall test as a Quantus-style metric (see the module docstring)."""

    def __init__(self, score: str = "mass"):
        if score not in ("mass", "mu"):
            raise ValueError(f"score must be 'mass' or 'mu', got {score!r}.")
        self.score, self.verdicts = score, []

    def __call__(self, model=None, x_batch=None, y_batch=None, a_batch=None, s_batch=None,
                 **kwargs) -> list[float]:
        if a_batch is None or s_batch is None:
            raise ValueError("WallMass needs a_batch (the maps) and s_batch (the dead zone); "
                             "compute the dead zone with camwalls_lib.walls.dead_zone.")
        maps = torch.as_tensor(np.asarray(a_batch), dtype=torch.float64)
        if maps.dim() == 4:
            maps = maps.sum(1)
        if maps.dim() != 3:
            raise ValueError(f"a_batch must be [N, H, W] or [N, C, H, W], got "
                             f"{tuple(maps.shape)}.")
        zone = torch.as_tensor(np.asarray(s_batch)).bool()
        if zone.dim() > 2:
            zones = zone.reshape(-1, *zone.shape[-2:])
            if not (zones == zones[0]).all():
                raise ValueError("s_batch must hold the same dead zone for every image.")
            zone = zones[0]
        if zone.shape != maps.shape[-2:]:
            raise ValueError(f"s_batch's zone is {tuple(zone.shape)}, the maps are "
                             f"{tuple(maps.shape[-2:])}: give the dead zone at map resolution.")
        scores = (mass_share if self.score == "mass" else mu)(maps, zone)
        inside = maps[:, zone].amax(1)
        self.verdicts = ["blank" if float(m.sum()) == 0 else "exactly zero" if float(i) == 0
                         else "leaks" for m, i in zip(maps, inside)]
        return scores.tolist()


def cross_check(model, x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor,
                zone: torch.Tensor) -> dict:
    """Quantus's ``RelevanceMassAccuracy`` on the visible zone against :class:`WallMass`.

    ``x [N, C, H, W]``, ``y [N]``, ``maps [N, H, W]`` (non-negative), ``zone`` bool
    ``[H, W]``. Returns ``{"quantus_rma": [N], "wall_mass": [N], "max_gap": float}`` where
    ``max_gap = max |(1 - rma) - mass|`` over images whose map is not blank."""
    quantus = require("quantus", "quantus")
    maps = torch.as_tensor(maps).double()
    keep = maps.flatten(1).sum(1) > 0
    if not keep.any():
        raise ValueError("Every map is blank: Relevance Mass Accuracy is undefined (0/0).")
    n = int(keep.sum())
    visible = (~zone)[None, None].expand(n, 1, *zone.shape).numpy().astype(np.float64)
    a = maps[keep][:, None].numpy()
    rma = quantus.RelevanceMassAccuracy(abs=False, normalise=False, disable_warnings=True)(
        model=model, x_batch=x[keep].numpy(), y_batch=np.asarray(y)[keep.numpy()],
        a_batch=a, s_batch=visible, channel_first=True, device="cpu")
    wall = WallMass("mass")(a_batch=a[:, 0], s_batch=zone.numpy())
    gap = max(abs((1 - r) - m) for r, m in zip(rma, wall))
    return {"quantus_rma": list(map(float, rma)), "wall_mass": wall, "max_gap": float(gap)}
