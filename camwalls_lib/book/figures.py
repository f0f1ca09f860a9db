"""Figures: an image, its dead zone in red, and saliency maps over it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["show_image", "shade_dead_zone", "show_saliency", "method_grid", "saliency_colorbar",
           "add_colorbar", "map_row"]

DEAD_RED = (0.85, 0.1, 0.1)


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


def shade_dead_zone(ax, dead_zone: torch.Tensor, alpha: float = 0.35, outline: bool = True):
    """Tint the dead zone (bool ``[H, W]``) red, and outline it."""
    zone = dead_zone.detach().cpu().numpy().astype(float)
    rgba = np.zeros((*zone.shape, 4))
    rgba[..., :3] = DEAD_RED
    rgba[..., 3] = zone * alpha
    ax.imshow(rgba, interpolation="nearest")
    if outline and zone.any():
        ax.contour(zone, levels=[0.5], colors=[DEAD_RED], linewidths=1.2)
    return ax


def show_saliency(ax, image: torch.Tensor, saliency: torch.Tensor, dead_zone=None,
                  title: str | None = None, alpha: float = 0.55):
    """A saliency map ``[H, W]`` (normalised to [0, 1]) over its image, dead zone outlined."""
    show_image(ax, image, title)
    ax.imshow(saliency.detach().float().cpu().numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
    if dead_zone is not None:
        shade_dead_zone(ax, dead_zone, alpha=0.0)
    return ax


def method_grid(images: torch.Tensor, maps: dict[str, torch.Tensor], dead_zone=None,
                mus: dict[str, torch.Tensor] | None = None, size: float = 1.8):
    """One row per image, the input (dead zone in red) then one column per method.

    ``images [N, C, H, W]``; ``maps[name] [N, H, W]`` normalised saliency maps; ``mus[name]
    [N]`` optional leak values printed in the titles. Returns the figure.
    """
    N, names = images.shape[0], list(maps)
    fig, axes = plt.subplots(N, len(names) + 1, figsize=(size * (len(names) + 1), size * N),
                             squeeze=False)
    for n in range(N):
        show_image(axes[n, 0], images[n], "input" if n == 0 else None)
        if dead_zone is not None:
            shade_dead_zone(axes[n, 0], dead_zone)
        for j, name in enumerate(names, start=1):
            title = name if n == 0 else None
            if mus is not None:
                title = f"{name}\nμ={float(mus[name][n]):.2f}" if n == 0 else f"μ={float(mus[name][n]):.2f}"
            show_saliency(axes[n, j], images[n], maps[name][n], dead_zone, title)
    fig.tight_layout()
    return fig


def _unit_scale(cmap: str):
    """What a colourbar of maps drawn on the [0, 1] scale with ``cmap`` shows."""
    return plt.cm.ScalarMappable(norm=plt.Normalize(0, 1), cmap=cmap)


def saliency_colorbar(fig, axes, label: str = "saliency (min-max normalised)"):
    """A colourbar for the maps :func:`show_saliency` draws (jet, 0 to 1), beside ``axes``."""
    return fig.colorbar(_unit_scale("jet"), ax=axes, label=label, shrink=0.8)


def add_colorbar(fig, label: str = "saliency (min-max normalised)", cmap: str = "jet"):
    """One colourbar for every map of ``fig`` drawn on the [0, 1] scale with ``cmap``."""
    fig.colorbar(_unit_scale(cmap), ax=fig.axes, shrink=0.8, label=label)
    return fig


def map_row(maps: dict[str, torch.Tensor], dead_zones=(), size: float = 2.0):
    """Raw maps ``[h, w]`` or ``[H, W]`` side by side, each with its own colourbar (signed maps
    in a diverging colour scale centred on 0). ``dead_zones``: bool masks (e.g. the dead
    cells ``[h, w]`` and the dead zone ``[H, W]``); each map gets the one of its shape
    outlined. Returns the figure."""
    fig, axes = plt.subplots(1, len(maps), figsize=(size * 1.25 * len(maps), size), squeeze=False)
    for ax, (title, m) in zip(axes[0], maps.items()):
        m = m.detach().float().cpu()
        lim = float(m.abs().max()) or 1.0
        signed = bool((m < 0).any())
        im = ax.imshow(m.numpy(), cmap="coolwarm" if signed else "jet",
                       vmin=-lim if signed else 0, vmax=lim)
        for zone in dead_zones:
            if tuple(m.shape) == tuple(zone.shape):
                shade_dead_zone(ax, zone, alpha=0.0)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
