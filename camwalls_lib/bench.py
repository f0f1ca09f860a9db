"""Time camwalls against ``grad-cam`` in one process, on the same model, layer and images.

    python -m camwalls_lib.bench            # the full-width masked VGG16, 224 px, conv5_3
    python -m camwalls_lib.bench --tiny     # seconds: width 1/16, 64 px (keeps this code working)

For GradCAM, ScoreCAM, AblationCAM and the paper's Table 1 (seven methods, ``leak_table``
against a loop over grad-cam's seven classes plus the same ``mu``) it runs both libraries on
the same images, alternating, on the CPU and on a GPU when there is one, and prints the median
time of each, their ratio, the peak memory each call adds and the largest difference between
the two libraries' normalised maps. ``grad-cam`` is a test-only dependency
(``pip install grad-cam``); it is imported here, never by the library.

Two of grad-cam's conventions differ from the paper's and are aligned for the comparison only:
its ScoreCAM upsamples the masks with ``align_corners=True`` (run here with ``False``, as
camwalls does; the time is the same), and its EigenCAM leaves the sign to the SVD (compared
here up to sign). Its GradCAM++ adds 1e-6 to a denominator, which shows as a difference.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import statistics
import threading
import time

import torch

from . import cams
from .cams.perturb import split_at
from .metrics import mu
from .metrics.leak import PAPER_TABLE1, leak_table
from .networks.models import masked_vgg16
from .walls import dead_zone

__all__ = ["main", "setup", "measure", "Peak"]

TABLE1 = list(PAPER_TABLE1)
GRAD_CAM = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
            "scorecam": "ScoreCAM", "ablationcam": "AblationCAM", "eigencam": "EigenCAM",
            "hirescam": "HiResCAM"}
SAME = 1e-4
"""Largest difference between normalised maps (in [0, 1]) that counts as the same map."""


def setup(tiny: bool, images: int, device: str, width: float = 1.0):
    """``(model, x [N, 3, S, S], target [N])``: a masked VGG16 (random weights, seed 0) whose
    last layer is scaled so that its logits spread like a trained network's (sd 5);
    ``tiny``: width 1/16, 64 px, 10 classes; else ``width`` at 224 px, 1000 classes."""
    torch.manual_seed(0)
    width, size, classes = (1 / 16, 64, 10) if tiny else (width, 224, 1000)
    model = masked_vgg16(num_classes=classes, width=width, input_size=size).eval().to(device)
    x = torch.rand(images, 3, size, size, device=device)
    with torch.no_grad():
        last = model.classifier[-1]
        scale = 5 / model(x).std().clamp_min(1e-12)
        last.weight.mul_(scale)
        last.bias.mul_(scale)
        target = model(x).argmax(1)
    return model, x, target


class Peak:
    """Peak memory a block adds, in MiB: CUDA's allocator statistics on a GPU; on a CPU the
    growth of the process's resident set, sampled every 10 ms, after freed heap memory is
    handed back (``tracemalloc`` does not see the memory torch allocates)."""

    def __init__(self, device: str):
        self.cuda, self.mib = device.startswith("cuda"), float("nan")

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            _trim()
            self.base = self.peak = _rss()
            self.done = threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        else:
            self.done.set()
            self.thread.join()
            self.mib = (max(self.peak, _rss()) - self.base) / 2**20


def _trim() -> None:
    """Hand freed heap memory back to the system (glibc), so that memory a block reuses from
    earlier calls counts as growth too."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):     # not glibc: the figure is a lower bound
        pass


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:          # not Linux: no memory figure
        return 0


def ours(method, model, x, target, batch_size):
    """camwalls' map, normalised, at feature resolution: ``[N, h, w]``."""
    options = {"batch_size": batch_size} if "batch_size" in cams.options_of(method) else {}
    return cams.normalize(cams.compute(method, model, x, target, **options)).cpu()


def theirs(method, model, x, target, batch_size):
    """grad-cam's map for the same layer, normalised, at feature resolution: ``[N, h, w]``."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cls = getattr(pytorch_grad_cam, GRAD_CAM[method])
    options = {"batch_size": batch_size} if method == "ablationcam" else {}
    with cls(model=model, target_layers=[model.cam_layer], **options) as cam:
        cam.batch_size = batch_size
        cam.get_target_width_height = lambda _x: None      # no resize: feature resolution
        with _half_pixel_upsampling() if method == "scorecam" else contextlib.nullcontext():
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
    return torch.from_numpy(out)


@contextlib.contextmanager
def _half_pixel_upsampling():
    """grad-cam's ScoreCAM builds ``torch.nn.UpsamplingBilinear2d`` (align_corners=True);
    for the duration, that name gives camwalls' ``align_corners=False`` instead."""
    original = torch.nn.UpsamplingBilinear2d
    torch.nn.UpsamplingBilinear2d = lambda size: torch.nn.Upsample(
        size=size, mode="bilinear", align_corners=False)
    try:
        yield
    finally:
        torch.nn.UpsamplingBilinear2d = original


def ours_table(model, x, target, batch_size, zone):
    table = leak_table(model, x, zone, methods=TABLE1, target=target, batch_size=batch_size,
                       progress=False, keep_maps=True)
    return {m: table.maps[m].cpu() for m in TABLE1}


def theirs_table(model, x, target, batch_size, zone):
    maps = {m: cams.normalize(cams.upsample(theirs(m, model, x, target, batch_size),
                                            x.shape[-2:])) for m in TABLE1}
    for m in TABLE1:                    # the leak itself, as leak_table computes it
        mu(maps[m], zone.cpu())
    return maps


def difference(method, a, b, model, x) -> float:
    """Largest difference of normalised maps; EigenCAM up to the SVD's sign."""
    diff = float((a - b).abs().max())
    if method == "eigencam" and diff > SAME:
        cap = cams.capture(model, x, with_grad=False)
        flipped = cams.combine(-cams.eigencam_weights(cap), cams.centred(cap.B))
        flipped = cams.normalize(flipped.cpu())
        if flipped.shape[-2:] != a.shape[-2:]:
            flipped = cams.normalize(cams.upsample(flipped, a.shape[-2:]))
        diff = min(diff, float((flipped - b).abs().max()))
    return diff


def measure(runs, repeats, device):
    """``[(median seconds, median peak MiB, last result)]`` of each ``run()`` in ``runs``,
    taking turns, first one first then the other (a passing load hits both alike)."""
    times, peaks, outs = [[[] for _ in runs] for _ in range(3)]
    for r in range(repeats):
        for i in (range(len(runs)) if r % 2 == 0 else reversed(range(len(runs)))):
            with Peak(device) as peak:
                start = time.perf_counter()
                outs[i] = runs[i]()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                times[i].append(time.perf_counter() - start)
            peaks[i].append(peak.mib)
    return [(statistics.median(t), statistics.median(p), o) for t, p, o in zip(times, peaks, outs)]


def bench(device, tiny, images, batch_size, repeats, cases, width=1.0):
    model, x, target = setup(tiny, images, device, width)
    zone = dead_zone(model, tuple(x.shape[1:])).to(device)
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else \
        f"CPU, {torch.get_num_threads()} torch threads"
    print(f"\n### {name}: masked VGG16 width {1 / 16 if tiny else width:g}, {x.shape[-1]} px, "
          f"{len(x)} image(s), layer conv5_3 ({model.cam_layer}), batch_size {batch_size}, "
          f"median of {repeats}")
    print(f"AblationCAM path: {split_at(model, model.cam_layer).path}\n")
    print("| method | camwalls s | grad-cam s | ratio | camwalls MiB | grad-cam MiB | "
          "max map difference |")
    print("|---|---|---|---|---|---|---|")
    ours("gradcam", model, x, target, batch_size), theirs("gradcam", model, x, target, batch_size)
    worst = 0.0
    for case in cases:
        args = (model, x, target, batch_size) + ((zone,) if case == "leak_table" else ())
        ours_run, theirs_run = ((ours_table, theirs_table) if case == "leak_table" else
                                (lambda *a: ours(case, *a), lambda *a: theirs(case, *a)))
        (t_ours, m_ours, a), (t_theirs, m_theirs, b) = measure(
            [lambda: ours_run(*args), lambda: theirs_run(*args)], repeats, device)
        if case == "leak_table":
            diffs = {m: difference(m, a[m], b[m], model, x) for m in TABLE1}
            shown = ", ".join(f"{cams.LABELS[m]} {d:.0e}" for m, d in diffs.items())
            diffs.pop("gradcam++")            # grad-cam's epsilon: reported, not checked
            diff = max(diffs.values())
        else:
            diff = difference(case, a, b, model, x)
            shown = f"{diff:.1e}"
        worst = max(worst, diff)
        label = "leak_table (7 methods)" if case == "leak_table" else cams.LABELS[case]
        print(f"| {label} | {t_ours:.3f} | {t_theirs:.3f} | {t_ours / t_theirs:.3f} | "
              f"{m_ours:.0f} | {m_theirs:.0f} | {shown} |", flush=True)
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m camwalls_lib.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="width 1/16, 64 px: seconds")
    parser.add_argument("--width", type=float, default=1.0,
                        help="channel width of the masked VGG16 (1: the paper's)")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="forward passes per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all",
                        help="all: the CPU, and the GPU when there is one")
    parser.add_argument("--cases", default="gradcam,scorecam,ablationcam,leak_table",
                        help="comma-separated subset of the default")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    unknown = set(cases) - {"gradcam", "scorecam", "ablationcam", "leak_table"}
    if unknown or not min(args.images, args.batch_size, args.repeats) > 0 \
            or not 0 < args.width < float("inf"):
        parser.error(f"unknown case(s) {sorted(unknown)}" if unknown else
                     "--width (finite), --images, --batch-size and --repeats must be positive")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is available here; use --device cpu")
    devices = ["cpu"] if args.device == "cpu" else ["cuda"] if args.device == "cuda" else \
        ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    try:
        import pytorch_grad_cam  # noqa: F401
    except ImportError:
        parser.error("the benchmark compares with grad-cam: pip install grad-cam")

    print(f"torch {torch.__version__}; time ratio = camwalls / grad-cam (below 1: camwalls is "
          f"faster); maps compared after min-max normalisation (same if <= {SAME:g})")
    worst = max(bench(d, args.tiny, args.images, args.batch_size, args.repeats, cases,
                      args.width) for d in devices)
    print(f"\nmaps: {'the same' if worst <= SAME else 'DIFFERENT'} (largest difference "
          f"{worst:.1e}, GradCAM++ not counted)")
    return 0 if worst <= SAME else 1


if __name__ == "__main__":
    raise SystemExit(main())
