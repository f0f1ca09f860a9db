"""How deep can a wall sit in EfficientNet-Lite0 and still leave a dead zone?

A wall on a feature map hides an input pixel only if no *visible* position of the map reads
it. The deeper the map, the wider its receptive field, so the wall must cover more rows before
any input row is dead; a larger input shrinks the receptive field relative to the image.
:func:`smallest_wall` finds, for one split block and input size, the thinnest bottom wall whose
dead zone covers at least ``min_dead`` of the image; :func:`depth_sweep` tabulates it over
blocks and sizes. Only the geometry is used (:func:`camwalls_lib.walls.dead_zone`), never the
weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

import torch

from .. import distributed, validate
from ..data.photos import load_photos, mixed_composites, same_photo_composites
from ..errors import BadValue
from ..walls import Wall, dead_rows, dead_zone
from ..metrics.leak import leak_table
from ..networks.efficientnet import STRIDE, WalledEfficientNet, load_efficientnet_lite0, top_k

__all__ = ["WallGeometry", "smallest_wall", "depth_sweep", "DepthLeak", "depth_leak"]


@dataclass(frozen=True)
class WallGeometry:
    """A bottom wall of ``wall_rows`` of the ``side`` rows of block ``block``'s expansion at
    ``size`` px, and its dead zone (rows ``dead_first..size-1``, ``dead_fraction`` of the
    image; ``None`` / 0 when no wall reaches ``min_dead``)."""

    block: int
    stride: int
    size: int
    side: int
    wall_rows: int | None
    dead_first: int | None
    dead_fraction: float


def smallest_wall(block: int, size: int, min_dead: float = 0.2) -> WallGeometry:
    """The thinnest bottom wall on block ``block``'s expansion at ``size`` px whose dead zone
    is at least ``min_dead`` of the image (binary search; the dead zone grows with the wall)."""
    if block not in STRIDE:
        raise BadValue(f"block must be one of {sorted(STRIDE)} (a stage's first block), got {block}.")
    model = WalledEfficientNet(load_efficientnet_lite0(size), None, block)
    side = size // STRIDE[block]

    def dead(rows):
        model.wall = Wall.bottom(rows)
        found = dead_rows(dead_zone(model, (3, size, size)))
        return found[0] if found else None

    lo, hi, best = 1, side - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        first = dead(mid)
        if first is not None and (size - first) / size >= min_dead:
            best, hi = (mid, first), mid - 1
        else:
            lo = mid + 1
    if best is None:
        return WallGeometry(block, STRIDE[block], size, side, None, None, 0.0)
    return WallGeometry(block, STRIDE[block], size, side, best[0], best[1],
                        (size - best[1]) / size)


def depth_sweep(blocks=(5, 8, 11, 15), sizes=(224, 320, 384, 448, 512),
                min_dead: float = 0.2) -> list[WallGeometry]:
    """:func:`smallest_wall` for every block and size."""
    return [smallest_wall(b, s, min_dead) for b in blocks for s in sizes]


@dataclass(frozen=True)
class DepthLeak:
    """``mu x 100`` (mean over the composites) of each method's map for one walled network,
    the uniform map's ``mu x 100`` for its dead zone, and how often the walled network's top-1
    class equals the unwalled network's on the composites (``agreement``, a fraction)."""

    geometry: WallGeometry
    mu: dict[str, float]
    uniform: float
    agreement: float


def depth_leak(geometry: WallGeometry, x: torch.Tensor, methods=("gradcam", "hirescam"),
               batch_size: int = 8) -> DepthLeak:
    """Wall block ``geometry.block`` of the pretrained EfficientNet-Lite0 with
    ``geometry.wall_rows`` rows and measure the leak of ``methods`` on ``x [N, 3, S, S]`` (in
    [0, 1], ``S = geometry.size``), each map explaining the walled network's prediction."""
    if geometry.wall_rows is None:
        raise BadValue(f"No wall leaves a dead zone at block {geometry.block}, {geometry.size} px.")
    if x.shape[-1] != geometry.size:
        raise BadValue(f"x is {x.shape[-1]} px wide, the geometry is for {geometry.size} px.")
    net = load_efficientnet_lite0(geometry.size)
    walled = WalledEfficientNet(net, Wall.bottom(geometry.wall_rows), geometry.block)
    zone = dead_zone(walled, tuple(x.shape[1:]))
    table = leak_table(walled, x, zone, list(methods), batch_size=batch_size, progress=False)
    plain = WalledEfficientNet(load_efficientnet_lite0(geometry.size), None, geometry.block)
    same = top_k(walled, x, 1)[1] == top_k(plain, x, 1)[1]
    uniform = float(zone.float().mean().sqrt())
    return DepthLeak(geometry, {m: 100 * float(v.mean()) for m, v in table.mu.items()},
                     100 * uniform, float(same.float().mean()))


def main(argv=None) -> int:
    """``python -m camwalls_lib.experiments.efficientnet_depth OUT.json [--size 448]``: the
    geometry sweep and, at ``--size``, the leak of GradCAM and HiResCAM for the stride-8 wall
    (block 5) and the deeper ones (blocks 8 and 11) on the bundled photo composites. Under
    torchrun the composites are shared among the processes; rank 0 prints and writes."""
    p = argparse.ArgumentParser(prog="python -m camwalls_lib.experiments.efficientnet_depth")
    p.add_argument("out", type=validate.file_arg)
    p.add_argument("--size", type=validate.count_arg, default=448)
    a = p.parse_args(argv)
    if a.out == "-":
        p.error("OUT must be a file path, not '-'")
    with validate.usage_errors(p):               # a refusal: one line and status 2
        return _depth(a)


def _depth(a) -> int:
    world, _ = distributed.setup("cpu")
    result = {"sweep": [asdict(g) for g in depth_sweep()], "leak": {}}
    photos = load_photos(a.size)
    for block in (5, 8, 11):
        g = smallest_wall(block, a.size)
        shift = (g.dead_first + a.size) // 2 - a.size // 2     # photo centre -> dead band centre
        sets = {"SAME": same_photo_composites(photos, g.dead_first, shift)[0],
                "MIX": mixed_composites(photos, g.dead_first)[0]}
        for name, x in sets.items():
            r = depth_leak(g, x)
            result["leak"][f"{block}-{name}"] = {**asdict(r), "n": len(x)}
            if world.main:
                print(block, name, r.mu, f"uniform {r.uniform:.1f}",
                      f"agreement {r.agreement:.2f}")
    if world.main:
        validate.atomic_write_text(a.out, json.dumps(result, indent=1))
    distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
