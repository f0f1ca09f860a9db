"""Walls: the part of the last feature map a network is forbidden to read.

The paper builds its wall in the first dense layer: the weights ``W[:, :, -9:, :]`` that read
the lowest rows of the last feature map ``B`` are fixed at zero, so nothing computed there can
reach the logits. Here the wall is a :class:`Wall` (a rectangle of the feature map) and a
:class:`WalledLinear` layer whose forward pass multiplies the weight by the wall's mask, so the
masked weights are zero *by construction* -- after any optimizer step, weight decay or reload.

:func:`dead_zone` then answers the question the whole book turns on: which *input pixels* can
influence no output at all? It traces receptive fields backwards from the visible part of the
feature map through every convolution and pooling layer, exactly.
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validate
from .feedback import verdict

__all__ = ["Wall", "WalledLinear", "attention_mask", "dead_zone", "dead_cells", "dead_rows",
           "receptive_field", "wall_is_exact", "check_dead_rows"]


@dataclass(frozen=True)
class Wall:
    """A rectangle of an ``h x w`` feature map, given as half-open row/column ranges.

    ``rows=(5, 14)`` means feature rows 5..13 (Python slice ``5:14``); ``None`` means all.
    Negative starts count from the bottom/right, like Python slices: ``Wall.bottom(9)`` is
    ``rows=(-9, None)``, the paper's ``W[:, :, -9:, :] = 0``. Bounds are ints (or None);
    ``bottom``, ``top``, ``left`` and ``right`` take a count ``>= 1`` (``bottom(0)`` would be
    ``rows=(-0, None)``, the whole map, so it is refused).
    """

    rows: tuple[int | None, int | None] | None = None
    cols: tuple[int | None, int | None] | None = None

    def __post_init__(self):
        for what, span in (("rows", self.rows), ("cols", self.cols)):
            if span is None:
                continue
            if not (isinstance(span, tuple) and len(span) == 2 and all(
                    b is None or (isinstance(b, numbers.Integral) and not isinstance(b, bool))
                    for b in span)):
                raise TypeError(f"Wall {what} must be a (start, stop) pair of ints or None "
                                f"(Python slice bounds), got {span!r}.")

    @classmethod
    def bottom(cls, n_rows: int) -> "Wall":
        """The lowest ``n_rows`` rows of the map (the paper's wall); ``n_rows >= 1``."""
        return cls(rows=(-validate.positive_int(n_rows, "Wall.bottom's n_rows"), None))

    @classmethod
    def top(cls, n_rows: int) -> "Wall":
        """The highest ``n_rows >= 1`` rows of the map."""
        return cls(rows=(0, validate.positive_int(n_rows, "Wall.top's n_rows")))

    @classmethod
    def left(cls, n_cols: int) -> "Wall":
        """The leftmost ``n_cols >= 1`` columns of the map."""
        return cls(cols=(0, validate.positive_int(n_cols, "Wall.left's n_cols")))

    @classmethod
    def right(cls, n_cols: int) -> "Wall":
        """The rightmost ``n_cols >= 1`` columns of the map."""
        return cls(cols=(-validate.positive_int(n_cols, "Wall.right's n_cols"), None))

    def mask(self, h: int, w: int) -> torch.Tensor:
        """Bool tensor ``[h, w]``, True where the map is walled off."""
        h, w = validate.positive_int(h, "h"), validate.positive_int(w, "w")
        rows = _resolve(self.rows, h, "rows", (h, w))
        cols = _resolve(self.cols, w, "columns", (h, w))
        m = torch.zeros(h, w, dtype=torch.bool)
        m[rows[0]:rows[1], cols[0]:cols[1]] = True
        return m


def _resolve(span, size, what, shape):
    """Turn a (start, stop) span with Python-slice conventions into checked indices."""
    if span is None:
        return 0, size
    start, stop = span
    start = 0 if start is None else (start + size if start < 0 else start)
    stop = size if stop is None else (stop + size if stop < 0 else stop)
    if not (0 <= start < stop <= size):
        raise ValueError(
            f"The wall's {what} {span} lie outside the {shape[0]}x{shape[1]} feature map: "
            f"choose 0 <= start < stop <= {size} (negative values count from the end)."
        )
    return start, stop


class WalledLinear(nn.Linear):
    """A dense layer reading a flattened ``[C, h, w]`` map, blind to the walled positions.

    ``forward(x)`` computes ``x @ (W * M).T + b`` with ``M`` the wall mask broadcast over
    channels and outputs, as ``(x * M) @ W.T + b`` (the same products, without building a
    masked copy of ``W`` at every call). Because the mask is inside the forward pass, the
    effective weights behind the wall are exactly 0 whatever happens to ``W``; the gradient
    reaching ``W`` there is exactly 0 too, so SGD (momentum, weight decay) and Adam leave ``W``
    at 0 as well.

    Shapes: ``x [N, C*h*w] -> [N, out_features]``.
    """

    def __init__(self, feature_shape: tuple[int, int, int], out_features: int,
                 wall: Wall, bias: bool = True):
        c, h, w = feature_shape
        super().__init__(c * h * w, out_features, bias=bias)
        self.feature_shape = (c, h, w)
        self.wall = wall
        walled = wall.mask(h, w).expand(c, h, w).reshape(-1)
        self.register_buffer("weight_mask", (~walled).to(self.weight.dtype), persistent=False)
        self.register_load_state_dict_post_hook(lambda module, _: module.zero_walled_weights())
        self.zero_walled_weights()

    @torch.no_grad()
    def zero_walled_weights(self) -> None:
        self.weight.mul_(self.weight_mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x * self.weight_mask.to(x.dtype), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, feature_shape={self.feature_shape}, wall={self.wall}"


def attention_mask(wall: Wall | None, h: int, w: int, extra_tokens: int = 1) -> torch.Tensor:
    """The wall of a vision transformer: who may attend to whom.

    Tokens are ``extra_tokens`` leading tokens (the class token) followed by the ``h x w``
    patch tokens in row-major order. Returns a bool ``[T, T]`` (``T = extra_tokens + h*w``),
    True where query ``i`` may read key ``j``: a walled patch token may read anything, but no
    other token may read a walled one -- ``allowed[i, j] = walled[i] or not walled[j]``. The
    wall is then a mask on attention, as :class:`WalledLinear`'s is a mask on weights.
    ``wall=None`` allows everything.
    """
    walled = torch.zeros(extra_tokens + h * w, dtype=torch.bool)
    if wall is not None:
        walled[extra_tokens:] = wall.mask(h, w).reshape(-1)
    return walled[:, None] | ~walled[None, :]


def wall_is_exact(model: nn.Module) -> bool:
    """True iff every :class:`WalledLinear` in ``model`` holds exactly 0 behind its wall."""
    layers = [m for m in model.modules() if isinstance(m, WalledLinear)]
    if not layers:
        raise ValueError("This model has no WalledLinear layer, so it has no wall to check.")
    return all(bool((m.weight[:, m.weight_mask == 0] == 0).all()) for m in layers)


# ----------------------------------------------------------------------------- dead zone

_PASS_THROUGH = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish,
                 nn.Sigmoid, nn.Tanh, nn.Identity, nn.Dropout, nn.Dropout2d,
                 nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def _connectivity_surrogate(features: nn.Module) -> nn.Module:
    """A copy of ``features`` that keeps its wiring and drops its arithmetic.

    Every convolution gets the positive weight ``1/fan_in`` and no bias, every max-pool becomes
    an average pool over the same window, every activation/normalisation becomes the identity.
    All that is left are sums of positive terms, so an output depends on an input pixel in the
    surrogate iff some path of the real network connects them: no cancellation can hide one.
    """
    surrogate = copy.deepcopy(features).double().eval()
    for name, module in list(surrogate.named_modules()):
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 1.0 / module.weight[0].numel())
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MaxPool2d):
            _replace(surrogate, name, nn.AvgPool2d(module.kernel_size, module.stride,
                                                   module.padding, module.ceil_mode))
        elif isinstance(module, _PASS_THROUGH):
            _replace(surrogate, name, nn.Identity())
        elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv3d, nn.ConvTranspose2d)):
            raise TypeError(
                f"dead_zone cannot trace receptive fields through {type(module).__name__} "
                f"('{name}') inside the feature extractor: it only knows Conv2d, pooling, "
                "activations and normalisation layers."
            )
    return surrogate


def _replace(root: nn.Module, dotted: str, new: nn.Module) -> None:
    if not dotted:
        raise TypeError("dead_zone needs a feature extractor made of layers, not a bare layer.")
    parent_name, _, child = dotted.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


def dead_zone(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The input pixels that cannot influence any output of a walled model.

    Parameters
    ----------
    model : a walled model exposing ``features`` (image ``[N, C, H, W]`` -> last feature map
        ``[N, V, h, w]``) and ``wall`` (the :class:`Wall` on that map), like every model in
        :mod:`camwalls_lib.models`.
    input_shape : ``(C, H, W)`` or ``(H, W)`` of one input image.

    Returns
    -------
    Bool tensor ``[H, W]``: True where the pixel is in the dead zone. A model without a wall
    (``model.wall is None``) has an empty dead zone: all False.

    A walled vision transformer (:class:`camwalls_lib.vit.WalledViT`) fits the same mould:
    its ``features`` is the patch embedding and its ``wall`` a rectangle of the patch grid,
    which :func:`attention_mask` keeps out of every token the class token reads.

    The computation is exact and weight-independent: the visible part of the feature map is
    traced back through a positive-weight copy of the feature extractor (see
    :func:`_connectivity_surrogate`); a pixel is dead iff no visible feature depends on it.
    """
    if not (hasattr(model, "features") and hasattr(model, "wall")):
        raise TypeError(
            "dead_zone needs a walled model with a `.features` module (image -> last feature "
            "map) and a `.wall` (camwalls_lib.walls.Wall); see camwalls_lib.models."
        )
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        raise TypeError(f"input_shape must be a tuple (C, H, W) or (H, W), got "
                        f"{type(input_shape).__name__}.")
    if len(input_shape) == 2:
        input_shape = (1, *input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W) or (H, W), got {tuple(input_shape)}.")
    input_shape = tuple(validate.positive_int(s, "input_shape (C, H, W)") for s in input_shape)
    if model.wall is None:
        return torch.zeros(input_shape[1:], dtype=torch.bool)
    if not isinstance(model.wall, Wall):
        raise TypeError(f"model.wall must be a camwalls_lib.walls.Wall or None, got "
                        f"{type(model.wall).__name__}.")
    surrogate = _connectivity_surrogate(model.features)
    x = torch.full((1, *input_shape), 1e-3, dtype=torch.float64, requires_grad=True)
    fmap = surrogate(x)
    if fmap.dim() != 4:
        raise ValueError(f"model.features must return a [N, V, h, w] map, got {tuple(fmap.shape)}.")
    visible = ~model.wall.mask(*fmap.shape[-2:])
    (fmap * visible.to(fmap.dtype)).sum().backward()
    return x.grad[0].abs().sum(0) == 0


def dead_cells(model: nn.Module, layer: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The dead zone one level up: the positions of ``layer``'s output map that can influence
    no output of a walled model (bool ``[h, w]``), for ``layer`` a direct child of
    ``model.features`` (an ``nn.Sequential``), e.g. ``model.cam_layer``.

    :func:`dead_zone` applied to the part of ``features`` after ``layer``: for the paper's
    toy CNN, the rows of ``B`` that the max-pool sends behind the wall; for a map that is the
    walled map itself, the wall's own mask.
    """
    children = list(model.features)
    index = next((i for i, m in enumerate(children) if m is layer), None)
    if index is None:
        raise ValueError("layer must be a direct child of model.features (e.g. model.cam_layer).")
    if len(input_shape) == 2:
        input_shape = (1, *input_shape)
    with torch.no_grad():
        shape = nn.Sequential(*children[:index + 1])(torch.zeros(1, *input_shape)).shape[1:]
    rest = nn.Module()
    rest.features, rest.wall = nn.Sequential(*children[index + 1:]), model.wall
    return dead_zone(rest, tuple(shape))


def receptive_field(features: nn.Module) -> int:
    """Theoretical receptive field (input pixels, along one side) of one output position.

    Walks the ``Conv2d`` and pooling layers of ``features`` in definition order, a chain
    (skip connections add no reach): ``r <- r + (k - 1) * dilation * jump``,
    ``jump <- jump * stride``. Masked VGG16 at ``conv5_3``: 196; EfficientNet-Lite0's last
    map: 851. Unlike :func:`dead_zone` it ignores borders and padding: it says how far a
    position can reach, not which pixels of a given image it does reach.
    """
    r, jump = 1, 1
    for m in features.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, d = (_first(getattr(m, a, 1)) for a in ("kernel_size", "stride", "dilation"))
            r += (k - 1) * d * jump
            jump *= s
    return r


def _first(v) -> int:
    return v[0] if isinstance(v, (tuple, list)) else v


def dead_rows(zone: torch.Tensor) -> tuple[int, int] | None:
    """First and last fully dead row (inclusive, 0-based) of a dead-zone mask ``[H, W]``, or
    None if no row is entirely dead. Handy for reporting: the paper's 1-based ``171:224`` is ``(170, 223)``."""
    rows = torch.nonzero(zone.all(dim=1)).flatten()
    if len(rows) == 0:
        return None
    return int(rows.min()), int(rows.max())


def check_dead_rows(model: nn.Module, input_shape: tuple[int, ...], answer,
                    hint: str | None = None) -> bool:
    """Exercise check: is ``answer = (first, last)`` (0-based, inclusive) the band of input rows
    that are entirely dead for ``model`` on inputs of ``input_shape``? Answer None if no row
    is entirely dead. ``hint`` replaces the generic hint for a wrong answer."""
    truth = dead_rows(dead_zone(model, input_shape))
    given = None if answer is None else tuple(int(a) for a in answer)
    praise = (f"rows {truth[0]}..{truth[1]} are dead: {truth[1] - truth[0] + 1} rows that can "
              "influence no output." if truth else
              "no input row is entirely dead: the visible features' receptive fields cover "
              "every row, so this wall hides nothing.")
    return verdict(given == truth, praise, hint or (
        "follow one visible feature row back through each pooling and convolution: a k x k "
        "convolution widens what a row reads by k - 1 pixels, a k' x k' max-pool multiplies "
        "positions by k'. Rows are 0-based and inclusive; answer None if no row is dead."))
