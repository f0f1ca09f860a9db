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
    batch = records[next(iter(records))]["recipe"]["batch_size"]
    left.set(xlabel=f"optimiser step (batch of {batch})", ylabel="cross-entropy",
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


def table1_bars(rows: dict, paper: dict, uniform: float, labels: dict,
                earlier: dict | None = None, abstract: dict | None = None):
    """``rows[method] = (mean, sd, n)`` (mu x 100) as bars beside the paper's STACK-MIX column
    (``paper[method]["STACK-MIX"] = (mean, sd)``, grey; a method only in ``abstract``, the
    extended abstract's table of the same form, hatched grey; others left blank), the
    ``earlier`` network's rows (same form as ``rows``, light blue) if given, and a dashed line
    at a constant map's ``uniform``. Returns the figure."""
    fig, ax = plt.subplots(figsize=(10, 3.6))
    pos = torch.arange(len(rows)).float().numpy()
    nothing = (float("nan"), 0.0)
    paper_col = [paper.get(m, {}).get("STACK-MIX", nothing) for m in rows]
    abstract_col = [nothing if m in paper else (abstract or {}).get(m, {}).get("STACK-MIX", nothing)
                    for m in rows]
    bars = [([r[:2] for r in rows.values()], "this network (Fashion-MNIST)", "tab:blue", None),
            (paper_col, "paper, ImageNet (quoted)", "tab:gray", None)]
    if earlier is not None:
        bars.insert(1, ([earlier[m][:2] for m in rows], "the first, undertrained network",
                        "lightsteelblue", None))
    width = 0.8 / len(bars)
    for k, (values, label, colour, hatch) in enumerate(bars):
        ax.bar(pos + (k - (len(bars) - 1) / 2) * width, [v[0] for v in values], width,
               yerr=_spread(values), label=label, color=colour, hatch=hatch)
    if abstract is not None and any(v[0] == v[0] for v in abstract_col):   # some not NaN
        ax.bar(pos + (len(bars) - 1) / 2 * width, [v[0] for v in abstract_col], width,
               yerr=_spread(abstract_col), color="white", edgecolor="tab:gray",
               hatch="///", label="extended abstract, ImageNet (quoted)")
    ax.axhline(uniform, color="tab:red", ls="--", lw=1, label="a constant map")
    ax.set_xticks(pos, [labels.get(m, m) for m in rows], rotation=30)
    ax.set_ylabel("μ × 100 (lower is better)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.tight_layout()
    return fig


def _spread(values):
    """Error bars of one sd above each mean and down to at most 0 below it (mu >= 0)."""
    return [[min(sd, mean) if mean == mean else 0.0 for mean, sd in values],
            [sd for _, sd in values]]
