"""Bad inputs across the public API: each gets an exception of the right type whose message
names the problem -- never a raw Python/torch error and never a silent wrong answer.

The first table holds one case per bad input (type AND message checked); the tests after it
pin down the silent wrong results found in the careless-user probe, each now a clear error or
the right answer.
"""

import json
import re

import numpy as np
import pytest
import torch

import edition  # tools/edition.py (tests/conftest.py puts tools/ on sys.path)
from camwalls_lib import cams, helpers, metrics, training as train, validate
from camwalls_lib.data import mnist as data, photos
from camwalls_lib.networks import efficientnet
from camwalls_lib.theory import theorem3
from camwalls_lib.experiments import mnist_walls as mnist
from camwalls_lib.networks.efficientnet import Normalize
from camwalls_lib.metrics.leak import LeakTable, leak_table
from camwalls_lib.networks.models import ToyCNN, masked_vgg16
from camwalls_lib.networks.vgg import load_paper_vgg
from camwalls_lib.walls import Wall, dead_zone

torch.manual_seed(0)
WALLED = ToyCNN(V=4, wall=Wall.bottom(4), bias=True).eval()
OPEN = ToyCNN(V=4, wall=None, bias=True).eval()
X = torch.rand(2, 1, 28, 28)
ZONE = dead_zone(WALLED, (1, 28, 28))
MAPS = torch.rand(2, 28, 28)


def with_pixel(value, index=1):
    x = X.clone()
    x[index, 0, 3, 4] = value
    return x


def nan_logits_model():
    model = ToyCNN(V=4, wall=Wall.bottom(4), bias=True).eval()
    with torch.no_grad():
        model.classifier[1].bias[3] = float("nan")
    return model


def write(tmp_path, content: bytes, name="f.pt"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def saved_checkpoint(tmp_path, model=WALLED):
    return train.save_checkpoint(tmp_path / "ckpt.pt", model)


def fit(x, epochs=1, **kw):
    model = ToyCNN(V=2, wall=Wall.bottom(4), bias=True)
    loader = train.TensorLoader(x, torch.zeros(len(x), dtype=torch.long), 4)
    return train.fit(model, loader, epochs, torch.optim.SGD(model.parameters(), lr=0.1),
                     device="cpu", progress=False, **kw)


def resume_with_fewer_epochs(tmp_path):
    fit(X, epochs=2, checkpoint=tmp_path / "c.pt")
    fit(X, epochs=1, checkpoint=tmp_path / "c.pt", resume=True)


def truncated_checkpoint(tmp_path):
    path = saved_checkpoint(tmp_path)
    content = path.read_bytes()
    return write(tmp_path, content[: len(content) // 2], "half.pt")


def tampered_checkpoint(tmp_path):
    ckpt = torch.load(saved_checkpoint(tmp_path), weights_only=True)
    ckpt["model"]["classifier.1.bias"][0] += 1
    torch.save(ckpt, tmp_path / "tampered.pt")
    return tmp_path / "tampered.pt"


def env(monkeypatch, **values):
    for k, v in values.items():
        monkeypatch.setenv(k, str(v))


# (id, call(tmp_path, monkeypatch), exception type, pattern the message must contain)
CASES = [
    # ---- cams: images
    ("nan-image", lambda t, m: cams.compute("gradcam", WALLED, with_pixel(float("nan"))),
     ValueError, r"NaN values in image 1 of 2"),
    ("inf-image", lambda t, m: cams.compute("hirescam", WALLED, with_pixel(float("inf"), 0)),
     ValueError, r"NaN or inf values in image 0"),
    ("nan-logits", lambda t, m: cams.compute("gradcam", nan_logits_model(), X),
     ValueError, r"logits holds NaN values in image 0"),
    ("numpy-images", lambda t, m: cams.compute("gradcam", WALLED, X.numpy()),
     TypeError, r"torch.from_numpy\(x\)"),
    ("3d-images", lambda t, m: cams.compute("gradcam", WALLED, X[:, 0]),
     ValueError, r"\[N, C, H, W\].*x\[:, None\]"),
    ("empty-batch", lambda t, m: cams.compute("gradcam", WALLED, X[:0]),
     ValueError, r"empty batch"),
    ("uint8-images", lambda t, m: cams.compute("gradcam", WALLED, (X * 255).to(torch.uint8)),
     ValueError, r"floats .*torch.uint8.*/ 255"),
    ("float64-images", lambda t, m: cams.compute("gradcam", WALLED, X.double()),
     ValueError, r"float64 but the model's weights are torch.float32"),
    ("float16-images", lambda t, m: cams.compute("gradcam", WALLED, X.half()),
     ValueError, r"float16 but the model's weights are torch.float32"),
    ("wrong-channels", lambda t, m: cams.compute("gradcam", WALLED, torch.rand(2, 3, 28, 28)),
     ValueError, r"could not process images of shape \(2, 3, 28, 28\)"),
    # ---- cams: targets (one shared check)
    ("target-minus-one", lambda t, m: cams.compute("gradcam", WALLED, X, target=-1),
     ValueError, r"target \[-1\] out of range for 10 classes.*negative"),
    ("target-float", lambda t, m: cams.compute("gradcam", WALLED, X, target=3.7),
     TypeError, r"3\.7 is not a class|as ints, got 3\.7"),
    ("target-bool", lambda t, m: cams.compute("gradcam", WALLED, X, target=True),
     TypeError, r"got a bool"),
    ("target-too-big", lambda t, m: cams.compute("gradcam", WALLED, X, target=10),
     ValueError, r"target \[10\] out of range for 10 classes"),
    ("target-count", lambda t, m: cams.compute("gradcam", WALLED, X, target=[1, 2, 3]),
     ValueError, r"3 entries for a batch of 2"),
    # ---- cams: options and names
    ("scorecam-batch-minus-one",
     lambda t, m: cams.compute("scorecam", WALLED, X, batch_size=-1),
     ValueError, r"batch_size must be an int >= 1, got -1"),
    ("ablationcam-batch-zero",
     lambda t, m: cams.compute("ablationcam", WALLED, X, batch_size=0),
     ValueError, r"batch_size must be an int >= 1, got 0"),
    ("ablationcam-batch-float",
     lambda t, m: cams.compute("ablationcam", WALLED, X, batch_size=2.5),
     TypeError, r"batch_size must be an int"),
    ("polycam-batch-zero", lambda t, m: cams.compute("pcam+", WALLED, X, batch_size=0),
     ValueError, r"batch_size must be an int >= 1"),
    ("opticam-steps-zero", lambda t, m: cams.compute("opticam", WALLED, X, steps=0),
     ValueError, r"steps must be an int >= 1"),
    ("unknown-method", lambda t, m: cams.compute("gradcom", WALLED, X),
     ValueError, r"Unknown CAM method 'gradcom'"),
    ("method-not-a-name", lambda t, m: cams.compute(3, WALLED, X),
     TypeError, r"A CAM method is a name"),
    ("unknown-option", lambda t, m: cams.compute("gradcam", WALLED, X, batch_size=4),
     TypeError, r"GradCAM takes no option"),
    # ---- cams: maps
    ("upsample-2d", lambda t, m: cams.upsample(MAPS[0], (28, 28)),
     ValueError, r"\[N, h, w\].*maps\[None\]"),
    ("upsample-numpy", lambda t, m: cams.upsample(MAPS.numpy(), (28, 28)),
     TypeError, r"maps must be a torch.Tensor.*from_numpy"),
    ("upsample-size-zero", lambda t, m: cams.upsample(MAPS, (0, 28)),
     ValueError, r"size \(H, W\) must be an int >= 1"),
    ("upsample-size-int", lambda t, m: cams.upsample(MAPS, 28),
     ValueError, r"size must be \(H, W\)"),
    ("upsample-int-maps", lambda t, m: cams.upsample(MAPS.long(), (28, 28)),
     ValueError, r"floats.*maps.float\(\)"),
    ("normalize-all-nan", lambda t, m: cams.normalize(torch.full((2, 4, 4), float("nan"))),
     ValueError, r"maps holds NaN values in map 0 .*and 1 more"),
    ("normalize-inf", lambda t, m: cams.normalize(torch.tensor([[[0.0, 1.0]], [[float("inf"), 0]]])),
     ValueError, r"NaN or inf values in map 1"),
    ("normalize-1d", lambda t, m: cams.normalize(torch.rand(5)),
     ValueError, r"batch \[N, \.\.\.\].*maps\[None\]"),
    # ---- walls
    ("wall-bottom-0", lambda t, m: Wall.bottom(0), ValueError, r"n_rows must be an int >= 1, got 0"),
    ("wall-right-0", lambda t, m: Wall.right(0), ValueError, r"n_cols must be an int >= 1, got 0"),
    ("wall-top-0", lambda t, m: Wall.top(0), ValueError, r"n_rows must be an int >= 1"),
    ("wall-left-0", lambda t, m: Wall.left(0), ValueError, r"n_cols must be an int >= 1"),
    ("wall-bottom-negative", lambda t, m: Wall.bottom(-3), ValueError, r">= 1, got -3"),
    ("wall-bottom-float", lambda t, m: Wall.bottom(2.0), TypeError, r"must be an int.*float"),
    ("wall-bottom-bool", lambda t, m: Wall.bottom(True), TypeError, r"must be an int.*bool"),
    ("wall-float-span", lambda t, m: Wall(rows=(1.5, 3)), TypeError, r"pair of ints or None"),
    ("wall-list-span", lambda t, m: Wall(cols=[1, 3]), TypeError, r"pair of ints or None"),
    ("wall-mask-empty-map", lambda t, m: Wall.bottom(2).mask(0, 5), ValueError, r"h must be an int >= 1"),
    ("wall-outside-map", lambda t, m: Wall.bottom(15).mask(14, 14), ValueError, r"outside the 14x14"),
    ("dead-zone-1d-shape", lambda t, m: dead_zone(WALLED, (28,)), ValueError, r"\(C, H, W\) or \(H, W\)"),
    ("dead-zone-zero-size", lambda t, m: dead_zone(WALLED, (1, 0, 28)), ValueError, r"input_shape.*>= 1"),
    ("dead-zone-int-shape", lambda t, m: dead_zone(WALLED, 28), TypeError, r"input_shape must be a tuple"),
    ("dead-zone-not-a-model", lambda t, m: dead_zone(torch.nn.Conv2d(1, 1, 3), (1, 8, 8)),
     TypeError, r"walled model with a `.features`"),
    # ---- models
    ("vgg-wall-rows-0", lambda t, m: masked_vgg16(wall_rows=0), ValueError, r"wall_rows must be an int >= 1"),
    ("vgg-wall-rows-bool", lambda t, m: masked_vgg16(wall_rows=True), TypeError, r"wall_rows must be an int"),
    ("vgg-wall-rows-float", lambda t, m: masked_vgg16(wall_rows=2.5), TypeError, r"wall_rows must be an int"),
    ("vgg-wall-every-row", lambda t, m: masked_vgg16(wall_rows=14), ValueError, r"1\.\.13.*blind"),
    ("vgg-negative-width", lambda t, m: masked_vgg16(width=-1), ValueError, r"width must be a finite number > 0"),
    ("toycnn-zero-filters", lambda t, m: ToyCNN(V=0), ValueError, r"V must be an int >= 1"),
    ("toycnn-float-kernel", lambda t, m: ToyCNN(k=5.0), TypeError, r"k must be an int"),
    # ---- metrics
    ("mu-numpy", lambda t, m: metrics.mu(MAPS.numpy(), ZONE), TypeError, r"saliency .*from_numpy"),
    ("mu-nan-map", lambda t, m: metrics.mu(torch.stack([MAPS[0], MAPS[1] * float("nan")]), ZONE),
     ValueError, r"saliency holds NaN values in map 1"),
    ("mu-all-nan-single", lambda t, m: metrics.mu(torch.full((28, 28), float("nan")), ZONE),
     ValueError, r"NaN values in map 0"),
    ("mu-float-zone", lambda t, m: metrics.mu(MAPS, ZONE.float()), ValueError, r"bool mask"),
    ("insdel-target-minus-one",
     lambda t, m: metrics.insertion_deletion(WALLED, X, MAPS, target=-1, steps=4),
     ValueError, r"out of range for 10 classes"),
    ("insdel-steps-zero", lambda t, m: metrics.insertion_deletion(WALLED, X, MAPS, steps=0),
     ValueError, r"steps must be an int >= 1, got 0"),
    ("insdel-steps-negative", lambda t, m: metrics.insertion_deletion(WALLED, X, MAPS, steps=-5),
     ValueError, r"steps must be an int >= 1, got -5"),
    ("insdel-batch-zero",
     lambda t, m: metrics.insertion_deletion(WALLED, X, MAPS, steps=4, batch_size=0),
     ValueError, r"batch_size must be an int >= 1"),
    ("insdel-nan-saliency",
     lambda t, m: metrics.insertion_deletion(WALLED, X, MAPS * float("nan"), steps=4),
     ValueError, r"saliency holds NaN values in map 0"),
    ("insdel-map-size", lambda t, m: metrics.insertion_deletion(WALLED, X, MAPS[:, :7, :7]),
     ValueError, r"\[N, H, W\] = \(2, 28, 28\).*upsample"),
    ("insdel-baseline", lambda t, m: metrics.insertion_deletion(WALLED, X, MAPS, baseline="gauss"),
     ValueError, r"baseline must be 'blur', 'zero' or a tensor"),
    ("confidence-target-float",
     lambda t, m: metrics.confidence_change(WALLED, X, MAPS, target=3.7),
     TypeError, r"3\.7"),
    ("confidence-nan-image",
     lambda t, m: metrics.confidence_change(WALLED, with_pixel(float("nan")), MAPS),
     ValueError, r"NaN values in image 1"),
    # ---- leak tables
    ("leak-methods-string",
     lambda t, m: leak_table(WALLED, X, ZONE, methods="gradcam", progress=False),
     TypeError, r"list of method names.*\['gradcam'\]"),
    ("leak-cache-is-folder",
     lambda t, m: leak_table(WALLED, X, ZONE, methods=["gradcam"], cache=t, progress=False),
     IsADirectoryError, r"is a folder: pass a file path"),
    ("leak-batch-zero",
     lambda t, m: leak_table(WALLED, X, ZONE, methods=["gradcam"], batch_size=0, progress=False),
     ValueError, r"batch_size must be an int >= 1"),
    ("leak-zone-shape",
     lambda t, m: leak_table(WALLED, X, ZONE[:10], methods=["gradcam"], progress=False),
     ValueError, r"bool mask \[H, W\] = \(28, 28\)"),
    ("leak-nan-image",
     lambda t, m: leak_table(WALLED, with_pixel(float("nan")), ZONE, methods=["gradcam"],
                             progress=False),
     ValueError, r"NaN values in image 1"),
    ("leak-csv-garbage", lambda t, m: LeakTable.from_csv(write(t, b"hello\n", "g.csv")),
     validate.CorruptFile, r"g\.csv is not a leak-table CSV"),
    # ---- checkpoints and training
    ("checkpoint-missing", lambda t, m: train.load_checkpoint(t / "none.pt", WALLED),
     FileNotFoundError, r"No checkpoint at .*none\.pt.*train again"),
    ("checkpoint-empty", lambda t, m: train.load_checkpoint(write(t, b""), WALLED),
     validate.CorruptFile, r"f\.pt is empty \(0 bytes\)"),
    ("checkpoint-garbage", lambda t, m: train.load_checkpoint(write(t, b"\x00garbage" * 50), WALLED),
     validate.CorruptFile, r"f\.pt (is truncated or not a torch file|could not be loaded)"),
    ("checkpoint-truncated", lambda t, m: train.load_checkpoint(truncated_checkpoint(t), WALLED),
     validate.CorruptFile, r"half\.pt is truncated"),
    ("checkpoint-tampered", lambda t, m: train.load_checkpoint(tampered_checkpoint(t), WALLED),
     validate.CorruptFile, r"tampered\.pt is damaged.*checksum"),
    ("checkpoint-unwalled-into-walled",
     lambda t, m: train.load_checkpoint(saved_checkpoint(t, OPEN), ToyCNN(V=4, wall=Wall.bottom(4), bias=True)),
     ValueError, r"behind its wall .* not 0.*without this wall"),
    ("fit-uint8-images", lambda t, m: fit((X * 255).to(torch.uint8)),
     TypeError, r"float tensor .*torch.uint8.*/ 255"),
    ("fit-negative-epochs", lambda t, m: fit(X, epochs=-1), ValueError, r"epochs must be an int >= 0"),
    ("fit-float-epochs", lambda t, m: fit(X, epochs=1.5), TypeError, r"epochs must be an int"),
    ("fit-resume-fewer-epochs", lambda t, m: resume_with_fewer_epochs(t),
     ValueError, r"already trained 2 epochs, more than epochs=1"),
    ("loader-batch-zero", lambda t, m: train.TensorLoader(X, torch.zeros(2), 0),
     ValueError, r"batch_size must be an int >= 1"),
    ("paper-vgg-garbage", lambda t, m: load_paper_vgg(write(t, b"PK\x03\x04 not a zip")),
     validate.CorruptFile, r"masked \[VGG\] checkpoint .*f\.pt"),
    # ---- MNIST models, data locations
    ("mnist-wall-bottom-0", lambda t, m: mnist.train_walled_mnist(wall=Wall.bottom(0)),
     ValueError, r"n_rows must be an int >= 1"),
    ("mnist-max-train-0", lambda t, m: mnist.train_walled_mnist(max_train=0),
     ValueError, r"max_train must be an int >= 1, got 0"),
    ("mnist-wall-int", lambda t, m: mnist.train_walled_mnist(wall=4),
     TypeError, r"wall must be a Wall .*got int"),
    ("mnist-wall-string", lambda t, m: mnist.train_walled_mnist(wall="bottom"),
     ValueError, r"'lower third'"),
    ("mnist-seed-negative", lambda t, m: mnist.train_walled_mnist(seed=-1),
     ValueError, r"seed must be an int >= 0"),
    ("mnist-cache-is-a-file",
     lambda t, m: (env(m, CAMWALLS_CACHE=write(t, b"x", "cachefile")), helpers.cache_dir()),
     NotADirectoryError, r"cachefile is a file, not a folder"),
    ("mnist-root-missing", lambda t, m: data.load_mnist("test", root=t / "nowhere"),
     FileNotFoundError, r"root= .*nowhere does not exist"),
    ("mnist-root-is-file", lambda t, m: data.load_mnist("test", root=write(t, b"x", "file")),
     NotADirectoryError, r"file is a file, not a folder"),
    ("mnist-env-missing",
     lambda t, m: (env(m, CAMWALLS_DATA=t / "gone"), data.load_mnist("test")),
     FileNotFoundError, r"\$CAMWALLS_DATA = .*gone does not exist"),
    ("mnist-split", lambda t, m: data.load_mnist("val"), ValueError, r"'train' or 'test'"),
    # ---- photos, the ImageNet network
    ("stack-pair-hwc", lambda t, m: photos.stack_pair(torch.rand(32, 32, 3), torch.rand(32, 32, 3), 16),
     ValueError, r"look like \[H, W, C\].*permute\(2, 0, 1\)"),
    ("stack-pair-split-0", lambda t, m: photos.stack_pair(torch.rand(3, 8, 8), torch.rand(3, 8, 8), 0),
     ValueError, r"0 < split < H = 8"),
    ("stack-pair-numpy", lambda t, m: photos.stack_pair(np.zeros((3, 8, 8)), np.zeros((3, 8, 8)), 4),
     TypeError, r"two image tensors"),
    ("photos-size-4", lambda t, m: photos.load_photos(size=4), ValueError, r"size must be an int >= 8"),
    ("imagenet-0-255", lambda t, m: Normalize()(torch.rand(1, 3, 32, 32) * 255),
     ValueError, r"\[0, 1\].*divide by 255"),
    ("imagenet-negative", lambda t, m: Normalize()(torch.randn(1, 3, 32, 32)),
     ValueError, r"must hold pixel values in \[0, 1\]"),
    ("imagenet-wall-rows-bool", lambda t, m: efficientnet.walled_efficientnet_lite0(True),
     ValueError, r"wall_rows must be an int in 1\.\.27"),
    ("imagenet-top-k-zero", lambda t, m: efficientnet.top_k(OPEN, X, k=0),
     ValueError, r"k must be an int >= 1, got 0"),
    ("square-crop-size-zero", lambda t, m: photos.square_crop(np.zeros((8, 8, 3), np.uint8), 0),
     ValueError, r"size must be an int >= 1"),
    # ---- Theorem 3
    ("theorem3-nan-image", lambda t, m: theorem3.theorem3_bound(torch.full((12, 12), float("nan")), 64, 5, 2, 1.0),
     ValueError, r"image holds NaN values"),
    ("theorem3-zero-filters", lambda t, m: theorem3.expected_gradcam(torch.rand(12, 12), 0, 5, 2, 1.0),
     ValueError, r"V must be an int >= 1, got 0"),
    ("theorem3-negative-tau", lambda t, m: theorem3.theorem3_bound(torch.rand(12, 12), 64, 5, 2, -1.0),
     ValueError, r"tau must be a finite number > 0"),
    ("theorem3-one-draw", lambda t, m: theorem3.monte_carlo_gradcam(torch.rand(12, 12), n_draws=1),
     ValueError, r"n_draws .*>= 2, got 1"),
    ("theorem3-float-kernel", lambda t, m: theorem3.theorem3_bound(torch.rand(12, 12), 64, 5.0, 2, 1.0),
     TypeError, r"k must be an int"),
    ("theorem3-level", lambda t, m: theorem3.monte_carlo_gradcam(torch.rand(12, 12), n_draws=4, level=95),
     ValueError, r"level must be a probability in \(0, 1\)"),
    # ---- numeric options of a CAM method, checked by the kind of their default (issue 21)
    ("opticam-lr-nan", lambda t, m: cams.compute("opticam", WALLED, X, steps=1, lr=float("nan")),
     ValueError, r"lr must be a finite number > 0, got nan"),
    ("opticam-lr-negative", lambda t, m: cams.compute("opticam", WALLED, X, steps=1, lr=-0.1),
     ValueError, r"lr must be a finite number > 0"),
    ("opticam-lr-text", lambda t, m: cams.compute("opticam", WALLED, X, steps=1, lr="0.1"),
     TypeError, r"lr must be a number"),
    ("ablationcam-tail-only-int", lambda t, m: cams.compute("ablationcam", WALLED, X, tail_only=1),
     TypeError, r"tail_only must be True or False"),
    ("scorecam-progress-text", lambda t, m: cams.compute("scorecam", WALLED, X, progress="no"),
     TypeError, r"progress must be True or False"),
    ("compute-many-lr-inf", lambda t, m: cams.compute_many(["opticam"], WALLED, X,
                                                           method_options={"opticam": {"lr": float("inf")}}),
     ValueError, r"lr must be a finite number > 0"),
    # ---- where results are written (issue 21)
    ("output-file-is-a-folder", lambda t, m: validate.output_file(t, "--csv"),
     ValueError, r"--csv .* is a folder"),
    ("output-file-missing-parent", lambda t, m: validate.output_file(t / "no" / "a.csv", "--csv"),
     ValueError, r"folder that does not exist"),
    ("output-dir-is-a-file", lambda t, m: validate.output_dir(write(t, b"x", "f"), "--out"),
     ValueError, r"--out .* is a file, not a folder"),
    ("output-dir-missing-parent", lambda t, m: validate.output_dir(t / "no" / "out", "--out"),
     ValueError, r"folder that does not exist"),
    ("atomic-write-onto-a-folder", lambda t, m: validate.atomic_write_text(t, "x"),
     ValueError, r"it is a folder \(nothing was written\)"),
    # ---- the student edition tool
    ("edition-file", lambda t, m: edition.make_student_edition(write(t, b"{}", "a.ipynb"), t / "out"),
     NotADirectoryError, r"a\.ipynb is a file, not a folder"),
    ("edition-dict-dir", lambda t, m: edition.make_student_edition({"src": 1}, t / "out"),
     TypeError, r"SRC_DIR must be a folder path, got dict"),
    ("edition-dict-notebook", lambda t, m: edition.strip_solutions({"metadata": {}}),
     TypeError, r"needs a notebook .*without a 'cells' list"),
    ("edition-list", lambda t, m: edition.strip_solutions([1, 2]),
     TypeError, r"needs a notebook .*got list"),
]


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(call, exc, pattern, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CAMWALLS_DATA", raising=False)
    with pytest.raises(exc) as info:
        call(tmp_path, monkeypatch)
    assert re.search(pattern, str(info.value), re.S), str(info.value)


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


# ----------------------------------------------------------------------------- silent wrong results

def test_dead_zone_of_an_unwalled_model_is_empty():
    zone = dead_zone(OPEN, (1, 28, 28))
    assert zone.shape == (28, 28) and zone.dtype == torch.bool and not zone.any()


def test_nan_image_no_longer_reads_as_no_leak():
    """A NaN image used to give an all-zero map and mu = 0 ("no leak") for that image."""
    with pytest.raises(ValueError, match="image 1"):
        leak_table(WALLED, with_pixel(float("nan")), ZONE, methods=["gradcam"], progress=False)
    with pytest.raises(ValueError, match="map 0"):
        metrics.mu(torch.full((1, 28, 28), float("nan")), ZONE)


def test_walled_checkpoint_still_loads_into_its_own_architecture(tmp_path):
    path = saved_checkpoint(tmp_path, WALLED)
    model = ToyCNN(V=4, wall=Wall.bottom(4), bias=True)
    train.load_checkpoint(path, model)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 WALLED.state_dict().values()))
    assert not list(tmp_path.glob("*.tmp"))           # written atomically, nothing left over


def leak_cache_case(tmp_path, damage):
    x = torch.rand(16, 1, 28, 28)
    path = tmp_path / "leak.csv"
    first = leak_table(WALLED, x, ZONE, methods=["gradcam"], cache=path, progress=False)
    damage(path)
    return x, path, first


@pytest.mark.parametrize("damage", [
    lambda p: p.write_text("\n".join(p.read_text().splitlines()[:8]) + "\n"),   # 5 of 16 rows
    lambda p: p.write_text(""),
    lambda p: p.write_bytes(b"\xff\xfe garbage \x00"),
    lambda p: p.write_text(p.read_text().replace("0.", "9.", 1)),              # an edited value
], ids=["truncated-5-of-16-rows", "empty", "garbage", "edited"])
def test_damaged_leak_cache_is_recomputed_with_a_notice(tmp_path, damage, capsys):
    x, path, first = leak_cache_case(tmp_path, damage)
    capsys.readouterr()
    again = leak_table(WALLED, x, ZONE, methods=["gradcam"], cache=path, progress=False)
    assert "recomputing" in capsys.readouterr().out
    assert len(again.mu["gradcam"]) == 16
    torch.testing.assert_close(again.mu["gradcam"], first.mu["gradcam"])
    assert len(LeakTable.from_csv(path).mu["gradcam"]) == 16      # rewritten, whole
    assert not list(tmp_path.glob(".*.tmp"))


def test_sound_leak_cache_is_read_silently(tmp_path, capsys):
    x, path, first = leak_cache_case(tmp_path, lambda p: None)
    capsys.readouterr()
    again = leak_table(WALLED, x, ZONE, methods=["gradcam"], cache=path, progress=False)
    assert capsys.readouterr().out == ""
    torch.testing.assert_close(again.mu["gradcam"], first.mu["gradcam"], rtol=0, atol=1e-8)


def tiny_mnist(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(0)
    digits = data.Digits(torch.randint(0, 256, (32, 28, 28), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (32,), generator=g), "random test digits")
    monkeypatch.setattr(mnist, "load_split", lambda split: digits)
    monkeypatch.setenv("CAMWALLS_CACHE", str(tmp_path))
    return lambda: mnist.train_walled_mnist(variant="toy", images=32, device="cpu",
                                            progress=False)


def test_truncated_mnist_cache_is_retrained_with_a_notice(monkeypatch, tmp_path, capsys):
    run = tiny_mnist(monkeypatch, tmp_path)
    first = run()
    assert not first.cached and run().cached
    first.path.write_bytes(first.path.read_bytes()[:100])
    capsys.readouterr()
    again = run()
    notice = capsys.readouterr().out
    assert not again.cached and "retraining" in notice and first.path.name in notice
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(),
                                                 first.model.state_dict().values()))
    assert run().cached                                # the rewritten file is sound


def test_mnist_cache_key_holds_what_changes_the_bits(monkeypatch):
    before = mnist.bits_key("cpu")
    assert before["torch"] == torch.__version__.split("+")[0] and before["device"] == "cpu"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert mnist.bits_key("cpu")["threads"] == threads + 1 != before["threads"]
    finally:
        torch.set_num_threads(threads)


def test_strip_solutions_accepts_a_plain_json_notebook(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "metadata": {"tags": ["solution"]}, "source": "1",
                     "outputs": [], "execution_count": None, "id": "a"},
                    {"cell_type": "markdown", "metadata": {}, "source": "kept", "id": "b"}]}
    out = edition.strip_solutions(json.loads(json.dumps(nb)))
    assert [c.source for c in out.cells] == ["kept"]


def test_sealed_weights_read_back_only_when_they_match(tmp_path):
    state = {"w": torch.arange(6.0)}
    blob = validate.sealed(state)
    assert validate.unsealed(blob, tmp_path / "x.pt", "model", "retrain") is state
    changed = {**blob, "model": {"w": torch.arange(6.0) + 1}}
    with pytest.raises(validate.CorruptFile, match=r"x\.pt is damaged.*checksum.*retrain"):
        validate.unsealed(changed, tmp_path / "x.pt", "model", "retrain")
    with pytest.raises(validate.CorruptFile, match="lacks its weights or their checksum"):
        validate.unsealed({"model": state}, tmp_path / "x.pt", "model", "retrain")


# ----------------------------------------------------------------------------- command lines (issue 21)

def test_usage_errors_turn_a_refusal_into_one_line_and_status_2(capsys):
    import argparse
    from camwalls_lib.errors import BadValue
    parser = argparse.ArgumentParser(prog="tool")
    for err in (BadValue("n = 17, but the standard set\nhas 16 images"),
                FileNotFoundError("No record x/record.json beside the weights; re-create it.")):
        with pytest.raises(SystemExit) as exit_:
            with validate.usage_errors(parser):
                raise err
        assert exit_.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("tool: error: ") and str(err).split()[0] in last
    with pytest.raises(ZeroDivisionError):          # a bug keeps its traceback
        with validate.usage_errors(parser):
            1 / 0


def test_path_arguments_are_refused_while_parsing(tmp_path):
    import argparse
    (tmp_path / "f").write_text("kept")
    for arg, text, says in ((validate.file_arg, str(tmp_path), "is a folder"),
                            (validate.file_arg, str(tmp_path / "no" / "a.csv"), "does not exist"),
                            (validate.dir_arg, str(tmp_path / "f"), "is a file"),
                            (validate.dir_arg, str(tmp_path / "no" / "out"), "does not exist"),
                            (validate.existing_dir_arg, str(tmp_path / "no"), "create it first")):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            arg(text)
    assert validate.file_arg("-") == "-"
    assert validate.dir_arg(str(tmp_path / "new")) == str(tmp_path / "new")
    assert validate.existing_dir_arg(str(tmp_path)) == str(tmp_path)
    assert (tmp_path / "f").read_text() == "kept" and not (tmp_path / "new").exists()


@pytest.mark.parametrize("module, argv", [
    ("camwalls_lib.experiments.fashion_table1", ["--weights", "{tmp}/missing", "--out", "{tmp}/t1"]),
    ("camwalls_lib.experiments.fashion_table1", ["--out", "{tmp}/no/such/t1"]),
    ("camwalls_lib.experiments.fashion_table1", ["--out", "{tmp}/file"]),
    ("camwalls_lib.experiments.fashion_vgg", ["--out", "{tmp}/no/such/out"]),
    ("camwalls_lib.experiments.fashion_vgg", ["--out", "{tmp}/o", "--optimizer", "adam"]),
    ("camwalls_lib.experiments.fashion_vgg", ["--out", "{tmp}/o", "--schedule", "cosine"]),
    ("camwalls_lib.experiments.fashion_vgg", ["--out", "{tmp}/o", "--batch", "0"]),
    ("camwalls_lib.experiments.resnet_walls", ["--out", "{tmp}/missing"]),
    ("camwalls_lib.experiments.efficientnet_depth", ["{tmp}"]),
    ("camwalls_lib.walltest", ["inputs", "--out", "{tmp}"]),
])
def test_command_lines_refuse_bad_paths_in_one_line_before_any_work(module, argv, tmp_path):
    """Run as a reader would (a subprocess): status 2, one usage line, no traceback, nothing
    written."""
    import os
    import subprocess
    import sys
    (tmp_path / "file").write_text("kept")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    r = subprocess.run([sys.executable, "-m", module, *[a.format(tmp=tmp_path) for a in argv]],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-500:]
    assert "error:" in r.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert (tmp_path / "file").read_text() == "kept"
