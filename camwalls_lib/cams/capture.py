"""The one capture every CAM method starts from: ``B`` and ``nabla_B y_c`` at one layer.

:func:`capture` runs the network once (and the tail after the layer backwards once) and returns
a :class:`Capture`, everything a weighting rule (:mod:`.rules`) may look at.
:func:`resolve_layer` says which layer is explained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .. import validate
from ..errors import BadType, BadValue
from ..helpers import eval_mode, hooked, resolve_target

__all__ = ["Capture", "capture", "resolve_layer", "forward"]


@dataclass
class Capture:
    """What a weighting rule may look at, for a batch of N images.

    x      : ``[N, C, H, W]`` the inputs.
    B      : ``[N, V, h, w]`` activations of the explained layer.
    dB     : ``[N, V, h, w]`` gradient of the target score w.r.t. ``B`` (None if not asked).
    target : ``[N]`` the explained class of each image.
    y      : ``[N]`` the target's raw score (logit) ``y_c``.
    model, layer : to run more forward passes.
    """

    x: torch.Tensor
    B: torch.Tensor
    dB: torch.Tensor | None
    target: torch.Tensor
    y: torch.Tensor
    model: nn.Module
    layer: nn.Module


def capture(model: nn.Module, x: torch.Tensor, target=None, layer=None,
            with_grad: bool = True) -> Capture:
    """One forward (and backward) pass recording ``B`` and ``nabla_B y_target`` at ``layer``.

    ``target``: None (each image's predicted class), an int, or N ints. ``layer``: None
    (``model.cam_layer``, else the last ``Conv2d``), a module of ``model``, or its dotted name.
    The part of the network before ``layer`` runs without recording a graph, and the gradient
    flows back only to ``B``: one forward pass and the tail's backward pass.
    """
    model = validate.module(model)
    x = validate.images(x)
    layer = resolve_layer(model, layer)
    store = {}

    def hook(_module, _inputs, output):
        _check_feature_map(output, layer, model)
        if "B" in store:
            raise BadValue(f"layer {type(layer).__name__} runs more than once in one forward "
                           "pass (a module used twice): a map would silently use one of its "
                           "calls only. Explain a layer that runs once, or give each use its "
                           "own module.")
        store["B"] = output.detach().clone()
        if with_grad:       # record the graph from B on: the tail only
            torch.set_grad_enabled(True)
            store["leaf"] = store["B"].clone().requires_grad_()
            return store["leaf"].clone()    # a non-leaf, so in-place layers after B still work

    with eval_mode(model), torch.no_grad(), hooked(layer, hook):
        logits = forward(model, x.detach())
        target = resolve_target(target, logits)
        y = logits.gather(1, target[:, None]).squeeze(1)
        dB = _gradient(y, store["leaf"]) if with_grad else None
    validate.finite(store["B"], f"the activations B of {type(layer).__name__}", "image")
    return Capture(x=x, B=store["B"], dB=dB, target=target, y=y.detach(),
                   model=model, layer=layer)


def _gradient(y: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``nabla_B sum(y)``; exactly 0 where (or if) ``y`` does not depend on ``B``."""
    if not y.requires_grad:
        return torch.zeros_like(B)
    (g,) = torch.autograd.grad(y.sum(), B, allow_unused=True)
    return torch.zeros_like(B) if g is None else g.detach()


def resolve_layer(model: nn.Module, layer) -> nn.Module:
    """The module to explain: ``layer`` itself, its dotted name, or the model's default."""
    model = validate.module(model)
    if not (layer is None or isinstance(layer, (str, nn.Module))):
        raise BadType(f"layer must be None, a module of the model or its dotted name, got "
                      f"{layer!r:.60} ({type(layer).__name__}).")
    if layer is None:
        layer = getattr(model, "cam_layer", None)
        if layer is None:
            convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
            if not convs:
                raise BadValue("This model has no Conv2d layer: CAM methods explain a "
                               "convolutional feature map. Pass `layer=` explicitly.")
            layer = convs[-1]
    if isinstance(layer, str):
        try:
            layer = model.get_submodule(layer)
        except AttributeError:
            names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ReLU))]
            raise BadValue(f"The model has no layer named {layer!r}; convolutional "
                           f"candidates: {names[-6:]}") from None
    if not any(m is layer for m in model.modules()):
        raise BadValue(f"layer {layer} is not a module of this model.")
    if isinstance(layer, (nn.Linear, nn.Flatten, nn.Conv1d)):
        raise BadValue(f"layer {type(layer).__name__} is not convolutional: CAM methods need a "
                       "layer with a [N, V, h, w] output, e.g. the last Conv2d or the ReLU after "
                       "it (model.cam_layer for camwalls models).")
    return layer


def _check_feature_map(output, layer, model):
    if not (torch.is_tensor(output) and output.dim() == 4):
        shape = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
        raise BadValue(f"layer {type(layer).__name__} outputs {shape}, not a [N, V, h, w] "
                       "feature map: CAM methods need a convolutional layer.")



def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)``, with an error naming the shape when the model cannot take ``x``, and one
    saying what to do when it returns something other than a tensor of scores."""
    validate.model_dtype(validate.images(x), validate.module(model))
    try:
        out = model(x)
    except RuntimeError as e:
        hint = (" It looks channels-last ([N, H, W, C]): use x.permute(0, 3, 1, 2)."
                if x.dim() == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3) else "")
        raise BadValue(f"The model could not process images of shape {tuple(x.shape)} "
                       f"(check channels and size it expects).{hint} ({e})") from e
    if not torch.is_tensor(out):
        raise BadType(f"The model returned a {type(out).__name__}, not a tensor of raw class "
                      "scores [N, K]: explain a wrapper that returns the logits, e.g. "
                      "nn.Sequential-like `lambda x: model(x)[0]` or `model(x)['logits']` "
                      "inside a small nn.Module.")
    return out
