"""The paper's Table 1 on the authors' own masked VGG16 and their STACK-MIX / STACK-GEN images
(:func:`camwalls_lib.data.paper_assets.fetch_paper_assets` brings them where the network
exists): chapter 11's last table, computed only where those assets are present."""

from __future__ import annotations

import torch

from ..data.paper_assets import PaperAssets
from ..data.stackmix import load_stack_folder, normalize_imagenet
from ..metrics.leak import leak_table
from ..networks.vgg import load_paper_vgg
from ..walls import dead_zone

__all__ = ["paper_table1"]


def paper_table1(assets: PaperAssets, methods=None, device=None, progress: bool = True,
                 batch_size: int = 32) -> dict:
    """The paper's Table 1 on the authors' own network and images: ``{"STACK-MIX": LeakTable,
    "STACK-GEN": LeakTable}`` (``mu`` per image, each map explaining the predicted class).
    ``methods``: default every method of :func:`camwalls_lib.metrics.leak.leak_table`."""
    if not assets.complete:
        raise FileNotFoundError(f"Incomplete assets {assets}: run fetch_paper_assets() first.")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_paper_vgg(assets.masked).to(device).eval()
    zone = dead_zone(model, (3, 224, 224))
    tables = {}
    for name, folder, kind in (("STACK-MIX", assets.stackmix, "stackmix"),
                               ("STACK-GEN", assets.stackgen, "stackgen")):
        x = normalize_imagenet(load_stack_folder(folder, kind).images).to(device)
        tables[name] = leak_table(model, x, zone, methods, batch_size=batch_size,
                                  progress=progress)
    return tables
