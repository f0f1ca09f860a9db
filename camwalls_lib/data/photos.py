"""Real photos that ship inside scikit-image and scikit-learn, and the stacker of Eq. (6).

No download is needed: :func:`load_photos` reads the colour photographs bundled in the
scikit-image wheel (``skimage/data/``) and scikit-learn's two sample images, centre-crops them
to squares and resizes them to ``size x size``. :data:`PHOTO_LABELS` gives the ImageNet classes
that honestly describe each photo (for the ones where one exists), :func:`photo_name` the name
a reader sees for each photo ("cat" for scikit-image's ``chelsea``).

:func:`stack_pair` is the STACK-MIX stacker of the paper's Eq. (6): the top rows of one image
over the bottom rows of another, so that the visible part and the dead zone of a walled network
show different things.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from .. import validate
from ..errors import BadType, BadValue

__all__ = ["stack_pair", "shift_down", "load_photos", "photo_views", "square_crop",
           "mixed_composites", "same_photo_composites", "photo_name", "PHOTO_LABELS", "PHOTO_NAMES",
           "PHOTO_SOURCES"]


_CHANNELS = (1, 3, 4)
"""Channel counts of an image: grayscale, RGB, RGBA."""


def stack_pair(upper: torch.Tensor, lower: torch.Tensor, split: int) -> torch.Tensor:
    """Eq. (6): rows ``< split`` from ``upper``, rows ``>= split`` from ``lower``.

    Parameters
    ----------
    upper, lower : ``[C, H, W]`` images of the same shape (a batch ``[N, C, H, W]`` works too:
        rows are always the second-to-last dimension).
    split : the first row taken from ``lower``, ``0 < split < H``. For a walled network pass the
        first dead row, ``walls.dead_rows(zone)[0]``: the network then sees only ``upper``
        and the dead zone shows only ``lower``.

    Returns
    -------
    A new tensor shaped like ``upper``.
    """
    if not (torch.is_tensor(upper) and torch.is_tensor(lower)):
        raise BadType("stack_pair needs two image tensors [C, H, W], got "
                      f"{type(upper).__name__} and {type(lower).__name__}.")
    if upper.shape != lower.shape:
        raise BadValue(f"upper {tuple(upper.shape)} and lower {tuple(lower.shape)} must have the "
                       "same shape [C, H, W]: resize or crop them first (load_photos(size)).")
    if upper.dim() < 3:
        raise BadValue(f"stack_pair needs images [C, H, W], got shape {tuple(upper.shape)} "
                       "(a grayscale [H, W] image? use img[None]).")
    if upper.shape[-3] not in _CHANNELS and upper.shape[-1] in _CHANNELS:
        raise BadValue(f"stack_pair got images shaped {tuple(upper.shape)}, which look like "
                       "[H, W, C] (channels last): it would split columns, not rows. Use "
                       "img.permute(2, 0, 1) (or x.permute(0, 3, 1, 2) for a batch).")
    H = upper.shape[-2]
    if isinstance(split, bool) or not isinstance(split, int) or not 0 < split < H:
        raise BadValue(f"split must be an int row index with 0 < split < H = {H}, got {split!r}; "
                       "use the first dead row, walls.dead_rows(zone)[0].")
    out = upper.clone()
    out[..., split:, :] = lower[..., split:, :]
    return out


def shift_down(image: torch.Tensor, rows: int) -> torch.Tensor:
    """The same photo moved down by ``rows`` pixels: ``out[..., r, :] = image[..., r - rows, :]``.

    The ``rows`` uncovered rows at the top repeat the photo's first row (edge padding); the
    lowest ``rows`` rows of the photo fall off the bottom. ``image [C, H, W]`` (or a batch).
    Used for the same-photo control: an object moved into the dead zone of a walled network.
    """
    if not torch.is_tensor(image) or image.dim() < 3:
        raise BadValue("shift_down needs an image tensor [C, H, W] (or [N, C, H, W]).")
    H = image.shape[-2]
    if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows < H:
        raise BadValue(f"rows must be an int with 0 <= rows < H = {H}, got {rows!r}.")
    top = image[..., :1, :].expand(*image.shape[:-2], rows, image.shape[-1])
    return torch.cat([top, image[..., :H - rows, :]], dim=-2)


# ----------------------------------------------------------------------------- photos

PHOTO_SOURCES: dict[str, str] = {
    "chelsea": "scikit-image, skimage/data/chelsea.png (Stefan van der Walt's cat)",
    "coffee": "scikit-image, skimage/data/coffee.png (Rachel Michetti, a cup of coffee)",
    "astronaut": "scikit-image, skimage/data/astronaut.png (NASA, Eileen Collins)",
    "rocket": "scikit-image, skimage/data/rocket.jpg (SpaceX, Falcon 9 on the pad)",
    "motorcycle_left": "scikit-image, skimage/data/motorcycle_left.png (Middlebury stereo)",
    "motorcycle_right": "scikit-image, skimage/data/motorcycle_right.png (Middlebury stereo)",
    "china": "scikit-learn, load_sample_images(): china.jpg (Summer Palace, Beijing)",
    "flower": "scikit-learn, load_sample_images(): flower.jpg (a dahlia)",
}
"""Where each photo comes from. (``horse.png`` is a binary silhouette and ``camera.png`` is
grayscale, so they are left out.)"""

PHOTO_LABELS: dict[str, tuple[int, ...]] = {
    "chelsea": (281, 282, 285),
    "coffee": (967, 968),
    "rocket": (657, 744),
    "china": (698,),
}
"""ImageNet classes that honestly describe a photo; a prediction in the tuple counts as right.

- chelsea: a tabby cat -> tabby (281), tiger cat (282), Egyptian cat (285). ImageNet's
  domestic-cat classes are famously mixed up by annotators, so any of the three counts.
- coffee: an espresso in a cup -> espresso (967), cup (968).
- rocket: a launch vehicle on its pad -> missile (657), projectile (744): ImageNet has no
  "rocket" class; its rocket photos are filed under these two.
- china: the Summer Palace -> palace (698).

No label for astronaut (ImageNet has no "person"/"astronaut" class), flower (a dahlia;
ImageNet has only "daisy") or the motorcycles (ImageNet has no "motorcycle"; "moped" and
"motor scooter" are different vehicles). Their predictions still count for the agreement of
the walled and unwalled networks, which needs no label.
"""

PHOTO_NAMES: dict[str, str] = {
    "chelsea": "cat",
    "coffee": "espresso cup",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "motorcycle_left": "motorcycle (left)",
    "motorcycle_right": "motorcycle (right)",
    "china": "palace",
    "flower": "dahlia",
}
"""What each photo shows, as a reader reads it in titles and tables (the keys are the file
names of :data:`PHOTO_SOURCES`; the two motorcycles are one stereo pair, left and right view)."""


def photo_name(key: str) -> str:
    """The reader's name of the photo ``key`` (a key of :func:`load_photos`):
    ``photo_name("chelsea") == "cat"``."""
    if not isinstance(key, str):
        raise BadType(f"key must be a photo's key (a str such as 'chelsea'), got "
                      f"{type(key).__name__}.")
    if key not in PHOTO_NAMES:
        raise BadValue(f"key {key!r} is not one of the photos; choose from "
                       f"{', '.join(PHOTO_NAMES)}.")
    return PHOTO_NAMES[key]


_PIP_PHOTOS = "pip install scikit-image scikit-learn"


def _raw_photos() -> dict[str, np.ndarray]:
    """Each photo as a uint8 array ``[H, W, 3]`` at its own resolution."""
    try:
        import skimage
        import skimage.data
        import skimage.io
        from sklearn.datasets import load_sample_images
    except ImportError as e:
        raise ImportError("The bundled photos ship inside scikit-image and scikit-learn: "
                          f"{_PIP_PHOTOS}") from e
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    photos = {name: getattr(skimage.data, name)() for name in ("chelsea", "coffee", "astronaut",
                                                               "rocket")}
    for name in ("motorcycle_left", "motorcycle_right"):
        photos[name] = skimage.io.imread(os.path.join(folder, f"{name}.png"))
    china, flower = load_sample_images().images
    photos.update(china=china, flower=flower)
    return {name: img[..., :3] for name, img in photos.items()}


def square_crop(image, size: int, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0,
                flip: bool = False) -> torch.Tensor:
    """A square crop of a photo ``[H, W, 3]`` (uint8 array or tensor), resized: ``[3, size, size]``.

    The crop's side is ``scale * min(H, W)``; its centre is the photo's centre moved by
    ``dx, dy`` (fractions of the free room on each side, in [-1, 1]: -1 = left/top edge).
    Resizing is bilinear with antialiasing; values in [0, 1]. ``flip`` mirrors left-right.
    """
    validate.positive_int(size, "size")
    if not 0 < scale <= 1 or not (-1 <= dx <= 1 and -1 <= dy <= 1):
        raise BadValue(f"need 0 < scale <= 1 and dx, dy in [-1, 1]; got {scale}, {dx}, {dy}.")
    img = image if torch.is_tensor(image) else torch.from_numpy(np.array(image, copy=True))
    img = img.permute(2, 0, 1).float() / 255.0 if img.dtype == torch.uint8 else img.permute(2, 0, 1).float()
    H, W = img.shape[-2:]
    side = max(1, round(scale * min(H, W)))
    top = round((H - side) / 2 * (1 + dy))
    left = round((W - side) / 2 * (1 + dx))
    crop = img[:, top:top + side, left:left + side]
    out = F.interpolate(crop[None], size=(size, size), mode="bilinear", antialias=True,
                        align_corners=False)[0].clamp(0, 1)
    return out.flip(-1) if flip else out


def load_photos(size: int = 224) -> dict[str, torch.Tensor]:
    """The bundled photos, centre-cropped to squares and resized: name -> ``[3, size, size]``
    in [0, 1]. Sources in :data:`PHOTO_SOURCES`, ImageNet labels in :data:`PHOTO_LABELS`."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise BadValue(f"size must be an int >= 8, got {size!r}.")
    return {name: square_crop(img, size) for name, img in _raw_photos().items()}


def photo_views(size: int = 224, scales=(1.0, 0.8), shifts=(-1.0, 1.0), flips=(False, True)):
    """Several crops of every bundled photo, for a less anecdotal accuracy check.

    For each photo: every ``scale``; at ``scale < 1`` the crop also moves to each ``shift`` along
    the photo's long side (and stays centred); each view also mirrored if ``True in flips``.
    Returns ``(x [M, 3, size, size], names [M])``. The views of one photo are strongly
    correlated: they measure stability, not generalisation.
    """
    images, names = [], []
    for name, img in _raw_photos().items():
        wide = img.shape[1] >= img.shape[0]
        for scale in scales:
            for shift in ((0.0,) if scale == 1 else (0.0, *shifts)):
                for flip in flips:
                    dx, dy = (shift, 0.0) if wide else (0.0, shift)
                    images.append(square_crop(img, size, scale, dx, dy, flip))
                    names.append(name)
    return torch.stack(images), names


# ----------------------------------------------------------------------------- composites

def mixed_composites(photos: dict[str, torch.Tensor], split: int, pairs=None):
    """STACK-MIX from the bundled photos: photo ``a``'s rows ``< split`` over photo ``b``'s rows
    ``>= split``, for each ``(a, b)`` in ``pairs`` (default: every photo over the next one, in
    the dict's order, cyclically). Returns ``(x [M, C, H, W], pairs)``.

    The paper mixes two ImageNet images *of the same class*; offline there is one photo per
    class (except the two motorcycles), so these pairs mix classes. :func:`same_photo_composites`
    is the same-class version.
    """
    names = list(photos)
    pairs = pairs if pairs is not None else [(a, names[(i + 1) % len(names)])
                                             for i, a in enumerate(names)]
    for a, b in pairs:
        if a not in photos or b not in photos:
            raise BadValue(f"unknown photo in pair {(a, b)}; choose from {names}.")
    return torch.stack([stack_pair(photos[a], photos[b], split) for a, b in pairs]), list(pairs)


def same_photo_composites(photos: dict[str, torch.Tensor], split: int, shift: int):
    """The same-class control: each photo's rows ``< split`` over its own copy moved down by
    ``shift`` rows (:func:`shift_down`), so that the lower dead-zone band shows the part of the
    photo that was ``shift`` rows higher -- for a centred object, the object itself.
    Returns ``(x [M, C, H, W], names)``."""
    x = torch.stack([stack_pair(p, shift_down(p, shift), split) for p in photos.values()])
    return x, list(photos)
