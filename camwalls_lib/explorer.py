"""Move the wall: an interactive explorer, and a static version for pages without a kernel.

:class:`WallExplorer` puts a band-shaped wall anywhere on the pooled map of the toy CNN and
shows, for one MNIST test digit, the dead zone in red and the heatmaps of several CAM methods
with their leak ``mu`` (the share of the map in the dead zone, Eq. (7)). Two modes:

- ``"init"``: a Gaussian-initialised network (Theorem 3's setting). Every wall shares the same
  filters and the same weights in front of it (one seed), so only the wall changes. Instant.
- ``"trained"``: the book's trained *unwalled* toy CNN (:func:`camwalls_lib.mnist.
  train_walled_mnist` with ``wall=None``) whose dense layer is re-trained with the wall --
  a walled model in a few seconds, because only the dense layer learns (on pooled features
  computed once). Each wall's head is cached on disk; a cached wall answers in milliseconds.

:meth:`WallExplorer.update` does the work and returns a :class:`Frame` (no display needed);
:meth:`WallExplorer.figure` draws one; :meth:`WallExplorer.widget` wires both to ipywidgets
sliders. :func:`slider_html` turns precomputed frames into a self-contained HTML slider (plain
JavaScript over base64 PNGs) that works in the built book, where no kernel runs.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import time
import uuid
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch

from . import cams
from .metrics import mu
from .mnist import VARIANTS, cache_dir, load_split, train_walled_mnist
from .models import ToyCNN
from .stacked import stack_digits
from .train import TensorLoader, evaluate, fit
from .viz import saliency_colorbar, shade_dead_zone, show_image, show_saliency
from .walls import Wall, WalledLinear, dead_zone

__all__ = ["WallExplorer", "Frame", "band_wall", "slider_html", "frames_html"]

DEFAULT_METHODS = ("gradcam", "gradcam++", "xgradcam", "scorecam", "eigencam", "hirescam")


def band_wall(start: int, height: int, axis: str = "rows", size: int = 12) -> Wall:
    """A wall over ``height`` rows (``axis="rows"``) or columns (``"cols"``) of a
    ``size x size`` map, starting at ``start``; clipped to the map."""
    if axis not in ("rows", "cols"):
        raise ValueError(f"axis must be 'rows' or 'cols', got {axis!r}.")
    if not (0 <= start < size) or height < 1:
        raise ValueError(f"Need 0 <= start < {size} and height >= 1, got start={start}, "
                         f"height={height}.")
    span = (start, min(size, start + height))
    return Wall(rows=span) if axis == "rows" else Wall(cols=span)


@dataclass
class Frame:
    """One state of the explorer.

    image ``[1, H, W]``, zone bool ``[H, W]``, maps ``{method: [H, W]}`` normalised saliency,
    mu ``{method: float}``, the digit's label and the model's prediction, the walled model's
    test accuracy (trained mode; None at initialisation), and the seconds the update took.
    """

    wall: Wall
    image: torch.Tensor
    zone: torch.Tensor
    maps: dict[str, torch.Tensor]
    mu: dict[str, float]
    label: int
    prediction: int
    accuracy: float | None
    mode: str
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)


class WallExplorer:
    """Walls anywhere, heatmaps of several methods, and their ``mu``.

    Parameters
    ----------
    variant : "toy" (the book's 32-filter CNN) or "deep" (two conv blocks).
    methods : default methods shown (any of :data:`camwalls_lib.cams.METHODS` but "cam").
    n_digits : test digits offered by the digit picker (the first ``n_digits`` of the test
        split).
    finetune_images : training images used to re-train the dense layer for each wall.
    method_options : per-method options, e.g. ``{"opticam": {"steps": 30}}``.
    tau : standard deviation of the Gaussian initialisation (init mode).
    base : the trained unwalled model for the trained mode (a
        :class:`~camwalls_lib.mnist.Trained`); default: the book's, trained on first use.
    """

    def __init__(self, variant: str = "toy", methods=DEFAULT_METHODS, n_digits: int = 20,
                 finetune_images: int = 8000, method_options: dict | None = None,
                 seed: int = 0, tau: float = 0.1, progress: bool = True, base=None):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}.")
        self.variant, self.methods, self.seed, self.tau = variant, tuple(methods), seed, tau
        self.method_options = method_options or {}
        self.finetune_images, self.progress = finetune_images, progress
        self.test = load_split("test")
        self.digits, self.labels = self.test.tensors()
        self.digits, self.labels = self.digits[:n_digits], self.labels[:n_digits]
        self.size = ToyCNN(**VARIANTS[variant]).features(torch.zeros(1, 1, 28, 28)).shape[-1]
        self._models: dict = {}
        self._zones: dict = {}
        self._base = base
        self._features = None

    # ------------------------------------------------------------------ models
    def model(self, wall: Wall, mode: str = "init") -> ToyCNN:
        """The walled model for ``wall`` in ``mode`` ("init" or "trained"), memoised."""
        if mode not in ("init", "trained"):
            raise ValueError(f"mode must be 'init' or 'trained', got {mode!r}.")
        key = (mode, wall)
        if key not in self._models:
            build = self._init_model if mode == "init" else self._trained_model
            self._models[key] = build(wall)
        return self._models[key]

    def _init_model(self, wall: Wall) -> ToyCNN:
        """Theorem 3's setting: N(0, tau^2) weights, no biases; the same draw for every wall."""
        arch = {**VARIANTS[self.variant], "bias": False}
        torch.manual_seed(self.seed)
        model = ToyCNN(wall=wall, tau=self.tau, **arch)
        model.accuracy = None
        return model.eval()

    @property
    def base(self):
        """The trained unwalled model every trained wall starts from (cached on disk)."""
        if self._base is None:
            self._base = train_walled_mnist(None, self.variant, progress=self.progress)
        return self._base

    def _pooled_features(self):
        """Flattened pooled maps of the base model on training and test images (computed once)."""
        if self._features is None:
            model = self.base.model.eval()
            xtr, ytr = load_split("train").tensors()
            xte, yte = self.test.tensors()
            with torch.no_grad():
                ftr = torch.cat([model.features(b).flatten(1)
                                 for b in xtr[:self.finetune_images].split(1000)])
                fte = torch.cat([model.features(b).flatten(1) for b in xte.split(1000)])
            self._features = (ftr, ytr[:self.finetune_images], fte, yte)
        return self._features

    def _head_path(self, wall: Wall):
        key = json.dumps({"base": self.base.path.name if self.base.path else "",
                          "wall": [wall.rows, wall.cols], "n": self.finetune_images,
                          "seed": self.seed, "version": 1})
        return cache_dir() / "explorer" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"

    def _trained_model(self, wall: Wall) -> ToyCNN:
        """The base model with its dense layer re-trained behind ``wall`` (cached on disk)."""
        model = ToyCNN(wall=wall, **VARIANTS[self.variant])
        model.load_state_dict(self.base.model.state_dict())    # walled weights -> 0
        head: WalledLinear = model.classifier[1]
        path = self._head_path(wall)
        if path.exists():
            blob = torch.load(path, map_location="cpu", weights_only=True)
            head.load_state_dict(blob["head"])
            model.accuracy = blob["accuracy"]
            return model.eval()
        ftr, ytr, fte, yte = self._pooled_features()
        torch.manual_seed(self.seed)
        optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
        fit(head, TensorLoader(ftr, ytr, 256, shuffle=True), 2, optimizer, device="cpu",
            progress=False)
        model.accuracy, _ = evaluate(head, TensorLoader(fte, yte, 2000), device="cpu")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"head": head.state_dict(), "accuracy": model.accuracy}, path)
        return model.eval()

    # ------------------------------------------------------------------ one update
    def update(self, start: int = 8, height: int = 4, axis: str = "rows", digit: int = 0,
               methods=None, mode: str = "init", stacked: bool = False) -> Frame:
        """Everything one position of the sliders shows, computed without any display.

        ``start``/``height``/``axis``: the wall band on the pooled map (:func:`band_wall`);
        ``digit``: index into the offered test digits; ``stacked``: add a second digit of
        the same class inside the dead zone (the stacked-digits construction).
        """
        t0 = time.perf_counter()
        if not 0 <= digit < len(self.labels):
            raise ValueError(f"digit must be in 0..{len(self.labels) - 1}, got {digit}.")
        wall = band_wall(start, height, axis, self.size)
        model = self.model(wall, mode)
        if wall not in self._zones:                       # depends on the wall only
            self._zones[wall] = dead_zone(model, (1, 28, 28))
        zone = self._zones[wall]
        x = self.digits[digit:digit + 1]
        if stacked and zone.any() and not zone.all():
            same = torch.nonzero(self.test.y == self.labels[digit]).flatten()
            partner = int(same[(same != digit).nonzero()[0]]) if len(same) > 1 else digit
            x = stack_digits(self.test, zone, pairs=[[digit, partner]]).x
        with torch.no_grad():
            prediction = int(model(x).argmax(1))
        maps, mus = {}, {}
        for method in methods or self.methods:
            s = cams.saliency(method, model, x, **self.method_options.get(method, {}))[0]
            maps[method], mus[method] = s, float(mu(s, zone)) if zone.any() else 0.0
        return Frame(wall, x[0], zone, maps, mus, int(self.labels[digit]), prediction,
                     getattr(model, "accuracy", None), mode, time.perf_counter() - t0)

    # ------------------------------------------------------------------ drawing
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

    # ------------------------------------------------------------------ static frames
    def frames(self, starts, height: int = 4, axis: str = "rows", digit: int = 0,
               mode: str = "init", methods=None, stacked: bool = False) -> list[Frame]:
        """One :class:`Frame` per wall position in ``starts``."""
        return [self.update(s, height, axis, digit, methods, mode, stacked) for s in starts]


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
