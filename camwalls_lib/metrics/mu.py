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
    ``[N]`` (or a scalar) in [0, 1], float64 for float64 maps and float32 otherwise; 0 for an
    all-zero map (it puts nothing in the dead zone), and never 0 for a map with anything in it.
    Computed in float64 on each map divided by its largest value, so ``mu(c * Lambda)`` is
    ``mu(Lambda)`` for any ``c > 0`` (no overflow of ``1e30 ** 2``, no underflow of
    ``1e-25 ** 2``). A map holding NaN or inf is refused, naming its index (it is not a map
    that leaks nothing).
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
    validate.finite(s, "saliency", "map")
    s64 = _rescaled(s)
    total = s64.flatten(1).norm(dim=1)
    inside = s64[:, dead_zone.to(s64.device)].norm(dim=1)
    out = _result(torch.where(total > 0, inside / torch.where(total > 0, total, 1), 0), s,
                  (s[:, dead_zone.to(s.device)] != 0).any(1))
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
    dead zone's area share. Computed like :func:`mu` (float64, each map divided by its largest
    value): scale-free, with no overflow or underflow in any dtype.
    """
    saliency = validate.real_maps(saliency, "saliency", min_dim=2)
    zone = _zone(dead_zone)
    single = saliency.dim() == 2
    s = saliency[None] if single else saliency
    if s.dim() != 3 or s.shape[-2:] != zone.shape:
        raise BadValue(f"saliency must be [N, H, W] or [H, W] with H, W = {tuple(zone.shape)} "
                       f"(the dead zone's), got {tuple(saliency.shape)}; upsample first.")
    validate.finite(s, "saliency", "map")
    if (s < 0).any():
        raise BadValue("saliency must be >= 0 to share out its mass; clamp or shift it first.")
    s64 = _rescaled(s)
    total = s64.flatten(1).sum(dim=1)
    inside = s64[:, zone.to(s64.device)].sum(dim=1)
    out = _result(torch.where(total > 0, inside / torch.where(total > 0, total, 1), 0), s,
                  (s[:, zone.to(s.device)] != 0).any(1))
    return out[0] if single else out


def _rescaled(s: torch.Tensor) -> torch.Tensor:
    """``s [N, H, W]`` in float64, each map divided by its largest ``|value|`` (an all-zero map
    stays 0): its squares and sums can neither overflow (``1e200 ** 2``) nor underflow
    (``1e-25 ** 2`` in float32), and a ratio of its norms is that of the map itself."""
    s64 = s.detach()
    s64 = (s64.cpu() if s64.device.type == "mps" else s64).double()    # MPS has no float64
    peak = s64.abs().flatten(1).amax(1)
    return s64 / torch.where(peak > 0, peak, 1)[:, None, None]


def _result(ratio: torch.Tensor, like: torch.Tensor, touched: torch.Tensor) -> torch.Tensor:
    """A ratio computed in float64, returned as float64 for float64 maps and float32 otherwise.
    Where the map has anything in the dead zone (``touched``) but the ratio rounds to 0 (a
    dead-zone value below the smallest float times the map's peak), it becomes the dtype's
    smallest positive value: a map that puts anything in the dead zone never reads as one that
    puts nothing there."""
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    out = ratio.to(dtype)
    tiny = torch.nextafter(torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype))
    return torch.where(touched.to(out.device) & (out == 0), tiny, out).to(like.device)
