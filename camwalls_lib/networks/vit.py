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

:func:`train_walled_vit` trains a walled model or its unwalled twin on MNIST and caches it,
like :func:`camwalls_lib.training.mnist.train_walled_mnist`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import torch
import torch.nn as nn

from .. import validate
from ..errors import BadType, BadValue, CorruptFile
from ..helpers import cache_dir, cached_files, resolve_device
from ..training import TensorLoader, evaluate, fit, load_checkpoint, save_checkpoint
from ..training.mnist import Trained, load_split
from ..walls import Wall, attention_mask

__all__ = ["PatchGrid", "Attention", "Block", "WalledViT", "ARCH", "RECIPE", "default_wall",
           "make_vit", "train_walled_vit", "parameter_count"]


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.tokens(x)[:, 0]))


# ----------------------------------------------------------------------------- MNIST

ARCH = dict(patch=4, dim=48, depth=3, heads=4, mlp_ratio=2)
"""The book's ViT: 7 x 7 patches of 4 x 4 pixels, 3 blocks of width 48 (about 60k weights)."""

RECIPE = dict(batch_size=128, lr=3e-3, weight_decay=0.05, epochs=3,
              optimizer="adamw+onecycle", version=1)
"""AdamW with a one-cycle learning rate (peak ``lr``) for ``epochs`` epochs."""


def default_wall() -> Wall:
    """The lowest two of the seven patch rows: input rows 20..27 are dead."""
    return Wall.bottom(2)


def make_vit(wall: Wall | None | str = "default", **arch) -> WalledViT:
    """An untrained :class:`WalledViT` with :data:`ARCH` (overridden by ``arch``) and
    ``wall`` ("default" for :func:`default_wall`, a Wall, or None)."""
    if isinstance(wall, str):
        if wall != "default":
            raise BadValue(f"wall must be a Wall, None or 'default', got {wall!r}.")
        wall = default_wall()
    return WalledViT(wall=wall, **{**ARCH, **arch})


def train_walled_vit(wall: Wall | None | str = "default", seed: int = 0,
                     epochs: int | None = None, max_train: int | None = None, device=None,
                     cache: bool = True, progress: bool = True) -> Trained:
    """Train (or load from the cache) a :data:`ARCH` ViT with ``wall`` on MNIST.

    ``wall``: "default" (:func:`default_wall`), a Wall on the 7 x 7 patch grid, or None for
    the unwalled twin. ``epochs`` defaults to ``RECIPE["epochs"]``; ``max_train`` uses only
    the first training images (tests). With ``cache`` the checkpoint
    ``cache_dir()/vit/vit-<walled|open>-<hash>.pt`` is written after every epoch (atomically)
    and an interrupted run resumes from it; a finished one is loaded (``weights_only``), from
    the cache or from the models the library ships (:func:`~camwalls_lib.helpers.cached_file`).
    """
    model = make_vit(wall)
    train, test = load_split("train"), load_split("test")
    n_train = len(train) if max_train is None else min(max_train, len(train))
    epochs = epochs or RECIPE["epochs"]
    source = train.source + (f"; first {n_train:,} used" if n_train < len(train) else "")
    config = {"family": "ViT", "arch": ARCH, "seed": seed, "epochs": epochs,
              "wall": None if model.wall is None else dataclasses.asdict(model.wall),
              "n_train": n_train, "train_source_full": train.full, **RECIPE}
    key = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    name = f"vit/vit-{'walled' if model.wall else 'open'}-{key}.pt"
    path = cache_dir() / name
    for found in cached_files(name) if cache else []:    # a damaged copy: try the next one
        try:
            done = load_checkpoint(found, model)
        except CorruptFile as e:
            print(f"Cached model {found.name} is unreadable ({e}); trying the next copy, else "
                  "training.")
            continue
        if "accuracy" in done:
            model.eval()
            return Trained(model, done["accuracy"], done["seconds"], done["source"], True,
                           config, done["history"], found)
    torch.manual_seed(seed)
    model = make_vit(wall)
    x, y = train.tensors()
    loader = TensorLoader(x[:n_train], y[:n_train], RECIPE["batch_size"], shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["lr"],
                                  weight_decay=RECIPE["weight_decay"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, RECIPE["lr"],
                                                    total_steps=epochs * len(loader))
    history = fit(model, loader, epochs, optimizer, scheduler, device=resolve_device(device),
                  checkpoint=path if cache else None, resume=cache, progress=progress,
                  scheduler_step="batch")
    seconds = history.total_seconds                      # every epoch, resumed ones too
    xt, yt = test.tensors()
    accuracy, _ = evaluate(model, TensorLoader(xt, yt, 1000), device=device)
    model.cpu().eval()
    if cache:
        save_checkpoint(path, model, optimizer, scheduler, history=history, epoch=epochs,
                        accuracy=accuracy, seconds=seconds, source=source)
    return Trained(model, accuracy, seconds, source, False, config, history, path)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable weights."""
    model = validate.module(model)
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)
