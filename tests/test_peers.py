"""Adapters for grad-cam, torchcam and Captum (camwalls_lib.peers) on a tiny walled model.

Each library's test is skipped when that library is not installed. Position-wise methods and
pixel gradients must be exactly 0 on the dead zone (mu == 0.0); a global method must leak.
"""

import subprocess
import sys

import pytest
import torch

from camwalls_lib import cams, peers
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.walls import Wall, dead_zone
from camwalls_lib.metrics.walltest import scoreboard, wall_test

EXACT = {
    "grad-cam": {"HiResCAM", "GradCAMElementWise", "LayerCAM", "FullGrad"},
    "torchcam": {"LayerCAM"},
    "captum": {"GuidedGradCam", "Saliency", "IntegratedGradients", "InputXGradient", "DeepLift"},
}
LEAKING = {"grad-cam": "GradCAM", "torchcam": "GradCAM", "captum": "LayerGradCam"}
MODULES = {"grad-cam": "pytorch_grad_cam", "torchcam": "torchcam", "captum": "captum"}


@pytest.fixture(scope="module")
def walled():
    torch.manual_seed(0)
    model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                   num_classes=4).eval()
    return model, torch.rand(2, 1, 16, 16), dead_zone(model, (1, 16, 16))


@pytest.mark.parametrize("library", list(peers.LIBRARIES))
def test_every_adapter_runs_and_exact_methods_are_exactly_zero(walled, library):
    pytest.importorskip(MODULES[library])
    model, x, zone = walled
    explainers = peers.explainers(library, batch_size=8) if library != "captum" else \
        peers.explainers(library, ig_steps=8)
    assert EXACT[library] <= set(explainers) and LEAKING[library] in explainers
    results = {r.name if not isinstance(r, tuple) else r[1]: r
               for r in scoreboard(explainers, model, x, zone=zone, library=library,
                                   skip_errors=True)}
    failed = {k: r for k, r in results.items() if isinstance(r, tuple)}
    # torchcam's CAM is defined only for a GAP + linear head; nothing else may fail.
    assert set(failed) <= {"CAM"}, failed
    for name in EXACT[library]:
        r = results[name]
        assert (r.mu == 0.0).all() and r.verdict == "exactly zero", (name, r.mu)
        assert (r.max_outside > 0).all(), name
    assert results[LEAKING[library]].verdict == "leaks"


def test_grad_cam_offers_the_methods_the_issue_names():
    pytest.importorskip("pytorch_grad_cam")
    names = set(peers.explainers("grad-cam"))
    assert {"FullGrad", "ShapleyCAM", "FinerCAM", "KPCA_CAM", "EigenGradCAM", "RandomCAM"} <= names


def test_torchcam_gradcam_equals_ours_for_any_target(walled):
    """Same definition, same layer, a target that is not the prediction: the maps agree."""
    pytest.importorskip("torchcam")
    model, x, _ = walled
    target = (model(x).argmax(1) + 1) % 4
    theirs = peers.explainers("torchcam", methods=("GradCAM",))["GradCAM"](model, x, target)
    ours = cams.normalize(cams.compute("gradcam", model, x, target))
    # torchcam divides by max + 1e-8, visible on maps of small raw values: renormalise
    assert torch.allclose(cams.normalize(theirs), ours, atol=1e-5)


def test_captum_layer_gradcam_is_our_gradcam_upsampled_nearest(walled):
    pytest.importorskip("captum")
    model, x, _ = walled
    target = (model(x).argmax(1) + 1) % 4
    theirs = peers.explainers("captum", methods=("LayerGradCam",))["LayerGradCam"](model, x, target)
    ours = cams.upsample(cams.compute("gradcam", model, x, target), (16, 16), mode="nearest")
    assert torch.allclose(theirs, ours, atol=1e-6)


def test_grad_cam_hirescam_passes_its_assert(walled):
    pytest.importorskip("pytorch_grad_cam")
    model, x, zone = walled
    explain = peers.explainers("grad-cam", methods=("HiResCAM",))["HiResCAM"]
    out = explain(model, x, model(x).argmax(1))
    assert out.shape == (2, 16, 16)                 # numpy at input resolution
    assert wall_test(explain, model, x, zone=zone).verdict == "exactly zero"


def test_missing_package_names_the_extra():
    with pytest.raises(ImportError, match=r"pip install camwalls\[peers\]"):
        peers.require("camwalls_no_such_module", "no-such-package")
    with pytest.raises(ValueError, match="Unknown library"):
        peers.explainers("tf-keras-vis")


def test_core_library_never_imports_the_peers():
    code = ("import sys, camwalls_lib.metrics.walltest, camwalls_lib.peers, camwalls_lib.cams, "
            "camwalls_lib.metrics, camwalls_lib.walls; "
            "bad = [m for m in ('pytorch_grad_cam', 'torchcam', 'captum') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
