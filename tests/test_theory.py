"""The symbolic side: CAM and GradCAM identities, Proposition 2, Lemmas 9-11, the exercises."""

import math
import random

import pytest
import sympy as sp

from camwalls_lib.book import exercises
from camwalls_lib.theory import symbolic as theory
from camwalls_lib.theory.theorem3 import sqrt_mixture_mean


def test_cam_score_is_mean_of_cam_plus_bias():
    r = theory.cam_identity(V=3, h=2, w=2)
    assert r["difference"] == 0
    assert sp.expand(r["score"] - sum(r["cam"]) / 4) != 0        # ... not without the bias


def test_gradcam_alpha_is_cam_weight_over_Z_but_not_through_softmax():
    r = theory.gradcam_alpha_gap_linear(V=2, h=2, w=3, K=3, c=1)
    W = r["W"]
    assert all(d == 0 for d in r["alpha_minus_w_over_Z"])
    for v, g in enumerate(r["gradient"]):                      # dy/dB constant over the map
        assert all(sp.simplify(e - W[1, v] / 6) == 0 for e in g)
    p = r["p"]
    assert sp.simplify(r["alpha_softmax"][0] - W[1, 0] / 6) != 0
    assert r["alpha_softmax"][0].has(p[0]) and r["alpha_softmax"][0].has(W[2, 0])


def random_distinct_map(h, seed):
    values = random.Random(seed).sample(range(1, 100), h * h)
    return [values[i * h:(i + 1) * h] for i in range(h)]


@pytest.mark.parametrize("hidden", [(), (2,)])
def test_sympy_derivative_equals_proposition2(hidden):
    net = theory.symbolic_cnn(H=5, k=2, k_pool=2, hidden=hidden)
    assert net.B.shape == (4, 4) and net.C.shape == (2, 2)
    for seed in range(3):
        assert theory.prop2_agrees(net, random_distinct_map(4, seed))


def test_proposition2_comparison_can_fail():
    """At a tie sympy's derivative uses Heaviside(0) = 1/2 and the Proposition's sum_k D = 1
    fails -- so prop2_agrees is a real check."""
    net = theory.symbolic_cnn(H=5, k=2, k_pool=2)
    assert not theory.prop2_agrees(net, [[0] * 4] * 4)


def test_symbolic_cnn_input_side_and_size_check():
    net = theory.symbolic_cnn(H=6, k=3, k_pool=2)
    assert net.A.shape == (4, 4)
    assert net.A[0, 0] == sum(net.xi[p, q] * net.filt[p, q] for p in range(3) for q in range(3))
    assert net.B_of_input[1, 2] == sp.Max(0, net.A[1, 2])
    with pytest.raises(ValueError, match="divide"):
        theory.symbolic_cnn(H=4, k=2, k_pool=2)


def test_window_sums_one_without_ties():
    r = theory.window_sums(2)
    assert r["strict_orderings"] == {1}
    assert r["ties"]["all equal (ReLU zeros)"] == 2


def test_lemmas():
    l9 = theory.lemma9()
    assert l9["difference"] == 0
    assert sp.simplify(l9["at_mu_0"] - theory.tau / sp.sqrt(2 * sp.pi)) == 0
    l10 = theory.lemma10(k=2)
    assert l10["mean"] == 0
    assert sp.simplify(l10["variance"] - theory.tau**2 * l10["norm2"]) == 0
    assert l10["mgf_difference"] == 0
    l11 = theory.lemma11()
    assert l11["second"] == theory.tau**2 / 2
    assert l11["fourth"] == 3 * theory.tau**4 / 2
    assert l11["variance"] == sp.Rational(5, 4) * theory.tau**4


def test_appendix_d_steps():
    d = theory.appendix_d()
    V = d["symbols"]["V"]
    assert d["alpha_variance_matches"]
    assert sp.simplify(d["chebyshev"] - 20 / V) == 0
    assert sp.simplify(d["cantelli"] - V / (V + 20)) == 0
    assert d["final_minus_eq5"] == 0 and d["chain_minus_final"] == 0


def test_exact_expectation_sum_matches_numeric():
    r = theory.exact_expectation()
    for V in (1, 5, 30):
        g = float(r["g"].subs(r["V"], V).doit())
        assert math.isclose(g, sqrt_mixture_mean(V), rel_tol=1e-12)


# ----------------------------------------------------------------------------- exercises

def test_check_prop2_l2(capsys):
    S = exercises.prop2_symbols()
    W1, W2, C, h, w = S["W1"], S["W2"], S["C"], S["h"], S["w"]
    a1 = W1 * sp.Matrix(C)
    right = sum(sp.Heaviside(a1[i]) * W1[i, p] * W2[0, i] for i in range(2) for p in range(4))
    assert exercises.check_prop2_l2(right / (h * w))
    assert exercises.check_prop2_l2(right / 16)                           # h = w = 4 plugged in
    assert "Correct" in capsys.readouterr().out
    assert not exercises.check_prop2_l2(right / 4)                        # divided by h'w'
    no_indicator = sum(W1[i, p] * W2[0, i] for i in range(2) for p in range(4)) / (h * w)
    assert not exercises.check_prop2_l2(no_indicator)
    assert not exercises.check_prop2_l2(sp.Symbol("q") * right)          # stray symbol
    assert "Not yet" in capsys.readouterr().out


def test_check_cam_score():
    S = exercises.cam_symbols()
    assert exercises.check_cam_score(sum(S["M"]) / (S["h"] * S["w"]) + S["b"])
    assert exercises.check_cam_score("(M_11 + M_12 + M_21 + M_22)/4 + b")
    assert not exercises.check_cam_score(sum(S["M"]) + S["b"])
    assert not exercises.check_cam_score(sum(S["M"]) / 4)


def test_check_softmax_alpha():
    S = exercises.softmax_symbols()
    p, w, Z = S["p"], S["w"], S["h"] * S["w_map"]
    assert exercises.check_softmax_alpha(p[0] * (w[0] - sum(pj * wj for pj, wj in zip(p, w))) / Z)
    # the same thing using p_1 = 1 - p_2 - p_3 is right too (probabilities sum to 1)
    assert exercises.check_softmax_alpha(p[0] * ((p[1] + p[2]) * w[0] - p[1] * w[1] - p[2] * w[2]) / Z)
    assert not exercises.check_softmax_alpha(w[0] / Z)


def test_check_theorem3_exercises():
    S = exercises.theorem3_symbols()
    t, h, w, hp, wp, V = (S[k] for k in ("tau", "h", "w", "hprime", "wprime", "V"))
    assert exercises.check_alpha_variance(t**2 * hp * wp / (2 * h**2 * w**2))
    assert not exercises.check_alpha_variance(t**2 * hp * wp / (h**2 * w**2))
    assert not exercises.check_alpha_variance(t * sp.sqrt(hp * wp / 2) / (h * w))   # a std
    assert exercises.check_cantelli(V / (V + 20))
    assert not exercises.check_cantelli(1 - 20 / V)


def test_checks_reject_non_expressions():
    with pytest.raises(TypeError):
        exercises.check_cantelli(object())
    with pytest.raises(ValueError, match="sympy"):
        exercises.check_cantelli("V/(")


def test_exercise_verdicts_are_plain_text():
    """A check's verdict is printed as plain text under a code cell: Markdown emphasis or code
    marks (``*mean*``, backticks) would show as raw asterisks."""
    import ast
    import re
    from pathlib import Path

    from camwalls_lib.book import exercises
    tree = ast.parse(Path(exercises.__file__).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, "id", None) == "verdict"]
    assert len(calls) >= 10
    for call in calls:
        for part in ast.walk(ast.Module(body=[ast.Expr(a) for a in call.args[1:]], type_ignores=[])):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                assert not re.search(r"\*\S|\S\*|`", part.value), (call.lineno, part.value)
