"""Immediate feedback for the book's exercises: every ``check_*`` function, and :func:`verdict`.

A check compares a student's answer with what the library computes and prints one line
(:func:`verdict`): why a right answer is right, or a hint that points a wrong one in the right
direction. The computational modules never import this one; a chapter calls
``exercises.check_...``. Symbolic answers are read with :mod:`.answers`, whose
``*_symbols`` functions (the symbols a student writes an answer in) are reached from here too.

- the wall and its dead zone: :func:`check_dead_rows`, :func:`check_dead_zone_rows`,
  :func:`check_vgg_dead_zone`;
- CAM methods and their leak: :func:`check_global`, :func:`check_trusted_methods`,
  :func:`check_zero_leak_rule`, :func:`check_uniform_mu`, :func:`check_blind_explainers`;
- the algebra (sympy): :func:`check_cam_score`, :func:`check_softmax_alpha`,
  :func:`check_prop2_l2`, :func:`check_alpha_variance`, :func:`check_cantelli`.

:func:`assert_correct` runs any of them as an autograder's test (the graded assignments of
``tools/assignments.py``): the verdict line is returned, or raised when the answer is wrong.
"""

from __future__ import annotations

import contextlib
import io
import math

import sympy as sp
import torch
import torch.nn as nn

from .. import cams
from ..cams import vit_explain
from ..metrics import mu
from ..networks.models import masked_vgg16
from ..walls import dead_rows, dead_zone
from .answers import (cam_symbols, prop2_symbols, read_answer, same_expression,
                      softmax_symbols, theorem3_points, theorem3_symbols)

__all__ = ["verdict", "assert_correct", "cam_symbols", "softmax_symbols", "prop2_symbols", "theorem3_symbols",
           "check_dead_rows", "check_dead_zone_rows", "check_vgg_dead_zone",
           "check_global", "check_trusted_methods", "check_zero_leak_rule", "check_uniform_mu",
           "check_blind_explainers", "check_cam_score", "check_softmax_alpha", "check_prop2_l2",
           "check_alpha_variance", "check_cantelli"]


def verdict(ok: bool, praise: str, hint: str) -> bool:
    """Print a one-line verdict for a student's answer and return ``ok``.

    ``praise`` says why a right answer is right; ``hint`` points a wrong one in the right
    direction without giving the solution away.
    """
    print(("Correct: " + praise) if ok else ("Not yet: " + hint))
    return bool(ok)


def assert_correct(check, *args, **kwargs) -> str:
    """Run the exercise check ``check(*args, **kwargs)`` for an autograder: return its verdict
    line when the answer is right, raise ``AssertionError`` with that line (the hint) when it is
    wrong. The assignments' tests (``tools/assignments.py``) call every check through it."""
    if not callable(check):
        raise TypeError(f"assert_correct needs an exercise check (e.g. check_dead_rows), got "
                        f"{type(check).__name__}.")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        ok = check(*args, **kwargs)
    line = printed.getvalue().strip()
    if not ok:
        raise AssertionError(line or f"{getattr(check, '__name__', 'the check')} says no.")
    return line


# ----------------------------------------------------------------------------- the wall

def check_dead_rows(model: nn.Module, input_shape: tuple[int, ...], answer,
                    hint: str | None = None) -> bool:
    """Exercise check: is ``answer = (first, last)`` (0-based, inclusive) the band of input rows
    that are entirely dead for ``model`` on inputs of ``input_shape``? Answer None if no row
    is entirely dead. ``hint`` replaces the generic hint for a wrong answer."""
    truth = dead_rows(dead_zone(model, input_shape))
    given = None if answer is None else tuple(int(a) for a in answer)
    praise = (f"rows {truth[0]}..{truth[1]} are dead: {truth[1] - truth[0] + 1} rows that can "
              "influence no output." if truth else
              "no input row is entirely dead: the visible features' receptive fields cover "
              "every row, so this wall hides nothing.")
    return verdict(given == truth, praise, hint or (
        "follow one visible feature row back through each pooling and convolution: a k x k "
        "convolution widens what a row reads by k - 1 pixels, a k' x k' max-pool multiplies "
        "positions by k'. Rows are 0-based and inclusive; answer None if no row is dead."))


def check_dead_zone_rows(model, answer, image_size: int = 28) -> bool:
    """Exercise check: ``answer`` = (first, last) fully dead input rows, 0-based inclusive,
    of ``model``'s dead zone on ``image_size x image_size`` digits (None: no dead row).
    :func:`check_dead_rows` with the MNIST input shape."""
    return check_dead_rows(model, (model.features[0].in_channels, image_size, image_size), answer)


def check_vgg_dead_zone(wall_rows: int, answer) -> bool:
    """Exercise check: ``answer`` is the dead band ``(first, last)`` (0-based, inclusive) of the
    224 x 224 masked VGG16 whose lowest ``wall_rows`` of 14 feature rows are walled, or None
    if no input row is entirely dead. (The dead zone does not depend on the widths, so a thin
    copy of the network is checked with :func:`walls.check_dead_rows`.)"""
    return check_dead_rows(
        masked_vgg16(width=1 / 64, hidden=8, wall_rows=wall_rows), (3, 224, 224), answer,
        hint="each visible feature row i reads input rows up to 16 × i + 15 + 90 (conv5_3's "
             "receptive field reaches 90 pixels below its block); the dead band starts right "
             "after the last visible row's reach. Answer None if nothing is dead.")


# ----------------------------------------------------------------------------- CAM methods

def check_global(answer) -> bool:
    """Exercise check: ``answer`` is the set of method names whose coefficient is global."""
    chosen = {cams.method_name(m) for m in answer}
    missing, extra = cams.GLOBAL - chosen, chosen - cams.GLOBAL
    return verdict(not missing and not extra,
                   "every method but HiResCAM and LayerCAM multiplies a whole channel by one "
                   "number.",
                   f"{len(missing)} global method(s) missing and {len(extra)} listed wrongly. "
                   "Look at each rule's return shape: [N, V] or [N, V, h, w]?")


def check_trusted_methods(table, answer) -> bool:
    """Exercise check: ``answer`` = the methods whose map put *nothing* in the dead zone of any
    image of ``table`` (a :class:`camwalls_lib.metrics.leak.LeakTable`)."""
    truth = {m for m, v in table.mu.items() if float(v.max()) == 0.0}
    given = {cams.method_name(a) for a in answer}
    return verdict(
        given == truth,
        f"{', '.join(cams.LABELS[m] for m in sorted(truth))}: their coefficient is local "
        "(one number per channel and per position, from the gradient there), and the gradient "
        "behind the wall is exactly 0.",
        "look for mu = 0.0 +- 0.0 in the table -- exactly zero, not small -- and ask which "
        "weighting rules give a number per position rather than per channel.")


def check_zero_leak_rule(rule, model, x: torch.Tensor, dead_zone: torch.Tensor) -> bool:
    """Exercise check: ``rule(cap) -> alpha`` (``[N, V]`` or ``[N, V, h, w]``, see
    :mod:`camwalls_lib.cams`) must give maps with mu = 0 on every image of ``x`` and a
    non-zero map on at least 90 % of them (the all-zero map leaks nothing but says nothing)."""
    cap = cams.capture(model, x)
    alpha = rule(cap)
    maps = cams.normalize(cams.upsample(cams.combine(alpha, cap.B), x.shape[-2:]))
    leak = mu(maps, dead_zone)
    alive = (maps.flatten(1).amax(1) > 0).float().mean()
    return verdict(
        bool(leak.max() == 0) and alive >= 0.9,
        f"mu = 0 on all {len(x)} images and {100 * alive:.0f}% of the maps are non-zero: a "
        "weight that is 0 wherever the gradient is 0 cannot reach behind the wall.",
        f"max mu = {float(leak.max()):.3f}, non-zero maps {100 * alive:.0f}%. A coefficient "
        "that is one number per channel paints the whole channel, dead zone included; make "
        "alpha depend on the position, and vanish where nabla_B y is 0.")


def check_uniform_mu(answer) -> bool:
    """Exercise check: ``answer`` is mu (in [0, 1], or x 100) of a constant 224 x 224 map with
    the paper's dead zone (rows 170..223)."""
    truth = math.sqrt(54 / 224)
    value = float(answer) / (100 if float(answer) > 1 else 1)
    return verdict(abs(value - truth) < 5e-3,
                   f"mu = sqrt(54 * 224 / (224 * 224)) = sqrt(54/224) = {truth:.3f}: a map that "
                   "ignores the image already scores this; its square, 24 %, is the dead zone's "
                   "share of the map's energy (and of its pixels).",
                   "mu is a ratio of l2 norms: count the pixels in the dead zone and in the "
                   "image; a constant c cancels.")


def check_blind_explainers(table, answer) -> bool:
    """Exercise check: ``answer`` = the explainers (names of :data:`vit_explain.EXPLAINERS`)
    whose map put exactly nothing in the dead zone of any image of ``table`` (from
    :func:`camwalls_lib.cams.vit_explain.leak_table`)."""
    names = vit_explain.EXPLAINERS
    truth = {m for m in names if float(table.mu[vit_explain.LABELS[m]].max()) == 0.0}
    unknown = set(answer) - set(names)
    if unknown:
        raise ValueError(f"Unknown explainer(s) {sorted(unknown)}; choose from {names}.")
    return verdict(
        set(answer) == truth,
        "every explainer but GradCAM: HiResCAM and LayerCAM weigh each patch by its own "
        "gradient, exactly 0 behind the wall, and the three attention maps are built from "
        "attention weights on walled keys, which the mask sets to exactly 0.",
        "look for mu = 0.0 +- 0.0 -- exactly zero -- and ask which explainers use one number "
        "for all patches of a channel.")


# ----------------------------------------------------------------------------- algebra

def check_cam_score(expr, h: int = 2, w: int = 2, seed: int = 0) -> bool:
    """Exercise: write the class score ``y_c`` of a GAP (mean) + linear head with bias ``b``
    in terms of its class activation map ``M`` (symbols from :func:`cam_symbols`). ``seed``
    picks the random points the answer is compared at (the same for every symbolic check)."""
    S = cam_symbols(h, w)
    allowed = {**{str(s): s for s in S["M"]}, "b": S["b"], "h": S["h"], "w": S["w"]}
    ref = sum(S["M"]) / (S["h"] * S["w"]) + S["b"]
    expr = read_answer(expr, allowed, "Your score")

    def draw(rng):
        pt = {s: sp.Rational(rng.randint(-50, 50), rng.randint(1, 9)) for s in S["M"]}
        return {**pt, S["b"]: sp.Rational(rng.randint(-20, 20), 7), S["h"]: h, S["w"]: w}

    ok, stray = same_expression(expr, ref, allowed, draw, seed=seed)
    return verdict(ok, "the score is the mean of the CAM (not its sum) plus the bias: GAP divides by hw, "
                       "and the bias is not part of any position.",
                   f"unknown symbols {sorted(map(str, stray))}; use cam_symbols()." if stray else
                   "GAP averages each map (divide the sum over positions by h × w), and do not "
                   "forget the bias b.")


def check_softmax_alpha(expr, K: int = 3, seed: int = 0) -> bool:
    """Exercise: GradCAM's ``alpha_v`` for class 1 of a GAP + linear head when one
    differentiates the softmax probability ``p_1`` instead of the score ``y_1`` (symbols from
    :func:`softmax_symbols`)."""
    S = softmax_symbols(K)
    allowed = {**{str(s): s for s in S["p"]}, **{str(s): s for s in S["w"]},
               "h": S["h"], "w_map": S["w_map"]}
    p, wv = S["p"], S["w"]
    ref = p[0] * (wv[0] - sum(pj * wj for pj, wj in zip(p, wv))) / (S["h"] * S["w_map"])
    expr = read_answer(expr, allowed, "Your alpha")

    def draw(rng):
        raw = [rng.randint(1, 20) for _ in range(K)]
        pt = {pj: sp.Rational(r, sum(raw)) for pj, r in zip(p, raw)}     # probabilities sum to 1
        pt.update({wj: sp.Rational(rng.randint(-30, 30), 7) for wj in wv})
        return {**pt, S["h"]: 3, S["w_map"]: 5}

    ok, stray = same_expression(expr, ref, allowed, draw, seed=seed)
    return verdict(ok, "dp_1/dy_j = p_1 (1{j=1} - p_j), so alpha_v = p_1 (w_1 - sum_j p_j w_j) "
                       "/ (h w_map): it depends on the input through p, and is not CAM's w_1/Z.",
                   f"unknown symbols {sorted(map(str, stray))}; use softmax_symbols()." if stray
                   else "chain rule through the softmax: dp_1/dy_j = p_1 (1{j=1} - p_j), and "
                        "dy_j/dB^(v)_ab = w_j / (h w_map) for every position.")


def check_prop2_l2(expr, d1: int = 2, hp: int = 2, wp: int = 2, k_pool: int = 2,
                   seed: int = 0) -> bool:
    """Exercise: GradCAM's ``alpha`` for [CNN] with L = 2 (Proposition 2), in the symbols of
    :func:`prop2_symbols`. Checked at random weights and pooled values (with ``h = k' h'``)."""
    S = prop2_symbols(d1, hp, wp)
    W1, W2, C = S["W1"], S["W2"], S["C"]
    a1 = W1 * sp.Matrix(C)
    ref = sum(sp.Heaviside(a1[i]) * W1[i, p] * W2[0, i]
              for i in range(d1) for p in range(hp * wp)) / (S["h"] * S["w"])
    allowed = {**{str(s): s for s in W1}, **{str(s): s for s in W2},
               **{str(s): s for s in C}, "h": S["h"], "w": S["w"]}
    expr = read_answer(expr, allowed, "Your alpha")

    def draw(rng):
        pt = {s: sp.Rational(rng.randint(-40, 40), rng.randint(1, 9)) for s in [*W1, *W2]}
        pt.update({c: sp.Rational(rng.randint(0, 40), rng.randint(1, 9)) for c in C})
        return {**pt, S["h"]: k_pool * hp, S["w"]: k_pool * wp}

    ok, stray = same_expression(expr, ref, allowed, draw, trials=12, seed=seed)
    return verdict(ok, "alpha = (1/hw) sum_p sum_i 1{a1_i > 0} W1[i, p] W2[i]: every active "
                       "path from a pooled position to the score, averaged over the h × w "
                       "positions of B.",
                   f"unknown symbols {sorted(map(str, stray))}; use prop2_symbols()." if stray
                   else "sum over the pooled positions p AND the hidden units i; keep only "
                        "active units (Heaviside(a1_i)), multiply the two weights on the path, "
                        "and divide by h × w (the size of B, not of C).")


def _theorem3_check(expr, ref, what, seed):
    allowed = theorem3_symbols()
    return same_expression(read_answer(expr, allowed, what), ref, allowed, theorem3_points,
                           seed=seed)


def check_alpha_variance(expr, seed: int = 0) -> bool:
    """Exercise: ``Var(alpha_q)`` in Theorem 3's setting (symbols of :func:`theorem3_symbols`)."""
    S = theorem3_symbols()
    ref = S["tau"]**2 * S["hprime"] * S["wprime"] / (2 * S["h"]**2 * S["w"]**2)
    ok, stray = _theorem3_check(expr, ref, "Your variance", seed)
    return verdict(ok, "h'w'/2 visible weights, each of variance tau^2, summed and divided by hw.",
                   f"unknown symbols {sorted(map(str, stray))}; use theorem3_symbols()." if stray
                   else "alpha_q = (1/hw) sum_p W_p^(q); only the upper half of the h'w' weights "
                        "is non-zero; variances of independent terms add.")


def check_cantelli(expr, seed: int = 0) -> bool:
    """Exercise: the lower bound on ``P(Y >= E[Y]/2)`` given by Cantelli's one-sided
    inequality instead of Chebyshev's, as a function of ``V``."""
    S = theorem3_symbols()
    ref = S["V"] / (S["V"] + 20)
    ok, stray = _theorem3_check(expr, ref, "Your probability bound", seed)
    return verdict(ok, "Cantelli: P(Y - EY <= -t) <= Var/(Var + t^2) = 20/(V + 20), so the "
                       "probability is at least V/(V + 20) -- positive for every V.",
                   f"unknown symbols {sorted(map(str, stray))}; use theorem3_symbols()." if stray
                   else "Cantelli's inequality: P(Y <= EY - t) <= Var(Y) / (Var(Y) + t^2); use "
                        "t = EY/2 and Var(Y)/t^2 = 20/V.")
