"""What the wall test checks before it trusts a verdict: the images, the dead zone, the maps
an explainer returns, and that the explainer left the model as it found it.

- :func:`check_batch` -- images ``[N, C, H, W]`` in the model's dtype;
- :func:`check_zone` -- a bool ``[H, W]`` zone, neither empty nor everything, and (for a
  walled model) inside the model's own dead zone;
- :func:`targets` -- the explained classes, from one checked forward pass;
- :func:`as_maps` -- an explainer's output as ``[N, H, W]`` non-negative finite maps;
- :func:`fingerprint`, :func:`check_unchanged` -- weights, buffers (persistent or not),
  train/eval mode, replaced ``forward`` and hooks, before and after an explainer ran.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .. import cams, validate
from ..cams.capture import forward
from ..errors import BadType, BadValue, ExplainerMisbehaved
from ..helpers import eval_mode, resolve_target
from ..walls import dead_zone as compute_dead_zone

__all__ = ["as_maps", "check_batch", "check_zone", "targets", "fingerprint", "check_unchanged"]


def as_maps(out, x: torch.Tensor, name: str = "explainer") -> torch.Tensor:
    """The explainer's output as float ``[N, H, W]`` at the input resolution of
    ``x [N, C, H, W]``, after checking shape, finiteness and sign."""
    N, (H, W) = x.shape[0], x.shape[-2:]
    if isinstance(out, np.ndarray):
        if out.dtype.kind not in "biufc":
            raise BadType(f"{name} returned a numpy array of {out.dtype} (not numbers); an "
                          "explainer must return maps of numbers [N, h, w], e.g. "
                          "np.asarray(maps, dtype=np.float32).")
        try:
            out = torch.from_numpy(np.ascontiguousarray(out))
        except TypeError:                   # a dtype torch cannot hold, e.g. uint32 on old torch
            out = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float64))
    if not torch.is_tensor(out):
        raise BadType(f"{name} returned {type(out).__name__}; an explainer must return a "
                      f"torch tensor or numpy array of maps [N, h, w] (N = {N}).")
    out = out.detach().cpu()
    if out.is_complex():
        raise BadType(f"{name} returned complex maps ({out.dtype}): return real values "
                      "(e.g. maps.abs()).")
    out = _as_float(out)
    if out.dim() == 4 and out.shape[1] == 1:
        out = out[:, 0]
    if out.dim() != 3 or out.shape[0] != N:
        hint = (" It looks like per-channel pixel attributions: reduce them over channels, "
                "e.g. maps.abs().sum(1)." if out.dim() == 4 else "")
        raise BadValue(f"{name} returned maps of shape {tuple(out.shape)}; expected "
                       f"[N, h, w] with N = {N} (one map per image).{hint}")
    if not torch.isfinite(out).all():
        bad = int((~torch.isfinite(out)).sum())
        raise BadValue(f"{name} returned {bad} NaN/inf value(s): fix the method (a 0/0 in its "
                       "normalisation? a flat map?) before testing it against a wall.")
    if (out < 0).any():
        raise BadValue(f"{name} returned negative values (min {float(out.min()):.3g}): the "
                       "wall test measures where a map puts its mass, so maps must be >= 0. "
                       "Keep positive evidence (maps.clamp(min=0)) or magnitudes (maps.abs()) "
                       "inside your explainer, whichever your method means.")
    if out.shape[-2:] != (H, W):
        if out.shape[-2] > H or out.shape[-1] > W:
            raise BadValue(f"{name} returned maps of {tuple(out.shape[-2:])}, larger than the "
                           f"{H}x{W} input: return maps at feature or input resolution.")
        out = cams.upsample(out, (H, W))
    return out


def _as_float(out: torch.Tensor) -> torch.Tensor:
    """``out`` as float32, unless it is float64 with values float32 cannot hold (1e39 would
    become inf, 1e-300 would become 0): then it stays float64."""
    f = out.float()
    if out.dtype == torch.float64 and (not bool(torch.isfinite(f).all())
                                       or bool(((f == 0) & (out != 0)).any())):
        return out
    return f


def check_batch(x, model: nn.Module) -> torch.Tensor:
    """Images ``[N, C, H, W]`` the model can take: floats of its dtype (checked by
    :func:`camwalls_lib.validate.images` and :func:`~camwalls_lib.validate.model_dtype`)."""
    return validate.model_dtype(validate.images(x), validate.module(model))


def check_zone(model, x, zone) -> torch.Tensor:
    given = zone is not None
    if zone is None:
        if not (hasattr(model, "features") and getattr(model, "wall", None) is not None):
            raise BadValue("This model has no wall, so the wall test has nothing to check: use "
                           "a walled model (camwalls_lib.networks), or give "
                           "your own model `.features` and a `.wall` (camwalls_lib.walls.Wall), "
                           "or pass zone= (a bool [H, W] mask of pixels it provably ignores).")
        zone = compute_dead_zone(model, tuple(x.shape[1:]))
    if isinstance(zone, np.ndarray):
        zone = torch.from_numpy(zone)
    zone = validate.tensor(zone, "zone", f"bool {tuple(x.shape[-2:])}").cpu()
    if zone.dtype != torch.bool or zone.shape != x.shape[-2:]:
        raise BadValue(f"zone must be a bool mask of shape {tuple(x.shape[-2:])}, got "
                       f"{zone.dtype} {tuple(zone.shape)}.")
    if not zone.any():
        raise BadValue("The dead zone is empty: every input pixel can reach a visible feature "
                       "(the wall hides nothing at this input size), so no map can fail. Wall "
                       "more rows, or wall an earlier layer with a smaller receptive field.")
    if zone.all():
        raise BadValue("The dead zone covers the whole image: the wall hides everything.")
    if given and hasattr(model, "features") and getattr(model, "wall", None) is not None:
        true = compute_dead_zone(model, tuple(x.shape[1:]))
        seen = int((zone & ~true).sum())
        if seen:
            raise BadValue(f"zone marks {seen} pixels this model can see (they are outside its "
                           "dead zone): is it transposed, or made for another input size? "
                           "Leave zone=None to use the model's own dead zone.")
    return zone


def targets(model, x, target) -> torch.Tensor:
    with eval_mode(model), torch.no_grad():
        return resolve_target(target, forward(model, x))


_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks")


def fingerprint(model: nn.Module) -> tuple:
    """What an explainer must leave as it found it: the checksum of every parameter and every
    buffer (persistent or not: a walled ViT's attention mask ``allowed`` and a
    ``FeatureWall``'s ``visible`` are not in the ``state_dict``), the train/eval mode of every
    module, and how each module runs: a ``forward`` set on the instance, and its number of
    forward / backward hooks (and of the global ones)."""
    tensors = {f"parameter {n}": p for n, p in model.named_parameters(remove_duplicate=False)}
    tensors.update({f"buffer {n}": b for n, b in model.named_buffers(remove_duplicate=False)
                    if b is not None})
    wiring = tuple((n, type(m).__name__, id(m.__dict__.get("forward")),
                    *(len(getattr(m, h, None) or ()) for h in _HOOKS))
                   for n, m in model.named_modules(remove_duplicate=False))
    from torch.nn.modules import module as torch_module
    hooks = tuple(len(getattr(torch_module, h, None) or ()) for h in _GLOBAL_HOOKS)
    return (validate.checksum(tensors), tuple(m.training for m in model.modules()),
            wiring + (hooks,))


def check_unchanged(model: nn.Module, before: tuple, label: str) -> None:
    after = fingerprint(model)
    if after != before:
        what = ("weights or buffers" if after[0] != before[0] else "train/eval mode"
                if after[1] != before[1] else "forward, hooks or submodules")
        raise ExplainerMisbehaved(
            f"the explainer {label!r} changed the model's {what}: every later explainer would "
            "be tested on another network. Make it restore what it changes (e.g. "
            "camwalls_lib.helpers.eval_mode), or give it a copy (copy.deepcopy(model)).")
