"""The fast paths give the same maps as the slow ones: tail-only AblationCAM, one capture for
many methods, the gradient taken at B only, masked passes built batch_size at a time."""

import pytest
import torch
import torch.nn as nn

from camwalls_lib import cams
from camwalls_lib.cams import masked, perturb
from camwalls_lib.metrics.leak import leak_table
from camwalls_lib.networks.models import ToyCNN, masked_vgg16
from camwalls_lib.walls import Wall, dead_zone


class Residual(nn.Module):
    """conv -> ReLU (explained) -> conv, plus a skip from before the explained layer."""

    def __init__(self):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(3, 6, 3, padding=1), nn.ReLU()
        self.conv2 = nn.Conv2d(6, 3, 1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))

    def forward(self, x):
        return self.head(self.conv2(self.relu(self.conv(x))) + x)


class Branching(Residual):
    """Python control flow on the activations: torch.fx cannot trace it."""

    def forward(self, x):
        h = self.relu(self.conv(x))
        return self.head(self.conv2(h) + x if h.sum() > 0 else x)


class Doubled(nn.Module):
    """features / classifier whose forward is *not* classifier(features(x))."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(5 * 8 * 8, 4))

    def forward(self, x):
        return 2 * self.classifier(self.features(x)) + 1


def _models():
    torch.manual_seed(0)
    return {
        "features/classifier": (masked_vgg16(num_classes=5, width=1 / 16, input_size=64),
                                torch.rand(2, 3, 64, 64)),
        "fx": (ToyCNN(V=8, hidden=(16,), wall=Wall.bottom(4), tau=1.0), torch.rand(3, 1, 28, 28)),
        "fx ": (Doubled(), torch.rand(2, 3, 8, 8)),
        "fx  ": (Residual(), torch.rand(2, 3, 8, 8)),     # the skip is read once per image
        "full": (Branching(), torch.rand(2, 3, 8, 8)),
    }


@pytest.mark.parametrize("expected", list(_models()))
def test_tail_only_ablationcam_equals_full_passes(expected):
    model, x = _models()[expected]
    cap = cams.capture(model, x, with_grad=False)
    assert perturb.split_at(model, cap.layer, cap).path == expected.strip()
    tail = cams.normalize(cams.compute("ablationcam", model, x, batch_size=3))
    full = cams.normalize(cams.compute("ablationcam", model, x, batch_size=3, tail_only=False))
    assert (tail - full).abs().max() <= 1e-5
    assert tail.amax() > 0


def test_a_tail_that_does_not_reproduce_the_model_is_not_used():
    model, x = _models()["fx "][0], torch.rand(2, 3, 8, 8)
    assert perturb.split_at(model, model.features[-1]).path == "features/classifier"  # unchecked
    cap = cams.capture(model, x, layer=model.features[-1], with_grad=False)
    split = perturb.split_at(model, cap.layer, cap)
    assert split.path == "fx" and "does not reproduce" in split.reason


def test_capture_gradient_equals_the_full_backward_pass():
    model, x = _models()["features/classifier"]
    cap = cams.capture(model, x)
    store = {}

    def hook(_module, _inputs, out):
        out.register_hook(lambda g: store.__setitem__("g", g))

    handle = cap.layer.register_forward_hook(hook)
    xg = x.clone().requires_grad_()
    model.eval()(xg).gather(1, cap.target[:, None]).sum().backward()
    handle.remove()
    torch.testing.assert_close(cap.dB, store["g"])


def test_compute_many_equals_one_compute_per_method(monkeypatch):
    model, x = _models()["fx"]
    methods = ["gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam",
               "scorecam", "ablationcam", "pcam+"]
    alone = {m: cams.compute(m, model, x) for m in methods}
    calls = []
    real = cams.capture
    monkeypatch.setattr(cams.methods, "capture", lambda *a, **k: calls.append(k) or real(*a, **k))
    seconds = {}
    together = cams.compute_many(methods, model, x, seconds=seconds, batch_size=5)
    single = [k for k in calls if k.get("with_grad")]
    assert len(single) == 1                     # one capture with the gradient, for all
    assert list(together) == methods and set(seconds) == set(methods)
    for m in methods:
        torch.testing.assert_close(together[m], alone[m], rtol=1e-4, atol=1e-6)


def test_options_are_read_from_the_rules_signature():
    assert cams.options_of("scorecam") == ("batch_size", "progress")
    assert cams.options_of("opticam") == ("steps", "lr", "progress")
    assert cams.options_of("gradcam") == ()
    assert "batch_size" in cams.options_of("pcam±") and "variant" not in cams.options_of("pcam+")

    def mine(cap, depth=2):
        return cap.dB

    assert cams.options_of(mine) == ("depth",)
    with pytest.raises(TypeError, match="takes no option"):
        cams.compute_many(["gradcam"], *_models()["fx"], method_options={"gradcam": {"steps": 2}})


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "8", None])
def test_batch_size_must_be_a_positive_int(bad):
    model, x = _models()["fx"]
    for method in ("scorecam", "ablationcam", "pcam±"):
        with pytest.raises((ValueError, TypeError), match="batch_size must be an int >= 1"):
            cams.compute(method, model, x, batch_size=bad)
    with pytest.raises((ValueError, TypeError), match="batch_size must be an int >= 1"):
        leak_table(model, x, dead_zone(model, (28, 28)), methods=["gradcam"], batch_size=bad,
                   progress=False)


def test_masked_passes_never_exceed_batch_size():
    """Memory is bounded by batch_size: no forward pass sees more inputs than that."""
    model, x = _models()["fx"]
    sizes = []
    handle = model.register_forward_pre_hook(lambda m, i: sizes.append(i[0].shape[0]))
    small = cams.compute("scorecam", model, x[:1], batch_size=3)
    handle.remove()
    assert max(sizes[1:]) == 3 and sizes[0] == 1            # the capture, then masked passes
    torch.testing.assert_close(small, cams.compute("scorecam", model, x[:1], batch_size=64),
                               rtol=1e-4, atol=1e-4 * float(small.max()))


def test_identical_masks_run_once_and_score_the_same():
    B = torch.rand(2, 6, 4, 4)
    B[:, [1, 3, 4]] = 0                           # ReLU-dead channels: one mask, one pass
    B[1, 5] = B[1, 2]
    same = perturb.first_equal(B)
    assert same.tolist() == [[0, 1, 2, 1, 1, 5], [0, 1, 2, 1, 1, 2]]
    runs = []

    def chunk_logits(n, chans):
        runs.append(len(chans))
        return B[n, chans].flatten(1)[:, :3] * 7     # any function of the variant alone

    target = torch.tensor([0, 2])
    fast = perturb.target_scores(2, 6, target, chunk_logits, 2, same=same)
    assert sum(runs) == 4 + 3
    torch.testing.assert_close(fast, perturb.target_scores(2, 6, target, chunk_logits, 2))


def test_saliency_many_equals_saliency():
    model, x = _models()["fx"]
    many = cams.saliency_many(["gradcam", "eigencam", "scorecam"], model, x, batch_size=4)
    for m, maps in many.items():
        torch.testing.assert_close(maps, cams.saliency(m, model, x), rtol=1e-4, atol=1e-5)


def test_leak_table_captures_once_per_batch_of_images(monkeypatch):
    model, x = _models()["fx"]
    calls = []
    real = cams.capture
    monkeypatch.setattr(cams.methods, "capture", lambda *a, **k: calls.append(1) or real(*a, **k))
    methods = ["gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam"]
    table = leak_table(model, x, dead_zone(model, (28, 28)), methods=methods, batch_size=2,
                       progress=False)
    assert len(calls) == 2                       # 3 images in batches of 2
    assert list(table.mu) == methods and all(len(v) == 3 for v in table.mu.values())


class Viewed(nn.Module):
    """Flattens with ``.view``, which a channels-last tensor cannot take."""

    def __init__(self):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(3, 5, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(5 * 8 * 8, 4)

    def forward(self, x):
        h = self.relu(self.conv(x))
        return self.fc(h.view(h.shape[0], -1))


def test_scorecam_passes_run_channels_last():
    model, x = _models()["features/classifier"]
    layouts = []
    first_conv = model.features[0]
    handle = first_conv.register_forward_pre_hook(
        lambda m, i: layouts.append(i[0].is_contiguous(memory_format=torch.channels_last)))
    cams.compute("scorecam", model, x[:1], batch_size=8)
    handle.remove()
    assert layouts[0] is False and all(layouts[1:]) and len(layouts) > 1   # capture, then passes


@pytest.mark.parametrize("name", ["features/classifier", "fx"])
def test_channels_last_gives_the_models_logits(name):
    model, x = _models()[name]
    model.eval()                                         # no dropout: one function of x
    with torch.no_grad():
        torch.testing.assert_close(masked.channels_last(model)(x), model(x),
                                   rtol=1e-5, atol=1e-5)


def test_a_model_that_rejects_channels_last_gets_its_own_layout():
    torch.manual_seed(0)
    model, x = Viewed(), torch.rand(2, 3, 8, 8)
    run = masked.channels_last(model)
    with torch.no_grad():
        torch.testing.assert_close(run(x), model(x))
        torch.testing.assert_close(run(x), model(x))       # remembered: no second failure
    flat = Doubled()                                     # the same network, flattened safely
    flat.features[0].load_state_dict(model.conv.state_dict())
    flat.classifier[1].load_state_dict(model.fc.state_dict())
    flat.forward = lambda x: flat.classifier(flat.features(x))
    torch.testing.assert_close(cams.compute("scorecam", model, x, layer=model.relu),
                               cams.compute("scorecam", flat, x, layer=flat.features[1]))


def test_scorecam_and_the_polycams_share_their_masked_passes():
    """compute_many runs each set of masked passes once: ScoreCAM's x*u passes are Poly-CAM's
    (logit and probability of the same inputs), and the three Poly-CAM variants share theirs.
    The maps are those of separate calls."""
    model, x = _models()["features/classifier"]
    model.eval()
    methods = ["scorecam", "pcam+", "pcam-", "pcam±"]
    calls = []
    handle = model.register_forward_pre_hook(lambda m, i: calls.append(i[0].shape[0]))
    together = cams.compute_many(methods, model, x, batch_size=64)
    shared = sum(calls)
    calls.clear()
    alone = {m: cams.compute(m, model, x, batch_size=64) for m in methods}
    handle.remove()
    assert shared < 0.6 * sum(calls)     # alone: u-passes 3 times, (1-u)-passes twice
    for m in methods:
        torch.testing.assert_close(together[m], alone[m])
