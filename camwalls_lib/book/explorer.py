"""Move the wall, drawn: the explorer's figure and its ipywidgets, for a notebook with a
running kernel (a page without one gets :func:`~.explorer_page.explorer_html` instead).

:class:`WallExplorer` is a :class:`~.frames.WallLab` (the computation: one :class:`~.frames.Frame`
per wall position) that can draw: :meth:`WallExplorer.figure` draws a frame (the digit with its
dead zone in red, then each method's heatmap with its ``mu`` beside a constant map's),
:meth:`WallExplorer.widget` wires it to ipywidgets controls.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from .. import cams
from .figures import saliency_colorbar, shade_dead_zone, show_image, show_saliency
from .frames import Frame, WallLab, band_wall

__all__ = ["WallExplorer", "Frame", "band_wall"]


class WallExplorer(WallLab):
    """:class:`~.frames.WallLab` with a figure per frame and interactive controls."""

    @staticmethod
    def figure(frame: Frame, size: float = 2.4):
        """The input with its dead zone in red, then one heatmap per method with its mu, the
        constant map's mu in the title, and the colourbar of the maps."""
        n = len(frame.maps) + 1
        fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.35))
        show_image(axes[0], frame.image, f"a {frame.label}, predicted {frame.prediction}")
        shade_dead_zone(axes[0], frame.zone)
        for ax, (method, s) in zip(axes[1:], frame.maps.items()):
            show_saliency(ax, frame.image, s, frame.zone,
                          f"{cams.LABELS[method]}\nμ = {frame.mu[method]:.2f}")
        rows, cols = frame.wall.rows, frame.wall.cols
        where = f"rows {rows[0]}–{rows[1] - 1}" if rows else f"columns {cols[0]}–{cols[1] - 1}"
        acc = "" if frame.accuracy is None else f"; test accuracy {100 * frame.accuracy:.1f} %"
        title = "at initialisation" if frame.mode == "init" else "trained"
        fig.suptitle(f"{title}: wall on pooled {where}; dead zone {100 * frame.zone.float().mean():.0f} % "
                     f"of the image, where a constant map scores μ = {frame.baseline:.2f}{acc}",
                     fontsize=10)
        fig.tight_layout()
        saliency_colorbar(fig, axes)
        return fig

    def widget(self, mode: str = "init", start: int = 8, height: int = 4):
        """Controls for the wall (position, height, side), the digit, the methods, the mode
        and a second digit behind the wall, over the figure of the chosen frame. Needs
        ipywidgets and a running kernel.

        Returns the ``VBox``; a notebook shows it when it is the value of the cell (it is not
        displayed here as well, which would draw it twice)."""
        import ipywidgets as w

        layout = w.Layout(width="auto")
        controls = dict(
            start=w.IntSlider(value=start, min=0, max=self.size - 1, description="wall at"),
            height=w.IntSlider(value=height, min=1, max=self.size, description="height"),
            axis=w.ToggleButtons(options=[("rows", "rows"), ("columns", "cols")],
                                 description="wall on"),
            digit=w.Dropdown(options=[(f"a {int(y)} (test digit {i})", i)
                                      for i, y in enumerate(self.labels)], description="digit"),
            methods=w.SelectMultiple(options=[(cams.LABELS[m], m) for m in cams.METHODS
                                              if m != "cam"],
                                     value=self.methods, description="methods", rows=6),
            mode=w.ToggleButtons(options=[("at initialisation", "init"), ("trained", "trained")],
                                 value=mode, description="network"),
            stacked=w.Checkbox(value=False, description="a second digit behind the wall",
                               layout=layout, style={"description_width": "initial"}),
        )
        out = w.Output()

        def redraw(*_):
            with out:
                out.clear_output(wait=True)
                fig = self.figure(self.update(**{k: c.value for k, c in controls.items()}))
                plt.show()
                plt.close(fig)

        for c in controls.values():
            c.observe(redraw, names="value")
        box = w.VBox([w.HBox([controls["start"], controls["height"]]), controls["axis"],
                      w.HBox([controls["digit"], controls["stacked"]]), controls["mode"],
                      controls["methods"], out])
        redraw()
        return box
