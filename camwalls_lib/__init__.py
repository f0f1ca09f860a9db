"""camwalls_lib: walled networks, CAM methods, the dead zone and the leak metric mu.

A small library behind the book "CAM-based saliency can see through walls". Each module is
one idea: :mod:`.walls` (the wall and the exact dead zone), :mod:`.models` (the paper's [CNN]
and [VGG]), :mod:`.cams` (every CAM method as a weighting rule), :mod:`.metrics` (mu and
faithfulness), :mod:`.data` (MNIST offline); :mod:`.vit` (a walled vision transformer),
:mod:`.vit_explain` (its token and attention explainers), :mod:`.vit_theory` (why GradCAM
paints its walled patches).
"""

__version__ = "0.1.0"
