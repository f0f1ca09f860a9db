"""Models and maps that cannot be what they claim (issue 21): the walled ViT's geometry, its
explainers' arguments, maps of unusual values, models of unusual shapes."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from camwalls_lib import cams
from camwalls_lib.cams import vit_explain
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.networks.vit import WalledViT
from camwalls_lib.walls import Wall, attention_mask, dead_zone

torch.manual_seed(0)
VIT = WalledViT(image_size=8, patch=2, dim=8, depth=1, heads=2, wall=Wall.bottom(1)).eval()
XV = torch.rand(2, 1, 8, 8)
ZONE = ZONE_V = dead_zone(VIT, (1, 8, 8))


# ----------------------------------------------------------------------------- the walled ViT

@pytest.mark.parametrize("kwargs, match", [
    (dict(image_size=28, patch=28, wall=Wall.bottom(1)), "every patch"),
    (dict(image_size=28, patch=0), "patch"), (dict(image_size=28, patch=-4), "patch"),
    (dict(image_size=0, patch=4), "image_size"), (dict(image_size=28, patch=4.0), "patch"),
    (dict(image_size=28, patch=4, wall="bottom"), "wall"),
    (dict(image_size=28, patch=4, wall=Wall.bottom(9)), "rows")])
def test_a_vit_that_cannot_see_or_be_built_is_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        WalledViT(dim=8, depth=1, heads=2, **kwargs)


@pytest.mark.parametrize("extra, h", [(-1, 2), (1.5, 2), (1, 0), (True, 2)])
def test_attention_mask_checks_its_sizes(extra, h):
    with pytest.raises((ValueError, TypeError)):
        attention_mask(Wall.bottom(1), h, 2, extra_tokens=extra)


def test_attention_mask_has_the_size_it_claims():
    assert attention_mask(None, 2, 3, extra_tokens=0).shape == (6, 6)
    assert attention_mask(Wall.bottom(1), 2, 3, extra_tokens=2).shape == (8, 8)


@pytest.mark.parametrize("patch", [0, -1, 2.0, True])
def test_patch_upsample_needs_a_patch_size(patch):
    with pytest.raises((ValueError, TypeError), match="patch"):
        vit_explain.patch_upsample(torch.rand(1, 4, 4), patch)


def test_a_float_target_is_refused_not_truncated():
    for call in (lambda: vit_explain.explain("rollout", VIT, XV, 3.7),
                 lambda: vit_explain.leak_table(VIT, XV, ZONE, ["rollout"], target=3.7),
                 lambda: vit_explain.leak_table(VIT, XV, ZONE, ["rollout"], target=[1.5, 2.0])):
        with pytest.raises(TypeError, match="target"):
            call()


def test_one_method_name_is_one_method_in_any_case():
    table = vit_explain.leak_table(VIT, XV, ZONE, "rollout")
    assert list(table.mu) == ["rollout"]
    assert torch.equal(vit_explain.explain("Rollout", VIT, XV), vit_explain.explain("rollout", VIT, XV))
    with pytest.raises(ValueError, match="rollout"):          # the list names every explainer
        vit_explain.explain("rollotu", VIT, XV)


@pytest.mark.parametrize("x, match", [
    (XV.double(), "float64"), ((XV * 255).to(torch.uint8), "uint8"),
    (XV.permute(0, 2, 3, 1), "channels"), (torch.rand(2, 1, 12, 12), "8"),
    (XV.numpy(), "torch.from_numpy"), (XV[0], r"x\[None\]")])
def test_images_the_vit_cannot_take_are_named(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        VIT(x)


# ----------------------------------------------------------------------------- maps

def test_normalize_spreads_a_tiny_range_over_0_1():
    maps = 1e-14 * torch.rand(2, 5, 5, dtype=torch.float64)
    out = cams.normalize(maps)
    assert out.amax((1, 2)).tolist() == [1.0, 1.0] and out.amin((1, 2)).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("maps, match", [
    (torch.zeros(0, 4, 4), "empty"), (torch.zeros(2, 0, 4), "empty"),
    (torch.ones(2, 4, 4, dtype=torch.bool), "bool"),
    (torch.ones(2, 4, 4, dtype=torch.complex64), "complex")])
@pytest.mark.parametrize("fn", [cams.normalize, lambda m: cams.upsample(m, (8, 8))])
def test_maps_that_are_not_real_numbers_are_refused(fn, maps, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fn(maps)


class Tupled(nn.Module):
    def __init__(self, inner, kind):
        super().__init__()
        self.inner, self.kind = inner, kind

    def forward(self, x):
        y = self.inner(x)
        return (y, y) if self.kind == "tuple" else {"logits": y}


@pytest.mark.parametrize("kind", ["tuple", "dict"])
def test_a_model_returning_a_tuple_or_dict_gets_a_clear_answer(kind):
    torch.manual_seed(0)
    model = Tupled(ToyCNN(image_size=16, V=4, k=3, k_pool=2, wall=None, num_classes=3), kind)
    with pytest.raises(TypeError, match=f"returned a {kind}"):
        cams.compute("gradcam", model, torch.rand(1, 1, 16, 16), layer="inner.features.0")


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        return self.head(self.conv(self.conv(x)).mean((2, 3)))


def test_a_layer_called_twice_in_one_forward_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        cams.compute("gradcam", Twice(), torch.rand(1, 2, 8, 8))


def test_numpy_maps_get_the_conversion():
    with pytest.raises(TypeError, match="torch.from_numpy"):
        cams.normalize(np.ones((1, 4, 4)))


@pytest.mark.parametrize("kwargs, match", [({"batch_size": 0}, "batch_size"),
                                           ({"upsample": "nearest"}, "upsample")])
def test_vit_leak_table_checks_its_options_before_any_work(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vit_explain.leak_table(VIT, XV, ZONE_V, ["rollout"], **kwargs)


def test_a_mistyped_method_is_refused_when_the_explainer_is_made():
    from camwalls_lib.metrics.walltest import camwalls_explainer
    with pytest.raises(ValueError, match="gradcamm"):
        camwalls_explainer("gradcamm")
