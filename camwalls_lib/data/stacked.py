"""Stacked digits: the MNIST analogue of the paper's STACK-MIX (its Eq. (6)).

STACK-MIX stacks two ImageNet images of the same class: the top 170 rows of one, the bottom
54 rows (the masked VGG's dead zone) of the other. Here the canvas is the model's own input
(28 x 28 for the book's MNIST models) and the zones come from
:func:`camwalls_lib.walls.dead_zone`:

- the **dead band**: the largest block of rows (or columns) in which every pixel is dead;
- the **visible band**: the largest block of rows (columns) in which no pixel is dead.

An image is Eq. (6) with a whole digit below the cut:

    xi = xi_1 outside the dead zone  +  a second digit of the same class, shrunk to fit the
                                        dead band, inside it.

``visible="cut"`` (the default, Eq. (6)) keeps ``xi_1`` where it is and blanks its dead
pixels, so **the network sees exactly the test digit it was evaluated on**: the stacked
image and ``xi_1`` differ only where it cannot look, and its prediction cannot change.
``visible="fit"`` instead shrinks ``xi_1`` into the visible band (whole, but moved: the
book's toy models, trained on centred digits, then misread most of them).
The dead digit is placed at a random offset along the band. ``singles=True`` keeps only the
dead-band digit: every pixel that carries the class lies where the network cannot look.

Boxes are ``(top, left, bottom, right)``, half-open, in canvas pixels, around each digit's
ink; ``-1`` everywhere marks "no digit".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import BadValue
from .mnist import Digits

__all__ = ["Stacked", "stack_digits", "bands"]


@dataclass
class Stacked:
    """A stacked-digits dataset.

    x : float ``[N, 1, H, W]`` in [0, 1].
    y : ``[N]`` the class of both digits.
    visible_box, dead_box : int ``[N, 4]`` ``(top, left, bottom, right)`` of each digit
        (``-1`` rows: no digit, e.g. ``visible_box`` of single digits).
    index : int ``[N, 2]`` the source images used (visible, dead); ``-1``: none.
    dead_zone : bool ``[H, W]`` the zone the digits were placed against.
    source : where the digits came from (print it under results).
    """

    x: torch.Tensor
    y: torch.Tensor
    visible_box: torch.Tensor
    dead_box: torch.Tensor
    index: torch.Tensor
    dead_zone: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.y)


def _blocks(flags: torch.Tensor) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-D bool tensor, as half-open ``(start, stop)``."""
    runs, start = [], None
    for i, f in enumerate(flags.tolist() + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            runs.append((start, i))
            start = None
    return runs


def bands(dead_zone: torch.Tensor) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Where the two digits go: ``(axis, visible, dead)``.

    ``axis`` is ``"rows"`` when the dead zone contains whole rows (a wall across the map's
    width), ``"cols"`` when it contains whole columns. ``visible`` is the largest half-open
    block of rows (columns) with no dead pixel, ``dead`` the largest block of fully dead ones.
    """
    if dead_zone.dim() != 2 or dead_zone.dtype != torch.bool:
        raise BadValue(f"dead_zone must be a bool [H, W] mask (walls.dead_zone), got "
                       f"{dead_zone.dtype} {tuple(dead_zone.shape)}.")
    for axis, zone in (("rows", dead_zone), ("cols", dead_zone.T)):
        dead = _blocks(zone.all(1))
        clean = _blocks(~zone.any(1))
        if dead and clean:
            pick = lambda runs: max(runs, key=lambda r: r[1] - r[0])  # noqa: E731
            return axis, pick(clean), pick(dead)
    raise BadValue(
        "Stacked digits need a dead zone made of whole rows or whole columns next to a "
        "fully visible band (a wall across the whole width or height of the feature map); "
        f"this one has {int(dead_zone.sum())} dead pixels in no such band.")


def _crop(img: torch.Tensor) -> torch.Tensor:
    """The tight box around the ink of a ``[h, w]`` image."""
    rows, cols = torch.nonzero(img.any(1)).flatten(), torch.nonzero(img.any(0)).flatten()
    return img[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _ink_box(img: torch.Tensor) -> torch.Tensor:
    """``(top, left, bottom, right)`` around the ink of ``img [h, w]``; -1s if blank."""
    rows, cols = torch.nonzero(img.any(1)).flatten(), torch.nonzero(img.any(0)).flatten()
    if len(rows) == 0:
        return torch.full((4,), -1)
    return torch.tensor([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1])


def _fit(digit: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Shrink ``digit [h, w]`` (keeping its aspect ratio) until it fits ``height x width``."""
    h, w = digit.shape
    scale = min(1.0, height / h, width / w)
    if scale == 1.0:
        return digit
    size = (max(1, int(h * scale)), max(1, int(w * scale)))
    small = F.interpolate(digit[None, None], size=size, mode="bilinear", antialias=True,
                          align_corners=False)[0, 0]
    return small.clamp(0, 1)


def _paste(canvas, digit, top, left):
    """Draw ``digit`` on ``canvas`` in place (max of both); returns the ink box."""
    h, w = digit.shape
    canvas[top:top + h, left:left + w] = torch.maximum(canvas[top:top + h, left:left + w], digit)
    box = _ink_box(digit)
    return box + torch.tensor([top, left, top, left])


def stack_digits(digits: Digits, dead_zone: torch.Tensor, n: int = 500, seed: int = 0,
                 singles: bool = False, visible: str = "cut", margin: int = 0,
                 pairs: torch.Tensor | None = None) -> Stacked:
    """``n`` stacked-digit images for a model whose dead zone is ``dead_zone [H, W]``.

    Parameters
    ----------
    digits : MNIST images and labels (:func:`camwalls_lib.data.load_mnist`), e.g. the test
        split, which the model never trained on.
    dead_zone : bool ``[H, W]`` from :func:`camwalls_lib.walls.dead_zone`; ``H, W`` is the
        canvas size. It must contain a full band of rows or columns (see :func:`bands`).
    n : number of images; classes are drawn uniformly from the images' labels.
    seed : the draw of digits and offsets (a private generator: global state is untouched).
    singles : keep only the digit in the dead band (the visible band stays black).
    visible : "cut" (Eq. (6): the first digit where it is, its dead pixels blanked) or "fit"
        (the first digit shrunk into the visible band and centred there).
    margin : pixels kept free at each end of each band, across the axis.
    pairs : optional int ``[n, 2]`` indices into ``digits`` (visible, dead) instead of a
        random draw; both of a pair must have the same label.
    """
    if pairs is not None:
        pairs = torch.as_tensor(pairs).long().reshape(-1, 2)
        n = len(pairs)
        if not torch.equal(digits.y[pairs[:, 0]], digits.y[pairs[:, 1]]):
            raise BadValue("Each pair of `pairs` must hold two digits of the same class.")
    if n < 1:
        raise BadValue(f"n must be >= 1, got {n}.")
    if visible not in ("cut", "fit"):
        raise BadValue(f"visible must be 'cut' (Eq. (6)) or 'fit', got {visible!r}.")
    if digits.x.shape[-2:] != dead_zone.shape and visible == "cut":
        raise BadValue(f"visible='cut' keeps the digits' own {tuple(digits.x.shape[-2:])} "
                       f"canvas, but the dead zone is {tuple(dead_zone.shape)}: use "
                       "visible='fit' or a dead zone of the digits' size.")
    axis, (v0, v1), (d0, d1) = bands(dead_zone)
    zone = dead_zone.T if axis == "cols" else dead_zone   # build on the transposed canvas
    H, W = zone.shape
    if min(v1 - v0, d1 - d0) - 2 * margin < 3:
        raise BadValue(f"A band is too thin for a digit (visible {v1 - v0}, dead {d1 - d0} "
                       f"{axis}, margin {margin}): move or shrink the wall.")
    g = torch.Generator().manual_seed(seed)
    images = digits.x.float() / 255.0
    labels = digits.y
    if pairs is None:
        by_class = {int(c): torch.nonzero(labels == c).flatten() for c in labels.unique()}
        classes = torch.tensor(sorted(by_class))
    xs, ys, vboxes, dboxes, idx = [], [], [], [], []
    for _ in range(n):
        if pairs is None:
            c = int(classes[torch.randint(len(classes), (1,), generator=g)])
            pool = by_class[c]
            pair = pool[torch.randperm(len(pool), generator=g)[:2]]
        else:
            pair = pairs[len(xs)]
            c = int(labels[pair[0]])
        i_vis, i_dead = int(pair[0]), int(pair[-1])
        canvas = torch.zeros(H, W)
        if axis == "cols":
            src_vis, src_dead = images[i_vis].T, images[i_dead].T
        else:
            src_vis, src_dead = images[i_vis], images[i_dead]
        box_v = torch.full((4,), -1)
        if not singles and visible == "cut":
            canvas = torch.where(zone, 0.0, src_vis)
            box_v = _ink_box(canvas)
        elif not singles:
            dv = _fit(_crop(src_vis), v1 - v0 - 2 * margin, W - 2 * margin)
            top = v0 + (v1 - v0 - dv.shape[0]) // 2
            box_v = _paste(canvas, dv, top, (W - dv.shape[1]) // 2)
        dd = _fit(_crop(src_dead), d1 - d0 - 2 * margin, W - 2 * margin)
        top = d0 + (d1 - d0 - dd.shape[0]) // 2
        left = margin + int(torch.randint(W - 2 * margin - dd.shape[1] + 1, (1,), generator=g))
        box_d = _paste(canvas, dd, top, left)
        if axis == "cols":
            canvas = canvas.T
            box_v = box_v[[1, 0, 3, 2]]
            box_d = box_d[[1, 0, 3, 2]]
        xs.append(canvas)
        ys.append(c)
        vboxes.append(box_v)
        dboxes.append(box_d)
        idx.append([-1 if singles else i_vis, i_dead])
    what = "single digits in the dead zone" if singles else "stacked digit pairs"
    return Stacked(x=torch.stack(xs)[:, None], y=torch.tensor(ys), visible_box=torch.stack(vboxes),
                   dead_box=torch.stack(dboxes), index=torch.tensor(idx),
                   dead_zone=dead_zone.clone(),
                   source=f"{n} {what} built from {digits.source}")
