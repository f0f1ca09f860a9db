"""The wall explorer: its update function works without a display, HiResCAM never leaks,
trained walls are cached, a sweep holds every frame of its grid, the static explorer maps
every combination of its controls to a frame with μ beside a constant map's, and neither
version shows timings."""

import base64
import io
import json
import re

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

matplotlib.use("Agg")

from camwalls_lib.experiments import mnist_walls as mnist  # noqa: E402
from camwalls_lib.helpers import cache_dir  # noqa: E402
from camwalls_lib.book.explorer import WallExplorer, band_wall  # noqa: E402
from camwalls_lib.book.explorer_page import TILE, explorer_html, frame_key  # noqa: E402
from camwalls_lib.book.frames import Sweep  # noqa: E402
from camwalls_lib.metrics import baseline_mu, mu  # noqa: E402
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
    assert f"a constant map scores μ = {baseline_mu(side.zone):.2f}" in fig._suptitle.get_text()
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


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A small sweep (two digits, walls of 4 and 8 rows, both networks, with and without a
    second digit) on a quickly trained base network."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CAMWALLS_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setattr("camwalls_lib.data.mnist._download", lambda split: None)
        base = mnist.train_walled_mnist(None, max_train=512, images=512, progress=False)
        ex = WallExplorer(methods=METHODS, n_digits=3, finetune_images=512, base=base,
                          progress=False)
        return ex, ex.sweep(heights=(4, 8), digits=(0, 2))


def test_sweep_holds_every_frame_of_its_grid(sweep):
    ex, sw = sweep
    assert sw.walls == [(4, s) for s in range(9)] + [(8, s) for s in range(5)]
    assert sw.labels.tolist() == [int(ex.labels[0]), int(ex.labels[2])]
    for wall in sw.walls:
        zone = sw.zones[wall]
        assert zone.any() and sw.baselines[wall] == pytest.approx(float(zone.float().mean().sqrt()))
        plain, stacked = sw.images[(wall, False)], sw.images[(wall, True)]
        assert torch.equal(plain, ex.digits[[0, 2], 0])
        assert stacked[:, zone].sum(1).min() > 0, "a second digit inside the dead zone"
        for st, x in ((False, plain), (True, stacked)):
            assert torch.allclose(sw.ink_mu[(wall, st)], mu(x, zone))
        for mode in ("init", "trained"):
            assert (sw.accuracy[(mode, wall)] is None) == (mode == "init")
            for st in (False, True):
                key = (mode, wall, st)
                assert set(sw.maps[key]) == set(METHODS) and sw.predictions[key].shape == (2,)
                for m in METHODS:
                    assert sw.maps[key][m].shape == (2, 28, 28)
                    assert torch.allclose(sw.mu[key][m], mu(sw.maps[key][m], zone))
                assert not sw.mu[key]["hirescam"].any()
    one = ex.update(start=2, height=4, digit=2, mode="trained", stacked=True)
    assert one.mu["gradcam"] == pytest.approx(float(sw.mu[("trained", (4, 2), True)]["gradcam"][1]),
                                              abs=1e-5)
    starts, curve = sw.mu_curve("init", 8, "gradcam")
    assert starts == list(range(5)) and curve.shape == (5, 2)
    with pytest.raises(ValueError, match="height"):
        sw.mu_curve("init", 6, "gradcam")
    starts, median, q1, q3 = sw.mu_band("init", 8, "gradcam")
    assert starts == list(range(5)) and median.shape == q1.shape == q3.shape == (5,)
    assert torch.allclose(median, curve.float().quantile(0.5, dim=1))
    assert (0 <= q1).all() and (q1 <= median).all() and (median <= q3).all() and (q3 <= 1).all()
    for bad, says in (({"mode": "random"}, "mode"), ({"method": "gradcam_typo"}, "method"),
                      ({"height": 6}, "height")):
        with pytest.raises(ValueError, match=says):
            sw.mu_band(**{"mode": "init", "height": 8, "method": "gradcam", **bad})


def test_sweep_refuses_bad_input(sweep):
    ex, _ = sweep
    with pytest.raises(ValueError, match="digits"):
        ex.sweep(digits=(0, 3))
    with pytest.raises(ValueError, match="modes"):
        ex.sweep(digits=(0,), modes=("random",))
    with pytest.raises(ValueError, match="heights"):
        ex.sweep(digits=(0,), heights=(0,))


def _page_data(page: str) -> dict:
    raw = re.search(r'<script type="application/json" class="cw-data">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1).replace("<\\/", "</"))


def _sprite(data: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data["sprite"]))))


def _tile(sheet: np.ndarray, data: dict, i: int) -> np.ndarray:
    r, c = divmod(i, data["cols"])
    return sheet[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] / 255


def test_static_explorer_maps_every_control_combination_to_a_frame(sweep):
    _, sw = sweep
    page = explorer_html(sw, height=8)
    data, sheet = _page_data(page), None
    sheet = _sprite(data)
    # the controls: digit, method, network, wall height, wall position, second digit
    assert page.count("<option") == 2 + len(METHODS) + 2
    assert re.search(r'<select name="height">.*<option value="8" selected>', page)
    assert page.count('type="radio" name="mode"') == 2 and 'type="range" name="start"' in page
    assert 'type="checkbox" name="stacked"' in page
    for w, (h, s) in enumerate(sw.walls):
        wall = data["walls"][w]
        assert (wall["h"], wall["s"]) == (h, s) and wall["base"] == round(sw.baselines[(h, s)], 2)
        assert np.array_equal(_tile(sheet, data, wall["zone"]) > 0.5, sw.zones[(h, s)].numpy())
        for st in (False, True):
            images = data["images"][f"{w}/{int(st)}"]
            assert data["ink"][f"{w}/{int(st)}"] == [round(float(v), 2)
                                                     for v in sw.ink_mu[((h, s), st)]]
            for mode in ("init", "trained"):
                frame = data["frames"][frame_key(mode, w, st)]
                acc = sw.accuracy[(mode, (h, s))]
                assert frame["acc"] == (None if acc is None else round(100 * acc, 1))
                for d in range(2):
                    assert np.abs(_tile(sheet, data, images[d])
                                  - sw.images[((h, s), st)][d].numpy()).max() <= 0.5 / 255 + 1e-6
                    for m in METHODS:
                        assert frame["mu"][m][d] == round(float(sw.mu[(mode, (h, s), st)][m][d]), 2)
                        got = _tile(sheet, data, frame["maps"][m][d])
                        want = sw.maps[(mode, (h, s), st)][m][d].numpy()
                        assert np.abs(got - want).max() <= 0.5 / 255 + 1e-6
    assert len(data["frames"]) == len(sw.walls) * 2 * 2
    # the script writes μ beside a constant map's for the chosen method and every method
    assert "' (a constant map: ' + w.base.toFixed(2)" in page
    assert "a constant map</em></td><td><em>' + w.base.toFixed(2)" in page
    assert "the image itself</em></td><td><em>' +\n      D.ink[wi + '/' + st][d]" in page
    with pytest.raises(ValueError, match="height"):
        explorer_html(sw, height=6)
    with pytest.raises(TypeError, match="Sweep"):
        explorer_html({"walls": []})


TIMING = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|s|seconds?)\b|\bupdate:", re.I)


def test_no_timing_text_in_either_explorer(sweep):
    ex, sw = sweep
    page = explorer_html(sw)
    text = re.sub(r'<script type="application/json".*?</script>', "", page, flags=re.S)
    assert not TIMING.search(text)
    assert not hasattr(ex.update(), "seconds")
    widgets = pytest.importorskip("ipywidgets")
    box = ex.widget()
    labels, todo = [], [box]
    while todo:
        w = todo.pop()
        todo += list(getattr(w, "children", ()))
        if isinstance(w, (widgets.Label, widgets.HTML)):
            labels.append(w.value)
    assert not any(TIMING.search(v) for v in labels), labels
