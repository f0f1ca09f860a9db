"""How faithful a saliency map is (how much it leaks is :func:`camwalls_lib.metrics.mu`).

- :func:`insertion_deletion` -- Petsiuk et al.'s insertion / deletion AUC (Poly-CAM, Sec. 4.2).
- :func:`confidence_change` -- average drop and increase in confidence when the image is
  multiplied by its explanation (the GradCAM++ report, Sec. 5).
- :func:`paired_difference` -- two methods scored on the same images: the mean of the
  per-image differences and its standard error (what a comparison of two means should use).

A map can score well on faithfulness and still leak: these metrics answer different questions.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .. import validate
from ..errors import BadValue
from ..helpers import eval_mode, resolve_target

__all__ = ["insertion_deletion", "confidence_change", "gaussian_blur", "PairedDifference",
           "paired_difference"]


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
    with eval_mode(model), torch.no_grad():
        target = resolve_target(target, model(x))
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
    with eval_mode(model), torch.no_grad():
        logits = model(x)
        target = resolve_target(target, logits)
        p = torch.softmax(logits, 1)
        Y = p.gather(1, target[:, None])[:, 0]
        O = torch.softmax(model(x * saliency[:, None]), 1).gather(1, target[:, None])[:, 0]
    return {"average_drop": float(((Y - O).clamp(min=0) / Y).mean() * 100),
            "increase": float((O > Y).float().mean() * 100), "Y": Y, "O": O}


class PairedDifference(NamedTuple):
    """The mean ``mean`` of per-image differences ``a - b`` over ``n`` images and its standard
    error ``se`` (sample standard deviation / sqrt(n))."""

    mean: float
    se: float
    n: int

    @property
    def standard_errors(self) -> float:
        """``|mean| / se``: how many standard errors the mean difference is from 0 (inf when
        every difference is the same nonzero number, 0 when they are all 0)."""
        if self.se > 0:
            return abs(self.mean) / self.se
        return 0.0 if self.mean == 0 else math.inf


def paired_difference(a, b) -> PairedDifference:
    """Compare two scores measured on the **same** images: ``a [N]`` and ``b [N]`` (e.g. the
    deletion AUC of two maps of each image, as :func:`insertion_deletion` returns them).

    Returns the mean of ``a - b`` and its standard error. Pairing removes what the images
    share (an easy image is easy for both maps), so this standard error is usually much
    smaller than the one of the difference of two separate means, and it is the one that
    says whether ``a`` and ``b`` differ.
    """
    values = {}
    for name, v in (("a", a), ("b", b)):
        v = validate.tensor(v, name, "[N]")
        if v.dim() != 1:
            raise BadValue(f"{name} must be one score per image, [N], got shape "
                           f"{tuple(v.shape)}.")
        if v.dtype == torch.bool or v.is_complex():
            raise BadValue(f"{name} must hold real scores, got {v.dtype}.")
        values[name] = validate.finite(v.detach().double(), name, "score")
    a, b = values["a"], values["b"]
    if a.shape != b.shape:
        raise BadValue(f"a and b must score the same images, got {a.numel()} and {b.numel()} "
                       "scores: pair each image's two scores.")
    if a.numel() < 2:
        raise BadValue(f"a and b need at least 2 paired scores for a standard error, got "
                       f"{a.numel()}.")
    d = a - b.to(a.device)
    return PairedDifference(float(d.mean()), float(d.std() / math.sqrt(d.numel())), d.numel())


def _check_pair(x, saliency):
    """Images ``[N, C, H, W]`` and their maps ``[N, H, W]``, both finite."""
    x = validate.images(x)
    saliency = validate.tensor(saliency, "saliency", "[N, H, W]")
    if saliency.shape != (x.shape[0], *x.shape[-2:]):
        raise BadValue(f"saliency must be [N, H, W] = {(x.shape[0], *x.shape[-2:])}, got "
                       f"{tuple(saliency.shape)}; upsample the maps to the input size "
                       "(cams.saliency does).")
    return x, validate.finite(saliency, "saliency", "map")


def _baseline(x, baseline):
    if torch.is_tensor(baseline):
        return validate.finite(baseline, "baseline").expand_as(x)
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "blur":
        return gaussian_blur(x, sigma=x.shape[-1] / 16)
    raise BadValue(f"baseline must be 'blur', 'zero' or a tensor, got {baseline!r}.")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``x [N, C, H, W]`` (replicate padding, radius ``3 sigma``)."""
    x = validate.images(x)
    sigma = validate.positive_number(sigma, "sigma")
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = g / g.sum()
    C = x.shape[1]
    blurred = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"),
                       g.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)
    return F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"),
                    g.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)
