"""mu (Eq. 7), insertion/deletion and confidence change, on cases with known answers."""

import math

import pytest
import torch

from camwalls_lib.metrics import confidence_change, insertion_deletion, mu

ZONE = torch.zeros(8, 8, dtype=torch.bool)
ZONE[6:] = True                                  # the lowest 2 rows


def test_mu_of_maps_inside_outside_and_uniform():
    inside, outside, uniform = torch.zeros(8, 8), torch.zeros(8, 8), torch.ones(8, 8)
    inside[7, 3], outside[0, 0] = 1.0, 2.0
    values = mu(torch.stack([inside, outside, uniform]), ZONE)
    torch.testing.assert_close(values, torch.tensor([1.0, 0.0, math.sqrt(16 / 64)]))


def test_mu_is_scale_invariant_and_zero_for_an_empty_map():
    s = torch.rand(3, 8, 8)
    torch.testing.assert_close(mu(s, ZONE), mu(7.5 * s, ZONE))
    assert mu(torch.zeros(8, 8), ZONE) == 0


def test_mu_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="upsample"):
        mu(torch.rand(2, 4, 4), ZONE)
    with pytest.raises(ValueError, match="bool"):
        mu(torch.rand(2, 8, 8), ZONE.float())


class _OnePixel(torch.nn.Module):
    """Class 0's logit is 10 x pixel (0, 0); class 1's is constant."""

    def forward(self, x):
        return torch.stack([10 * x[:, 0, 0, 0], torch.zeros(len(x))], 1)


def test_insertion_and_deletion_reward_the_right_pixel():
    model, x = _OnePixel(), torch.zeros(1, 1, 8, 8)
    x[0, 0, 0, 0] = 1.0
    right, wrong = torch.zeros(1, 8, 8), torch.rand(1, 8, 8) + 1
    right[0, 0, 0] = 1.0
    wrong[0, 0, 0] = 0.0
    ins_right, del_right = insertion_deletion(model, x, right, target=0, steps=64, baseline="zero")
    ins_wrong, del_wrong = insertion_deletion(model, x, wrong, target=0, steps=64, baseline="zero")
    assert ins_right > ins_wrong and del_right < del_wrong
    high, low = torch.sigmoid(torch.tensor(10.0)), torch.tensor(0.5)
    torch.testing.assert_close(ins_right, (high * 63 / 64 + (low + high) / 2 / 64).reshape(1))


def test_confidence_change():
    model, x = _OnePixel(), torch.ones(2, 1, 8, 8)
    keep, drop = torch.ones(2, 8, 8), torch.zeros(2, 8, 8)
    assert confidence_change(model, x, keep, target=0)["average_drop"] == 0
    result = confidence_change(model, x, drop, target=0)
    expected = (1 - 0.5 / torch.sigmoid(torch.tensor(10.0))) * 100
    assert abs(result["average_drop"] - float(expected)) < 1e-4 and result["increase"] == 0


def test_baseline_mu_is_mu_of_a_constant_map():
    zone = torch.zeros(28, 28, dtype=torch.bool)
    zone[16:] = True
    from camwalls_lib.metrics import baseline_mu
    assert math.isclose(baseline_mu(zone), float(mu(torch.ones(28, 28), zone)), rel_tol=1e-6)
    assert math.isclose(baseline_mu(zone), math.sqrt(12 / 28), rel_tol=1e-6)


def test_mass_share_of_constant_map_is_area_and_refuses_bad_input():
    from camwalls_lib.metrics import mass_share
    zone = torch.zeros(10, 10, dtype=torch.bool)
    zone[7:] = True
    assert math.isclose(float(mass_share(torch.ones(10, 10), zone)), 0.3, rel_tol=1e-6)
    assert float(mass_share(torch.zeros(2, 10, 10), zone).sum()) == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        mass_share(-torch.ones(10, 10), zone)
    with pytest.raises(ValueError, match="upsample"):
        mass_share(torch.ones(5, 5), zone)
    with pytest.raises(ValueError, match="bool"):
        mass_share(torch.ones(10, 10), zone.float())


def test_paired_difference_is_the_mean_and_standard_error_of_the_per_image_differences():
    from camwalls_lib.metrics import paired_difference
    a = torch.tensor([0.5, 0.7, 0.9, 0.6])
    b = torch.tensor([0.6, 0.9, 1.0, 0.8])
    d = (a - b).double()
    got = paired_difference(a, b)
    assert got.n == 4
    assert got.mean == pytest.approx(float(d.mean()))
    assert got.se == pytest.approx(float(d.std()) / 2)
    assert got.standard_errors == pytest.approx(abs(got.mean) / got.se)
    # pairing removes what the images share: far smaller than the unpaired standard error
    unpaired = math.sqrt(float(a.double().var() + b.double().var()) / 4)
    assert got.se < unpaired / 4
    # the same nonzero difference on every image: no spread at all
    same = paired_difference(b, b - 0.25)
    assert same.se == pytest.approx(0, abs=1e-12) or same.standard_errors > 1e6
    assert paired_difference(a, a).standard_errors == 0.0


def test_paired_difference_refuses_bad_input_by_name():
    from camwalls_lib.errors import BadType, BadValue
    from camwalls_lib.metrics import paired_difference
    ok = torch.rand(4)
    with pytest.raises(BadType, match=r"\ba must be a torch.Tensor"):
        paired_difference([0.1, 0.2], ok)
    with pytest.raises(BadValue, match=r"\bb must be one score per image"):
        paired_difference(ok, torch.rand(2, 2))
    with pytest.raises(BadValue, match="same images"):
        paired_difference(ok, torch.rand(5))
    with pytest.raises(BadValue, match="at least 2"):
        paired_difference(ok[:1], ok[:1])
    with pytest.raises(BadValue, match=r"\bb holds NaN"):
        paired_difference(ok, torch.tensor([0.1, float("nan"), 0.2, 0.3]))
    with pytest.raises(BadValue, match="real scores"):
        paired_difference(ok > 0.5, ok)
