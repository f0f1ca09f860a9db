"""The book's algebra, done by sympy: exact expressions (small sizes, symbolic weights) so that a
reader can *see* the paper's identities hold. CAM: :func:`cam_identity`; GradCAM generalises CAM:
:func:`gradcam_alpha_gap_linear`; Proposition 2: :func:`symbolic_cnn`, :func:`sympy_alpha`,
:func:`prop2_alpha`, :func:`window_sums` (why max-pool ties matter); Theorem 3: :func:`lemma9`,
:func:`lemma10`, :func:`lemma11` (``sympy.stats``), :func:`appendix_d` (the proof's steps),
:func:`exact_expectation`. Checks of a student's answers: :mod:`camwalls_lib.book.exercises`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp
from sympy.stats import E, Normal, density, moment_generating_function, variance
from ..errors import BadValue

__all__ = ["cam_identity", "gradcam_alpha_gap_linear", "SymbolicCNN", "symbolic_cnn",
           "sympy_alpha", "prop2_alpha", "prop2_agrees", "window_sums", "lemma9", "lemma10",
           "lemma11", "appendix_d", "exact_expectation", "tau"]

tau = sp.Symbol("tau", positive=True)
"""The standard deviation of Theorem 3's initialisation."""


# ----------------------------------------------------------------------------- CAM

def _maps(V: int, h: int, w: int, name: str = "B") -> list[sp.Matrix]:
    """V symbolic nonnegative ``h x w`` maps ``B^(v)_{ij}``."""
    return [sp.Matrix(h, w, lambda i, j: sp.Symbol(f"{name}^{v + 1}_{i + 1}{j + 1}",
                                                   nonnegative=True)) for v in range(V)]


def cam_identity(V: int = 2, h: int = 2, w: int = 3) -> dict:
    """Zhou et al.'s identity on a GAP + linear head, symbolically.

    ``y_c = sum_v w_v GAP(B^(v)) + b`` and ``M_c = sum_v w_v B^(v)`` (the class activation map).
    Returns ``{"B", "weights", "bias", "score", "cam", "mean_of_cam", "difference"}`` with
    ``difference = y_c - (mean(M_c) + b)``, which sympy reduces to 0.
    """
    B = _maps(V, h, w)
    weights = sp.symbols(f"w_1:{V + 1}", real=True)
    b = sp.Symbol("b", real=True)
    gap = [sum(Bv) / (h * w) for Bv in B]
    score = sum(wv * g for wv, g in zip(weights, gap)) + b
    cam = sum((wv * Bv for wv, Bv in zip(weights, B)), sp.zeros(h, w))
    mean_of_cam = sum(cam) / (h * w)
    return {"B": B, "weights": weights, "bias": b, "score": score, "cam": cam,
            "mean_of_cam": mean_of_cam, "difference": sp.expand(score - mean_of_cam - b)}


def gradcam_alpha_gap_linear(V: int = 2, h: int = 2, w: int = 2, K: int = 3,
                             c: int = 0) -> dict:
    """GradCAM on a GAP + linear head ``y = W GAP(B) + b`` (K classes), symbolically.

    Returns ``{"gradient"}`` -- ``dy_c / dB^(v)``, a list of ``h x w`` matrices, each constant
    (``W[c, v] / hw`` everywhere) --, ``"alpha"`` (``GAP`` of it: ``W[c, v] / hw``),
    ``"alpha_minus_w_over_Z"`` (0), and ``"alpha_softmax"``: the coefficients obtained by
    differentiating the softmax probability ``p_c`` instead of the score, factored as
    ``p_c (W[c, v] - sum_j p_j W[j, v]) / hw`` -- not proportional to CAM's weights.
    """
    B = _maps(V, h, w)
    W = sp.Matrix(K, V, lambda i, j: sp.Symbol(f"w_{i + 1}{j + 1}", real=True))
    bias = sp.Matrix(K, 1, lambda i, _: sp.Symbol(f"b_{i + 1}", real=True))
    gap = sp.Matrix([sum(Bv) / (h * w) for Bv in B])
    y = W * gap + bias
    grads = [Bv.applyfunc(lambda s: sp.diff(y[c], s)) for Bv in B]
    alpha = [sum(g) / (h * w) for g in grads]
    p = [sp.exp(y[j]) / sum(sp.exp(y[i]) for i in range(K)) for j in range(K)]
    P = sp.symbols(f"p_1:{K + 1}", positive=True)
    alpha_soft = []
    for v, Bv in enumerate(B):
        d = sum(sp.diff(p[c], s) for s in Bv) / (h * w)
        claimed = P[c] * (W[c, v] - sum(P[j] * W[j, v] for j in range(K))) / (h * w)
        if sp.simplify(d - claimed.subs(dict(zip(P, p)))) != 0:
            raise AssertionError("the softmax chain rule did not reduce to the claimed form")
        alpha_soft.append(claimed)
    return {"B": B, "W": W, "gradient": grads, "alpha": alpha,
            "alpha_minus_w_over_Z": [sp.simplify(a - W[c, v] / (h * w))
                                     for v, a in enumerate(alpha)],
            "p": P, "alpha_softmax": alpha_soft}


# ----------------------------------------------------------------------------- Proposition 2

@dataclass
class SymbolicCNN:
    """The paper's [CNN] with one filter, in sympy.

    ``xi`` the ``H x W`` input; ``filt`` the ``k x k`` filter; ``A`` = Eq. (1) and
    ``B_of_input = Max(0, A)`` in terms of them. ``B`` holds free symbols ``b_ij`` standing for
    the rectified map (``f`` is a function of ``B``, Eq. 4); ``C`` = Eq. (2) in those symbols;
    ``W`` the dense weights ``[W1 (d1 x h'w'), ..., WL (1 x d_{L-1})]``; ``a`` the pre-activations
    ``a^(1..L-1)``; ``f`` the score ``y``.
    """

    xi: sp.Matrix
    filt: sp.Matrix
    A: sp.Matrix
    B_of_input: sp.Matrix
    B: sp.Matrix
    C: sp.Matrix
    W: list
    a: list
    f: sp.Expr
    k_pool: int

    @property
    def hw(self) -> int:
        return self.B.rows * self.B.cols


def symbolic_cnn(H: int = 5, k: int = 2, k_pool: int = 2, hidden: tuple[int, ...] = (),
                 symbolic_input: bool = True) -> SymbolicCNN:
    """Build [CNN] (V = 1) symbolically: ``xi`` (symbols ``x_ij`` or not), a ``k x k`` filter
    ``F_pq``, ``h = H - k + 1`` (``k'`` must divide it: 5x5 with k = 2, or 6x6 with k = 3,
    give the 4x4 map B), max-pool ``k'``, dense layers of widths ``hidden`` then 1 output,
    weights ``W^(l)_{ij}`` symbolic."""
    h = H - k + 1
    if h % k_pool:
        raise BadValue(f"k'={k_pool} must divide h = H - k + 1 = {h}: e.g. H=5, k=2 or H=6, k=3.")
    xi = sp.Matrix(H, H, lambda i, j: sp.Symbol(f"x_{i + 1}{j + 1}", real=True)) \
        if symbolic_input else sp.zeros(H, H)
    filt = sp.Matrix(k, k, lambda p, q: sp.Symbol(f"F_{p + 1}{q + 1}", real=True))
    A = sp.Matrix(h, h, lambda i, j: sum(xi[i + p, j + q] * filt[p, q]
                                         for p in range(k) for q in range(k)))
    B_of_input = A.applyfunc(lambda e: sp.Max(0, e))
    B = sp.Matrix(h, h, lambda i, j: sp.Symbol(f"b_{i + 1}{j + 1}", real=True))
    hp = h // k_pool
    C = sp.Matrix(hp, hp, lambda i, j: sp.Max(*[B[k_pool * i + p, k_pool * j + q]
                                                 for p in range(k_pool) for q in range(k_pool)]))
    widths = [hp * hp, *hidden, 1]
    W = [sp.Matrix(d_out, d_in,
                   lambda i, j, l=l: sp.Symbol(f"W^{l + 1}_{i + 1},{j + 1}", real=True))
         for l, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:]))]
    r = sp.Matrix(list(C))                           # C' = flatten(C), row-major
    a = []
    for l, Wl in enumerate(W):
        z = Wl * r
        if l < len(W) - 1:
            a.append(z)
            r = z.applyfunc(lambda e: sp.Max(0, e))
    return SymbolicCNN(xi=xi, filt=filt, A=A, B_of_input=B_of_input, B=B, C=C, W=W, a=a,
                       f=z[0], k_pool=k_pool)


def sympy_alpha(net: SymbolicCNN) -> sp.Expr:
    """GradCAM's alpha by sympy's own differentiation: ``(1/hw) sum_ij df/db_ij``."""
    return sum(sp.diff(net.f, b) for b in net.B) / net.hw


def prop2_alpha(net: SymbolicCNN) -> sp.Expr:
    """Proposition 2 written out: ``(1/hw) sum_{positions b} sum_{i_1..i_{L-1}}
    1{a^(1)_{i_1} > 0} ... 1{a^(L-1)_{i_{L-1}} > 0} W^(1)_{i_1, b} ... W^(L)_{1, i_{L-1}}``,
    the indicator written ``Heaviside(a)`` (sympy's derivative of ``Max(0, a)``)."""
    total = 0
    d = [Wl.rows for Wl in net.W[:-1]]
    for b in range(net.W[0].cols):
        for path in itertools.product(*[range(n) for n in d]):
            idx = [b, *path, 0]
            term = 1
            for l, Wl in enumerate(net.W):
                term *= Wl[idx[l + 1], idx[l]]
            for l, i in enumerate(path):
                term *= sp.Heaviside(net.a[l][i])
            total += term
    return total / net.hw


def prop2_agrees(net: SymbolicCNN, B_values) -> bool:
    """True iff sympy's alpha and Proposition 2's are the same expression (in the symbolic
    weights) once ``B`` takes the values ``B_values`` (an ``h x w`` nested list/Matrix)."""
    sub = dict(zip(list(net.B), list(sp.Matrix(B_values))))
    diff = sympy_alpha(net).subs(sub) - prop2_alpha(net).subs(sub)
    return sp.simplify(sp.expand(diff)) == 0


def window_sums(k_pool: int = 2) -> dict:
    """``sum_{(p,q) in window} d max(window) / d b_pq`` -- the proof's ``sum_k D_{j,k}`` --
    as sympy computes it: the symbolic expression, its value for every strict ordering of
    the window's entries (always 1, an exhaustive proof since it depends only on the
    ordering), and its value on ties (sympy's ``Heaviside(0) = 1/2`` convention), e.g. a
    window of ReLU zeros."""
    b = sp.symbols(f"b_1:{k_pool * k_pool + 1}", real=True)
    s = sum(sp.diff(sp.Max(*b), bi) for bi in b)
    orderings = {s.subs(dict(zip(b, perm))) for perm in itertools.permutations(range(len(b)))}
    n = len(b)
    ties = {"all equal (ReLU zeros)": s.subs({bi: 0 for bi in b}),
            "two tied maxima": s.subs(dict(zip(b, [3, 3] + list(range(n - 2)))))}
    return {"symbols": b, "expression": s, "strict_orderings": orderings, "ties": ties}


# ----------------------------------------------------------------------------- Theorem 3

def _Phi(z):
    return (1 + sp.erf(z / sp.sqrt(2))) / 2


def _phi(z):
    return sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)


def lemma9() -> dict:
    """Lemma 9: ``X ~ N(mu, tau^2)`` gives ``E[X^+] = mu Phi(mu/tau) + tau phi(-mu/tau)``.

    Returns ``{"expectation"}`` (sympy's integral ``int_0^oo x p(x) dx``), ``"paper"`` and
    ``"difference"`` (0), plus ``"at_mu_0"`` = ``tau / sqrt(2 pi)``, the case Theorem 3 uses.
    """
    mu = sp.Symbol("mu", real=True)
    x = sp.Symbol("x", real=True)
    X = Normal("X", mu, tau)
    expectation = sp.integrate(x * density(X)(x), (x, 0, sp.oo))
    paper = mu * _Phi(mu / tau) + tau * _phi(-mu / tau)
    expectation = sp.simplify(expectation)
    diff = sp.simplify((expectation - paper).rewrite(sp.erf))
    return {"mu": mu, "expectation": expectation, "paper": paper,
            "difference": diff, "at_mu_0": sp.simplify(expectation.subs(mu, 0))}


def lemma10(k: int = 2) -> dict:
    """Lemma 10: with ``F_pq`` i.i.d. N(0, tau^2), ``F * m = sum F_pq m_pq ~ N(0, tau^2 ||m||^2)``.

    sympy.stats gives the mean and variance, and the moment generating function -- the product
    of the independent factors' -- equals that of N(0, tau^2 ||m||^2), which determines the law.
    """
    m = sp.Matrix(k, k, lambda p, q: sp.Symbol(f"m_{p + 1}{q + 1}", real=True))
    Fs = [Normal(f"F_{p + 1}{q + 1}", 0, tau) for p in range(k) for q in range(k)]
    conv = sum(Fv * mv for Fv, mv in zip(Fs, m))
    t = sp.Symbol("t", real=True)
    norm2 = sum(mv**2 for mv in m)
    mgf = sp.Mul(*[moment_generating_function(Fv)(t * mv) for Fv, mv in zip(Fs, m)])
    target_mgf = moment_generating_function(Normal("G", 0, tau * sp.sqrt(norm2)))(t)
    return {"m": m, "conv": conv, "mean": sp.simplify(E(conv)),
            "variance": sp.factor(sp.simplify(variance(conv))), "mgf": sp.simplify(mgf),
            "mgf_difference": sp.simplify(sp.powsimp(mgf - target_mgf, force=True)),
            "norm2": norm2}


def lemma11() -> dict:
    """Lemma 11: ``X ~ N(0, tau^2)``: ``E[(X^+)^2] = tau^2/2`` and ``Var((X^+)^2) = 5 tau^4/4``
    (via ``E[(X^+)^4] = 3 tau^4 / 2``)."""
    x = sp.Symbol("x", real=True)
    p = density(Normal("X", 0, tau))(x)
    m2 = sp.integrate(x**2 * p, (x, 0, sp.oo))
    m4 = sp.integrate(x**4 * p, (x, 0, sp.oo))
    return {"second": sp.simplify(m2), "fourth": sp.simplify(m4),
            "variance": sp.simplify(m4 - m2**2)}


def appendix_d(hp: int = 2, wp: int = 2) -> dict:
    """The steps of Appendix D, redone by sympy.

    - ``alpha_variance``: ``Var(alpha_q)`` with ``alpha_q = (1/hw) sum_p W_p^(q)`` over the
      ``h'w'/2`` visible N(0, tau^2) weights of an explicit ``h' x w'`` map (sympy.stats'
      cost grows fast with the number of variables: keep it small), and ``alpha_variance_general``
      ``= tau^2 h'w' / (2 h^2 w^2)``;
    - ``EY``, ``VarY``: ``Y = sum_q (B_ij^(q))^2`` from Lemmas 10-11;
    - ``chebyshev``: ``Var(Y) / t^2`` at ``t = E[Y]/2`` (``20/V``);
      ``cantelli``: Cantelli's ``1 - Var/(Var + t^2)`` (``V/(V+20)``);
    - ``conditional``: ``E[relu(N(0, s^2))] = s phi(0)`` with Eq. (10)'s ``s``;
    - ``final``: the last display of Appendix D, ``eq5``: Eq. (5), and ``final_minus_eq5`` (0).
    """
    h, w, H_, W_, V, n = sp.symbols("h w hprime wprime V norm_m", positive=True)
    Ws = [Normal(f"W_{p}", 0, tau) for p in range(hp * wp // 2)]
    alpha = sum(Ws) / (h * w)
    alpha_var = sp.simplify(variance(alpha))
    general = tau**2 * H_ * W_ / (2 * h**2 * w**2)
    l11 = lemma11()
    s2 = (tau * n)**2                           # Var(F * m), Lemma 10
    EY = V * l11["second"].subs(tau, sp.sqrt(s2))
    VarY = V * l11["variance"].subs(tau, sp.sqrt(s2))
    t = EY / 2
    Y = sp.Symbol("Y", positive=True)
    s = sp.sqrt(Y * (tau / (h * w))**2 * H_ * W_ / 2)
    conditional = sp.simplify(s * _phi(0))
    final = sp.sqrt(V * H_ * W_) / (4 * sp.sqrt(sp.pi)) * tau**2 / (h * w) * (1 - 20 / V) * n
    eq5 = (V - 20) / sp.sqrt(V) * sp.sqrt(H_ * W_ / (16 * sp.pi)) * tau**2 / (h * w) * n
    chain = tau / (2 * h * w * sp.sqrt(sp.pi)) * sp.sqrt(H_ * W_) * sp.sqrt(EY / 2) * (1 - 20 / V)
    return {"symbols": {"h": h, "w": w, "hprime": H_, "wprime": W_, "V": V, "norm_m": n},
            "alpha_variance": alpha_var,
            "alpha_variance_matches": sp.simplify(alpha_var - general.subs({H_: hp, W_: wp})) == 0,
            "alpha_variance_general": general, "EY": sp.simplify(EY), "VarY": sp.simplify(VarY),
            "chebyshev": sp.simplify(VarY / t**2),
            "cantelli": sp.simplify(1 - VarY / (VarY + t**2)),
            "conditional": conditional, "chain": sp.simplify(chain), "final": final, "eq5": eq5,
            "final_minus_eq5": sp.simplify(final - eq5),
            "chain_minus_final": sp.simplify(chain - final)}


def exact_expectation() -> dict:
    """The exact ``E[[GC]_ij]`` that Theorem 3 bounds, symbolically:
    ``tau^2 ||m|| sqrt(h'w') g(V) / (2 hw sqrt(pi))`` with
    ``g(V) = sum_K C(V,K) 2^-V E[Chi_K]`` and ``E[Chi_K] = sqrt(2) Gamma((K+1)/2)/Gamma(K/2)``
    (sympy.stats' Chi distribution)."""
    from sympy.stats import Chi
    K = sp.Symbol("K", positive=True, integer=True)
    V = sp.Symbol("V", positive=True, integer=True)
    chi_mean = sp.simplify(E(Chi("chi", K)))
    g = sp.Sum(sp.binomial(V, K) / 2**V * chi_mean, (K, 1, V))
    h, w, H_, W_, n = sp.symbols("h w hprime wprime norm_m", positive=True)
    return {"K": K, "V": V, "chi_mean": chi_mean, "g": g,
            "expectation": tau**2 * n * sp.sqrt(H_ * W_) * g / (2 * h * w * sp.sqrt(sp.pi))}
