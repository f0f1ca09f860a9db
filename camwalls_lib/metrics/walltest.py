"""The wall test: put any saliency method in front of a wall and read its verdict.

A walled network provably ignores its dead zone (:func:`camwalls_lib.walls.dead_zone`), so a
faithful saliency map puts nothing there. :func:`wall_test` takes *any* explainer -- a
callable ``explainer(model, x, target) -> maps`` returning ``[N, h, w]`` or ``[N, H, W]``
(``[N, 1, ., .]`` is accepted too), as a torch tensor or a numpy array, at any resolution --
and reports per image and overall:

- ``mu``: the paper's Eq. (7), ``||map on the dead zone||_2 / ||map||_2``;
- ``mass``: the share of the map's total mass (l1) that lies in the dead zone;
- ``max_inside`` / ``max_outside``: the largest value in and out of the dead zone;
- a verdict: ``"exactly zero"`` (not one dead pixel is above 0, read from the map itself),
  ``"below tolerance"`` (``0 < mu <= tolerance``; with ``tolerance=0`` any value above 0 in
  the dead zone leaks) or ``"leaks"``; ``"blank"`` for a map that is 0 everywhere (a
  ReLU'd map with no positive evidence), which says nothing about the wall.

Maps below input resolution are upsampled with :func:`camwalls_lib.cams.upsample` (bilinear,
as in the paper); upsampling is part of the method, so an explainer that upsamples its own way
should return input-resolution maps. :func:`assert_wall_holds` is the same test as an
``assert`` for a pytest suite; :func:`camwalls_explainer` turns a method of
:mod:`camwalls_lib.cams` into an explainer, and :func:`scoreboard` tests many explainers at once.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from .. import cams, validate
from ..errors import BadType, BadValue, ExplainerMisbehaved
from ..readable import num
from .mu import baseline_mu, mass_share, mu
from .wallcheck import as_maps, check_batch, check_unchanged, check_zone, fingerprint, targets

__all__ = ["Explainer", "WallReport", "wall_test", "assert_wall_holds", "camwalls_explainer",
           "scoreboard", "to_markdown", "agreement", "agreement_markdown", "VERDICTS"]

Explainer = Callable[[nn.Module, torch.Tensor, torch.Tensor], "torch.Tensor | np.ndarray"]
"""``explainer(model, x [N, C, H, W], target [N] long) -> maps [N, h, w]`` (non-negative)."""

VERDICTS = ("exactly zero", "below tolerance", "leaks")
"""From best to worst; a batch gets the worst verdict of its non-blank images ("blank" if
every map is 0 everywhere)."""


def _shortest_digits(x: float) -> int:
    """The fewest significant digits that write ``x`` back exactly (a tolerance as it was given)."""
    return next((d for d in range(1, 17) if float(f"{x:.{d - 1}e}") == x), 17)


@dataclass
class WallReport:
    """The wall test of one explainer on a batch of ``N`` images.

    ``mu, mass, max_inside, max_outside``: ``[N]`` tensors (see the module docstring);
    ``verdicts``: one of :data:`VERDICTS` or ``"blank"`` per image; ``seconds``: explainer time per image;
    ``maps``: the ``[N, H, W]`` maps that were tested (input resolution); ``baseline``: the
    ``mu`` of a constant map on the same dead zone, the scale every ``mu`` is read on.
    """

    name: str
    library: str
    mu: torch.Tensor
    mass: torch.Tensor
    max_inside: torch.Tensor
    max_outside: torch.Tensor
    verdicts: list[str]
    seconds: float
    tolerance: float
    maps: torch.Tensor = field(repr=False, default=None)
    baseline: float | None = None

    @property
    def verdict(self) -> str:
        """The worst verdict of the non-blank images; "blank" if every map is blank."""
        seen = [v for v in self.verdicts if v != "blank"]
        return max(seen, key=VERDICTS.index) if seen else "blank"

    @property
    def passed(self) -> bool:
        """True if no map leaks and at least one is not blank."""
        return self.verdict in VERDICTS[:2]

    def row(self) -> dict:
        """Overall numbers: worst-case ``mu``, ``mass`` and ``max_inside`` over the images."""
        return {"method": self.name, "library": self.library, "mu": float(self.mu.max()),
                "mass": float(self.mass.max()), "max_inside": float(self.max_inside.max()),
                "max_outside": float(self.max_outside.max()), "verdict": self.verdict,
                "seconds": self.seconds}

    def __str__(self) -> str:
        r = self.row()
        scale = f", a constant map: {num(self.baseline)}" if self.baseline is not None else ""
        tolerance = num(self.tolerance, _shortest_digits(self.tolerance))
        lines = [f"{self.library + ': ' if self.library else ''}{self.name} -> {self.verdict} "
                 f"(worst μ = {num(r['mu'])}{scale}; tolerance {tolerance})"]
        for n, v in enumerate(self.verdicts):
            lines.append(f"  image {n}: μ = {num(float(self.mu[n]))}, mass in dead zone = "
                         f"{num(float(self.mass[n]))}, max inside = {num(float(self.max_inside[n]))}"
                         f" vs outside = {num(float(self.max_outside[n]))}: {v}")
        return "\n".join(lines)


def wall_test(explainer: Explainer, model: nn.Module, x: torch.Tensor, target=None,
              zone: torch.Tensor | None = None, tolerance: float = 1e-6, name: str | None = None,
              library: str = "") -> WallReport:
    """Run ``explainer`` on ``x [N, C, H, W]`` and check its maps against the dead zone.

    ``target``: None (the model's predicted class), an int or ``N`` ints. ``zone``: bool
    ``[H, W]``; default :func:`walls.dead_zone(model, x.shape[1:])`, which needs a walled model
    (``.features`` and ``.wall``). ``tolerance``: the largest ``mu`` still called "below
    tolerance". Returns a :class:`WallReport`.
    """
    tolerance = validate.fraction(tolerance, "tolerance")
    x = check_batch(x, model)
    target = targets(model, x, target)
    zone = check_zone(model, x, zone)
    return _run(explainer, model, x, target, zone, tolerance, name, library)


def _run(explainer, model, x, target, zone, tolerance, name, library) -> WallReport:
    """The wall test on inputs already checked (``target`` a long tensor ``[N]``)."""
    if not callable(explainer):
        raise BadType(f"explainer must be a callable (model, x, target) -> maps, got "
                      f"{explainer!r:.60}.")
    label = name or getattr(explainer, "__name__", type(explainer).__name__)
    before = fingerprint(model)
    start = time.perf_counter()
    out = explainer(model, x.clone(), target.clone())     # its own copies: edits stay its own
    seconds = (time.perf_counter() - start) / x.shape[0]
    check_unchanged(model, before, label)
    maps = as_maps(out, x, label)
    max_inside = maps[:, zone].amax(1)
    peak = maps.flatten(1).amax(1)
    mus = mu(maps, zone)
    # "exactly zero" reads the dead pixels themselves, never a ratio that could round to 0;
    # tolerance 0 therefore passes only maps with nothing at all behind the wall
    verdicts = ["blank" if t == 0 else "exactly zero" if m == 0 else
                "below tolerance" if tolerance > 0 and u <= tolerance else "leaks"
                for t, m, u in zip(peak.tolist(), max_inside.tolist(), mus.tolist())]
    return WallReport(label, library, mus, mass_share(maps, zone), max_inside,
                      maps[:, ~zone].amax(1), verdicts, seconds, tolerance, maps,
                      baseline_mu(zone))


def assert_wall_holds(explainer: Explainer, model: nn.Module, x: torch.Tensor, target=None,
                      zone: torch.Tensor | None = None, tolerance: float = 0.0,
                      name: str | None = None) -> WallReport:
    """:func:`wall_test` as an assertion: raise ``AssertionError`` (with the per-image report)
    if any map leaks into the dead zone by more than ``tolerance`` (default 0: exactly zero
    required). Returns the report when the wall holds."""
    report = wall_test(explainer, model, x, target, zone, tolerance, name)
    if report.verdict == "blank":
        raise AssertionError("every map is blank (0 everywhere): the explainer found no "
                             "positive evidence, so the test says nothing about the wall; try "
                             f"other images or targets.\n{report}")
    if not report.passed:
        raise AssertionError(f"the saliency map sees through the wall:\n{report}")
    return report


def camwalls_explainer(method, layer=None, **options) -> Explainer:
    """An explainer running :func:`camwalls_lib.cams.compute` (raw maps at feature
    resolution, upsampled by the wall test): ``method`` is a name of :data:`cams.METHODS` or a
    weighting rule."""
    if not callable(method):
        method = cams.method_name(method)         # a typo is refused here, not at the first call

    def explain(model, x, target):
        return cams.compute(method, model, x, target, layer, **options)
    explain.__name__ = cams.LABELS.get(method, str(method)) if isinstance(method, str) else \
        getattr(method, "__name__", "custom")
    return explain


def scoreboard(explainers: dict[str, Explainer], model: nn.Module, x: torch.Tensor, target=None,
               zone: torch.Tensor | None = None, tolerance: float = 1e-6, library: str = "",
               skip_errors: bool = False) -> list[WallReport | tuple[str, str, str]]:
    """:func:`wall_test` for each ``name -> explainer``. With ``skip_errors=True`` an
    explainer that raises gives ``(library, name, "n/a: <error>")`` instead of stopping.

    Each explainer gets its own copy of ``x`` and of the targets; one that changes the model
    (weights, buffers, train/eval mode) stops the scoreboard with
    :class:`~camwalls_lib.errors.ExplainerMisbehaved` naming it, ``skip_errors`` or not: every
    later explainer would otherwise be tested on another network."""
    if not isinstance(explainers, dict):
        raise BadType(f"explainers must be a dict {{name: explainer}}, got "
                      f"{type(explainers).__name__}.")
    tolerance = validate.fraction(tolerance, "tolerance")
    x = check_batch(x, model)
    target = targets(model, x, target)
    zone = check_zone(model, x, zone)                 # checked once for every explainer

    def run(name, explainer, model):
        return _run(explainer, model, x, target, zone, tolerance, name, library)
    return [report if err is None else (library, name, f"n/a: {_kind(err)}: {str(err)[:90]}")
            for name, report, err, _ in _guarded(explainers, model, skip_errors, run)]


def _guarded(explainers: dict, model: nn.Module, skip_errors: bool, run):
    """``(name, report, error, model)`` for each ``name -> explainer``, with ``report =
    run(name, explainer, model)``: the one loop of :func:`scoreboard` and of the benchmark's
    ``walltest.run``. An explainer that changes the model stops everything
    (:class:`~camwalls_lib.errors.ExplainerMisbehaved`); one that raises stops everything too,
    unless ``skip_errors``: then it yields ``report = None`` and its ``error``, and the next
    explainers get the model back (a fresh copy where the failure left hooks or edits behind)."""
    pristine = _copy_or_none(model) if skip_errors else None
    for name, explainer in explainers.items():
        before, report, error = fingerprint(model), None, None
        try:
            report = run(name, explainer, model)
        except ExplainerMisbehaved:
            raise
        except Exception as err:  # noqa: BLE001 -- recorded, not hidden, when asked to
            if not skip_errors:
                raise
            error, model = err, _after_failure(model, before, pristine, name, err)
        yield name, report, error, model


def _copy_or_none(model: nn.Module) -> nn.Module | None:
    """A deep copy of the untouched model, to hand on after an explainer that failed half-way
    (None for a model that cannot be copied)."""
    try:
        return copy.deepcopy(model)
    except Exception:  # noqa: BLE001 -- without a copy, a changed model stops the board
        return None


def _after_failure(model, before, pristine, name, err) -> nn.Module:
    """The model for the explainers after one that raised: the same one when it is unchanged,
    a fresh copy of the untouched model when the failure left hooks or edits behind (a peer
    that raises between registering its hooks and removing them), and
    :class:`~camwalls_lib.errors.ExplainerMisbehaved` when there is no copy to go on with."""
    try:
        check_unchanged(model, before, name)
        return model
    except ExplainerMisbehaved:
        if pristine is None:
            raise ExplainerMisbehaved(f"The explainer {name!r} raised ({_kind(err)}) and left "
                                      "the model changed, and the model cannot be copied to "
                                      "go on: fix or remove that explainer.") from err
        return copy.deepcopy(pristine)


def _kind(err: Exception) -> str:
    """The built-in kind of an error, for a reader's table (``BadValue`` -> ``ValueError``)."""
    return next(c.__name__ for c in type(err).__mro__ if c.__module__ == "builtins")


def to_markdown(results, predicted_pass=None) -> str:
    """A Markdown table of :func:`scoreboard` results (several scoreboards may be concatenated).

    ``predicted_pass``: optional ``{library: set of method names predicted to pass}``; adds a
    column with the prediction and whether the verdict confirms it."""
    if not isinstance(results, (list, tuple)) or not all(
            isinstance(r, (WallReport, tuple)) for r in results):
        raise BadType("results must be a list of scoreboard results (WallReports and n/a "
                      f"tuples), got {type(results).__name__}.")
    extra = " predicted | confirmed |" if predicted_pass is not None else ""
    lines = ["| method | library | μ (worst image) | max in dead zone | max outside | verdict |"
             + extra, "|---|---|---|---|---|---|" + "---|" * (2 * bool(extra))]
    for r in results:
        if isinstance(r, tuple):
            lines.append(f"| {r[1]} | {r[0]} | | | | {r[2].replace('|', '/')} |"
                         + " | |" * bool(extra))
            continue
        d = r.row()
        line = (f"| {d['method']} | {d['library']} | {num(d['mu'])} | {num(d['max_inside'])} "
                f"| {num(d['max_outside'])} | {d['verdict']} |")
        if extra:
            guess = r.name in predicted_pass.get(r.library, ())
            line += f" {'passes' if guess else 'leaks'} | {'yes' if guess == r.passed else 'NO'} |"
        lines.append(line)
    return "\n".join(lines)


def agreement(a: WallReport, b: WallReport) -> dict:
    """How far two reports' maps (same images) are apart once each is min-max normalised:
    ``max_diff`` (largest absolute difference over all pixels, in [0, 1]) and Pearson's
    ``r`` over all pixels, plus both worst-case ``mu``. Where one side is constant (e.g. every
    map blank) ``r`` is 1 if both sides are the same maps, else NaN (undefined)."""
    for name, r in (("a", a), ("b", b)):
        if not isinstance(r, WallReport):
            raise BadType(f"agreement compares two WallReports (from wall_test); {name} is "
                          f"{type(r).__name__}.")
    if a.maps is None or b.maps is None or a.maps.shape != b.maps.shape:
        shapes = [None if r.maps is None else tuple(r.maps.shape) for r in (a, b)]
        raise BadValue(f"agreement compares two reports on the same images; their maps are "
                       f"{shapes[0]} and {shapes[1]}.")
    na, nb = cams.normalize(a.maps.double()), cams.normalize(b.maps.double())
    pa, pb = na.flatten() - na.mean(), nb.flatten() - nb.mean()
    if pa.norm() == 0 or pb.norm() == 0:      # a constant set of maps: Pearson's r undefined
        r = 1.0 if torch.equal(na, nb) else float("nan")
    else:
        r = float((pa @ pb) / (pa.norm() * pb.norm()))
    return {"max_diff": float((na - nb).abs().max()), "r": r,
            "mu_a": float(a.mu.max()), "mu_b": float(b.mu.max())}


def agreement_markdown(results, pairs) -> str:
    """A Markdown table of :func:`agreement` for ``pairs`` of ``((library, method),
    (library, method))`` keys into ``results`` (from :func:`scoreboard`). μ A and μ B are each
    method's worst image, beside a constant map's μ on the same dead zone."""
    found = {(r.library, r.name): r for r in results if isinstance(r, WallReport)}
    lines = ["| method A | method B | max abs difference | Pearson r | μ A | μ B | a constant map's μ |",
             "|---|---|---|---|---|---|---|"]
    for a, b in pairs:
        d = agreement(found[a], found[b])
        scale = found[a].baseline
        lines.append(f"| {a[1]} ({a[0]}) | {b[1]} ({b[0]}) | {d['max_diff']:.3f} | {d['r']:.4f} "
                     f"| {d['mu_a']:.3f} | {d['mu_b']:.3f} | "
                     + (f"{scale:.3f} |" if scale is not None else "– |"))
    return "\n".join(lines)
