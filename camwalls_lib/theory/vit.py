"""The one-number-per-channel argument, carried to a vision transformer's tokens.

GradCAM on the tokens entering the last block (``B [N, D, h, w]``, the output of that block's
``norm1``) computes, at each patch ``p``, ``s(p) = sum_v alpha_v B_v(p)`` with
``alpha_v = GAP(dB^(v))``, and paints ``p`` iff ``s(p) > 0``. Behind the wall ``dB(p) = 0``
exactly, but ``alpha`` is one number per channel and ``B(p)`` is not 0 there.

LayerNorm makes ``B(p) = gamma * z(p) + beta`` with ``z(p)`` of mean 0 and norm at most
``sqrt(D)`` over the channels. Hence (:func:`layernorm_identity`, checked by sympy)

    s(p) = < a - mean(a), z(p) >  +  < alpha, beta >,        a = alpha * gamma,

a *content* term bounded by ``spread = sqrt(D) * ||a - mean(a)||`` and an *offset*
``<alpha, beta>`` that is the same at every patch. If ``offset > spread``, GradCAM paints
every patch -- every walled one included -- whatever the image holds there; if
``offset < -spread`` it paints none. :func:`gradcam_parts` measures both on a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
import torch
import torch.nn.functional as F

from .. import cams
from ..networks.vit import WalledViT

__all__ = ["GradCAMParts", "gradcam_parts", "layernorm_identity", "constant_weights_map"]


@dataclass
class GradCAMParts:
    """GradCAM's pre-ReLU score on the patch grid, taken apart (``N`` images, ``D`` channels).

    score : ``[N, h, w]`` ``s(p) = sum_v alpha_v B_v(p)``; GradCAM's map is ``relu(score)``.
    content : ``[N, h, w]`` ``<a - mean(a), z(p)>``; offset : ``[N]`` ``<alpha, beta>``.
    spread : ``[N]`` ``sqrt(D) ||a - mean(a)||``, a bound on ``|content|``.
    alpha : ``[N, D]`` GradCAM's weights; gradient : ``[N, D, h, w]`` ``dB``.
    """

    score: torch.Tensor
    content: torch.Tensor
    offset: torch.Tensor
    spread: torch.Tensor
    alpha: torch.Tensor
    gradient: torch.Tensor

    @property
    def must_paint_all(self) -> torch.Tensor:
        """``[N]`` bool: ``offset > spread``, so every patch is painted, walled or not."""
        return self.offset > self.spread


def gradcam_parts(model: WalledViT, x: torch.Tensor, target=None) -> GradCAMParts:
    """Take GradCAM at ``model.cam_layer`` apart for images ``x [N, C, H, W]``."""
    norm1 = model.blocks[-1].norm1
    store = {}
    handle = norm1.register_forward_hook(lambda _m, inputs, _out: store.__setitem__("t", inputs[0]))
    try:
        cap = cams.capture(model, x, target, model.cam_layer)
    finally:
        handle.remove()
    D = cap.B.shape[1]
    z = F.layer_norm(store["t"][:, 1:].detach(), (D,), eps=norm1.eps)           # [N, hw, D]
    z = model.cam_layer(z)                                                       # [N, D, h, w]
    alpha = cams.gradcam_weights(cap)                                            # [N, D]
    a = alpha * norm1.weight.detach()
    centred = a - a.mean(1, keepdim=True)
    content = torch.einsum("nv,nvhw->nhw", centred, z)
    offset = alpha @ norm1.bias.detach()
    score = torch.einsum("nv,nvhw->nhw", alpha, cap.B)
    return GradCAMParts(score=score, content=content, offset=offset,
                        spread=D ** 0.5 * centred.norm(dim=1), alpha=alpha, gradient=cap.dB)


def layernorm_identity(D: int = 3) -> dict:
    """sympy: ``sum_v alpha_v (gamma_v z_v + beta_v)`` equals
    ``sum_v (a_v - mean(a)) z_v + sum_v alpha_v beta_v`` whenever ``sum_v z_v = 0``.

    Returns ``{"score", "split", "difference"}``; ``difference`` simplifies to 0.
    """
    alpha = sp.symbols(f"alpha_1:{D + 1}", real=True)
    gamma = sp.symbols(f"gamma_1:{D + 1}", real=True)
    beta = sp.symbols(f"beta_1:{D + 1}", real=True)
    free = sp.symbols(f"z_1:{D}", real=True)
    z = [*free, -sum(free)]                                   # LayerNorm: mean 0 over channels
    a = [al * g for al, g in zip(alpha, gamma)]
    mean_a = sum(a) / D
    score = sum(al * (g * zv + b) for al, g, zv, b in zip(alpha, gamma, z, beta))
    split = sum((av - mean_a) * zv for av, zv in zip(a, z)) + sum(
        al * b for al, b in zip(alpha, beta))
    return {"score": score, "split": split, "difference": sp.simplify(score - split)}


def constant_weights_map(D: int = 3) -> sp.Expr:
    """sympy: GradCAM's score at a patch when ``alpha_v gamma_v = c`` for every channel.

    The content term vanishes: the score is ``c sum_v beta_v / gamma_v``, free of the
    patch's token ``z`` -- the same value on every patch, walled or not.
    """
    c = sp.Symbol("c", real=True)
    gamma = sp.symbols(f"gamma_1:{D + 1}", nonzero=True, real=True)
    beta = sp.symbols(f"beta_1:{D + 1}", real=True)
    free = sp.symbols(f"z_1:{D}", real=True)
    z = [*free, -sum(free)]
    return sp.simplify(sum((c / g) * (g * zv + b) for g, zv, b in zip(gamma, z, beta)))
