"""Typeset sympy results in a chapter: ``display(Math(...))`` with long sums broken over lines.

A sympy expression printed with ``print`` is a raw string that runs off the page; MathJax
typesets LaTeX, and ``show`` splits a long sum into several aligned lines so that it fits a
narrow column::

    from camwalls_lib.book.typeset import show
    show(r"\\alpha", alpha_expr)                  # \\alpha = term + term + ... (broken)
    show(r"\\alpha - w_{c,v}/Z", 0)               # any value sympy can typeset
"""

from __future__ import annotations

import sympy as sp

__all__ = ["latex_lines", "show"]

# Symbols whose plain-text names (kept short for code) typeset badly: norm_m -> norm_{m}.
SYMBOL_LATEX = {"norm_m": r"\lVert\mathbf m\rVert_2"}


def latex_lines(lhs: str, expr, terms_per_line: int = 3) -> str:
    """LaTeX of ``lhs = expr`` in an ``aligned`` block, ``terms_per_line`` terms of a sum per
    line (``expr``: a sympy expression, or anything ``sympy.sympify`` accepts; matrices and
    lists are typeset whole)."""
    if terms_per_line < 1:
        raise ValueError(f"terms_per_line must be at least 1, got {terms_per_line}")
    expr = sp.sympify(expr)
    names = {s: SYMBOL_LATEX[s.name] for s in getattr(expr, "free_symbols", ())
             if s.name in SYMBOL_LATEX}
    terms = sp.Add.make_args(expr) if isinstance(expr, sp.Add) else (expr,)
    lines, current = [], []
    for term in terms:
        current.append(term)
        if len(current) == terms_per_line:
            lines.append(current)
            current = []
    if current:
        lines.append(current)
    rows = []
    for n, line in enumerate(lines):
        body = " + ".join(sp.latex(t, symbol_names=names) for t in line).replace("+ -", "- ")
        if n == 0:
            rows.append(f"{lhs} &= {body}")
        else:
            rows.append("&\\quad " + (body if body.startswith("-") else "+ " + body))
    return "\\begin{aligned}" + " \\\\\n".join(rows) + "\\end{aligned}"


def show(lhs: str, expr, terms_per_line: int = 3) -> None:
    """Display ``lhs = expr`` typeset by MathJax (in a notebook or the built book)."""
    from IPython.display import Math, display

    display(Math(latex_lines(lhs, expr, terms_per_line)))
