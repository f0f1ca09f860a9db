"""``grad-cam`` (pytorch-grad-cam) methods as wall-test explainers.

Each explainer builds the library's CAM object inside a ``with`` block (hooks are released
after every call) and returns exactly what its users get: ``cam(input_tensor=x, targets=...)``,
a numpy ``[N, H, W]`` map at input resolution -- ReLU at feature resolution, min-max scaled,
resized with OpenCV's bilinear ``cv2.resize`` (then min-max scaled again).

Special calls: ``FullGrad`` ignores ``target_layers`` (it uses every ``Conv2d``/``BatchNorm2d``
with a bias, and the input gradient); ``FinerCAM`` (GradCAM on ``y_c`` minus the closest
classes) takes the target through ``target_idx``, one image at a time; ``RandomCAM`` draws
its channel weights from numpy's global generator, seeded with 0 here (and restored after).
With ``quiet=True`` (the default) what grad-cam writes to stderr -- ScoreCAM's and
AblationCAM's progress bars -- is captured and dropped; errors are still raised.
The meta-methods ``RefineCAM`` and ``SESS`` (which run another method over several layers or
crops) are not wrapped.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from .. import cams, validate
from ..helpers import eval_mode
from . import checked, method_names, require

__all__ = ["METHODS", "explainers"]

METHODS = ("GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM", "GradCAMElementWise",
           "LayerCAM", "EigenCAM", "EigenGradCAM", "KPCA_CAM", "ScoreCAM", "AblationCAM",
           "FullGrad", "ShapleyCAM", "FinerCAM", "FEM", "RandomCAM")
"""The BaseCAM-style methods of grad-cam 1.5.x wrapped here (the installed version decides
which of them :func:`explainers` returns)."""


def explainers(layer=None, batch_size: int = 32, methods=METHODS, quiet: bool = True) -> dict:
    """``{grad-cam class name: explainer}`` for every name of ``methods`` the installed
    grad-cam offers. ``batch_size``: masked/ablated inputs per forward pass (ScoreCAM,
    AblationCAM). ``methods``: one name or several of :data:`METHODS` (any case).
    Every explainer runs the model in eval mode and leaves it in the mode it found it in
    (grad-cam itself leaves it in eval mode)."""
    lib = require("pytorch_grad_cam", "grad-cam")
    batch_size = validate.positive_int(batch_size, "batch_size")
    quiet = validate.boolean(quiet, "quiet")
    names = method_names(methods, METHODS, lambda n: hasattr(lib, n), "grad-cam")
    return {name: _explainer(getattr(lib, name), layer, batch_size, quiet) for name in names}


def _explainer(cls, layer, batch_size, quiet):
    def explain(model, x, target):
        with contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext(), \
                eval_mode(model):
            return _run(cls, model, x, target, layer, batch_size)
    explain.__name__ = cls.__name__
    return checked(explain)


def _run(cls, model, x, target, layer, batch_size):
    targets_mod = require("pytorch_grad_cam.utils.model_targets", "grad-cam")
    target_layer = cams.resolve_layer(model, layer)
    if cls.__name__ == "FinerCAM":
        with cls(model=model, target_layers=[target_layer]) as cam:
            return np.concatenate([cam(x[n:n + 1], target_idx=int(t))
                                   for n, t in enumerate(target)])
    layers = [] if cls.__name__ == "FullGrad" else [target_layer]
    state = np.random.get_state()
    np.random.seed(0)
    try:
        with cls(model=model, target_layers=layers) as cam:
            if cls.__name__ in ("ScoreCAM", "AblationCAM"):   # ScoreCAM reads it if set
                cam.batch_size = batch_size
            out = cam(input_tensor=x, targets=[targets_mod.ClassifierOutputTarget(int(t))
                                               for t in target])
    finally:
        np.random.set_state(state)
    if out is None:  # grad-cam's `with` block swallows an IndexError and returns nothing
        raise RuntimeError(f"grad-cam's {cls.__name__} failed inside its `with` block "
                           "(grad-cam printed the IndexError).")
    return out
