"""More of Captum as wall-test explainers: propagation, Shapley-value and perturbation
methods, noise tunnels and layer attributions (the first six are in :mod:`.captum_attr`).

Pixel attributions (one signed value per channel and pixel) are reduced to ``|a|`` summed
over channels, as in :mod:`.captum_attr`. Perturbation methods work on the superpixels of
:mod:`.superpixels` (a 7 x 7 grid of blocks, the baseline 0): ``KernelShap``, ``Lime``,
``FeatureAblation``, ``ShapleyValueSampling``; ``Occlusion`` slides a window of one block
with a stride of half a block. Layer attributions (``Layer*``) explain ``model.cam_layer``,
summed over channels, ReLU'd (their positive evidence), upsampled bilinearly by the wall test.
Sampling methods are seeded (torch's global generator, restored afterwards). ``LRP`` is
Captum's, called as its documentation does: it has no rule for ``Flatten``, pooling or
normalisation layers, and raises on networks that hold them (the scoreboard says so).
"""

from __future__ import annotations

import torch

from .. import cams
from ..helpers import eval_mode
from . import checked, require
from .superpixels import SIDE, grid

__all__ = ["METHODS", "explainers"]

PIXEL = ("GuidedBackprop", "Deconvolution", "DeepLiftShap", "GradientShap", "LRP")
SUPERPIXEL = ("KernelShap", "Lime", "FeatureAblation", "ShapleyValueSampling", "Occlusion")
TUNNELS = ("SmoothGrad(Saliency)", "SmoothGradSq(IntegratedGradients)", "VarGrad(Saliency)")
LAYER = ("LayerGradientXActivation", "LayerActivation", "LayerDeepLift", "LayerConductance")
METHODS = PIXEL + SUPERPIXEL + TUNNELS + LAYER


def explainers(layer=None, samples: int = 64, methods=METHODS) -> dict:
    """``{name: explainer}``; ``samples``: model evaluations per image of the sampling
    methods (KernelShap, Lime, ShapleyValueSampling permutations / 8, noise draws / 4)."""
    attr = require("captum.attr", "captum")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown Captum methods {unknown}; choose from {list(METHODS)}.")
    return {name: _explainer(attr, name, layer, samples) for name in methods}


def _explainer(attr, name, layer, samples):
    def explain(model, x, target):
        state = torch.get_rng_state()
        torch.manual_seed(0)
        try:
            with eval_mode(model):
                return _attribute(attr, name, model, x.clone(), target, layer, samples)
        finally:
            torch.set_rng_state(state)
    explain.__name__ = name
    return checked(explain)


def _attribute(attr, name, model, x, target, layer, samples):
    if name in LAYER:
        method = getattr(attr, name)(model, cams.resolve_layer(model, layer))
        a = method.attribute(x) if name == "LayerActivation" else \
            method.attribute(x, target=target)
        return a.detach().sum(1).clamp(min=0)
    baseline = torch.zeros_like(x)
    if name in TUNNELS:
        kind, inner = name.split("(")
        kind = {"SmoothGrad": "smoothgrad", "SmoothGradSq": "smoothgrad_sq", "VarGrad": "vargrad"}[kind]
        method = getattr(attr, inner.rstrip(")"))(model)
        a = attr.NoiseTunnel(method).attribute(
            x.requires_grad_(True), target=target, nt_type=kind,
            nt_samples=max(2, samples // 4), stdevs=0.15 * float(x.std()))
    elif name in SUPERPIXEL:
        a = _superpixel(attr, name, model, x, target, baseline, samples)
    elif name in ("DeepLiftShap", "GradientShap"):
        backgrounds = torch.cat([baseline[:1], x.mean(0, keepdim=True)])
        a = getattr(attr, name)(model).attribute(x.requires_grad_(True), backgrounds,
                                                 target=target)
    else:
        a = getattr(attr, name)(model).attribute(x.requires_grad_(True), target=target)
    return a.detach().abs().sum(1)



def _superpixel(attr, name, model, x, target, baseline, samples):
    H, W = x.shape[-2:]
    if name == "Occlusion":
        bh, bw = H // SIDE, W // SIDE
        return attr.Occlusion(model).attribute(
            x, sliding_window_shapes=(x.shape[1], bh, bw), strides=(x.shape[1], bh // 2, bw // 2),
            baselines=0, target=target)
    mask = grid(H, W).to(x.device)[None, None]
    method = getattr(attr, name)(model)
    options = {"n_samples": samples} if name in ("KernelShap", "Lime") else \
        {"n_samples": max(1, samples // 8)} if name == "ShapleyValueSampling" else {}
    return method.attribute(x, baselines=baseline, target=target, feature_mask=mask, **options)
