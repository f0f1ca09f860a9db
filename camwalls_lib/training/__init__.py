"""Training: one loop for every model of the book, its checkpoints, and the cached walled models.

- :mod:`.loop` -- :func:`fit` (exact resume) and :func:`evaluate`;
- :mod:`.checkpoint` -- :class:`History`, :func:`save_checkpoint`, :func:`load_checkpoint`;
- :mod:`.batches` -- :class:`TensorLoader`, devices and mixed precision;
- :mod:`.mnist` -- the walled [CNN]s trained on MNIST once and cached;
- :mod:`.vgg` -- the masked [VGG]'s recipes and command line.
"""

from ..helpers import resolve_device
from .batches import TensorLoader
from .checkpoint import History, load_checkpoint, save_checkpoint
from .loop import evaluate, fit

__all__ = ["fit", "evaluate", "History", "TensorLoader", "save_checkpoint", "load_checkpoint",
           "resolve_device"]
