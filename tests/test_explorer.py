"""The wall explorer: its update function works without a display, HiResCAM never leaks,
trained walls are cached, and the static slider holds every frame."""

import json
import re

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from camwalls_lib.experiments import mnist_walls as mnist  # noqa: E402
from camwalls_lib.helpers import cache_dir  # noqa: E402
from camwalls_lib.book.explorer import WallExplorer, band_wall, frames_html, slider_html  # noqa: E402
from camwalls_lib.walls import Wall, dead_zone, wall_is_exact  # noqa: E402

METHODS = ("gradcam", "scorecam", "hirescam")


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMWALLS_CACHE", str(tmp_path))
    monkeypatch.setattr("camwalls_lib.data.mnist._download", lambda split: None)


def test_band_wall():
    assert band_wall(8, 4) == Wall(rows=(8, 12))
    assert band_wall(10, 4, "cols") == Wall(cols=(10, 12))       # clipped to the map
    with pytest.raises(ValueError):
        band_wall(12, 1)
    with pytest.raises(ValueError, match="axis"):
        band_wall(0, 1, "diagonal")


def test_update_at_initialisation_without_display():
    ex = WallExplorer(methods=METHODS, n_digits=3, progress=False)
    frame = ex.update(start=8, height=4, digit=1)
    assert frame.label == int(ex.labels[1]) and frame.mode == "init" and frame.accuracy is None
    assert torch.equal(frame.zone, dead_zone(ex.model(band_wall(8, 4)), (1, 28, 28)))
    assert frame.zone[20:].all() and not frame.zone[:20].any()
    for m in METHODS:
        s = frame.maps[m]
        assert s.shape == (28, 28) and 0 <= s.min() and s.max() <= 1
    assert frame.mu["hirescam"] == 0.0              # a local coefficient cannot leak
    assert frame.mu["gradcam"] > 0.05               # a global one does, at initialisation
    # only the wall differs between two walls' models
    a, b = ex.model(band_wall(0, 3)), ex.model(band_wall(8, 4))
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    both = ~(a.wall.mask(12, 12) | b.wall.mask(12, 12)).expand(32, 12, 12).reshape(-1)
    assert torch.equal(a.classifier[1].weight[:, both], b.classifier[1].weight[:, both])
    side = ex.update(start=0, height=3, axis="cols", digit=0, stacked=True)
    assert side.zone[:, :6].all() and side.image[0][side.zone].sum() > 0   # a digit inside
    fig = WallExplorer.figure(side)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 1 + len(METHODS)
    assert len(fig.axes) == len(panels) + 1, "one colourbar for the maps"
    with pytest.raises(ValueError, match="digit"):
        ex.update(digit=3)


def test_trained_walls_are_cached_on_disk():
    base = mnist.train_walled_mnist(None, max_train=512, images=512, progress=False)
    ex = WallExplorer(methods=("gradcam", "hirescam"), n_digits=2, finetune_images=512,
                      base=base, progress=False)
    frame = ex.update(start=6, height=6, mode="trained")
    model = ex.model(band_wall(6, 6), "trained")
    assert wall_is_exact(model) and 0 < frame.accuracy <= 1
    assert frame.mu["hirescam"] == 0.0
    heads = list((cache_dir() / "explorer").glob("*.pt"))
    assert len(heads) == 1
    again = WallExplorer(methods=("gradcam", "hirescam"), n_digits=2, finetune_images=512,
                         base=base, progress=False).update(start=6, height=6, mode="trained")
    assert again.accuracy == frame.accuracy
    assert torch.equal(again.maps["gradcam"], frame.maps["gradcam"])


def test_static_slider_holds_every_frame():
    ex = WallExplorer(methods=("gradcam", "hirescam"), n_digits=1, progress=False)
    frames = ex.frames([0, 4, 8], height=4)
    page = frames_html(frames, "at initialisation")
    assert page.count("data:image/png;base64,") == 3
    assert page.count("display:block") == 1 and page.count("display:none") == 2
    labels = json.loads(re.search(r'data-labels="([^"]*)"', page).group(1).replace("&quot;", '"'))
    assert len(labels) == 3 and "rows 8..11" in labels[2]
    assert 'type="range" min="0" max="2"' in page
    with pytest.raises(ValueError):
        slider_html(["a"], ["x", "y"])
