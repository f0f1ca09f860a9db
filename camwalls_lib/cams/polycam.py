"""Poly-CAM (Englebert et al.): CAM maps at several layers, refined from coarse to fine.

Its weights come from masked forward passes (:func:`.masked.masked_scores`, the loop ScoreCAM
and AblationCAM share); its maps are combined with :func:`lnorm`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import validate
from ..errors import BadValue
from ..helpers import eval_mode
from .capture import capture, forward, resolve_layer
from .maps import EPS, combine, upsample
from .masked import masked_scores

__all__ = ["polycam", "poly_weights", "lnorm"]


def polycam(model: nn.Module, x: torch.Tensor, target=None, layers=None, variant: str = "±",
            batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """Poly-CAM (Englebert et al.), Eq. (3): a CAM per layer, refined from coarse to fine.

    ``P_L = relu(sum_k w_{L,k} A_L^k)`` and, going to finer layers,
    ``P_l = LNorm(relu(sum_k w_{l,k} A_l^k), s) * Up(P_{l+1}, s)``, where ``s`` is the
    resolution ratio and ``LNorm(M, s) = M / Up(AvgPool_s(M), s)``. The weights use the
    target's softmax probability ``f_c`` and ``u = `` min-max-normalised upsampled channel:

    - ``"+"``  (CIC, Eq. 4): ``w = f_c(x * u)`` (the baseline term ``f_c(X_b)`` is 0, as in
      the paper's experiments);
    - ``"-"``  (CDC, Eq. 5): ``w = relu(f_c(x) - f_c(x * (1 - u)))``;
    - ``"±"``  (CVC, Eq. 6): ``w = relu(f_c(x) + f_c(x * u) - f_c(x * (1 - u)))``.

    ``layers``: modules of ``model`` (any order; sorted finest first by map size); default
    ``model.poly_layers`` or the single CAM layer. Returns ``[N, h_1, w_1]`` at the finest
    layer's resolution.
    """
    if variant not in ("+", "-", "±"):
        raise BadValue(f"Poly-CAM variant must be '+', '-' or '±', got {variant!r}.")
    validate.positive_int(batch_size, "batch_size")
    x = validate.images(x)
    if layers is None:
        layers = getattr(model, "poly_layers", None) or [resolve_layer(model, None)]
    layers = [resolve_layer(model, layer) for layer in
              (layers if isinstance(layers, (list, tuple)) else [layers])]
    caps = [capture(model, x, target, layer, with_grad=False) for layer in layers]
    caps.sort(key=lambda c: -c.B.shape[-1])            # finest first
    with torch.no_grad(), eval_mode(model):
        p_x = torch.softmax(forward(model, x), 1).gather(1, caps[0].target[:, None])[:, 0]
    P = None
    for cap in reversed(caps):                          # coarsest first
        w = poly_weights(cap, p_x, variant, batch_size, progress)
        M = combine(w, cap.B)
        if P is None:
            P = M
            continue
        s = max(1, round(M.shape[-1] / P.shape[-1]))
        P = lnorm(M, s) * upsample(P, M.shape[-2:])
    return P


def poly_weights(cap, p_x: torch.Tensor, variant: str, batch_size: int = 64,
                 progress: bool = False) -> torch.Tensor:
    """Poly-CAM's channel weights ``w [N, V]`` at one layer (Eqs. 4-6) from its capture ``cap``
    and the target's probability ``p_x [N]`` on the clean image: one number per channel."""
    prob = lambda kind: masked_scores(cap, kind, batch_size, progress, softmax=True)  # noqa: E731
    if variant == "+":
        return prob("u")
    hidden = prob("1-u")
    if variant == "-":
        return (p_x[:, None] - hidden).clamp(min=0)
    return (p_x[:, None] + prob("u") - hidden).clamp(min=0)


def lnorm(M: torch.Tensor, s: int) -> torch.Tensor:
    """Poly-CAM's local normalisation (Eq. 1): ``M / Up(AvgPool_s(M))``; ``[N, h, w]``."""
    if s == 1:
        return M
    local = upsample(F.avg_pool2d(M[:, None], s, ceil_mode=True)[:, 0], M.shape[-2:])
    return torch.where(local > 0, M / local.clamp_min(EPS), 0)

