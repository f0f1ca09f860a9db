"""What the argument predicts for each method before the scoreboard is read.

Behind a wall every gradient with respect to something computed only from dead pixels is
exactly 0, and a feature that changes no output is a *null player* of every Shapley game.
Hence (written down before the scoreboard was computed):

- **input-gradient and propagation methods** pass on every network: the relevance or
  multiplier reaching a dead pixel is a product with a zero (Captum's pixel attributions and
  noise tunnels, Guided GradCAM, every Zennit composite, SHAP's Gradient and Deep explainers);
- **null-player methods** (exact Shapley sampling, ablation, KernelSHAP) pass where no
  superpixel straddles the wall's edge (:func:`camwalls_lib.peers.superpixels.straddling`):
  a block entirely in the dead zone gets exactly 0, a straddling block paints its dead pixels;
- **position-wise CAMs** (HiResCAM, LayerCAM, GradCAMElementWise, Captum's layer
  gradient x activation, DeepLift and conductance) pass where the wall is at the explained
  layer, and leak on ``resnet-stage``, where convolutions after the wall carry visible
  features into walled positions; FullGrad passes where no convolution follows the wall;
- **everything else** leaks: one coefficient per channel paints the whole channel, and LIME's
  regression, occlusion windows and SHAP's partition tree mix dead and visible pixels.
"""

from __future__ import annotations

__all__ = ["PIXEL", "NULL_PLAYER", "POSITION_WISE", "WALL_AT_LAYER", "predicted_pass",
           "refuted"]

PIXEL = {
    "captum": {"Saliency", "IntegratedGradients", "InputXGradient", "DeepLift", "GuidedGradCam",
               "GuidedBackprop", "Deconvolution", "DeepLiftShap", "GradientShap", "LRP",
               "SmoothGrad(Saliency)", "SmoothGradSq(IntegratedGradients)",
               "VarGrad(Saliency)"},
    "zennit": {"EpsilonPlus", "EpsilonPlusFlat", "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat",
               "EpsilonGammaBox", "ExcitationBackprop", "GuidedBackprop", "SmoothGrad",
               "IntegratedGradients"},
    "shap": {"GradientExplainer", "DeepExplainer"},
}
NULL_PLAYER = {"captum": {"FeatureAblation", "ShapleyValueSampling", "KernelShap"},
               "shap": {"KernelExplainer"}}
POSITION_WISE = {"camwalls": {"HiResCAM", "LayerCAM"},
                 "grad-cam": {"HiResCAM", "GradCAMElementWise", "LayerCAM"},
                 "torchcam": {"LayerCAM"},
                 "captum": {"LayerGradientXActivation", "LayerDeepLift", "LayerConductance"}}
WALL_AT_LAYER = {"toy-cnn", "resnet-head", "vgg-fashion", "vit"}
"""Networks whose wall is at (or behind) the explained layer, with no convolution after it."""


def predicted_pass(library: str, method: str, network: str, straddling: int) -> bool:
    """True if the argument above predicts "exactly zero" for ``method`` of ``library`` on
    ``network``, whose dead zone is straddled by ``straddling`` superpixels."""
    if method in PIXEL.get(library, ()):
        return True
    if method in NULL_PLAYER.get(library, ()):
        return straddling == 0
    if method in POSITION_WISE.get(library, ()) or (library, method) == ("grad-cam", "FullGrad"):
        return network in WALL_AT_LAYER
    return False


def refuted(rows: list[dict], straddles: dict[str, int]) -> list[dict]:
    """The rows (that ran) whose verdict contradicts :func:`predicted_pass`; ``straddles``:
    ``{network: straddling superpixels}``."""
    ran = [r for r in rows if r["verdict"] not in ("n/a", "blank")]
    return [r for r in ran if (r["verdict"] == "exactly zero") != predicted_pass(
        r["library"], r["method"], r["network"], straddles[r["network"]])]
