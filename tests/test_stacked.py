"""Stacked digits (the MNIST STACK-MIX): labels, placement, nothing in the wrong zone."""

import pytest
import torch

from camwalls_lib.data.mnist import Digits
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.data.stacked import bands, stack_digits
from camwalls_lib.walls import Wall, dead_zone


def fake_digits(n=60, seed=0):
    """Blobs of ink at MNIST's position (rows 4..23, cols 6..21), 3 classes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 28, 28, dtype=torch.uint8)
    x[:, 4:24, 6:22] = torch.randint(1, 256, (n, 20, 16), generator=g, dtype=torch.uint8)
    return Digits(x, torch.arange(n) % 3, "synthetic blobs")


def zone_of(wall):
    return dead_zone(ToyCNN(V=2, wall=wall), (1, 28, 28))


BOTTOM = zone_of(Wall.bottom(4))          # rows 20..27 dead


def ink_inside(img, box):
    t, l, b, r = box.tolist()
    out = img.clone()
    out[t:b, l:r] = 0
    return out


def test_bands_of_the_lower_third_wall():
    assert bands(BOTTOM) == ("rows", (0, 20), (20, 28))
    assert bands(zone_of(Wall.left(3)))[0] == "cols"
    with pytest.raises(ValueError, match="whole rows or whole columns"):
        bands(zone_of(Wall(rows=(0, 4), cols=(0, 4))))


@pytest.mark.parametrize("visible", ["cut", "fit"])
def test_stacked_pairs_labels_and_zones(visible):
    digits = fake_digits()
    s = stack_digits(digits, BOTTOM, n=40, seed=1, visible=visible)
    assert s.x.shape == (40, 1, 28, 28) and 0 <= s.x.min() and s.x.max() <= 1
    assert torch.equal(digits.y[s.index[:, 0]], s.y) and torch.equal(digits.y[s.index[:, 1]], s.y)
    assert (s.index[:, 0] != s.index[:, 1]).all()            # two different images
    for img, vb, db in zip(s.x[:, 0], s.visible_box, s.dead_box):
        dead_part = torch.zeros_like(BOTTOM)
        dead_part[db[0]:db[2], db[1]:db[3]] = True
        assert BOTTOM[dead_part].all()                        # dead digit entirely dead
        vis_part = torch.zeros_like(BOTTOM)
        vis_part[vb[0]:vb[2], vb[1]:vb[3]] = True
        assert not BOTTOM[vis_part].any()                     # visible digit never in it
        assert img[dead_part].sum() > 0 and img[vis_part].sum() > 0
        assert ink_inside(ink_inside(img, vb), db).sum() == 0  # no ink outside both boxes


def test_cut_keeps_exactly_what_the_network_sees():
    digits = fake_digits()
    s = stack_digits(digits, BOTTOM, n=20)
    originals = digits.x[s.index[:, 0]].float() / 255
    visible = ~BOTTOM
    assert torch.equal(s.x[:, 0][:, visible], originals[:, visible])
    model = ToyCNN(V=4, wall=Wall.bottom(4), bias=True)
    with torch.no_grad():
        assert torch.equal(model(s.x), model(originals[:, None]))


def test_singles_leave_the_visible_band_black():
    s = stack_digits(fake_digits(), BOTTOM, n=30, singles=True)
    assert (s.visible_box == -1).all() and (s.index[:, 0] == -1).all()
    assert s.x[:, 0][:, ~BOTTOM].abs().sum() == 0
    assert (s.x[:, 0][:, BOTTOM].flatten(1).sum(1) > 0).all()
    assert "single digits" in s.source


def test_vertical_wall_and_explicit_pairs_and_seed():
    zone = zone_of(Wall.left(4))                          # columns 0..7 dead
    digits = fake_digits()
    s = stack_digits(digits, zone, pairs=[[0, 3], [1, 4]])
    assert s.y.tolist() == [0, 1] and s.index.tolist() == [[0, 3], [1, 4]]
    for img, db in zip(s.x[:, 0], s.dead_box):
        assert zone[db[0]:db[2], db[1]:db[3]].all() and img[:, :8].sum() > 0
    a, b = stack_digits(digits, BOTTOM, n=5, seed=3), stack_digits(digits, BOTTOM, n=5, seed=3)
    assert torch.equal(a.x, b.x)
    with pytest.raises(ValueError, match="same class"):
        stack_digits(digits, BOTTOM, pairs=[[0, 1]])
    with pytest.raises(ValueError, match="visible"):
        stack_digits(digits, BOTTOM, n=2, visible="middle")


def test_exercise_checks(capsys):
    from camwalls_lib.metrics.leak import LeakTable
    from camwalls_lib.book.exercises import check_trusted_methods, check_zero_leak_rule

    table = LeakTable({"gradcam": torch.tensor([0.2, 0.0]), "hirescam": torch.zeros(2),
                       "layercam": torch.zeros(2)})
    assert check_trusted_methods(table, ["HiResCAM", "layercam"]) is True
    assert check_trusted_methods(table, ["hirescam"]) is False
    assert check_trusted_methods(table, ["gradcam", "hirescam", "layercam"]) is False

    torch.manual_seed(0)
    model = ToyCNN(V=8, wall=Wall.bottom(4), tau=0.1)
    s = stack_digits(fake_digits(), BOTTOM, n=16)
    masked_gradcam = lambda cap: cap.dB.mean((2, 3))[:, :, None, None] * (cap.dB != 0)  # noqa: E731
    assert check_zero_leak_rule(masked_gradcam, model, s.x, BOTTOM) is True
    assert check_zero_leak_rule(lambda cap: cap.dB.mean((2, 3)), model, s.x, BOTTOM) is False
    assert check_zero_leak_rule(lambda cap: 0 * cap.dB, model, s.x, BOTTOM) is False  # says nothing
    out = capsys.readouterr().out
    assert out.count("Correct") == 2 and out.count("Not yet") == 4
