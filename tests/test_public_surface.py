"""Every public name, called with generated bad values (issue 21).

The suite walks the ``__all__`` of every module of ``camwalls_lib`` and holds, for each public
callable, either a :class:`Case` -- good arguments plus, for some of them, what kind of bad
value to generate (:data:`BAD`, hypothesis strategies: wrong types, NaN/inf, empty, negative,
huge, wrong shapes) -- or a stated exclusion with its reason (:data:`EXCLUDED`). For each bad
value the call must either raise a library error (:class:`camwalls_lib.errors.CamwallsError`)
whose message names the argument, or return a result that passes the case's own
postcondition. Command lines (:data:`CLIS`) get generated bad text for every numeric flag and
must stop while parsing, before any work. A public name added later with neither a case nor
an exclusion fails :func:`test_every_public_name_has_a_case_or_a_reason`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import camwalls_lib
from camwalls_lib import cams, helpers, peers, validate
from camwalls_lib.cams.capture import forward as capture_forward
from camwalls_lib.cams import vit_explain
from camwalls_lib.data import fashion, paper_assets, photos
from camwalls_lib.errors import CamwallsError
from camwalls_lib.metrics import baseline_mu, faithfulness, mass_share, mu, wallcheck, walltest
from camwalls_lib.networks import vit as vit_net
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.experiments import fashion_vgg, vit_walls
from camwalls_lib.training.batches import TensorLoader
from camwalls_lib.walls import deadzone, wall as wall_mod
from camwalls_lib.walltest import standard as wt_standard

torch.manual_seed(0)
MODEL = ToyCNN(image_size=16, V=4, k=3, k_pool=2, wall=wall_mod.Wall.bottom(3), bias=True,
               num_classes=4).eval()
X = torch.rand(2, 1, 16, 16)
ZONE = deadzone.dead_zone(MODEL, (1, 16, 16))
MAPS = torch.rand(2, 16, 16)
VIT = vit_net.WalledViT(image_size=8, patch=2, dim=8, depth=1, heads=2,
                        wall=wall_mod.Wall.bottom(1)).eval()
XV = torch.rand(2, 1, 8, 8)
ZONE_V = deadzone.dead_zone(VIT, (1, 8, 8))
HIRES = walltest.camwalls_explainer("hirescam")
NAN, INF = float("nan"), float("inf")


# ----------------------------------------------------------------------------- bad values

def _odd_tensor(kind: str, shape=(2, 1, 16, 16)) -> torch.Tensor:
    t = torch.rand(*shape)
    return {"empty": t[:0], "nan": t.index_fill(0, torch.tensor([1]), NAN),
            "inf": t.index_fill(0, torch.tensor([0]), INF), "uint8": (t * 255).to(torch.uint8),
            "long": t.long(), "bool": t > 0.5, "complex": t.to(torch.complex64)}[kind]


NOT_A_TENSOR = st.sampled_from([None, "x", 3, 2.5, [[0.0, 1.0]], {"x": 1}, np.zeros((2, 1, 4, 4))])
WRONG_RANK = st.lists(st.integers(1, 5), min_size=0, max_size=3).map(lambda s: torch.rand(tuple(s)))

BAD: dict[str, st.SearchStrategy] = {
    "images": st.one_of(NOT_A_TENSOR, WRONG_RANK,
                        st.sampled_from(["empty", "nan", "inf", "uint8", "long", "bool"])
                        .map(_odd_tensor)),
    "maps": st.one_of(NOT_A_TENSOR, st.sampled_from(["empty", "nan", "inf", "bool", "complex"])
                      .map(lambda k: _odd_tensor(k, (2, 16, 16))),
                      st.integers(0, 1).map(lambda d: torch.rand((16,) * d))),
    "shape": st.one_of(NOT_A_TENSOR, st.sampled_from(["empty", "bool", "complex"])
                       .map(lambda k: _odd_tensor(k, (2, 16, 16))),
                       st.integers(0, 1).map(lambda d: torch.rand((16,) * d))),
    "count": st.one_of(st.integers(-10 ** 6, 0), st.floats(allow_nan=True),
                       st.sampled_from(["3", None, True, [3], 3.0])),
    "positive": st.one_of(st.floats(max_value=0), st.just(INF), st.just(NAN),
                          st.sampled_from(["3", None, True, [3]])),
    "fraction": st.one_of(st.floats().filter(lambda v: not 0 <= v < 1),
                          st.sampled_from(["0.1", None, True, [0.1]])),
    "target": st.one_of(st.floats(0.1, 3.9).filter(lambda v: v != int(v)),
                        st.integers(max_value=-1), st.integers(min_value=4, max_value=10 ** 12),
                        st.sampled_from(["cat", True, [0.5, 1.5], [0, 1, 2], torch.tensor([True, False])])),
    "mask": st.one_of(NOT_A_TENSOR, st.sampled_from([ZONE.float(), ZONE[:8], ZONE[None]])),
    "zone": st.one_of(NOT_A_TENSOR.filter(lambda v: v is not None), st.sampled_from(
        [torch.zeros(16, 16, dtype=torch.bool), torch.ones(16, 16, dtype=torch.bool),
         ZONE.float(), ZONE[:8], ZONE.T.contiguous(), ZONE[None]])),
    "model": st.sampled_from([None, "vgg", 3, lambda x: x, {"model": 1}]),
    "name": st.one_of(st.text(max_size=12).filter(
        lambda s: s.strip().casefold() not in {m.casefold() for m in (*cams.METHODS, *vit_explain.EXPLAINERS)}),
        st.sampled_from([None, 3, b"gradcam"])),
    "few": st.sampled_from([[], (), 3, None]),
    "names": st.sampled_from([[], (), 3, None, ["gradcam_typo"], [3]]),
    "flag": st.sampled_from(["yes", "unwalled", "walled", 0, 1, None, 2.0]),
    "wall": st.sampled_from(["bottom", 3, (1, 2), {"rows": (0, 1)}]),
    "size": st.one_of(st.integers(-5, 0), st.sampled_from([2.5, "8", None, True, (8,), (8, 8, 8), (0, 8)])),
    "relative": st.one_of(st.sampled_from(["", ".", "/etc/passwd", "../x", "a/../../b", 3, None]),
                          st.text(min_size=1, max_size=5).map(lambda s: f"../{s}")),
    "layer": st.sampled_from([3, 2.5, "no.such.layer", ["features"], torch.nn.Linear(2, 2)]),
    "device": st.sampled_from(["gpu", 3.5, "cuda:x", {}, [0], "cpu:-1:2"]),
    "span": st.sampled_from([3, "0:1", (0.5, 1), (True, 1), [0, 1], (0, 1, 2)]),
    "path": st.sampled_from([3, 2.5, [], {}]),
    "library": st.one_of(st.text(max_size=10).filter(lambda s: s.casefold() not in peers.LIBRARIES),
                         st.sampled_from([None, 3])),
}


@dataclass
class Case:
    """How to call one public name: ``fn(**good())`` works; each ``bad[param]`` (a key of
    :data:`BAD`) replaces that argument. ``says``: what the error must name (default: the
    parameter's name); ``post(result)``: True if a returned result is right after all."""

    fn: Callable
    good: Callable[[], dict]
    bad: dict[str, str] = field(default_factory=dict)
    says: dict[str, str] = field(default_factory=dict)
    post: Callable | None = None


def _in_eval_mode(model):
    with helpers.eval_mode(model):
        return model.training is False


REPORT = walltest.wall_test(HIRES, MODEL, X)


CASES: dict[str, Case] = {
    # validate: the checks themselves; the argument's name is what the caller passes
    **{f"camwalls_lib.validate.{f.__name__}": Case(f, good, {"value": kind}, {"value": "arg"})
       for f, good, kind in [
           (validate.positive_int, lambda: {"value": 3, "name": "arg"}, "count"),
           (validate.positive_number, lambda: {"value": 0.5, "name": "arg"}, "positive"),
           (validate.boolean, lambda: {"value": True, "name": "arg"}, "flag"),
           (validate.fraction, lambda: {"value": 0.1, "name": "arg"}, "fraction"),
           (validate.choice, lambda: {"value": "gradcam", "name": "arg", "options": cams.METHODS}, "name"),
           (validate.names, lambda: {"value": ["gradcam"], "name": "arg"}, "few"),
           (validate.real_maps, lambda: {"value": MAPS, "name": "arg"}, "shape"),
           (validate.module, lambda: {"value": MODEL, "name": "arg"}, "model"),
       ]},
    "camwalls_lib.validate.tensor": Case(validate.tensor, lambda: {"value": X, "name": "arg"},
                                         {"value": "model"}, {"value": "arg"}),
    "camwalls_lib.validate.images": Case(validate.images, lambda: {"x": X, "name": "arg"},
                                         {"x": "images"}, {"x": "arg"}),
    "camwalls_lib.validate.target": Case(validate.target, lambda: {"value": 1, "n": 2, "num_classes": 4},
                                         {"value": "target"}, {"value": "target"}),
    # cams
    "camwalls_lib.cams.methods.compute": Case(
        cams.compute, lambda: {"method": "gradcam", "model": MODEL, "x": X, "target": None},
        {"method": "name", "model": "model", "x": "images", "target": "target"},
        {"x": r"\bx\b|images", "method": "method"}),
    "camwalls_lib.cams.methods.saliency": Case(
        cams.saliency, lambda: {"method": "hirescam", "model": MODEL, "x": X},
        {"method": "name", "x": "images", "model": "model"}, {"x": r"\bx\b|images"}),
    "camwalls_lib.cams.methods.method_name": Case(cams.method_name, lambda: {"method": "gradcam"},
                                                  {"method": "name"}),
    "camwalls_lib.cams.capture.capture": Case(
        cams.capture, lambda: {"model": MODEL, "x": X}, {"model": "model", "x": "images",
                                                         "target": "target"},
        {"x": r"\bx\b|images"}),
    "camwalls_lib.cams.maps.normalize": Case(cams.normalize, lambda: {"maps": MAPS}, {"maps": "maps"}),
    "camwalls_lib.cams.maps.upsample": Case(cams.upsample, lambda: {"maps": MAPS, "size": (32, 32)},
                                            {"maps": "shape", "size": "size"}),
    "camwalls_lib.cams.maps.unit_masks": Case(cams.unit_masks, lambda: {"B": MAPS, "size": (32, 32)},
                                              {"size": "size"}),
    # metrics
    "camwalls_lib.metrics.mu.mu": Case(mu, lambda: {"saliency": MAPS, "dead_zone": ZONE},
                                       {"saliency": "maps", "dead_zone": "mask"}),
    "camwalls_lib.metrics.mu.mass_share": Case(mass_share, lambda: {"saliency": MAPS, "dead_zone": ZONE},
                                               {"saliency": "maps", "dead_zone": "mask"},
                                               {"dead_zone": "zone|saliency"}),
    "camwalls_lib.metrics.mu.baseline_mu": Case(baseline_mu, lambda: {"dead_zone": ZONE},
                                                {"dead_zone": "mask"}, {"dead_zone": "dead_zone|dead zone"},
                                                post=lambda r: isinstance(r, float) and 0 <= r <= 1),
    "camwalls_lib.metrics.walltest.wall_test": Case(
        walltest.wall_test, lambda: {"explainer": HIRES, "model": MODEL, "x": X},
        {"model": "model", "x": "images", "target": "target", "zone": "zone",
         "tolerance": "fraction"}, {"x": r"\bx\b|images", "zone": "zone|dead zone"}),
    "camwalls_lib.metrics.walltest.assert_wall_holds": Case(
        walltest.assert_wall_holds, lambda: {"explainer": HIRES, "model": MODEL, "x": X},
        {"tolerance": "fraction", "x": "images"}, {"x": r"\bx\b|images"}),
    "camwalls_lib.metrics.walltest.scoreboard": Case(
        walltest.scoreboard, lambda: {"explainers": {"h": HIRES}, "model": MODEL, "x": X},
        {"tolerance": "fraction", "x": "images", "model": "model", "explainers": "names"},
        {"x": r"\bx\b|images"}),
    "camwalls_lib.metrics.walltest.camwalls_explainer": Case(
        lambda method: walltest.camwalls_explainer(method)(MODEL, X, torch.tensor([0, 1])),
        lambda: {"method": "gradcam"}, {"method": "name"}),
    # walls
    "camwalls_lib.walls.wall.attention_mask": Case(
        wall_mod.attention_mask, lambda: {"wall": None, "h": 2, "w": 2, "extra_tokens": 1},
        {"h": "count", "w": "count", "wall": "wall"}),
    "camwalls_lib.walls.wall.paper_wall": Case(wall_mod.paper_wall, lambda: {"side": 14},
                                               {"side": "count"}),
    "camwalls_lib.walls.wall.visible_positions": Case(
        wall_mod.visible_positions, lambda: {"wall": None, "hp": 2, "wp": 2}, {"wall": "wall"}),
    "camwalls_lib.walls.deadzone.dead_zone": Case(
        deadzone.dead_zone, lambda: {"model": MODEL, "input_shape": (1, 16, 16)},
        {"model": "model", "input_shape": "size"}),
    # the walled ViT and its explainers
    "camwalls_lib.networks.vit.WalledViT": Case(
        vit_net.WalledViT, lambda: {"image_size": 8, "patch": 2, "dim": 8, "depth": 1, "heads": 2},
        {"image_size": "count", "patch": "count", "dim": "count", "depth": "count",
         "heads": "count", "wall": "wall"}),
    "camwalls_lib.experiments.vit_walls.make_vit": Case(
        vit_walls.make_vit, lambda: {"wall": None, "dim": 8, "depth": 1, "heads": 2},
        {"wall": "wall", "depth": "count"}),
    "camwalls_lib.cams.vit_explain.patch_upsample": Case(
        vit_explain.patch_upsample, lambda: {"maps": MAPS, "patch": 2},
        {"maps": "shape", "patch": "count"}),
    "camwalls_lib.cams.vit_explain.explain": Case(
        vit_explain.explain, lambda: {"method": "rollout", "model": VIT, "x": XV},
        {"method": "name", "target": "target"}),
    "camwalls_lib.cams.vit_explain.leak_table": Case(
        vit_explain.leak_table, lambda: {"model": VIT, "x": XV, "dead_zone": ZONE_V,
                                         "methods": ["rollout"]},
        {"methods": "names", "target": "target"}, {"methods": "method"}),
    # helpers, peers, files
    "camwalls_lib.helpers.cached_file": Case(helpers.cached_file, lambda: {"relative": "mnist/x.pt"},
                                             {"relative": "relative"}),
    "camwalls_lib.helpers.cached_files": Case(helpers.cached_files, lambda: {"relative": "mnist/x.pt"},
                                              {"relative": "relative"}),
    "camwalls_lib.helpers.resolve_target": Case(
        helpers.resolve_target, lambda: {"target": None, "logits": torch.rand(2, 4)},
        {"target": "target"}),
    "camwalls_lib.peers.explainers": Case(peers.explainers, lambda: {"library": "captum"},
                                          {"library": "library"}),
    "camwalls_lib.experiments.fashion_vgg.load_trained": Case(
        fashion_vgg.load_trained, lambda: {"walled": True}, {"walled": "flag"}),
    "camwalls_lib.cams.capture.resolve_layer": Case(
        cams.resolve_layer, lambda: {"model": MODEL, "layer": None},
        {"model": "model", "layer": "layer"}),
    "camwalls_lib.cams.capture.forward": Case(
        capture_forward, lambda: {"model": MODEL, "x": X},
        {"model": "model", "x": "images"}, {"x": r"\bx\b|images"}),
    "camwalls_lib.cams.methods.options_of": Case(cams.options_of, lambda: {"method": "gradcam"},
                                                 {"method": "name"}),
    "camwalls_lib.helpers.resolve_device": Case(helpers.resolve_device, lambda: {"device": "cpu"},
                                                {"device": "device"}),
    "camwalls_lib.helpers.eval_mode": Case(_in_eval_mode, lambda: {"model": MODEL},
                                           {"model": "model"}),
    "camwalls_lib.walls.wall.Wall": Case(wall_mod.Wall, lambda: {"rows": (0, 1)}, {"rows": "span"}),
    "camwalls_lib.walls.wall.theorem3_wall": Case(wall_mod.theorem3_wall, lambda: {"h_prime": 4},
                                                  {"h_prime": "count"}),
    "camwalls_lib.walls.wall.walled_positions": Case(
        wall_mod.walled_positions, lambda: {"h": 4, "w": 4, "k_pool": 2},
        {"h": "count", "k_pool": "count", "wall": "wall"}, {"wall": "wall"}),
    "camwalls_lib.metrics.walltest.agreement": Case(
        walltest.agreement, lambda: {"a": REPORT, "b": REPORT}, {"a": "model", "b": "model"},
        {"a": "WallReport", "b": "WallReport"}),
    "camwalls_lib.experiments.vit_walls.parameter_count": Case(vit_walls.parameter_count,
                                                      lambda: {"model": VIT}, {"model": "model"}),
    "camwalls_lib.data.paper_assets.find_paper_assets": Case(
        paper_assets.find_paper_assets, lambda: {"root": "nowhere"}, {"root": "path"}),
    "camwalls_lib.peers.method_names": Case(
        peers.method_names, lambda: {"methods": ["GradCAM"], "known": ("GradCAM",),
                                     "offered": lambda n: True, "package": "grad-cam"},
        {"methods": "names"}),
    **{f"camwalls_lib.peers.{module}.explainers": Case(
        lambda module=module, **kw: importlib.import_module(f"camwalls_lib.peers.{module}")
        .explainers(**kw), lambda m=method: {"methods": [m]}, {"methods": "names"})
       for module, method in (("grad_cam", "GradCAM"), ("torch_cam", "GradCAM"),
                              ("captum_attr", "LayerGradCam"))},
    "camwalls_lib.metrics.wallcheck.as_maps": Case(
        wallcheck.as_maps, lambda: {"out": MAPS, "x": X, "name": "spy"}, {"out": "maps"},
        {"out": "spy"}, post=lambda r: r.shape == (2, 16, 16) and bool((r >= 0).all())),
    "camwalls_lib.metrics.wallcheck.check_zone": Case(
        wallcheck.check_zone, lambda: {"model": MODEL, "x": X, "zone": ZONE}, {"zone": "zone"},
        {"zone": "zone|dead zone"}),
    "camwalls_lib.metrics.wallcheck.check_batch": Case(
        wallcheck.check_batch, lambda: {"x": X, "model": MODEL},
        {"x": "images", "model": "model"}, {"x": r"\bx\b|images"}),
    "camwalls_lib.metrics.faithfulness.paired_difference": Case(
        faithfulness.paired_difference, lambda: {"a": torch.rand(4), "b": torch.rand(4)},
        {"a": "shape", "b": "shape"}, {"a": r"\ba\b", "b": r"\bb\b"}),
    "camwalls_lib.metrics.faithfulness.gaussian_blur": Case(
        faithfulness.gaussian_blur, lambda: {"x": X, "sigma": 1.0},
        {"x": "images", "sigma": "positive"}, {"x": r"\bx\b|images"}),
    "camwalls_lib.walls.deadzone.dead_rows": Case(
        deadzone.dead_rows, lambda: {"zone": ZONE}, {"zone": "mask"},
        post=lambda r: r is None or (isinstance(r, tuple) and 0 <= r[0] <= r[1])),
    "camwalls_lib.walls.deadzone.receptive_field": Case(
        deadzone.receptive_field, lambda: {"features": MODEL.features}, {"features": "model"}),
    "camwalls_lib.walls.wall.wall_is_exact": Case(wall_mod.wall_is_exact, lambda: {"model": MODEL},
                                                  {"model": "model"}),
    "camwalls_lib.data.fashion.upsample": Case(
        fashion.upsample, lambda: {"x": torch.zeros(2, 28, 28, dtype=torch.uint8), "size": 32},
        {"x": "images", "size": "count"}, {"x": r"\bx\b"}),
    "camwalls_lib.data.fashion.to_vgg_input": Case(
        fashion.to_vgg_input, lambda: {"x": torch.zeros(2, 28, 28, dtype=torch.uint8), "size": 32},
        {"size": "count"}),
    "camwalls_lib.data.photos.photo_name": Case(
        photos.photo_name, lambda: {"key": "chelsea"}, {"key": "name"},
        post=lambda r: r in photos.PHOTO_NAMES.values()),
    "camwalls_lib.networks.models.ToyCNN": Case(
        ToyCNN, lambda: {"image_size": 16, "V": 4, "k": 3, "k_pool": 2},
        {"image_size": "count", "V": "count", "k": "count", "k_pool": "count"}),
    "camwalls_lib.training.batches.TensorLoader": Case(
        TensorLoader, lambda: {"x": X, "y": torch.tensor([0, 1]), "batch_size": 1},
        {"batch_size": "count"}),
    "camwalls_lib.metrics.walltest.to_markdown": Case(
        walltest.to_markdown, lambda: {"results": [REPORT]}, {"results": "model"}),
    "camwalls_lib.validate.output_file": Case(
        validate.output_file, lambda: {"path": "out.csv", "what": "the table"}, {"path": "path"},
        {"path": "the table"}),
    "camwalls_lib.validate.output_dir": Case(
        validate.output_dir, lambda: {"path": "out", "what": "the folder"}, {"path": "path"},
        {"path": "the folder"}),
    "camwalls_lib.walltest.standard.check_n": Case(
        wt_standard.check_n, lambda: {"n": 3}, {"n": "count"}, {"n": r"\bn\b"}),
    "camwalls_lib.peers.checked": Case(
        lambda model, x, target: peers.checked(HIRES)(model, x, target),
        lambda: {"model": MODEL, "x": X, "target": None},
        {"model": "model", "x": "images", "target": "target"}, {"x": r"\bx\b|images"},
        post=lambda r: r.shape[0] == 2),
}
"""Public name -> how to call it with bad values."""

EXCLUDED: dict[str, str] = {}
"""Public name -> why it has no generated bad-input case here."""


def _exclude(reason: str, *names: str) -> None:
    for name in names:
        EXCLUDED[f"camwalls_lib.{name}"] = reason


_exclude("an exception class: raised, never called with user input",
         "errors.CamwallsError", "errors.BadValue", "errors.BadType", "errors.CorruptFile",
         "errors.UnsafePath", "errors.ExplainerMisbehaved")
_exclude("reader-facing exercise feedback: takes a student's answer and returns a verdict "
         "instead of raising (tests/test_solutions.py, tests/test_bad_inputs.py)",
         *(f"book.exercises.{n}" for n in (
             "verdict", "check_dead_rows", "check_dead_zone_rows", "check_vgg_dead_zone",
             "check_global", "check_trusted_methods", "check_zero_leak_rule", "check_uniform_mu",
             "check_blind_explainers", "check_cam_score", "check_softmax_alpha",
             "check_prop2_l2", "check_alpha_variance", "check_cantelli")),
         *(f"book.answers.{n}" for n in ("read_answer", "same_expression", "cam_symbols",
                                         "softmax_symbols", "prop2_symbols", "theorem3_symbols",
                                         "theorem3_points")))
_exclude("drawing for the book's pages, called by chapters with the library's own results "
         "(tests/test_figures.py, tests/test_explorer.py; book/ is owned elsewhere)",
         *(f"book.figures.{n}" for n in ("show_image", "shade_dead_zone", "show_saliency",
                                         "method_grid", "saliency_colorbar", "add_colorbar",
                                         "map_row", "gradient_routing", "row_profiles",
                                         "dead_to_visible")),
         *(f"book.diagrams.{n}" for n in ("Box", "feature_boxes", "walled_network_diagram",
                                          "toy_cnn_diagram", "masked_vgg_diagram",
                                          "claim_composites", "claim_figure")),
         "book.fashion_plots.training_curves", "book.fashion_plots.composites",
         "book.fashion_plots.table1_bars", "book.typeset.latex_lines", "book.typeset.show",
         "book.explorer.WallExplorer",
         "book.frames.WallLab", "book.frames.Frame", "book.frames.band_wall")
_exclude("symbolic derivations and theory checks without user-supplied tensors, or whose "
         "arguments are sympy objects (tests/test_theory.py, tests/test_theorem3.py)",
         *(f"theory.symbolic.{n}" for n in (
             "cam_identity", "gradcam_alpha_gap_linear", "SymbolicCNN", "symbolic_cnn",
             "sympy_alpha", "prop2_alpha", "prop2_agrees", "window_sums", "lemma9", "lemma10",
             "lemma11", "appendix_d", "exact_expectation")),
         *(f"theory.prop2.{n}" for n in ("pooling_indicators", "path_sums",
                                         "closed_form_gradient", "closed_form_alpha")),
         *(f"theory.theorem3.{n}" for n in ("patch_norms", "theorem3_bound",
                                            "sqrt_mixture_mean", "expected_gradcam",
                                            "bound_factors", "gradcam_batch",
                                            "sample_walled_cnns", "monte_carlo_gradcam",
                                            "bound_holds")),
         *(f"theory.vit.{n}" for n in ("GradCAMParts", "gradcam_parts", "layernorm_identity",
                                       "constant_weights_map")))
_exclude("trains, downloads or reads data sets: minutes per call, bad inputs covered by "
         "explicit cases (tests/test_bad_inputs.py, tests/test_loads_checked.py, "
         "tests/test_paper_assets.py, tests/test_data.py)",
         "experiments.fashion_vgg.train_one", "experiments.fashion_vgg.train_pair",
         "experiments.mnist_walls.train_walled_mnist", "experiments.mnist_walls.load_split", "experiments.imagenet_vgg.train",
         "experiments.imagenet_vgg.loaders", "experiments.imagenet_vgg.image_folder", "experiments.imagenet_vgg.make_synthetic_folder",
         "training.loop.fit", "training.accuracy.evaluate", "experiments.vit_walls.train_walled_vit",
         "experiments.fashion_table1.compute_table1",
         "experiments.fashion_table1.same_class_stackmix", "experiments.fashion_table1.load_table1",
         "data.paper_assets.fetch_paper_assets", "experiments.authors_table1.paper_table1",
         "data.fashion.load_fashion", "data.mnist.load_mnist", "data.stackmix.build_stackmix",
         "data.stackmix.photo_stackmix", "data.photos.load_photos",
         "networks.efficientnet.load_efficientnet_lite0",
         "networks.efficientnet.walled_efficientnet_lite0", "experiments.efficientnet_depth.depth_sweep",
         "experiments.efficientnet_depth.depth_leak", "metrics.leak.leak_table",
         "bench.setup", "bench.measure", "cams.methods.compute_many", "cams.methods.saliency_many")

_exclude("a dataclass or record type: built by the library's own functions from checked values, "
         "not by readers from raw input",
         "bench.Peak", "cams.capture.Capture", "cams.methods.Method", "cams.perturb.Split",
         "data.mnist.Digits", "data.paper_assets.PaperAssets", "data.stacked.Stacked",
         "data.stackmix.StackSet", "metrics.leak.LeakTable", "metrics.walltest.WallReport",
         "experiments.efficientnet_depth.WallGeometry", "experiments.efficientnet_depth.DepthLeak",
         "training.checkpoint.History", "experiments.fashion_vgg.FashionRecipe",
         "experiments.mnist_walls.Trained", "experiments.imagenet_vgg.Recipe")
_exclude("takes no argument, so there is no bad value to give",
         "helpers.cache_dir", "helpers.choose_device", "data.paper_assets.default_dest",
         "experiments.vit_walls.default_wall", "networks.efficientnet.imagenet_classes",
         "data.mnist.mnist_dirs", "data.mnist.data_dirs", "data.fashion.fashion_dirs",
         "training.checkpoint.rng_state", "training.checkpoint.DeferredInterrupt")
_exclude("a CAM method's inner step (weighting rule, masked or perturbed passes, Poly-CAM's "
         "parts): it receives a Capture or tensors that compute()/capture() checked; its bad "
         "inputs are those of compute, covered above and in tests/test_cams.py",
         "cams.maps.combine", "cams.masked.masked_scores", "cams.masked.shared_passes",
         "cams.masked.channels_last", "cams.perturb.target_scores", "cams.perturb.first_equal",
         "cams.perturb.split_at", "cams.perturb.ablation_scores", "cams.polycam.polycam",
         "cams.polycam.poly_weights", "cams.polycam.lnorm",
         *(f"cams.rules.{n}" for n in ("cam_weights", "gradcam_weights", "gradcampp_weights",
                                       "xgradcam_weights", "hirescam_weights",
                                       "layercam_weights", "scorecam_weights",
                                       "ablationcam_weights", "eigencam_weights", "centred",
                                       "opticam_weights")),
         "cams.vit_explain.class_attention", "cams.vit_explain.rollout",
         "cams.vit_explain.chefer", "cams.vit_explain.output_token_gradient",
         "cams.vit_explain.attention_weights", "cams.vit_explain.leak_markdown",
         "cams.vit_explain.saliency", "cams.methods.saliency_many")
_exclude("a network layer or model class: its constructor's sizes are checked by explicit "
         "cases (tests/test_bad_inputs.py, tests/test_models_maps_guard.py); generated cases "
         "are left for a later pass",
         "networks.vit.PatchGrid", "networks.vit.Attention", "networks.vit.Block",
         "networks.models.WalledNet", "networks.models.GAPNet",
         "networks.models.MaskedVGG", "networks.models.masked_vgg16",
         "networks.efficientnet.Normalize", "networks.efficientnet.WalledEfficientNet",
         "networks.efficientnet.HeadWalledBackbone", "networks.efficientnet.top_k",
         "experiments.efficientnet_depth.smallest_wall", "walls.wall.FeatureWall",
         "walls.wall.WalledLinear", "experiments.fashion_vgg.unwalled_vgg16",
         "experiments.fashion_vgg.build", "experiments.mnist_walls.make_model", "experiments.mnist_walls.default_wall",
         "experiments.imagenet_vgg.build_model")
_exclude("reads or writes files: bad paths and damaged files have explicit cases "
         "(tests/test_bad_inputs.py, tests/test_loads_checked.py, tests/test_vgg.py); "
         "generated values would only make paths",
         "networks.vgg.load_paper_vgg", "networks.vgg.save_paper_vgg",
         "networks.vgg.paper_to_library", "networks.vgg.library_to_paper",
         "training.checkpoint.save_checkpoint", "training.checkpoint.load_checkpoint",
         "training.checkpoint.set_rng_state", "validate.explicit_dir", "validate.cache_folder",
         "validate.atomic_write", "validate.atomic_save", "validate.atomic_write_text", "validate.atomic_write_bytes",
         "validate.load_tensors", "validate.sealed", "validate.unsealed", "validate.checksum",
         "data.mnist.load_idx", "data.mnist.find_idx", "data.mnist.read_idx",
         "data.stackmix.load_stack_folder", "data.stackmix.class_folders",
         "metrics.leak.fingerprint", "peers.require", "experiments.fashion_table1.load_earlier")
_exclude("data preparation on tensors the data loaders made (tests/test_data.py, "
         "tests/test_stacked.py, tests/test_stackmix.py, tests/test_photos.py); generated "
         "cases are left for a later pass",
         "data.fashion.normalize", "data.photos.stack_pair", "data.photos.shift_down",
         "data.photos.photo_views", "data.photos.square_crop", "data.photos.mixed_composites",
         "data.photos.same_photo_composites", "data.stacked.stack_digits", "data.stacked.bands",
         "data.stackmix.preprocess", "data.stackmix.normalize_imagenet",
         "training.batches.to_device",
         "training.batches.amp_dtype", "training.batches.autocast",
         "training.batches.loader_length", "training.batches.epoch_batches")
_exclude("a metric or table of the book's figures whose inputs come from the library "
         "(tests/test_metrics.py, tests/test_leak.py, tests/test_fashion_vgg.py); generated "
         "cases are left for a later pass",
         "metrics.faithfulness.insertion_deletion", "metrics.faithfulness.confidence_change",
         "experiments.fashion_table1.same_logits",
         "experiments.fashion_table1.summary", "experiments.fashion_table1.uniform_mu",
         "metrics.leak.signed_map", "metrics.leak.leak_birth", "metrics.leak.upsampling_margin", "metrics.walltest.agreement_markdown", "experiments.mnist_walls.randomize_dead_zone",
         "experiments.mnist_walls.invariance_gap", "walls.deadzone.dead_cells",
         "walls.wall.walled_weights", "walls.wall.effective_weight",
         "walls.wall.require_walled_state", "validate.finite", "validate.model_dtype",
         "helpers.hooked", "metrics.wallcheck.targets")
_exclude("a result type (a NamedTuple of three numbers) that only paired_difference builds; "
         "paired_difference itself has a case", "metrics.faithfulness.PairedDifference")
_exclude("compares the model before and after an explainer ran; exercised by "
         "tests/test_walltest_guard.py with explainers that change the model",
         "metrics.wallcheck.fingerprint", "metrics.wallcheck.check_unchanged")
_exclude("the book's own formatting and pages: their bad inputs are tested by name in "
         "tests/test_report.py, tests/test_explorer_page.py and tests/test_assignments.py",
         "readable.num", "readable.sci", "readable.pct",
         "book.report.mu_text",
         "book.report.architecture_table", "book.explorer_page.explorer_html",
         "book.explorer_page.frame_key", "book.sweep.Sweep", "book.exercises.assert_correct")
_exclude("process-group plumbing, meaningful only inside a torchrun world: exercised by "
         "tests/test_distributed.py with two gloo processes",
         *(f"distributed.{n}" for n in ("World", "current", "setup", "teardown", "sum_numbers",
                                         "any_rank", "broadcast_object", "gather_objects",
                                         "barrier")),
         "training.batches.shards")
_exclude("takes any model and refuses one without attention_layers and grid_shape with a "
         "library error (tests/test_vit.py); no numeric argument to generate",
         "cams.vit_explain.attention_layers")
_exclude("the wall-test benchmark's loaders, recipes and tables (added with issue 24): their "
         "bad inputs are tested by name in tests/test_walltest_benchmark.py, "
         "tests/test_walltest_board.py and tests/test_resnet_walls.py; generated cases are "
         "left for a later pass",
         *(f"experiments.resnet_walls.{n}" for n in ("name_of", "train", "save", "load", "main")),
         "networks.resnet.ResBlock", "networks.resnet.WalledResNet",
         *(f"walltest.board.{n}" for n in ("explainers_of", "compute_network", "merge",
                                           "compute_board", "load_board", "to_html")),
         "walltest.examples.gradient_x_input", "walltest.examples.smoothed_gradient_x_input",
         "walltest.predictions.predicted_pass", "walltest.predictions.refuted",
         "walltest.rigor.conditions", "walltest.rigor.compute_rigor", "walltest.rigor.load_rigor",
         "walltest.run.run", "walltest.run.assert_wall_holds", "walltest.run.load_spec",
         "walltest.run.as_explainers", "walltest.standard.Case", "walltest.standard.load",
         "walltest.standard.load_network", "walltest.standard.build_inputs",
         "walltest.stats.bootstrap_ci", "walltest.stats.summarize")
_exclude("optional peer adapters (zennit, shap, quantus, more captum): method names and counts "
         "are checked in tests/test_peers_more.py; they need the optional package installed",
         "peers.captum_more.explainers", "peers.shap_values.explainers",
         "peers.zennit_lrp.explainers", "peers.quantus_metric.WallMass",
         "peers.quantus_metric.cross_check", "peers.superpixels.grid",
         "peers.superpixels.straddling")
_exclude("an argparse type: every command line using it is covered by the generated "
         "command-line cases below (CLIS)", "validate.count_arg", "validate.positive_arg")
_exclude("an argparse type for paths (a folder for a file, a missing parent folder): checked "
         "by name in tests/test_walltest_benchmark.py (test_command_bad_input) and "
         "tests/test_bad_inputs.py (test_path_arguments_are_refused_while_parsing)",
         "validate.file_arg", "validate.dir_arg", "validate.existing_dir_arg")
_exclude("a context manager around a command line's work (a library error becomes "
         "parser.error): tested by name in tests/test_bad_inputs.py "
         "(test_usage_errors_turn_a_refusal_into_one_line_and_status_2)",
         "validate.usage_errors")


def _public_names() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(camwalls_lib.__path__, "camwalls_lib."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if callable(obj) and getattr(obj, "__module__", None) == info.name:
                names.append(f"{info.name}.{name}")
    return names


def test_every_public_name_has_a_case_or_a_reason():
    """A public function added later without a bad-input case (or a reason) fails here."""
    unregistered = [n for n in _public_names() if n not in CASES and n not in EXCLUDED
                    and n not in CLIS]
    stale = [n for n in (*CASES, *EXCLUDED, *CLIS) if n not in set(_public_names())]
    assert not unregistered, ("public names without a bad-input case in tests/"
                              f"test_public_surface.py (add a Case or a reason): {unregistered}")
    assert not stale, f"registry entries that are no longer public names: {stale}"
    assert all(len(reason) > 20 for reason in EXCLUDED.values())


_ATTACKS = [(name, param) for name, case in CASES.items() for param in case.bad]


@pytest.mark.parametrize("name, param", _ATTACKS, ids=[f"{n.rsplit('.', 1)[-1]}-{p}" for n, p in _ATTACKS])
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_bad_values_get_a_library_error_naming_the_argument(name, param, data, tmp_path_factory,
                                                            monkeypatch):
    monkeypatch.setenv("CAMWALLS_CACHE", str(tmp_path_factory.mktemp("cache")))
    case = CASES[name]
    value = data.draw(BAD[case.bad[param]], label=param)
    kwargs = {**case.good(), param: value}
    try:
        result = case.fn(**kwargs)
    except CamwallsError as err:
        says = case.says.get(param, re.escape(param))
        assert re.search(says, str(err), re.I), (
            f"{name}({param}={value!r:.80}) raised {type(err).__name__} without naming "
            f"{param}: {err}")
        return
    except Exception as err:  # noqa: BLE001 -- the failure this suite exists to find
        pytest.fail(f"{name}({param}={value!r:.80}) raised {type(err).__name__}, not a "
                    f"library error: {str(err)[:300]}")
    assert case.post is not None and case.post(result), (
        f"{name}({param}={value!r:.80}) returned {type(result).__name__} without an error: "
        "silently accepted a bad value")


# ----------------------------------------------------------------------------- command lines

BAD_TEXT = {
    "count": st.one_of(st.integers(max_value=0).map(str),
                       st.sampled_from(["1.5", "x", "", "nan", "1e3", "three"])),
    "positive": st.one_of(st.floats(max_value=0, allow_nan=False).map(str),
                          st.sampled_from(["nan", "inf", "-inf", "x", ""])),
}

CLIS: dict[str, tuple] = {
    "camwalls_lib.experiments.fashion_vgg.main": (
        "camwalls_lib.experiments.fashion_vgg", ["--out", "{tmp}/out"],
        {"--train": "count", "--test": "count", "--epochs": "count", "--width": "positive",
         "--lr": "positive", "--batch": "count"}, ["train_pair"]),
    "camwalls_lib.experiments.imagenet_vgg.main": (
        "camwalls_lib.experiments.imagenet_vgg", ["train", "--data", "{tmp}", "--out", "{tmp}/out"],
        {"--epochs": "count", "--batch-size": "count"}, ["train"]),
    "camwalls_lib.experiments.fashion_table1.main": (
        "camwalls_lib.experiments.fashion_table1", ["--out", "{tmp}/out"],
        {"--n": "count", "--n-perturbation": "count"}, ["compute_table1", "load_fashion"]),
    "camwalls_lib.bench.main": (
        "camwalls_lib.bench", ["--tiny", "--device", "cpu"],
        {"--width": "positive", "--images": "count", "--batch-size": "count",
         "--repeats": "count"}, ["bench"]),
}
"""Public command line -> (module, good arguments, {flag: kind of bad text}, the functions
that do its work: a bad flag must stop it before any of them runs)."""

_FLAGS = [(name, flag) for name, cli in CLIS.items() for flag in cli[2]]


@pytest.mark.parametrize("name, flag", _FLAGS, ids=[f"{n.split('.')[-2]}{f}" for n, f in _FLAGS])
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_bad_flag_stops_a_command_line_before_any_work(name, flag, data, tmp_path_factory,
                                                         monkeypatch, capsys):
    module_name, good, flags, work = CLIS[name]
    module = importlib.import_module(module_name)
    for fn in work:
        monkeypatch.setattr(module, fn, lambda *a, **k: pytest.fail(f"{name} started work"))
    tmp = tmp_path_factory.mktemp("cli")
    text = data.draw(BAD_TEXT[flags[flag]], label=flag)
    with pytest.raises(SystemExit) as exit_:
        module.main([a.format(tmp=tmp) for a in good] + [f"{flag}={text}"])
    assert exit_.value.code == 2
    assert flag in capsys.readouterr().err
    assert list(tmp.iterdir()) == []
