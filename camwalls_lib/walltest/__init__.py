"""The wall test as a benchmark: shipped walled networks, standard inputs, any explainer.

- :mod:`.standard` -- the five walled networks and their images (:data:`NETWORKS`, :func:`load`);
- :mod:`.run` -- :func:`run` (one row per method and network) and :func:`assert_wall_holds`
  (the pytest helper: ``assert_wall_holds(my_explainer)`` over the standard set);
- :mod:`.stats` -- mu and mass share with bootstrap intervals, beside the constant-map baseline;
- :mod:`.board` -- the shipped scoreboard (:func:`load_board`) and how it is recomputed;
- ``python -m camwalls_lib.walltest run my_module:my_explainer [--json -] [--csv PATH]``.

The single-batch test itself is :mod:`camwalls_lib.metrics.walltest`.
"""

from .run import assert_wall_holds, run
from .standard import NETWORKS, load

__all__ = ["NETWORKS", "load", "run", "assert_wall_holds"]
