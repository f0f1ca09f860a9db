"""Architecture diagrams of walled networks (the paper's Figures 2 and 4), read off the model.

:func:`walled_network_diagram` walks a :class:`~camwalls_lib.models.WalledNet`: every feature
map becomes a box whose height follows its spatial size and whose width its number of
channels; the map the first dense layer reads shows its walled rows (weights fixed at 0)
hatched in red; the input shows the dead zone that :func:`~camwalls_lib.walls.dead_zone`
computes, drawn by :func:`~camwalls_lib.viz.shade_dead_zone` as everywhere in the book.
:func:`toy_cnn_diagram` and :func:`masked_vgg_diagram` draw the paper's two networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

from .. import cams
from ..metrics import mu
from ..networks.models import WalledNet, ToyCNN, masked_vgg16
from ..walls import Wall, WalledLinear, dead_zone as compute_dead_zone
from .figures import DEAD_RED, method_grid, shade_dead_zone, show_image

__all__ = ["Box", "feature_boxes", "walled_network_diagram", "toy_cnn_diagram",
           "masked_vgg_diagram", "claim_composites", "claim_figure"]

INPUT_HEIGHT = 3.0   # drawing units for the input's side; maps scale with their rows


@dataclass(frozen=True)
class Box:
    """One drawn stage: ``op`` (the layer(s) that produce it), ``shape`` ``(V, h, w)`` of its
    output, ``name`` (the paper's symbol, e.g. ``"B"``, or ``""``)."""

    op: str
    shape: tuple[int, int, int]
    name: str = ""


def _output_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[nn.Module, tuple]:
    """Output shape (without batch) of every module of ``model.features``, on a meta tensor
    when the model lives on the meta device (no memory, no compute)."""
    shapes, hooks = {}, []
    for m in model.features:
        hooks.append(m.register_forward_hook(
            lambda mod, _, out: shapes.__setitem__(mod, tuple(out.shape[1:]))))
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model.features(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def feature_boxes(model: WalledNet, input_shape: tuple[int, int, int],
                  merge_pools: bool = False) -> list[Box]:
    """The feature maps of ``model`` as :class:`Box` es, in order.

    A run of ``conv + ReLU`` layers is one box (``"2× conv 3×3 + ReLU"``); a max-pool is its
    own box, or, with ``merge_pools``, is appended to the run before it (for deep networks).
    The box whose output is ``model.cam_layer``'s is named ``"B"``; a max-pool right after it
    gives ``"C"``.
    """
    shapes = _output_shapes(model, input_shape)
    boxes, convs, kernel = [], 0, None
    layers = list(model.features)
    for i, m in enumerate(layers):
        if isinstance(m, nn.Conv2d):
            convs, kernel = convs + 1, m.kernel_size[0]
            continue
        if isinstance(m, nn.ReLU) and (i + 1 == len(layers) or not isinstance(layers[i + 1], nn.Conv2d)):
            name = "B" if m is model.cam_layer else ""
            op = f"{convs}× conv {kernel}×{kernel} + ReLU" if convs > 1 else f"conv {kernel}×{kernel} + ReLU"
            boxes.append(Box(op, shapes[m], name))
            convs = 0
        elif isinstance(m, nn.MaxPool2d):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            after_b = bool(boxes) and boxes[-1].name == "B"
            if merge_pools and boxes and not after_b:
                boxes[-1] = Box(f"{boxes[-1].op},\nmax-pool {k}×{k}", shapes[m], boxes[-1].name)
            else:
                boxes.append(Box(f"max-pool {k}×{k}", shapes[m], "C" if after_b else ""))
    return boxes


def _walled_linear(model: WalledNet) -> WalledLinear:
    for m in model.classifier.modules():
        if isinstance(m, WalledLinear):
            return m
    raise ValueError("The model has no WalledLinear in its classifier: draw a walled network "
                     "(e.g. ToyCNN(wall=Wall.bottom(6)) or masked_vgg16()).")


def _box_geometry(shape, input_side: int) -> tuple[float, float]:
    """(width, height) in drawing units: height follows the rows, width log2 of channels."""
    channels, h, _ = shape
    return 0.25 + 0.12 * math.log2(max(channels, 1)), 1.0 + (INPUT_HEIGHT - 1.0) * h / input_side


def _arrow(ax, x0, x1, y, label=""):
    ax.add_patch(FancyArrowPatch((x0, y), (x1, y), arrowstyle="-|>", mutation_scale=10,
                                 color="0.3", lw=1))
    if label:
        label = label.replace(", ", "\n").replace(" + ", "\n+ ")
        ax.text((x0 + x1) / 2, y + 0.12, label, ha="center", va="bottom", fontsize=8,
                linespacing=1.1)


def _draw_box(ax, x, yc, box: Box, input_side: int, walled: torch.Tensor | None) -> float:
    """Draw ``box`` with its left edge at ``x``, centred on ``yc``; returns its width."""
    width, height = _box_geometry(box.shape, input_side)
    y0 = yc - height / 2
    ax.add_patch(Rectangle((x, y0), width, height, facecolor="#dbe6f3", edgecolor="0.2", lw=0.8))
    if walled is not None:
        rows = walled.any(1)
        h = len(rows)
        for r in torch.nonzero(rows).flatten().tolist():
            ax.add_patch(Rectangle((x, y0 + height * (h - 1 - r) / h), width, height / h,
                                   facecolor=(*DEAD_RED, 0.25), edgecolor=DEAD_RED, lw=0,
                                   hatch="////"))
        ax.add_patch(Rectangle((x, y0), width, height, fill=False, edgecolor="0.2", lw=0.8))
    channels, h, w = box.shape
    ax.text(x + width / 2, y0 - 0.12, f"{channels}×{h}×{w}", ha="center", va="top", fontsize=8)
    if box.name:
        ax.text(x + width / 2, y0 + height + 0.08, f"$\\mathbf{{{box.name}}}$", ha="center",
                va="bottom", fontsize=10)
    return width


def _draw_dense(ax, x, yc, d: int) -> float:
    h = 0.6 + 0.12 * math.log2(d)
    ax.add_patch(Rectangle((x, yc - h / 2), 0.22, h, facecolor="#e8e8e8", edgecolor="0.2", lw=0.8))
    ax.text(x + 0.11, yc - h / 2 - 0.12, f"{d}", ha="center", va="top", fontsize=8)
    return 0.22


def _draw_input(ax, image, zone, input_shape) -> None:
    s, side = INPUT_HEIGHT, input_shape[1]
    if image is None:
        ax.imshow(torch.full((side, side), 0.8).numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        show_image(ax, image)
    ax.images[-1].set_extent((0, s, -s / 2, s / 2))
    ax.add_patch(Rectangle((0, -s / 2), s, s, fill=False, edgecolor="0.2", lw=0.8))
    shade_dead_zone(ax, zone, extent=(0, s, -s / 2, s / 2))
    ax.text(s / 2, -s / 2 - 0.12, "×".join(map(str, input_shape)), ha="center", va="top", fontsize=8)
    ax.text(s / 2, s / 2 + 0.08, r"input $\boldsymbol{\xi}$", ha="center", va="bottom", fontsize=10)


def _dense_sizes(model: WalledNet) -> list[int]:
    return [m.out_features for m in model.classifier.modules() if isinstance(m, nn.Linear)]


def walled_network_diagram(model: WalledNet, input_shape: tuple[int, int, int],
                           image: torch.Tensor | None = None, zone: torch.Tensor | None = None,
                           merge_pools: bool = False, title: str | None = None,
                           width: float = 12.0, break_after: int | None = None):
    """Draw ``model`` from input to scores, with its wall and its dead zone. Returns the figure.

    ``input_shape``: ``(C, H, W)``; ``image [C, H, W]``: an example input drawn under the dead
    zone (a grey square if ``None``); ``zone``: bool ``[H, W]`` dead zone, computed with
    :func:`~camwalls_lib.walls.dead_zone` when ``None`` (pass it for a model on the meta
    device). ``merge_pools`` draws each max-pool with the convolutions before it;
    ``break_after`` continues on a second row after that many feature boxes (long networks).
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}.")
    walled_layer = _walled_linear(model)
    if zone is None:
        zone = compute_dead_zone(model, input_shape)
    boxes = feature_boxes(model, input_shape, merge_pools)
    s, gap = INPUT_HEIGHT, 2.4 if merge_pools else 1.45         # merged labels are wider
    row_step = s + 1.6
    fig, ax = plt.subplots(figsize=(width, 0.42 * width))
    _draw_input(ax, image, zone, input_shape)
    walled_rows = walled_layer.wall.mask(*walled_layer.feature_shape[1:])
    dense = _dense_sizes(model)
    steps = [(b.op, b) for b in boxes] + [
        (("walled dense" if j == 0 else "dense") + (" + ReLU" if j + 1 < len(dense) else ""), d)
        for j, d in enumerate(dense)]
    x, yc, right = s, 0.0, s
    for i, (op, item) in enumerate(steps):
        if break_after is not None and i == break_after:       # snake down to a second row
            turn = x + 0.35
            ax.plot([x + 0.05, turn, turn, 0.3, 0.3], [yc, yc, yc - row_step / 2,
                                                      yc - row_step / 2, yc - row_step],
                    color="0.3", lw=1)
            x, yc = 0.3, yc - row_step
        _arrow(ax, x + 0.05, x + gap - 0.05, yc, op)
        x += gap
        if isinstance(item, Box):
            x += _draw_box(ax, x, yc, item, input_shape[1],
                           walled_rows if i == len(boxes) - 1 else None)
        else:
            x += _draw_dense(ax, x, yc, item)
        right = max(right, x)
    ax.text(x + 0.1, yc, r"$\mathbf{y}$", ha="left", va="center", fontsize=11)
    ax.legend(handles=[
        Patch(facecolor=(*DEAD_RED, 0.25), edgecolor=DEAD_RED, hatch="////",
              label="wall: rows the first dense layer cannot read (weights fixed at 0)"),
        Patch(facecolor=(*DEAD_RED, 0.35), edgecolor=DEAD_RED,
              label="dead zone: input pixels no visible position depends on")],
        loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=1, fontsize=9, frameon=False)
    ax.set_xlim(-0.2, right + 0.6)
    ax.set_ylim(yc - s / 2 - 0.5, s / 2 + 0.6)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def toy_cnn_diagram(model: ToyCNN | None = None, image: torch.Tensor | None = None, **kwargs):
    """The paper's Figure 2: the toy walled CNN (by default chapter 1's: 64 filters 5×5, 2×2
    max-pool, the lowest 6 of the 12 pooled rows walled, 10 scores) on a ``1×28×28`` input."""
    if model is None:
        model = ToyCNN(V=64, k=5, k_pool=2, hidden=(), num_classes=10, wall=Wall.bottom(6))
    c = model.features[0].in_channels
    kwargs.setdefault("width", 8.0)
    return walled_network_diagram(model, (c, 28, 28) if image is None else tuple(image.shape),
                                  image=image, **kwargs)


def masked_vgg_diagram(image: torch.Tensor | None = None, num_classes: int = 1000, **kwargs):
    """The paper's Figure 4: the masked VGG16 at full width on ``3×224×224`` (the last map
    ``256×14×14``, its lowest 9 rows walled). Shapes come from a model on the meta device (no
    memory); the dead zone from a 1/16-width twin with the same layers, since it depends on
    the layers' geometry only."""
    with torch.device("meta"):
        model = masked_vgg16(num_classes=num_classes)
    zone = compute_dead_zone(masked_vgg16(num_classes=num_classes, width=1 / 16), (3, 224, 224))
    kwargs.setdefault("width", 10.0)
    kwargs.setdefault("break_after", 4)
    return walled_network_diagram(model, (3, 224, 224), image=image, zone=zone,
                                  merge_pools=True, **kwargs)


def _claim_model(seed: int) -> ToyCNN:
    """Chapter 1's walled toy CNN, drawn with ``seed``: untrained, Theorem 3's setting."""
    torch.manual_seed(seed)
    return ToyCNN(V=64, k=5, k_pool=2, hidden=(), num_classes=10, wall=Wall.bottom(6),
                  tau=1.0).eval()


def claim_composites(digits, n: int = 3, seed: int = 0) -> torch.Tensor:
    """The intro's examples: ``n`` stacked digits ``[n, 1, 28, 28]`` for chapter 1's walled toy
    CNN -- a test digit above its dead zone and a second digit of the same class entirely
    inside it (:func:`~camwalls_lib.data.stacked.stack_digits`, drawn with ``seed``).
    ``digits``: MNIST images and labels (:func:`~camwalls_lib.data.load_mnist`)."""
    from ..data.mnist import Digits
    from ..data.stacked import stack_digits
    if not isinstance(digits, Digits):
        raise TypeError(f"digits must be MNIST Digits (camwalls_lib.data.load_mnist), got "
                        f"{type(digits).__name__}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    zone = compute_dead_zone(_claim_model(0), (1, 28, 28))     # the zone needs no weights
    return stack_digits(digits, zone, n=n, seed=seed).x


def claim_figure(images: torch.Tensor, seed: int = 0, size: float = 2.4):
    """The book's claim in one picture: GradCAM and HiResCAM of chapter 1's walled toy CNN
    (drawn with ``seed``, untrained, Theorem 3's setting) on ``images [N, 1, 28, 28]`` (the
    intro uses :func:`claim_composites`), the dead zone in red and each map's leak μ beside a
    constant map's. Returns the figure."""
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must be [N, 1, 28, 28] MNIST digits, got {tuple(images.shape)}.")
    model = _claim_model(seed)
    zone = compute_dead_zone(model, (1, 28, 28))
    maps = {cams.LABELS[m]: cams.saliency(m, model, images) for m in ("gradcam", "hirescam")}
    return method_grid(images, maps, zone, mus={k: mu(v, zone) for k, v in maps.items()},
                       size=size)
