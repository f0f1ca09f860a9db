"""The two walled networks of the paper: the toy [CNN] (Figure 2) and the masked [VGG] (Figure 4).

Both are a :class:`WalledNet`: ``features`` maps an image to the last feature map (``C`` for the
toy model, ``B`` for VGG), ``classifier`` starts with a :class:`~camwalls_lib.walls.WalledLinear`
that cannot read the walled part of that map. ``cam_layer`` is the module whose output is the
paper's ``B`` (the rectified activations): the layer CAM methods explain by default.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .. import validate
from ..errors import BadValue
from ..walls import Wall, WalledLinear, paper_wall

__all__ = ["WalledNet", "ToyCNN", "GAPNet", "MaskedVGG", "masked_vgg16", "VGG16_CONFIG"]


class WalledNet(nn.Module):
    """``x [N, C, H, W] -> features -> [N, V, h, w] -> classifier -> logits [N, K]``.

    Subclasses set ``features`` (a ``nn.Sequential``), ``classifier`` and ``wall``.
    """

    features: nn.Module
    classifier: nn.Module
    wall: Wall | None

    @property
    def cam_layer(self) -> nn.Module:
        """The last ReLU of ``features``: its output is the paper's ``B``."""
        return [m for m in self.features if isinstance(m, nn.ReLU)][-1]

    @property
    def poly_layers(self) -> list[nn.Module]:
        """The ReLU ending each resolution (for VGG16: block1_conv2 ... block5_conv3), for
        Poly-CAM."""
        f = self.features
        return [m for i, m in enumerate(f) if isinstance(m, nn.ReLU)
                and (i + 1 == len(f) or isinstance(f[i + 1], nn.MaxPool2d))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ToyCNN(WalledNet):
    """The paper's [CNN]: conv (V filters, k x k) -> ReLU -> k' x k' max-pool -> L-layer ReLU MLP.

    Parameters
    ----------
    image_size : H = W of the input (28 for MNIST).
    V : number of filters of the convolution.
    k : filter size; the conv map is ``h = H - k + 1`` (no padding, as in Eq. (1)).
    k_pool : max-pool size k'; it must divide h, giving ``h' = h / k'``.
    hidden : widths d_1..d_{L-1} of the hidden dense layers; ``()`` is the paper's L = 1.
    num_classes : d_L, the number of raw class scores.
    wall : the :class:`Wall` on the pooled ``h' x w'`` map ``C`` read by the first dense layer
        (``None``: no wall). ``features`` ends with the max-pool, so its output is ``C``.
    extra_convs : widths of further conv -> ReLU -> max-pool blocks before the head (the
        "deeper variant"); each uses ``k`` with padding ``k // 2`` and the same ``k_pool``.
    bias : whether convolutions and dense layers have biases (the paper's model has none).
    tau : if given, filters and dense weights are i.i.d. N(0, tau^2) (Theorem 3's setting);
        otherwise PyTorch's default initialisation.

    ``cam_layer`` is the ReLU after the last convolution: its output is the paper's ``B``
    (``[N, V, h, w]``, before max-pooling), so ``grad`` w.r.t. it is ``nabla_B f``.
    """

    def __init__(self, image_size: int = 28, V: int = 16, k: int = 5, k_pool: int = 2,
                 hidden: tuple[int, ...] = (), num_classes: int = 10, wall: Wall | None = None,
                 in_channels: int = 1, extra_convs: tuple[int, ...] = (), bias: bool = False,
                 tau: float | None = None):
        super().__init__()
        for name, value in dict(image_size=image_size, V=V, k=k, k_pool=k_pool,
                                num_classes=num_classes, in_channels=in_channels).items():
            validate.positive_int(value, name)
        h = image_size - k + 1
        if h < k_pool or h % k_pool:
            raise BadValue(
                f"The max-pool size k'={k_pool} must divide the conv map size h = H - k + 1 = "
                f"{image_size} - {k} + 1 = {h}; pick another k or k'."
            )
        layers = [nn.Conv2d(in_channels, V, k, bias=bias), nn.ReLU(), nn.MaxPool2d(k_pool)]
        size, channels = h // k_pool, V
        for width in extra_convs:
            layers += [nn.Conv2d(channels, width, k, padding=k // 2, bias=bias), nn.ReLU(),
                       nn.MaxPool2d(k_pool)]
            size, channels = size // k_pool, width
        self.features = nn.Sequential(*layers)
        self.wall = wall
        self.k, self.k_pool, self.V = k, k_pool, V
        pooled = (channels, size, size)
        widths = [*hidden, num_classes]
        first = (WalledLinear(pooled, widths[0], wall, bias=bias) if wall is not None
                 else nn.Linear(math.prod(pooled), widths[0], bias=bias))
        head = [nn.Flatten(), first]
        for d_in, d_out in zip(widths[:-1], widths[1:]):
            head += [nn.ReLU(), nn.Linear(d_in, d_out, bias=bias)]
        self.classifier = nn.Sequential(*head)
        if tau is not None:
            self.init_gaussian(tau)

    @property
    def dense_layers(self) -> list[nn.Linear]:
        """W^(1), ..., W^(L), in order."""
        return [m for m in self.classifier if isinstance(m, nn.Linear)]

    @torch.no_grad()
    def init_gaussian(self, tau: float) -> None:
        """Filters and weights i.i.d. N(0, tau^2), biases 0, walled weights kept at exactly 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0.0, tau)
                if m.bias is not None:
                    m.bias.zero_()
            if isinstance(m, WalledLinear):
                m.zero_walled_weights()


class GAPNet(nn.Module):
    """The architecture CAM was invented for: convolutions -> ReLU -> global average pooling
    -> one linear layer, ``y_c = sum_v w_{c,v} GAP(B^(v)) + b_c``.

    ``channels`` are the widths of ``k x k`` convolutions (padding ``k // 2``, each followed by
    ReLU; a 2 x 2 max-pool between consecutive ones). ``cam_layer`` is the last ReLU (``B``),
    ``fc`` the linear layer whose rows are CAM's class weights.
    Shapes: ``x [N, in_channels, H, W] -> [N, num_classes]``.
    """

    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (8, 16), k: int = 3,
                 num_classes: int = 10, bias: bool = True):
        super().__init__()
        layers, c_in = [], in_channels
        for i, c_out in enumerate(channels):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes, bias=bias)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
"""torchvision's VGG16 ("D") feature config, without the last max-pool."""


class MaskedVGG(WalledNet):
    """The paper's [VGG], laid out like the authors' model so their checkpoints map 1:1.

    ``features`` is torchvision's VGG16 ``features`` without the last max-pool (indices 0..29),
    with conv5_3 giving ``last_channels`` (256) maps; ``classifier`` is torchvision's VGG
    classifier whose first layer is walled: ``WalledLinear(256*14*14 -> 4096)``, ReLU, Dropout,
    ``Linear(4096, 4096)``, ReLU, Dropout, ``Linear(4096, num_classes)``.
    """

    def __init__(self, num_classes: int = 1000, width: float = 1.0, input_size: int = 224,
                 wall: Wall | None = None, last_channels: int = 256, hidden: int = 4096,
                 dropout: float = 0.5):
        super().__init__()
        validate.positive_int(num_classes, "num_classes")
        validate.positive_number(width, "width")
        validate.positive_int(input_size, "input_size", minimum=16)
        if input_size % 16:
            raise BadValue(f"input_size must be a multiple of 16 (4 max-pools), got {input_size}.")
        layers, c_in = [], 3
        config = [*VGG16_CONFIG[:-1], last_channels]
        for i, v in enumerate(config):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            c_out = max(1, round(v * width))
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=False)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        self.wall = wall if wall is not None else paper_wall(side)
        d = max(1, round(hidden * width))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            WalledLinear((c_in, side, side), d, self.wall),
            nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(d, num_classes),
        )
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        """torchvision's VGG initialisation (Kaiming-normal convs, N(0, 0.01) dense)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
                if isinstance(m, WalledLinear):
                    m.zero_walled_weights()


def masked_vgg16(num_classes: int = 1000, width: float = 1.0, input_size: int = 224,
                 wall_rows: int | None = None, wall: Wall | None = None, **kwargs) -> MaskedVGG:
    """The paper's masked [VGG]; ``wall_rows`` lowest rows of the ``input_size/16`` map walled.

    Defaults reproduce the paper: 224 x 224 input, a 256 x 14 x 14 last map, the lowest 9 of
    14 rows walled. ``width`` scales every channel count and the dense width (a tiny model for
    tests and CPUs: ``width=1/16, input_size=64``). Pass ``wall`` for any other region.
    """
    if wall is None and wall_rows is not None:
        side = validate.positive_int(input_size, "input_size", minimum=16) // 16
        if validate.positive_int(wall_rows, "wall_rows") >= side:
            raise BadValue(f"wall_rows must be in 1..{side - 1} (the last map has {side} rows "
                           f"at input_size={input_size}), got {wall_rows}: walling every row "
                           "leaves the network blind.")
        wall = Wall.bottom(wall_rows)
    return MaskedVGG(num_classes=num_classes, width=width, input_size=input_size, wall=wall,
                     **kwargs)
