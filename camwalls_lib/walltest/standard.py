"""The benchmark's standard set: shipped walled networks and shipped standard inputs.

Five walled networks (:data:`NETWORKS`), each with a proved dead zone and a batch of images
whose dead zone holds something a leaking map would paint:

- ``toy-cnn``: the paper's toy CNN trained on MNIST (lower third walled);
- ``resnet-head`` / ``resnet-stage``: the residual networks of
  :mod:`camwalls_lib.networks.resnet` (wall at the explained layer / one stage before it);
- ``vit``: the walled vision transformer (two lowest patch rows walled);
- ``vgg-fashion``: the masked VGG16 trained on Fashion-MNIST at 224 px (lowest 9/14 walled).

The images come from ``inputs.npz`` next to this file (uint8, 16 same-class pairs of MNIST
test digits and 16 of Fashion-MNIST test items, checked on load): the 28-px networks get
stacked digits built against their own dead zone (:func:`camwalls_lib.data.stacked.stack_digits`),
the VGG gets same-class STACK-MIX composites (Eq. (6)). Nothing is downloaded or trained:
:func:`load` reads only what the library ships. ``python -m camwalls_lib.walltest inputs``
re-creates ``inputs.npz`` from the offline MNIST and Fashion-MNIST test sets.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .. import validate
from ..errors import BadValue
from ..data.fashion import normalize, upsample
from ..data.mnist import Digits
from ..data.stackmix import SPLIT_ROW
from ..data.stacked import stack_digits
from ..helpers import SHIPPED
from ..metrics.mu import baseline_mu
from ..networks.models import ToyCNN
from ..experiments.mnist_walls import VARIANTS as TOY_VARIANTS
from ..walls import Wall, dead_zone

__all__ = ["NETWORKS", "N_IMAGES", "INPUTS", "Case", "load", "load_network", "build_inputs",
           "check_n"]

NETWORKS = ("toy-cnn", "resnet-head", "resnet-stage", "vit", "vgg-fashion")
N_IMAGES = 16
INPUTS = Path(__file__).resolve().parent / "inputs.npz"
_KEYS = {"mnist_a": (N_IMAGES, 28, 28), "mnist_b": (N_IMAGES, 28, 28), "mnist_y": (N_IMAGES,),
         "fashion_a": (N_IMAGES, 28, 28), "fashion_b": (N_IMAGES, 28, 28),
         "fashion_y": (N_IMAGES,)}


@dataclass
class Case:
    """One network of the standard set: ``model`` (eval mode), images ``x [N, C, H, W]``
    (what the model reads), the dead zone ``zone`` (bool ``[H, W]``) and ``baseline_mu``, the
    mu of a constant map on that zone."""

    network: str
    model: nn.Module
    x: torch.Tensor
    zone: torch.Tensor
    baseline_mu: float

    @property
    def baseline_mass(self) -> float:
        """The mass share of a constant map: the dead zone's area share."""
        return float(self.zone.float().mean())


def check_n(n) -> int:
    """``n`` images per network: an int in ``1 .. N_IMAGES``; :class:`BadValue` /
    :class:`BadType` otherwise."""
    n = validate.positive_int(n, "n")
    if n > N_IMAGES:
        raise BadValue(f"n = {n}, but the standard set has {N_IMAGES} images per network: "
                       f"pass n <= {N_IMAGES}.")
    return n


def load_network(network: str) -> nn.Module:
    """The shipped walled network ``network`` (a name of :data:`NETWORKS`, any case), eval
    mode."""
    network = validate.choice(network, "network", NETWORKS)
    if network == "toy-cnn":
        return _toy()
    if network.startswith("resnet-"):
        from ..experiments import resnet_walls as resnet
        return resnet.load(network.split("-", 1)[1])[0]
    if network == "vit":
        from ..experiments.vit_walls import train_walled_vit
        return train_walled_vit(progress=False).model.eval()
    if network == "vgg-fashion":
        from ..experiments.fashion_vgg import load_trained
        return load_trained(True)
    raise BadValue(f"Unknown network {network!r}; choose from {', '.join(NETWORKS)}.")


def _toy() -> nn.Module:
    found = sorted((SHIPPED / "mnist").glob("toy-walled-*.pt"))
    if len(found) != 1:
        raise FileNotFoundError(f"Expected one shipped walled toy CNN in {SHIPPED / 'mnist'}, "
                                f"found {len(found)}; reinstall camwalls.")
    fix = "reinstall camwalls"
    blob = validate.load_tensors(found[0], "shipped toy CNN", fix)
    model = ToyCNN(wall=Wall.bottom(4), **TOY_VARIANTS["toy"])
    model.load_state_dict(validate.unsealed(blob, found[0], "shipped toy CNN", fix))
    return model.eval()


def load(network: str, n: int = N_IMAGES, inputs=None) -> Case:
    """The :class:`Case` of ``network`` (a name of :data:`NETWORKS`, any case): its model and
    its first ``n`` standard images."""
    network = validate.choice(network, "network", NETWORKS)
    n = check_n(n)
    model = load_network(network)
    arrays = read_inputs(inputs)
    if network == "vgg-fashion":
        top, bottom = upsample(arrays["fashion_a"][:n]), upsample(arrays["fashion_b"][:n])
        x = normalize(torch.cat([top[:, :, :SPLIT_ROW], bottom[:, :, SPLIT_ROW:]], dim=2))
        zone = dead_zone(model, (3, 224, 224))
    else:
        zone = dead_zone(model, (1, 28, 28))
        digits = Digits(torch.cat([arrays["mnist_a"][:n], arrays["mnist_b"][:n]]),
                        torch.cat([arrays["mnist_y"][:n]] * 2), "MNIST test digits")
        pairs = torch.stack([torch.arange(n), torch.arange(n) + n], 1)
        x = stack_digits(digits, zone, pairs=pairs).x
    return Case(network, model, x, zone, baseline_mu(zone))


def read_inputs(path=None) -> dict[str, torch.Tensor]:
    """The standard images (uint8 tensors), checked against their shapes and checksum."""
    path = Path(path) if path is not None else INPUTS
    fix = "re-create it with `python -m camwalls_lib.walltest inputs`"
    if not path.is_file():
        raise FileNotFoundError(f"The standard inputs {path} are missing; {fix}.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("one array, not an .npz archive of arrays")
        with loaded as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise validate.CorruptFile(f"The standard inputs {path} cannot be read as arrays of "
                                   f"numbers ({type(err).__name__}: {str(err)[:120]}); "
                                   f"{fix}.") from err
    for key, shape in _KEYS.items():
        if key not in arrays or arrays[key].shape != shape or arrays[key].dtype != np.uint8:
            raise validate.CorruptFile(f"The standard inputs {path} lack a uint8 {key} of shape "
                                       f"{shape}; {fix}.")
    try:
        stored = json.loads(arrays["sha256"].tobytes().decode())
    except (KeyError, ValueError, AttributeError) as err:
        raise validate.CorruptFile(f"The standard inputs {path} lack their checksum; "
                                   f"{fix}.") from err
    if _digest(arrays) != stored:
        raise validate.CorruptFile(f"The standard inputs {path} are damaged (checksum); {fix}.")
    return {k: torch.from_numpy(arrays[k]).long() if k.endswith("_y")
            else torch.from_numpy(arrays[k]) for k in _KEYS}


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for key in _KEYS:
        h.update(key.encode() + np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


def _pairs(items, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``N_IMAGES`` same-class pairs of distinct items (classes cycled, items seeded)."""
    g = torch.Generator().manual_seed(seed)
    a, b = [], []
    for k in range(N_IMAGES):
        pool = (items.y == k % 10).nonzero()[:, 0]
        i, j = pool[torch.randperm(len(pool), generator=g)[:2]].tolist()
        a.append(i)
        b.append(j)
    return items.x[a], items.x[b], items.y[a]


def build_inputs(path=None, seed: int = 0) -> Path:
    """Write the standard inputs (needs the MNIST and Fashion-MNIST test sets offline)."""
    from ..data.fashion import load_fashion
    from ..data.mnist import load_mnist
    arrays = {}
    for prefix, items in (("mnist", load_mnist("test")), ("fashion", load_fashion("test"))):
        a, b, y = _pairs(items, seed)
        arrays.update({f"{prefix}_a": a.numpy().astype(np.uint8),
                       f"{prefix}_b": b.numpy().astype(np.uint8),
                       f"{prefix}_y": y.numpy().astype(np.uint8)})
    arrays["sha256"] = np.frombuffer(json.dumps(_digest(arrays)).encode(), dtype=np.uint8)
    path = Path(path) if path is not None else INPUTS
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path
