"""``torchcam`` methods as wall-test explainers.

torchcam's extractors hook the model when they are built; the user then runs
``scores = model(x)`` and calls ``extractor(class_idx, scores)``, which returns one map per
hooked layer at **feature resolution**, ReLU'd (except CAM) and min-max normalised. The
explainers here do exactly that inside a ``with`` block (hooks removed after every call) and
return the ``[N, h, w]`` map; the wall test upsamples it (bilinear), as
``torchcam.utils.overlay_mask`` would (it uses bicubic; see the chapter on where leaks are born).

``CAM`` needs a head that is global average pooling + one linear layer reading the explained
channels; on other heads its explainer raises a ValueError. The multi-layer ``RefineCAM`` and
the transformer method ``LeGrad`` are not wrapped.
"""

from __future__ import annotations

import inspect

from .. import cams, validate
from ..errors import BadType, BadValue
from ..helpers import eval_mode
from . import checked, method_names, require

__all__ = ["METHODS", "explainers"]

METHODS = ("CAM", "GradCAM", "GradCAMpp", "SmoothGradCAMpp", "XGradCAM", "LayerCAM",
           "ScoreCAM", "SSCAM", "ISCAM", "FinerCAM")
"""The CNN methods of torchcam 0.5 wrapped here (the installed version decides which of them
:func:`explainers` returns)."""

_PERTURBATION = ("ScoreCAM", "SSCAM", "ISCAM")


def explainers(layer=None, batch_size: int = 32, options: dict | None = None,
               methods=METHODS) -> dict:
    """``{torchcam class name: explainer}``. ``batch_size``: masked inputs per forward pass
    (ScoreCAM, SSCAM, ISCAM); ``options``: extra constructor arguments per method, e.g.
    ``{"SSCAM": {"num_samples": 4}}`` -- each option must be one the method's constructor
    takes, and counts (``num_samples``, ``batch_size``) must be >= 1. ``methods``: one name or
    several of :data:`METHODS` (any case)."""
    lib = require("torchcam.methods", "torchcam")
    batch_size = validate.positive_int(batch_size, "batch_size")
    names = method_names(methods, METHODS, lambda n: hasattr(lib, n), "torchcam")
    options = _check_options(options, lib)
    return {name: _explainer(getattr(lib, name), layer,
                             {**({"batch_size": batch_size} if name in _PERTURBATION else {}),
                              **options.get(name, {})})
            for name in names}


def _check_options(options, lib) -> dict:
    """``options`` checked: ``{method name: {constructor argument: value}}``."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise validate.BadType(f"options must be a dict {{method: {{argument: value}}}}, got "
                               f"{type(options).__name__}.")
    checked = {}
    for name, kwargs in options.items():
        name = validate.choice(name, "options key (a method)", METHODS)
        if not isinstance(kwargs, dict):
            raise validate.BadType(f"options[{name!r}] must be a dict of constructor "
                                   f"arguments, got {kwargs!r}.")
        takes = set(inspect.signature(getattr(lib, name).__init__).parameters) - {"self"}
        unknown = sorted(set(kwargs) - takes)
        if unknown:
            raise validate.BadValue(f"options[{name!r}] has {unknown}, which torchcam's {name} "
                                    f"does not take; it takes {sorted(takes)}.")
        for count in ("num_samples", "batch_size"):
            if count in kwargs:
                validate.positive_int(kwargs[count], f"options[{name!r}][{count!r}]")
        checked[name] = kwargs
    return checked


def _explainer(cls, layer, kwargs):
    def explain(model, x, target):
        target_layer = cams.resolve_layer(model, layer)
        try:
            with eval_mode(model), cls(model, target_layer, input_shape=tuple(x.shape[1:]),
                                       **kwargs) as extractor:
                scores = model(x)
                maps = extractor(target.tolist(), scores)
        except RuntimeError as err:
            if cls.__name__ != "CAM":
                raise
            raise BadValue("torchcam's CAM needs a head that is global average pooling + one "
                           "linear layer reading the explained channels; this model has "
                           f"another head ({err}).") from err
        return maps[0]
    explain.__name__ = cls.__name__
    return checked(explain)
