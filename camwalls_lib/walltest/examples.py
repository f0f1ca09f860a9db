"""Two small explainers to try the benchmark with (``python -m camwalls_lib.walltest run
camwalls_lib.walltest.examples:EXAMPLES``): the magnitude of gradient x input, which is
exactly zero on every dead pixel, and the same map smoothed by a 5 x 5 box filter, which
moves mass across the wall's edge. Each is ``(model, x [N, C, H, W], target [N]) -> [N, H, W]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..helpers import eval_mode

__all__ = ["gradient_x_input", "smoothed_gradient_x_input", "EXAMPLES"]


def gradient_x_input(model, x, target):
    """``|x * d y_target / d x|`` summed over channels."""
    x = x.clone().requires_grad_(True)
    with eval_mode(model):
        model(x).gather(1, target[:, None]).sum().backward()
    return (x.grad * x).detach().abs().sum(1)


def smoothed_gradient_x_input(model, x, target):
    """:func:`gradient_x_input` averaged over 5 x 5 windows."""
    return F.avg_pool2d(gradient_x_input(model, x, target)[:, None], 5, 1, 2)[:, 0]


EXAMPLES = {"gradient x input": gradient_x_input,
            "smoothed gradient x input": smoothed_gradient_x_input}
