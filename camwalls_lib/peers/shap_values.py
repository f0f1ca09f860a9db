"""SHAP's explainers as wall-test explainers.

Each image is explained on its own target logit (the model wrapped to return that one
output), and ``|SHAP value|`` summed over channels is the map:

- ``GradientExplainer`` (expected gradients) and ``DeepExplainer`` (DeepLIFT-style
  multipliers; additivity check off), background: a black image and the batch's mean image;
- ``KernelExplainer`` on the 7 x 7 superpixels of :mod:`.superpixels` (a block removed is set
  to 0; its value painted on all its pixels), ``samples`` model evaluations per image;
- ``PartitionExplainer`` with SHAP's own ``maskers.Image`` (mask value 0) and its
  hierarchical partition of the pixels, ``max_evals = samples``.

SHAP's sampling draws from numpy's global generator: it is seeded with 0 and restored.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import torch
import torch.nn as nn

from ..helpers import eval_mode
from . import checked, require
from .superpixels import SIDE, grid

__all__ = ["METHODS", "explainers"]

METHODS = ("GradientExplainer", "DeepExplainer", "KernelExplainer", "PartitionExplainer")


class _OneLogit(nn.Module):
    """``x -> model(x)[:, c:c+1]``: the logit SHAP explains."""

    def __init__(self, model: nn.Module, c: int):
        super().__init__()
        self.model, self.c = model, c

    def forward(self, x):
        return self.model(x)[:, self.c:self.c + 1]


def explainers(layer=None, samples: int = 128, methods=METHODS) -> dict:
    """``{name: explainer}``; ``samples``: model evaluations per image (Kernel, Partition)
    and expected-gradient samples (GradientExplainer)."""
    require("shap", "shap")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown SHAP methods {unknown}; choose from {list(METHODS)}.")
    return {name: _explainer(name, samples) for name in methods}


def _explainer(name, samples):
    def explain(model, x, target):
        shap = require("shap", "shap")
        state = np.random.get_state()
        np.random.seed(0)
        try:
            with eval_mode(model), contextlib.redirect_stderr(io.StringIO()):
                # DeepExplainer hooks and annotates the modules it runs through: it gets a copy
                net = copy.deepcopy(model) if name == "DeepExplainer" else model
                maps = [_one(shap, name, _OneLogit(net, int(t)).eval(), x, n, samples)
                        for n, t in enumerate(target)]
        finally:
            np.random.set_state(state)
        return torch.stack(maps)
    explain.__name__ = name
    return checked(explain)


def _one(shap, name, f, x, n, samples):
    """The ``[H, W]`` map of image ``n``."""
    xi = x[n:n + 1]
    if name in ("GradientExplainer", "DeepExplainer"):
        background = torch.cat([torch.zeros_like(xi), x.mean(0, keepdim=True)])
        if name == "GradientExplainer":
            values = shap.GradientExplainer(f, background).shap_values(xi, nsamples=samples,
                                                                       rseed=0)
        else:
            values = shap.DeepExplainer(f, background).shap_values(xi, check_additivity=False)
        return torch.as_tensor(np.asarray(values)).reshape(xi.shape).abs().sum(1)[0].float()
    H, W = x.shape[-2:]
    if name == "KernelExplainer":
        labels = grid(H, W)

        def on_blocks(z):
            keep = torch.as_tensor(z, dtype=x.dtype)[:, labels]        # [M, H, W]
            with torch.no_grad():
                return f(xi * keep[:, None]).double().numpy()[:, 0]
        values = shap.KernelExplainer(on_blocks, np.zeros((1, SIDE * SIDE))).shap_values(
            np.ones((1, SIDE * SIDE)), nsamples=samples, silent=True)
        return torch.as_tensor(np.abs(np.asarray(values)).reshape(-1))[labels].float()

    def on_images(images):
        batch = torch.as_tensor(np.asarray(images), dtype=x.dtype).permute(0, 3, 1, 2)
        with torch.no_grad():
            return f(batch).double().numpy()
    image = xi[0].permute(1, 2, 0).numpy()
    masker = shap.maskers.Image(0.0, image.shape)
    result = shap.PartitionExplainer(on_images, masker)(image[None], max_evals=samples,
                                                         silent=True)
    return torch.as_tensor(np.abs(result.values[0])).reshape(H, W, -1).sum(-1).float()
