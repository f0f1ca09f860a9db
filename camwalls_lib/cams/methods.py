"""CAM-based saliency methods, written as the paper writes them (its Appendix A).

Every method here computes

    [M] = sigma( sum_v  alpha_v  (.)  B^(v) )          in R_+^{h x w}

from the activations ``B [N, V, h, w]`` of one layer, and differs only in its *weighting
rule*: how it turns ``B``, the gradient ``dB = nabla_B y_c`` and perhaps a few more forward
passes into ``alpha``. A rule returns either one number per channel (``alpha [N, V]``, a
*global* coefficient: GradCAM, GradCAM++, XGradCAM, ScoreCAM, AblationCAM, EigenCAM, Opti-CAM,
CAM) or one number per channel and position (``alpha [N, V, h, w]``: HiResCAM, LayerCAM).
A global coefficient is the whole story of the book: it paints ``B^(v)`` everywhere with the
same brush, dead zone included.

Poly-CAM (Englebert et al.) runs the same weighting idea at several layers and multiplies the
maps together; see :func:`polycam`.

Entry points: :func:`compute` (raw maps at feature resolution), :func:`compute_many`
(several methods on the same images, one capture), :func:`upsample`, :func:`normalize`,
:func:`saliency` and :func:`saliency_many` (at input resolution), :data:`METHODS`,
:func:`options_of`.
The forward passes of ScoreCAM, AblationCAM and Poly-CAM live in :mod:`camwalls_lib.perturb`.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import perturb, validate
from .feedback import verdict
from .perturb import eval_mode as _eval_mode, hooked as _hooked

__all__ = ["METHODS", "LABELS", "GLOBAL", "Capture", "capture", "compute", "compute_many",
           "options_of", "saliency", "saliency_many", "upsample", "normalize", "polycam",
           "check_global"]


# ----------------------------------------------------------------------------- capture

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
    x = validate.images(x)
    layer = resolve_layer(model, layer)
    store = {}

    def hook(_module, _inputs, output):
        _check_feature_map(output, layer, model)
        store["B"] = output.detach().clone()
        if with_grad:       # record the graph from B on: the tail only
            torch.set_grad_enabled(True)
            store["leaf"] = store["B"].clone().requires_grad_()
            return store["leaf"].clone()    # a non-leaf, so in-place layers after B still work

    with _eval_mode(model), torch.no_grad(), _hooked(layer, hook):
        logits = _forward(model, x.detach())
        target = _check_target(target, logits)
        validate.finite(logits.detach(), "the model's logits", "image")
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


# ----------------------------------------------------------------------------- rules

EPS = 1e-12


def cam_weights(cap: Capture) -> torch.Tensor:
    """CAM (Zhou et al.): ``alpha_v = w_{c,v}``, the class weights of a GAP + linear head.

    For ``y_c = sum_v w_{c,v} GAP(B^(v))`` the gradient is the constant ``w_{c,v} / (hw)``
    over each map, so ``alpha_v = hw * GAP(dB^(v))`` recovers ``w_{c,v}`` exactly. On any other
    head the gradient varies over the map, CAM is undefined, and this rule says so.
    """
    dB = cap.dB
    spread = (dB - dB.mean((2, 3), keepdim=True)).abs().amax()
    if spread > 1e-5 * dB.abs().amax().clamp_min(EPS):
        raise ValueError(
            "CAM is only defined for a head that is global average pooling + one linear layer, "
            "where dy/dB is constant over each map; here it varies (max-pooling, dense layers "
            "or a wall follow the layer). Use 'gradcam', CAM's generalisation, instead."
        )
    h, w = dB.shape[-2:]
    return dB.mean((2, 3)) * (h * w)


def gradcam_weights(cap: Capture) -> torch.Tensor:
    """GradCAM (Definition 1): ``alpha_v = GAP(nabla_{B^(v)} f)``, one number per channel."""
    return cap.dB.mean((2, 3))


def gradcampp_weights(cap: Capture) -> torch.Tensor:
    """GradCAM++ (Definition 5) with Chattopadhay et al.'s exponential score ``Y = exp(y_c)``.

    Literally, Definition 5 divides second by third derivatives of ``f``; for a ReLU network
    both vanish almost everywhere (0/0). The original paper (and the ``grad-cam`` package)
    differentiates ``exp(y_c)`` instead, which gives ``d^n Y = exp(y_c) (dB)^n``, so

        a_ij = dB_ij^2 / (2 dB_ij^2 + sum_ab B_ab * dB_ij^3),  alpha_v = sum_ij a_ij relu(dB_ij).

    We sum over positions like the original (Definition 5's GAP only divides by hw) and put
    ``a_ij = 0`` where ``dB_ij = 0`` or the denominator vanishes (no epsilon: ``grad-cam`` adds
    1e-6 to the denominator, which matters when gradients are below ~1e-3).
    """
    g, B = cap.dB, cap.B
    denom = 2 * g**2 + B.sum((2, 3), keepdim=True) * g**3
    a = torch.where((g != 0) & (denom != 0), g**2 / torch.where(denom == 0, 1, denom), 0)
    return (a * g.clamp(min=0)).sum((2, 3))


def xgradcam_weights(cap: Capture) -> torch.Tensor:
    """XGradCAM (Definition 4): ``alpha_v = sum_ij (B_ij / ||B^(v)||_1) dB_ij``.

    Fu et al. (and ``grad-cam``) sum over positions; Definition 4 writes GAP, which only adds
    a factor 1/(hw). A channel that is 0 everywhere gets weight 0.
    """
    norm = cap.B.sum((2, 3))
    return torch.where(norm > 0, (cap.B * cap.dB).sum((2, 3)) / norm.clamp_min(EPS), 0)


def hirescam_weights(cap: Capture) -> torch.Tensor:
    """HiResCAM (Definition 6): ``alpha = nabla_B f`` itself, position by position.

    Wherever the network does not use ``B`` -- behind the wall -- the gradient is exactly 0,
    so the map is exactly 0 there: HiResCAM cannot see through walls.
    """
    return cap.dB


def layercam_weights(cap: Capture) -> torch.Tensor:
    """LayerCAM (Jiang et al. 2021): ``alpha = relu(nabla_B f)``, position by position."""
    return cap.dB.clamp(min=0)


def scorecam_weights(cap: Capture, batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """ScoreCAM (Definition 7): ``alpha = softmax_v(beta)``, ``beta_v = y_c(x * H^(v)) - y_c(x)``.

    ``H^(v)`` is ``B^(v)`` upsampled (bilinear) to the input and min-max normalised to [0, 1];
    a constant channel gives ``H^(v) = 0``. Scores are raw logits, as in Definition 7 and the
    ``grad-cam`` package (softmax is shift-invariant, so subtracting ``y_c(x)`` changes nothing).
    """
    scores = _masked_scores(cap, lambda n, v: _unit_masks(cap.B[n, v], cap.x.shape[-2:]),
                            batch_size, progress, desc="ScoreCAM")
    return torch.softmax(scores - cap.y[:, None], dim=1)


def ablationcam_weights(cap: Capture, batch_size: int = 64, progress: bool = False,
                        tail_only: bool = True) -> torch.Tensor:
    """AblationCAM (Definition 8): ``alpha_v = (y - y_v) / y`` with ``y_v`` the score when
    ``B^(v)`` is set to zero. (As defined, a negative ``y`` flips every sign.)

    Only the network after the layer runs, ``V`` times per image, where the model can be split
    there (:func:`camwalls_lib.perturb.split_at`); ``tail_only=False`` runs ``V`` full
    forward passes instead (same numbers, the reference).
    """
    ablated, _ = perturb.ablation_scores(cap, batch_size, progress, tail_only)
    y = cap.y.float().cpu()[:, None]
    return ((y - ablated) / torch.where(y == 0, 1, y)).to(cap.B)


def eigencam_weights(cap: Capture) -> torch.Tensor:
    """EigenCAM (Bany Muhammad & Yeasin): the first principal direction of the activations.

    ``B`` is read as ``hw`` samples of ``V`` features, centred per channel; ``alpha`` is the
    first right singular vector, applied to the centred activations (see
    :func:`centred`). No gradient, no class: the same map for every target. Its sign is
    arbitrary in an SVD; we choose the sign that correlates positively with ``sum_v B^(v)``
    (``grad-cam`` leaves it to the SVD routine).
    """
    Bc = centred(cap.B).flatten(2).transpose(1, 2)          # [N, hw, V]
    _, _, Vh = torch.linalg.svd(Bc.double(), full_matrices=False)
    alpha = Vh[:, 0, :].to(cap.B)                           # [N, V]
    projection = torch.einsum("npv,nv->np", Bc, alpha)
    sign = torch.sign((projection * cap.B.sum(1).flatten(1)).sum(1))
    return alpha * torch.where(sign == 0, 1, sign)[:, None]


def centred(B: torch.Tensor) -> torch.Tensor:
    """``B - mean over positions`` of each channel; EigenCAM weighs these."""
    return B - B.mean((2, 3), keepdim=True)


def opticam_weights(cap: Capture, steps: int = 50, lr: float = 0.1,
                    progress: bool = False) -> torch.Tensor:
    """Opti-CAM (Zhang et al. 2023): ``alpha = softmax(u)`` with ``u`` maximising the logit of
    the input masked by its own saliency map,

        u* = argmax_u  y_c( x * n(Up(sum_v softmax(u)_v B^(v))) ),   n(S) = S / max S,

    by ``steps`` of Adam at learning rate ``lr`` from ``u = 0`` (uniform weights). Opti-CAM's
    paper also offers the softmax probability as objective; we use the logit, like the rest of
    this module.
    """
    u = torch.zeros(cap.B.shape[:2], device=cap.B.device, requires_grad=True)
    optimizer = torch.optim.Adam([u], lr=lr)
    for _ in tqdm(range(steps), disable=not progress, desc="Opti-CAM"):
        S = (torch.softmax(u, 1)[:, :, None, None] * cap.B).sum(1)
        mask = upsample(S, cap.x.shape[-2:])
        mask = mask / mask.flatten(1).amax(1).clamp_min(EPS)[:, None, None]
        with _eval_mode(cap.model):
            logits = cap.model(cap.x * mask[:, None])
        score = logits.gather(1, cap.target[:, None]).sum()
        (grad,) = torch.autograd.grad(-score, u)
        u.grad = grad
        optimizer.step()
    return torch.softmax(u.detach(), 1)


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


_RULES: dict[str, Method] = {
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
_POLY = {"pcam+": "PCAM+", "pcam-": "PCAM-", "pcam±": "PCAM±"}

METHODS: tuple[str, ...] = (*_RULES, *_POLY)
"""Every method name :func:`compute` accepts."""

LABELS: dict[str, str] = {**{k: m.label for k, m in _RULES.items()}, **_POLY}
"""Display names, e.g. ``LABELS["gradcam++"] == "GradCAM++"``."""

GLOBAL: frozenset[str] = frozenset(METHODS) - {"hirescam", "layercam"}
"""Methods whose coefficient is one number per channel: the ones that can see through walls."""


def check_global(answer) -> bool:
    """Exercise check: ``answer`` is the set of method names whose coefficient is global."""
    chosen = {_method_name(m) for m in answer}
    missing, extra = GLOBAL - chosen, chosen - GLOBAL
    return verdict(not missing and not extra,
                   "every method but HiResCAM and LayerCAM multiplies a whole channel by one "
                   "number.",
                   f"{len(missing)} global method(s) missing and {len(extra)} listed wrongly. "
                   "Look at each rule's return shape: [N, V] or [N, V, h, w]?")


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
    Poly-CAM captures its own layers. Names are canonical (``"gradcam++"``) or, for your own
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
    name = _method_name(method)
    return name, _RULES.get(name)


def _key(method) -> str:
    """The name ``method`` is listed under: canonical for ours, as given for your own."""
    if callable(method):
        return getattr(method, "__name__", "custom")
    try:
        return _method_name(method)
    except ValueError:
        return str(method)


def _check_options(name: str | None, options: dict) -> None:
    """The options a method accepts (read from its rule's signature; ``name`` None: a user's
    rule, not checked) and counts that must be positive ints (``batch_size``, ``steps``)."""
    if name is not None:
        accepted = options_of(name)
        unknown = set(options) - set(accepted)
        if unknown:
            raise TypeError(f"{LABELS[name]} takes no option(s) {sorted(unknown)}; "
                            f"it accepts {list(accepted) or 'none'}.")
    for key in ("batch_size", "steps"):
        if key in options:
            validate.positive_int(options[key], key)


def _apply(rule: Method, cap: Capture, options: dict) -> torch.Tensor:
    """The map of one rule on a capture: ``[N, h, w]``."""
    alpha = rule.weights(cap, **options)
    if alpha.shape not in (cap.B.shape[:2], cap.B.shape):
        raise ValueError(f"{rule.label}'s weights have shape {tuple(alpha.shape)}; a weighting "
                         f"rule returns [N, V] = {tuple(cap.B.shape[:2])} or [N, V, h, w] = "
                         f"{tuple(cap.B.shape)}.")
    return validate.finite(combine(alpha, rule.activations(cap.B)), f"{rule.label}'s map",
                           "image")


def combine(alpha: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``sigma(sum_v alpha_v * B^(v))``: ``alpha [N, V]`` or ``[N, V, h, w]``, ``B [N, V, h, w]``
    -> ``[N, h, w]``."""
    if alpha.dim() == 2:
        alpha = alpha[:, :, None, None]
    return (alpha * B).sum(1).clamp(min=0)


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


def upsample(maps: torch.Tensor, size, mode: str = "bilinear",
             align_corners: bool | None = False) -> torch.Tensor:
    """Resize ``[N, h, w]`` (or ``[N, V, h, w]``) maps to ``size = (H, W)``.

    ``mode``: ``"bilinear"`` (the default, the paper's pipeline), ``"nearest"`` or
    ``"bicubic"`` (which can overshoot: clamp afterwards if the map must stay non-negative);
    ``align_corners`` as in :func:`torch.nn.functional.interpolate` (ignored for nearest).
    """
    maps = validate.tensor(maps, "maps", "[N, h, w]")
    if maps.dim() not in (3, 4):
        raise ValueError(f"maps must be [N, h, w] or [N, V, h, w], got shape {tuple(maps.shape)}"
                         + (" (one map? use maps[None])" if maps.dim() == 2 else "") + ".")
    if not maps.is_floating_point():
        raise ValueError(f"maps must hold floats to be interpolated, got {maps.dtype}: use "
                         "maps.float().")
    if isinstance(size, int) or len(size) != 2:
        raise ValueError(f"size must be (H, W), got {size!r}.")
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"mode must be 'bilinear', 'nearest' or 'bicubic', got {mode!r}.")
    size = [validate.positive_int(s, "size (H, W)") for s in size]
    squeeze = maps.dim() == 3
    out = F.interpolate(maps[:, None] if squeeze else maps, size=tuple(size), mode=mode,
                        align_corners=None if mode == "nearest" else align_corners)
    return out[:, 0] if squeeze else out


def normalize(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map of ``[N, ...]`` to [0, 1]; a constant map becomes 0.
    A map holding NaN or inf is refused (naming its index), never turned into zeros."""
    maps = validate.tensor(maps, "maps", "[N, h, w]")
    if maps.dim() < 2 or maps.shape[0] == 0:
        raise ValueError(f"maps must be a batch [N, ...] with N >= 1, got shape "
                         f"{tuple(maps.shape)}" + (" (one map? use maps[None])"
                                                   if maps.dim() == 1 else "") + ".")
    validate.finite(maps, "maps", "map")
    flat = maps.flatten(1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    out = torch.where(hi > lo, (flat - lo) / (hi - lo).clamp_min(EPS), 0)
    return out.view_as(maps)


# ----------------------------------------------------------------------------- Poly-CAM

def polycam(model: nn.Module, x: torch.Tensor, target=None, layers=None, variant: str = "±",
            batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """Poly-CAM (Englebert et al.), Eq. (3): a CAM per layer, refined from coarse to fine.

    ``P_L = relu(sum_k w_{L,k} A_L^k)`` and, going to finer layers,
    ``P_l = LNorm(relu(sum_k w_{l,k} A_l^k), s) * Up(P_{l+1}, s)``, where ``s`` is the
    resolution ratio and ``LNorm(M, s) = M / Up(AvgPool_s(M), s)``. The weights use the
    target's softmax probability ``f_c`` and ``u = `` min-max-normalised upsampled channel:

    - ``"+"``  (CIC, Eq. 4): ``w = f_c(x * u)`` (the baseline term ``f_c(X_b)`` is 0, as in
      the paper's experiments);
    - ``"-"``  (CDC, Eq. 5): ``w = relu(f_c(x) - f_c(x * (1 - u)))``;
    - ``"±"``  (CVC, Eq. 6): ``w = relu(f_c(x) + f_c(x * u) - f_c(x * (1 - u)))``.

    ``layers``: modules of ``model`` (any order; sorted finest first by map size); default
    ``model.poly_layers`` or the single CAM layer. Returns ``[N, h_1, w_1]`` at the finest
    layer's resolution.
    """
    if variant not in ("+", "-", "±"):
        raise ValueError(f"Poly-CAM variant must be '+', '-' or '±', got {variant!r}.")
    validate.positive_int(batch_size, "batch_size")
    x = validate.images(x)
    if layers is None:
        layers = getattr(model, "poly_layers", None) or [resolve_layer(model, None)]
    layers = [resolve_layer(model, layer) for layer in
              (layers if isinstance(layers, (list, tuple)) else [layers])]
    caps = [capture(model, x, target, layer, with_grad=False) for layer in layers]
    caps.sort(key=lambda c: -c.B.shape[-1])            # finest first
    with torch.no_grad(), _eval_mode(model):
        p_x = torch.softmax(_forward(model, x), 1).gather(1, caps[0].target[:, None])[:, 0]
    P = None
    for cap in reversed(caps):                          # coarsest first
        w = _poly_weights(cap, p_x, variant, batch_size, progress)
        M = combine(w, cap.B)
        if P is None:
            P = M
            continue
        s = max(1, round(M.shape[-1] / P.shape[-1]))
        P = lnorm(M, s) * upsample(P, M.shape[-2:])
    return P


def _poly_weights(cap, p_x, variant, batch_size, progress):
    u = lambda n, v: _unit_masks(cap.B[n, v], cap.x.shape[-2:])  # noqa: E731
    prob = lambda masks: _masked_scores(cap, masks, batch_size, progress,  # noqa: E731
                                        softmax=True, desc="Poly-CAM")
    if variant == "+":
        return prob(u)
    hidden = prob(lambda n, v: 1 - u(n, v))
    if variant == "-":
        return (p_x[:, None] - hidden).clamp(min=0)
    return (p_x[:, None] + prob(u) - hidden).clamp(min=0)


def lnorm(M: torch.Tensor, s: int) -> torch.Tensor:
    """Poly-CAM's local normalisation (Eq. 1): ``M / Up(AvgPool_s(M))``; ``[N, h, w]``."""
    if s == 1:
        return M
    local = upsample(F.avg_pool2d(M[:, None], s, ceil_mode=True)[:, 0], M.shape[-2:])
    return torch.where(local > 0, M / local.clamp_min(EPS), 0)


# ----------------------------------------------------------------------------- helpers

def _unit_masks(B: torch.Tensor, size) -> torch.Tensor:
    """Each channel of one image's ``B [V, h, w]`` upsampled to ``size`` and min-max
    normalised: ``[V, H, W]`` (the ``H^(v)`` of ScoreCAM, the ``u`` of Poly-CAM)."""
    return normalize(upsample(B[None], size)[0])


def _masked_scores(cap: Capture, masks_of: Callable[[int, torch.Tensor], torch.Tensor],
                   batch_size: int, progress: bool, softmax: bool = False,
                   desc: str = "masked passes") -> torch.Tensor:
    """Target score of ``x_n * m`` for the masks ``masks_of(n, v) [len(v), H, W]`` of
    channels ``v``: ``[N, V]``. Masks are built ``batch_size`` at a time; channels with the
    same map (hence the same mask) run once."""
    def chunk_logits(n, chans):
        return cap.model(cap.x[n:n + 1] * masks_of(n, chans)[:, None])

    with _eval_mode(cap.model):
        scores = perturb.target_scores(*cap.B.shape[:2], cap.target, chunk_logits, batch_size,
                                       progress, softmax, desc, perturb.first_equal(cap.B))
    return scores.to(cap.B)


def resolve_layer(model: nn.Module, layer) -> nn.Module:
    """The module to explain: ``layer`` itself, its dotted name, or the model's default."""
    if layer is None:
        layer = getattr(model, "cam_layer", None)
        if layer is None:
            convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
            if not convs:
                raise ValueError("This model has no Conv2d layer: CAM methods explain a "
                                 "convolutional feature map. Pass `layer=` explicitly.")
            layer = convs[-1]
    if isinstance(layer, str):
        try:
            layer = model.get_submodule(layer)
        except AttributeError:
            names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ReLU))]
            raise ValueError(f"The model has no layer named {layer!r}; convolutional "
                             f"candidates: {names[-6:]}") from None
    if not any(m is layer for m in model.modules()):
        raise ValueError(f"layer {layer} is not a module of this model.")
    if isinstance(layer, (nn.Linear, nn.Flatten, nn.Conv1d)):
        raise ValueError(f"layer {type(layer).__name__} is not convolutional: CAM methods need a "
                         "layer with a [N, V, h, w] output, e.g. the last Conv2d or the ReLU after "
                         "it (model.cam_layer for camwalls models).")
    return layer


def _check_feature_map(output, layer, model):
    if not (torch.is_tensor(output) and output.dim() == 4):
        shape = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
        raise ValueError(f"layer {type(layer).__name__} outputs {shape}, not a [N, V, h, w] "
                         "feature map: CAM methods need a convolutional layer.")


def _check_target(target, logits) -> torch.Tensor:
    if logits.dim() != 2:
        raise ValueError(f"The model must return raw class scores [N, K], got {tuple(logits.shape)}.")
    N, K = logits.shape
    if target is None:
        return logits.argmax(1)
    return validate.target(target, N, K, logits.device)


def _forward(model, x):
    validate.model_dtype(x, model)
    try:
        return model(x)
    except RuntimeError as e:
        raise ValueError(f"The model could not process images of shape {tuple(x.shape)} "
                         f"(check channels and size it expects): {e}") from e


_ALIASES = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++", "pcam+-": "pcam±",
            "pcampm": "pcam±", "polycam": "pcam±"}


def _method_name(method: str) -> str:
    if not isinstance(method, str):
        raise TypeError(f"A CAM method is a name (one of {', '.join(METHODS)}) or a weighting "
                        f"rule function, got {type(method).__name__} {method!r}.")
    key = str(method).lower().replace(" ", "").replace("_", "")
    if not key.startswith("pcam"):
        key = key.replace("-", "")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise ValueError(f"Unknown CAM method {method!r}; choose one of {', '.join(METHODS)}.")
    return key
