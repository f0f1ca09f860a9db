"""Copy the models a book build trained from its cache folder into ``camwalls_lib/shipped``.

    CAMWALLS_CACHE=.ci-cache jupyter-book build .       # a build from an empty cache trains them
    python tools/ship_models.py .ci-cache               # then ship what it wrote

Only the trained models (``mnist/``, ``vit/``, ``explorer/``) are copied, without optimiser,
scheduler and random-number states (a finished model needs none of them), each checked against
the checksum stored with its weights. The names keep their configuration hash, so a shipped
model is found only where training would give the same bits
(``camwalls_lib.helpers.cached_file``).
"""

import sys
from pathlib import Path

import torch

from camwalls_lib import helpers, validate

KINDS = ("mnist", "vit", "explorer")
DROP = ("optimizer", "scheduler", "scaler", "rng")


def ship(cache: Path, out: Path = helpers.SHIPPED) -> list[Path]:
    """Copy every trained model under ``cache/<kind>/`` to ``out/<kind>/``: the paths written.
    Every model is read and checked first; a damaged one stops the tool before it writes
    anything (each file is then written atomically)."""
    ready = {}
    for path in sorted(p for kind in KINDS for p in (cache / kind).glob("*.pt")):
        blob = validate.load_tensors(path, "cached model", "rebuild the book to retrain it")
        weights = "model" if "model" in blob else "head"
        if f"{weights}_sha256" not in blob:
            print(f"skipped {path.name}: an older format, without a checksum")
            continue
        validate.unsealed(blob, path, "cached model", "rebuild the book to retrain it", weights)
        if "accuracy" not in blob:
            print(f"skipped {path.name}: training did not finish")
            continue
        ready[out / path.relative_to(cache)] = {k: v for k, v in blob.items() if k not in DROP}
    for target, blob in ready.items():
        validate.atomic_save(blob, target)
        print(f"{target.relative_to(out)}: accuracy {100 * blob['accuracy']:.2f}%")
    return list(ready)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python tools/ship_models.py CACHE_FOLDER (e.g. .ci-cache)")
    if not ship(Path(sys.argv[1])):
        sys.exit(f"no trained model under {sys.argv[1]}/{{{','.join(KINDS)}}}")
