"""Agreement with the `grad-cam` package (pytorch_grad_cam), a test-only oracle.

The tiny model explains a layer at the input's own resolution, so the upsampling conventions
of the two libraries (grad-cam's align_corners=True for ScoreCAM masks, ours False) coincide
exactly; its logits are scaled up so that grad-cam's epsilon in GradCAM++ (1e-6 added to a
denominator of squared gradients) is negligible. Both sides are compared after min-max
normalisation, as grad-cam only returns normalised maps.
"""

import numpy as np
import pytest
import torch
import torch.nn as nn

from camwalls_lib import cams

pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection  # noqa: E402

ORACLES = {
    "gradcam": "GradCAM", "hirescam": "HiResCAM", "gradcam++": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM", "layercam": "LayerCAM", "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 4 * 4, 5)).eval()
    with torch.no_grad():
        model[4].weight.mul_(10)
    x = torch.rand(4, 3, 8, 8)
    target = model(x).argmax(1)
    return model, x, target


def _oracle(name, model, x, target):
    cls = getattr(pytorch_grad_cam, ORACLES[name])
    with cls(model=model, target_layers=[model[1]]) as cam:
        out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
    return torch.from_numpy(np.asarray(out))


@pytest.mark.parametrize("name", list(ORACLES))
def test_agrees_with_grad_cam_package(setup, name):
    model, x, target = setup
    ours = cams.normalize(cams.compute(name, model, x, target=target, layer=model[1]))
    theirs = _oracle(name, model, x, target)
    assert ours.shape == theirs.shape
    diff = (ours - theirs).abs().max().item()
    print(f"{name}: max abs difference vs grad-cam {diff:.2e}")
    assert diff <= 1e-4


def test_eigencam_agrees_up_to_the_svd_sign(setup):
    """grad-cam leaves the sign of the principal direction to the SVD; we fix it."""
    model, x, target = setup
    ours = cams.compute("eigencam", model, x, layer=model[1])
    B = model[1](model[0](x)).detach().numpy()
    projection = torch.from_numpy(get_2d_projection(B))
    diffs = [min((ours[n] - (s * projection[n]).clamp(min=0)).abs().max().item()
                 for s in (1, -1)) for n in range(len(x))]
    print(f"eigencam: max abs difference vs grad-cam (best sign) {max(diffs):.2e}")
    assert max(diffs) <= 1e-4
