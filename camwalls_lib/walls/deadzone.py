"""The dead zone: the input pixels a walled network cannot see.

:func:`dead_zone` answers the question the whole book turns on: which *input pixels* can
influence no output at all? It traces receptive fields backwards from the visible part of the
feature map through every convolution and pooling layer, exactly. :func:`dead_cells` does the
same one level up, :func:`dead_rows` reports the fully dead band and :func:`receptive_field` says
how far one position reaches.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from .. import validate
from ..errors import BadType, BadValue
from .wall import Wall

__all__ = ["dead_zone", "dead_cells", "dead_rows", "receptive_field"]


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
            raise BadType(
                f"dead_zone cannot trace receptive fields through {type(module).__name__} "
                f"('{name}') inside the feature extractor: it only knows Conv2d, pooling, "
                "activations and normalisation layers."
            )
    return surrogate


def _replace(root: nn.Module, dotted: str, new: nn.Module) -> None:
    if not dotted:
        raise BadType("dead_zone needs a feature extractor made of layers, not a bare layer.")
    parent_name, _, child = dotted.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


def dead_zone(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The input pixels that cannot influence any output of a walled model.

    Parameters
    ----------
    model : a walled model exposing ``features`` (image ``[N, C, H, W]`` -> last feature map
        ``[N, V, h, w]``) and ``wall`` (the :class:`Wall` on that map), like every model in
        :mod:`camwalls_lib.networks.models`.
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
        raise BadType(
            "dead_zone needs a walled model with a `.features` module (image -> last feature "
            "map) and a `.wall` (camwalls_lib.walls.Wall); see camwalls_lib.networks.models."
        )
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        raise BadType(f"input_shape must be a tuple (C, H, W) or (H, W), got "
                      f"{type(input_shape).__name__}.")
    if len(input_shape) == 2:
        input_shape = (1, *input_shape)
    if len(input_shape) != 3:
        raise BadValue(f"input_shape must be (C, H, W) or (H, W), got {tuple(input_shape)}.")
    input_shape = tuple(validate.positive_int(s, "input_shape (C, H, W)") for s in input_shape)
    if model.wall is None:
        return torch.zeros(input_shape[1:], dtype=torch.bool)
    if not isinstance(model.wall, Wall):
        raise BadType(f"model.wall must be a camwalls_lib.walls.Wall or None, got "
                      f"{type(model.wall).__name__}.")
    surrogate = _connectivity_surrogate(model.features)
    x = torch.full((1, *input_shape), 1e-3, dtype=torch.float64, requires_grad=True)
    fmap = surrogate(x)
    if fmap.dim() != 4:
        raise BadValue(f"model.features must return a [N, V, h, w] map, got {tuple(fmap.shape)}.")
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
        raise BadValue("layer must be a direct child of model.features (e.g. model.cam_layer).")
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
    features = validate.module(features, "features")
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
    zone = validate.tensor(zone, "zone", "bool [H, W]")
    if zone.dtype != torch.bool or zone.dim() != 2:
        raise BadValue(f"zone must be a bool dead-zone mask [H, W], got {zone.dtype} "
                       f"{tuple(zone.shape)}.")
    rows = torch.nonzero(zone.all(dim=1)).flatten()
    if len(rows) == 0:
        return None
    return int(rows.min()), int(rows.max())
