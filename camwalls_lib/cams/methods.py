"""The CAM methods by name: the registry of weighting rules and the calls that run them.

Every method computes ``[M] = sigma(sum_v alpha_v (.) B^(v))`` from one :func:`~.capture.capture`
and differs only in its weighting rule (:mod:`.rules`); Poly-CAM runs at several layers
(:mod:`.polycam`). Entry points: :func:`compute` (raw maps at feature resolution),
:func:`compute_many` (several methods, one capture), :func:`saliency` and :func:`saliency_many`
(at input resolution), :data:`METHODS`, :data:`LABELS`, :data:`GLOBAL`, :func:`options_of`,
:func:`method_name`.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .. import validate
from ..errors import BadType, BadValue
from .capture import Capture, capture
from .maps import combine, normalize, upsample
from .masked import shared_passes
from .polycam import polycam
from .rules import (ablationcam_weights, cam_weights, centred, eigencam_weights,
                    gradcam_weights, gradcampp_weights, hirescam_weights, layercam_weights,
                    opticam_weights, scorecam_weights, xgradcam_weights)

__all__ = ["Method", "RULES", "METHODS", "LABELS", "GLOBAL", "compute", "compute_many",
           "options_of", "saliency", "saliency_many", "method_name"]


# ----------------------------------------------------------------------------- methods

@dataclass(frozen=True)
class Method:
    """A CAM method: its weighting rule and what it needs."""

    label: str
    weights: Callable[..., torch.Tensor]
    needs_grad: bool = True
    activations: Callable[[torch.Tensor], torch.Tensor] = lambda B: B

    @property
    def options(self) -> tuple[str, ...]:
        """The rule's keyword options, read from its signature (all but ``cap``)."""
        return _keywords(self.weights)[1:]


def _keywords(fn) -> tuple[str, ...]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds)


RULES: dict[str, Method] = {
    "cam": Method("CAM", cam_weights),
    "gradcam": Method("GradCAM", gradcam_weights),
    "gradcam++": Method("GradCAM++", gradcampp_weights),
    "xgradcam": Method("XGradCAM", xgradcam_weights),
    "hirescam": Method("HiResCAM", hirescam_weights),
    "layercam": Method("LayerCAM", layercam_weights),
    "scorecam": Method("ScoreCAM", scorecam_weights, needs_grad=False),
    "ablationcam": Method("AblationCAM", ablationcam_weights, needs_grad=False),
    "eigencam": Method("EigenCAM", eigencam_weights, needs_grad=False, activations=centred),
    "opticam": Method("Opti-CAM", opticam_weights, needs_grad=False),
}
"""The single-layer methods: name -> :class:`Method` (its weighting rule)."""
_POLY = {"pcam+": "PCAM+", "pcam-": "PCAM-", "pcam±": "PCAM±"}

METHODS: tuple[str, ...] = (*RULES, *_POLY)
"""Every method name :func:`compute` accepts."""

LABELS: dict[str, str] = {**{k: m.label for k, m in RULES.items()}, **_POLY}
"""Display names, e.g. ``LABELS["gradcam++"] == "GradCAM++"``."""

GLOBAL: frozenset[str] = frozenset(METHODS) - {"hirescam", "layercam"}
"""Methods whose coefficient is one number per channel: the ones that can see through walls."""


def compute(method, model: nn.Module, x: torch.Tensor, target=None, layer=None,
            **options) -> torch.Tensor:
    """The raw saliency map of ``method`` at feature resolution.

    Parameters
    ----------
    method : one of :data:`METHODS` (case-insensitive; "GradCAM++", "gradcampp" also work),
        or your own weighting rule: a function ``rule(cap: Capture, **options) -> alpha`` with
        ``alpha [N, V]`` or ``[N, V, h, w]`` (it gets ``cap.dB``, the gradient, for free).
    model : a classifier ``[N, C, H, W] -> [N, K]`` raw scores.
    x : ``[N, C, H, W]`` images (``N >= 1``).
    target : None (predicted class), one class index, or N indices.
    layer : the explained layer (default ``model.cam_layer`` or the last ``Conv2d``); for
        Poly-CAM a list of layers, coarsest last (default ``model.poly_layers``).
    options : ``batch_size`` (masked forward passes per batch, default 64) for ScoreCAM,
        AblationCAM and Poly-CAM; ``steps``, ``lr`` for Opti-CAM; ``progress`` for a bar.

    Returns
    -------
    ``[N, h, w]`` non-negative maps (Poly-CAM: at the resolution of its finest layer).
    """
    name, rule = _rule(method)
    _check_options(None if callable(method) else name, options)
    if rule is None:
        return polycam(model, x, target, layer, variant=name[4:], **options)
    cap = capture(model, x, target, layer, with_grad=rule.needs_grad)
    return _apply(rule, cap, options)


def compute_many(methods, model: nn.Module, x: torch.Tensor, target=None, layer=None,
                 method_options: dict | None = None, seconds: dict | None = None,
                 progress: bool = False, **common) -> dict[str, torch.Tensor]:
    """:func:`compute` for several methods on the same images: ``{name: [N, h, w]}``.

    One capture at ``layer`` -- one forward pass, and one backward pass if any method needs
    the gradient -- serves every single-layer method (GradCAM, GradCAM++, XGradCAM, HiResCAM,
    LayerCAM, CAM, EigenCAM, and the activations of ScoreCAM, AblationCAM, Opti-CAM);
    Poly-CAM captures its own layers. Masked passes run once for all the methods that need them
    (ScoreCAM and the Poly-CAM variants: :func:`~camwalls_lib.cams.masked.shared_passes`). Names are canonical (``"gradcam++"``) or, for your own
    rules, their function names.

    ``method_options``: ``{name: {option: value}}`` for one method each; ``common``: options
    (e.g. ``batch_size=32``) given to every method whose rule accepts them
    (:func:`options_of`). ``seconds``: a dict filled with each method's time (the shared
    capture split evenly among the methods using it). ``progress``: a bar over the methods.
    """
    method_options = {_key(k): v for k, v in (method_options or {}).items()}
    rules = [_rule(m) for m in methods]
    options = {}
    for (name, rule), method in zip(rules, methods):
        accepted = options_of(method)
        options[name] = {**{k: v for k, v in common.items() if k in accepted},
                         **method_options.get(name, {})}
        if not callable(method):
            _check_options(name, options[name])
    single = [rule for _, rule in rules if rule is not None]
    cap, shared = None, 0.0
    if single:
        start = time.perf_counter()
        cap = capture(model, x, target, layer, with_grad=any(r.needs_grad for r in single))
        shared = (time.perf_counter() - start) / len(single)
    maps, times = {}, {}
    with shared_passes():
        for name, rule in tqdm(rules, disable=not progress, desc="methods"):
            start = time.perf_counter()
            maps[name] = (polycam(model, x, target, None, variant=name[4:], **options[name])
                          if rule is None else _apply(rule, cap, options[name]))
            times[name] = time.perf_counter() - start + (shared if rule is not None else 0.0)
    if seconds is not None:
        seconds.update(times)
    return maps


def options_of(method) -> tuple[str, ...]:
    """The options :func:`compute` accepts for ``method`` (a name or your own rule), read
    from the signature of the function that implements it."""
    if callable(method):
        return _keywords(method)[1:]
    name, rule = _rule(method)
    if rule is None:
        return tuple(k for k in _keywords(polycam)
                     if k not in ("model", "x", "target", "layers", "variant"))
    return rule.options


def _rule(method) -> tuple[str, Method | None]:
    """``(name, Method)``; the Method is None for Poly-CAM (several layers, :func:`polycam`)."""
    if callable(method):
        name = getattr(method, "__name__", "custom")
        return name, Method(name, method)
    name = method_name(method)
    return name, RULES.get(name)


def _key(method) -> str:
    """The name ``method`` is listed under: canonical for ours, as given for your own."""
    if callable(method):
        return getattr(method, "__name__", "custom")
    try:
        return method_name(method)
    except ValueError:
        return str(method)


def _check_options(name: str | None, options: dict) -> None:
    """The options a method accepts (read from its rule's signature; ``name`` None: a user's
    rule, whose options are its own business), each checked against the kind of its default:
    a bool default takes True/False only, an int default a positive int (``batch_size``,
    ``steps``), a float default a finite number > 0 (``lr``: NaN, inf, 0 and negatives are
    refused here, not deep inside an optimiser)."""
    defaults = {"batch_size": 1, "steps": 1}
    if name is not None:
        accepted = options_of(name)
        unknown = set(options) - set(accepted)
        if unknown:
            raise BadType(f"{LABELS[name]} takes no option(s) {sorted(unknown)}; "
                          f"it accepts {list(accepted) or 'none'}.")
        rule = RULES.get(name)
        defaults.update(_defaults(rule.weights if rule is not None else polycam))
    for key, value in options.items():
        kind = defaults.get(key)
        if isinstance(kind, bool):
            validate.boolean(value, key)
        elif isinstance(kind, int):
            validate.positive_int(value, key)
        elif isinstance(kind, float):
            validate.positive_number(value, key)


def _defaults(fn) -> dict:
    """``{option: default}`` of the keyword options of ``fn`` that have one."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.default is not inspect.Parameter.empty}


def _apply(rule: Method, cap: Capture, options: dict) -> torch.Tensor:
    """The map of one rule on a capture: ``[N, h, w]``."""
    alpha = rule.weights(cap, **options)
    if alpha.shape not in (cap.B.shape[:2], cap.B.shape):
        raise BadValue(f"{rule.label}'s weights have shape {tuple(alpha.shape)}; a weighting "
                       f"rule returns [N, V] = {tuple(cap.B.shape[:2])} or [N, V, h, w] = "
                       f"{tuple(cap.B.shape)}.")
    return validate.finite(combine(alpha, rule.activations(cap.B)), f"{rule.label}'s map",
                           "image")


def saliency(method, model: nn.Module, x: torch.Tensor, target=None, layer=None,
             **options) -> torch.Tensor:
    """:func:`compute`, upsampled to the input size and min-max normalised: ``[N, H, W]``
    in [0, 1] -- what a user looks at (the right panel of the paper's Figure 1)."""
    return normalize(upsample(compute(method, model, x, target, layer, **options), x.shape[-2:]))


def saliency_many(methods, model: nn.Module, x: torch.Tensor, target=None, layer=None,
                  **options) -> dict[str, torch.Tensor]:
    """:func:`compute_many` (one capture for all), each map upsampled and normalised like
    :func:`saliency`: ``{name: [N, H, W]}`` in [0, 1]. ``options`` as for
    :func:`compute_many` (``method_options``, ``seconds``, ``progress``, ``batch_size`` ...)."""
    raw = compute_many(methods, model, x, target, layer, **options)
    return {name: normalize(upsample(maps, x.shape[-2:])) for name, maps in raw.items()}

_ALIASES = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++", "pcam+-": "pcam±",
            "pcampm": "pcam±", "polycam": "pcam±"}


def method_name(method: str) -> str:
    """The canonical name of a CAM method (``"GradCAM++"``, ``"gradcampp"`` -> ``"gradcam++"``);
    an unknown name or a non-string is an error listing :data:`METHODS`."""
    if not isinstance(method, str):
        raise BadType(f"A CAM method is a name (one of {', '.join(METHODS)}) or a weighting "
                      f"rule function, got {type(method).__name__} {method!r}.")
    key = str(method).lower().replace(" ", "").replace("_", "")
    if not key.startswith("pcam"):
        key = key.replace("-", "")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise BadValue(f"Unknown CAM method {method!r}; choose one of {', '.join(METHODS)}.")
    return key
