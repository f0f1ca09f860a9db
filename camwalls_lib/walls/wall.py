"""The wall: the part of the last feature map a network is forbidden to read, and the one
mechanism that enforces it.

The paper builds its wall in the first dense layer: the weights ``W[:, :, -9:, :]`` that read
the lowest rows of the last feature map ``B`` are fixed at zero, so nothing computed there can
reach the logits. Here the wall is a :class:`Wall` (a rectangle of the feature map) and one mechanism,
:class:`FeatureWall`, that sets the walled positions of a map to exactly 0 before anything
reads it. :class:`WalledLinear` (the paper's dense-layer wall) is a :class:`FeatureWall` on its
input followed by a dense layer, so its weights behind the wall are zero *by construction* --
after any optimizer step, weight decay or reload; EfficientNet's walled head uses the
:class:`FeatureWall` alone. :func:`attention_mask` is the same wall for a transformer's
attention. The dead zone it makes in the input is in :mod:`.deadzone`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import validate
from ..errors import BadType, BadValue

__all__ = ["Wall", "FeatureWall", "WalledLinear", "attention_mask", "wall_is_exact",
           "walled_weights", "effective_weight", "require_walled_state", "paper_wall",
           "theorem3_wall", "visible_positions", "walled_positions"]


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
                raise BadType(f"Wall {what} must be a (start, stop) pair of ints or None "
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

    def visible(self, h: int, w: int) -> torch.Tensor:
        """Bool tensor ``[h, w]``, True where the map may be read (``~mask``)."""
        return ~self.mask(h, w)


def _resolve(span, size, what, shape):
    """Turn a (start, stop) span with Python-slice conventions into checked indices."""
    if span is None:
        return 0, size
    start, stop = span
    start = 0 if start is None else (start + size if start < 0 else start)
    stop = size if stop is None else (stop + size if stop < 0 else stop)
    if not (0 <= start < stop <= size):
        raise BadValue(
            f"The wall's {what} {span} lie outside the {shape[0]}x{shape[1]} feature map: "
            f"choose 0 <= start < stop <= {size} (negative values count from the end)."
        )
    return start, stop


def paper_wall(side: int) -> Wall:
    """The paper's wall on a ``side x side`` last map: its lowest 9/14 of the rows
    (``Wall.bottom(9)`` of VGG16's 14 rows at 224 px), rounded."""
    return Wall.bottom(round(validate.positive_int(side, "side") * 9 / 14))


def theorem3_wall(h_prime: int) -> Wall:
    """Theorem 3's wall ``W_{:, -h'/2:, :} = 0``: the lower half of the pooled map."""
    h_prime = validate.positive_int(h_prime, "h_prime")
    if h_prime % 2:
        raise BadValue(f"Theorem 3 assumes h' even, got h' = {h_prime}.")
    return Wall.bottom(h_prime // 2)


def visible_positions(wall, hp: int, wp: int) -> torch.Tensor:
    """Bool ``[hp, wp]``, True where the map is readable, for ``wall`` a :class:`Wall`, None (no
    wall) or ``"half"`` (:func:`theorem3_wall`)."""
    if isinstance(wall, str) and wall == "half":
        wall = theorem3_wall(hp)
    if wall is None:
        return torch.ones(hp, wp, dtype=torch.bool)
    if not isinstance(wall, Wall):
        raise BadType(f"wall must be a Wall, None (no wall) or 'half' (Theorem 3's), "
                      f"got {wall!r}.")
    return wall.visible(hp, wp)


def walled_positions(h: int, w: int, k_pool: int, wall="half") -> torch.Tensor:
    """Bool ``[h, w]``: positions of ``B`` whose pooling window is behind the wall, i.e. whose
    value cannot reach the output (the dead zone at feature resolution)."""
    h, w = validate.positive_int(h, "h"), validate.positive_int(w, "w")
    k_pool = validate.positive_int(k_pool, "k_pool")
    visible = visible_positions(wall, h // k_pool, w // k_pool)
    return ~visible.repeat_interleave(k_pool, 0).repeat_interleave(k_pool, 1)


class FeatureWall(nn.Module):
    """``B [N, V, h, w] -> B`` with the walled positions set to exactly 0: the one wall.

    Everything after this layer reads ``B`` only through the visible positions: a pixel that
    influences no visible position of ``B`` influences no output (the dead zone). The gradient
    through the walled positions is exactly 0 too. With ``shape=(h, w)`` the visible mask is
    built once (a buffer, so the layer traces with ``torch.fx``); without, at every call from
    the map's size. ``wall=None`` lets everything through.
    """

    def __init__(self, wall: Wall | None, shape: tuple[int, int] | None = None):
        super().__init__()
        self.wall = wall
        visible = None if wall is None or shape is None else wall.visible(*shape)
        self.register_buffer("visible", visible, persistent=False)

    def forward(self, B: torch.Tensor) -> torch.Tensor:
        if self.wall is None:
            return B
        visible = self.visible if self.visible is not None else \
            self.wall.visible(*B.shape[-2:]).to(B.device)
        return B * visible.to(B.dtype)

    def extra_repr(self) -> str:
        return f"wall={self.wall}"


class WalledLinear(nn.Linear):
    """A dense layer reading a flattened ``[C, h, w]`` map through a :class:`FeatureWall`.

    ``forward(x)`` computes ``(x * M) @ W.T + b`` with ``M`` the wall's visible mask broadcast
    over channels -- the same products as ``x @ (W * M).T + b``, without building a masked copy
    of ``W`` at every call. Because the wall is inside the forward pass, the effective weights
    behind it are exactly 0 whatever happens to ``W``; the gradient reaching ``W`` there is
    exactly 0 too, so SGD (momentum, weight decay) and Adam leave ``W`` at 0 as well (and
    loading a state_dict zeroes them again).

    Shapes: ``x [N, C*h*w] -> [N, out_features]``.
    """

    def __init__(self, feature_shape: tuple[int, int, int], out_features: int,
                 wall: Wall, bias: bool = True):
        c, h, w = feature_shape
        super().__init__(c * h * w, out_features, bias=bias)
        self.feature_shape = (c, h, w)
        self.wall = wall
        self.feature_wall = FeatureWall(wall, (h, w))
        self.register_load_state_dict_post_hook(lambda module, _: module.zero_walled_weights())
        self.zero_walled_weights()

    def walled(self) -> torch.Tensor:
        """Bool ``[C*h*w]``: the inputs (flattened map positions) behind the wall."""
        return ~self.feature_wall.visible.expand(*self.feature_shape).reshape(-1)

    def walled_count(self) -> int:
        """How many weights read behind the wall (all exactly 0), from the wall's geometry
        alone: also for a layer built on the meta device."""
        c, h, w = self.feature_shape
        return int((~self.wall.visible(h, w)).sum()) * c * self.out_features

    @torch.no_grad()
    def zero_walled_weights(self) -> None:
        self.weight.mul_((~self.walled()).to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = self.feature_wall(x.reshape(x.shape[0], *self.feature_shape))
        return F.linear(B.flatten(1), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, feature_shape={self.feature_shape}, wall={self.wall}"


def walled_weights(layer: WalledLinear, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The weights of ``layer`` (or ``weight``, of its shape) that read behind its wall:
    ``[out_features, walled inputs]``, all exactly 0 for a walled layer."""
    weight = layer.weight if weight is None else weight
    return weight[:, layer.walled().to(weight.device)]


def effective_weight(layer: nn.Linear) -> torch.Tensor:
    """The weight a dense layer really uses: a :class:`WalledLinear`'s with the walled
    columns at 0 (they already are; this makes it true by construction), else ``weight``."""
    if isinstance(layer, WalledLinear):
        return layer.weight * (~layer.walled()).to(layer.weight.dtype)
    return layer.weight


def attention_mask(wall: Wall | None, h: int, w: int, extra_tokens: int = 1) -> torch.Tensor:
    """The wall of a vision transformer: who may attend to whom.

    Tokens are ``extra_tokens`` leading tokens (the class token) followed by the ``h x w``
    patch tokens in row-major order. Returns a bool ``[T, T]`` (``T = extra_tokens + h*w``),
    True where query ``i`` may read key ``j``: a walled patch token may read anything, but no
    other token may read a walled one -- ``allowed[i, j] = walled[i] or not walled[j]``. The
    wall is then a mask on attention, as :class:`WalledLinear`'s is a mask on weights.
    ``wall=None`` allows everything.
    """
    h, w = validate.positive_int(h, "h"), validate.positive_int(w, "w")
    extra_tokens = validate.positive_int(extra_tokens, "extra_tokens", minimum=0)
    if wall is not None and not isinstance(wall, Wall):
        raise validate.BadType(f"wall must be a Wall or None, got {wall!r}.")
    walled = torch.zeros(extra_tokens + h * w, dtype=torch.bool)
    if wall is not None:
        walled[extra_tokens:] = wall.mask(h, w).reshape(-1)
    return walled[:, None] | ~walled[None, :]


def wall_is_exact(model: nn.Module) -> bool:
    """True iff every :class:`WalledLinear` in ``model`` holds exactly 0 behind its wall."""
    layers = [m for m in validate.module(model).modules() if isinstance(m, WalledLinear)]
    if not layers:
        raise BadValue("This model has no WalledLinear layer, so it has no wall to check.")
    return all(bool((walled_weights(m) == 0).all()) for m in layers)


def require_walled_state(state: dict, model: nn.Module, path) -> None:
    """Refuse a state_dict (read from ``path``) whose weights behind a :class:`WalledLinear`'s
    wall are not 0: it was saved from a model without this wall."""
    for name, layer in model.named_modules():
        weight = state.get(f"{name}.weight" if name else "weight")
        if not isinstance(layer, WalledLinear) or not torch.is_tensor(weight) \
                or weight.shape != layer.weight.shape:
            continue
        behind = walled_weights(layer, weight)
        if behind.count_nonzero():
            raise BadValue(
                f"{path}: {int(behind.count_nonzero())} weights of {name} behind its wall "
                f"({layer.wall}) are not 0, so the checkpoint was saved from a model without "
                "this wall; loading it would silently zero them and make another network. "
                "Load it into an unwalled model, or train the walled one.")
