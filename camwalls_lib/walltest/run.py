"""Run any explainer over the standard set: rows of numbers, and the assertion for a CI.

An explainer is a callable ``(model, x [N, C, H, W], target [N]) -> maps [N, h, w]``
(non-negative), as in :mod:`camwalls_lib.metrics.walltest`. :func:`run` tests one or many on
every network of the standard set and returns one row per method and network
(:data:`camwalls_lib.walltest.stats.COLUMNS`); :func:`assert_wall_holds` raises an
``AssertionError`` naming every network where a map puts anything behind the wall.
"""

from __future__ import annotations

import importlib
from typing import Callable

from .. import validate
from ..readable import num
from ..errors import BadType, BadValue
from ..metrics import walltest as core
from . import standard
from .stats import summarize

__all__ = ["run", "assert_wall_holds", "load_spec", "as_explainers"]


def as_explainers(obj, name: str = "explainer") -> dict[str, Callable]:
    """``{name: explainer}`` from one callable or a dict of them."""
    if isinstance(obj, dict):
        if not obj:
            raise BadValue(f"{name} is an empty dict: give at least one explainer.")
        bad = [k for k, v in obj.items() if not callable(v)]
        if bad:
            raise BadType(f"{name}: the entries {bad} are not callables (model, x, target) "
                          "-> maps.")
        return dict(obj)
    if not callable(obj):
        raise BadType(f"{name} is a {type(obj).__name__}, not a callable (model, x, target) "
                      "-> maps nor a dict of them.")
    return {getattr(obj, "__name__", type(obj).__name__): obj}


def load_spec(spec: str) -> dict[str, Callable]:
    """``"package.module:attribute"`` -> ``{name: explainer}`` (the attribute is an explainer
    or a dict of explainers)."""
    if not isinstance(spec, str) or spec.count(":") != 1 or spec.startswith(":") or \
            spec.endswith(":"):
        raise BadValue(f"Expected MODULE:ATTRIBUTE (e.g. my_module:my_explainer), got "
                       f"{spec!r}.")
    module_name, attribute = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"Cannot import {module_name!r} ({err}); run from the folder that "
                          "holds it or put it on PYTHONPATH.") from err
    if not hasattr(module, attribute):
        raise BadValue(f"Module {module_name!r} has no attribute {attribute!r}: check the "
                       "name after the colon.")
    return as_explainers(getattr(module, attribute), spec)


def _networks(networks) -> tuple[str, ...]:
    """Names of :data:`standard.NETWORKS` (any case; one name or several, never split into
    letters); default all."""
    if networks is None:
        return standard.NETWORKS
    return tuple(validate.choice(n, "networks entry", standard.NETWORKS)
                 for n in validate.names(networks, "networks"))


def run(explainers, networks=None, n: int = standard.N_IMAGES, tolerance: float = 1e-6,
        library: str = "", skip_errors: bool = True, cases: dict | None = None) -> list[dict]:
    """One row per explainer and network. ``explainers``: a callable or ``{name: callable}``;
    ``networks``: names of :data:`standard.NETWORKS` (default all); ``n``: images per network;
    ``tolerance``: in [0, 1); ``skip_errors``: an explainer that raises gets a row with
    ``verdict = "n/a"`` and its ``error`` instead of stopping the run; ``cases``: already
    loaded ``{network: Case}``.

    The arguments are checked before any network is loaded: a bad ``tolerance``, ``n`` or
    network name is a :class:`~camwalls_lib.errors.CamwallsError` of the caller, never a row.
    An explainer that changes the model (:class:`~camwalls_lib.errors.ExplainerMisbehaved`)
    stops the run, ``skip_errors`` or not."""
    explainers = as_explainers(explainers)
    networks = _networks(networks)
    n = standard.check_n(n)
    tolerance = validate.fraction(tolerance, "tolerance")
    skip_errors = validate.boolean(skip_errors, "skip_errors")
    if not isinstance(library, str):
        raise BadType(f"library must be a name (str), got {library!r:.60}.")
    if cases is not None and not isinstance(cases, dict):
        raise BadType(f"cases must be a dict {{network: Case}}, got {type(cases).__name__}.")
    rows = []
    for network in networks:
        case = (cases or {}).get(network) or standard.load(network, n)

        def test(name, explainer, model, case=case):
            return core.wall_test(explainer, model, case.x, zone=case.zone, tolerance=tolerance,
                                  name=name, library=library)
        for name, report, err, model in core._guarded(explainers, case.model, skip_errors, test):
            case.model = model                 # a fresh copy after a failure that left hooks
            rows.append(summarize(report, case.zone, network) if err is None else {
                "network": network, "method": name, "library": library, "verdict": "n/a",
                "baseline_mu": case.baseline_mu, "baseline_mass": case.baseline_mass,
                "error": f"{type(err).__name__}: {str(err)[:160]}"})
    return rows


def assert_wall_holds(explainer, networks=None, n: int = standard.N_IMAGES,
                      tolerance: float = 0.0) -> list[dict]:
    """The wall test over the standard set as an assertion for a test suite: raise
    ``AssertionError`` if on any network a map leaks (mu above ``tolerance``; default 0,
    exactly zero required), is all blank, or the explainer raises. Returns the rows.

    Bad arguments (``tolerance`` outside [0, 1), unknown networks, ``n``) are refused with a
    :class:`~camwalls_lib.errors.CamwallsError` before anything runs: they are the caller's
    mistake, not a wall failure."""
    rows = run(explainer, networks, n, tolerance, skip_errors=True)
    failed = [r for r in rows if r["verdict"] not in core.VERDICTS[:2]]
    if failed:
        lines = [f"  {r['network']}: {r['method']} -> {r['verdict']}"
                 + (f" ({r['error']})" if "error" in r else
                    "" if r["mu_mean"] is None else
                    f" (mu {num(r['mu_mean'])} [{num(r['mu_lo'])}, {num(r['mu_hi'])}], "
                    f"constant map {num(r['baseline_mu'])})") for r in failed]
        raise AssertionError("The saliency maps see through the wall:\n" + "\n".join(lines))
    return rows
