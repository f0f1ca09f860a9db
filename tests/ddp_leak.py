"""Table 1 on several processes, for tests/test_distributed.py.

``torchrun --standalone --nproc_per_node=2 tests/ddp_leak.py OUT`` computes the leak table of a
tiny masked VGG16 (width 1/32, 32 x 32 input, random weights) on 20 Fashion-MNIST test items
in batches of 8 (3 batches: rank 0 takes two, rank 1 one), with ``OUT/leak.csv`` as cache;
rank 0 writes ``OUT/result.pt`` (every rank's table). ``python tests/ddp_leak.py OUT`` is the
same computation in one process.
"""

from __future__ import annotations

import os
import sys

import torch

from camwalls_lib import distributed
from camwalls_lib.data.fashion import load_fashion, normalize, upsample
from camwalls_lib.metrics.leak import leak_table
from camwalls_lib.networks.models import masked_vgg16
from camwalls_lib.walls import dead_zone

METHODS = ["gradcam", "hirescam", "eigencam", "scorecam", "ablationcam"]


def table(out):
    """The leak table (``OUT/leak.csv`` its cache)."""
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=10, width=1 / 32, input_size=32, wall_rows=1).eval()
    x = normalize(upsample(load_fashion("test").x[:20], 32))
    zone = dead_zone(model, tuple(x.shape[1:]))
    return leak_table(model, x, zone, METHODS, batch_size=8, cache=os.path.join(out, "leak.csv"),
                      progress=False)


def main(out) -> int:
    torch.set_num_threads(1)
    world, _ = distributed.setup("cpu")
    tables = distributed.gather_objects(table(out).mu)
    if world.main:
        torch.save(tables, os.path.join(out, "result.pt"))
    distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
