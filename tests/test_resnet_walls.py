"""Walled residual networks: the dead zone stays exact through skip connections, proved by
perturbation, at initialisation and for the shipped trained weights."""

import pytest
import torch
import torch.nn as nn

from camwalls_lib.networks.resnet import DEFAULT_WALL_ROWS, ResBlock, WalledResNet
from camwalls_lib.experiments import resnet_walls as training
from camwalls_lib.validate import CorruptFile
from camwalls_lib.walls import FeatureWall, Wall, dead_rows, dead_zone


def _perturbed_logits(model, zone, seed=0, n=6):
    """Logits of random images, and of the same images with every dead pixel redrawn."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g, dtype=torch.float64)
    y = x.clone()
    y[:, :, zone] = torch.rand(n, 1, int(zone.sum()), generator=g, dtype=torch.float64) * 5
    with torch.no_grad():
        return model(x), model(y)


def _reaches(model, zone, trials=3):
    """Bool [28, 28]: pixels whose input gradient is non-zero for some random image."""
    seen = torch.zeros(28, 28, dtype=torch.bool)
    for t in range(trials):
        x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(t),
                       dtype=torch.float64, requires_grad=True)
        w = torch.randn(10, generator=torch.Generator().manual_seed(100 + t), dtype=torch.float64)
        (model(x)[0] * w).sum().backward()
        seen |= x.grad[0, 0] != 0
    return seen


@pytest.mark.parametrize("variant", ["head", "stage"])
@pytest.mark.parametrize("rows_delta", [-2, 0, 2])
def test_dead_zone_is_exact_at_initialisation(variant, rows_delta):
    torch.manual_seed(1)
    model = WalledResNet(variant, DEFAULT_WALL_ROWS[variant] + rows_delta).double().eval()
    zone = dead_zone(model, (1, 28, 28))
    assert zone.any() and not zone.all()
    a, b = _perturbed_logits(model, zone)
    assert torch.equal(a, b)                       # exactly, not approximately
    assert torch.equal(_reaches(model, zone), ~zone)   # and nothing outside it is dead


def test_default_dead_zones():
    assert dead_rows(dead_zone(WalledResNet("head"), (1, 28, 28))) == (21, 27)
    assert dead_rows(dead_zone(WalledResNet("stage"), (1, 28, 28))) == (19, 27)


def test_unwalled_twin_sees_the_dead_zone():
    torch.manual_seed(2)
    walled = WalledResNet("head").double().eval()
    twin = WalledResNet("head", 0).double().eval()
    assert twin.wall is None
    zone = dead_zone(walled, (1, 28, 28))
    a, b = _perturbed_logits(twin, zone)
    assert (a - b).abs().max() > 1e-3


class _BranchWalled(nn.Module):
    """A block whose wall is on the residual branch only: the skip carries every position
    past it, so it walls nothing."""

    def __init__(self):
        super().__init__()
        self.block = ResBlock(4)
        self.block.branch.append(FeatureWall(Wall.bottom(14), (28, 28)))
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), self.block)
        self.wall = Wall.bottom(2)
        self.head = nn.Sequential(FeatureWall(self.wall, (28, 28)), nn.Flatten(),
                                  nn.Linear(4 * 28 * 28, 10))

    def forward(self, x):
        return self.head(self.features(x))


def test_a_wall_that_the_skip_connection_bypasses_hides_only_what_the_skip_hides():
    torch.manual_seed(3)
    model = _BranchWalled().double().eval()
    zone = dead_zone(model, (1, 28, 28))
    assert dead_rows(zone) == (27, 27)             # not the branch's 14 rows: the skip sees them
    a, b = _perturbed_logits(model, zone)
    assert torch.equal(a, b)
    assert torch.equal(_reaches(model, zone), ~zone)


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        WalledResNet("tail")
    with pytest.raises(ValueError, match="wall_rows"):
        WalledResNet("head", 14)
    with pytest.raises(ValueError, match="wall_rows"):
        WalledResNet("stage", -1)
    with pytest.raises(ValueError, match="variant"):
        training.load("tail")


@pytest.mark.parametrize("variant, seed", [("head", 0), ("head", 1), ("head", 2), ("stage", 0)])
def test_shipped_walled_networks_keep_their_dead_zone_exactly(variant, seed):
    model, record = training.load(variant, True, seed)
    assert record["accuracy"] > 0.85 and record["seed"] == seed
    zone = dead_zone(model, (1, 28, 28))
    a, b = _perturbed_logits(model.double(), zone, seed)
    assert torch.equal(a, b)
    twin = WalledResNet(variant, 0)                 # the same weights without the wall see it
    twin.load_state_dict(model.state_dict())
    a, b = _perturbed_logits(twin.double().eval(), zone, seed)
    assert (a - b).abs().max() > 1e-3


def test_a_damaged_file_is_refused(tmp_path):
    model, record = training.load("head", True, 0)
    path = training.save(model, record, tmp_path / training.name_of("head", True, 0))
    blob = torch.load(path, weights_only=True)
    blob["model"]["classifier.3.bias"] += 1
    torch.save(blob, path)
    with pytest.raises(CorruptFile, match="damaged"):
        training.load("head", True, 0, folder=tmp_path)
    with pytest.raises(FileNotFoundError):
        training.load("head", True, 1, folder=tmp_path)


@pytest.mark.parametrize("kwargs, error, says", [
    ({"walled": "no"}, TypeError, "walled must be True or False"),
    ({"walled": 1}, TypeError, "walled must be True or False"),
    ({"variant": "tail"}, ValueError, "choose one of head, stage"),
    ({"variant": 3}, TypeError, "variant"), ({"seed": -1}, ValueError, "seed"),
    ({"seed": 0.5}, TypeError, "seed"),
])
def test_load_refuses_arguments_that_would_pick_another_network(kwargs, error, says):
    from camwalls_lib.errors import CamwallsError
    with pytest.raises(error, match=says) as info:
        training.load(**{"variant": "head", **kwargs})
    assert isinstance(info.value, CamwallsError)


def test_load_reads_a_variant_in_any_case():
    model, record = training.load("HEAD")
    assert record["variant"] == "head" and model.training is False


@pytest.mark.parametrize("source, as_name", [(("stage", True, 0), ("head", True, 0)),
                                             (("head", True, 1), ("head", True, 0))])
def test_another_networks_file_under_this_name_is_a_corrupt_file_naming_it(
        tmp_path, source, as_name):
    import shutil
    from camwalls_lib.errors import CorruptFile
    shutil.copy(training.FOLDER / training.name_of(*source), tmp_path / training.name_of(*as_name))
    with pytest.raises(CorruptFile, match=rf"{training.name_of(*as_name)}.*re-create it"):
        training.load(*as_name, folder=tmp_path)


@pytest.mark.slow
def test_training_recipe_runs():
    model, record = training.train("stage", True, 0, max_train=512)
    assert 0 <= record["accuracy"] <= 1 and record["n_train"] == 512
