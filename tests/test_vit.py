"""camwalls_lib.vit, vit_explain, vit_theory: the walled ViT's mask and dead zone, every
token explainer, the GradCAM decomposition, and (slow) training with its cache."""

import pytest
import sympy as sp
import torch

from camwalls_lib import cams
from camwalls_lib.book import exercises
from camwalls_lib.cams import vit_explain as ve
from camwalls_lib.experiments import vit_walls
from camwalls_lib.networks import vit
from camwalls_lib.theory import vit as vt
from camwalls_lib.metrics import mu
from camwalls_lib.walls import Wall, attention_mask, dead_zone


def tiny(wall=Wall.bottom(2), seed=0, **arch):
    """An untrained small walled ViT whose LayerNorms and biases are random too (no
    parameter is at a special value such as 0 or 1)."""
    torch.manual_seed(seed)
    model = vit_walls.make_vit(wall, **{"dim": 16, "depth": 2, "heads": 2, **arch})
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias") or "token" in name:
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
    return model.eval()


def test_attention_mask_matches_its_rule():
    wall = Wall(rows=(5, 7), cols=(1, 4))
    walled = [False] + wall.mask(7, 7).reshape(-1).tolist()
    allowed = attention_mask(wall, 7, 7)
    assert allowed.shape == (50, 50)
    for i in range(50):
        for j in range(50):
            assert bool(allowed[i, j]) == (walled[i] or not walled[j])
    assert attention_mask(None, 7, 7).all()


@pytest.mark.parametrize("wall", [Wall.bottom(2), Wall.left(3), Wall(rows=(2, 4), cols=(2, 5))])
def test_dead_zone_is_exactly_the_pixels_of_walled_patches(wall):
    model = tiny(wall)
    expected = wall.mask(7, 7).repeat_interleave(4, 0).repeat_interleave(4, 1)
    assert torch.equal(dead_zone(model, (1, 28, 28)), expected)


def test_perturbing_the_dead_zone_changes_no_logit_exactly():
    model, twin = tiny(), tiny(None)
    zone = dead_zone(model, (1, 28, 28))
    x = torch.rand(16, 1, 28, 28)
    noisy = x.clone()
    noisy[..., zone] = 100 * torch.randn_like(noisy[..., zone])
    touched = x.clone()
    touched[..., 19, :] += 1.0                                    # the last visible row
    with torch.no_grad():
        assert (model(noisy) - model(x)).abs().max().item() == 0.0
        assert (model(touched) - model(x)).abs().max().item() > 1e-4
        assert (twin(noisy) - twin(x)).abs().max().item() > 1e-4   # no wall: it sees it


def test_no_token_but_a_walled_one_attends_to_a_walled_token():
    model = tiny()
    A, dA, _ = ve.attention_weights(model, torch.rand(4, 1, 28, 28))
    walled = torch.cat([torch.tensor([False]), model.wall.mask(7, 7).reshape(-1)])
    for a, g in zip(A, dA):
        assert a.shape == (4, 2, 50, 50) and g.shape == a.shape
        assert (a[:, :, ~walled][..., walled] == 0).all()
        assert (a[:, :, walled][..., walled] > 0).all()          # walled tokens read anything
        assert torch.allclose(a.sum(-1), torch.ones(()))


def test_cam_layer_holds_the_tokens_entering_the_last_block():
    model = tiny()
    x = torch.rand(3, 1, 28, 28)
    seen = {}
    model.blocks[-1].norm1.register_forward_hook(lambda m, i, o: seen.__setitem__("norm1", o))
    cap = cams.capture(model, x)
    assert cap.B.shape == (3, 16, 7, 7)
    tokens = seen["norm1"][:, 1:].detach()                       # [N, 49, D], row-major
    assert torch.equal(cap.B[:, :, 2, 5], tokens[:, 2 * 7 + 5])


@pytest.mark.parametrize("method", ve.EXPLAINERS)
def test_every_explainer_gives_finite_maps_on_the_patch_grid(method):
    model, x = tiny(), torch.rand(5, 1, 28, 28)
    raw = ve.explain(method, model, x)
    assert raw.shape == (5, 7, 7) and torch.isfinite(raw).all() and (raw != 0).any()
    sal = ve.saliency(method, model, x)
    assert sal.shape == (5, 28, 28) and sal.min() >= 0 and sal.max() <= 1


def test_position_wise_explainers_are_exactly_zero_behind_the_wall_and_gradcam_is_not():
    model, x = tiny(), torch.rand(8, 1, 28, 28)
    zone = dead_zone(model, (1, 28, 28))
    walled = model.wall.mask(7, 7)
    for method in ve.EXPLAINERS:
        raw = ve.explain(method, model, x)
        leak = mu(ve.saliency(method, model, x), zone)
        if method in ve.POSITIONWISE:
            assert (raw[:, walled] == 0).all() and (leak == 0).all(), method
            # bilinear upsampling blends the last visible patch row into the dead zone
            assert (mu(ve.saliency(method, model, x, upsample="bilinear"), zone) > 0).any()
        else:
            assert (raw[:, walled] > 0).any() and (leak > 0).any(), method


def test_one_block_attention_maps_follow_their_definitions():
    model, x = tiny(depth=1), torch.rand(3, 1, 28, 28)
    A, dA, _ = ve.attention_weights(model, x)
    row = lambda M: M[:, 0, 1:].reshape(3, 7, 7)                  # noqa: E731
    assert torch.allclose(ve.explain("attention", model, x), row(A[0].mean(1)))
    assert torch.allclose(ve.explain("rollout", model, x), row(0.5 * A[0].mean(1)))
    assert torch.allclose(ve.explain("chefer", model, x), row((A[0] * dA[0]).clamp(min=0).mean(1)))


def test_attention_gradients_reach_only_rows_that_matter():
    # in the last block only the class token's row of A is read afterwards
    model = tiny()
    A, dA, _ = ve.attention_weights(model, torch.rand(3, 1, 28, 28))
    assert (dA[-1][:, :, 1:] == 0).all() and (dA[-1][:, :, 0].abs().amax(-1) > 0).all()
    assert (dA[0][:, :, 1:].abs().amax((1, 3)) > 0).any()      # earlier blocks: patch rows too


def test_only_the_class_token_carries_a_gradient_at_the_last_output():
    grad = ve.output_token_gradient(tiny(), torch.rand(4, 1, 28, 28))
    assert grad.shape == (4, 50, 16)
    assert (grad[:, 1:] == 0).all() and (grad[:, 0].abs().amax(1) > 0).all()


def test_gradcam_parts_add_up_and_bound_the_content():
    model, x = tiny(), torch.rand(6, 1, 28, 28)
    parts = vt.gradcam_parts(model, x)
    assert torch.allclose(parts.score.clamp(min=0), cams.compute("gradcam", model, x), atol=1e-6)
    assert torch.allclose(parts.content + parts.offset[:, None, None], parts.score, atol=1e-6)
    assert (parts.content.abs().amax((1, 2)) <= parts.spread + 1e-6).all()
    assert (parts.gradient[:, :, model.wall.mask(7, 7)] == 0).all()


def test_a_large_offset_paints_every_patch():
    model, x = tiny(), torch.rand(4, 1, 28, 28)
    norm1 = model.blocks[-1].norm1
    # a small gamma shrinks the content term; a bias along GradCAM's weights makes the offset
    # <alpha, beta> large and positive
    with torch.no_grad():
        norm1.weight.mul_(0.1)
        alpha = vt.gradcam_parts(model, x).alpha.mean(0)
        norm1.bias.copy_(3 * alpha / alpha.norm())
    parts = vt.gradcam_parts(model, x)
    assert parts.must_paint_all.any()
    assert (parts.score[parts.must_paint_all] > 0).all()


def test_sympy_identities():
    assert vt.layernorm_identity(4)["difference"] == 0
    flat = vt.constant_weights_map(3)
    assert not any(s.name.startswith("z_") for s in flat.free_symbols)
    assert sp.Symbol("c", real=True) in flat.free_symbols


def test_check_blind_explainers(capsys):
    model, x = tiny(), torch.rand(6, 1, 28, 28)
    table = ve.leak_table(model, x, dead_zone(model, (1, 28, 28)))
    assert exercises.check_blind_explainers(table, sorted(ve.POSITIONWISE)) is True
    assert exercises.check_blind_explainers(table, ["hirescam"]) is False
    assert "Not yet" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Unknown"):
        exercises.check_blind_explainers(table, ["gradcam++"])


def test_leak_table_explains_another_layer_with_the_cam_methods_only():
    """layer= moves the CAM methods to other tokens; the attention maps ignore it (they read
    every block), and the table still has all six explainers for check_blind_explainers."""
    model, x = tiny(), torch.rand(4, 1, 28, 28)
    zone = dead_zone(model, (1, 28, 28))
    last = ve.leak_table(model, x, zone)
    first = ve.leak_table(model, x, zone, layer=model.blocks[0].grid)
    assert list(first.mu) == list(last.mu) == [ve.LABELS[m] for m in ve.EXPLAINERS]
    for m in ("attention", "rollout", "chefer"):
        assert torch.equal(first.mu[ve.LABELS[m]], last.mu[ve.LABELS[m]])
    assert not torch.equal(first.mu["GradCAM"], last.mu["GradCAM"])
    assert float(first.mu["HiResCAM"].max()) == 0.0
    with pytest.raises(ValueError):
        ve.leak_table(model, x, zone, methods=["gradcam"], layer="blocks.0")


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="divide"):
        vit.WalledViT(image_size=28, patch=5)
    with pytest.raises(ValueError, match="expects images"):
        tiny()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="outside"):
        vit_walls.make_vit(Wall.bottom(9))
    with pytest.raises(ValueError, match="layer="):
        ve.explain("rollout", tiny(), torch.rand(1, 1, 28, 28), layer="blocks.0.grid")
    with pytest.raises(ValueError, match="upsample"):
        ve.saliency("gradcam", tiny(), torch.rand(1, 1, 28, 28), upsample="cubic")
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(3))
    with pytest.raises(TypeError, match="attention_layers"):
        ve.explain("rollout", cnn, torch.rand(1, 1, 28, 28))


def test_attention_explainers_take_any_model_that_exposes_its_attention():
    """Not only WalledViT: a wrapper with ``attention_layers`` and ``grid_shape`` works too."""
    model = tiny()

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model
            self.grid_shape = model.grid_shape

        @property
        def attention_layers(self):
            return model.attention_layers

        def forward(self, x):
            return self.inner(x)

    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(ve.explain("rollout", Wrapped(), x), ve.explain("rollout", model, x))


@pytest.mark.slow
def test_training_learns_and_the_cache_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMWALLS_CACHE", str(tmp_path))
    first = vit_walls.train_walled_vit(max_train=4000, epochs=2, progress=False)
    assert not first.cached and first.accuracy > 0.3        # 10 classes: chance is 0.1
    assert first.history.train_loss[-1] < first.history.train_loss[0]
    again = vit_walls.train_walled_vit(max_train=4000, epochs=2, progress=False)
    assert again.cached and again.accuracy == first.accuracy
    for (k, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), k
    zone = dead_zone(again.model, (1, 28, 28))
    x = torch.rand(8, 1, 28, 28)
    noisy = torch.where(zone, torch.rand_like(x), x)
    with torch.no_grad():
        assert (again.model(noisy) - again.model(x)).abs().max().item() == 0.0


def test_leak_table_takes_one_target_or_one_per_image():
    model, x = tiny(), torch.rand(5, 1, 28, 28)
    zone = dead_zone(model, (1, 28, 28))
    one = ve.leak_table(model, x, zone, methods=["gradcam"], target=3, batch_size=2)
    each = ve.leak_table(model, x, zone, methods=["gradcam"], target=[3] * 5)
    assert torch.allclose(one.mu["GradCAM"], each.mu["GradCAM"])
    other = ve.leak_table(model, x, zone, methods=["gradcam"], target=4)
    assert not torch.allclose(one.mu["GradCAM"], other.mu["GradCAM"])
    assert "| GradCAM |" in ve.leak_markdown({"patch": one})
    table = ve.leak_markdown({"patch": one}, baseline=0.535)
    assert "exactly 0 on every image, patch |" in table.splitlines()[0]
    assert table.splitlines()[-1] == "| a constant map | 53.5 | – |"     # not an explainer: no verdict
