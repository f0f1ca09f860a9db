"""A wall test no explainer can fool (issue 21): tolerances, explainers that edit what they
are given, blank and huge maps, a zone that is not the model's."""

import pytest
import torch

from camwalls_lib import errors
from camwalls_lib.metrics.walltest import (agreement, as_maps, assert_wall_holds,
                                           camwalls_explainer, scoreboard, wall_test)
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.walls import Wall, dead_zone

torch.manual_seed(0)
MODEL = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
               num_classes=4).eval()
X = torch.rand(3, 1, 16, 16)
ZONE = dead_zone(MODEL, (1, 16, 16))
GRADCAM, HIRES = camwalls_explainer("gradcam"), camwalls_explainer("hirescam")


@pytest.mark.parametrize("tolerance", [1, 50, -0.1, float("nan"), float("inf")])
def test_a_tolerance_outside_0_1_is_refused(tolerance):
    for test in (wall_test, assert_wall_holds):
        with pytest.raises(ValueError, match="tolerance"):
            test(GRADCAM, MODEL, X, tolerance=tolerance)
    with pytest.raises(ValueError, match="tolerance"):
        scoreboard({"g": GRADCAM}, MODEL, X, tolerance=tolerance)


@pytest.mark.parametrize("tolerance", ["0.1", None, True])
def test_a_tolerance_that_is_not_a_number_is_refused(tolerance):
    with pytest.raises(TypeError, match="tolerance"):
        wall_test(GRADCAM, MODEL, X, tolerance=tolerance)


def _edits_inputs(model, x, target):
    x.zero_()
    target.fill_(0)
    return HIRES(model, torch.rand_like(x), target)


def test_an_explainer_editing_its_inputs_changes_nobody_elses():
    x, seen = X.clone(), []

    def spy(model, x_, target):
        seen.append((x_.clone(), target.clone()))
        return HIRES(model, x_, target)
    target = torch.tensor([1, 2, 3])
    scoreboard({"vandal": _edits_inputs, "spy": spy}, MODEL, x, target)
    assert torch.equal(x, X)                                    # the caller's images
    assert torch.equal(seen[0][0], X) and seen[0][1].tolist() == [1, 2, 3]
    assert target.tolist() == [1, 2, 3]


def _edits_weights(model, x, target):
    with torch.no_grad():
        model.classifier[-1].weight.mul_(2)
    return HIRES(model, x, target)


def _trains(model, x, target):
    model.train()
    return HIRES(model, x, target)


@pytest.mark.parametrize("explainer", [_edits_weights, _trains])
def test_an_explainer_changing_the_model_is_named(explainer):
    for skip in (False, True):
        model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                       num_classes=4).eval()
        with pytest.raises(errors.ExplainerMisbehaved, match="culprit"):
            scoreboard({"honest": HIRES, "culprit": explainer}, model, X, skip_errors=skip)


def test_agreement_of_identical_blank_maps_is_perfect():
    blank = lambda model, x, target: torch.zeros(len(x), 16, 16)  # noqa: E731
    a, b = (wall_test(blank, MODEL, X, zone=ZONE) for _ in range(2))
    d = agreement(a, b)
    assert d["r"] == 1.0 and d["max_diff"] == 0.0
    same = wall_test(HIRES, MODEL, X)
    assert agreement(same, same)["r"] == pytest.approx(1.0)


def test_agreement_of_reports_on_other_images_is_refused():
    a = wall_test(HIRES, MODEL, X)
    b = wall_test(HIRES, MODEL, X[:2])
    with pytest.raises(ValueError, match="same images"):
        agreement(a, b)


def test_blank_maps_are_not_called_a_leak():
    blank = lambda model, x, target: torch.zeros(len(x), 4, 4)  # noqa: E731
    with pytest.raises(AssertionError) as failure:
        assert_wall_holds(blank, MODEL, X)
    assert "blank" in str(failure.value) and "sees through" not in str(failure.value)


def test_huge_but_finite_float64_maps_are_measured():
    maps = HIRES(MODEL, X, None).double() * 1e39 + 1e-300
    report = wall_test(lambda m, x, t: maps, MODEL, X)
    assert torch.isfinite(report.mu).all() and report.verdict in ("exactly zero", "below tolerance")
    assert as_maps(maps, X).dtype == torch.float64


def test_a_zone_the_model_can_see_is_refused():
    with pytest.raises(ValueError, match="transposed"):
        wall_test(HIRES, MODEL, X, zone=ZONE.T.contiguous())


@pytest.mark.parametrize("x, match", [
    (X.double(), "float64"), ((X * 255).to(torch.uint8), "uint8"),
    (X.permute(0, 2, 3, 1), "channels"), (torch.rand(3, 1, 20, 20), "size"),
    (X.numpy(), "torch.from_numpy")])
def test_images_the_model_cannot_take_are_named(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        wall_test(HIRES, MODEL, x)


# ----------------------------------------------------------------------------- issue 21, held-out probe

def _fixed(maps):
    return lambda model, x, target: maps


@pytest.mark.parametrize("inside, outside", [(1e-25, None), (1.0, 1e30), (1e-45, 1.0)])
def test_tolerance_zero_means_not_one_dead_pixel_above_zero(inside, outside):
    """tolerance=0 reads the dead pixels themselves: a value above 0 there fails, however
    small against the rest (a mu that rounds to 0 cannot pass it)."""
    maps = HIRES(MODEL, X, None)
    maps = torch.nn.functional.interpolate(maps[:, None], size=(16, 16))[:, 0].clone()
    if outside is not None:
        maps = torch.full_like(maps, outside)
    maps[:, ZONE] = inside
    with pytest.raises(AssertionError, match="sees through"):
        assert_wall_holds(_fixed(maps), MODEL, X, tolerance=0.0)
    report = wall_test(_fixed(maps), MODEL, X, tolerance=0.0)
    assert report.verdict == "leaks" and bool((report.mu > 0).all())
    assert bool((report.max_inside > 0).all())


def test_maps_of_huge_values_get_finite_numbers_and_the_right_verdict():
    maps = torch.full((3, 16, 16), 3e38)
    report = wall_test(_fixed(maps), MODEL, X)
    assert report.verdict == "leaks"
    assert torch.isfinite(report.mu).all() and torch.isfinite(report.mass).all()
    torch.testing.assert_close(report.mass, ZONE.float().mean().expand(3))


@pytest.mark.parametrize("out", [
    __import__("numpy").array([[None]] * 3, dtype=object),
    __import__("numpy").array([["a"]] * 3),
    __import__("numpy").zeros(3, dtype=[("a", "f4")]),
])
def test_an_explainer_returning_something_not_numeric_is_named(out):
    with pytest.raises(errors.BadType, match="oddball"):
        wall_test(_fixed(out), MODEL, X, name="oddball")


def _opens_the_wall(model, x, target):
    from camwalls_lib.walls import FeatureWall
    maps = HIRES(model, x, target)
    for m in model.modules():
        if isinstance(m, FeatureWall) and m.visible is not None:
            m.visible.fill_(True)
    return maps


def _replaces_forward(model, x, target):
    maps = HIRES(model, x, target)
    model.forward = lambda inp: torch.zeros(len(inp), 4)
    return maps


def _leaves_a_hook(model, x, target):
    maps = HIRES(model, x, target)
    model.features.register_forward_hook(lambda mod, i, o: o * 2 + 1)
    return maps


def _leaves_a_backward_hook(model, x, target):
    maps = HIRES(model, x, target)
    model.features.register_full_backward_hook(lambda mod, gi, go: None)
    return maps


def _leaves_a_pre_hook(model, x, target):
    maps = HIRES(model, x, target)
    model.register_forward_pre_hook(lambda mod, i: None)
    return maps


@pytest.mark.parametrize("explainer", [_opens_the_wall, _replaces_forward, _leaves_a_hook,
                                       _leaves_a_backward_hook, _leaves_a_pre_hook])
def test_an_explainer_rewiring_the_model_is_named(explainer):
    """Non-persistent buffers (a wall's visible mask), an instance forward and hooks are part
    of the model the next explainer would see."""
    for skip in (False, True):
        model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                       num_classes=4).eval()
        with pytest.raises(errors.ExplainerMisbehaved, match="culprit"):
            scoreboard({"honest": HIRES, "culprit": explainer, "later": GRADCAM}, model, X,
                       skip_errors=skip)


def test_an_explainer_clearing_the_vit_attention_mask_is_named():
    """WalledViT.allowed is a non-persistent buffer: clearing it unwalls the network."""
    from camwalls_lib.networks.vit import WalledViT
    vit = WalledViT(image_size=8, patch=2, dim=8, depth=1, heads=2, wall=Wall.bottom(1)).eval()
    x = torch.rand(2, 1, 8, 8)

    def culprit(model, x_, target):
        maps = HIRES(model, x_, target)
        model.allowed.fill_(True)
        return maps
    with pytest.raises(errors.ExplainerMisbehaved, match="culprit"):
        scoreboard({"culprit": culprit, "later": HIRES}, vit, x)


def test_honest_explainers_leave_the_fingerprint_as_it_was():
    from camwalls_lib.metrics.wallcheck import fingerprint
    model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                   num_classes=4).eval()
    before = fingerprint(model)
    for method in ("gradcam", "scorecam", "opticam", "pcam+"):
        camwalls_explainer(method, **({"steps": 2} if method == "opticam" else {}))(
            model, X, torch.tensor([0, 1, 2]))
        assert fingerprint(model) == before, method


def _hooks_then_raises(model, x, target):
    """A peer that fails between registering its hook and removing it (grad-cam's ShapleyCAM
    on the masked VGG16 did this, and every explainer after it then failed too)."""
    model.features[0].register_forward_hook(lambda m, i, o: o.flip(-1))
    raise RuntimeError("half-way")


def test_an_explainer_that_raises_and_leaves_hooks_does_not_spoil_the_next():
    model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                   num_classes=4).eval()
    clean = scoreboard({"gradcam": GRADCAM}, model, X)[0]
    rows = scoreboard({"broken": _hooks_then_raises, "gradcam": GRADCAM}, model, X,
                      skip_errors=True)
    assert rows[0][2].startswith("n/a: RuntimeError")
    assert torch.equal(rows[1].maps, clean.maps)     # GradCAM ran on an untouched copy


def test_without_a_copy_a_model_left_changed_stops_the_board(monkeypatch):
    from camwalls_lib.metrics import walltest
    model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                   num_classes=4).eval()
    monkeypatch.setattr(walltest, "_copy_or_none", lambda model: None)   # a model deepcopy refuses
    with pytest.raises(errors.ExplainerMisbehaved, match="broken"):
        scoreboard({"broken": _hooks_then_raises, "gradcam": GRADCAM}, model, X,
                   skip_errors=True)


def test_the_benchmark_run_goes_on_with_a_fresh_copy_after_a_half_way_failure():
    from camwalls_lib.walltest import run
    clean = run({"gradcam": GRADCAM}, ["toy-cnn"], n=2)[0]
    rows = run({"broken": _hooks_then_raises, "gradcam": GRADCAM}, ["toy-cnn"], n=2)
    assert rows[0]["verdict"] == "n/a" and rows[1]["mu_mean"] == clean["mu_mean"]
