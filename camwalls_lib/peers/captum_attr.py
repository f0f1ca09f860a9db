"""Captum's attributions as wall-test explainers.

- ``LayerGradCam``: ``LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)``
  (Captum's default is *no* ReLU; a signed map cannot be tested for mass), upsampled with
  ``LayerAttribution.interpolate`` in Captum's default mode, **nearest**.
- ``GuidedGradCam``: guided backpropagation times the (ReLU'd, nearest-upsampled) GradCAM.
- pixel attributions ``Saliency``, ``IntegratedGradients``, ``InputXGradient``, ``DeepLift``:
  one value per input channel and pixel, signed; reduced to ``|a|`` summed over channels,
  the usual heatmap of their magnitude (``Saliency`` already returns ``|gradient|``).

Pixel attributions need no upsampling: the question is only whether they are 0 on the dead
pixels, where every gradient of the output is exactly 0.
"""

from __future__ import annotations

from .. import cams, validate
from ..helpers import eval_mode
from . import checked, method_names, require

__all__ = ["METHODS", "explainers"]

METHODS = ("LayerGradCam", "GuidedGradCam", "Saliency", "IntegratedGradients",
           "InputXGradient", "DeepLift")


def explainers(layer=None, ig_steps: int = 32, methods=METHODS) -> dict:
    """``{Captum class name: explainer}``; ``ig_steps``: IntegratedGradients' ``n_steps``;
    ``methods``: one name or several of :data:`METHODS` (any case). Every explainer runs the
    model in eval mode (no dropout) and leaves it in the mode it found it in."""
    attr = require("captum.attr", "captum")
    ig_steps = validate.positive_int(ig_steps, "ig_steps")
    out = {}
    for name in method_names(methods, METHODS, lambda n: hasattr(attr, n), "captum"):
        cls = getattr(attr, name)
        if name == "LayerGradCam":
            out[name] = _layer_gradcam(attr, layer)
        elif name == "GuidedGradCam":
            out[name] = _pixel(cls, name, layer=layer)
        elif name == "IntegratedGradients":
            out[name] = _pixel(cls, name, n_steps=ig_steps)
        else:
            out[name] = _pixel(cls, name)
    return out


def _layer_gradcam(attr, layer):
    def explain(model, x, target):
        with eval_mode(model):
            maps = attr.LayerGradCam(model, cams.resolve_layer(model, layer)).attribute(
                x, target=target, relu_attributions=True)
        return attr.LayerAttribution.interpolate(maps, tuple(x.shape[-2:]))[:, 0]
    explain.__name__ = "LayerGradCam"
    return checked(explain)


def _pixel(cls, name, layer=None, **options):
    def explain(model, x, target):
        with eval_mode(model):
            method = (cls(model, cams.resolve_layer(model, layer)) if name == "GuidedGradCam"
                      else cls(model))
            a = method.attribute(x.clone().requires_grad_(True), target=target, **options)
        return a.detach().abs().sum(1)
    explain.__name__ = name
    return checked(explain)
