"""The metrics: how much a map leaks into the dead zone, and how faithful it is.

- :mod:`.mu` -- :func:`mu`, the paper's leak metric (Eq. 7), its constant-map scale
  :func:`baseline_mu`, and the dead zone's share of mass :func:`mass_share`;
- :mod:`.faithfulness` -- insertion / deletion AUC, average drop and increase in confidence,
  and :func:`paired_difference` for two scores of the same images;
- :mod:`.leak` -- :func:`~.leak.leak_table`: mu of every CAM method on a batch (Table 1), cached;
- :mod:`.walltest` -- the wall test: any explainer in front of a wall, with a verdict;
  :mod:`.wallcheck` -- what it checks before trusting one (images, zone, maps, an unchanged
  model).

``from camwalls_lib.metrics import mu`` reaches the public names of :mod:`.mu` and
:mod:`.faithfulness`.
"""

from .faithfulness import confidence_change, gaussian_blur, insertion_deletion, paired_difference
from .mu import baseline_mu, mass_share, mu

__all__ = ["mu", "baseline_mu", "mass_share", "insertion_deletion", "confidence_change", "gaussian_blur",
           "paired_difference"]
