"""camwalls_lib: walled networks, CAM methods, the dead zone and the leak metric mu.

A small library behind the book "CAM-based saliency can see through walls". Its folders follow
the paper's pipeline (see ARCHITECTURE.md): :mod:`.networks` (walled models) ->
:mod:`.cams` (capture ``B`` and ``nabla_B y``, a weighting rule, a map) -> :mod:`.walls` (the
wall and its exact dead zone) -> :mod:`.metrics` (mu, faithfulness, the wall test) ->
:mod:`.book` (figures, the explorer, the exercises). :mod:`.data` and :mod:`.training` feed
the networks; :mod:`.theory` checks the paper's statements; :mod:`.helpers` and
:mod:`.validate` are shared plumbing.
"""

__version__ = "0.1.0"
