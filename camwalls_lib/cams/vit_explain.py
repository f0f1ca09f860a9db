"""Explaining a vision transformer's class token, in front of a wall.

Two families, every map ``[N, h, w]`` on the patch grid (one value per patch token):

- **CAM methods on tokens** (:mod:`camwalls_lib.cams`, unchanged): ``B [N, D, h, w]`` is the
  patch tokens entering the last block (``model.cam_layer``; channel = embedding dimension).
  GradCAM gives each channel one number, ``alpha_v = GAP(dB^(v))``; HiResCAM and LayerCAM
  keep the gradient position by position.
- **Attention maps**, read from the attention weights ``A_l [N, heads, T, T]`` of every block
  (token 0 is the class token): the class token's raw attention in the last block; attention
  rollout (Abnar & Zuidema 2020), ``R = prod_l (A_l/2 + I/2)`` averaged over heads; and
  gradient-weighted attention (Chefer et al. 2021, ICCV, "Generic attention-model
  explainability"), ``R <- R + E_h[(dA_l * A_l)^+] R`` from
  ``R = I``. Each map is the class token's row of ``R`` at the patch columns.

Maps are brought to the input by :func:`patch_upsample` (each patch's value on its own
``p x p`` pixels) or, as saliency libraries do, bilinearly (:func:`camwalls_lib.cams.upsample`).
:func:`leak_table` reports the paper's mu for every explainer.
"""

from __future__ import annotations

import contextlib
import time

import torch

from .. import cams, validate
from ..errors import BadType, BadValue
from ..helpers import eval_mode, resolve_target
from ..metrics import mu
from ..metrics.leak import LeakTable

__all__ = ["EXPLAINERS", "LABELS", "POSITIONWISE", "attention_layers", "attention_weights",
           "class_attention", "rollout", "chefer", "explain", "patch_upsample", "saliency",
           "leak_table", "leak_markdown", "output_token_gradient"]

EXPLAINERS: tuple[str, ...] = ("gradcam", "hirescam", "layercam", "attention", "rollout",
                               "chefer")
"""Every explainer :func:`explain` accepts."""

LABELS: dict[str, str] = {"gradcam": "GradCAM", "hirescam": "HiResCAM", "layercam": "LayerCAM",
                          "attention": "class attention", "rollout": "rollout",
                          "chefer": "grad × attention"}
"""Display names."""

POSITIONWISE: frozenset[str] = frozenset(EXPLAINERS) - {"gradcam"}
"""Explainers with no number shared by all patches: their value at a patch is built only from
that patch's own gradient or from attention weights on it, which the wall makes exactly 0."""


def attention_layers(model) -> list:
    """The modules of ``model`` that record its attention, in block order.

    Any model works that exposes its attention the way
    :class:`~camwalls_lib.networks.vit.WalledViT` does: ``model.attention_layers`` (modules
    that keep their last weights ``attn [N, heads, T, T]``, token 0 the class token, when their
    ``keep`` flag is set) and ``model.grid_shape`` (the ``(h, w)`` grid of the other tokens).
    """
    layers = getattr(model, "attention_layers", None)
    if layers is None or not hasattr(model, "grid_shape"):
        raise BadType(
            f"Attention explainers need a model that exposes its attention; "
            f"{type(model).__name__} has no `attention_layers` and `grid_shape`. Give it "
            "`attention_layers` (modules that keep `attn [N, heads, T, T]` when `keep` is True) "
            "and `grid_shape` (h, w), as camwalls_lib.networks.vit.WalledViT does.")
    return list(layers)


@contextlib.contextmanager
def _keeping_attention(model):
    layers = attention_layers(model)
    for layer in layers:
        layer.keep = True
    try:
        yield layers
    finally:
        for layer in layers:
            layer.keep, layer.attn = False, None


def attention_weights(model, x: torch.Tensor, target=None, with_grad: bool = True):
    """One forward (and backward) pass recording every block's attention.

    Returns ``(A, dA, target)``: ``A`` a list (one per block) of ``[N, heads, T, T]``
    weights, ``dA`` their gradients of the target logit ``y_c`` (None without ``with_grad``),
    ``target [N]``.
    """
    grad_mode = torch.enable_grad() if with_grad else torch.no_grad()
    with eval_mode(model), _keeping_attention(model) as layers, grad_mode:
        logits = model(x)
        target = resolve_target(target, logits)
        if with_grad:
            logits.gather(1, target[:, None]).sum().backward()
        A = [layer.attn.detach() for layer in layers]
        dA = [layer.attn.grad.detach() for layer in layers] if with_grad else None
    return A, dA, target


def _class_row(R: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The class token's row of ``R [N, T, T]`` at the patch columns, as ``[N, h, w]``."""
    return R[:, 0, 1:].reshape(len(R), *grid)


def class_attention(A: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
    """Raw attention of the class token in the last block, mean over heads: ``[N, h, w]``."""
    return _class_row(A[-1].mean(1), grid)


def rollout(A: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
    """Attention rollout: ``R = Ahat_L ... Ahat_1`` with ``Ahat = mean_heads(A)/2 + I/2``
    (the residual connection as an identity); ``[N, h, w]``."""
    eye = torch.eye(A[0].shape[-1], dtype=A[0].dtype)
    R = eye.expand_as(A[0][:, 0])
    for a in A:
        R = (0.5 * a.mean(1) + 0.5 * eye) @ R
    return _class_row(R, grid)


def chefer(A: list[torch.Tensor], dA: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
    """Gradient-weighted attention: from ``R = I``, ``R <- R + Abar R`` block by block, with
    ``Abar = mean_heads(relu(dA * A))``; ``[N, h, w]``."""
    R = torch.eye(A[0].shape[-1], dtype=A[0].dtype).expand_as(A[0][:, 0])
    for a, g in zip(A, dA):
        R = R + (g * a).clamp(min=0).mean(1) @ R
    return _class_row(R, grid)


def explain(method: str, model, x: torch.Tensor, target=None,
            layer=None) -> torch.Tensor:
    """The raw map ``[N, h, w]`` of ``method`` (one of :data:`EXPLAINERS`, or any CAM method
    of :data:`camwalls_lib.cams.METHODS`) for images ``x [N, C, H, W]``.

    ``layer``: for CAM methods, the explained ``[N, D, h, w]`` layer (default
    ``model.cam_layer``, the tokens entering the last block, e.g. ``model.blocks[0].grid``).
    """
    method = validate.choice(method, "method", (*EXPLAINERS, *cams.METHODS))
    if method in ("attention", "rollout", "chefer"):
        if layer is not None:
            raise BadValue(f"{method!r} reads the attention of every block; layer= chooses "
                           "the explained tokens of CAM methods only. Drop layer=.")
        A, dA, _ = attention_weights(model, x, target, with_grad=method == "chefer")
        grid = model.grid_shape
        return {"attention": lambda: class_attention(A, grid), "rollout": lambda: rollout(A, grid),
                "chefer": lambda: chefer(A, dA, grid)}[method]()
    return cams.compute(method, model, x, target, layer)


def patch_upsample(maps: torch.Tensor, patch: int) -> torch.Tensor:
    """``[N, h, w] -> [N, h*patch, w*patch]``: each patch's value on each of its pixels."""
    maps = validate.real_maps(maps, "maps", min_dim=3)
    patch = validate.positive_int(patch, "patch")
    return maps.repeat_interleave(patch, -2).repeat_interleave(patch, -1)


def saliency(method: str, model, x: torch.Tensor, target=None, layer=None,
             upsample: str = "patch") -> torch.Tensor:
    """:func:`explain` at input resolution, min-max normalised: ``[N, H, W]`` in [0, 1].

    ``upsample``: "patch" (:func:`patch_upsample`, exact on patch borders) or "bilinear"
    (what saliency libraries do; it blends each patch with its neighbours).
    """
    raw = explain(method, model, x, target, layer)
    if upsample == "patch":
        big = patch_upsample(raw, x.shape[-1] // raw.shape[-1])
    elif upsample == "bilinear":
        big = cams.upsample(raw, x.shape[-2:])
    else:
        raise BadValue(f"upsample must be 'patch' or 'bilinear', got {upsample!r}.")
    return cams.normalize(big)


def leak_table(model, x: torch.Tensor, dead_zone: torch.Tensor,
               methods=EXPLAINERS, target=None, upsample: str = "patch",
               batch_size: int = 250, keep_maps: bool = False, layer=None) -> LeakTable:
    """mu of every explainer's map on every image of ``x [N, C, H, W]``, as a
    :class:`~camwalls_lib.metrics.leak.LeakTable` (labels from :data:`LABELS`); ``dead_zone`` bool
    ``[H, W]``; ``target``: None (each image's prediction), one class, or ``N`` classes.
    ``layer``: the tokens the CAM methods explain (default ``model.cam_layer``, see
    :func:`explain`); the attention maps read every block whatever it is."""
    x = validate.images(x)
    batch_size = validate.positive_int(batch_size, "batch_size")
    upsample = validate.choice(upsample, "upsample", ("patch", "bilinear"))
    if target is not None:          # the number of classes is checked by each explainer
        target = validate.target(target, len(x), num_classes=model.head.out_features)
    methods = [validate.choice(m, "method", (*EXPLAINERS, *cams.METHODS))
               for m in validate.names(methods, "methods")]
    table = LeakTable({})
    for method in methods:
        start = time.perf_counter()
        maps = torch.cat([saliency(method, model, x[i:i + batch_size],
                                   None if target is None else target[i:i + batch_size],
                                   layer=None if method in ("attention", "rollout", "chefer")
                                   else layer, upsample=upsample)
                          for i in range(0, len(x), batch_size)])
        label = LABELS.get(method, method)
        table.mu[label] = mu(maps, dead_zone)
        table.seconds[label] = time.perf_counter() - start
        if keep_maps:
            table.maps[label] = maps
    return table


def leak_markdown(tables: dict[str, LeakTable], baseline: float | None = None) -> str:
    """A Markdown table of ``mu x 100`` (mean +- sd over images), one column per
    :func:`leak_table` result (keyed by its column title), and a last column saying whether
    mu was exactly 0 on every image of the first table (named in the column's title).
    ``baseline``: optional ``mu`` of a constant map on the same dead zone, added as a last row
    (its last cell "–": a map that ignores the image is not an explainer under test)."""
    first_title, first = next(iter(tables.items()))
    lines = ["| explainer | " + " | ".join(f"μ × 100, {title}" for title in tables)
             + f" | μ exactly 0 on every image, {first_title} |",
             "|---|" + "---|" * (len(tables) + 1)]
    for label in first.mu:
        cells = [f"{100 * float(t.mu[label].mean()):.1f} ± {100 * float(t.mu[label].std()):.1f}"
                 for t in tables.values()]
        zero = "yes" if float(first.mu[label].max()) == 0.0 else "no"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {zero} |")
    if baseline is not None:
        lines.append("| a constant map | " + " | ".join(f"{100 * baseline:.1f}" for _ in tables)
                     + " | – |")
    return "\n".join(lines)


def output_token_gradient(model, x: torch.Tensor, target=None) -> torch.Tensor:
    """``d y_c / d t`` for every token ``t`` leaving the last block: ``[N, T, D]``.

    ``model`` exposes ``tokens(x)`` and ``classify(t)`` (as
    :class:`~camwalls_lib.networks.vit.WalledViT` does). Its head reads ``norm(t[:, 0])``
    only, so every patch token's gradient is exactly 0: a
    CAM method explaining the last block's *output* has nothing to weigh.
    """
    with eval_mode(model), torch.enable_grad():
        t = model.tokens(x).detach().requires_grad_(True)
        logits = model.classify(t)
        logits.gather(1, resolve_target(target, logits)[:, None]).sum().backward()
    return t.grad
