"""Numbers with their uncertainty: the benchmark's summary of one wall test.

:func:`bootstrap_ci` is a percentile bootstrap of the mean over images; :func:`summarize`
turns a :class:`~camwalls_lib.metrics.walltest.WallReport` into one row: mu and mass share
(:func:`camwalls_lib.metrics.mass_share`) with their intervals over the non-blank images,
the worst image, the constant-map baselines (:func:`camwalls_lib.metrics.baseline_mu`; a
constant map's mass share is the dead zone's area share) and the verdict. "Exactly zero"
needs no interval: every dead pixel of every map is 0, and the interval is ``[0, 0]`` by
construction, not by rounding.
"""

from __future__ import annotations

import torch

from .. import validate
from ..errors import BadType, BadValue
from ..metrics.mu import baseline_mu, mass_share

__all__ = ["LEVEL", "RESAMPLES", "bootstrap_ci", "summarize", "COLUMNS"]

LEVEL = 0.95
RESAMPLES = 2000

COLUMNS = ("network", "method", "library", "verdict", "n_images", "n_blank", "mu_mean",
           "mu_lo", "mu_hi", "mu_worst", "mass_mean", "mass_lo", "mass_hi", "baseline_mu",
           "baseline_mass", "max_inside", "max_outside", "seconds_per_image")
"""One row of the scoreboard (plus ``library_version``, ``error`` where a method cannot run)."""


def bootstrap_ci(values, level: float = LEVEL, resamples: int = RESAMPLES,
                 seed: int = 0) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean of ``values [N]`` and its percentile-bootstrap interval
    at ``level`` (``resamples`` resamples of the N values, a private generator seeded with
    ``seed``). Values all equal give ``(v, v, v)`` exactly."""
    v = validate.tensor(values, "values", "[N]").double().flatten()
    if v.numel() == 0:
        raise BadValue("bootstrap_ci needs at least one value.")
    validate.finite(v, "values", "value")
    if isinstance(level, bool) or not isinstance(level, (int, float)):
        raise BadType(f"level must be a number in (0, 1), e.g. 0.95, got {level!r}.")
    if not 0 < level < 1:
        raise BadValue(f"level must be in (0, 1), e.g. 0.95, got {level}.")
    resamples = validate.positive_int(resamples, "resamples")
    mean = float(v.mean())
    if bool((v == v[0]).all()):
        return float(v[0]), float(v[0]), float(v[0])
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(v), (resamples, len(v)), generator=g)
    means = v[idx].mean(1)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    lo, hi = torch.quantile(means, q).tolist()
    return mean, min(lo, mean), max(hi, mean)


def summarize(report, zone: torch.Tensor, network: str = "", seed: int = 0) -> dict:
    """One scoreboard row (keys :data:`COLUMNS`) from a wall-test report on ``zone``."""
    keep = torch.tensor([v != "blank" for v in report.verdicts])
    row = {"network": network, "method": report.name, "library": report.library,
           "verdict": report.verdict, "n_images": len(report.verdicts),
           "n_blank": int((~keep).sum()), "baseline_mu": baseline_mu(zone),
           "baseline_mass": float(zone.float().mean()),
           "seconds_per_image": report.seconds}
    if not keep.any():
        return {**row, **dict.fromkeys(COLUMNS[6:15])}
    mus, mass = report.mu[keep], mass_share(report.maps[keep], zone)
    row["mu_mean"], row["mu_lo"], row["mu_hi"] = bootstrap_ci(mus, seed=seed)
    row["mass_mean"], row["mass_lo"], row["mass_hi"] = bootstrap_ci(mass, seed=seed)
    row["mu_worst"] = float(mus.max())
    row["max_inside"] = float(report.max_inside[keep].max())
    row["max_outside"] = float(report.max_outside[keep].max())
    return {k: row[k] for k in COLUMNS}
