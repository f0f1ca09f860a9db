"""How much a saliency map leaks, and how faithful it is.

- :func:`mu` -- the paper's Eq. (7): the share (in l2 norm) of a map that lies in the dead zone.
- :func:`insertion_deletion` -- Petsiuk et al.'s insertion / deletion AUC (Poly-CAM, Sec. 4.2).
- :func:`confidence_change` -- average drop and increase in confidence when the image is
  multiplied by its explanation (the GradCAM++ report, Sec. 5).

A map can score well on faithfulness and still leak: these metrics answer different questions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import validate

__all__ = ["mu", "insertion_deletion", "confidence_change", "gaussian_blur"]


def mu(saliency: torch.Tensor, dead_zone: torch.Tensor) -> torch.Tensor:
    """``mu(Lambda) = ||Lambda restricted to the dead zone||_2 / ||Lambda||_2`` per image.

    Parameters
    ----------
    saliency : ``[N, H, W]`` or ``[H, W]`` non-negative maps at input resolution (upsample
        first; mu is invariant to rescaling the map).
    dead_zone : bool ``[H, W]``, True on the pixels the network cannot see. The paper's
        ``Lambda_{171:224, :}`` (1-based, inclusive) is ``dead_zone[170:224] = True``.

    Returns
    -------
    ``[N]`` (or a scalar) in [0, 1]; 0 for an all-zero map (it puts nothing in the dead zone).
    A map holding NaN or inf is refused, naming its index (it is not a map that leaks nothing).
    """
    saliency = validate.tensor(saliency, "saliency", "[N, H, W]")
    dead_zone = validate.tensor(dead_zone, "dead_zone", "bool [H, W]")
    single = saliency.dim() == 2
    s = saliency[None] if single else saliency
    if s.dim() != 3:
        raise ValueError(f"saliency must be [N, H, W] or [H, W], got {tuple(saliency.shape)}.")
    if dead_zone.shape != s.shape[-2:] or dead_zone.dtype != torch.bool:
        raise ValueError(f"dead_zone must be a bool mask of shape {tuple(s.shape[-2:])} (the "
                         f"saliency's), got {dead_zone.dtype} {tuple(dead_zone.shape)}; upsample "
                         "the map to the input size first (cams.upsample).")
    if not s.is_floating_point():
        s = s.float()
    validate.finite(s, "saliency", "map")
    total = s.flatten(1).norm(dim=1)
    inside = s[:, dead_zone.to(s.device)].norm(dim=1)
    out = torch.where(total > 0, inside / total.clamp_min(1e-30), 0)
    return out[0] if single else out


def insertion_deletion(model, x: torch.Tensor, saliency: torch.Tensor, target=None,
                       steps: int = 50, baseline: str | torch.Tensor = "blur",
                       batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Insertion and deletion AUC of the target's softmax probability (Petsiuk et al. 2018).

    Pixels are ranked by decreasing ``saliency [N, H, W]``. *Insertion* starts from the
    baseline and reveals them ``H*W/steps`` at a time; *deletion* starts from ``x [N, C, H, W]``
    and replaces them by the baseline. Each curve (``steps + 1`` points, fraction 0..1) is
    integrated with the trapezoid rule. ``baseline``: ``"blur"`` (Gaussian blur, sigma = W/16,
    the usual choice), ``"zero"``, or a tensor like ``x``.

    Returns ``(insertion [N], deletion [N])``: higher insertion and lower deletion are better.
    """
    x, saliency = _check_pair(x, saliency)
    steps = validate.positive_int(steps, "steps")
    batch_size = validate.positive_int(batch_size, "batch_size")
    base = _baseline(x, baseline)
    model_was_training = model.training
    model.eval()
    with torch.no_grad():
        target = _target(model(x), target)
        N, (H, W) = x.shape[0], x.shape[-2:]
        order = saliency.flatten(1).argsort(dim=1, descending=True)
        counts = torch.linspace(0, H * W, steps + 1).round().long()
        curves = {"insertion": torch.empty(N, steps + 1), "deletion": torch.empty(N, steps + 1)}
        for n in range(N):
            ranks = torch.empty(H * W, dtype=torch.long)
            ranks[order[n]] = torch.arange(H * W)
            revealed = (ranks[None, :] < counts[:, None]).view(steps + 1, 1, H, W).to(x)
            for kind, (start, end) in {"insertion": (base[n], x[n]),
                                       "deletion": (x[n], base[n])}.items():
                images = start + revealed * (end - start)
                probs = torch.cat([torch.softmax(model(images[i:i + batch_size]), 1)
                                   for i in range(0, steps + 1, batch_size)])
                curves[kind][n] = probs[:, target[n]].float().cpu()
    model.train(model_was_training)
    fractions = counts.float() / (H * W)
    return (torch.trapezoid(curves["insertion"], fractions, dim=1),
            torch.trapezoid(curves["deletion"], fractions, dim=1))


def confidence_change(model, x: torch.Tensor, saliency: torch.Tensor, target=None) -> dict:
    """Average drop and increase in confidence when ``x`` is multiplied by its explanation.

    ``saliency [N, H, W]`` in [0, 1] (normalised, at input size). With ``Y`` the target's
    softmax probability on ``x`` and ``O`` on ``x * saliency``:

    - ``average_drop`` = mean of ``max(0, Y - O) / Y`` x 100 (lower is better);
    - ``increase`` = percentage of images with ``O > Y`` (higher is better).

    Returns a dict with both numbers and the per-image ``Y`` and ``O``.
    """
    x, saliency = _check_pair(x, saliency)
    model_was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)
        target = _target(logits, target)
        p = torch.softmax(logits, 1)
        Y = p.gather(1, target[:, None])[:, 0]
        O = torch.softmax(model(x * saliency[:, None]), 1).gather(1, target[:, None])[:, 0]
    model.train(model_was_training)
    return {"average_drop": float(((Y - O).clamp(min=0) / Y).mean() * 100),
            "increase": float((O > Y).float().mean() * 100), "Y": Y, "O": O}


def _check_pair(x, saliency):
    """Images ``[N, C, H, W]`` and their maps ``[N, H, W]``, both finite."""
    x = validate.images(x)
    saliency = validate.tensor(saliency, "saliency", "[N, H, W]")
    if saliency.shape != (x.shape[0], *x.shape[-2:]):
        raise ValueError(f"saliency must be [N, H, W] = {(x.shape[0], *x.shape[-2:])}, got "
                         f"{tuple(saliency.shape)}; upsample the maps to the input size "
                         "(cams.saliency does).")
    return x, validate.finite(saliency, "saliency", "map")


def _target(logits, target):
    """The predicted class (``target=None``) or the checked ``target``, ``[N]``."""
    validate.finite(logits, "the model's logits", "image")
    if target is None:
        return logits.argmax(1)
    return validate.target(target, logits.shape[0], logits.shape[1], logits.device)


def _baseline(x, baseline):
    if torch.is_tensor(baseline):
        return validate.finite(baseline, "baseline").expand_as(x)
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "blur":
        return gaussian_blur(x, sigma=x.shape[-1] / 16)
    raise ValueError(f"baseline must be 'blur', 'zero' or a tensor, got {baseline!r}.")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``x [N, C, H, W]`` (replicate padding, radius ``3 sigma``)."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = g / g.sum()
    C = x.shape[1]
    blurred = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"),
                       g.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)
    return F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"),
                    g.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)
