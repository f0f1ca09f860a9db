"""Move the wall, the computation: a wall anywhere on the toy CNN's pooled map, its dead zone,
several CAM methods' maps and their leak ``mu`` -- no display (drawn by :mod:`.explorer`).

Two modes:

- ``"init"``: a Gaussian-initialised network (Theorem 3's setting). Every wall shares the same
  filters and the same weights in front of it (one seed), so only the wall changes.
- ``"trained"``: the book's trained *unwalled* toy CNN
  (:func:`camwalls_lib.experiments.mnist_walls.train_walled_mnist` with ``wall=None``) whose dense layer
  is re-trained with the wall -- a walled model in a few seconds, because only the dense layer
  learns (on pooled features computed once). Each wall's head is cached on disk.

:meth:`WallLab.update` returns a :class:`Frame`; :meth:`WallLab.sweep` a
:class:`~.sweep.Sweep`, every frame of a grid of walls for several digits at once (what the
static explorer of a page without a kernel shows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import torch

from .. import cams, validate
from ..data.stacked import stack_digits
from ..helpers import cache_dir, cached_file
from ..metrics import baseline_mu, mu
from ..networks.models import ToyCNN
from ..training import TensorLoader, evaluate, fit
from ..experiments.mnist_walls import VARIANTS, load_split, train_walled_mnist
from ..walls import Wall, WalledLinear, dead_zone
from .sweep import MODES, Sweep

__all__ = ["WallLab", "Frame", "Sweep", "band_wall", "DEFAULT_METHODS", "MODES"]

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
    mu ``{method: float}``, the digit's label and the model's prediction, and the walled
    model's test accuracy (trained mode; None at initialisation).
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
    notes: dict = field(default_factory=dict)

    @property
    def baseline(self) -> float:
        """The mu of a constant map on this dead zone (0 where the wall hides no pixel)."""
        return baseline_mu(self.zone) if self.zone.any() else 0.0


class WallLab:
    """Walls anywhere, heatmaps of several methods, and their ``mu``: the computation
    behind :class:`camwalls_lib.book.explorer.WallExplorer` (which draws it).

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
        :class:`~camwalls_lib.experiments.mnist_walls.Trained`); default: the book's, trained on first use.
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
                          "seed": self.seed, "version": 2})
        return f"explorer/{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"

    def _trained_model(self, wall: Wall) -> ToyCNN:
        """The base model with its dense layer re-trained behind ``wall`` (cached on disk)."""
        model = ToyCNN(wall=wall, **VARIANTS[self.variant])
        model.load_state_dict(self.base.model.state_dict())    # walled weights -> 0
        head: WalledLinear = model.classifier[1]
        name = self._head_path(wall)
        blob = self._read_head(cached_file(name))
        if blob is not None:
            head.load_state_dict(blob["head"])
            model.accuracy = blob["accuracy"]
            return model.eval()
        ftr, ytr, fte, yte = self._pooled_features()
        torch.manual_seed(self.seed)
        optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
        fit(head, TensorLoader(ftr, ytr, 256, shuffle=True), 2, optimizer, device="cpu",
            progress=False)
        model.accuracy, _ = evaluate(head, TensorLoader(fte, yte, 2000), device="cpu")
        state = head.state_dict()
        validate.atomic_save({**validate.sealed(state, "head"), "accuracy": model.accuracy},
                             cache_dir() / name)
        return model.eval()

    @staticmethod
    def _read_head(path) -> dict | None:
        """A cached dense layer, verified; None where there is none or it is damaged (then
        it is trained again)."""
        if not path.exists():
            return None
        what, fix = "cached dense layer", "it will be trained again"
        try:
            blob = validate.load_tensors(path, what, fix)
            validate.unsealed(blob, path, what, fix, key="head")
        except validate.CorruptFile:
            return None
        return blob

    # ------------------------------------------------------------------ one update
    def update(self, start: int = 8, height: int = 4, axis: str = "rows", digit: int = 0,
               methods=None, mode: str = "init", stacked: bool = False) -> Frame:
        """Everything one position of the sliders shows, computed without any display.

        ``start``/``height``/``axis``: the wall band on the pooled map (:func:`band_wall`);
        ``digit``: index into the offered test digits; ``stacked``: add a second digit of
        the same class inside the dead zone (the stacked-digits construction).
        """
        if not 0 <= digit < len(self.labels):
            raise ValueError(f"digit must be in 0..{len(self.labels) - 1}, got {digit}.")
        wall = band_wall(start, height, axis, self.size)
        model = self.model(wall, mode)
        zone = self._zone(wall, model)
        x = self._stacked([digit], zone) if stacked else self.digits[digit:digit + 1]
        with torch.no_grad():
            prediction = int(model(x).argmax(1))
        maps, mus = {}, {}
        for method in methods or self.methods:
            s = cams.saliency(method, model, x, **self.method_options.get(method, {}))[0]
            maps[method], mus[method] = s, float(mu(s, zone)) if zone.any() else 0.0
        return Frame(wall, x[0], zone, maps, mus, int(self.labels[digit]), prediction,
                     getattr(model, "accuracy", None), mode)

    def _zone(self, wall: Wall, model) -> torch.Tensor:
        if wall not in self._zones:                       # depends on the wall only
            self._zones[wall] = dead_zone(model, (1, 28, 28))
        return self._zones[wall]

    def _stacked(self, digits, zone: torch.Tensor) -> torch.Tensor:
        """``[N, 1, H, W]``: each digit with the next test digit of its class drawn into the
        dead zone (the stacked-digits construction, each digit's own draw, so a frame does not
        depend on the other digits computed with it); the plain digits where the zone is
        empty or everything."""
        if not zone.any() or zone.all():
            return self.digits[list(digits)]
        images = []
        for d in digits:
            same = torch.nonzero(self.test.y == self.labels[d]).flatten()
            others = same[same != d]
            pair = [d, int(others[0]) if len(others) else d]
            two = dataclasses.replace(self.test, x=self.test.x[pair], y=self.test.y[pair])
            images.append(stack_digits(two, zone, pairs=[[0, 1]]).x)
        return torch.cat(images)

    # ------------------------------------------------------------------ every frame at once
    def sweep(self, heights=(4, 6, 8), digits=(0, 1, 2, 3), modes=MODES,
              stacked=(False, True), methods=None) -> Sweep:
        """Every frame of the bands of rows of each height in ``heights`` at every position
        where the whole band fits, for the test ``digits`` (indices into the offered digits),
        in each of ``modes``, without and with a second digit in the dead zone: a
        :class:`Sweep`. One capture per (wall, mode, stacked) serves every method and digit."""
        methods = tuple(methods or self.methods)
        digits = list(digits)
        if not digits or not all(0 <= d < len(self.labels) for d in digits):
            raise ValueError(f"digits must be indices in 0..{len(self.labels) - 1}, got {digits}.")
        if any(m not in MODES for m in modes) or not modes:
            raise ValueError(f"modes must be some of {MODES}, got {modes!r}.")
        if not heights or not all(isinstance(h, int) and 1 <= h <= self.size for h in heights):
            raise ValueError(f"heights must be ints in 1..{self.size}, got {heights!r}.")
        walls = [(h, s) for h in heights for s in range(self.size - h + 1)]
        out = Sweep(methods, self.labels[digits].clone(), walls, tuple(modes), tuple(stacked))
        for wall in walls:
            band = band_wall(wall[1], wall[0], "rows", self.size)
            zone = self._zone(band, self.model(band, modes[0]))
            out.zones[wall] = zone
            out.baselines[wall] = baseline_mu(zone) if zone.any() else 0.0
            for st in stacked:
                x = self._stacked(digits, zone) if st else self.digits[digits]
                out.images[(wall, st)] = x[:, 0]
                out.ink_mu[(wall, st)] = mu(x[:, 0], zone) if zone.any() else torch.zeros(len(x))
                for mode in modes:
                    model = self.model(band, mode)
                    key = (mode, wall, st)
                    maps = cams.saliency_many(methods, model, x, method_options=self.method_options)
                    out.maps[key] = maps
                    out.mu[key] = {m: mu(s, zone) if zone.any() else torch.zeros(len(x))
                                   for m, s in maps.items()}
                    with torch.no_grad():
                        out.predictions[key] = model(x).argmax(1)
                    out.accuracy[(mode, wall)] = getattr(model, "accuracy", None)
        return out
