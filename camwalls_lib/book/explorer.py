"""Move the wall, drawn: the explorer's figure, its ipywidgets, and a static version for pages
without a kernel.

:class:`WallExplorer` is a :class:`~.frames.WallLab` (the computation: one :class:`~.frames.Frame`
per wall position) that can draw: :meth:`WallExplorer.figure` draws a frame (the digit with its
dead zone in red, then each method's heatmap with its ``mu``), :meth:`WallExplorer.widget`
wires it to ipywidgets sliders. :func:`slider_html` turns precomputed frames into a
self-contained HTML slider (plain JavaScript over base64 PNGs) that works in the built book,
where no kernel runs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid

import matplotlib.pyplot as plt

from .. import cams
from .figures import saliency_colorbar, shade_dead_zone, show_image, show_saliency
from .frames import Frame, WallLab, band_wall

__all__ = ["WallExplorer", "Frame", "band_wall", "slider_html", "frames_html"]


class WallExplorer(WallLab):
    """:class:`~.frames.WallLab` with a figure per frame and interactive sliders."""

    @staticmethod
    def figure(frame: Frame, size: float = 1.7):
        """The input with its dead zone in red, then one heatmap per method with its mu, and
        the colourbar of the maps."""
        n = len(frame.maps) + 1
        fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.25))
        show_image(axes[0], frame.image, f"digit {frame.label}, predicted {frame.prediction}")
        shade_dead_zone(axes[0], frame.zone)
        for ax, (method, s) in zip(axes[1:], frame.maps.items()):
            show_saliency(ax, frame.image, s, frame.zone,
                          f"{cams.LABELS[method]}\nμ = {frame.mu[method]:.2f}")
        rows, cols = frame.wall.rows, frame.wall.cols
        where = f"rows {rows[0]}..{rows[1] - 1}" if rows else f"columns {cols[0]}..{cols[1] - 1}"
        acc = "" if frame.accuracy is None else f", test accuracy {100 * frame.accuracy:.1f}%"
        title = "at initialisation" if frame.mode == "init" else "trained"
        fig.suptitle(f"{title}: wall on {where} of the pooled map; dead zone "
                     f"{100 * frame.zone.float().mean():.0f}% of the input{acc}", fontsize=9)
        fig.tight_layout()
        saliency_colorbar(fig, axes)
        return fig

    def widget(self, mode: str = "init", start: int = 8, height: int = 4):
        """Sliders for the wall (position, height, side), a digit picker, a method picker, a
        mode switch, and the figure with each method's mu. Needs ipywidgets.

        Returns the ``VBox``; a notebook shows it when it is the value of the cell (it is not
        displayed here as well, which would draw it twice)."""
        import ipywidgets as w

        controls = dict(
            start=w.IntSlider(value=start, min=0, max=self.size - 1, description="wall at"),
            height=w.IntSlider(value=height, min=1, max=self.size, description="height"),
            axis=w.ToggleButtons(options=[("horizontal", "rows"), ("vertical", "cols")],
                                 description="wall"),
            digit=w.Dropdown(options=[(f"#{i}: a {int(y)}", i) for i, y in enumerate(self.labels)],
                             description="digit"),
            methods=w.SelectMultiple(options=[(cams.LABELS[m], m) for m in cams.METHODS
                                              if m != "cam"],
                                     value=self.methods, description="methods", rows=6),
            mode=w.ToggleButtons(options=[("at initialisation", "init"), ("trained", "trained")],
                                 value=mode, description="model"),
            stacked=w.Checkbox(value=False, description="second digit in the dead zone"),
        )
        out = w.Output()
        status = w.Label()

        def redraw(*_):
            with out:
                out.clear_output(wait=True)
                frame = self.update(**{k: c.value for k, c in controls.items()})
                fig = self.figure(frame)
                plt.show()
                plt.close(fig)
            status.value = f"update: {frame.seconds * 1000:.0f} ms"

        for c in controls.values():
            c.observe(redraw, names="value")
        box = w.VBox([w.HBox([controls["start"], controls["height"], controls["axis"]]),
                      w.HBox([controls["digit"], controls["mode"], controls["stacked"]]),
                      controls["methods"], status, out])
        redraw()
        return box


def _png(fig, dpi: int = 72) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def slider_html(images_b64: list[str], labels: list[str], title: str = "",
                start: int = 0) -> str:
    """A self-contained HTML slider over base64 PNG frames: plain JavaScript in the element's
    own ``oninput`` attribute, so it works in a static page, with no kernel and no library."""
    if len(images_b64) != len(labels) or not images_b64:
        raise ValueError("Need as many labels as frames, and at least one frame.")
    uid = f"cw-slider-{uuid.uuid4().hex[:8]}"
    imgs = "".join(
        f'<img class="cw-frame" alt="{html.escape(lab)}" src="data:image/png;base64,{b64}" '
        f'style="max-width:100%;display:{"block" if i == start else "none"}">'
        for i, (b64, lab) in enumerate(zip(images_b64, labels)))
    on_input = ("var r=this.closest('.cw-slider'),k=+this.value;"
                "r.querySelectorAll('img.cw-frame').forEach(function(im,i){"
                "im.style.display=(i===k)?'block':'none';});"
                "r.querySelector('.cw-label').textContent=JSON.parse(r.dataset.labels)[k];")
    return (f'<div class="cw-slider" id="{uid}" data-labels="{html.escape(json.dumps(labels))}">'
            f'<div style="font-weight:bold">{html.escape(title)}</div>'
            f'<input type="range" min="0" max="{len(labels) - 1}" step="1" value="{start}" '
            f'style="width:60%" aria-label="wall position" oninput="{html.escape(on_input)}"> '
            f'<span class="cw-label">{html.escape(labels[start])}</span>{imgs}</div>')


def frames_html(frames: list[Frame], title: str = "", dpi: int = 72) -> str:
    """:func:`slider_html` over :meth:`WallExplorer.figure` of each frame."""
    labels = []
    for f in frames:
        span = f.wall.rows or f.wall.cols
        mus = ", ".join(f"{cams.LABELS[m]} {v:.2f}" for m, v in f.mu.items())
        labels.append(f"wall on {'rows' if f.wall.rows else 'columns'} {span[0]}..{span[1] - 1}"
                      f" — μ: {mus}")
    return slider_html([_png(WallExplorer.figure(f), dpi) for f in frames], labels, title)
