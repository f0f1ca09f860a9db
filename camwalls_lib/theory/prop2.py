"""Proposition 2 of the paper, numerically: GradCAM's coefficients of the toy [CNN] in closed form.

:func:`closed_form_alpha` evaluates Proposition 2 -- a sum over the *active paths* of the
dense head, read off one forward pass (:func:`path_sums`) -- for any depth ``L`` and any number
of filters ``V``, with the max-pool's ``D`` blocks made explicit (:func:`pooling_indicators`).
It must agree with autograd (``cams.capture(model, x).dB.mean((2, 3))``).

Conventions: images are ``[H, W]``; the conv map ``B`` is ``h x w`` with ``h = H - k + 1``;
the pooled map ``C`` is ``h' x w'`` with ``h' = h / k'``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import BadType, BadValue
from ..helpers import resolve_target
from ..networks.models import ToyCNN
from ..walls import effective_weight

__all__ = ["pooling_indicators", "path_sums", "closed_form_gradient", "closed_form_alpha"]


def pooling_indicators(B: torch.Tensor, k_pool: int, ties: str = "autograd") -> torch.Tensor:
    """The max-pool's ``D`` blocks of Appendix C laid out like ``B``: ``[N, V, h, w]`` of 0/1.

    ``D[..., i, j] = 1`` iff ``B_ij`` is *the* maximum of its ``k' x k'`` window.

    ties : ``"autograd"`` marks the one element PyTorch's max-pool routes the gradient to
        (its ``return_indices``), so every window sums to exactly 1 -- the proof's
        ``sum_k D_{j,k} = 1``. ``"all"`` is the paper's literal indicator
        ``1{max m = m_(p,q)}``, which marks *every* tied maximum: a window of ReLU zeros sums
        to ``k'^2``.
    """
    N, V, h, w = B.shape
    if h % k_pool or w % k_pool:
        raise BadValue(f"k'={k_pool} must divide the map size {h}x{w}.")
    if ties == "autograd":
        _, idx = F.max_pool2d(B, k_pool, return_indices=True)
        D = torch.zeros_like(B).flatten(2)
        D.scatter_(2, idx.flatten(2), 1.0)
        return D.view_as(B)
    if ties == "all":
        window_max = F.max_pool2d(B, k_pool)
        up = window_max.repeat_interleave(k_pool, 2).repeat_interleave(k_pool, 3)
        return (B == up).to(B.dtype)
    raise BadValue(f"ties must be 'autograd' or 'all', got {ties!r}.")


def _check_toy(model: nn.Module) -> None:
    if not isinstance(model, ToyCNN):
        raise BadType(f"Proposition 2 is about the paper's [CNN]: pass a ToyCNN, got "
                      f"{type(model).__name__}.")
    if len(model.features) != 3:
        raise BadValue("Proposition 2 covers one conv -> ReLU -> max-pool block; this ToyCNN "
                       "has extra_convs. Use autograd (cams.capture) for deeper variants.")


@torch.no_grad()
def path_sums(model: ToyCNN, x: torch.Tensor, target=None) -> torch.Tensor:
    """``rho [N, V, h', w']`` of Appendix C: for each pooled position ``b``,

        rho_b = sum over hidden units i_1..i_{L-1} of
                1{a_{i_1}^(1) > 0} ... 1{a_{i_{L-1}}^(L-1) > 0}
                W^(1)_{i_1, b} W^(2)_{i_2, i_1} ... W^(L)_{c, i_{L-1}},

    the sum over every *active path* from ``C_b`` to the class score ``y_c``. The indicators
    come from one forward pass of ``x`` ``[N, C, H, W]``; ``target`` is None (predicted class),
    an int or N ints. Summing a product over all paths is a product of matrices, so it is
    computed right to left as ``W^(1)T diag(1{a^(1)>0}) ... W^(L)T e_c``.
    """
    _check_toy(model)
    C = model.features(x)
    layers = model.dense_layers
    r, pre = C.flatten(1), []
    for i, layer in enumerate(layers):
        a = F.linear(r, effective_weight(layer), layer.bias)
        if i < len(layers) - 1:
            pre.append(a)
            r = a.relu()
    target = resolve_target(target, a)
    g = effective_weight(layers[-1])[target]                              # [N, d_{L-1}]
    for layer, a in zip(reversed(layers[:-1]), reversed(pre)):
        g = (g * (a > 0).to(g.dtype)) @ effective_weight(layer)           # [N, d_{l-1}]
    return g.view_as(C)


@torch.no_grad()
def closed_form_gradient(model: ToyCNN, x: torch.Tensor, target=None,
                         ties: str = "autograd") -> torch.Tensor:
    """``nabla_B f`` ``[N, V, h, w]`` from Appendix C: ``D`` (window arg-max) times ``rho``
    of the window. (Its positionwise product with ``B`` is HiResCAM.)"""
    rho = path_sums(model, x, target)
    B = model.features[:2](x)
    D = pooling_indicators(B, model.k_pool, ties)
    k = model.k_pool
    return D * rho.repeat_interleave(k, 2).repeat_interleave(k, 3)


def closed_form_alpha(model: ToyCNN, x: torch.Tensor, target=None,
                      ties: str = "autograd") -> torch.Tensor:
    """GradCAM's ``alpha [N, V]`` by Proposition 2 (any ``L``, any ``V``).

    With ``ties="autograd"`` every window's ``D`` sums to 1 and this is exactly
    ``alpha_v = (1 / hw) sum_{b in channel v} rho_b`` -- the Proposition. ``ties="all"`` uses
    the paper's literal indicators and double-counts tied windows (see
    :func:`pooling_indicators`).
    """
    return closed_form_gradient(model, x, target, ties).mean((2, 3))
