"""The paper's leak metric: how much of a saliency map lies in the dead zone (its Eq. (7)).

A map can score well on faithfulness (:mod:`.faithfulness`) and still leak: these metrics
answer different questions.
"""

from __future__ import annotations

import torch

from .. import validate

__all__ = ["mu"]


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
    saliency = validate.tensor(saliency, "saliency", "[N, H, W]")
    dead_zone = validate.tensor(dead_zone, "dead_zone", "bool [H, W]")
    single = saliency.dim() == 2
    s = saliency[None] if single else saliency
    if s.dim() != 3:
        raise ValueError(f"saliency must be [N, H, W] or [H, W], got {tuple(saliency.shape)}.")
    if dead_zone.shape != s.shape[-2:] or dead_zone.dtype != torch.bool:
        raise ValueError(f"dead_zone must be a bool mask of shape {tuple(s.shape[-2:])} (the "
                         f"saliency's), got {dead_zone.dtype} {tuple(dead_zone.shape)}; upsample "
                         "the map to the input size first (cams.upsample).")
    if not s.is_floating_point():
        s = s.float()
    validate.finite(s, "saliency", "map")
    total = s.flatten(1).norm(dim=1)
    inside = s[:, dead_zone.to(s.device)].norm(dim=1)
    out = torch.where(total > 0, inside / total.clamp_min(1e-30), 0)
    return out[0] if single else out
