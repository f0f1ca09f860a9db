"""Adapters: the saliency methods of other libraries as wall-test explainers.

Each submodule wraps one optional library and is imported only when you ask for it, so the core
of ``camwalls_lib`` never imports them (``pip install camwalls[peers]`` installs all three):

- :mod:`.grad_cam` -- ``grad-cam`` (pytorch-grad-cam): :func:`grad_cam.explainers`;
- :mod:`.torch_cam` -- ``torchcam``: :func:`torch_cam.explainers`;
- :mod:`.captum_attr` -- Captum: :func:`captum_attr.explainers`.

Every ``explainers(layer=None, ...)`` returns ``{method name: explainer}``, each explainer a
callable ``(model, x [N, C, H, W], target [N]) -> [N, h, w]`` maps exactly as that library's
users get them (its own ReLU, normalisation and resizing), ready for
:func:`camwalls_lib.metrics.walltest.wall_test`. ``layer=None`` explains ``model.cam_layer`` (or the
last ``Conv2d``), like :func:`camwalls_lib.cams.compute`. Every explainer checks what it is
given before the peer library sees it (:func:`checked`): a target out of the model's range is
a :class:`~camwalls_lib.errors.BadValue`, not an index error deep inside that library.
"""

from __future__ import annotations

import functools
import importlib

import torch

from .. import validate
from ..cams.capture import forward
from ..helpers import eval_mode, resolve_target

__all__ = ["PIP_COMMAND", "LIBRARIES", "require", "explainers", "method_names", "checked"]

PIP_COMMAND = "pip install camwalls[peers]"

LIBRARIES = {"grad-cam": "grad_cam", "torchcam": "torch_cam", "captum": "captum_attr"}
"""PyPI name -> adapter submodule."""


def require(module: str, package: str):
    """Import ``module`` (of the PyPI ``package``) or raise an ImportError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"This adapter needs the package '{package}', which is not installed: "
                          f"{PIP_COMMAND}  (or pip install {package}).") from e


def explainers(library: str, layer=None, **options) -> dict:
    """``{method name: explainer}`` of ``library`` (a key of :data:`LIBRARIES`)."""
    library = validate.choice(library, "library", LIBRARIES)
    adapter = importlib.import_module(f"{__name__}.{LIBRARIES[library]}")
    return adapter.explainers(layer=layer, **options)


def method_names(methods, known: tuple, offered, package: str) -> tuple:
    """``methods`` (one name or several, any case) checked against an adapter's ``known``
    names, in their own spelling. ``known`` itself (the default) keeps only the names the
    installed ``package`` offers (``offered(name)``); a name asked for explicitly that it does
    not offer is refused, naming the package."""
    if methods is known:
        return tuple(name for name in known if offered(name))
    names = tuple(validate.choice(m, "methods entry", known)
                  for m in validate.names(methods, "methods"))
    missing = [name for name in names if not offered(name)]
    if missing:
        raise validate.BadValue(f"methods {missing} are not offered by the installed {package}: "
                                f"upgrade it (pip install -U {package}) or leave them out.")
    return names


def checked(explain):
    """``explain(model, x, target)`` with the one input check every adapter shares: ``model`` a
    network, ``x`` images ``[N, C, H, W]`` in its dtype, and ``target`` (None: each image's
    predicted class; an int or ``N`` ints) checked against the number of classes the model
    returns (one forward pass without gradients), then handed on as a long tensor ``[N]``."""
    @functools.wraps(explain)
    def run(model, x, target=None):
        with eval_mode(model), torch.no_grad():
            logits = forward(model, x)
        return explain(model, x, resolve_target(target, logits))
    return run
