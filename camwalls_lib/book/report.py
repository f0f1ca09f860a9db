"""Numbers and models as a reader should see them: rounded, with units, μ beside its scale.

Chapters glue these strings into prose (``myst_nb.glue``) or show them as Markdown, never a
raw ``tensor(...)``, a dict or an unrounded float.

- :func:`num` -- a number to a few significant digits (``0.4573`` -> ``"0.457"``);
- :func:`sci` -- a number in powers of ten, as people write it (``1.12e-08`` -> ``"1.1 × 10⁻⁸"``);
- :func:`pct` -- a share as a percentage (``0.669`` -> ``"66.9 %"``);
- :func:`mu_text` -- μ with the constant-map baseline of the same geometry beside it;
- :func:`architecture_table` -- a model's layers as a Markdown table (instead of ``print(model)``),
  a walled dense layer as one row with its wall and the weights behind it, and the total.
"""

from __future__ import annotations

import torch
from torch import nn

from ..metrics.mu import baseline_mu
from ..readable import _real, num, pct, sci
from ..walls import WalledLinear

__all__ = ["num", "sci", "pct", "mu_text", "architecture_table"]


def mu_text(mu, dead_zone_or_baseline, digits: int = 2) -> str:
    """``"μ = 0.67 (a constant map: 0.65)"``: μ read on its scale.

    ``mu``: a number in [0, 1] (or a one-element tensor); ``dead_zone_or_baseline``: the bool
    ``[H, W]`` dead zone the μ was measured on, or its baseline (a number) already computed
    with :func:`camwalls_lib.metrics.baseline_mu`.
    """
    value = _real(mu, "mu")
    if not 0 <= value <= 1:
        raise ValueError(f"mu must lie in [0, 1], got {value}; is it a percentage? Divide by 100.")
    if isinstance(dead_zone_or_baseline, torch.Tensor) and dead_zone_or_baseline.dim() == 2:
        base = baseline_mu(dead_zone_or_baseline)
    else:
        base = _real(dead_zone_or_baseline, "dead_zone_or_baseline")
    return f"μ = {value:.{digits}f} (a constant map: {base:.{digits}f})"


def _wall_words(layer: WalledLinear) -> str:
    """Where ``layer``'s wall lies on the map it reads: ``"lowest 6 of 12 rows walled"``."""
    _, h, w = layer.feature_shape
    walled = ~layer.wall.visible(h, w)
    rows = walled.all(dim=1).nonzero().flatten().tolist()
    cols = walled.all(dim=0).nonzero().flatten().tolist()
    if rows and walled.sum() == len(rows) * w and rows == list(range(rows[0], rows[-1] + 1)):
        n = len(rows)
        where = (f"lowest {n}" if rows[-1] == h - 1 else f"top {n}" if rows[0] == 0
                 else f"rows {rows[0]}..{rows[-1]}")
        return f"{where} of {h} rows walled"
    if cols and walled.sum() == len(cols) * h and cols == list(range(cols[0], cols[-1] + 1)):
        n = len(cols)
        where = (f"rightmost {n}" if cols[-1] == w - 1 else f"leftmost {n}" if cols[0] == 0
                 else f"columns {cols[0]}..{cols[-1]}")
        return f"{where} of {w} columns walled"
    return f"{int(walled.sum())} of {h * w} positions walled"


def architecture_table(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """The model's layers, in the order a forward pass runs them, as a Markdown table:
    layer, kind, output shape (without the batch) and parameter count, then a total row.

    A layer is a module without children, or a walled dense layer
    (:class:`~camwalls_lib.walls.WalledLinear`), shown as one row whose kind says where its
    wall lies; a model with such a layer gets a column with the number of weights behind the
    wall (exactly 0). Parameters that no listed layer holds (a module's own tensors, layers
    the forward pass does not run) get a row of their own, so the column always sums to
    ``sum(p.numel() for p in model.parameters())``. A layer that runs several times is listed
    once. Works on the meta device (shapes only).

    ``input_shape``: one input without the batch, e.g. ``(1, 28, 28)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape)):
        raise ValueError(f"input_shape must be a tuple of positive ints such as (1, 28, 28), "
                         f"got {input_shape!r}.")
    layers, inside = {}, set()
    for name, module in model.named_modules():
        if any(name.startswith(outer + ".") for outer in inside):
            continue                      # a part of a walled layer: the layer is the row
        if isinstance(module, WalledLinear):
            inside.add(name)
            layers[name] = module
        elif not list(module.children()):
            layers[name] = module
    walled_model = any(isinstance(m, WalledLinear) for m in layers.values())
    rows, seen, counted, hooks = [], set(), set(), []

    def record(name, module):
        def hook(_module, _inputs, output):
            if name in seen or not isinstance(output, torch.Tensor):
                return
            seen.add(name)
            shape = " × ".join(f"{d:,}" for d in output.shape[1:])
            own = list(module.parameters())
            counted.update(id(p) for p in own)
            params = sum(p.numel() for p in own)
            kind = type(module).__name__
            behind = " |" if walled_model else ""
            if isinstance(module, WalledLinear):
                kind += f" ({_wall_words(module)})"
                behind = f" {module.walled_count():,} |"
            rows.append(f"| {name} | {kind} | {shape} | {params:,} |{behind}")
        return hook

    for name, module in layers.items():
        hooks.append(module.register_forward_hook(record(name, module)))
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    rest = sum(p.numel() for p in model.parameters() if id(p) not in counted)
    header = "| layer | kind | output (channels × rows × columns) | parameters |"
    rule = "|---|---|---|---|"
    walled_total = ""
    if walled_model:
        header += " behind the wall (held at 0) |"
        rule += "---|"
        walled_total = f" **{sum(m.walled_count() for m in layers.values() if isinstance(m, WalledLinear)):,}** |"
    if rest:
        rows.append(f"| (elsewhere) | parameters held outside the listed layers | – | {rest:,} |"
                    + (" |" if walled_model else ""))
    rows.append(f"| **total** | | | **{total:,}** |{walled_total}")
    return "\n".join([header, rule, *rows])
