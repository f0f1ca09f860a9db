"""From weights to a map a reader looks at: ``sigma(sum_v alpha_v B^(v))``, resized, rescaled.

:func:`combine` is the paper's ``[M] = sigma(sum_v alpha_v (.) B^(v))``; :func:`upsample` brings
a map to the input's resolution; :func:`normalize` min-max rescales it to [0, 1];
:func:`unit_masks` turns channels into the [0, 1] masks ScoreCAM and Poly-CAM multiply the
input by.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import validate
from ..errors import BadValue

__all__ = ["EPS", "combine", "upsample", "normalize", "unit_masks"]

EPS = 1e-12


def combine(alpha: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``sigma(sum_v alpha_v * B^(v))``: ``alpha [N, V]`` or ``[N, V, h, w]``, ``B [N, V, h, w]``
    -> ``[N, h, w]``."""
    if alpha.dim() == 2:
        alpha = alpha[:, :, None, None]
    return (alpha * B).sum(1).clamp(min=0)


def upsample(maps: torch.Tensor, size, mode: str = "bilinear",
             align_corners: bool | None = False) -> torch.Tensor:
    """Resize ``[N, h, w]`` (or ``[N, V, h, w]``) maps to ``size = (H, W)``.

    ``mode``: ``"bilinear"`` (the default, the paper's pipeline), ``"nearest"`` or
    ``"bicubic"`` (which can overshoot: clamp afterwards if the map must stay non-negative);
    ``align_corners`` as in :func:`torch.nn.functional.interpolate` (ignored for nearest).
    """
    maps = validate.tensor(maps, "maps", "[N, h, w]")
    validate.real_maps(maps, "maps", min_dim=2)
    if maps.dim() not in (3, 4):
        raise BadValue(f"maps must be [N, h, w] or [N, V, h, w], got shape {tuple(maps.shape)}"
                       + (" (one map? use maps[None])" if maps.dim() == 2 else "") + ".")
    if not maps.is_floating_point():
        raise BadValue(f"maps must hold floats to be interpolated, got {maps.dtype}: use "
                       "maps.float().")
    if not isinstance(size, (tuple, list, torch.Size)) or len(size) != 2:
        raise BadValue(f"size must be (H, W), got {size!r}.")
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise BadValue(f"mode must be 'bilinear', 'nearest' or 'bicubic', got {mode!r}.")
    size = [validate.positive_int(s, "size (H, W)") for s in size]
    squeeze = maps.dim() == 3
    out = F.interpolate(maps[:, None] if squeeze else maps, size=tuple(size), mode=mode,
                        align_corners=None if mode == "nearest" else align_corners)
    return out[:, 0] if squeeze else out


def normalize(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map of ``[N, ...]`` to [0, 1]; a constant map becomes 0.
    A map holding NaN or inf is refused (naming its index), never turned into zeros."""
    maps = validate.real_maps(maps, "maps", min_dim=2)
    validate.finite(maps, "maps", "map")
    flat = maps.flatten(1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    spread = torch.where(hi > lo, hi - lo, torch.ones_like(hi))   # any range, however tiny
    out = torch.where(hi > lo, (flat - lo) / spread, 0)
    return out.view_as(maps)


def unit_masks(B: torch.Tensor, size) -> torch.Tensor:
    """Each channel of one image's ``B [V, h, w]`` upsampled to ``size`` and min-max
    normalised: ``[V, H, W]`` (the ``H^(v)`` of ScoreCAM, the ``u`` of Poly-CAM)."""
    return normalize(upsample(B[None], size)[0])
