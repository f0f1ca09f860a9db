"""Numbers as people write them: a few significant digits, powers of ten as 10⁻⁶ (never
Python's ``1e-06``), shares as percentages.

The lowest layer of the library's reader-facing text: the wall test's reports use it, and
:mod:`camwalls_lib.book.report` gives it to the chapters with μ beside its scale.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = ["num", "sci", "pct"]


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


def _digits(digits, minimum: int = 1) -> int:
    """A count of digits, an ``int >= minimum``; anything else is a ValueError naming it."""
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < minimum:
        raise ValueError(f"digits must be an int >= {minimum}, got {digits!r}.")
    return digits


def num(x, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, thousands separated: ``num(69.5443) == "69.5"``,
    ``num(15360) == "15,360"``; below 10⁻⁴ or from 10¹⁵ on in powers of ten (:func:`sci`):
    ``num(5.42e-20) == "5.42 × 10⁻²⁰"``."""
    x = _real(x, "x")
    digits = _digits(digits)
    if x == 0:
        return "0"
    if abs(x) < 1e-4 or abs(x) >= 1e15:
        return sci(x, digits)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{round(x, decimals):,.{decimals}f}"


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def sci(x, digits: int = 2) -> str:
    """``x`` in powers of ten with ``digits`` significant digits, as a reader writes it, never
    Python's ``1e-06``: ``sci(1.12e-08) == "1.1 × 10⁻⁸"``, ``sci(-0.0454, 3) == "−4.54 × 10⁻²"``;
    a mantissa of exactly 1 is left out (``sci(1e-6, 1) == "10⁻⁶"``), and 0 is ``"0"``."""
    x = _real(x, "x")
    digits = _digits(digits)
    if x == 0:
        return "0"
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    sign = "−" if x < 0 else ""
    if float(mantissa) == 1 and digits == 1:
        return sign + power
    return f"{sign}{mantissa} × {power}"


def pct(share, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage with ``digits`` decimals: ``pct(0.6693) == "66.9 %"``."""
    share = _real(share, "share")
    digits = _digits(digits, minimum=0)
    return f"{100 * share:.{digits}f} %"
