"""A small vision transformer with a wall, and its training on MNIST.

:class:`WalledViT` cuts an image into ``p x p`` patches, embeds each as a token (a strided
convolution), prepends a class token, and runs pre-norm transformer blocks
(Dosovitskiy et al. 2021). The **wall** is a :class:`~camwalls_lib.walls.Wall` on the
``h x w`` patch grid, enforced by an attention mask (:func:`camwalls_lib.walls.attention_mask`):
the class token and the visible patch tokens never attend to a walled token, in any block.
Walled tokens may attend to anything, but nothing reads them, and the logits read only the
class token. Patches do not overlap, so the **dead zone** is exactly the pixels of the walled
patches -- :func:`camwalls_lib.walls.dead_zone` computes it from ``features`` (the patch
embedding) and ``wall``, as for the CNNs.

For CAM methods each block exposes its normalised input tokens as a feature map:
``block.grid`` outputs the patch tokens after ``norm1`` as ``[N, D, h, w]`` (channel =
embedding dimension), so :func:`camwalls_lib.cams.compute` explains them unchanged;
``model.cam_layer`` is the last block's (pytorch-grad-cam's ``blocks[-1].norm1``).

The book's configuration and its training on MNIST live with the experiments
(:mod:`camwalls_lib.experiments.vit_walls`).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .. import validate
from ..errors import BadType, BadValue
from ..walls import Wall, attention_mask

__all__ = ["PatchGrid", "Attention", "Block", "WalledViT"]


class PatchGrid(nn.Module):
    """Patch tokens as a feature map: ``[N, h*w, D] -> [N, D, h, w]`` (row-major patches).

    The values are unchanged; the module exists so that a forward hook sees the tokens with
    the shape CAM methods explain (``B`` with ``V = D`` channels).
    """

    def __init__(self, h: int, w: int):
        super().__init__()
        self.h, self.w = h, w

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        N, P, D = tokens.shape
        if P != self.h * self.w:
            raise BadValue(f"PatchGrid expects {self.h}x{self.w} = {self.h * self.w} patch "
                           f"tokens, got {P}: is the image the size the model was built for?")
        return tokens.transpose(1, 2).reshape(N, D, self.h, self.w)


class Attention(nn.Module):
    """Multi-head self-attention under a bool ``allowed [T, T]`` mask (True: may attend).

    Forbidden scores are set to ``-inf`` before the softmax, so their attention weights are
    exactly 0. With ``keep = True`` the weights ``A [N, heads, T, T]`` of the last forward
    pass are kept in ``self.attn`` (and their gradient, after a backward pass, in
    ``self.attn.grad``): the attention explainers read them.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise BadValue(f"dim={dim} must be a multiple of heads={heads}.")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.keep = False
        self.attn: torch.Tensor | None = None

    def forward(self, t: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        N, T, D = t.shape
        d = D // self.heads
        q, k, v = self.qkv(t).reshape(N, T, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) * d ** -0.5
        attn = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        if self.keep:
            if attn.requires_grad:
                attn.retain_grad()
            self.attn = attn
        return self.proj((attn @ v).transpose(1, 2).reshape(N, T, D))


class Block(nn.Module):
    """Pre-norm transformer block: ``t + attn(norm1(t))``, then ``+ mlp(norm2(.))``.

    ``t [N, 1 + h*w, D]``. The patch part of ``norm1(t)`` passes through ``self.grid``
    (:class:`PatchGrid`) on its way into attention: that output is the ``B`` CAM methods see.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: int, grid: tuple[int, int]):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.grid = PatchGrid(*grid)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, t: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        u = self.norm1(t)
        patches = self.grid(u[:, 1:])                               # [N, D, h, w]
        u = torch.cat([u[:, :1], patches.flatten(2).transpose(1, 2)], 1)
        t = t + self.attn(u, allowed)
        return t + self.mlp(self.norm2(t))


class WalledViT(nn.Module):
    """``x [N, C, H, W] -> logits [N, num_classes]``, read from the class token only.

    Parameters
    ----------
    image_size : H = W; ``patch`` must divide it, giving an ``h x h`` grid, ``h = H / patch``.
    patch : side of a patch in pixels.
    dim : token width D (the channels of ``B``); heads : attention heads (divide ``dim``).
    depth : number of blocks; mlp_ratio : hidden width of each MLP, in multiples of ``dim``.
    wall : a :class:`~camwalls_lib.walls.Wall` on the patch grid, or None (the twin).
    """

    def __init__(self, image_size: int = 28, patch: int = 4, dim: int = 48, depth: int = 3,
                 heads: int = 4, mlp_ratio: int = 2, num_classes: int = 10,
                 in_channels: int = 1, wall: Wall | None = None):
        super().__init__()
        for name, value in (("image_size", image_size), ("patch", patch), ("dim", dim),
                            ("depth", depth), ("heads", heads), ("mlp_ratio", mlp_ratio),
                            ("num_classes", num_classes), ("in_channels", in_channels)):
            validate.positive_int(value, name)
        if image_size % patch:
            raise BadValue(f"patch={patch} must divide image_size={image_size}.")
        g = image_size // patch
        if wall is not None and not isinstance(wall, Wall):
            raise BadType(f"wall must be a Wall on the {g}x{g} patch grid or None, got {wall!r}.")
        if wall is not None and bool(wall.mask(g, g).all()):
            raise BadValue(f"{wall} walls off every patch of the {g}x{g} grid (patch={patch}, "
                           f"image_size={image_size}): the model would see nothing. Use smaller "
                           "patches or a lower wall.")
        self.image_size, self.grid_shape, self.wall = image_size, (g, g), wall
        self.patch_embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, 1 + g * g, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, (g, g)) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.register_buffer("allowed", attention_mask(wall, g, g), persistent=False)

    @property
    def features(self) -> nn.Module:
        """The patch embedding, ``[N, C, H, W] -> [N, D, h, w]``: the map the wall sits on."""
        return self.patch_embed

    @property
    def cam_layer(self) -> nn.Module:
        """The tokens entering the last block (after its ``norm1``), as ``[N, D, h, w]``."""
        return self.blocks[-1].grid

    @property
    def attention_layers(self) -> list[Attention]:
        """Each block's :class:`Attention`, in order: what attention explainers read."""
        return [block.attn for block in self.blocks]

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Every token after the last block: ``[N, 1 + h*w, D]`` (class token first)."""
        x = validate.model_dtype(validate.images(x), self)
        C = self.patch_embed.in_channels
        if x.shape[1:] != (C, self.image_size, self.image_size):
            hint = (" It looks channels-last: use x.permute(0, 3, 1, 2)."
                    if x.shape[-1] == C and x.shape[1] != C else "")
            raise BadValue(f"WalledViT expects images [N, {C}, {self.image_size}, "
                           f"{self.image_size}], got {tuple(x.shape)}.{hint}")
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(len(x), -1, -1), t], 1) + self.pos_embed
        for block in self.blocks:
            t = block(t, self.allowed)
        return t

    def classify(self, t: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]`` from the tokens ``t [N, 1 + h*w, D]``: the class token only."""
        return self.head(self.norm(t[:, 0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.tokens(x))
