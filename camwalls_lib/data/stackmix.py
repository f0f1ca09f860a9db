"""STACK-MIX and STACK-GEN: images whose dead zone shows something the network cannot see.

The paper (Sec. 3.2) builds STACK-MIX from the ImageNet validation set, Eq. (6):

    xi = ( (xi_1)[:, :170, :]  over  (xi_2)[:, 171:224, :] )  in [0, 1]^{3 x 224 x 224},

with ``xi_1, xi_2`` two validation images of the same class, for one class in each of 100
classes drawn among the first 398 (the animals). The slices mix notations: ``:170`` is
Python's rows 0..169 and ``171:224`` is 1-based inclusive, rows 171..224 = Python 170..223, so
the composite has 170 + 54 = 224 rows and the lower part is exactly the masked [VGG]'s dead
zone (``walls.dead_rows`` gives ``(170, 223)``). STACK-GEN holds 100 DALL-E 3 images of "an
animal stacked on top of the same animal"; it cannot be rebuilt, only loaded.

- :func:`build_stackmix` -- Eq. (6) from any ImageNet-style validation folder, seeded.
- :func:`load_stack_folder` -- the authors' ``stackmix/`` and ``stackgen/`` folders (a flat
  folder of images read in sorted order, as their ``heatmap.load_dataset`` does).
- :func:`photo_stackmix` -- a small STACK-MIX-like set from photos shipped inside installed
  packages, so the pipeline runs end to end offline (the two halves show different subjects).
- :func:`class_folders`, :func:`preprocess`, :func:`normalize_imagenet` -- shared helpers.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import functional as TF

from ..errors import BadValue
from .photos import stack_pair

__all__ = ["StackSet", "build_stackmix", "load_stack_folder", "photo_stackmix",
           "class_folders", "preprocess", "normalize_imagenet", "IMAGENET_MEAN",
           "IMAGENET_STD", "ANIMAL_CLASSES", "SPLIT_ROW", "IMAGE_EXTENSIONS"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ANIMAL_CLASSES = 398
"""ImageNet classes 0..397 are animals (the paper samples STACK-MIX classes among them)."""
SPLIT_ROW = 170
"""First row of the lower image in Eq. (6) (Python index): rows 170..223 = the dead zone."""
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".JPEG", ".bmp", ".webp")


@dataclass
class StackSet:
    """A set of composite images.

    images : ``[N, 3, 224, 224]`` float in [0, 1] (not normalised: see
        :func:`normalize_imagenet` before feeding a model trained on ImageNet).
    labels : ``[N]`` ImageNet class of the composite (-1 where unknown, e.g. STACK-GEN).
    names  : one string per image (file name, or ``"upper|lower"`` sources).
    source : where the images come from, to print under every result.
    """

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def save(self, folder) -> Path:
        """Write ``000_<label>.png`` ... and ``labels.csv`` (name, label, sources) to ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "labels.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "label", "sources"])
            for n, (img, label) in enumerate(zip(self.images, self.labels.tolist())):
                name = f"{n:03d}_{label}.png"
                TF.to_pil_image(img.clamp(0, 1)).save(folder / name)
                writer.writerow([name, label, self.names[n] if n < len(self.names) else ""])
        return folder


# ----------------------------------------------------------------------------- helpers

def preprocess(image: Image.Image, size: int = 224) -> torch.Tensor:
    """The usual ImageNet evaluation crop: resize the short side to ``size * 256/224``, centre
    crop ``size x size``. Returns ``[3, size, size]`` in [0, 1]."""
    image = image.convert("RGB")
    image = TF.resize(image, round(size * 256 / 224))
    return TF.to_tensor(TF.center_crop(image, [size, size]))


def normalize_imagenet(x: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std`` with ImageNet statistics; ``x [N, 3, H, W]`` or ``[3, H, W]``."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device)[:, None, None]
    return (x - mean) / std


def class_folders(root) -> list[tuple[str, int]]:
    """The class folders of an ImageNet-style folder and their ImageNet indices.

    Two layouts are understood: synset folders (``n01440764`` ...; sorted order is ImageNet's
    class order, as torchvision's ``ImageFolder`` assumes) and the authors' integer folders
    (``0`` ... ``999``, renamed by their preprocessing script; the index is the number, *not*
    the sorted position -- "10" sorts before "2"). Returns ``[(folder_name, index)]``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} is not a folder. Expected an ImageNet-style folder with one sub-folder per "
            "class (synsets n01440764 ... or class indices 0 ... 999) holding the images.")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise BadValue(f"{root} has no class sub-folders: expected {root}/<class>/<image>.JPEG.")
    if all(n.isdigit() for n in names):
        return sorted(((n, int(n)) for n in names), key=lambda t: t[1])
    return [(n, i) for i, n in enumerate(names)]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in IMAGE_EXTENSIONS
                  or p.suffix.lower() in IMAGE_EXTENSIONS)


# ----------------------------------------------------------------------------- STACK-MIX

def build_stackmix(val_dir, n_classes: int = 100, among: int = ANIMAL_CLASSES,
                   split: int = SPLIT_ROW, size: int = 224, seed: int = 0,
                   out_dir=None) -> StackSet:
    """STACK-MIX from an ImageNet-style validation folder, exactly as Eq. (6).

    ``n_classes`` classes are drawn (without replacement, ``random.Random(seed)``) among the
    classes of index ``< among``; for each, two different images ``xi_1, xi_2`` of that class
    are drawn, each is :func:`preprocess`-ed to ``size x size``, and the composite takes rows
    ``< split`` from ``xi_1`` and rows ``>= split`` from ``xi_2`` (:func:`photos.stack_pair`).

    Returns a :class:`StackSet` whose label is the shared class; with ``out_dir`` the images
    are also saved there (``StackSet.save``), in the layout :func:`load_stack_folder` reads.
    """
    candidates = [(name, idx) for name, idx in class_folders(val_dir) if idx < among]
    root = Path(val_dir)
    usable = [(name, idx) for name, idx in candidates if len(_images_in(root / name)) >= 2]
    if len(usable) < n_classes:
        raise BadValue(
            f"{val_dir} has only {len(usable)} classes with index < {among} and at least two "
            f"images; STACK-MIX needs {n_classes}. Point at the full ImageNet validation folder "
            "or lower n_classes.")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(usable, n_classes), key=lambda t: t[1])
    images, labels, names = [], [], []
    for name, idx in chosen:
        upper, lower = rng.sample(_images_in(root / name), 2)
        xi_1 = preprocess(Image.open(upper), size)
        xi_2 = preprocess(Image.open(lower), size)
        images.append(stack_pair(xi_1, xi_2, split))
        labels.append(idx)
        names.append(f"{name}/{upper.name}|{name}/{lower.name}")
    stack = StackSet(torch.stack(images), torch.tensor(labels), names,
                     source=f"STACK-MIX built from {val_dir} (seed {seed})")
    if out_dir is not None:
        stack.save(out_dir)
    return stack


def load_stack_folder(folder, kind: str | None = None, size: int = 224) -> StackSet:
    """The authors' STACK-MIX / STACK-GEN folder (or one written by :meth:`StackSet.save`).

    Their ``processed_datasets_gradcam.zip`` unpacks to ``stackmix/`` and ``stackgen/``: flat
    folders of images, read in sorted file order. As in their ``heatmap.load_dataset``,
    STACK-MIX images are already ``224 x 224`` and are used as they are, STACK-GEN images are
    resized (short side 256) and centre-cropped to 224. ``kind`` is ``"stackmix"`` or
    ``"stackgen"`` (default: guessed from the folder name, else ``"stackgen"``'s resize).
    Labels come from a ``labels.csv`` if present, otherwise they are -1 (the paper explains
    each image's *predicted* class anyway).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder. Download the authors' datasets (linked from "
            "github.com/MagamedT/cam-can-see-through-walls), unzip them and pass the 'stackmix' "
            "or 'stackgen' folder.")
    files = _images_in(folder)
    if not files:
        raise BadValue(f"{folder} holds no image (.png, .jpg, .jpeg).")
    kind = kind or ("stackmix" if "mix" in folder.name.lower() else "stackgen")
    if kind not in ("stackmix", "stackgen"):
        raise BadValue(f"kind must be 'stackmix' or 'stackgen', got {kind!r}.")
    known = {}
    if (folder / "labels.csv").exists():
        with open(folder / "labels.csv", newline="") as f:
            known = {row["file"]: int(row["label"]) for row in csv.DictReader(f)}
    images = []
    for path in files:
        image = Image.open(path).convert("RGB")
        if kind == "stackmix":
            if image.size != (size, size):
                raise BadValue(
                    f"{path.name} is {image.size[0]}x{image.size[1]}, but STACK-MIX images are "
                    f"{size}x{size} composites used as they are (a resize would move the split "
                    "row off the dead zone). Use kind='stackgen' to resize and crop instead.")
            images.append(TF.to_tensor(image))
        else:
            images.append(preprocess(image, size))
    labels = torch.tensor([known.get(p.name, -1) for p in files])
    return StackSet(torch.stack(images), labels, [p.name for p in files],
                    source=f"{kind} folder {folder} ({len(files)} images)")


def photo_stackmix(size: int = 224, split: int = SPLIT_ROW, n: int | None = None) -> StackSet:
    """A small STACK-MIX-like set from the photos that ship with scikit-image / scikit-learn.

    :func:`photos.mixed_composites` of the first ``n`` photos of :func:`photos.load_photos`:
    photo ``i`` gives the rows ``< split``, photo ``i + 1`` (cyclically) the rows ``>= split``,
    so the dead zone always shows a different subject from the one the network sees. Unlike
    the paper's set, the two halves are *not* the same class (no two shipped photos are);
    labels are the upper photo's first ImageNet class where one describes it, else -1.
    """
    from .photos import PHOTO_LABELS, load_photos, mixed_composites

    photos = load_photos(size=size)
    photos = dict(list(photos.items())[:n]) if n else photos
    if len(photos) < 2:
        raise BadValue("photo_stackmix needs at least two photos (n >= 2).")
    images, pairs = mixed_composites(photos, split)
    labels = torch.tensor([PHOTO_LABELS.get(upper, (-1,))[0] for upper, _ in pairs])
    return StackSet(images, labels, [f"{a}|{b}" for a, b in pairs],
                    source="STACK-MIX-like set: photos shipped with scikit-image / "
                           "scikit-learn, two different subjects per image (not ImageNet)")
