"""STACK-MIX (Eq. 6): geometry, labels, seeding; the authors' folder layout; Table 1 on 3 images."""

import pytest
import torch
from PIL import Image

from camwalls_lib.data import stackmix
from camwalls_lib.metrics.leak import leak_table
from camwalls_lib.networks.models import masked_vgg16
from camwalls_lib.walls import dead_rows, dead_zone


def fake_imagenet_val(root, names, per_class=3, size=(300, 260)):
    """Solid-colour images: red = class position / 255, green = image number / 255, so a
    single pixel of a composite tells which class and which file it came from."""
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            Image.new("RGB", size, (c, k, 200)).save(root / name / f"ILSVRC2012_val_{c}_{k}.png")
    return root


def pixel_source(img, row):
    """(class position, image number) of the solid image a composite row came from."""
    r, g = (img[:2, row, 5] * 255).round().long().tolist()
    return r, g


def test_stackmix_geometry_and_labels_follow_eq6(tmp_path):
    synsets = [f"n{i:08d}" for i in range(8)]                  # sorted order = ImageNet index
    val = fake_imagenet_val(tmp_path / "val", synsets)
    stack = stackmix.build_stackmix(val, n_classes=4, among=6, seed=0)
    assert stack.images.shape == (4, 3, 224, 224) and stack.images.dtype == torch.float32
    assert len(set(stack.labels.tolist())) == 4 and (stack.labels < 6).all()
    for img, label, names in zip(stack.images, stack.labels.tolist(), stack.names):
        up = {pixel_source(img, r) for r in range(0, 170)}
        down = {pixel_source(img, r) for r in range(170, 224)}
        assert len(up) == 1 and len(down) == 1               # rows 0..169 | rows 170..223
        (c_up, k_up), (c_down, k_down) = up.pop(), down.pop()
        assert c_up == c_down == label                       # same class, the label
        assert k_up != k_down                                # two different images
        upper, lower = names.split("|")
        assert upper.endswith(f"_{k_up}.png") and lower.endswith(f"_{k_down}.png")


def test_split_row_is_the_first_dead_row_of_the_paper_vgg():
    # 170 rows from xi_1 (`:170`) and 54 from xi_2 (1-based `171:224`) tile the 224 rows, and
    # the lower block is exactly the masked VGG's dead zone.
    zone = dead_zone(masked_vgg16(width=1 / 16, hidden=8), (3, 224, 224))
    assert dead_rows(zone) == (stackmix.SPLIT_ROW, 223) and 224 - stackmix.SPLIT_ROW == 54


def test_stackmix_is_seeded(tmp_path):
    val = fake_imagenet_val(tmp_path / "val", [f"n{i:08d}" for i in range(6)])
    a = stackmix.build_stackmix(val, n_classes=3, among=6, seed=1)
    b = stackmix.build_stackmix(val, n_classes=3, among=6, seed=1)
    c = stackmix.build_stackmix(val, n_classes=3, among=6, seed=2)
    assert torch.equal(a.images, b.images) and a.names == b.names
    assert a.names != c.names


def test_authors_integer_class_folders_keep_their_numbers(tmp_path):
    val = fake_imagenet_val(tmp_path / "val", ["0", "1", "2", "10", "399"])
    assert stackmix.class_folders(val) == [("0", 0), ("1", 1), ("2", 2), ("10", 10), ("399", 399)]
    stack = stackmix.build_stackmix(val, n_classes=4, seed=0)     # 399 is not an animal
    assert sorted(stack.labels.tolist()) == [0, 1, 2, 10]


def test_builder_refuses_too_few_classes_and_missing_folders(tmp_path):
    val = fake_imagenet_val(tmp_path / "val", ["n0", "n1"], per_class=2)
    (tmp_path / "val" / "n2").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "n2" / "only_one.png")
    with pytest.raises(ValueError, match="only 2 classes"):
        stackmix.build_stackmix(val, n_classes=3)
    with pytest.raises(FileNotFoundError, match="ImageNet-style"):
        stackmix.build_stackmix(tmp_path / "nowhere")


def test_saved_set_loads_back_like_the_authors_folder(tmp_path):
    val = fake_imagenet_val(tmp_path / "val", [f"n{i:08d}" for i in range(5)])
    stack = stackmix.build_stackmix(val, n_classes=3, among=5, seed=0, out_dir=tmp_path / "stackmix")
    loaded = stackmix.load_stack_folder(tmp_path / "stackmix")
    assert loaded.labels.tolist() == stack.labels.tolist()
    torch.testing.assert_close(loaded.images, stack.images, atol=1 / 255 + 1e-6, rtol=0)


def test_stackgen_images_are_resized_and_cropped_stackmix_ones_must_be_224(tmp_path):
    gen = tmp_path / "stackgen"
    gen.mkdir()
    Image.new("RGB", (400, 300), (10, 20, 30)).save(gen / "a.jpg")
    loaded = stackmix.load_stack_folder(gen)
    assert loaded.images.shape == (1, 3, 224, 224) and (loaded.labels == -1).all()
    with pytest.raises(ValueError, match="224x224"):
        stackmix.load_stack_folder(gen, kind="stackmix")


def test_photo_stackmix_stacks_two_different_photos():
    from camwalls_lib.data.photos import load_photos

    stack = stackmix.photo_stackmix(n=3)
    pics = load_photos(size=224)
    first, second, third = list(pics)[:3]
    assert stack.images.shape == (3, 3, 224, 224) and stack.names[0] == f"{first}|{second}"
    assert torch.equal(stack.images[0, :, :170], pics[first][:, :170])
    assert torch.equal(stack.images[0, :, 170:], pics[second][:, 170:])
    assert stack.names[2] == f"{third}|{first}"          # cyclic


def test_leak_table_on_three_stackmix_images(tmp_path):
    val = fake_imagenet_val(tmp_path / "val", [f"n{i:08d}" for i in range(3)])
    x = stackmix.normalize_imagenet(stackmix.build_stackmix(val, n_classes=3, among=3).images)
    x = x + 0.3 * torch.randn_like(x)      # give the solid images some texture
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=10, width=1 / 32)
    zone = dead_zone(model, (3, 224, 224))
    methods = [m for m in ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "scorecam",
                           "ablationcam", "eigencam")]
    table = leak_table(model, x, zone, methods=methods, progress=False)
    assert all(v.shape == (3,) and ((v >= 0) & (v <= 1)).all() for v in table.mu.values())
    assert (table.mu["hirescam"] == 0).all() and (table.mu["layercam"] == 0).all()
