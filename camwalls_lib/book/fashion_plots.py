"""Figures of the Fashion-MNIST masked VGG16 chapters: training curves, STACK-MIX composites,
Table 1 as bars."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..data.fashion import CLASSES
from .figures import shade_dead_zone, show_image

__all__ = ["training_curves", "composites", "table1_bars"]


def training_curves(records: dict, window: int = 25):
    """Left: training loss per step (moving average over ``window`` steps) of each network
    in ``records`` (``fashion_vgg.train_pair``'s record); right: validation top-1 after each
    epoch. Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, rec in records.items():
        loss = torch.tensor(rec["step_losses"])
        smooth = loss.unfold(0, window, 1).mean(1) if len(loss) >= window else loss
        left.plot(range(window, window + len(smooth)), smooth.numpy(), label=name)
        right.plot(rec["history"]["epoch"], [100 * v for v in rec["history"]["val_top1"]],
                   "o-", label=name)
    left.set(xlabel="SGD step (batch of 32)", ylabel="cross-entropy",
             title=f"training loss ({window}-step mean)")
    right.set(xlabel="epoch", ylabel="top-1 (%)", title="validation accuracy")
    right.set_xticks(records[next(iter(records))]["history"]["epoch"])
    for ax in (left, right):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def composites(stack, zone: torch.Tensor, n: int = 6, size: float = 1.8):
    """The first ``n`` composites of a STACK-MIX set, dead zone tinted red, class as title."""
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.15), squeeze=False)
    for ax, img, label in zip(axes[0], stack.images, stack.labels.tolist()):
        show_image(ax, img, CLASSES[label])
        shade_dead_zone(ax, zone)
    fig.tight_layout()
    return fig


def table1_bars(rows: dict, paper: dict, uniform: float, labels: dict):
    """``rows[method] = (mean, sd, n)`` (mu x 100) as bars beside the paper's STACK-MIX column
    (``paper[method]["STACK-MIX"] = (mean, sd)``, grey; missing methods left blank) and a
    dashed line at a uniform map's ``uniform``. Returns the figure."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    pos = torch.arange(len(rows)).float().numpy()
    ax.bar(pos - 0.2, [r[0] for r in rows.values()], 0.4, yerr=[r[1] for r in rows.values()],
           label="trained on Fashion-MNIST (here)", color="tab:blue")
    quoted = [paper.get(m, {}).get("STACK-MIX", (float("nan"), 0.0)) for m in rows]
    ax.bar(pos + 0.2, [q[0] for q in quoted], 0.4, yerr=[q[1] for q in quoted],
           label="paper, ImageNet (quoted)", color="tab:gray")
    ax.axhline(uniform, color="tab:red", ls="--", lw=1, label="a uniform map")
    ax.set_xticks(pos, [labels.get(m, m) for m in rows], rotation=30)
    ax.set_ylabel("μ × 100 (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
