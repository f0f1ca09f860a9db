"""The wall test API (camwalls_lib.metrics.walltest) on a tiny walled model: verdicts, numbers, errors."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from camwalls_lib import cams
from camwalls_lib.book.report import num
from camwalls_lib.metrics.leak import leak_birth, signed_map, upsampling_margin
from camwalls_lib.errors import CamwallsError
from camwalls_lib.metrics import mu
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.walls import Wall, dead_cells, dead_zone
from camwalls_lib.metrics.walltest import (VERDICTS, agreement, agreement_markdown, as_maps,
                                           assert_wall_holds, camwalls_explainer, scoreboard,
                                           to_markdown, wall_test)


@pytest.fixture(scope="module")
def walled():
    """A 16 x 16 walled toy CNN (3 x 3 conv, 2 x 2 pool, lowest 3 of 7 pooled rows walled)."""
    torch.manual_seed(0)
    model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                   num_classes=4).eval()
    x = torch.rand(3, 1, 16, 16)
    return model, x, dead_zone(model, (1, 16, 16))


@pytest.mark.parametrize("method", ["hirescam", "layercam"])
def test_position_wise_methods_are_exactly_zero(walled, method):
    model, x, zone = walled
    report = wall_test(camwalls_explainer(method), model, x)
    assert report.verdicts == ["exactly zero"] * len(x)
    assert report.verdict == "exactly zero" and report.passed
    assert (report.mu == 0.0).all() and (report.max_inside == 0.0).all()
    assert (report.max_outside > 0).all(), "a map that is 0 everywhere would prove nothing"
    assert report.maps.shape == (len(x), 16, 16)


def test_gradcam_leaks_and_the_assert_says_so(walled):
    model, x, zone = walled
    report = wall_test(camwalls_explainer("gradcam"), model, x)
    assert report.verdict == "leaks" and not report.passed
    assert (report.mu > 1e-3).any()
    with pytest.raises(AssertionError, match="sees through the wall"):
        assert_wall_holds(camwalls_explainer("gradcam"), model, x)
    ok = assert_wall_holds(camwalls_explainer("hirescam"), model, x)
    assert ok.verdict == "exactly zero"


def test_numbers_match_their_definitions(walled):
    model, x, zone = walled
    raw = cams.compute("gradcam", model, x)
    report = wall_test(lambda m, xx, t: raw, model, x, target=None, name="fixed")
    up = cams.upsample(raw, (16, 16))
    assert torch.allclose(report.maps, up)
    assert torch.allclose(report.mu, mu(up, zone))
    assert torch.allclose(report.mass, up[:, zone].sum(1) / up.flatten(1).sum(1))
    assert torch.equal(report.max_inside, up[:, zone].amax(1))
    assert torch.equal(report.max_outside, up[:, ~zone].amax(1))
    assert report.name == "fixed"


def test_uniform_map_gives_the_dead_share(walled):
    model, x, zone = walled
    report = wall_test(lambda m, xx, t: torch.ones(len(xx), 16, 16), model, x)
    share = zone.float().mean()
    assert torch.allclose(report.mass, share.expand(len(x)))
    assert torch.allclose(report.mu, share.sqrt().expand(len(x)))
    assert abs(report.baseline - float(share.sqrt())) < 1e-6        # the scale of every mu
    assert f"a constant map: {num(report.baseline)}" in str(report).splitlines()[0]


def test_tolerance_separates_tiny_from_real_leaks(walled):
    model, x, zone = walled

    def tiny(m, xx, t):
        return cams.compute("hirescam", m, xx, t) + 1e-12

    below = wall_test(tiny, model, x, tolerance=1e-6)
    assert below.verdict == "below tolerance"
    assert wall_test(tiny, model, x, tolerance=0.0).verdict == "leaks"
    # the report is written for people: powers of ten, the tolerance as it was given
    head = str(below).splitlines()[0]
    assert head.endswith("; tolerance 10⁻⁶)") and "e-" not in str(below)
    assert str(wall_test(tiny, model, x, tolerance=2.5e-3)).splitlines()[0].endswith("tolerance 0.0025)")
    assert VERDICTS.index("below tolerance") < VERDICTS.index("leaks")


def test_numpy_and_channel_one_outputs_are_accepted(walled):
    model, x, _ = walled
    base = wall_test(camwalls_explainer("gradcam"), model, x)
    as_np = wall_test(lambda m, xx, t: cams.compute("gradcam", m, xx, t).numpy(), model, x)
    as_4d = wall_test(lambda m, xx, t: cams.compute("gradcam", m, xx, t)[:, None], model, x)
    assert torch.allclose(base.mu, as_np.mu) and torch.allclose(base.mu, as_4d.mu)


def test_explainer_gets_the_requested_target(walled):
    model, x, _ = walled
    seen = {}

    def spy(m, xx, t):
        seen["t"] = t.clone()
        return torch.ones(len(xx), 16, 16)

    wall_test(spy, model, x, target=2)
    assert seen["t"].tolist() == [2] * len(x)
    wall_test(spy, model, x)
    assert torch.equal(seen["t"], model(x).argmax(1))
    with pytest.raises(ValueError, match="target"):
        wall_test(spy, model, x, target=[0, 1])


@pytest.mark.parametrize("bad, message", [
    (lambda xx: torch.ones(len(xx), 3, 16, 16), "reduce them over channels"),
    (lambda xx: torch.ones(len(xx) + 1, 16, 16), "one map per image"),
    (lambda xx: -torch.ones(len(xx), 16, 16), "negative values"),
    (lambda xx: torch.full((len(xx), 16, 16), float("nan")), "NaN"),
    (lambda xx: torch.ones(len(xx), 32, 32), "larger than"),
])
def test_bad_maps_are_refused_with_the_fix(walled, bad, message):
    model, x, _ = walled
    with pytest.raises(ValueError, match=message):
        wall_test(lambda m, xx, t: bad(xx), model, x)


def test_non_arrays_are_refused(walled):
    model, x, _ = walled
    with pytest.raises(TypeError, match="torch tensor or numpy array"):
        wall_test(lambda m, xx, t: [0.0], model, x)


def test_models_without_dead_zone_are_refused(walled):
    _, x, zone = walled
    explainer = camwalls_explainer("gradcam")
    open_model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=None, num_classes=4)
    with pytest.raises(ValueError, match="no wall"):
        wall_test(explainer, open_model, x)
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 14 * 14, 4))
    with pytest.raises(ValueError, match="pass zone="):
        wall_test(explainer, plain, x)
    walled_model = walled[0]
    with pytest.raises(ValueError, match="empty"):
        wall_test(explainer, walled_model, x, zone=torch.zeros(16, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask"):
        wall_test(explainer, walled_model, x, zone=zone[:8])
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        wall_test(explainer, walled_model, x[0])


def test_own_model_with_explicit_zone(walled):
    """A user's model without `.wall`: pass the zone it provably ignores."""
    model, x, zone = walled
    plain = nn.Sequential(model.features, model.classifier)
    report = wall_test(camwalls_explainer("hirescam", layer=plain[0][1]), plain, x, zone=zone)
    assert report.verdict == "exactly zero"


def test_scoreboard_records_or_raises_errors(walled):
    model, x, _ = walled
    explainers = {"HiResCAM": camwalls_explainer("hirescam"),
                  "CAM": camwalls_explainer("cam")}       # CAM refuses a walled dense head
    results = scoreboard(explainers, model, x, library="camwalls", skip_errors=True)
    assert results[0].verdict == "exactly zero"
    assert isinstance(results[1], tuple) and results[1][2].startswith("n/a: ValueError")
    table = to_markdown(results)
    assert "| HiResCAM | camwalls | 0 |" in table and "n/a" in table
    with pytest.raises(ValueError, match="CAM is only defined"):
        scoreboard(explainers, model, x)


def test_interpolation_alone_can_leak_on_a_knife_edge_wall():
    """1 x 1 convolution + 4 x 4 max-pool: the dead zone starts exactly at the walled cells'
    edge. A map that is exactly 0 on the walled cells leaks once upsampled bilinearly (the
    wall test's default), and stays exactly 0 with nearest-neighbour upsampling."""
    torch.manual_seed(1)
    model = ToyCNN(image_size=16, V=8, k=1, k_pool=4, wall=Wall.bottom(1), bias=True,
                   num_classes=3).eval()
    x = torch.rand(4, 1, 16, 16)
    zone = dead_zone(model, (1, 16, 16))
    assert zone[12:].all() and not zone[:12].any()
    pooled = model.features[2]
    raw = cams.compute("layercam", model, x, layer=pooled)
    assert (raw[:, -1] == 0).all() and (raw[:, -2] > 0).any()
    bilinear = wall_test(lambda m, xx, t: cams.compute("layercam", m, xx, t, layer=pooled),
                         model, x)
    nearest = wall_test(lambda m, xx, t: cams.upsample(
        cams.compute("layercam", m, xx, t, layer=pooled), (16, 16), mode="nearest"), model, x)
    assert bilinear.verdict == "leaks"
    assert nearest.verdict == "exactly zero"


def test_as_maps_returns_float_input_resolution(walled):
    _, x, _ = walled
    out = as_maps(np.ones((len(x), 7, 7), dtype=np.float64), x)
    assert out.dtype == torch.float32 and out.shape == (len(x), 16, 16)


def test_dead_cells_are_the_rows_the_pool_sends_behind_the_wall(walled):
    model, _, _ = walled
    cells = dead_cells(model, model.cam_layer, (1, 16, 16))
    h = 16 - 3 + 1                                   # 3 x 3 conv, no padding
    first = 2 * (h // 2 - 3)                         # 2 x 2 pool, lowest 3 pooled rows walled
    assert cells.shape == (h, h)
    assert cells[first:].all() and not cells[:first].any()
    assert torch.equal(dead_cells(model, model.features[2], (1, 16, 16)), model.wall.mask(7, 7))
    with pytest.raises(ValueError, match="direct child"):
        dead_cells(model, model.classifier, (1, 16, 16))


def test_leak_birth_stages_on_a_knife_edge_map():
    """A map that is 0 on the walled cells: ReLU and nearest keep it 0 in the dead zone;
    bilinear and blur spread it across the edge; min-max of a signed map paints it."""
    cells = torch.zeros(4, 4, dtype=torch.bool)
    cells[3] = True
    zone = cells.repeat_interleave(4, 0).repeat_interleave(4, 1)       # 16 x 16, knife edge
    raw = torch.full((4, 4), -0.5)
    raw[2] = 1.0
    raw[3] = 0.0
    mus, maps = leak_birth(raw, cells, zone, sigma=1.0)
    assert mus["raw, signed"] == 0.0                    # negative values on visible cells only
    assert mus["ReLU"] == 0.0 and mus["ReLU, nearest"] == 0.0
    assert mus["ReLU, bilinear"] > 0 and mus["ReLU, bicubic"] > 0
    assert mus["no ReLU, nearest, min-max"] > 0
    assert list(mus)[:2] == ["raw, signed", "ReLU"] and maps["ReLU, nearest"].shape == (16, 16)


def test_upsampling_margin_counts_rows_between_the_reach_and_the_dead_zone():
    """Knife edge (4 x 4 cells, 16 x 16 input, the last cell row walled, the dead zone its 4
    pixel rows): nearest keeps the edge (0), bilinear reaches half a cell (2 rows) into the
    dead zone, bicubic a cell and a half (here all 4 dead rows). Two walled cell rows over the
    same dead zone leave a margin for nearest and bilinear, not for bicubic."""
    cells = torch.zeros(4, 4, dtype=torch.bool)
    cells[3] = True
    zone = cells.repeat_interleave(4, 0).repeat_interleave(4, 1)
    assert upsampling_margin(cells, zone, "nearest") == 0
    assert upsampling_margin(cells, zone, "bilinear") == -2
    assert upsampling_margin(cells, zone, "bicubic") == -4
    cells[2] = True                                      # two walled cell rows, same dead zone
    assert upsampling_margin(cells, zone, "nearest") == 4
    assert upsampling_margin(cells, zone, "bilinear") == 2
    assert upsampling_margin(cells, zone, "bicubic") == -2


@pytest.mark.parametrize("cells, zone, mode, says", [
    ("x", None, "bilinear", "cells must be a bool tensor"),
    (torch.zeros(4, 4), None, "bilinear", "cells must be a non-empty bool"),
    (torch.zeros(4, 4, dtype=torch.bool), None, "bilinear", "some of them and not all"),
    (torch.eye(4, dtype=torch.bool), None, "bilinear", "whole rows"),
    ("top", None, "bilinear", "the bottom rows"),
    (None, torch.ones(16, 16, dtype=torch.bool), "bilinear", "zone must mark whole rows"),
    (None, None, "area", "mode must be"),
])
def test_upsampling_margin_refuses_what_it_cannot_measure(cells, zone, mode, says):
    band = torch.zeros(4, 4, dtype=torch.bool)
    band[3] = True
    if isinstance(cells, str) and cells == "top":
        cells = torch.zeros(4, 4, dtype=torch.bool)
        cells[0] = True
    cells = band if cells is None else cells
    zone = band.repeat_interleave(4, 0).repeat_interleave(4, 1) if zone is None else zone
    with pytest.raises(CamwallsError, match=says):
        upsampling_margin(cells, zone, mode)


def test_signed_map_is_the_map_before_relu(walled):
    model, x, _ = walled
    signed = signed_map(cams.gradcam_weights, model, x)
    assert torch.allclose(signed.clamp(min=0), cams.compute("gradcam", model, x))


def test_agreement_and_predictions_in_tables(walled):
    model, x, _ = walled
    results = scoreboard({"HiResCAM": camwalls_explainer("hirescam"),
                          "GradCAM": camwalls_explainer("gradcam")}, model, x, library="camwalls")
    same = agreement(results[0], results[0])
    assert same["max_diff"] == 0.0 and same["r"] == pytest.approx(1.0)
    table = to_markdown(results, predicted_pass={"camwalls": {"HiResCAM", "GradCAM"}})
    assert "| exactly zero |" in table and table.count("| NO |") == 1
    pairs = [(("camwalls", "HiResCAM"), ("camwalls", "GradCAM"))]
    agree = agreement_markdown(results, pairs)
    assert "HiResCAM (camwalls) | GradCAM (camwalls)" in agree
    header, _, row = agree.splitlines()
    assert header.endswith("| a constant map's μ |") and header.count("|") == row.count("|")
    assert row.endswith(f"| {results[0].baseline:.3f} |")          # every μ beside its scale


def test_blank_maps_prove_nothing(walled):
    model, x, _ = walled

    def half_blank(m, xx, t):
        maps = cams.compute("hirescam", m, xx, t)
        maps[0] = 0
        return maps

    report = wall_test(half_blank, model, x)
    assert report.verdicts[0] == "blank" and report.verdict == "exactly zero" and report.passed
    blank = wall_test(lambda m, xx, t: torch.zeros(len(xx), 16, 16), model, x)
    assert blank.verdict == "blank" and not blank.passed


def test_markdown_table_has_no_timing_column_and_aligned_rows(walled):
    """Timings belong in the benchmarks, not in a reader's table; every row has the header's
    number of cells (an error row included)."""
    model, x, _ = walled
    results = scoreboard({"HiResCAM": camwalls_explainer("hirescam"),
                          "CAM": camwalls_explainer("cam")}, model, x, library="camwalls",
                         skip_errors=True)
    for predicted in (None, {"camwalls": {"HiResCAM"}}):
        lines = to_markdown(results, predicted_pass=predicted).splitlines()
        assert "s / image" not in lines[0] and "second" not in lines[0]
        assert len({line.count("|") for line in lines}) == 1, lines
