"""Properties every CAM method must have, and the ones that separate the leaky from the exact."""

import pytest
import torch

from camwalls_lib import cams
from camwalls_lib.book import exercises
from camwalls_lib.networks.models import GAPNet, ToyCNN, masked_vgg16
from camwalls_lib.walls import Wall

FAST = {"opticam": {"steps": 3}}


@pytest.fixture(scope="module")
def walled():
    torch.manual_seed(0)
    return ToyCNN(V=24, hidden=(16,), wall=Wall.bottom(4), tau=1.0)


@pytest.mark.parametrize("method", [m for m in cams.METHODS if m != "cam"])
@pytest.mark.parametrize("N", [1, 5])
def test_every_method_gives_finite_nonnegative_maps_of_the_right_shape(walled, method, N):
    x = torch.rand(N, 1, 28, 28)
    maps = cams.compute(method, walled, x, **FAST.get(method, {}))
    assert maps.shape == (N, 24, 24)
    assert torch.isfinite(maps).all() and (maps >= 0).all()
    shown = cams.saliency(method, walled, x, **FAST.get(method, {}))
    assert shown.shape == (N, 28, 28) and shown.min() >= 0 and shown.max() <= 1


def test_maps_do_not_depend_on_the_batch(walled):
    x = torch.rand(5, 1, 28, 28)
    for method in ("gradcam", "scorecam", "ablationcam", "pcam±"):
        together = cams.compute(method, walled, x)
        alone = torch.cat([cams.compute(method, walled, x[i:i + 1]) for i in range(5)])
        torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_hirescam_and_layercam_are_exactly_zero_behind_the_wall(walled):
    """Pooled rows 8..11 are walled: B's rows 16..23 get exactly zero gradient."""
    x = torch.rand(5, 1, 28, 28)
    for method in ("hirescam", "layercam"):
        maps = cams.compute(method, walled, x)
        assert (maps[:, 16:] == 0).all() and (maps[:, :16] > 0).any()


def test_global_methods_do_light_up_behind_the_wall(walled):
    """Theorem 3's phenomenon, at initialisation: a global alpha paints the dead rows too."""
    x = torch.rand(5, 1, 28, 28)
    for method in ("gradcam", "gradcam++", "xgradcam", "scorecam", "eigencam"):
        assert (cams.compute(method, walled, x)[:, 16:] > 0).any(), method


def test_gradcam_weights_are_one_number_per_channel(walled):
    cap = cams.capture(walled, torch.rand(3, 1, 28, 28))
    assert cams.gradcam_weights(cap).shape == (3, 24)
    assert cams.hirescam_weights(cap).shape == (3, 24, 24, 24)


def test_global_matches_each_rules_actual_alpha_shape_on_a_real_capture():
    """GLOBAL is not a list to restate: a single-layer method is in it iff its rule, run on a
    real capture, returns one number per channel ([N, V]) rather than one per position."""
    torch.manual_seed(0)
    model = GAPNet()                       # CAM's own architecture: every rule is defined on it
    cap = cams.capture(model, torch.rand(2, 1, 28, 28))
    for name, method in cams.RULES.items():
        options = {"steps": 2} if "steps" in method.options else {}
        alpha = method.weights(cap, **options)
        assert alpha.shape in (cap.B.shape[:2], cap.B.shape), name
        assert (alpha.dim() == 2) == (name in cams.GLOBAL), name
    # Poly-CAM weighs whole channels at every layer (its single-layer case is a [N, V]
    # weighted CAM: test_single_layer_polycam_plus_is_cic_weighted_cam)
    assert set(cams.METHODS) - set(cams.RULES) <= cams.GLOBAL


def test_gradcam_equals_cam_over_z_on_a_gap_linear_network():
    """On y_c = sum_v w_cv GAP(B^v) + b_c: dy/dB = w_c/Z, so GradCAM = CAM / Z, Z = hw."""
    torch.manual_seed(0)
    model = GAPNet(channels=(6, 10))
    x = torch.rand(4, 1, 28, 28)
    cam, gradcam = cams.compute("cam", model, x), cams.compute("gradcam", model, x)
    torch.testing.assert_close(gradcam * 14 * 14, cam, rtol=1e-5, atol=1e-6)
    target = model(x).argmax(1)
    by_hand = torch.einsum("nv,nvhw->nhw", model.fc.weight[target], model.features(x)).clamp(min=0)
    torch.testing.assert_close(cam, by_hand, rtol=1e-5, atol=1e-6)


def test_cam_refuses_heads_where_it_is_undefined(walled):
    with pytest.raises(ValueError, match="gradcam"):
        cams.compute("cam", walled, torch.rand(2, 1, 28, 28))


def test_eigencam_ignores_the_target(walled):
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(cams.compute("eigencam", walled, x, target=0),
                               cams.compute("eigencam", walled, x, target=3))


def test_explicit_targets_and_layers(walled):
    x = torch.rand(3, 1, 28, 28)
    by_name = cams.compute("gradcam", walled, x, target=[1, 2, 3], layer="features.1")
    by_module = cams.compute("gradcam", walled, x, target=torch.tensor([1, 2, 3]),
                             layer=walled.features[1])
    torch.testing.assert_close(by_name, by_module)
    assert not torch.allclose(by_name, cams.compute("gradcam", walled, x, target=0))


def test_method_names_are_forgiving_but_not_sloppy(walled):
    x = torch.rand(1, 1, 28, 28)
    torch.testing.assert_close(cams.compute("GradCAM++", walled, x),
                               cams.compute("gradcam++", walled, x))
    torch.testing.assert_close(cams.compute("PCAM+-", walled, x), cams.compute("pcam±", walled, x))
    with pytest.raises(ValueError, match="Unknown CAM method 'gradcan'.*hirescam"):
        cams.compute("gradcan", walled, x)


@pytest.mark.parametrize("x, message", [
    (torch.rand(28, 28), r"\[N, C, H, W\].*x\[None\]"),
    (torch.rand(1, 28, 28), r"\[N, C, H, W\]"),
    (torch.rand(0, 1, 28, 28), "empty batch"),
    (torch.rand(2, 3, 28, 28), "could not process images of shape"),
    (torch.randint(0, 255, (1, 1, 28, 28)), "floats"),
])
def test_bad_images_get_clear_errors(walled, x, message):
    with pytest.raises(ValueError, match=message):
        cams.compute("gradcam", walled, x)


def test_bad_layers_and_targets_get_clear_errors(walled):
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="not convolutional"):
        cams.compute("gradcam", walled, x, layer=walled.classifier[1])
    with pytest.raises(ValueError, match="not a \\[N, V, h, w\\] feature map"):
        cams.compute("gradcam", walled, x, layer=walled.classifier[2])   # ReLU of the MLP
    with pytest.raises(ValueError, match="no layer named"):
        cams.compute("gradcam", walled, x, layer="features.9")
    with pytest.raises(ValueError, match="out of range for 10 classes"):
        cams.compute("gradcam", walled, x, target=10)
    with pytest.raises(ValueError, match="3 entries for a batch of 2"):
        cams.compute("gradcam", walled, x, target=[0, 1, 2])
    with pytest.raises(TypeError, match="takes no option"):
        cams.compute("gradcam", walled, x, steps=3)


def test_polycam_refines_to_the_finest_layer():
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=3, width=1 / 32, input_size=64)
    maps = cams.compute("pcam±", model, torch.rand(2, 3, 64, 64))
    assert maps.shape == (2, 64, 64) and torch.isfinite(maps).all()
    assert len(model.poly_layers) == 5


def test_model_mode_is_restored(walled):
    walled.train()
    cams.compute("scorecam", walled, torch.rand(1, 1, 28, 28))
    assert walled.training
    walled.eval()


def test_single_layer_polycam_plus_is_cic_weighted_cam(walled):
    """With one layer, PCAM+ = relu(sum_k f_c(x * u_k) A_k) (Eq. 3 with L = 1, Eq. 4)."""
    x = torch.rand(2, 1, 28, 28)
    cap = cams.capture(walled, x, with_grad=False)
    u = cams.normalize(cams.upsample(cap.B, (28, 28)).flatten(0, 1)).view(2, 24, 28, 28)
    torch.testing.assert_close(u[1], cams.unit_masks(cap.B[1], (28, 28)))
    with torch.no_grad():
        w = torch.stack([torch.softmax(walled(x[n] * u[n][:, None]), 1)[:, cap.target[n]]
                         for n in range(2)])
    torch.testing.assert_close(cams.compute("pcam+", walled, x), cams.combine(w, cap.B))


def test_lnorm_makes_every_block_average_one_on_constant_blocks():
    M = torch.kron(torch.tensor([[1.0, 4.0], [2.0, 8.0]]), torch.ones(4, 4))[None]
    out = cams.lnorm(M, 4)
    assert out.shape == M.shape and torch.isfinite(out).all()
    torch.testing.assert_close(cams.lnorm(torch.ones(1, 8, 8), 4), torch.ones(1, 8, 8))


def test_opticam_improves_its_objective(walled):
    torch.manual_seed(0)
    x = torch.rand(2, 1, 28, 28)
    cap = cams.capture(walled, x, with_grad=False)

    def objective(alpha):
        S = cams.upsample(cams.combine(alpha, cap.B), (28, 28))
        mask = S / S.flatten(1).amax(1)[:, None, None]
        return walled(x * mask[:, None]).gather(1, cap.target[:, None]).sum().item()

    uniform = torch.full((2, 24), 1 / 24)
    assert objective(cams.opticam_weights(cap, steps=20)) > objective(uniform)


def test_check_global_accepts_the_truth_only(capsys):
    """The answer a student would write from the paper's Appendix A, by hand, in display names."""
    truth = {"CAM", "GradCAM", "GradCAM++", "XGradCAM", "ScoreCAM", "AblationCAM", "EigenCAM",
             "Opti-CAM", "PCAM+", "PCAM-", "PCAM±"}
    assert exercises.check_global(truth)
    assert not exercises.check_global(truth - {"ScoreCAM"})            # one missing
    assert not exercises.check_global(truth | {"HiResCAM"})            # a local one added
    assert not exercises.check_global({"GradCAM", "LayerCAM"})
    assert "Not yet" in capsys.readouterr().out


def test_your_own_weighting_rule_plugs_in(walled):
    """A researcher's method is a function of the capture; a wrong shape is refused."""
    def gradient_times_input_sign(cap):
        return cap.dB.sign()

    maps = cams.compute(gradient_times_input_sign, walled, torch.rand(2, 1, 28, 28))
    assert maps.shape == (2, 24, 24) and (maps[:, 16:] == 0).all()
    with pytest.raises(ValueError, match="returns \\[N, V\\]"):
        cams.compute(lambda cap: cap.dB.mean(), walled, torch.rand(2, 1, 28, 28))
