"""The masked [VGG]: its dead zone, the authors' checkpoint layout, training recipes on train.fit."""

import urllib.error

import pytest
import torch
import torch.nn as nn

from camwalls_lib.book import exercises
from camwalls_lib.networks import vgg as checkpoints
from camwalls_lib.experiments import imagenet_vgg as vgg
from camwalls_lib.networks.models import masked_vgg16
from camwalls_lib.training import fit
from camwalls_lib.walls import dead_rows, dead_zone, wall_is_exact


# ----------------------------------------------------------------------------- dead zone

def test_dead_zone_of_the_paper_vgg_is_rows_170_to_223():
    # The dead zone depends on the features and the wall only (not on dense weights), so the
    # full-size features with a small dense width give the full-size model's zone.
    model = masked_vgg16(hidden=8)
    assert model.classifier[1].feature_shape == (256, 14, 14)
    zone = dead_zone(model, (3, 224, 224))
    assert dead_rows(zone) == (170, 223)
    assert bool(zone[170:].all()) and not bool(zone[:170].any())   # whole rows, nothing else
    assert zone.sum() == 54 * 224


@pytest.mark.slow
def test_dead_zone_of_the_full_size_model_with_its_4096_wide_head():
    assert dead_rows(dead_zone(masked_vgg16(), (3, 224, 224))) == (170, 223)


# ----------------------------------------------------------------------------- checkpoints

def authors_sequential(div: int = 16, num_classes: int = 7, rows_walled: int = 9) -> nn.Sequential:
    """The authors' model, built the way their vgg16_training.py builds it (VGG16 features
    without the last max-pool, conv5_3 -> 256, Flatten, classifier with Linear(256*14*14, .)),
    with every width divided by ``div``; the wall is applied by multiplying the weight."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 256]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v // div, 3, padding=1), nn.ReLU(inplace=True)]
            c = v // div
    d = 4096 // div
    classifier = nn.Sequential(nn.Linear(c * 14 * 14, d), nn.ReLU(True), nn.Dropout(),
                               nn.Linear(d, d), nn.ReLU(True), nn.Dropout(), nn.Linear(d, num_classes))
    model = nn.Sequential(*layers, nn.Flatten(start_dim=1), classifier)
    with torch.no_grad():
        m = torch.ones(14, 14)
        m[-rows_walled:, :] = 0
        model[-1][0].weight *= m.expand(c, 14, 14).reshape(-1)
    return model.eval()


def test_authors_layout_maps_onto_masked_vgg_and_computes_the_same_function(tmp_path):
    torch.manual_seed(0)
    theirs = authors_sequential()
    keys = list(theirs.state_dict())
    assert keys[0] == "0.weight" and "28.weight" in keys and keys[-1] == "31.6.bias"
    torch.save(theirs.state_dict(), tmp_path / "params.pt")
    ours = checkpoints.load_paper_vgg(tmp_path / "params.pt")
    assert ours.classifier[1].feature_shape == (16, 14, 14)
    assert ours.classifier[-1].out_features == 7 and wall_is_exact(ours)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert dead_rows(dead_zone(ours, (3, 224, 224))) == (170, 223)


def test_key_mapping_is_a_bijection_with_the_classifier_offset():
    theirs = authors_sequential().state_dict()
    mapped = checkpoints.paper_to_library(theirs)
    assert mapped["classifier.1.weight"] is theirs["31.0.weight"]
    assert mapped["classifier.7.bias"] is theirs["31.6.bias"]
    assert mapped["features.28.weight"] is theirs["28.weight"]
    assert checkpoints.library_to_paper(mapped).keys() == theirs.keys()


def test_save_then_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = masked_vgg16(num_classes=3, width=1 / 16).eval()
    checkpoints.save_paper_vgg(model, tmp_path / "m.pt")
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    assert set(saved) == set(authors_sequential(num_classes=3).state_dict())
    again = checkpoints.load_paper_vgg(tmp_path / "m.pt")
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    tiny = masked_vgg16(num_classes=5, width=1 / 16, input_size=64, hidden=64)   # other shapes
    checkpoints.save_paper_vgg(tiny, tmp_path / "tiny.pt")
    again = checkpoints.load_paper_vgg(tmp_path / "tiny.pt")
    assert again.classifier[1].feature_shape == (16, 4, 4) and again.classifier[1].out_features == 4


def test_refuses_shapes_that_do_not_match(tmp_path):
    state = authors_sequential().state_dict()
    state["31.3.weight"] = torch.zeros(100, 256)              # second dense layer: wrong shape
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not match"):
        checkpoints.load_paper_vgg(tmp_path / "bad.pt")


def test_refuses_torchvision_layout_and_missing_files(tmp_path):
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "tv.pt")
    with pytest.raises(ValueError, match="authors' layout"):
        checkpoints.load_paper_vgg(tmp_path / "tv.pt")
    with pytest.raises(FileNotFoundError, match="params_vgg16_masked"):
        checkpoints.load_paper_vgg(tmp_path / "nope.pt")


def test_refuses_an_unmasked_checkpoint_unless_forced(tmp_path):
    torch.manual_seed(2)
    theirs = authors_sequential()
    with torch.no_grad():
        theirs[-1][0].weight.normal_()                          # baseline: nothing walled
    torch.save(theirs.state_dict(), tmp_path / "baseline.pt")
    with pytest.raises(ValueError, match="unmasked"):
        checkpoints.load_paper_vgg(tmp_path / "baseline.pt")
    forced = checkpoints.load_paper_vgg(tmp_path / "baseline.pt", force_wall=True)
    assert wall_is_exact(forced) and (forced.classifier[1].weight[:, :5].abs() > 0).all()


@pytest.mark.slow
def test_a_checkpoint_built_from_torchvision_exactly_as_the_authors_do(tmp_path):
    import torchvision

    m = torchvision.models.vgg16(weights=None)
    seq = nn.Sequential(*list(m.features.children())[:30], nn.Flatten(start_dim=1), m.classifier)
    seq[28] = nn.Conv2d(512, 256, kernel_size=3, padding=1)
    seq[-1][0] = nn.Linear(256 * 14 * 14, 4096)
    with torch.no_grad():
        mask = torch.ones(14, 14)
        mask[-9:, :] = 0
        seq[-1][0].weight *= mask.expand(256, 14, 14).reshape(-1)
    torch.save(seq.state_dict(), tmp_path / "params_vgg16_masked.pt")
    ours = checkpoints.load_paper_vgg(tmp_path / "params_vgg16_masked.pt")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), seq.eval()(x), rtol=0, atol=0)


# ----------------------------------------------------------------------------- training

def tiny_vgg():
    return masked_vgg16(num_classes=5, width=1 / 16, input_size=32, hidden=64)


def tiny_loader(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = torch.utils.data.TensorDataset(torch.randn(n, 3, 32, 32, generator=g),
                                          torch.randint(0, 5, (n,), generator=g))
    return torch.utils.data.DataLoader(data, batch_size=8, shuffle=True)


def test_wall_stays_exactly_zero_through_bf16_autocast_sgd_steps():
    torch.manual_seed(0)
    model = tiny_vgg()
    first = model.classifier[1]
    before = first.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-2)
    fit(model, tiny_loader(), 2, opt, amp=True, device="cpu", progress=False)   # bf16 on CPU
    walled = first.walled()
    assert walled.any() and torch.equal(first.weight[:, walled], torch.zeros_like(first.weight[:, walled]))
    assert not torch.equal(first.weight[:, ~walled], before[:, ~walled])    # it did train
    assert wall_is_exact(model)


def test_interrupted_and_resumed_run_ends_in_the_same_weights(tmp_path):
    def run(ckpt, interrupt_after=None, resume=False):
        torch.manual_seed(0)
        model = tiny_vgg()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)

        def stop(epoch, _history):
            if epoch == interrupt_after:
                raise KeyboardInterrupt
        fit(model, tiny_loader(), 3, opt, sched, device="cpu", amp=True, checkpoint=ckpt,
            resume=resume, progress=False, callback=stop)
        return model

    straight = run(tmp_path / "a.pt")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b.pt", interrupt_after=1)
    resumed = run(tmp_path / "b.pt", resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert wall_is_exact(resumed)


def test_cpu_smoke_recipe_trains_resumes_and_exports(tmp_path):
    # The recipe at a 64 x 64 input (the book runs it at 224): same code path, 12x cheaper.
    data = vgg.make_synthetic_folder(tmp_path / "data", num_classes=5, per_class=4,
                                     val_per_class=1, size=64)
    small = dict(progress=False, max_steps_per_epoch=2, input_size=64)
    straight, h = vgg.train("cpu-smoke", data, tmp_path / "a", **small)
    assert len(h) == 2 and h.val_top5[-1] is not None and all(s > 0 for s in h.images_per_s)
    vgg.train("cpu-smoke", data, tmp_path / "b", epochs=1, **small)
    resumed, h2 = vgg.train("cpu-smoke", data, tmp_path / "b", resume=True, **small)
    assert h2.train_loss == h.train_loss
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    exported = checkpoints.load_paper_vgg(tmp_path / "a" / "masked_vgg.pt")
    assert exported.classifier[-1].out_features == 5
    assert exported.classifier[1].feature_shape == (16, 4, 4) and wall_is_exact(exported)


def test_imagenet_folder_classes_follow_the_authors_integer_names(tmp_path):
    data = vgg.make_synthetic_folder(tmp_path / "d", num_classes=12, per_class=1, val_per_class=1)
    folder = vgg.image_folder(data / "train", train=False)
    assert folder.class_to_idx["10"] == 10 and folder.class_to_idx["2"] == 2
    assert all(label == int(path.split("/")[-2]) for path, label in folder.samples)


def test_recipes_follow_the_paper():
    p = vgg.RECIPES["paper"]
    assert (p.lr, p.momentum, p.weight_decay, p.step_size, p.gamma, p.epochs, p.batch_size) == \
        (0.03, 0.9, 1e-4, 30, 0.1, 90, 256)
    assert vgg.RECIPES["colab"].pretrained and vgg.RECIPES["cpu-smoke"].input_size == 224


def test_colab_recipe_says_clearly_when_offline(monkeypatch):
    import torchvision

    def offline(**_):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torchvision.models, "vgg16", offline)
    with pytest.raises(RuntimeError, match="ImageNet VGG16 weights"):
        vgg.build_model(vgg.RECIPES["colab"], num_classes=10)


def test_command_line_refuses_a_missing_dataset(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        vgg.main(["train", "--data", str(tmp_path / "nowhere"), "--recipe", "cpu-smoke",
                  "--out", str(tmp_path / "out")])
    assert e.value.code == 2 and "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:          # found while loading: one line, status 2
        vgg.main(["train", "--data", str(tmp_path / "empty"), "--recipe", "cpu-smoke",
                  "--out", str(tmp_path / "out")])
    assert e.value.code == 2 and "no train/ sub-folder" in capsys.readouterr().err


def test_exercise_checks_accept_the_right_answers_only(capsys):
    assert exercises.check_vgg_dead_zone(9, (170, 223))
    assert not exercises.check_vgg_dead_zone(9, (171, 224))
    assert exercises.check_vgg_dead_zone(5, None)           # a 5-row wall hides no whole row
    assert not exercises.check_vgg_dead_zone(5, (202, 223))
    assert exercises.check_vgg_dead_zone(7, (202, 223))
    assert exercises.check_uniform_mu(0.491) and exercises.check_uniform_mu(49.1)
    assert not exercises.check_uniform_mu(54 / 224) and not exercises.check_uniform_mu(24.1)
    assert "Correct" in capsys.readouterr().out
