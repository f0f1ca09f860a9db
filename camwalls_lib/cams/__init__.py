"""The CAM methods: one capture of ``B`` and ``nabla_B y_c``, a weighting rule, one map.

- :mod:`.capture` -- :func:`capture` (``B``, ``dB``, target, score at one layer), :func:`resolve_layer`;
- :mod:`.rules` -- each method's weighting rule ``Capture -> alpha`` (the paper's Appendix A);
- :mod:`.perturb` -- the one loop of masked / ablated forward passes (ScoreCAM, AblationCAM,
  Poly-CAM) and the network's tail after a layer;
- :mod:`.polycam` -- Poly-CAM, several layers refined coarse to fine;
- :mod:`.maps` -- ``sigma(sum_v alpha_v B^(v))``, upsampling, min-max normalisation;
- :mod:`.methods` -- the methods by name: :func:`compute`, :func:`compute_many`,
  :func:`saliency`, :data:`METHODS`, :data:`GLOBAL`, :func:`options_of`;
- :mod:`.vit_explain` -- token and attention explainers of a walled vision transformer.

``from camwalls_lib.cams import compute`` (or ``cams.compute``) reaches the public names.
"""

from .capture import Capture, capture, resolve_layer
from .maps import EPS, combine, normalize, unit_masks, upsample
from .methods import (GLOBAL, LABELS, METHODS, RULES, Method, compute, compute_many, method_name,
                      options_of, saliency, saliency_many)
from .polycam import lnorm, poly_weights, polycam
from .rules import (ablationcam_weights, cam_weights, centred, eigencam_weights,
                    gradcam_weights, gradcampp_weights, hirescam_weights, layercam_weights,
                    opticam_weights, scorecam_weights, xgradcam_weights)

__all__ = ["Capture", "capture", "resolve_layer", "EPS", "combine", "normalize", "unit_masks",
           "upsample", "GLOBAL", "LABELS", "METHODS", "RULES", "Method", "compute", "compute_many",
           "method_name", "options_of", "saliency", "saliency_many", "lnorm", "poly_weights",
           "polycam", "ablationcam_weights", "cam_weights", "centred", "eigencam_weights",
           "gradcam_weights", "gradcampp_weights", "hirescam_weights", "layercam_weights",
           "opticam_weights", "scorecam_weights", "xgradcam_weights"]
