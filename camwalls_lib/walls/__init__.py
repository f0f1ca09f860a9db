"""The wall and its dead zone: what a walled network is forbidden to read, and what it cannot see.

- :mod:`.wall` -- :class:`Wall` (a rectangle of the last feature map), the one mechanism that
  enforces it (:class:`FeatureWall`; :class:`WalledLinear` is that wall in front of a dense
  layer), the paper's and Theorem 3's walls, and the checks that the weights behind it are 0;
- :mod:`.deadzone` -- :func:`dead_zone` (the exact input pixels that cannot influence any
  output), :func:`dead_cells`, :func:`dead_rows`, :func:`receptive_field`.

``from camwalls_lib.walls import Wall, dead_zone`` reaches every public name.
"""

from .deadzone import dead_cells, dead_rows, dead_zone, receptive_field
from .wall import (FeatureWall, Wall, WalledLinear, attention_mask, require_walled_state,
                   effective_weight, paper_wall, theorem3_wall, visible_positions,
                   wall_is_exact, walled_positions, walled_weights)

__all__ = ["Wall", "FeatureWall", "WalledLinear", "attention_mask", "wall_is_exact",
           "walled_weights", "effective_weight", "require_walled_state", "paper_wall",
           "theorem3_wall", "visible_positions", "walled_positions", "dead_zone", "dead_cells",
           "dead_rows", "receptive_field"]
