"""The paper's leak metric mu (its Eq. (7)), and the scale to read it on.

``mu = ||Lambda on the dead zone||_2 / ||Lambda||_2`` is a ratio of norms: ``mu**2`` is the
dead zone's share of the map's energy (sum of squares), and a constant map, which ignores the
image altogether, already scores ``sqrt(dead area / total area)`` (:func:`baseline_mu`).
:func:`mass_share` is the dead zone's share of the map's mass (l1) instead.

A map can score well on faithfulness (:mod:`.faithfulness`) and still leak: these metrics
answer different questions.
"""

from __future__ import annotations

import torch

from .. import validate
from ..errors import BadValue

__all__ = ["mu", "baseline_mu", "mass_share"]


def mu(saliency: torch.Tensor, dead_zone: torch.Tensor) -> torch.Tensor:
    """``mu(Lambda) = ||Lambda restricted to the dead zone||_2 / ||Lambda||_2`` per image.

    Parameters
    ----------
    saliency : ``[N, H, W]`` or ``[H, W]`` non-negative maps at input resolution (upsample
        first; mu is invariant to rescaling the map).
    dead_zone : bool ``[H, W]``, True on the pixels the network cannot see. The paper's
        ``Lambda_{171:224, :}`` (1-based, inclusive) is ``dead_zone[170:224] = True``.

    Returns
    -------
    ``[N]`` (or a scalar) in [0, 1]; 0 for an all-zero map (it puts nothing in the dead zone).
    A map holding NaN or inf is refused, naming its index (it is not a map that leaks nothing).
    """
    saliency = validate.real_maps(saliency, "saliency", min_dim=2)
    dead_zone = validate.tensor(dead_zone, "dead_zone", "bool [H, W]")
    single = saliency.dim() == 2
    s = saliency[None] if single else saliency
    if s.dim() != 3:
        raise BadValue(f"saliency must be [N, H, W] or [H, W], got {tuple(saliency.shape)}.")
    if dead_zone.shape != s.shape[-2:] or dead_zone.dtype != torch.bool:
        raise BadValue(f"dead_zone must be a bool mask of shape {tuple(s.shape[-2:])} (the "
                       f"saliency's), got {dead_zone.dtype} {tuple(dead_zone.shape)}; upsample "
                       "the map to the input size first (cams.upsample).")
    if not s.is_floating_point():
        s = s.float()
    validate.finite(s, "saliency", "map")
    total = s.flatten(1).norm(dim=1)
    inside = s[:, dead_zone.to(s.device)].norm(dim=1)
    out = torch.where(total > 0, inside / total.clamp_min(1e-30), 0)
    return out[0] if single else out


def _zone(dead_zone) -> torch.Tensor:
    zone = validate.tensor(dead_zone, "dead_zone", "bool [H, W]")
    if zone.dtype != torch.bool or zone.dim() != 2 or zone.numel() == 0:
        raise BadValue(f"dead_zone must be a non-empty bool mask [H, W], got {zone.dtype} "
                       f"{tuple(zone.shape)}; build it with walls.dead_zone(model, shape).")
    return zone


def baseline_mu(dead_zone) -> float:
    """``mu`` of a constant map: ``sqrt(dead area / total area)``, the scale every mu is read
    against (a map at this value paints the dead zone as much as one that ignores the image).

    ``dead_zone``: bool ``[H, W]``. Returns a float in [0, 1].
    """
    zone = _zone(dead_zone)
    return float(zone.float().mean().sqrt())


def mass_share(saliency: torch.Tensor, dead_zone: torch.Tensor) -> torch.Tensor:
    """The dead zone's share of a map's mass (l1): ``sum(Lambda on zone) / sum(Lambda)``.

    ``saliency``: ``[N, H, W]`` or ``[H, W]`` non-negative maps; ``dead_zone``: bool ``[H, W]``.
    Returns ``[N]`` (or a scalar) in [0, 1]; 0 for an all-zero map. A constant map scores the
    dead zone's area share.
    """
    saliency = validate.real_maps(saliency, "saliency", min_dim=2)
    zone = _zone(dead_zone)
    single = saliency.dim() == 2
    s = saliency[None] if single else saliency
    if s.dim() != 3 or s.shape[-2:] != zone.shape:
        raise BadValue(f"saliency must be [N, H, W] or [H, W] with H, W = {tuple(zone.shape)} "
                       f"(the dead zone's), got {tuple(saliency.shape)}; upsample first.")
    s = s.float() if not s.is_floating_point() else s
    validate.finite(s, "saliency", "map")
    if (s < 0).any():
        raise BadValue("saliency must be >= 0 to share out its mass; clamp or shift it first.")
    total = s.flatten(1).sum(dim=1)
    inside = s[:, zone.to(s.device)].sum(dim=1)
    out = torch.where(total > 0, inside / total.clamp_min(1e-30), 0)
    return out[0] if single else out
