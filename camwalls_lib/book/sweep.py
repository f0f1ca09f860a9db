"""Every frame of the wall explorer over a grid of walls, for several digits at once: what
:meth:`camwalls_lib.book.frames.WallLab.sweep` computes and
:func:`camwalls_lib.book.explorer_page.explorer_html` shows in a page without a kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["Sweep", "MODES"]

MODES = ("init", "trained")


@dataclass
class Sweep:
    """Every frame of a grid of walls (bands of rows), for several digits at once.

    Keys: ``wall = (height, start)`` (a band of ``height`` pooled rows from ``start``),
    ``mode`` in :data:`MODES`, ``stacked`` (a second digit of the same class in the dead zone).

    - ``labels [N]``: the digits' classes; ``walls``: the ``(height, start)`` swept;
    - ``zones[wall]``: bool ``[H, W]`` dead zone; ``baselines[wall]``: a constant map's mu there;
    - ``images[(wall, stacked)]``: ``[N, H, W]`` inputs (the plain digits do not depend on the
      wall, but are stored per wall all the same); ``ink_mu[(wall, stacked)]``: ``[N]`` the mu
      of each input itself taken as a map (a map that paints exactly the ink scores this);
    - ``maps[(mode, wall, stacked)]``: ``{method: [N, H, W]}`` normalised saliency;
    - ``mu[(mode, wall, stacked)]``: ``{method: [N]}``;
    - ``predictions[(mode, wall, stacked)]``: ``[N]``; ``accuracy[(mode, wall)]``: the walled
      model's test accuracy (None at initialisation).
    """

    methods: tuple[str, ...]
    labels: torch.Tensor
    walls: list[tuple[int, int]]
    modes: tuple[str, ...]
    stacked: tuple[bool, ...]
    zones: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    ink_mu: dict = field(default_factory=dict)
    maps: dict = field(default_factory=dict)
    mu: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)

    def mu_curve(self, mode: str, height: int, method: str, stacked: bool = False):
        """``(starts, mu [len(starts), N])``: one method's mu along the band positions of one
        height, for every digit (rows: positions)."""
        starts = [s for h, s in self.walls if h == height]
        if not starts:
            raise ValueError(f"No wall of height {height} in this sweep; heights: "
                             f"{sorted({h for h, _ in self.walls})}.")
        return starts, torch.stack([self.mu[(mode, (height, s), stacked)][method] for s in starts])

    def mu_band(self, mode: str, height: int, method: str, stacked: bool = False):
        """``(starts, median, q1, q3)``: one method's mu along the band positions of one
        height, summarised over the digits by its median and its first and third quartiles
        (each ``[len(starts)]``). The quartiles of values in [0, 1] stay in [0, 1], which a
        band of one standard deviation around the mean does not."""
        if mode not in self.modes:
            raise ValueError(f"mode must be one of {self.modes}, got {mode!r}.")
        if method not in self.methods:
            raise ValueError(f"method must be one of {self.methods}, got {method!r}.")
        starts, curve = self.mu_curve(mode, height, method, stacked)
        q1, median, q3 = torch.quantile(curve.float(), torch.tensor([0.25, 0.5, 0.75]), dim=1)
        return starts, median, q1, q3
