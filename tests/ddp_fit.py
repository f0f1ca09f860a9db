"""A small real training run for the distributed tests (tests/test_distributed.py).

``torchrun --standalone --nproc_per_node=2 tests/ddp_fit.py OUT [--interrupt-at K] [--resume]``
trains a tiny masked VGG16 (width 1/32, 32 x 32 input, no dropout) on the first 192
Fashion-MNIST training items, global batch 32, for 2 epochs, through
:func:`camwalls_lib.training.fit`; rank 0 writes ``OUT/result.pt``: every rank's final weights
and the history. ``--interrupt-at K`` sends SIGINT to rank 1 alone during step K (as a Ctrl-C
reaching one process), ``--resume`` continues from ``OUT/run.ckpt``. ``python tests/ddp_fit.py
OUT`` is the same run in one process.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import torch
import torch.nn.functional as F

from camwalls_lib import distributed
from camwalls_lib.data.fashion import load_fashion, normalize, upsample
from camwalls_lib.networks.models import masked_vgg16
from camwalls_lib.training import TensorLoader, fit

ITEMS, BATCH, EPOCHS, SIZE = 192, 32, 2, 32


def fashion_tensors(split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    items = load_fashion(split)
    return normalize(upsample(items.x[:n], SIZE)), items.y[:n].clone()


def build() -> torch.nn.Module:
    """The untrained network (seeded)."""
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=10, width=1 / 32, input_size=SIZE, wall_rows=1,
                         dropout=0.0)
    with torch.no_grad():   # fan-in init of the narrow dense layers, so that it learns
        for layer in model.classifier:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.normal_(0, (2 / layer.in_features) ** 0.5)
        model.classifier[1].zero_walled_weights()
    return model


def train(out, world, interrupt_at: int | None = None, resume: bool = False,
          steps: int | None = None):
    """The run (``steps``: only the first steps of the first epoch); returns
    ``(model, history)``."""
    model = build()
    x, y = fashion_tensors("train", ITEMS)
    xv, yv = fashion_tensors("test", 64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5)
    done = [0]

    def loss_fn(logits, target):
        done[0] += 1
        if done[0] == interrupt_at and world.rank == world.size - 1:
            os.kill(os.getpid(), signal.SIGINT)          # a Ctrl-C reaching one rank only
        return F.cross_entropy(logits, target)

    history = fit(model, TensorLoader(x, y, BATCH, shuffle=True, world=world),
                  EPOCHS if steps is None else 1,
                  optimizer, scheduler, val_loader=TensorLoader(xv, yv, 16, world=world,
                                                                even=False),
                  device="cpu", checkpoint=os.path.join(out, "run.ckpt"), resume=resume,
                  progress=False, loss_fn=loss_fn, max_steps_per_epoch=steps)
    return model, history


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--interrupt-at", type=int)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    world, _ = distributed.setup("cpu")
    try:
        model, history = train(a.out, world, a.interrupt_at, a.resume)
    except KeyboardInterrupt:
        distributed.teardown()
        return 130
    weights = distributed.gather_objects(model.state_dict())
    if world.main:
        torch.save({"weights": weights, "history": history.to_dict()},
                   os.path.join(a.out, "result.pt"))
    distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
