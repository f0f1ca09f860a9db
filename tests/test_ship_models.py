"""tools/ship_models.py against a temporary cache: it checks every model before writing any,
and writes nothing outside its output folder (issue 21)."""

import pytest
import torch

import ship_models
from camwalls_lib import validate
from camwalls_lib.errors import CorruptFile


def _cache(tmp_path, damaged=False):
    cache = tmp_path / "cache"
    for i, name in enumerate(("mnist/a.pt", "vit/b.pt")):
        state = {"w": torch.full((2,), float(i))}
        blob = {**validate.sealed(state), "accuracy": 0.9, "optimizer": {"x": 1}}
        if damaged and i == 1:
            blob["model"] = {"w": torch.full((2,), 7.0)}
        validate.atomic_save(blob, cache / name)
    return cache


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_ship_writes_only_its_output_without_optimizer_state(tmp_path):
    cache = _cache(tmp_path)
    before = _files(tmp_path)
    written = ship_models.ship(cache, tmp_path / "out")
    assert _files(tmp_path) == sorted(before + ["out/mnist/a.pt", "out/vit/b.pt"])
    assert "optimizer" not in torch.load(written[0], weights_only=True)


def test_a_damaged_model_stops_the_tool_before_it_writes(tmp_path):
    cache = _cache(tmp_path, damaged=True)
    with pytest.raises(CorruptFile, match="b.pt"):
        ship_models.ship(cache, tmp_path / "out")
    assert not (tmp_path / "out").exists()
