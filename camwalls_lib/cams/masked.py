"""The masked forward passes of ScoreCAM and Poly-CAM: ``y_c(x * u_v)`` and ``y_c(x * (1 - u_v))``
for every channel ``v`` of ``B``, with ``u_v`` the channel upsampled to the input and min-max
normalised (:func:`~camwalls_lib.cams.maps.unit_masks`).

They cannot skip any layer (each masked image is a new input), so they are made as cheap as the
network allows:

- they run through :func:`~camwalls_lib.cams.perturb.target_scores`, ``batch_size`` masks at a
  time, channels with the same map once;
- in channels-last memory layout (:func:`channels_last`), where convolutions are fastest on
  CPUs (oneDNN) and GPUs (cuDNN); the logits are the same up to float rounding;
- inside :func:`shared_passes` (which :func:`~camwalls_lib.cams.compute_many` opens), a set of
  passes runs once for every method that needs it: ScoreCAM reads the target's logit of the
  ``x * u`` passes and Poly-CAM its probability, and the three Poly-CAM variants share their
  ``x * u`` and ``x * (1 - u)`` passes.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable

import torch
import torch.nn as nn

from ..errors import BadValue
from ..helpers import eval_mode
from .maps import unit_masks
from .perturb import first_equal, target_scores

__all__ = ["masked_scores", "shared_passes", "channels_last", "KINDS"]

KINDS = ("u", "1-u")
"""The two kinds of masked input: ``x * u_v`` (ScoreCAM, Poly-CAM) and ``x * (1 - u_v)``
(Poly-CAM's channel deletion)."""

_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("camwalls_passes",
                                                                     default=None)


@contextlib.contextmanager
def shared_passes():
    """Within the block, masked passes over the same model, layer, images, targets and kind of
    mask run once; their target logits and probabilities are kept until the block ends."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def masked_scores(cap, kind: str, batch_size: int, progress: bool = False,
                  softmax: bool = False) -> torch.Tensor:
    """``[N, V]``: the target's logit (``softmax=True``: its probability) on ``x_n * u_v``
    (``kind="u"``) or ``x_n * (1 - u_v)`` (``kind="1-u"``) for every channel ``v`` of the
    capture ``cap`` (:class:`~camwalls_lib.cams.Capture`)."""
    if kind not in KINDS:
        raise BadValue(f"kind must be one of {KINDS}, got {kind!r}.")
    memo = _SHARED.get()
    if memo is None:
        return _passes(cap, kind, batch_size, progress)[int(softmax)].to(cap.B)
    key = (kind, id(cap.model), id(cap.layer), cap.x.data_ptr(), tuple(cap.x.shape),
           tuple(cap.target.tolist()))
    if key not in memo:
        memo[key] = _passes(cap, kind, batch_size, progress)
    return memo[key][int(softmax)].to(cap.B)


def _passes(cap, kind: str, batch_size: int, progress: bool) -> torch.Tensor:
    """``[2, N, V]``: the target's logit and probability from the same masked passes."""
    run = channels_last(cap.model)
    size = cap.x.shape[-2:]

    def chunk_logits(n, chans):
        u = unit_masks(cap.B[n, chans], size)
        return run(cap.x[n:n + 1] * (u if kind == "u" else 1 - u)[:, None])

    with eval_mode(cap.model):
        return target_scores(*cap.B.shape[:2], cap.target, chunk_logits, batch_size, progress,
                             "both", f"masked passes ({kind})", first_equal(cap.B))


def channels_last(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``run(x [M, C, H, W]) -> model(x)``, with ``x`` handed over in channels-last memory layout
    (about 25 % faster for the masked VGG16 on a 2-core CPU; logits equal up to float
    rounding). A model that cannot take that layout (a ``.view`` of a non-contiguous
    tensor) raises on the first call; from then on it gets ``x`` as it is."""
    fast = True

    def run(x):
        nonlocal fast
        if fast and x.dim() == 4:
            try:
                return model(x.contiguous(memory_format=torch.channels_last))
            except RuntimeError as err:
                if "view" not in str(err):
                    raise
                fast = False
        return model(x)
    return run
