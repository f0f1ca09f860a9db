"""The Fashion-MNIST masked VGG16: data, twin, STACK-MIX of Eq. (6), shipped weights and table,
the GPU code path run on the CPU at small size, and the authors' Drive assets (faked)."""

import io
import json
import sys
import types
import zipfile
from dataclasses import replace

import pytest
import torch
import torch.nn as nn
from PIL import Image

from camwalls_lib import validate
from camwalls_lib.errors import BadType, BadValue
from camwalls_lib.data import fashion, paper_assets
from camwalls_lib.experiments import authors_table1, fashion_table1, fashion_vgg
from camwalls_lib.networks import vgg
from camwalls_lib.networks.models import masked_vgg16
from camwalls_lib.training import TensorLoader, fit
from camwalls_lib.walls import WalledLinear, dead_rows, dead_zone, wall_is_exact

DATA = fashion_vgg.ASSETS


@pytest.fixture(scope="module")
def test_items():
    return fashion.load_fashion("test")


def test_loader_reads_the_official_files(test_items):
    assert test_items.x.shape == (10_000, 28, 28) and test_items.x.dtype == torch.uint8
    assert sorted(test_items.y.unique().tolist()) == list(range(10))


def test_explicit_missing_root_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="root="):
        fashion.load_fashion("test", root=tmp_path / "nowhere")
    monkeypatch.setattr(fashion, "fashion_dirs", lambda root: [tmp_path])
    with pytest.raises(FileNotFoundError, match="CAMWALLS_DATA"):
        fashion.load_fashion("test", root=tmp_path, download=False)


def test_vgg_input_is_grey_replicated_and_normalised(test_items):
    x = fashion.to_vgg_input(test_items.x[:4])
    assert x.shape == (4, 3, 224, 224)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    up = fashion.upsample(test_items.x[:4])
    assert 0 <= up.min() and up.max() <= 1
    assert torch.allclose(fashion.normalize(up), x)
    with pytest.raises(ValueError, match="grey items"):
        fashion.to_vgg_input(torch.zeros(2, 3, 28, 28))


def test_twin_differs_only_by_the_wall():
    walled, plain = fashion_vgg.build(True), fashion_vgg.build(False)
    assert isinstance(walled.classifier[1], WalledLinear)
    assert type(plain.classifier[1]) is nn.Linear
    assert walled.state_dict().keys() == plain.state_dict().keys()
    assert wall_is_exact(walled)
    assert dead_rows(dead_zone(walled, (3, 224, 224))) == (170, 223)
    assert not dead_zone(plain, (3, 224, 224)).any()
    # the rescaled dense initialisation keeps the logits' scale (torchvision's shrinks it)
    x = torch.randn(4, 3, 224, 224)
    with torch.no_grad():
        assert walled.eval()(x).std() > 5 * masked_vgg16(num_classes=10, width=1 / 16).eval()(x).std()


def test_stackmix_is_eq6_with_same_class_pairs(test_items):
    s = fashion_table1.same_class_stackmix(test_items, 16, seed=3)
    up, low = (torch.tensor([int(n.split("|")[k]) for n in s.names]) for k in (0, 1))
    assert torch.equal(test_items.y[up], test_items.y[low]) and (up != low).all()
    assert torch.equal(s.labels, test_items.y[up])
    assert len(set(up.tolist())) == 16
    top, bottom = fashion.upsample(test_items.x[up]), fashion.upsample(test_items.x[low])
    assert torch.equal(s.images[:, :, :170], top[:, :, :170])
    assert torch.equal(s.images[:, :, 170:], bottom[:, :, 170:])
    assert fashion_table1.same_class_stackmix(test_items, 16, seed=3).names == s.names


def test_walled_logits_ignore_the_lower_item_and_the_twins_do_not(test_items):
    s = fashion_table1.same_class_stackmix(test_items, 4)
    assert fashion_table1.same_logits(fashion_vgg.build(True), s, test_items)
    assert not fashion_table1.same_logits(fashion_vgg.build(False), s, test_items)


def test_uniform_mu():
    assert fashion_table1.uniform_mu() == pytest.approx((54 / 224) ** 0.5)


def test_gpu_path_runs_on_the_cpu_at_small_size(test_items):
    """AMP (bf16 autocast, as on a GPU) and channels-last through training.fit, at 64 x 64."""
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=10, width=1 / 16, input_size=64)
    loader = TensorLoader(test_items.x[:16], test_items.y[:16], 8,
                          transform=lambda x, y: (fashion.to_vgg_input(x, 64), y))
    history = fit(model, loader, 1, torch.optim.SGD(model.parameters(), 0.01, momentum=0.9),
                  device="cpu", amp=True, channels_last=True, progress=False)
    assert len(history) == 1 and torch.isfinite(torch.tensor(history.train_loss)).all()
    assert wall_is_exact(model)


# ----------------------------------------------------------------------------- shipped results

def test_shipped_weights_load_and_match_the_record(test_items):
    record = json.loads((DATA / "record.json").read_text())
    walled, plain = fashion_vgg.load_trained(True), fashion_vgg.load_trained(False)
    assert wall_is_exact(walled)
    assert dead_rows(dead_zone(walled, (3, 224, 224))) == (170, 223)
    assert not dead_zone(plain, (3, 224, 224)).any()
    x = fashion.to_vgg_input(test_items.x[:256])
    with torch.no_grad():
        for net in (walled, plain):   # far above chance (0.1): these are trained weights
            assert (net(x).argmax(1) == test_items.y[:256]).float().mean() > 0.3
    assert record["walled"]["test_top1"] >= 0.88 and record["unwalled"]["test_top1"] > 0.3
    assert record["walled"]["test_items"] == 10_000
    assert record["walled"]["recipe"] == record["unwalled"]["recipe"]


def test_a_recipe_names_an_unknown_optimizer_or_schedule_at_once():
    for field, bad in (("optimizer", "adam"), ("schedule", "cosine"), ("optimizer", None)):
        with pytest.raises((BadValue, BadType), match=rf"FashionRecipe {field}.*one of"):
            replace(fashion_vgg.RECIPE, **{field: bad})


@pytest.mark.parametrize("optimizer, schedule", [("adamw", "onecycle"), ("sgd", "step")])
def test_the_recipe_builds_its_optimizer_and_schedule(optimizer, schedule):
    """One-cycle: warms up to the peak ``lr`` at 30 % of the steps and ends near 0; step:
    StepLR once per epoch from ``lr``."""
    recipe = replace(fashion_vgg.RECIPE, optimizer=optimizer, schedule=schedule, epochs=2,
                     lr=0.01)
    model = torch.nn.Linear(2, 2)
    opt, sched = fashion_vgg._optimizer(model, recipe, steps_per_epoch=10)
    assert type(opt).__name__ == {"adamw": "AdamW", "sgd": "SGD"}[optimizer]
    rates = []
    for _ in range(20 if schedule == "onecycle" else 2):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    if schedule == "onecycle":
        assert max(rates) == pytest.approx(0.01, rel=0.05) and rates.index(max(rates)) == 5   # 30 % of 20 steps, from 0
        assert rates[-1] < 0.001 and rates[0] < 0.001
    else:
        assert rates == [0.01, 0.01]


def test_damaged_weights_are_refused(tmp_path):
    for name in ("walled.pt", "record.json"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    blob = torch.load(tmp_path / "walled.pt", weights_only=True)
    blob["model"]["classifier.7.bias"] += 1
    torch.save(blob, tmp_path / "walled.pt")
    with pytest.raises(validate.CorruptFile, match="damaged"):
        fashion_vgg.load_trained(True, tmp_path)


def test_weights_without_their_record_name_the_record_and_the_fix(tmp_path):
    (tmp_path / "walled.pt").write_bytes((DATA / "walled.pt").read_bytes())
    with pytest.raises(FileNotFoundError, match=r"No record .*record\.json.*re-create it"):
        fashion_vgg.load_trained(True, tmp_path)


def test_table1_command_prints_a_refusal_in_one_line(tmp_path, capsys):
    """The unwalled weights saved as walled.pt: the loader's refusal reaches the reader as a
    usage error (status 2, one line), not a traceback; nothing is written."""
    for name in ("unwalled.pt", "record.json"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    (tmp_path / "unwalled.pt").rename(tmp_path / "walled.pt")
    with pytest.raises(SystemExit) as exit_:
        fashion_table1.main(["--weights", str(tmp_path), "--n", "1", "--n-perturbation", "1",
                             "--out", str(tmp_path / "t1")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err and "walled.pt" in err
    assert not (tmp_path / "t1").exists()


def test_shipped_table_is_consistent():
    tables = fashion_table1.load_table1(DATA)
    rows = fashion_table1.summary(tables)
    assert set(rows) == set(fashion_table1.GRADIENT_METHODS + fashion_table1.PERTURBATION_METHODS)
    assert rows["hirescam"][:2] == (0.0, 0.0) and rows["layercam"][:2] == (0.0, 0.0)
    assert rows["gradcam"][2] >= 500
    assert all(0 <= mean <= 100 for mean, _, _ in rows.values())


def test_the_shipped_table_is_what_the_code_computes_on_the_shipped_weights(test_items):
    """The first 8 composites, recomputed for the single-pass methods, give the shipped
    values (chapter 11 reads the table without recomputing it)."""
    from camwalls_lib.metrics.leak import leak_table
    model = fashion_vgg.load_trained(True)
    stack = fashion_table1.same_class_stackmix(test_items, 512)
    shipped = fashion_table1.load_table1(DATA)["gradient"]
    live = leak_table(model, fashion.normalize(stack.images[:8]), dead_zone(model, (3, 224, 224)),
                      list(fashion_table1.GRADIENT_METHODS), progress=False)
    for m in fashion_table1.GRADIENT_METHODS:
        assert torch.allclose(live.mu[m], shipped.mu[m][:8], atol=1e-5), m


def test_the_earlier_network_loads_and_damaged_copies_are_named(tmp_path):
    earlier = fashion_table1.load_earlier()
    assert earlier["test_top1"]["walled"] < 0.8 and earlier["summary"]["hirescam"][:2] == (0, 0)
    good = json.loads((DATA / "earlier.json").read_text())
    damaged = {"missing": None, "not-json": "{", "no-method": {**good, "summary": {}},
               "mu-out-of-range": {**good, "summary": {**good["summary"],
                                                       "gradcam": [140, 1, 512]}},
               "accuracy-out-of-range": {**good, "test_top1": {"walled": 75, "unwalled": 0.7}}}
    for name, content in damaged.items():
        path = tmp_path / f"{name}.json"
        if content is not None:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(validate.CorruptFile, match=rf"{name}\.json.*restore it"):
            fashion_table1.load_earlier(path)


def test_chapter_11_bar_chart_alt_text_states_the_shipped_range():
    """Alt text cannot be glued, so Fig 11.2's alt states the μ range of the shipped table in
    words: after a retraining this fails until the alt text says the new range."""
    import re
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parent.parent / "book" / "11_table1.ipynb").read_text())
    alts = [c["metadata"]["mystnb"]["image"]["alt"] for c in nb["cells"]
            if c["metadata"].get("mystnb", {}).get("figure", {}).get("name") == "fig-fashion-table1"]
    assert len(alts) == 1
    low, high = (int(v) for v in re.search(r"μ × 100 between (\d+) and (\d+)", alts[0]).groups())
    rows = fashion_table1.summary(fashion_table1.load_table1(DATA))
    leaking = [mean for mean, _, _ in rows.values() if mean > 0]
    assert (low, high) == (round(min(leaking)), round(max(leaking))), (
        f"Fig 11.2's alt text says μ × 100 between {low} and {high}; the shipped table gives "
        f"{min(leaking):.0f} to {max(leaking):.0f}: update the alt text in book/11_table1.ipynb")
    assert f"a constant map: {100 * fashion_table1.uniform_mu():.0f}" in alts[0]


# ----------------------------------------------------------------------------- authors' assets

def _fake_drive(folder, layout="zip"):
    """What gdown.download_folder writes: the two checkpoints and datasets.zip."""
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=1000, width=1 / 64, hidden=8)
    vgg.save_paper_vgg(model, folder / "params_vgg16_masked.pt")
    vgg.save_paper_vgg(model, folder / "params_vgg16_baseline.pt")
    buffer = io.BytesIO()
    Image.new("RGB", (224, 224)).save(buffer, format="PNG")
    data = buffer.getvalue()
    if layout == "zip":
        with zipfile.ZipFile(folder / "datasets.zip", "w") as z:
            for sub in ("stackmix", "stackgen"):
                z.writestr(f"{sub}/0.png", data)
    else:
        for sub in ("StackMix", "STACKGEN"):
            (folder / "data" / sub).mkdir(parents=True)
            (folder / "data" / sub / "0.png").write_bytes(data)


@pytest.mark.parametrize("layout", ["zip", "folders"])
def test_fetch_handles_the_drive_layout(tmp_path, monkeypatch, layout):
    calls = []

    def download_folder(id, output, quiet):
        calls.append(id)
        _fake_drive(tmp_path / "dest", layout)

    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download_folder=download_folder))
    monkeypatch.setattr(paper_assets.socket, "create_connection",
                        lambda *a, **k: types.SimpleNamespace(close=lambda: None))
    (tmp_path / "dest").mkdir()
    got = paper_assets.fetch_paper_assets(tmp_path / "dest", quiet=True)
    assert calls == [paper_assets.DRIVE_FOLDER_ID] and got.complete
    assert got.masked.name == "params_vgg16_masked.pt"
    assert got.stackmix.name.lower() == "stackmix" and got.stackgen.name.lower() == "stackgen"
    assert wall_is_exact(vgg.load_paper_vgg(got.masked))
    again = paper_assets.fetch_paper_assets(tmp_path / "dest")   # present: no second download
    assert again == got and len(calls) == 1
    if layout == "zip":
        tables = authors_table1.paper_table1(got, ["gradcam", "hirescam"], "cpu", progress=False)
        assert set(tables) == {"STACK-MIX", "STACK-GEN"}
        assert float(tables["STACK-MIX"].mu["hirescam"].max()) == 0.0


def test_fetch_offline_fails_at_once_and_incomplete_folders_are_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download_folder=None))

    def refuse(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(paper_assets.socket, "create_connection", refuse)
    with pytest.raises(ConnectionError, match="not reachable"):
        paper_assets.fetch_paper_assets(tmp_path / "x")
    monkeypatch.setattr(paper_assets.socket, "create_connection",
                        lambda *a, **k: types.SimpleNamespace(close=lambda: None))
    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(
        download_folder=lambda id, output, quiet: None))
    with pytest.raises(FileNotFoundError, match="masked, baseline, stackmix, stackgen"):
        paper_assets.fetch_paper_assets(tmp_path / "y")


def test_fetch_without_gdown_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gdown", None)
    with pytest.raises(ImportError, match=r"camwalls\[paper\]"):
        paper_assets.fetch_paper_assets(tmp_path)


# ----------------------------------------------------------------------------- the recipe learns

@pytest.mark.slow
def test_short_recipe_still_learns(tmp_path):
    """The shipped recipe, shortened: 3,200 items (100 steps), one epoch; the loss falls and
    the accuracy on 256 test items is above chance (0.1)."""
    recipe = replace(fashion_vgg.RECIPE, train_items=3200, test_items=256, val_items=64,
                     epochs=1, batch_size=32)
    record = fashion_vgg.train_pair(tmp_path, recipe, which=("walled",))["walled"]
    losses = record["step_losses"]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.1
    assert record["test_top1"] > 0.2
    assert wall_is_exact(fashion_vgg.load_trained(True, tmp_path))
    assert "walled: test top-1" in (tmp_path / "train_log.txt").read_text()
