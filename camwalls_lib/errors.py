"""What "a clear error" is, in one place: the library's own exceptions.

Every public function of ``camwalls_lib`` refuses what it cannot use with one of these, and
its message names the argument, what is wrong with it and how to fix it. Each also derives
from the built-in exception a caller would expect, so ``except ValueError`` /
``except TypeError`` written before this module existed keep working:

- :class:`CamwallsError` -- the base: ``except CamwallsError`` catches every refusal;
- :class:`BadValue` (``ValueError``) -- the right kind of thing with a wrong value (a shape,
  a range, NaN, an unknown method name);
- :class:`BadType` (``TypeError``) -- the wrong kind of thing (a string for a bool, a numpy
  array for a tensor);
- :class:`CorruptFile` (``ValueError``) -- a file that exists but cannot be what it should
  hold (truncated, damaged, another model's weights);
- :class:`UnsafePath` (``ValueError``) -- a tool asked to write where it could destroy data
  it did not create (the repository, a user's folder, outside the cache);
- :class:`ExplainerMisbehaved` (``RuntimeError``) -- an explainer under test changed the
  model or the inputs it was given.
"""

from __future__ import annotations

__all__ = ["CamwallsError", "BadValue", "BadType", "CorruptFile", "UnsafePath",
           "ExplainerMisbehaved"]


class CamwallsError(Exception):
    """Base of every error the library raises on purpose."""


class BadValue(CamwallsError, ValueError):
    """An argument of the right kind with a value the function cannot use."""


class BadType(CamwallsError, TypeError):
    """An argument of the wrong kind."""


class CorruptFile(BadValue):
    """A file that exists but cannot be read back as what it should hold."""


class UnsafePath(BadValue):
    """A folder a tool refuses to write into or delete: it holds data the tool did not make."""


class ExplainerMisbehaved(CamwallsError, RuntimeError):
    """An explainer changed the model (weights, buffers, train/eval mode) or its inputs."""
