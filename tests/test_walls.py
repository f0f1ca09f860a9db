"""The wall holds exactly, and dead_zone finds exactly the pixels no output depends on."""

import io

import pytest
import torch

from camwalls_lib.networks.models import ToyCNN, masked_vgg16
from camwalls_lib.walls import (Wall, WalledLinear, dead_rows, dead_zone, receptive_field,
                                wall_is_exact, walled_weights)


def test_wall_mask_follows_python_slices():
    assert Wall.bottom(9).mask(14, 14).nonzero()[:, 0].unique().tolist() == list(range(5, 14))
    assert Wall(rows=(2, 4), cols=(1, 3)).mask(5, 5).sum() == 4
    assert Wall.left(2).mask(3, 4)[:, :2].all() and not Wall.left(2).mask(3, 4)[:, 2:].any()


@pytest.mark.parametrize("wall", [Wall.bottom(15), Wall(rows=(3, 3)), Wall(cols=(0, 20))])
def test_wall_outside_the_map_is_a_clear_error(wall):
    with pytest.raises(ValueError, match="outside the 14x14 feature map"):
        wall.mask(14, 14)


def test_model_with_a_wall_outside_its_map_is_refused():
    with pytest.raises(ValueError, match="outside"):
        ToyCNN(wall=Wall.bottom(13))          # the pooled map is 12 x 12


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda p: torch.optim.Adam(p, lr=1e-2),
    lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
])
def test_walled_weights_stay_exactly_zero_under_training(make_optimizer):
    torch.manual_seed(0)
    model = ToyCNN(V=4, hidden=(8,), wall=Wall.bottom(4), bias=True)
    optimizer = make_optimizer(model.parameters())
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    before = model.classifier[1].weight.detach().clone()
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    layer = model.classifier[1]
    assert not torch.equal(layer.weight, before)               # it did train
    assert (walled_weights(layer) == 0).all()
    assert wall_is_exact(model)


def test_wall_survives_save_and_load_even_of_a_tampered_state_dict():
    model = ToyCNN(V=4, wall=Wall.bottom(4))
    state = model.state_dict()
    state["classifier.1.weight"] = torch.randn_like(state["classifier.1.weight"])
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    model.load_state_dict(torch.load(buffer, weights_only=True))
    assert wall_is_exact(model)


def test_walled_linear_ignores_the_walled_part_of_its_input():
    layer = WalledLinear((2, 3, 3), 4, Wall.top(1))
    x = torch.randn(5, 2, 3, 3)
    y = x.clone()
    y[:, :, 0] = torch.randn(5, 2, 3)
    assert torch.equal(layer(x.flatten(1)), layer(y.flatten(1)))


def _perturbation_check(model, shape, zone, atol):
    """Randomising the dead zone changes no logit; some visible pixel next to it does.

    In float64, so that the smallest real influence (a pixel at the very edge of a receptive
    field) stands far above rounding error."""
    torch.manual_seed(1)
    model = model.double().eval()
    x = torch.rand(4, *shape, dtype=torch.float64)
    noisy = x.clone()
    noisy[..., zone] = torch.rand_like(noisy[..., zone]) * 10
    with torch.no_grad():
        assert (model(x) - model(noisy)).abs().max() <= atol
        border = dead_rows(zone)[0] - 1                        # last visible row
        touched = x.clone()
        touched[..., border, :] += 5.0
        assert (model(x) - model(touched)).abs().max() > 1e-9


@pytest.mark.parametrize("extra_convs, wall, rows", [((), Wall.bottom(4), (20, 27)),
                                                     ((8,), Wall.bottom(2), (24, 27))])
def test_dead_zone_of_toy_models_is_exact(extra_convs, wall, rows):
    torch.manual_seed(0)
    model = ToyCNN(V=8, hidden=(16,), wall=wall, extra_convs=extra_convs, bias=True)
    zone = dead_zone(model, (28, 28))
    assert dead_rows(zone) == rows and zone[rows[0]:].all() and not zone[:rows[0]].any()
    _perturbation_check(model, (1, 28, 28), zone, atol=1e-6)


def test_dead_zone_of_a_side_wall():
    model = ToyCNN(V=4, wall=Wall.right(3))
    zone = dead_zone(model, (28, 28))
    assert zone[:, 22:].all() and not zone[:, :22].any()      # pooled cols 9..11 -> pixels 22..27


def test_dead_zone_of_small_masked_vgg_by_perturbation():
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=4, width=1 / 32, input_size=224)
    zone = dead_zone(model, (3, 224, 224))
    assert dead_rows(zone) == (170, 223)
    _perturbation_check(model, (3, 224, 224), zone, atol=1e-5)


@pytest.mark.slow
def test_full_size_masked_vgg16_dead_zone_is_the_papers_54_rows():
    """Paper, Sec. 3.1: the lowest 9 of 14 rows walled -> a dead zone of 54 rows (24 %),
    written 171:224 in 1-based inclusive indices, i.e. Python rows 170..223."""
    model = masked_vgg16()
    zone = dead_zone(model, (3, 224, 224))
    assert dead_rows(zone) == (170, 223)
    assert zone.all(1).sum() == 54 and zone.any(1).sum() == 54
    assert abs(zone.float().mean().item() - 0.241) < 1e-3


def test_receptive_field_explains_where_the_vgg_dead_zone_starts():
    """conv5_3 reaches (196 - 16) / 2 = 90 px beyond its own 16-px block (padding keeps it
    centred): the lowest visible row 4 ends at pixel 79, so the dead zone starts at 170."""
    vgg = masked_vgg16(width=1 / 16)
    r = receptive_field(vgg.features)
    assert r == 196
    visible_rows = 14 - 9
    assert dead_rows(dead_zone(vgg, (3, 224, 224)))[0] == 16 * visible_rows + (r - 16) // 2
    assert receptive_field(ToyCNN(k=5, k_pool=2).features) == 6      # a 5x5 conv, then 2x2 pool


def test_dead_zone_needs_a_walled_model():
    with pytest.raises(TypeError, match="features"):
        dead_zone(torch.nn.Conv2d(1, 1, 3), (28, 28))
    with pytest.raises(ValueError, match="input_shape"):
        dead_zone(ToyCNN(wall=Wall.bottom(4)), (1, 1, 28, 28))


def test_check_dead_rows_accepts_the_truth_only(capsys):
    from camwalls_lib.book.exercises import check_dead_rows
    model = ToyCNN(V=4, wall=Wall.bottom(3))
    assert check_dead_rows(model, (1, 28, 28), (22, 27))
    assert not check_dead_rows(model, (1, 28, 28), (18, 27))
    assert "Not yet" in capsys.readouterr().out
    assert not check_dead_rows(model, (1, 28, 28), None)
    blind_spot_free = ToyCNN(V=4, extra_convs=(4,), wall=Wall.bottom(1))   # padding reaches row 27
    assert check_dead_rows(blind_spot_free, (1, 28, 28), None)


def test_walled_linear_is_the_feature_wall_in_front_of_a_dense_layer():
    """One wall mechanism: the dense-layer wall reads its map through a FeatureWall, the same
    layer EfficientNet's walled head uses, so both set the same positions to exactly 0."""
    from camwalls_lib.walls import FeatureWall

    torch.manual_seed(0)
    wall = Wall.bottom(2)
    layer = WalledLinear((3, 4, 5), 7, wall)
    B = torch.randn(2, 3, 4, 5)
    blind = FeatureWall(wall)(B)
    assert (blind[:, :, 2:] == 0).all() and torch.equal(blind[:, :, :2], B[:, :, :2])
    plain = torch.nn.functional.linear(blind.flatten(1), layer.weight, layer.bias)
    torch.testing.assert_close(layer(B.flatten(1)), plain)
    assert torch.equal(layer.walled(), ~wall.visible(4, 5).expand(3, 4, 5).reshape(-1))


def test_walled_count_is_the_number_of_walled_weights_and_works_on_meta():
    from camwalls_lib.networks.models import masked_vgg16
    from camwalls_lib.walls import walled_weights

    small = masked_vgg16(width=1 / 16).classifier[1]
    assert small.walled_count() == walled_weights(small).numel() > 0
    with torch.device("meta"):
        full = masked_vgg16().classifier[1]
    assert full.walled_count() == 9 * 14 * 256 * full.out_features      # the paper's wall
