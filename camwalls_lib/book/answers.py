"""Reading a student's sympy answer and the symbols an exercise gives them.

:func:`read_answer` turns an answer (an expression or a string) into sympy with the exercise's
symbols; :func:`same_expression` compares it with the reference at random exact points. The
``*_symbols`` functions hand a student the symbols of one exercise of
:mod:`camwalls_lib.book.exercises`.
"""

from __future__ import annotations

import random

import sympy as sp

from ..theory.symbolic import tau

__all__ = ["read_answer", "same_expression", "cam_symbols", "softmax_symbols", "prop2_symbols",
           "theorem3_symbols", "theorem3_points"]


def read_answer(expr, allowed: dict, what: str):
    """sympify a student's answer (expression or string) with the exercise's symbols."""
    if isinstance(expr, str):
        try:
            expr = sp.parse_expr(expr, local_dict=dict(allowed))
        except Exception as e:  # noqa: BLE001 -- any parse error is the student's to fix
            raise ValueError(f"Could not read {expr!r} as a sympy expression: {e}") from None
    try:
        expr = sp.sympify(expr)
    except (sp.SympifyError, TypeError) as e:
        raise TypeError(f"{what} must be a sympy expression (or a string), got "
                        f"{type(expr).__name__}.") from e
    return expr


def same_expression(expr, ref, allowed: dict, draw, trials: int = 6,
                    seed: int = 0) -> tuple[bool, set]:
    """Compare two expressions at ``trials`` random exact points ``draw(rng) -> {symbol: value}``
    (``seed`` picks the points: an autograder's hidden test uses others than the public one)."""
    names = {s.name for s in allowed.values() if isinstance(s, sp.Symbol)}
    stray = {s for s in expr.free_symbols if s.name not in names}
    if stray:
        return False, stray
    by_name = {s.name: s for s in allowed.values() if isinstance(s, sp.Symbol)}
    rng = random.Random(seed)
    for _ in range(trials):
        point = draw(rng)
        student = expr.subs({s: point[by_name[s.name]] for s in expr.free_symbols})
        value = sp.nsimplify(ref.subs(point))
        if sp.simplify(sp.nsimplify(student) - value) != 0:
            return False, set()
    return True, set()


def cam_symbols(h: int = 2, w: int = 2) -> dict:
    """Symbols for :func:`check_cam_score`: the CAM entries ``M`` (an ``h x w`` Matrix of
    ``M_xy``), the bias ``b``, and ``h``, ``w`` (the map size, as symbols)."""
    M = sp.Matrix(h, w, lambda i, j: sp.Symbol(f"M_{i + 1}{j + 1}", real=True))
    out = {"M": M, "b": sp.Symbol("b", real=True), "h": sp.Symbol("h", positive=True),
           "w": sp.Symbol("w", positive=True)}
    return out


def softmax_symbols(K: int = 3) -> dict:
    """Symbols for :func:`check_softmax_alpha`: probabilities ``p_1..p_K`` (softmax outputs,
    ``p`` tuple), the weights ``w_1..w_K`` of *one* channel v to each class (``w`` tuple), and
    ``h``, ``w_map`` (the map size)."""
    return {"p": sp.symbols(f"p_1:{K + 1}", positive=True),
            "w": sp.symbols(f"w_1:{K + 1}", real=True),
            "h": sp.Symbol("h", positive=True), "w_map": sp.Symbol("w_map", positive=True)}


def prop2_symbols(d1: int = 2, hp: int = 2, wp: int = 2) -> dict:
    """Symbols for :func:`check_prop2_l2` (L = 2, one filter): ``W1`` (``d1 x h'w'`` Matrix,
    ``W1[i, p]`` reads pooled position p, row-major), ``W2`` (``1 x d1``), the pooled values
    ``C`` (``h'w'`` tuple), and ``h``, ``w`` (size of B). The pre-activations are
    ``a1 = W1 * Matrix(C)``; write the indicator ``1{a > 0}`` as ``Heaviside(a)``."""
    return {"W1": sp.Matrix(d1, hp * wp, lambda i, j: sp.Symbol(f"W1_{i + 1}{j + 1}", real=True)),
            "W2": sp.Matrix(1, d1, lambda _, j: sp.Symbol(f"W2_{j + 1}", real=True)),
            "C": sp.symbols(f"c_1:{hp * wp + 1}", nonnegative=True),
            "h": sp.Symbol("h", positive=True), "w": sp.Symbol("w", positive=True)}


def theorem3_symbols() -> dict:
    """Symbols for Theorem 3's exercises: ``tau``, ``h``, ``w``, ``hprime``, ``wprime``, ``V``."""
    h, w, H_, W_, V = sp.symbols("h w hprime wprime V", positive=True)
    return {"tau": tau, "h": h, "w": w, "hprime": H_, "wprime": W_, "V": V}


def theorem3_points(rng) -> dict:
    """A random exact point of Theorem 3's symbols (``h' `` even, ``V > 20``)."""
    S = theorem3_symbols()
    return {S["tau"]: sp.Rational(rng.randint(1, 9), rng.randint(1, 5)),
            S["h"]: rng.randint(2, 30), S["w"]: rng.randint(2, 30),
            S["hprime"]: 2 * rng.randint(1, 15), S["wprime"]: rng.randint(1, 15),
            S["V"]: rng.randint(21, 300)}
