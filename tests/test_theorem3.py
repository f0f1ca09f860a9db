"""Proposition 2 (closed-form alpha) against autograd, and Theorem 3 against Monte Carlo."""

import itertools
import math

import pytest
import torch

from camwalls_lib import cams
from camwalls_lib.networks.models import GAPNet, ToyCNN
from camwalls_lib.theory.prop2 import (closed_form_alpha, closed_form_gradient, path_sums,
                                       pooling_indicators)
from camwalls_lib.theory.theorem3 import (bound_factors, bound_holds, expected_gradcam,
                                          gradcam_batch, monte_carlo_gradcam, patch_norms,
                                          sample_walled_cnns, sqrt_mixture_mean, theorem3_bound)
from camwalls_lib.walls import theorem3_wall, walled_positions
from camwalls_lib.walls import Wall


def digits_like(n=4, size=28, seed=0):
    """Images with blank background (ReLU zeros, hence tied pooling windows) and strokes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    x[:, :, : size // 3] = 0
    x[:, :, :, -size // 4:] = 0
    return x


# ----------------------------------------------------------------------------- Proposition 2

@pytest.mark.parametrize("hidden", [(), (16,), (16, 8)])
@pytest.mark.parametrize("V", [2, 8])
def test_closed_form_alpha_equals_autograd(hidden, V):
    torch.manual_seed(V + len(hidden))
    model = ToyCNN(V=V, hidden=hidden, wall=Wall.bottom(6), num_classes=10)
    x = digits_like()
    cap = cams.capture(model, x)
    alpha = closed_form_alpha(model, x)
    assert alpha.shape == (4, V)
    assert (alpha - cap.dB.mean((2, 3))).abs().max() <= 1e-5
    assert torch.allclose(closed_form_gradient(model, x), cap.dB, atol=1e-6)


def test_closed_form_alpha_for_any_target_and_gaussian_init():
    torch.manual_seed(1)
    model = ToyCNN(V=4, hidden=(8,), num_classes=3, tau=1.0).double()
    x = digits_like(3).double()
    for target in range(3):
        ref = cams.capture(model, x, target=target).dB.mean((2, 3))
        assert (closed_form_alpha(model, x, target=target) - ref).abs().max() < 1e-12


def test_path_sums_are_the_sum_over_active_paths():
    """rho_b from the matrix product equals the literal sum over every active path."""
    torch.manual_seed(0)
    model = ToyCNN(image_size=8, V=2, k=3, k_pool=2, hidden=(3, 2), num_classes=2).double()
    x = digits_like(1, size=8, seed=3).double() + 0.1
    rho = path_sums(model, x, target=1)[0].flatten()
    W1, W2, W3 = [m.weight for m in model.dense_layers]
    r0 = model.features(x).flatten()
    a1 = W1 @ r0
    a2 = W2 @ a1.relu()
    expected = torch.zeros_like(rho)
    for b in range(len(r0)):
        for i1, i2 in itertools.product(range(3), range(2)):
            if a1[i1] > 0 and a2[i2] > 0:
                expected[b] += W1[i1, b] * W2[i2, i1] * W3[1, i2]
    assert torch.allclose(rho, expected, atol=1e-12)


def test_literal_tie_indicator_double_counts_relu_zeros():
    model = ToyCNN(V=3, num_classes=1)
    blank = torch.zeros(1, 1, 28, 28)
    B = model.features[:2](blank)
    assert pooling_indicators(B, 2, "autograd").sum() == B.numel() / 4     # one per window
    assert pooling_indicators(B, 2, "all").sum() == B.numel()              # every tie counted
    x = digits_like(2)
    gap = (closed_form_alpha(model, x, ties="all") - closed_form_alpha(model, x)).abs().max()
    assert gap > 1e-4


def test_literal_indicator_is_fine_without_ties():
    model = ToyCNN(V=3, num_classes=1)
    with torch.no_grad():
        model.features[0].weight.abs_()                  # positive filters on a positive
    x = torch.rand(2, 1, 28, 28) + 0.1                   # image: no ReLU zeros, no ties
    assert torch.equal(closed_form_alpha(model, x, ties="all"), closed_form_alpha(model, x))


def test_closed_form_rejects_other_models():
    with pytest.raises(TypeError, match="ToyCNN"):
        closed_form_alpha(GAPNet(), torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match="extra_convs"):
        closed_form_alpha(ToyCNN(extra_convs=(4,)), torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match="ties"):
        pooling_indicators(torch.rand(1, 1, 4, 4), 2, ties="first")


# ----------------------------------------------------------------------------- Theorem 3

def test_bound_formula_and_appendix_d_display_agree():
    img = torch.rand(28, 28)
    V, k, kp, tau = 64, 5, 2, 0.7
    bound = theorem3_bound(img, V, k, kp, tau)
    m = img[3:3 + k, 7:7 + k].double()
    eq5 = (V - 20) / math.sqrt(V) * math.sqrt(144 / (16 * math.pi)) * tau**2 / 576 * m.norm()
    appendix = (math.sqrt(V * 144) / (4 * math.sqrt(math.pi)) * tau**2 / 576 * (1 - 20 / V)
                * m.norm())
    assert math.isclose(bound[3, 7], eq5, rel_tol=1e-12)
    assert math.isclose(eq5, appendix, rel_tol=1e-12)
    assert (theorem3_bound(img, 10, k, kp, tau) <= 0).all()               # V <= 20: empty
    assert (theorem3_bound(img, 10, k, kp, tau, inequality="cantelli") > 0).all()


def test_patch_norms_zero_on_blank_patches():
    img = torch.zeros(12, 12)
    img[0, 0] = 3.0
    norms = patch_norms(img, 3)
    assert norms[0, 0] == 3.0 and norms[5, 5] == 0 and norms.shape == (10, 10)


def test_sqrt_mixture_mean_small_cases_and_sampling():
    assert math.isclose(sqrt_mixture_mean(1), 1 / math.sqrt(2 * math.pi), rel_tol=1e-12)
    g2 = 0.5 * math.sqrt(2 / math.pi) + 0.25 * math.sqrt(math.pi / 2)
    assert math.isclose(sqrt_mixture_mean(2), g2, rel_tol=1e-12)
    z = torch.randn(200_000, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sampled = z.clamp(min=0).pow(2).sum(1).sqrt().mean()
    assert abs(sampled - sqrt_mixture_mean(40)) < 5e-3


def test_bound_factors_multiply_to_exact_over_bound():
    img = torch.rand(14, 14)
    for V in (24, 64, 512):
        f = bound_factors(V)
        ratio = expected_gradcam(img, V, 3, 2, 1.0) / theorem3_bound(img, V, 3, 2, 1.0)
        assert torch.allclose(ratio, torch.full_like(ratio, f["ratio"]), rtol=1e-10)
        for name in ("dropped_event", "sqrt_threshold", "chebyshev"):
            assert f[name] >= 1
        assert 1 - 20 / V < f["p_event"] <= 1 and f["jensen"] <= 1
    assert abs(bound_factors(100_000)["ratio"] - math.sqrt(2)) < 1e-3     # the limit
    with pytest.raises(ValueError, match="20"):
        bound_factors(20)


@pytest.mark.parametrize("hidden", [(), (5,)])
def test_gradcam_batch_is_gradcam_of_the_walled_toycnn(hidden):
    """The vectorised draws are exactly cams.compute('gradcam') on ToyCNNs with those weights."""
    img = digits_like(1, size=14)[0, 0]
    gen = torch.Generator().manual_seed(0)
    filters, weights = sample_walled_cnns(3, 4, 3, 6, 6, 1.0, "half", hidden, gen,
                                          dtype=torch.float64)
    gc, alpha = gradcam_batch(img.double(), filters, weights, 2)
    for t in range(3):
        model = ToyCNN(image_size=14, V=4, k=3, k_pool=2, hidden=hidden, num_classes=1,
                       wall=theorem3_wall(6)).double()
        with torch.no_grad():
            model.features[0].weight.copy_(filters[t][:, None])
            for layer, W in zip(model.dense_layers, weights):
                layer.weight.copy_(W[t])
        x = img.double()[None, None]
        assert torch.allclose(gc[t], cams.compute("gradcam", model, x, target=0)[0], atol=1e-12)
        assert torch.allclose(alpha[t], closed_form_alpha(model, x, target=0)[0], atol=1e-12)


def test_sampled_walled_weights_are_exactly_zero():
    _, weights = sample_walled_cnns(5, 3, 3, 6, 6, 2.0)
    W = weights[0].view(5, 1, 3, 6, 6)
    assert (W[..., 3:, :] == 0).all() and (W[..., :3, :] != 0).all()
    assert walled_positions(12, 12, 2).sum() == 72


def test_monte_carlo_matches_the_exact_expectation():
    img = digits_like(1, size=14, seed=1)[0, 0]
    mean, half = monte_carlo_gradcam(img, V=32, k=3, k_pool=2, tau=1.0, n_draws=3000,
                                     seed=0, level=0.9999)
    exact = expected_gradcam(img, 32, 3, 2, 1.0).float()
    assert ((mean - exact).abs() <= half + 1e-7).all()
    assert (half[exact > 0] < 0.15 * exact[exact > 0]).all()          # the estimate is informative


def test_monte_carlo_mean_respects_the_theorem3_bound():
    """FAILS if Eq. (5) is violated: the MC mean (+ its 95% half-width) must reach the bound
    everywhere, dead zone included -- and here clear it significantly."""
    img = digits_like(1, size=14, seed=2)[0, 0]
    V, k, kp, tau = 64, 3, 2, 1.5
    mean, half = monte_carlo_gradcam(img, V=V, k=k, k_pool=kp, tau=tau, n_draws=2000, seed=1)
    bound = theorem3_bound(img, V, k, kp, tau).float()
    assert bound_holds(mean, half, bound)
    dead = walled_positions(12, 12, kp)
    inside = dead & (bound > 0)
    assert inside.any() and (mean[inside] - half[inside] > bound[inside]).all()
    assert not bound_holds(mean, half, 3 * bound)      # the check can fail: a 3x bound is false


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="grayscale"):
        monte_carlo_gradcam(torch.rand(3, 28, 28), n_draws=10)
    with pytest.raises(ValueError, match="divide"):
        theorem3_bound(torch.rand(27, 27), 64, 5, 2, 1.0)
    with pytest.raises(TypeError, match="Wall"):
        expected_gradcam(torch.rand(28, 28), 64, 5, 2, 1.0, wall="bottom")
    with pytest.raises(ValueError, match="even"):
        theorem3_wall(5)
    with pytest.raises(ValueError, match="n_draws"):
        monte_carlo_gradcam(torch.rand(28, 28), n_draws=1)
