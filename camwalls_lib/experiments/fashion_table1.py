"""The paper's Table 1 on the masked [VGG] trained on Fashion-MNIST.

STACK-MIX exactly as Eq. (6), from test items *of the same class*: rows 0..169 of one
upsampled item over rows 170..223 (the dead zone) of another item of that class. The walled
network cannot see the lower part, so its logits on a composite are those on the upper item,
bit for bit (:func:`same_logits`); any saliency in rows 170..223 is mass on pixels that played
no role.

- :func:`same_class_stackmix` -- the composites (a :class:`~camwalls_lib.data.stackmix.StackSet`).
- :func:`compute_table1` -- ``mu`` of every method of the library on them: the gradient /
  activation methods on all composites, the perturbation methods (ScoreCAM, AblationCAM,
  Opti-CAM, Poly-CAM) on the first ``n_perturbation`` (each costs tens to hundreds of
  forward passes per image).
- :func:`load_table1` -- the shipped result (two CSVs written by :meth:`LeakTable.to_csv`,
  checksummed), :func:`summary` -- ``{method: (mean, sd, n)}`` in ``mu x 100``.
- :func:`load_earlier` -- the summary and accuracies of the first, undertrained network that
  shipped (kept to show what changed as the network learned).
- Command line: ``python -m camwalls_lib.experiments.fashion_table1 --weights DIR --n 512
  --n-perturbation 64``; under ``torchrun --nproc_per_node=N -m ...`` the composites are
  shared among N processes (:func:`~camwalls_lib.metrics.leak.leak_table`), the table is the
  same, and rank 0 writes it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from .. import distributed, validate
from ..data.fashion import CLASSES, load_fashion, normalize, upsample
from ..data.stackmix import SPLIT_ROW, StackSet
from ..errors import BadValue
from ..walls import dead_zone
from ..metrics.leak import LeakTable, leak_table
from .fashion_vgg import ASSETS, load_trained

__all__ = ["GRADIENT_METHODS", "PERTURBATION_METHODS", "same_class_stackmix", "same_logits",
           "compute_table1", "load_table1", "summary", "load_earlier", "uniform_mu", "main"]

GRADIENT_METHODS = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam")
"""One forward and one backward pass per image (EigenCAM: no backward)."""
PERTURBATION_METHODS = ("scorecam", "ablationcam", "opticam", "pcam±")
"""Tens to hundreds of forward passes per image: computed on a subset."""


def uniform_mu(split: int = SPLIT_ROW, size: int = 224) -> float:
    """``mu`` of a constant ``size x size`` map whose dead zone is rows ``split..size-1``."""
    return math.sqrt((size - split) / size)


def same_class_stackmix(items, n: int = 512, seed: int = 0, split: int = SPLIT_ROW,
                        size: int = 224) -> StackSet:
    """Eq. (6) on Fashion-MNIST: ``n`` composites ``[n, 3, size, size]`` in [0, 1] (grey
    replicated), each the rows ``0..split-1`` of one upsampled item over the rows
    ``split..size-1`` of *another item of the same class*. ``items``: a
    :class:`~camwalls_lib.data.Digits` (e.g. ``load_fashion("test")``). Upper items are
    distinct; lower items are drawn uniformly among the other items of the class (seeded).
    ``names[k]`` is ``"upper|lower"`` (indices into ``items``)."""
    if not 0 < split < size:
        raise BadValue(f"split must be in 1..{size - 1}, got {split}.")
    if n > len(items.y):
        raise BadValue(f"n={n} composites need n distinct upper items; the set has "
                       f"{len(items.y)}.")
    g = torch.Generator().manual_seed(seed)
    upper = torch.randperm(len(items.y), generator=g)[:n]
    lower = torch.empty_like(upper)
    for k, i in enumerate(upper.tolist()):
        same = (items.y == items.y[i]).nonzero()[:, 0]
        same = same[same != i]
        if len(same) == 0:
            raise BadValue(f"Item {i} is the only one of its class: no same-class partner.")
        lower[k] = same[torch.randint(len(same), (1,), generator=g)]
    top, bottom = upsample(items.x[upper], size), upsample(items.x[lower], size)
    images = torch.cat([top[:, :, :split], bottom[:, :, split:]], dim=2)
    return StackSet(images, items.y[upper].clone(),
                    [f"{u}|{v}" for u, v in zip(upper.tolist(), lower.tolist())],
                    f"STACK-MIX (Eq. 6) from the Fashion-MNIST test set: {n} composites, upper "
                    f"and lower item of the same class, seed {seed}")


@torch.no_grad()
def same_logits(model, stack: StackSet, items, split: int = SPLIT_ROW) -> bool:
    """True if ``model``'s logits on every composite equal, bit for bit, its logits on the
    upper item alone (what a network blind to rows ``split..`` must give)."""
    upper = torch.tensor([int(s.split("|")[0]) for s in stack.names])
    alone = upsample(items.x[upper], stack.images.shape[-1])
    model = model.eval()
    return all(torch.equal(model(normalize(stack.images[i:i + 64])),
                           model(normalize(alone[i:i + 64])))
               for i in range(0, len(stack), 64))


def compute_table1(model, stack: StackSet, n_perturbation: int = 64, cache_dir=None,
                   progress: bool = False, opticam_steps: int = 20) -> dict[str, LeakTable]:
    """``{"gradient": table on all composites, "perturbation": table on the first
    n_perturbation}``; each map explains the predicted class, is upsampled (bilinear) and
    min-max normalised, then ``mu`` is taken over the dead zone rows 170..223. With
    ``cache_dir``, ``table1_gradient.csv`` / ``table1_perturbation.csv`` there are read when
    they hold this very computation (model, images, methods) and written otherwise."""
    model = model.eval()
    zone = dead_zone(model, tuple(stack.images.shape[1:]))
    x = normalize(stack.images)
    cache = (lambda name: Path(cache_dir) / f"table1_{name}.csv") if cache_dir else (lambda _: None)
    return {
        "gradient": leak_table(model, x, zone, list(GRADIENT_METHODS), batch_size=64,
                               cache=cache("gradient"), progress=progress),
        "perturbation": leak_table(model, x[:n_perturbation], zone, list(PERTURBATION_METHODS),
                                   batch_size=64, cache=cache("perturbation"),
                                   progress=progress, opticam={"steps": opticam_steps}),
    }


def load_table1(folder) -> dict[str, LeakTable]:
    """The two tables written by :func:`compute_table1` (checksums verified)."""
    return {k: LeakTable.from_csv(Path(folder) / f"table1_{k}.csv")
            for k in ("gradient", "perturbation")}


def summary(tables: dict[str, LeakTable]) -> dict[str, tuple[float, float, int]]:
    """``{method: (mean, sd, n)}`` of ``mu x 100`` over the images of each table."""
    return {m: (100 * float(v.mean()), 100 * float(v.std()), len(v))
            for t in tables.values() for m, v in t.mu.items()}


def load_earlier(path=None) -> dict:
    """The first shipped network's record (``ASSETS/earlier.json``): ``{"summary": {method:
    (mean, sd, n)} in mu x 100, "test_top1": {"walled": a, "unwalled": b}, "recipe": {...}}``;
    :class:`~camwalls_lib.validate.CorruptFile` naming the file when it is not that."""
    path = Path(path) if path is not None else ASSETS / "earlier.json"
    try:
        record = json.loads(path.read_text())
        rows = {m: (float(a), float(b), int(n)) for m, (a, b, n) in record["summary"].items()}
        top1 = {k: float(record["test_top1"][k]) for k in ("walled", "unwalled")}
        sound = set(rows) == set(GRADIENT_METHODS + PERTURBATION_METHODS) and all(
            0 <= a <= 100 and 0 <= b <= 100 and n > 0 for a, b, n in rows.values()) and all(
            0 <= v <= 1 for v in top1.values()) and isinstance(record["recipe"], dict)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise validate.CorruptFile(f"{path} is missing or not the earlier network's record "
                                   f"({type(e).__name__}: {str(e)[:120]}); restore it from "
                                   f"the repository.") from e
    if not sound:
        raise validate.CorruptFile(f"{path} holds impossible values (a method missing, a mu "
                                   f"outside 0..100 or an accuracy outside 0..1); restore it "
                                   f"from the repository.")
    return {"summary": rows, "test_top1": top1, "recipe": record["recipe"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m camwalls_lib.experiments.fashion_table1",
                                description="Table 1 on the Fashion-MNIST masked VGG16.")
    p.add_argument("--weights", default=str(ASSETS), type=validate.existing_dir_arg,
                   help="folder with walled.pt, record.json")
    p.add_argument("--out", type=validate.dir_arg,
                   help="folder for the CSVs and table1.json (default: --weights)")
    # the long names work under torchrun, whose parser rejects --n as an ambiguous prefix
    p.add_argument("--n", "--composites", dest="n", type=validate.count_arg, default=512,
                   help="composites (gradient methods)")
    p.add_argument("--n-perturbation", "--perturbation-composites", dest="n_perturbation",
                   type=validate.count_arg, default=64, help="composites (perturbation methods)")
    a = p.parse_args(argv)                       # every argument checked before any work
    out = Path(a.out or a.weights)
    with validate.usage_errors(p):               # a refusal: one line and status 2
        return _table1(a, out)


def _table1(a, out: Path) -> int:
    world, _ = distributed.setup("cpu")
    try:
        model = load_trained(True, a.weights)
        test = load_fashion("test")
        stack = same_class_stackmix(test, a.n)
        if not same_logits(model, stack, test):
            raise RuntimeError("The walled network's logits depend on the dead zone: a bug.")
        tables = compute_table1(model, stack, a.n_perturbation, out, progress=world.main)
        result = {"summary": summary(tables), "uniform": 100 * uniform_mu(),
                  "seconds": {m: s for t in tables.values() for m, s in t.seconds.items()},
                  "source": stack.source, "classes": CLASSES}
        if world.main:
            validate.atomic_write_text(out / "table1.json", json.dumps(result, indent=1))
            for m, (mean, sd, n) in result["summary"].items():
                print(f"{m:12s} {mean:6.1f} ± {sd:5.1f}  (n={n})")
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
