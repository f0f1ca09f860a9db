"""Numbers and models as a reader should see them: rounded, with units, μ beside its scale.

Chapters glue these strings into prose (``myst_nb.glue``) or show them as Markdown, never a
raw ``tensor(...)``, a dict or an unrounded float.

- :func:`num` -- a number to a few significant digits (``0.4573`` -> ``"0.457"``);
- :func:`pct` -- a share as a percentage (``0.669`` -> ``"66.9 %"``);
- :func:`mu_text` -- μ with the constant-map baseline of the same geometry beside it;
- :func:`architecture_table` -- a model's layers as a Markdown table (instead of ``print(model)``).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ..metrics.mu import baseline_mu

__all__ = ["num", "pct", "mu_text", "architecture_table"]


def _real(x, name: str) -> float:
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise ValueError(f"{name} must be one number, got a tensor of shape {tuple(x.shape)}; "
                             "pick one element or reduce it first (e.g. .mean()).")
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}.")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}.")
    return x


def num(x, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, thousands separated: ``num(69.5443) == "69.5"``,
    ``num(15360) == "15,360"``, ``num(5.42e-20) == "5.42e-20"``."""
    x = _real(x, "x")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive int, got {digits!r}.")
    if x == 0:
        return "0"
    if abs(x) < 1e-4 or abs(x) >= 1e15:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{round(x, decimals):,.{decimals}f}"


def pct(share, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage with ``digits`` decimals: ``pct(0.6693) == "66.9 %"``."""
    share = _real(share, "share")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be an int >= 0, got {digits!r}.")
    return f"{100 * share:.{digits}f} %"


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


def architecture_table(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """The model's leaf layers, in the order a forward pass runs them, as a Markdown table:
    layer, kind, output shape (without the batch) and parameter count.

    ``input_shape``: one input without the batch, e.g. ``(1, 28, 28)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape)):
        raise ValueError(f"input_shape must be a tuple of positive ints such as (1, 28, 28), "
                         f"got {input_shape!r}.")
    rows, hooks = [], []

    def record(name):
        def hook(module, _inputs, output):
            if isinstance(output, torch.Tensor):
                shape = " × ".join(str(d) for d in output.shape[1:])
                params = sum(p.numel() for p in module.parameters(recurse=False))
                rows.append(f"| {name} | {type(module).__name__} | {shape} | {params:,} |")
        return hook

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record(name)))
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
    header = "| layer | kind | output (channels × rows × columns) | parameters |\n|---|---|---|---|"
    return "\n".join([header, *rows])
