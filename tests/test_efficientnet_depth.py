"""Deeper walls in EfficientNet-Lite0: the geometry search and the split at other blocks."""

import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch")

from camwalls_lib.networks.efficientnet import (STRIDE, Normalize, WalledEfficientNet,
                                       load_efficientnet_lite0, walled_efficientnet_lite0)
from camwalls_lib.experiments.efficientnet_depth import smallest_wall
from camwalls_lib.walls import Wall, dead_rows, dead_zone


def _dead_fraction(block, size, rows):
    model = WalledEfficientNet(load_efficientnet_lite0(size), Wall.bottom(rows), block)
    found = dead_rows(dead_zone(model, (3, size, size)))
    return 0.0 if found is None else (size - found[0]) / size


def test_unknown_block_is_refused():
    with pytest.raises(ValueError, match="block must be one of"):
        walled_efficientnet_lite0(5, 224, block=6)


@pytest.mark.parametrize("block", sorted(STRIDE))
def test_split_at_any_block_is_the_same_network(block):
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        whole = load_efficientnet_lite0(224)(Normalize()(x))
        split = WalledEfficientNet(load_efficientnet_lite0(224), None, block)(x)
    assert torch.allclose(whole, split, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("block,size", [(8, 224), (11, 320)])
def test_smallest_wall_is_the_thinnest_reaching_20_percent(block, size):
    g = smallest_wall(block, size)
    assert g.wall_rows is not None and g.dead_fraction >= 0.2
    assert _dead_fraction(block, size, g.wall_rows) == g.dead_fraction
    assert _dead_fraction(block, size, g.wall_rows - 1) < 0.2


@pytest.mark.slow
def test_no_wall_at_stride_32_within_224_px():
    g = smallest_wall(15, 224)
    assert g.wall_rows is None and g.dead_fraction == 0.0
    assert _dead_fraction(15, 224, g.side - 1) < 0.2
