"""The weighting rules of the CAM methods, written as the paper writes them (its Appendix A).

Each rule turns a :class:`~.capture.Capture` into ``alpha``: one number per channel
(``[N, V]``, a *global* coefficient: GradCAM, GradCAM++, XGradCAM, ScoreCAM, AblationCAM,
EigenCAM, Opti-CAM, CAM) or one number per channel and position (``[N, V, h, w]``: HiResCAM,
LayerCAM). The forward passes of ScoreCAM run in :mod:`.masked`, AblationCAM's in :mod:`.perturb`.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..errors import BadValue
from ..helpers import eval_mode
from . import perturb
from .capture import Capture
from .maps import EPS, upsample
from .masked import masked_scores

__all__ = ["cam_weights", "gradcam_weights", "gradcampp_weights", "xgradcam_weights",
           "hirescam_weights", "layercam_weights", "scorecam_weights", "ablationcam_weights",
           "eigencam_weights", "centred", "opticam_weights"]


def cam_weights(cap: Capture) -> torch.Tensor:
    """CAM (Zhou et al.): ``alpha_v = w_{c,v}``, the class weights of a GAP + linear head.

    For ``y_c = sum_v w_{c,v} GAP(B^(v))`` the gradient is the constant ``w_{c,v} / (hw)``
    over each map, so ``alpha_v = hw * GAP(dB^(v))`` recovers ``w_{c,v}`` exactly. On any other
    head the gradient varies over the map, CAM is undefined, and this rule says so.
    """
    dB = cap.dB
    spread = (dB - dB.mean((2, 3), keepdim=True)).abs().amax()
    if spread > 1e-5 * dB.abs().amax().clamp_min(EPS):
        raise BadValue(
            "CAM is only defined for a head that is global average pooling + one linear layer, "
            "where dy/dB is constant over each map; here it varies (max-pooling, dense layers "
            "or a wall follow the layer). Use 'gradcam', CAM's generalisation, instead."
        )
    h, w = dB.shape[-2:]
    return dB.mean((2, 3)) * (h * w)


def gradcam_weights(cap: Capture) -> torch.Tensor:
    """GradCAM (Definition 1): ``alpha_v = GAP(nabla_{B^(v)} f)``, one number per channel."""
    return cap.dB.mean((2, 3))


def gradcampp_weights(cap: Capture) -> torch.Tensor:
    """GradCAM++ (Definition 5) with Chattopadhay et al.'s exponential score ``Y = exp(y_c)``.

    Literally, Definition 5 divides second by third derivatives of ``f``; for a ReLU network
    both vanish almost everywhere (0/0). The original paper (and the ``grad-cam`` package)
    differentiates ``exp(y_c)`` instead, which gives ``d^n Y = exp(y_c) (dB)^n``, so

        a_ij = dB_ij^2 / (2 dB_ij^2 + sum_ab B_ab * dB_ij^3),  alpha_v = sum_ij a_ij relu(dB_ij).

    We sum over positions like the original (Definition 5's GAP only divides by hw) and put
    ``a_ij = 0`` where ``dB_ij = 0`` or the denominator vanishes (no epsilon: ``grad-cam`` adds
    1e-6 to the denominator, which matters when gradients are below ~1e-3).
    """
    g, B = cap.dB, cap.B
    denom = 2 * g**2 + B.sum((2, 3), keepdim=True) * g**3
    a = torch.where((g != 0) & (denom != 0), g**2 / torch.where(denom == 0, 1, denom), 0)
    return (a * g.clamp(min=0)).sum((2, 3))


def xgradcam_weights(cap: Capture) -> torch.Tensor:
    """XGradCAM (Definition 4): ``alpha_v = sum_ij (B_ij / ||B^(v)||_1) dB_ij``.

    Fu et al. (and ``grad-cam``) sum over positions; Definition 4 writes GAP, which only adds
    a factor 1/(hw). A channel that is 0 everywhere gets weight 0.
    """
    norm = cap.B.sum((2, 3))
    return torch.where(norm > 0, (cap.B * cap.dB).sum((2, 3)) / norm.clamp_min(EPS), 0)


def hirescam_weights(cap: Capture) -> torch.Tensor:
    """HiResCAM (Definition 6): ``alpha = nabla_B f`` itself, position by position.

    Wherever the network does not use ``B`` -- behind the wall -- the gradient is exactly 0,
    so the map is exactly 0 there: HiResCAM cannot see through walls.
    """
    return cap.dB


def layercam_weights(cap: Capture) -> torch.Tensor:
    """LayerCAM (Jiang et al. 2021): ``alpha = relu(nabla_B f)``, position by position."""
    return cap.dB.clamp(min=0)


def scorecam_weights(cap: Capture, batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """ScoreCAM (Definition 7): ``alpha = softmax_v(beta)``, ``beta_v = y_c(x * H^(v)) - y_c(x)``.

    ``H^(v)`` is ``B^(v)`` upsampled (bilinear) to the input and min-max normalised to [0, 1];
    a constant channel gives ``H^(v) = 0``. Scores are raw logits, as in Definition 7 and the
    ``grad-cam`` package (softmax is shift-invariant, so subtracting ``y_c(x)`` changes nothing).
    """
    scores = masked_scores(cap, "u", batch_size, progress)
    return torch.softmax(scores - cap.y[:, None], dim=1)


def ablationcam_weights(cap: Capture, batch_size: int = 64, progress: bool = False,
                        tail_only: bool = True) -> torch.Tensor:
    """AblationCAM (Definition 8): ``alpha_v = (y - y_v) / y`` with ``y_v`` the score when
    ``B^(v)`` is set to zero. (As defined, a negative ``y`` flips every sign.)

    Only the network after the layer runs, ``V`` times per image, where the model can be split
    there (:func:`camwalls_lib.cams.perturb.split_at`); ``tail_only=False`` runs ``V`` full
    forward passes instead (same numbers, the reference).
    """
    ablated, _ = perturb.ablation_scores(cap, batch_size, progress, tail_only)
    y = cap.y.float().cpu()[:, None]
    return ((y - ablated) / torch.where(y == 0, 1, y)).to(cap.B)


def eigencam_weights(cap: Capture) -> torch.Tensor:
    """EigenCAM (Bany Muhammad & Yeasin): the first principal direction of the activations.

    ``B`` is read as ``hw`` samples of ``V`` features, centred per channel; ``alpha`` is the
    first right singular vector, applied to the centred activations (see
    :func:`centred`). No gradient, no class: the same map for every target. Its sign is
    arbitrary in an SVD; we choose the sign that correlates positively with ``sum_v B^(v)``
    (``grad-cam`` leaves it to the SVD routine).
    """
    Bc = centred(cap.B).flatten(2).transpose(1, 2)          # [N, hw, V]
    _, _, Vh = torch.linalg.svd(Bc.double(), full_matrices=False)
    alpha = Vh[:, 0, :].to(cap.B)                           # [N, V]
    projection = torch.einsum("npv,nv->np", Bc, alpha)
    sign = torch.sign((projection * cap.B.sum(1).flatten(1)).sum(1))
    return alpha * torch.where(sign == 0, 1, sign)[:, None]


def centred(B: torch.Tensor) -> torch.Tensor:
    """``B - mean over positions`` of each channel; EigenCAM weighs these."""
    return B - B.mean((2, 3), keepdim=True)


def opticam_weights(cap: Capture, steps: int = 50, lr: float = 0.1,
                    progress: bool = False) -> torch.Tensor:
    """Opti-CAM (Zhang et al. 2023): ``alpha = softmax(u)`` with ``u`` maximising the logit of
    the input masked by its own saliency map,

        u* = argmax_u  y_c( x * n(Up(sum_v softmax(u)_v B^(v))) ),   n(S) = S / max S,

    by ``steps`` of Adam at learning rate ``lr`` from ``u = 0`` (uniform weights). Opti-CAM's
    paper also offers the softmax probability as objective; we use the logit, like the rest of
    this module.
    """
    u = torch.zeros(cap.B.shape[:2], device=cap.B.device, requires_grad=True)
    optimizer = torch.optim.Adam([u], lr=lr)
    for _ in tqdm(range(steps), disable=not progress, desc="Opti-CAM"):
        S = (torch.softmax(u, 1)[:, :, None, None] * cap.B).sum(1)
        mask = upsample(S, cap.x.shape[-2:])
        mask = mask / mask.flatten(1).amax(1).clamp_min(EPS)[:, None, None]
        with eval_mode(cap.model):
            logits = cap.model(cap.x * mask[:, None])
        score = logits.gather(1, cap.target[:, None]).sum()
        (grad,) = torch.autograd.grad(-score, u)
        u.grad = grad
        optimizer.step()
    return torch.softmax(u.detach(), 1)

