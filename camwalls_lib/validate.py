"""One place for the checks every public function makes on what it is given.

Each check either returns the (normalised) value or raises an error whose message names the
argument, what is wrong with it and how to fix it -- never a silent wrong answer. The errors
are the library's own (:mod:`camwalls_lib.errors`: :class:`~camwalls_lib.errors.BadValue` is a
``ValueError``, :class:`~camwalls_lib.errors.BadType` a ``TypeError``):

- :func:`tensor` -- a ``torch.Tensor`` (a NumPy array is refused with the conversion to use);
- :func:`finite` -- no NaN or inf, naming the first offending image / map by its index;
- :func:`images` -- ``[N, C, H, W]`` floats, finite, optionally in [0, 1];
- :func:`module`, :func:`model_dtype` -- a network; images in the dtype of its weights;
- :func:`positive_int`, :func:`positive_number` -- sizes and counts;
- :func:`boolean`, :func:`fraction`, :func:`choice`, :func:`names` -- flags, tolerances in
  [0, 1), names from a registry (any case), one name or several (never split into letters);
- :func:`real_maps` -- a batch of real-valued maps, not empty;
- :func:`count_arg`, :func:`positive_arg`, :func:`file_arg`, :func:`dir_arg`,
  :func:`existing_dir_arg` -- ``argparse`` types: command lines checked while parsing, before
  any work; :func:`usage_errors` -- in a command line's ``main``, a refusal becomes one line
  on stderr and exit status 2 (``parser.error``), never a traceback;
- :func:`output_file`, :func:`output_dir` -- where a result will be written: not a folder
  where a file goes (or the reverse), in a folder that exists;
- :func:`target` -- the one target check: ``None``, one class index or ``N`` of them;
- :func:`explicit_dir`, :func:`cache_folder` -- data and cache locations;
- :func:`atomic_save`, :func:`atomic_write_text`, :func:`load_tensors` -- files written by
  temp file + ``os.replace`` and read back with ``torch.load(weights_only=True)``, every
  failure naming the file; :func:`checksum` of the weights, stored beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import numbers
import os
import pickle
import zipfile
from pathlib import Path

import torch
import torch.nn as nn

from .errors import BadType, BadValue, CamwallsError, CorruptFile

__all__ = ["tensor", "finite", "images", "model_dtype", "positive_int", "positive_number",
           "module", "target", "boolean", "fraction", "choice", "names", "real_maps",
           "count_arg", "positive_arg", "file_arg", "dir_arg", "existing_dir_arg",
           "usage_errors", "output_file", "output_dir", "explicit_dir",
           "cache_folder", "atomic_write", "atomic_save", "atomic_write_text", "atomic_write_bytes",
           "load_tensors", "checksum", "sealed", "unsealed", "CorruptFile"]




# ----------------------------------------------------------------------------- tensors

def tensor(value, name: str, shape: str = "") -> torch.Tensor:
    """``value`` itself if it is a tensor; TypeError (with the conversion to use) otherwise."""
    if torch.is_tensor(value):
        return value
    kind = type(value).__name__
    fix = (f"convert it with torch.from_numpy({name})" if type(value).__module__ == "numpy"
           else f"convert it with torch.as_tensor({name})")
    raise BadType(f"{name} must be a torch.Tensor{' ' + shape if shape else ''}, got {kind}: "
                    f"{fix}.")


def finite(t: torch.Tensor, name: str, what: str = "image") -> torch.Tensor:
    """``t`` if it holds no NaN or inf; else ValueError naming the first bad ``what`` (index
    along dimension 0) and how many there are."""
    if not (t.is_floating_point() or t.is_complex()) or t.numel() == 0:
        return t
    values = t.detach()                 # a check, not part of the graph (no autograd warning)
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return t
    if t.dim() == 0:
        raise BadValue(f"{name} is {values.item()}: it must be a finite number.")
    per_item = bad.reshape(t.shape[0], -1).any(1).nonzero().flatten().tolist()
    kinds = "NaN" if bool(values[bad].isnan().all()) else "NaN or inf"
    raise BadValue(f"{name} holds {kinds} values in {what} {per_item[0]}"
                     + (f" (and {len(per_item) - 1} more: {per_item[1:6]})" if len(per_item) > 1
                        else "")
                     + f" of {t.shape[0]}; every {what} must be finite -- check how it was "
                       "made, or drop it.")


def images(x, name: str = "x", unit_range: bool = False) -> torch.Tensor:
    """``x`` checked as a batch of images ``[N, C, H, W]``: float, ``N >= 1``, finite, and in
    [0, 1] if ``unit_range``. Returns ``x``."""
    x = tensor(x, name, "of images [N, C, H, W]")
    if x.dim() != 4:
        hint = (f" (one image? use {name}[None]; a grayscale [N, H, W] batch? use "
                f"{name}[:, None])" if x.dim() in (2, 3) else "")
        raise BadValue(f"{name} must be a batch of images [N, C, H, W], got shape "
                         f"{tuple(x.shape)}{hint}.")
    if x.shape[0] == 0:
        raise BadValue(f"{name} is an empty batch (N = 0): pass at least one image.")
    if not x.is_floating_point():
        raise BadValue(f"{name} must hold floats in [0, 1] (got {x.dtype}); convert with "
                         f"{name}.float() / 255.")
    finite(x, name)
    if unit_range:
        lo, hi = float(x.detach().amin()), float(x.detach().amax())
        if lo < -1e-3 or hi > 1 + 1e-3:        # slack for rounding, e.g. a blurred image
            scale = " (it looks like 0-255 pixels: divide by 255)" if hi > 1.5 else ""
            raise BadValue(f"{name} must hold pixel values in [0, 1], got [{lo:.3g}, {hi:.3g}]"
                             f"{scale}; the network normalises them itself.")
    return x


def module(value, name: str = "model") -> nn.Module:
    """``value`` if it is a ``torch.nn.Module``; else :class:`BadType` saying what to pass."""
    if isinstance(value, nn.Module):
        return value
    raise BadType(f"{name} must be a torch.nn.Module (a network), got {value!r:.60} "
                  f"({type(value).__name__}).")


def model_dtype(x: torch.Tensor, model: nn.Module, name: str = "x") -> torch.Tensor:
    """``x`` if its dtype is that of ``model``'s floating-point weights; else ValueError."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    if dtype is not None and x.dtype != dtype:
        raise BadValue(f"{name} is {x.dtype} but the model's weights are {dtype}: convert "
                         f"the images with {name}.to({dtype}) (or the model with "
                         f"model.to({x.dtype})).")
    return x


# ----------------------------------------------------------------------------- numbers

def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int >= minimum``; bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadType(f"{name} must be an int >= {minimum}, got {value!r} "
                        f"({type(value).__name__}).")
    if value < minimum:
        raise BadValue(f"{name} must be an int >= {minimum}, got {value}.")
    return int(value)


def positive_number(value, name: str) -> float:
    """``value`` as a finite float ``> 0``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadType(f"{name} must be a number > 0, got {value!r} ({type(value).__name__}).")
    if not (value > 0 and value < float("inf")):
        raise BadValue(f"{name} must be a finite number > 0, got {value}.")
    return float(value)


def target(value, n: int, num_classes: int, device=None) -> torch.Tensor:
    """The explained classes as a long tensor ``[n]``.

    ``value``: one class index (int) or ``n`` of them (list or integer tensor), each in
    ``0 .. num_classes - 1``. Negative indices, non-integers (``3.7``, ``True``) and a wrong
    count are refused. (``None`` -- the predicted class -- is the caller's business.)
    """
    if isinstance(value, bool) or (torch.is_tensor(value) and value.dtype == torch.bool):
        raise BadType(f"target must be a class index (int) or {n} of them, got a bool.")
    try:
        t = torch.as_tensor(value, device=device) if not torch.is_tensor(value) else value
    except (TypeError, ValueError, RuntimeError):
        raise BadType(f"target must be a class index (int) or {n} of them, got {value!r:.60} "
                      f"({type(value).__name__}).") from None
    if t.is_floating_point() or t.is_complex():
        raise BadType(f"target must hold class indices as ints, got {value!r} "
                        f"({t.dtype}); a float such as 3.7 is not a class: pass int(...) or a "
                        "long tensor.")
    t = t.to(device).long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise BadValue(f"target has {t.numel()} entries for a batch of {n} images: give one "
                         f"class index or {n}.")
    if bool((t < 0).any()) or bool((t >= num_classes).any()):
        bad = t[(t < 0) | (t >= num_classes)].unique().tolist()
        raise BadValue(f"target {bad} out of range for {num_classes} classes: each class "
                         f"index must be in 0..{num_classes - 1} (negative indices are not "
                         "read from the end).")
    return t


def boolean(value, name: str) -> bool:
    """``value`` if it is a bool (a NumPy bool too); a string such as ``"unwalled"``, a number or
    None is refused -- every one of them would silently count as True or False."""
    numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool_", "bool")
    if isinstance(value, bool) or numpy_bool:
        return bool(value)
    raise BadType(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")


def fraction(value, name: str) -> float:
    """``value`` as a float in ``[0, 1)`` (a tolerance on a ratio that is at most 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadType(f"{name} must be a number in [0, 1), got {value!r} "
                      f"({type(value).__name__}).")
    if not 0 <= value < 1:
        raise BadValue(f"{name} must be in [0, 1), got {value}: mu is at most 1, so a "
                       f"{name} of 1 or more would pass every map.")
    return float(value)


def choice(value, name: str, options) -> str:
    """``value`` if it is one of ``options`` (strings). A different case of a valid name is
    accepted and returned in the registry's own spelling; anything else is refused with the
    list of valid names."""
    options = tuple(options)
    if not isinstance(value, str):
        raise BadType(f"{name} must be a name, one of {', '.join(options)}; got {value!r} "
                      f"({type(value).__name__}).")
    if value in options:
        return value
    folded = {o.casefold(): o for o in options}
    if value.strip().casefold() in folded:
        return folded[value.strip().casefold()]
    raise BadValue(f"Unknown {name} {value!r}; choose one of {', '.join(options)}.")


def names(value, name: str) -> tuple:
    """One name or several: ``"rollout"`` -> ``("rollout",)`` (a string is never split into
    its letters), a list or tuple as a tuple; an empty collection is refused."""
    if isinstance(value, str):
        return (value,)
    try:
        out = tuple(value)
    except TypeError:
        raise BadType(f"{name} must be a name or a list of names, got {value!r} "
                      f"({type(value).__name__}).") from None
    if not out:
        raise BadValue(f"{name} is empty: give at least one name.")
    return out


def real_maps(value, name: str = "maps", min_dim: int = 2) -> torch.Tensor:
    """``value`` checked as a batch of maps ``[N, ...]`` (``min_dim`` dimensions at least) of
    real numbers, ``N >= 1``, no empty dimension; ints are converted to float, bool and
    complex maps are refused."""
    t = tensor(value, name, "[N, h, w]")
    if t.dim() < min_dim:
        raise BadValue(f"{name} must be a batch [N, ...] of at least {min_dim} dimensions, got "
                       f"shape {tuple(t.shape)}" + (f" (one map? use {name}[None])"
                                                    if t.dim() == min_dim - 1 else "") + ".")
    if t.numel() == 0:
        raise BadValue(f"{name} is empty (shape {tuple(t.shape)}): pass at least one map "
                       "with at least one pixel.")
    if t.dtype == torch.bool or t.is_complex():
        raise BadType(f"{name} must hold real numbers, got {t.dtype}: a map is a float "
                      f"tensor (use {name}.float(), or {name}.abs() for complex values).")
    return t if t.is_floating_point() else t.float()


def count_arg(text: str) -> int:
    """An ``argparse`` type: an int >= 1 (``--epochs 0`` is refused while parsing, before any
    work)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def positive_arg(text: str) -> float:
    """An ``argparse`` type: a finite number > 0 (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def file_arg(text: str) -> str:
    """An ``argparse`` type: a file to write (:func:`output_file`), or ``-`` (standard
    output). A folder, or a file in a folder that does not exist, is refused while parsing."""
    if text == "-":
        return text
    return str(_arg(output_file, text))


def dir_arg(text: str) -> str:
    """An ``argparse`` type: a folder to write into, made if needed (:func:`output_dir`)."""
    return str(_arg(output_dir, text))


def existing_dir_arg(text: str) -> str:
    """An ``argparse`` type: a folder that exists (:func:`explicit_dir`)."""
    return str(_arg(explicit_dir, text, "the folder", "create it first"))


def _arg(check, text, *args):
    try:
        return check(text, *args)
    except (CamwallsError, OSError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None


@contextlib.contextmanager
def usage_errors(parser: argparse.ArgumentParser):
    """``with usage_errors(parser): ...`` around a command line's work: a refusal of the library
    (:class:`~camwalls_lib.errors.CamwallsError`) or a missing / misplaced file it names
    (``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError``,
    ``FileExistsError``) becomes ``parser.error``: the usage and one line on stderr, exit
    status 2, no traceback. Every other exception (a bug) keeps its traceback."""
    try:
        yield
    except (CamwallsError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            FileExistsError) as err:
        parser.error(" ".join(str(err).split()) or type(err).__name__)


# ----------------------------------------------------------------------------- files

def _path(path, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise BadType(f"{what} must be a path (str or pathlib.Path), got {path!r:.60} "
                      f"({type(path).__name__}).")
    return Path(path)


def output_file(path, what: str = "the output file") -> Path:
    """A file about to be written: not a folder, and in a folder that exists (checked before
    the work that makes it, so nothing is computed for nowhere). :class:`BadValue` otherwise."""
    p = _path(path, what)
    if p.is_dir():
        raise BadValue(f"{what} {p} is a folder: give the path of a file (inside it, e.g. "
                       f"{p / ('out' + (p.suffix or '.txt'))}).")
    if not p.parent.is_dir():
        raise BadValue(f"{what} {p} is in a folder that does not exist ({p.parent}): create "
                       "it first, or write elsewhere.")
    return p


def output_dir(path, what: str = "the output folder") -> Path:
    """A folder about to be written into (made later if needed): not a file, and its parent
    folder exists (a typo in the parent is refused, not silently created). :class:`BadValue`
    otherwise."""
    p = _path(path, what)
    if p.exists() and not p.is_dir():
        raise BadValue(f"{what} {p} is a file, not a folder: pass a folder.")
    if not p.exists() and not p.absolute().parent.is_dir():
        raise BadValue(f"{what} {p} is in a folder that does not exist ({p.parent}): create "
                       "it first, or write elsewhere.")
    return p


def explicit_dir(path, what: str, fix: str) -> Path:
    """An explicitly given folder: it must exist and be a folder (never silently replaced by
    a default location)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} {p} does not exist; {fix}.")
    if not p.is_dir():
        raise NotADirectoryError(f"{what} {p} is a file, not a folder; {fix}.")
    return p


def cache_folder(path, what: str) -> Path:
    """``path`` created as a folder if needed; an existing *file* there is an error."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{what} {p} is a file, not a folder: point it to a folder "
                                 "(or remove the file).")
    p.mkdir(parents=True, exist_ok=True)
    return p


def atomic_write(path, write) -> Path:
    """``write(tmp)`` a temporary file beside ``path``, then ``os.replace`` it onto ``path``: a
    reader sees the old file or the new one, never half of one. The temporary file never stays."""
    path = Path(path)
    if path.is_dir():
        raise BadValue(f"Cannot write the file {path}: it is a folder (nothing was written); "
                       "give the path of a file.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_save(obj, path) -> Path:
    """``torch.save(obj)`` to a temporary file beside ``path``, then ``os.replace``: a reader
    sees the old file or the new one, never half of one (Ctrl-C, a kill, a full disk)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and ``os.replace``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and ``os.replace``."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def load_tensors(path, what: str, fix: str, map_location="cpu"):
    """``torch.load(path, weights_only=True)``; a missing, empty, truncated or foreign file
    raises (FileNotFoundError or :class:`CorruptFile`) with the file's name and ``fix``.
    Objects that would run code when unpickled are refused by ``weights_only``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No {what} at {path}" + (" (it is a folder)" if path.is_dir()
                                                           else "") + f"; {fix}.")
    if path.stat().st_size == 0:
        raise CorruptFile(f"The {what} {path} is empty (0 bytes): {fix}.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable"
        raise CorruptFile(f"The {what} {path} could not be loaded safely "
                          f"({reason[:200]}): {fix}.") from e
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CorruptFile(f"The {what} {path} is truncated or not a torch file "
                          f"({type(e).__name__}): {fix}.") from e


def sealed(state: dict, key: str = "model") -> dict:
    """``{key: state, "<key>_sha256": checksum(state)}``: weights to save with their checksum
    (:func:`unsealed` reads them back)."""
    return {key: state, f"{key}_sha256": checksum(state)}


def unsealed(blob, path, what: str, fix: str, key: str = "model") -> dict:
    """The weights ``blob[key]`` of a file written with :func:`sealed`, once they match the
    checksum stored with them; :class:`CorruptFile` naming ``path`` and ``fix`` otherwise
    (the entry or its checksum missing, or the weights changed)."""
    if not isinstance(blob, dict) or key not in blob or f"{key}_sha256" not in blob:
        raise CorruptFile(f"The {what} {path} lacks its weights or their checksum; {fix}.")
    if checksum(blob[key]) != blob[f"{key}_sha256"]:
        raise CorruptFile(f"The {what} {path} is damaged: its weights do not match the "
                          f"checksum stored with them; {fix}.")
    return blob[key]


def checksum(state: dict) -> str:
    """A SHA-256 over the names and bytes of a state_dict's tensors, stored beside the weights
    so that a reader can tell a damaged file from a sound one."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key]
        h.update(key.encode())
        if torch.is_tensor(t):
            h.update(str(t.dtype).encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
