"""Theorem 3 of the paper, numerically (Proposition 2 is in :mod:`.prop2`).

Theorem 3 (the expected GradCAM map of the walled [CNN] at initialisation is bounded below,
dead zone included) is checked here against what the code really computes:

- :func:`theorem3_bound` is the right-hand side of Eq. (5); :func:`expected_gradcam` is the
  *exact* expectation it bounds (a finite sum, see :func:`sqrt_mixture_mean`), and
  :func:`bound_factors` splits the gap between the two into the three steps of the proof that
  lose something.
- :func:`monte_carlo_gradcam` estimates ``E[[GC]_ij]`` by drawing thousands of walled [CNN]s
  at once (:func:`gradcam_batch` runs them as one batched network, with autograd through the
  max-pool, exactly like :class:`~camwalls_lib.networks.models.ToyCNN` + ``cams.compute('gradcam')``).

Conventions: images are ``[H, W]``; the conv map ``B`` is ``h x w`` with ``h = H - k + 1``;
the pooled map ``C`` is ``h' x w'`` with ``h' = h / k'``; walls live on ``C``
(:class:`~camwalls_lib.walls.Wall`), Theorem 3's wall is
:func:`camwalls_lib.walls.theorem3_wall`, ``Wall.bottom(h' // 2)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import validate
from ..errors import BadType, BadValue
from ..helpers import choose_device
from ..walls import visible_positions

__all__ = ["patch_norms", "theorem3_bound",
           "sqrt_mixture_mean", "expected_gradcam", "bound_factors", "gradcam_batch",
           "sample_walled_cnns", "monte_carlo_gradcam", "bound_holds"]


# ----------------------------------------------------------------------------- Theorem 3

def _image(image: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(image):
        raise BadType(f"image must be a torch.Tensor [H, W], got {type(image).__name__}.")
    while image.dim() > 2 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 2:
        raise BadValue(f"Theorem 3 is about one grayscale image [H, W] (or [1, H, W], "
                       f"[1, 1, H, W]); got shape {tuple(image.shape)}.")
    validate.finite(image[None], "image")
    return image.double()


def _sizes(image: torch.Tensor, k: int, k_pool: int) -> tuple[int, int, int, int]:
    k, k_pool = validate.positive_int(k, "k"), validate.positive_int(k_pool, "k_pool")
    H, W = image.shape
    h, w = H - k + 1, W - k + 1
    if h < k_pool or h % k_pool or w % k_pool:
        raise BadValue(f"k'={k_pool} must divide the conv map {h}x{w} (= {H}x{W} minus "
                       f"k-1 = {k - 1}); pick another k or k'.")
    return h, w, h // k_pool, w // k_pool


def patch_norms(image: torch.Tensor, k: int) -> torch.Tensor:
    """``||m||_2`` for every position: ``m = xi[i:i+k, j:j+k]`` (0-based), ``[h, w]``."""
    x = _image(image)
    sq = F.conv2d((x * x)[None, None], torch.ones(1, 1, k, k, dtype=x.dtype))[0, 0]
    return sq.clamp(min=0).sqrt()


def theorem3_bound(image: torch.Tensor, V: int, k: int, k_pool: int, tau: float,
                   inequality: str = "chebyshev") -> torch.Tensor:
    """Right-hand side of Eq. (5) at every position, ``[h, w]``:

        (V - 20) / sqrt(V) * sqrt(h' w' / (16 pi)) * tau^2 / (h w) * ||m||_2.

    It is a lower bound on ``E[[GC]_ij]`` for the walled [CNN] (L = 1, one output, filters and
    visible weights i.i.d. N(0, tau^2), Theorem 3's wall); for ``V <= 20`` it is <= 0, true
    but empty. ``inequality="cantelli"`` replaces Chebyshev's ``1 - 20/V`` by Cantelli's
    one-sided ``V / (V + 20)``, which gives a positive bound for every ``V``.
    """
    x = _image(image)
    h, w, hp, wp = _sizes(x, k, k_pool)
    _check_width_and_scale(V, tau)
    if inequality == "chebyshev":
        tail = 1 - 20 / V
    elif inequality == "cantelli":
        tail = V / (V + 20)
    else:
        raise BadValue(f"inequality must be 'chebyshev' or 'cantelli', got {inequality!r}.")
    return (math.sqrt(V) * tail * math.sqrt(hp * wp / (16 * math.pi)) * tau**2 / (h * w)
            * patch_norms(x, k))


def _check_width_and_scale(V, tau) -> None:
    """Theorem 3's ``V`` (filters) is an int >= 1 and ``tau`` (weight scale) a number > 0."""
    validate.positive_int(V, "V")
    validate.positive_number(tau, "tau")


def _binomial_half(V: int) -> torch.Tensor:
    """P(K = 0..V) for K ~ Binomial(V, 1/2), float64."""
    K = torch.arange(V + 1, dtype=torch.float64)
    logc = torch.lgamma(torch.tensor(V + 1.0, dtype=torch.float64)) - torch.lgamma(K + 1) \
        - torch.lgamma(V - K + 1)
    return torch.exp(logc - V * math.log(2))


def _sqrt_chi2_means(V: int) -> torch.Tensor:
    """E[sqrt(chi^2_K)] = sqrt(2) Gamma((K+1)/2) / Gamma(K/2) for K = 0..V (0 for K = 0)."""
    K = torch.arange(1, V + 1, dtype=torch.float64)
    c = math.sqrt(2) * torch.exp(torch.lgamma((K + 1) / 2) - torch.lgamma(K / 2))
    return torch.cat([torch.zeros(1, dtype=torch.float64), c])


def sqrt_mixture_mean(V: int) -> float:
    """``g(V) = E[sqrt(sum_{q<=V} (Z_q^+)^2)]`` for i.i.d. standard normal ``Z_q``, exactly.

    The number K of positive ``Z_q`` is Binomial(V, 1/2) and, given K, the sum is chi^2_K, so
    ``g(V) = sum_K C(V, K) 2^-V sqrt(2) Gamma((K+1)/2) / Gamma(K/2)``.
    """
    return float((_binomial_half(V) * _sqrt_chi2_means(V)).sum())


def expected_gradcam(image: torch.Tensor, V: int, k: int, k_pool: int, tau: float,
                     wall="half") -> torch.Tensor:
    """The exact ``E[[GC]_ij]`` ``[h, w]`` that Theorem 3 bounds (L = 1, one output).

    Given the filters, ``alpha_q = (1/hw) sum_p W_p^(q)`` (Proposition 2) is N(0, tau^2 n /
    (hw)^2) with ``n`` visible weights per channel, independent of ``B``, so
    ``E[[GC]_ij | F] = tau sqrt(n Y) / (hw sqrt(2 pi))`` with ``Y = sum_q (B_ij^(q))^2``, and
    ``E[sqrt(Y)] = tau ||m||_2 g(V)`` (:func:`sqrt_mixture_mean`). Hence

        E[[GC]_ij] = tau^2 ||m||_2 sqrt(n) g(V) / (hw sqrt(2 pi)).

    ``wall``: Theorem 3's ``"half"`` (``n = h'w'/2``), any :class:`Wall`, or None.
    """
    x = _image(image)
    h, w, hp, wp = _sizes(x, k, k_pool)
    _check_width_and_scale(V, tau)
    n = int(visible_positions(wall, hp, wp).sum())
    return (tau**2 * math.sqrt(n) * sqrt_mixture_mean(V) / (h * w * math.sqrt(2 * math.pi))
            * patch_norms(x, k))


def bound_factors(V: int) -> dict[str, float]:
    """Where the proof of Theorem 3 loses, as exact factors (all >= 1) whose product is
    ``exact / bound``, the same at every position with ``||m|| > 0``.

    Write ``S = Y / (tau ||m||)^2`` (so ``E S = V/2``) and ``s = E S / 2``. The proof chains

        E sqrt(S) >= E[sqrt(S); S >= s]              (drops the event S < s)
                  >= sqrt(s) P(S >= s)               (sqrt(S) >= sqrt(s) on the event)
                  >= sqrt(s) (1 - 20/V)              (Chebyshev)

    Returned: ``dropped_event``, ``sqrt_threshold``, ``chebyshev`` (the three ratios),
    ``ratio`` (their product = exact E / bound), ``p_event`` (the exact P(S >= s)),
    ``jensen`` (E sqrt(S) / sqrt(E S) <= 1: why even sqrt(E Y) would be optimistic).
    """
    if V <= 20:
        raise BadValue(f"The bound is <= 0 for V = {V} <= 20: there is no ratio to split.")
    p, c = _binomial_half(V), _sqrt_chi2_means(V)
    K = torch.arange(V + 1, dtype=torch.float64)
    s = torch.tensor(V / 4, dtype=torch.float64)
    # P(chi^2_K >= s) = Q(K/2, s/2); E[sqrt(chi^2_K); chi^2_K >= s] = c_K Q((K+1)/2, s/2).
    tail = torch.where(K > 0, torch.special.gammaincc(K.clamp(min=1) / 2, s / 2), 0.0)
    tail_sqrt = c * torch.special.gammaincc((K + 1) / 2, s / 2)
    e_sqrt = float((p * c).sum())
    e_event = float((p * tail_sqrt).sum())
    p_event = float((p * tail).sum())
    root_s = math.sqrt(V / 4)
    out = {
        "dropped_event": e_sqrt / e_event,
        "sqrt_threshold": e_event / (root_s * p_event),
        "chebyshev": p_event / (1 - 20 / V),
        "p_event": p_event,
        "jensen": e_sqrt / math.sqrt(V / 2),
    }
    out["ratio"] = out["dropped_event"] * out["sqrt_threshold"] * out["chebyshev"]
    return out


# ----------------------------------------------------------------------------- Monte Carlo

def gradcam_batch(image: torch.Tensor, filters: torch.Tensor, weights: list[torch.Tensor],
                  k_pool: int) -> tuple[torch.Tensor, torch.Tensor]:
    """GradCAM of ``n`` [CNN]s on one image, as one batched network.

    image : ``[H, W]``.
    filters : ``[n, V, k, k]``, network t's conv filters.
    weights : ``[W1 [n, d_1, V*h'*w'], W2 [n, d_2, d_1], ..., WL [n, 1, d_{L-1}]]``, walled
        entries already 0; ReLU between dense layers, none after the last (Eq. 3).

    Returns ``(GC [n, h, w], alpha [n, V])``: ``alpha`` is GAP of autograd's ``nabla_B y``
    through the real max-pool, exactly what ``cams.compute('gradcam', ToyCNN)`` does.
    """
    n, V, k, _ = filters.shape
    x = image.to(device=filters.device, dtype=filters.dtype)
    A = F.conv2d(x[None, None], filters.reshape(n * V, 1, k, k))
    B = A.view(n, V, *A.shape[-2:]).relu().detach().requires_grad_(True)
    with torch.enable_grad():
        r = F.max_pool2d(B, k_pool).flatten(1)
        for i, Wl in enumerate(weights):
            r = torch.bmm(Wl, (r.relu() if i else r)[:, :, None])[:, :, 0]
        (dB,) = torch.autograd.grad(r[:, 0].sum(), B)
    alpha = dB.mean((2, 3))
    return (alpha[:, :, None, None] * B.detach()).sum(1).clamp(min=0), alpha


def sample_walled_cnns(n: int, V: int, k: int, hp: int, wp: int, tau: float, wall="half",
                       hidden: tuple[int, ...] = (), generator: torch.Generator | None = None,
                       dtype=torch.float32) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``n`` draws of Theorem 3's initialisation: filters and every dense weight i.i.d.
    N(0, tau^2), weights reading the walled part of ``C`` exactly 0. Returns
    ``(filters [n, V, k, k], weights)`` in :func:`gradcam_batch`'s layout."""
    visible = visible_positions(wall, hp, wp).to(dtype)
    filters = tau * torch.randn(n, V, k, k, generator=generator, dtype=dtype)
    widths = [*hidden, 1]
    W1 = tau * torch.randn(n, widths[0], V, hp, wp, generator=generator, dtype=dtype) * visible
    weights = [W1.flatten(2)]
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        weights.append(tau * torch.randn(n, d_out, d_in, generator=generator, dtype=dtype))
    return filters, weights


@torch.no_grad()
def monte_carlo_gradcam(image: torch.Tensor, V: int = 64, k: int = 5, k_pool: int = 2,
                        tau: float = 1.0, n_draws: int = 4000, wall="half", seed: int = 0,
                        hidden: tuple[int, ...] = (), level: float = 0.95,
                        chunk: int | None = None,
                        device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo estimate of ``E[[GC]_ij]`` over Theorem 3's random initialisation.

    Draws ``n_draws`` walled [CNN]s (:func:`sample_walled_cnns`; ``hidden=()`` is Theorem 3's
    L = 1, ``hidden=(d,)`` is L = 2 ...), runs GradCAM on all of them in batches of ``chunk``
    (:func:`gradcam_batch`), and returns ``(mean [h, w], half_width [h, w])``: the sample mean
    and the half-width of its normal-approximation confidence interval at ``level`` (0.95:
    1.96 standard errors). Deterministic given ``seed``: the weights are drawn on the CPU, then
    the networks run on ``device`` (None: "cuda" if available, else "cpu").
    """
    x = _image(image).float()
    h, w, hp, wp = _sizes(x, k, k_pool)
    _check_width_and_scale(V, tau)
    validate.positive_int(n_draws, "n_draws (at least 2 for a confidence interval)", minimum=2)
    if chunk is not None:
        validate.positive_int(chunk, "chunk")
    if not 0 < level < 1:
        raise BadValue(f"level must be a probability in (0, 1), e.g. 0.95; got {level!r}.")
    if chunk is None:   # ~120 MB of float32 activations per batch
        per_draw = V * h * w * 3 + (hidden[0] if hidden else 1) * V * hp * wp
        chunk = max(1, min(n_draws, 30_000_000 // per_draw))
    device = choose_device() if device is None else device
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(h, w, dtype=torch.float64)
    total_sq = torch.zeros(h, w, dtype=torch.float64)
    done = 0
    while done < n_draws:
        n = min(chunk, n_draws - done)
        filters, weights = sample_walled_cnns(n, V, k, hp, wp, tau, wall, hidden, gen)
        gc, _ = gradcam_batch(x, filters.to(device), [W.to(device) for W in weights], k_pool)
        gc = gc.double().cpu()
        total += gc.sum(0)
        total_sq += (gc * gc).sum(0)
        done += n
    mean = total / n_draws
    var = (total_sq - n_draws * mean * mean).clamp(min=0) / (n_draws - 1)
    z = math.sqrt(2) * float(torch.special.erfinv(torch.tensor(level, dtype=torch.float64)))
    return mean, z * (var / n_draws).sqrt()


def bound_holds(mean: torch.Tensor, half_width: torch.Tensor, bound: torch.Tensor) -> bool:
    """True iff no position *significantly* violates the bound: ``mean + half_width >= bound``
    everywhere (a Monte Carlo mean may dip below a tight bound by chance, not by more than its
    confidence half-width)."""
    return bool((mean + half_width >= bound).all())
