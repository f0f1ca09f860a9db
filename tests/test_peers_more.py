"""The new adapters (Zennit, SHAP, more Captum), the superpixels, the Quantus metric and its
cross-check, on the walled toy CNN of the standard set (small batches)."""

import numpy as np
import pytest
import torch

from camwalls_lib import peers
from camwalls_lib.metrics import walltest
from camwalls_lib.peers.superpixels import grid, straddling
from camwalls_lib.walltest import standard
from camwalls_lib.walltest.predictions import predicted_pass

captum_more = pytest.importorskip("camwalls_lib.peers.captum_more")
pytest.importorskip("captum")


@pytest.fixture(scope="module")
def toy():
    return standard.load("toy-cnn", 2)


def _verdicts(explainers, case):
    return {name: walltest.wall_test(e, case.model, case.x, zone=case.zone).verdict
            for name, e in explainers.items()}


def test_superpixel_grid_and_straddling():
    labels = grid(28, 28)
    assert labels.shape == (28, 28) and labels.unique().numel() == 49
    assert (labels == 0).sum() == 16 and int(labels[27, 27]) == 48
    zone = torch.zeros(28, 28, dtype=torch.bool)
    zone[20:] = True
    assert straddling(zone) == 0
    zone[19] = True
    assert straddling(zone) == 7
    with pytest.raises(ValueError, match="at least 7"):
        grid(5, 28)
    with pytest.raises(ValueError):
        grid(0, 28)


def test_captum_more_predictions(toy):
    names = ("GuidedBackprop", "Deconvolution", "FeatureAblation", "Occlusion",
             "SmoothGrad(Saliency)", "LayerGradientXActivation", "LayerActivation")
    found = _verdicts(captum_more.explainers(methods=names, samples=16), toy)
    for name, verdict in found.items():
        expected = predicted_pass("captum", name, "toy-cnn", straddling(toy.zone))
        assert (verdict == "exactly zero") == expected, (name, verdict)


def test_captum_more_bad_input():
    with pytest.raises(ValueError, match="Unknown Captum methods"):
        captum_more.explainers(methods=("Saliency2",))


def test_zennit_composites_pass(toy):
    zennit_lrp = pytest.importorskip("camwalls_lib.peers.zennit_lrp")
    pytest.importorskip("zennit")
    found = _verdicts(zennit_lrp.explainers(methods=("EpsilonPlusFlat", "EpsilonAlpha2Beta1",
                                                     "EpsilonGammaBox")), toy)
    assert set(found.values()) == {"exactly zero"}
    with pytest.raises(ValueError, match="Unknown Zennit methods"):
        zennit_lrp.explainers(methods=("Epsilon",))


def test_shap_explainers(toy):
    shap_values = pytest.importorskip("camwalls_lib.peers.shap_values")
    pytest.importorskip("shap")
    found = _verdicts(shap_values.explainers(samples=64, methods=(
        "GradientExplainer", "DeepExplainer", "PartitionExplainer")), toy)
    assert found == {"GradientExplainer": "exactly zero", "DeepExplainer": "exactly zero",
                     "PartitionExplainer": "leaks"}
    with pytest.raises(ValueError, match="Unknown SHAP methods"):
        shap_values.explainers(methods=("TreeExplainer",))


def test_missing_library_names_the_install(monkeypatch):
    import importlib
    real = importlib.import_module

    def fake(name, *args):
        if name.startswith("zennit"):
            raise ImportError("no zennit here")
        return real(name, *args)
    monkeypatch.setattr(importlib, "import_module", fake)
    from camwalls_lib.peers import zennit_lrp
    with pytest.raises(ImportError, match=r"pip install camwalls\[peers\]"):
        zennit_lrp.explainers()


def test_quantus_cross_check_agrees(toy):
    quantus_metric = pytest.importorskip("camwalls_lib.peers.quantus_metric")
    pytest.importorskip("quantus")
    report = walltest.wall_test(walltest.camwalls_explainer("gradcam"), toy.model, toy.x,
                                zone=toy.zone)
    y = toy.model(toy.x).argmax(1)
    check = quantus_metric.cross_check(toy.model, toy.x, y, report.maps, toy.zone)
    assert check["max_gap"] <= 1e-6
    assert np.allclose(check["wall_mass"], report.mass.numpy(), atol=1e-6)
    assert any(m > 0.01 for m in check["wall_mass"])           # GradCAM does leak here


def test_wall_mass_metric_and_bad_input(toy):
    from camwalls_lib.peers.quantus_metric import WallMass, cross_check
    maps = torch.rand(2, 28, 28)
    maps[:, toy.zone] = 0
    maps[1] = 0
    metric = WallMass()
    scores = metric(a_batch=maps.numpy(), s_batch=toy.zone[None, None].expand(2, 1, 28, 28).numpy())
    assert scores == [0.0, 0.0] and metric.verdicts == ["exactly zero", "blank"]
    assert WallMass("mu")(a_batch=torch.ones(1, 28, 28).numpy(), s_batch=toy.zone.numpy())[0] == \
        pytest.approx(toy.baseline_mu)
    with pytest.raises(ValueError, match="score"):
        WallMass("auc")
    with pytest.raises(ValueError, match="s_batch"):
        metric(a_batch=maps.numpy())
    with pytest.raises(ValueError, match="same dead zone"):
        zones = torch.stack([toy.zone, ~toy.zone])[:, None]
        metric(a_batch=maps.numpy(), s_batch=zones.numpy())
    with pytest.raises(ValueError, match="map resolution"):
        metric(a_batch=maps.numpy(), s_batch=np.ones((7, 7), bool))
    with pytest.raises(ValueError, match="blank"):
        cross_check(toy.model, toy.x, torch.zeros(2).long(), torch.zeros(2, 28, 28), toy.zone)


def test_existing_peers_untouched():
    assert set(peers.LIBRARIES) == {"grad-cam", "torchcam", "captum"}
