"""Training: one loop for every model of the book and its checkpoints (the recipes that use it
live in :mod:`camwalls_lib.experiments`).

- :mod:`.loop` -- :func:`fit` (exact resume);
- :mod:`.accuracy` -- :func:`evaluate` (top-1, top-5);
- :mod:`.checkpoint` -- :class:`History`, :func:`save_checkpoint`, :func:`load_checkpoint`;
- :mod:`.batches` -- :class:`TensorLoader`, devices and mixed precision.
"""

from ..helpers import resolve_device
from .batches import TensorLoader
from .checkpoint import History, load_checkpoint, save_checkpoint
from .accuracy import evaluate
from .loop import fit

__all__ = ["fit", "evaluate", "History", "TensorLoader", "save_checkpoint", "load_checkpoint",
           "resolve_device"]
