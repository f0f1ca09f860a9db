"""Figures: an image, its dead zone in red, and saliency maps over it.

One look for the whole book: saliency maps use :data:`SALIENCY_CMAP` (viridis, perceptually
uniform, readable in grey and by colour-blind readers), signed maps :data:`SIGNED_CMAP`
centred on 0, and the dead zone is always drawn by :func:`shade_dead_zone` (tinted red on an
input, outlined in red on a map). Every saliency figure carries a colourbar saying what its
colours mean. A map over a grey-scale digit is drawn opaque, the digit as a thin white
outline on top: blending the two would tint the digit's strokes lilac where the map is 0,
which reads as saliency. Wherever μ is printed, :func:`method_grid` prints the μ of a
constant map beside it (the scale μ is read on).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import validate
from ..errors import BadValue
from ..metrics import baseline_mu

__all__ = ["show_image", "shade_dead_zone", "show_saliency", "method_grid", "saliency_colorbar",
           "add_colorbar", "map_row", "gradient_routing", "row_profiles", "dead_to_visible",
           "SALIENCY_CMAP", "SIGNED_CMAP", "DEAD_RED"]

DEAD_RED = (0.85, 0.1, 0.1)
SALIENCY_CMAP = "viridis"
SIGNED_CMAP = "RdBu_r"
UNIT_LABEL = "saliency, min-max\nnormalised to [0, 1]"


def _to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """``[C, H, W]`` or ``[H, W]`` tensor -> ``[H, W]`` or ``[H, W, 3]`` array in [0, 1]."""
    img = image.detach().float().cpu()
    if img.dim() == 3:
        img = img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)
    img = img - img.min()
    return (img / img.max().clamp_min(1e-12)).numpy()


def show_image(ax, image: torch.Tensor, title: str | None = None):
    """Draw an image ``[C, H, W]`` / ``[H, W]`` (rescaled to [0, 1]) without axes."""
    arr = _to_numpy_image(image)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def shade_dead_zone(ax, dead_zone: torch.Tensor, alpha: float = 0.35, outline: bool = True,
                    extent: tuple[float, float, float, float] | None = None):
    """Tint the dead zone (bool ``[H, W]``) red, and outline it: the book's one way to mark it.

    ``alpha=0`` draws the outline only (over a saliency map); ``extent`` (left, right, bottom,
    top in data coordinates) places the zone elsewhere than on pixel coordinates (diagrams).
    """
    zone = dead_zone.detach().cpu().numpy().astype(float)
    rgba = np.zeros((*zone.shape, 4))
    rgba[..., :3] = DEAD_RED
    rgba[..., 3] = zone * alpha
    ax.imshow(rgba, interpolation="nearest", extent=extent)
    if outline and zone.any():
        if extent is None:
            ax.contour(zone, levels=[0.5], colors=[DEAD_RED], linewidths=1.2)
        else:
            left, right, bottom, top = extent
            xs = np.linspace(left, right, zone.shape[1])
            ys = np.linspace(top, bottom, zone.shape[0])
            ax.contour(xs, ys, zone, levels=[0.5], colors=[DEAD_RED], linewidths=1.2)
    return ax


def show_saliency(ax, image: torch.Tensor, saliency: torch.Tensor, dead_zone=None,
                  title: str | None = None, alpha: float = 0.55):
    """A saliency map ``[H, W]`` (normalised to [0, 1]) over its image, dead zone outlined.

    Grey-scale image (``[H, W]`` or ``[1, H, W]``): the map opaque, the image's strokes
    outlined in white (its colours are then exactly the colourbar's). Colour image: the map
    blended with weight ``alpha`` over a dimmed grey copy of the photo.
    """
    arr = _to_numpy_image(image)
    sal = saliency.detach().float().cpu().numpy()
    if arr.ndim == 2:
        ax.imshow(sal, cmap=SALIENCY_CMAP, vmin=0, vmax=1)
        if arr.max() > arr.min():
            ax.contour(arr, levels=[0.5], colors="white", linewidths=0.6, alpha=0.8)
        ax.set_axis_off()
        if title:
            ax.set_title(title, fontsize=9)
    else:
        ax.imshow(0.5 * arr.mean(-1), cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        if title:
            ax.set_title(title, fontsize=9)
        ax.imshow(sal, cmap=SALIENCY_CMAP, alpha=alpha, vmin=0, vmax=1)
    if dead_zone is not None:
        shade_dead_zone(ax, dead_zone, alpha=0.0)
    return ax


def _mu_title(name: str, mus, n: int, named: bool) -> str | None:
    mu_text = None if mus is None else f"μ={float(mus[name][n]):.2f}"
    if named:
        return name if mu_text is None else f"{name}\n{mu_text}"
    return mu_text


def method_grid(images: torch.Tensor, maps: dict[str, torch.Tensor], dead_zone=None,
                mus: dict[str, torch.Tensor] | None = None, size: float = 1.8,
                max_cols: int | None = None, colorbar: bool = True):
    """Per image, the input (dead zone in red) then one panel per method, and a colourbar.

    ``images [N, C, H, W]``; ``maps[name] [N, H, W]`` normalised saliency maps; ``mus[name]
    [N]`` optional leak values printed in the titles, with a constant map's μ in the input's
    title (given ``dead_zone``). ``max_cols`` wraps the panels of one
    image over several rows (many methods stay large enough to read); every panel is then
    titled. Returns the figure.
    """
    N, names = images.shape[0], list(maps)
    baseline = None
    if mus is not None and dead_zone is not None:
        baseline = f"a constant map: μ={baseline_mu(dead_zone):.2f}"
    per_image = len(names) + 1
    cols = min(per_image, max_cols or per_image)
    rows = math.ceil(per_image / cols)
    fig, axes = plt.subplots(N * rows, cols, figsize=(size * cols + (0.9 if colorbar else 0),
                                                      size * 1.12 * N * rows),
                             squeeze=False, layout="constrained")
    wrapped = rows > 1
    for n in range(N):
        panels = axes[n * rows:(n + 1) * rows].flatten()
        head = "input" if baseline is None else f"input\n({baseline})"
        show_image(panels[0], images[n], head if n == 0 or wrapped else None)
        if dead_zone is not None:
            shade_dead_zone(panels[0], dead_zone)
        for ax, name in zip(panels[1:], names):
            show_saliency(ax, images[n], maps[name][n], dead_zone,
                          _mu_title(name, mus, n, named=n == 0 or wrapped))
        for ax in panels[per_image:]:
            ax.set_axis_off()
    if colorbar:
        saliency_colorbar(fig, axes)
    return fig


def _unit_scale(cmap: str):
    """What a colourbar of maps drawn on the [0, 1] scale with ``cmap`` shows."""
    return plt.cm.ScalarMappable(norm=plt.Normalize(0, 1), cmap=cmap)


def saliency_colorbar(fig, axes, label: str = UNIT_LABEL):
    """A colourbar for the maps :func:`show_saliency` draws (0 to 1), beside ``axes``."""
    rows = np.asarray(axes).shape[0] if np.asarray(axes).ndim > 1 else 1
    return fig.colorbar(_unit_scale(SALIENCY_CMAP), ax=axes, label=label,
                        shrink=0.8 if rows > 1 else 1.0)


def add_colorbar(fig, label: str = UNIT_LABEL, cmap: str = SALIENCY_CMAP):
    """One colourbar for every map of ``fig`` drawn on the [0, 1] scale with ``cmap``."""
    fig.colorbar(_unit_scale(cmap), ax=fig.axes, shrink=0.8, label=label)
    return fig


def map_row(maps: dict[str, torch.Tensor], dead_zones=(), size: float = 2.0,
            label: str = "map value"):
    """Raw maps ``[h, w]`` or ``[H, W]`` side by side, each with its own colourbar (signed maps
    in :data:`SIGNED_CMAP` centred on 0). ``dead_zones``: bool masks (e.g. the dead cells
    ``[h, w]`` and the dead zone ``[H, W]``); each map gets the one of its shape outlined.
    Returns the figure."""
    fig, axes = plt.subplots(1, len(maps), figsize=(size * 1.3 * len(maps), size * 1.1),
                             squeeze=False, layout="constrained")
    for ax, (title, m) in zip(axes[0], maps.items()):
        m = m.detach().float().cpu()
        lim = float(m.abs().max()) or 1.0
        signed = bool((m < 0).any())
        im = ax.imshow(m.numpy(), cmap=SIGNED_CMAP if signed else SALIENCY_CMAP,
                       vmin=-lim if signed else 0, vmax=lim)
        for zone in dead_zones:
            if tuple(m.shape) == tuple(zone.shape):
                shade_dead_zone(ax, zone, alpha=0.0)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    return fig


def gradient_routing(model, image: torch.Tensor, channel: int | None = None, target=None,
                     size: float = 2.4):
    """Proposition 2 drawn for one channel of one image: ``B^(v)``, the max-pool's indicators
    ``D``, the path sums ``ρ`` (each repeated over its pooling window), and their product
    ``D ⊙ ρ = ∇_B f``, whose average over all of ``B`` is GradCAM's ``α_v`` (printed beside
    autograd's). Cells of ``B`` behind the wall are outlined in red.

    ``model``: the paper's toy :class:`~camwalls_lib.networks.models.ToyCNN` (one conv block,
    a wall); ``image``: one input ``[C, H, W]`` or ``[1, C, H, W]``; ``channel``: the channel
    ``v`` to draw (default: the one with the largest ``|α_v| · ΣB^(v)``, the one that weighs
    most in GradCAM's map); ``target``: the explained class (default: the predicted one).
    Returns the figure.
    """
    from .. import cams
    from ..theory.prop2 import path_sums, pooling_indicators
    from ..networks.models import ToyCNN
    from ..walls import walled_positions
    if not isinstance(model, ToyCNN) or model.wall is None:
        raise TypeError(f"model must be a walled ToyCNN (the paper's [CNN]), got "
                        f"{type(model).__name__}" + (" without a wall" if isinstance(model, ToyCNN) else "") + ".")
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4) or (
            image.dim() == 4 and image.shape[0] != 1):
        raise ValueError(f"image must be one input [C, H, W] or [1, C, H, W], got "
                         f"{tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}.")
    x = image if image.dim() == 4 else image[None]
    model = model.eval()
    with torch.no_grad():
        B = model.features[:2](x)
    if target is None:
        with torch.no_grad():
            target = int(model(x).argmax(1))
    rho = path_sums(model, x, target)[0]
    D = pooling_indicators(B, model.k_pool)[0]
    k = model.k_pool
    rho_up = rho.repeat_interleave(k, 1).repeat_interleave(k, 2)
    grad = D * rho_up
    alpha = grad.mean((1, 2))
    V = B.shape[1]
    if channel is None:
        channel = int((alpha * B[0].sum((1, 2))).abs().argmax())
    if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < V:
        raise ValueError(f"channel must be an int in 0..{V - 1}, got {channel!r}.")
    autograd = cams.capture(model, x, target=target).dB[0, channel].mean()
    h, w = B.shape[-2:]
    behind = walled_positions(h, w, k, model.wall)
    v = channel
    panels = [(f"$\\mathbf{{B}}^{{({v})}}$: the channel's map", B[0, v], "sequential"),
              ("$\\mathbf{D}$: each window's maximum", D[v], "binary"),
              ("$\\rho$: path sum of each window", rho_up[v], "signed"),
              ("$\\nabla_{\\mathbf{B}} f = \\mathbf{D} \\odot \\rho$", grad[v], "signed")]
    fig, axes = plt.subplots(1, 4, figsize=(size * 4 * 1.25, size * 1.25), layout="constrained")
    for ax, (title, m, kind) in zip(axes, panels):
        m = m.detach().float().cpu()
        lim = float(m.abs().max()) or 1.0
        if kind == "signed":
            im = ax.imshow(m.numpy(), cmap=SIGNED_CMAP, vmin=-lim, vmax=lim)
            label = "value (0: white)"
        elif kind == "binary":
            im = ax.imshow(m.numpy(), cmap=plt.get_cmap("Greys", 2), vmin=0, vmax=1)
            label = "1: the window's maximum"
        else:
            im = ax.imshow(m.numpy(), cmap=SALIENCY_CMAP, vmin=0, vmax=lim)
            label = "value (0: dark)"
        shade_dead_zone(ax, behind, alpha=0.0)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
        if kind == "binary":
            bar.set_ticks([0.25, 0.75], labels=["0", "1"])
    from .report import num
    fig.suptitle(f"channel v = {v}, explained class {target}: $\\alpha_v$ = mean of "
                 f"$\\mathbf{{D}} \\odot \\rho$ over all {h} × {w} cells of $\\mathbf{{B}}$ = "
                 f"{num(alpha[v])} (autograd: {num(autograd)}); red line: the cells behind "
                 "the wall", fontsize=9)
    return fig


def dead_to_visible(saliency: torch.Tensor, dead_zone: torch.Tensor) -> float:
    """Mean of one map ``[H, W]`` on the dead zone divided by its mean elsewhere (0 for a map
    that is 0 behind the wall, 1 for one as bright there as on average elsewhere; NaN for a
    map that is 0 on the visible part)."""
    zone = _check_zone(dead_zone)
    m = validate.tensor(saliency, "saliency", "[H, W]")
    if tuple(m.shape) != tuple(zone.shape) or m.dtype == torch.bool or m.is_complex():
        raise BadValue(f"saliency must be one real map [H, W] = {tuple(zone.shape)} (the dead "
                       f"zone's shape), got {m.dtype} of shape {tuple(m.shape)}.")
    m = validate.finite(m.detach().float().cpu()[None], "saliency", "map")[0]
    zone = zone.cpu()
    visible = float(m[~zone].mean())
    return float(m[zone].mean()) / visible if visible > 0 else math.nan


def _check_zone(dead_zone) -> torch.Tensor:
    zone = validate.tensor(dead_zone, "dead_zone", "[H, W] (bool)")
    if zone.dtype != torch.bool or zone.dim() != 2 or not bool(zone.any()) or bool(zone.all()):
        raise BadValue("dead_zone must be a bool mask [H, W] with dead and visible pixels, got "
                       f"{zone.dtype} of shape {tuple(zone.shape)}.")
    return zone


def row_profiles(maps: dict[str, torch.Tensor], dead_zone: torch.Tensor, index: int = 0,
                 size: float = 3.0):
    """How bright each map is row by row: for map ``index`` of every method (``maps[name]
    [N, H, W]``, normalised to [0, 1]), its mean over the columns against the row, the dead
    rows tinted red. A constant map is a flat line; the legend gives each map's mean on the
    dead zone over its mean on the visible part (:func:`dead_to_visible`). A near-uniform map,
    hard to read as a picture, shows here as a line that does not drop at the wall. Returns
    the figure."""
    if not isinstance(maps, dict) or not maps:
        raise BadValue("maps must be a non-empty dict {method name: maps [N, H, W]}.")
    zone = _check_zone(dead_zone)
    profiles = {}
    for name, m in maps.items():
        m = validate.real_maps(m, f"maps[{name!r}]", min_dim=3)
        if m.dim() != 3 or tuple(m.shape[1:]) != tuple(zone.shape):
            raise BadValue(f"maps[{name!r}] must be [N, H, W] with [H, W] = "
                           f"{tuple(zone.shape)} (the dead zone's), got {tuple(m.shape)}.")
        if not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(m)):
            raise BadValue(f"index must be an int in 0..{len(m) - 1}, got {index!r}.")
        one = validate.finite(m[index].detach().float().cpu(), f"maps[{name!r}]", "row")
        profiles[name] = (one.mean(1).numpy(), dead_to_visible(one, zone))
    fig, ax = plt.subplots(figsize=(size * 2.4, size), layout="constrained")
    dead = zone.cpu().any(1).numpy()
    rows = np.arange(len(dead))
    ax.axvspan(rows[dead].min() - 0.5, rows[dead].max() + 0.5, color=DEAD_RED, alpha=0.15,
               label="dead rows")
    for name, (profile, ratio) in profiles.items():
        ax.plot(rows, profile, lw=1.4, label=f"{name} (dead / visible: {ratio:.2f})")
    ax.set_xlabel("image row (0 = top)")
    ax.set_ylabel("mean of the map over the row\n(min-max normalised map)")
    ax.set_ylim(0, 1)
    ax.set_xlim(rows[0], rows[-1])
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig
