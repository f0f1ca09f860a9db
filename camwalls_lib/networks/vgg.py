"""The masked [VGG] of the paper in the authors' checkpoint layout.

:func:`load_paper_vgg` / :func:`save_paper_vgg` read and write the authors' layout. Their
model is ``nn.Sequential(*vgg16.features[:30], nn.Flatten(), vgg16.classifier)`` with
conv5_3 = ``Conv2d(512, 256, 3, padding=1)`` (key ``28``) and ``classifier[0] =
Linear(256*14*14, 4096)``; its ``state_dict`` keys are ``0.weight`` ... ``28.bias`` for the
convolutions and ``31.0.*``, ``31.3.*``, ``31.6.*`` for the three dense layers. Ours
(:class:`~camwalls_lib.networks.models.MaskedVGG`) has the same ``features.*`` indices and a
classifier that starts with a Flatten, so ``31.k`` becomes ``classifier.{k+1}``. Training
recipes are in :mod:`camwalls_lib.experiments.imagenet_vgg`.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .. import validate
from ..errors import BadType, BadValue
from ..walls import effective_weight, walled_weights
from .models import MaskedVGG, masked_vgg16

__all__ = ["load_paper_vgg", "save_paper_vgg", "paper_to_library", "library_to_paper"]

_PAPER_CLASSIFIER = 31  # index of the classifier Sequential in the authors' nn.Sequential


# ----------------------------------------------------------------------------- checkpoints

def paper_to_library(state_dict: dict) -> dict:
    """Rename the authors' keys (``0.weight``, ``31.0.weight`` ...) to ours
    (``features.0.weight``, ``classifier.1.weight`` ...)."""
    out = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        if not head.isdigit():
            raise BadValue(
                f"Key {key!r} is not in the authors' layout (integer module indices of an "
                "nn.Sequential: '0.weight' ... '31.6.bias'). A torchvision VGG16 state_dict "
                "('features.0.weight', 'classifier.0.weight') is a different model: the paper's "
                "[VGG] has no last max-pool and a 256-channel conv5_3.")
        i = int(head)
        if i < _PAPER_CLASSIFIER - 1:
            out[f"features.{i}.{rest}"] = value
        elif i == _PAPER_CLASSIFIER:
            sub, _, leaf = rest.partition(".")
            out[f"classifier.{int(sub) + 1}.{leaf}"] = value
        else:
            raise BadValue(f"Unexpected key {key!r}: index 30 is the parameter-free Flatten.")
    return out


def library_to_paper(state_dict: dict) -> dict:
    """The inverse of :func:`paper_to_library`: our ``MaskedVGG`` keys to the authors'."""
    out = {}
    for key, value in state_dict.items():
        part, i, rest = key.split(".", 2)
        if part == "features":
            out[f"{i}.{rest}"] = value
        elif part == "classifier":
            out[f"{_PAPER_CLASSIFIER}.{int(i) - 1}.{rest}"] = value
    return out


def save_paper_vgg(model: MaskedVGG, path) -> Path:
    """Save ``model``'s weights in the authors' layout (loadable by their ``heatmap.py`` and by
    :func:`load_paper_vgg`). Walled weights are saved as the exact zeros they are."""
    if not isinstance(model, MaskedVGG):
        raise BadType(f"save_paper_vgg saves a MaskedVGG, got {type(model).__name__}.")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    first = model.classifier[1]
    state["classifier.1.weight"] = effective_weight(first).detach().cpu()
    return validate.atomic_save(library_to_paper(state), path)


def load_paper_vgg(path, force_wall: bool = False, map_location="cpu") -> MaskedVGG:
    """The authors' masked [VGG] checkpoint (``params_vgg16_masked.pt``) as a ``MaskedVGG``.

    The architecture is read off the shapes: width from conv1_1, number of classes from the
    last layer, feature-map side from the first dense layer (the authors': width 1, 1000
    classes, 256 x 14 x 14, lowest 9 rows walled). Every tensor's shape is then checked
    against the model; a mismatch is refused with the list of offending keys. The file is read
    with ``torch.load(weights_only=True)``.

    The weights behind the wall must already be exactly 0 in the file (the authors multiply by
    the mask after every step). If not, the file is an *unmasked* model (their
    ``params_vgg16_baseline.pt``) and is refused: zeroing those weights would silently make
    another network. ``force_wall=True`` zeroes them anyway, as the authors' loader does "just
    in case".
    """
    raw = validate.load_tensors(
        path, "masked [VGG] checkpoint", "the authors' params_vgg16_masked.pt is linked from "
        "github.com/MagamedT/cam-can-see-through-walls; `python -m camwalls_lib.experiments.imagenet_vgg train` "
        "writes masked_vgg.pt in the same layout", map_location)
    if isinstance(raw, dict) and "model_state_dict" in raw:
        raw = raw["model_state_dict"]
    if not isinstance(raw, dict) or not all(torch.is_tensor(v) for v in raw.values()):
        raise BadValue(f"{path} does not hold a state_dict (a dict of tensors).")
    state = paper_to_library(raw)
    model = _model_for(state, path)
    expected = model.state_dict()
    bad = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
           for k, v in expected.items() if k in state and state[k].shape != v.shape]
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if bad or missing or extra:
        raise BadValue(
            f"{path} does not match the masked [VGG] architecture "
            "(VGG16 features without the last max-pool, conv5_3 -> 256 channels, "
            "Linear(256*14*14, 4096), 4096, classes):\n  "
            + "\n  ".join(bad[:5] + [f"missing {k}" for k in missing[:5]]
                        + [f"unexpected {k}" for k in extra[:5]]))
    first = model.classifier[1]
    walled = walled_weights(first, state["classifier.1.weight"])
    if walled.count_nonzero() and not force_wall:
        raise BadValue(
            f"{path}: {int(walled.count_nonzero())} weights behind the wall are not 0, so this "
            "is an unmasked model (e.g. the authors' params_vgg16_baseline.pt), not the masked "
            "[VGG]. Pass force_wall=True to zero them anyway (that changes the network).")
    model.load_state_dict(state)          # WalledLinear zeroes what force_wall lets through
    return model.eval()


def _model_for(state: dict, path) -> MaskedVGG:
    """Build the MaskedVGG whose shapes a (library-layout) state_dict implies."""
    try:
        conv1 = state["features.0.weight"]
        last_conv = state["features.28.weight"]
        first = state["classifier.1.weight"]
        last = state["classifier.7.weight"]
    except KeyError as e:
        raise BadValue(f"{path} lacks {e.args[0]} (authors' key "
                       f"{next(iter(library_to_paper({e.args[0]: 0})))}): not a masked [VGG] "
                       "checkpoint.") from None
    width = conv1.shape[0] / 64
    side = math.isqrt(first.shape[1] // last_conv.shape[0])
    if side * side * last_conv.shape[0] != first.shape[1]:
        raise BadValue(f"{path}: the first dense layer reads {first.shape[1]} features, not "
                       f"{last_conv.shape[0]} channels x a square map.")
    # MaskedVGG scales conv5_3 and the dense width by `width` (rounding): undo it.
    return masked_vgg16(num_classes=last.shape[0], width=width, input_size=16 * side,
                        hidden=first.shape[0] / width, last_channels=last_conv.shape[0] / width)
