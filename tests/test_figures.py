"""The book's figure code: one colour map, one dead-zone marking, colourbars, wrapped grids,
the architecture diagrams of the paper's Figures 2 and 4, and the intro's committed picture."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from camwalls_lib.book import diagrams, figures as viz  # noqa: E402
from camwalls_lib.networks.models import ToyCNN  # noqa: E402
from camwalls_lib.walls import Wall, dead_zone  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _maps(n_images=2, n_methods=3, side=8):
    torch.manual_seed(0)
    images = torch.rand(n_images, 1, side, side)
    maps = {f"m{j}": torch.rand(n_images, side, side) for j in range(n_methods)}
    zone = torch.zeros(side, side, dtype=torch.bool)
    zone[side // 2:] = True
    return images, maps, zone


def _colorbar_labels(fig) -> list[str]:
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_method_grid_has_one_labelled_colorbar_in_the_book_colour_map():
    images, maps, zone = _maps()
    fig = viz.method_grid(images, maps, zone)
    labels = _colorbar_labels(fig)
    assert len(labels) == 1 and "saliency" in labels[0]
    cmaps = {im.get_cmap().name for ax in fig.axes for im in ax.images if im.get_array().ndim == 2
             and ax.get_label() != "<colorbar>" and im.get_cmap().name != "gray"}
    assert cmaps == {viz.SALIENCY_CMAP}


def test_method_grid_wraps_many_methods_over_rows():
    images, maps, zone = _maps(n_images=3, n_methods=13)
    fig = viz.method_grid(images, maps, zone, max_cols=7)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3 * 2 * 7                      # 14 panels per image -> 2 rows of 7
    titled = [ax.get_title() for ax in panels if ax.get_title()]
    assert len(titled) == 3 * 14, "a wrapped grid must title every panel"
    unwrapped = viz.method_grid(images, maps, zone)
    assert len([a for a in unwrapped.axes if a.get_label() != "<colorbar>"]) == 3 * 14


def test_dead_zone_is_outlined_on_every_map():
    images, maps, zone = _maps(n_images=1, n_methods=2)
    fig = viz.method_grid(images, maps, zone)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for ax in panels:
        red = [c for c in ax.collections if len(c.get_edgecolor())
               and np.allclose(c.get_edgecolor()[0][:3], viz.DEAD_RED)]
        assert red, f"panel {ax.get_title()!r} has no dead-zone outline"


def test_map_over_a_digit_is_opaque_and_the_digit_outlined():
    """Blending a map over a white digit tints the strokes where the map is 0 (it reads as
    saliency): over a grey-scale image the map is opaque and the digit a white outline."""
    images, maps, zone = _maps(n_images=1, n_methods=1)
    images[0, 0, 5:20, 10:14] = 1.0                       # a stroke to outline
    fig, ax = plt.subplots()
    viz.show_saliency(ax, images[0], next(iter(maps.values()))[0], zone)
    assert [im.get_alpha() for im in ax.images[:1]] == [None], "the map must be opaque"
    white = [c for c in ax.collections if len(c.get_edgecolor())
             and np.allclose(c.get_edgecolor()[0][:3], (1, 1, 1))]
    assert white, "the digit must be outlined in white"


def test_grid_with_mus_shows_the_constant_map_baseline():
    images, maps, zone = _maps(n_images=2, n_methods=2)
    mus = {k: torch.full((2,), 0.5) for k in maps}
    fig = viz.method_grid(images, maps, zone, mus=mus)
    titles = [ax.get_title() for ax in fig.axes]
    expected = f"a constant map: μ={float(zone.float().mean().sqrt()):.2f}"
    assert any(expected in t for t in titles), titles


def test_map_row_signed_maps_use_the_diverging_scale_with_labelled_colorbars():
    signed = torch.linspace(-1, 1, 16).reshape(4, 4)
    fig = viz.map_row({"signed": signed, "positive": signed.abs()}, label="value")
    cmaps = [ax.images[0].get_cmap().name for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert cmaps == [viz.SIGNED_CMAP, viz.SALIENCY_CMAP]
    assert _colorbar_labels(fig) == ["value", "value"]


def test_no_rainbow_colour_map_in_library_or_chapters():
    """jet/rainbow are not perceptually uniform: the colour maps live in viz, once."""
    sources = list((REPO / "camwalls_lib").rglob("*.py")) + list((REPO / "book").glob("*.ipynb"))
    bad = [p.name for p in sources if re.search(r"""cmap\s*=\s*["'](jet|rainbow|hsv|nipy_spectral)["']""",
                                                 p.read_text(encoding="utf-8"))]
    assert not bad, f"rainbow colour maps in {bad}: use viz.SALIENCY_CMAP / viz.SIGNED_CMAP"


def _hatched(fig) -> list[Rectangle]:
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_hatch()]


def test_toy_cnn_boxes_follow_the_model():
    model = ToyCNN(V=8, k=5, k_pool=2, num_classes=3, wall=Wall.bottom(4))
    boxes = diagrams.feature_boxes(model, (1, 28, 28))
    assert [(b.name, b.shape) for b in boxes] == [("B", (8, 24, 24)), ("C", (8, 12, 12))]
    assert boxes[0].op == "conv 5×5 + ReLU" and boxes[1].op == "max-pool 2×2"


@pytest.mark.parametrize("rows", [3, 6])
def test_toy_cnn_diagram_hatches_the_walled_rows_and_shades_the_dead_zone(rows):
    model = ToyCNN(V=8, k=5, k_pool=2, num_classes=3, wall=Wall.bottom(rows))
    fig = diagrams.toy_cnn_diagram(model)
    assert len(_hatched(fig)) == rows, "one hatched stripe per walled row of C"
    tinted = [im for im in fig.axes[0].images if im.get_array().ndim == 3]
    zone = dead_zone(model, (1, 28, 28))
    assert len(tinted) == 1
    alpha = np.asarray(tinted[0].get_array())[..., 3]
    assert np.array_equal(alpha > 0, zone.numpy()), "the drawn dead zone is the computed one"


def test_masked_vgg_diagram_is_the_papers_figure_4():
    fig = diagrams.masked_vgg_diagram()
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"3×224×224", "256×14×14", "4096", "1000"} <= texts
    assert len(_hatched(fig)) == 9, "the lowest 9 of the 14 rows of B are walled"


def test_diagram_refuses_a_network_without_a_wall():
    with pytest.raises(ValueError, match="WalledLinear"):
        diagrams.toy_cnn_diagram(ToyCNN(V=4, wall=None))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        diagrams.walled_network_diagram(ToyCNN(V=4, wall=Wall.bottom(2)), (28, 28))


def test_claim_figure_leaks_for_gradcam_not_hirescam():
    torch.manual_seed(1)
    fig = diagrams.claim_figure(torch.rand(2, 1, 28, 28))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith(("GradCAM", "HiResCAM"))]
    mus = {t.split("\n")[0]: float(t.split("μ=")[1]) for t in titles}
    assert mus["HiResCAM"] == 0.0 and mus["GradCAM"] > 0.0
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        diagrams.claim_figure(torch.rand(28, 28))


def test_claim_composites_hide_a_whole_digit_behind_the_wall():
    from camwalls_lib.data.mnist import Digits
    g = torch.Generator().manual_seed(0)
    digits = Digits((torch.rand(40, 28, 28, generator=g) * 255).to(torch.uint8),
                    torch.arange(40) % 4, "random test digits")
    x = diagrams.claim_composites(digits, n=2, seed=0)
    zone = dead_zone(diagrams._claim_model(0), (1, 28, 28))
    assert x.shape == (2, 1, 28, 28)
    assert bool((x[:, 0][:, zone] > 0).any(1).all()), "each composite has ink in the dead zone"
    with pytest.raises(TypeError, match="Digits"):
        diagrams.claim_composites(torch.rand(3, 1, 28, 28))
    with pytest.raises(ValueError, match="n must"):
        diagrams.claim_composites(digits, n=0)


def test_intro_picture_is_what_the_library_draws(tmp_path):
    """book/_static/intro-claim.png is committed (the intro is not executed): it must be what
    tools/intro_figure.py draws now, else the intro shows a stale claim."""
    from PIL import Image

    committed = REPO / "book" / "_static" / "intro-claim.png"
    assert committed.is_file(), "run python tools/intro_figure.py"
    fresh = tmp_path / "intro.png"
    run = subprocess.run([sys.executable, str(REPO / "tools" / "intro_figure.py"), str(fresh)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    if run.returncode and "MNIST" in run.stderr and "FileNotFoundError" in run.stderr:
        pytest.skip("MNIST is not available offline here")
    assert run.returncode == 0, run.stderr[-2000:]
    a = np.asarray(Image.open(committed).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(fresh).convert("RGB"), dtype=float)
    assert a.shape == b.shape, "the intro picture changed size: run python tools/intro_figure.py"
    assert np.abs(a - b).mean() < 2.0, "the intro picture is stale: run python tools/intro_figure.py"


def test_long_network_breaks_onto_a_second_row():
    one = diagrams.walled_network_diagram(ToyCNN(V=4, wall=Wall.bottom(3)), (1, 28, 28))
    two = diagrams.walled_network_diagram(ToyCNN(V=4, wall=Wall.bottom(3)), (1, 28, 28),
                                          break_after=2)
    height = lambda fig: abs(fig.axes[0].get_ylim()[1] - fig.axes[0].get_ylim()[0])  # noqa: E731
    assert height(two) > 1.8 * height(one)
    assert fig_texts_equal(one, two)


def fig_texts_equal(a, b) -> bool:
    return sorted(t.get_text() for t in a.axes[0].texts) == sorted(t.get_text() for t in b.axes[0].texts)


def test_gradient_routing_draws_d_rho_and_their_product():
    torch.manual_seed(0)
    toy = ToyCNN(V=4, k=5, k_pool=2, hidden=(8,), wall=Wall.bottom(6), tau=1.0)
    x = torch.rand(1, 1, 28, 28)
    fig = viz.gradient_routing(toy, x[0], channel=2, target=1)
    maps = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(maps) == 4 and len(fig.axes) == 8            # four maps, four colourbars
    D, rho, grad = (ax.images[0].get_array() for ax in maps[1:])
    assert D.sum() == 12 * 12                               # one entry per pooling window
    assert np.all(rho[12:] == 0) and np.all(grad[12:] == 0)  # behind the wall: nothing
    assert np.allclose(grad, D * rho)
    from camwalls_lib import cams
    autograd = cams.capture(toy, x, target=1).dB[0, 2]
    assert np.allclose(grad, autograd.numpy(), atol=1e-5)
    assert "α" in fig._suptitle.get_text() or "alpha" in fig._suptitle.get_text()


def test_gradient_routing_refuses_what_it_cannot_draw():
    with pytest.raises(TypeError, match="walled ToyCNN"):
        viz.gradient_routing(ToyCNN(V=2), torch.rand(1, 28, 28))
    with pytest.raises(TypeError, match="walled ToyCNN"):
        viz.gradient_routing(torch.nn.Linear(2, 2), torch.rand(1, 28, 28))
    toy = ToyCNN(V=2, wall=Wall.bottom(6))
    with pytest.raises(ValueError, match="one input"):
        viz.gradient_routing(toy, torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="channel"):
        viz.gradient_routing(toy, torch.rand(1, 28, 28), channel=5)


def test_row_profiles_draw_one_line_per_map_with_the_dead_rows_tinted():
    images, maps, zone = _maps(n_images=2, n_methods=2, side=8)
    maps["constant"] = torch.full((2, 8, 8), 0.5)
    dark = torch.rand(2, 8, 8)
    dark[:, 4:] = 0
    maps["dark behind the wall"] = dark
    fig = viz.row_profiles(maps, zone, index=1)
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    labels = ax.get_legend_handles_labels()[1]
    assert "constant (dead / visible: 1.00)" in labels
    assert "dark behind the wall (dead / visible: 0.00)" in labels
    assert np.allclose(ax.lines[2].get_ydata(), 0.5)
    assert any(np.allclose(p.get_facecolor()[:3], viz.DEAD_RED) for p in ax.patches)


def test_dead_to_visible_is_the_ratio_of_the_two_means():
    zone = torch.zeros(4, 4, dtype=torch.bool)
    zone[3:] = True
    m = torch.ones(4, 4)
    m[3:] = 0.25
    assert viz.dead_to_visible(m, zone) == pytest.approx(0.25)
    assert np.isnan(viz.dead_to_visible(torch.where(zone, 1.0, 0.0), zone))


def test_row_profiles_and_dead_to_visible_refuse_bad_input_by_name():
    from camwalls_lib.errors import CamwallsError
    images, maps, zone = _maps(n_images=2, n_methods=1, side=8)
    bad = [(lambda: viz.row_profiles({}, zone), "maps"),
           (lambda: viz.row_profiles([torch.rand(2, 8, 8)], zone), "maps"),
           (lambda: viz.row_profiles(maps, zone.float()), "dead_zone"),
           (lambda: viz.row_profiles(maps, torch.ones(8, 8, dtype=torch.bool)), "dead_zone"),
           (lambda: viz.row_profiles({"m": torch.rand(2, 6, 8)}, zone), "maps"),
           (lambda: viz.row_profiles({"m": torch.rand(8, 8)}, zone), "maps"),
           (lambda: viz.row_profiles(maps, zone, index=2), "index"),
           (lambda: viz.row_profiles(maps, zone, index=True), "index"),
           (lambda: viz.row_profiles({"m": torch.full((2, 8, 8), float("nan"))}, zone), "maps"),
           (lambda: viz.dead_to_visible(torch.rand(2, 8, 8), zone), "saliency"),
           (lambda: viz.dead_to_visible(torch.rand(8, 8) > 0.5, zone), "saliency"),
           (lambda: viz.dead_to_visible([[0.0]], zone), "saliency"),
           (lambda: viz.dead_to_visible(torch.rand(8, 8), zone[None]), "dead_zone")]
    for call, name in bad:
        with pytest.raises(CamwallsError, match=name):
            call()
