"""Zennit's layer-wise relevance propagation as wall-test explainers.

Each explainer runs ``zennit.attribution.Gradient(model, composite)`` with the output
relevance one-hot on the target class, exactly as Zennit's documentation does, and returns
``|relevance|`` summed over channels. Composites: ``EpsilonPlus``, ``EpsilonPlusFlat``,
``EpsilonAlpha2Beta1``, ``EpsilonAlpha2Beta1Flat``, ``EpsilonGammaBox`` (bounds: the
batch's minimum and maximum), ``ExcitationBackprop``, ``GuidedBackprop``; each with Zennit's
BatchNorm-merging canonizer (``SequentialMergeBatchNorm``); plus Zennit's own
``SmoothGrad`` and ``IntegratedGradients`` attributors (no composite).
"""

from __future__ import annotations

import torch

from ..helpers import eval_mode
from . import checked, require

__all__ = ["METHODS", "explainers"]

COMPOSITES = ("EpsilonPlus", "EpsilonPlusFlat", "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat",
              "EpsilonGammaBox", "ExcitationBackprop", "GuidedBackprop")
ATTRIBUTORS = ("SmoothGrad", "IntegratedGradients")
METHODS = COMPOSITES + ATTRIBUTORS


def explainers(layer=None, methods=METHODS) -> dict:
    """``{name: explainer}`` (``layer`` is unused: LRP explains the input)."""
    require("zennit", "zennit")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown Zennit methods {unknown}; choose from {list(METHODS)}.")
    return {name: _explainer(name) for name in methods}


def _explainer(name):
    def explain(model, x, target):
        attribution = require("zennit.attribution", "zennit")
        state = torch.get_rng_state()
        torch.manual_seed(0)
        try:
            with eval_mode(model):
                x = x.clone().requires_grad_(True)
                with torch.no_grad():
                    onehot = torch.zeros_like(model(x)).scatter_(1, target[:, None], 1.0)
                if name in ATTRIBUTORS:
                    attributor = getattr(attribution, name)(model=model)
                else:
                    attributor = attribution.Gradient(model=model, composite=_composite(name, x))
                with attributor:
                    _, relevance = attributor(x, onehot)
        finally:
            torch.set_rng_state(state)
        return relevance.detach().abs().sum(1)
    explain.__name__ = name
    return checked(explain)


def _composite(name, x):
    composites = require("zennit.composites", "zennit")
    options = {"canonizers": [require("zennit.canonizers", "zennit").SequentialMergeBatchNorm()]}
    if name == "EpsilonGammaBox":
        options.update(low=float(x.min()), high=float(x.max()))
    return getattr(composites, name)(**options)
