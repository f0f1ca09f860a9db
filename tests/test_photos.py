import pytest
import torch

from camwalls_lib.data.photos import stack_pair


def test_stack_pair_takes_rows_above_split_from_upper_and_below_from_lower():
    upper, lower = torch.rand(3, 10, 7), torch.rand(3, 10, 7)
    out = stack_pair(upper, lower, 6)
    assert out.shape == upper.shape
    assert torch.equal(out[:, :6], upper[:, :6])
    assert torch.equal(out[:, 6:], lower[:, 6:])
    assert not torch.equal(out, upper)  # a real mix, and the inputs are untouched
    assert torch.equal(upper, upper.clone())


def test_stack_pair_works_on_a_batch_along_rows():
    upper, lower = torch.zeros(2, 1, 5, 4), torch.ones(2, 1, 5, 4)
    out = stack_pair(upper, lower, 2)
    assert out[..., :2, :].sum() == 0 and bool((out[..., 2:, :] == 1).all())


def test_stack_pair_does_not_modify_its_inputs():
    upper, lower = torch.zeros(1, 4, 4), torch.ones(1, 4, 4)
    stack_pair(upper, lower, 1)
    assert upper.sum() == 0 and lower.sum() == 16


@pytest.mark.parametrize("split", [0, 10, -1, 3.5, True])
def test_stack_pair_rejects_a_split_outside_the_image(split):
    with pytest.raises(ValueError, match="split"):
        stack_pair(torch.rand(3, 10, 10), torch.rand(3, 10, 10), split)


def test_stack_pair_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        stack_pair(torch.rand(3, 10, 10), torch.rand(3, 12, 10), 5)
    with pytest.raises(TypeError):
        stack_pair(torch.rand(3, 10, 10), [[0]], 5)


# ----------------------------------------------------------------------------- bundled photos

photos_mod = pytest.importorskip("camwalls_lib.data.photos")


def test_shift_down_moves_rows_and_pads_with_the_first_row():
    img = torch.arange(5.0).view(1, 5, 1).expand(2, 5, 3)
    out = photos_mod.shift_down(img, 2)
    assert out.shape == img.shape
    assert out[0, :, 0].tolist() == [0, 0, 0, 1, 2]
    assert torch.equal(photos_mod.shift_down(img, 0), img)
    with pytest.raises(ValueError, match="rows"):
        photos_mod.shift_down(img, 5)


def test_bundled_photos_are_rgb_squares_in_unit_range():
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    photos = photos_mod.load_photos(64)
    assert set(photos) == set(photos_mod.PHOTO_SOURCES)
    for img in photos.values():
        assert img.shape == (3, 64, 64) and img.min() >= 0 and img.max() <= 1
        assert img.std() > 0.05                                   # a photo, not a flat image
    assert set(photos_mod.PHOTO_LABELS) <= set(photos)


def test_photo_labels_are_the_named_imagenet_classes():
    from torchvision.models import VGG16_Weights
    names = VGG16_Weights.IMAGENET1K_V1.meta["categories"]
    assert [names[i] for i in photos_mod.PHOTO_LABELS["chelsea"]] == ["tabby", "tiger cat",
                                                                      "Egyptian cat"]
    assert names[photos_mod.PHOTO_LABELS["coffee"][0]] == "espresso"
    assert names[photos_mod.PHOTO_LABELS["china"][0]] == "palace"


def test_every_photo_has_a_readers_name_and_a_wrong_key_is_refused():
    assert set(photos_mod.PHOTO_NAMES) == set(photos_mod.PHOTO_SOURCES)
    assert photos_mod.photo_name("chelsea") == "cat"
    assert photos_mod.photo_name("motorcycle_left") == "motorcycle (left)"
    names = list(photos_mod.PHOTO_NAMES.values())
    assert len(set(names)) == len(names) and all("_" not in n for n in names)
    with pytest.raises(ValueError, match="key 'dog' is not one of the photos; choose from chelsea"):
        photos_mod.photo_name("dog")
    with pytest.raises(TypeError, match="key must be a photo's key"):
        photos_mod.photo_name(3)


def test_missing_scikit_image_names_the_pip_command(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(ImportError, match="pip install scikit-image scikit-learn"):
        photos_mod.load_photos()


def test_composites_have_the_stack_mix_geometry():
    pytest.importorskip("skimage")
    photos = photos_mod.load_photos(32)
    x, pairs = photos_mod.mixed_composites(photos, 20)
    assert x.shape == (len(photos), 3, 32, 32) and len(pairs) == len(photos)
    for img, (a, b) in zip(x, pairs):
        assert a != b
        assert torch.equal(img[:, :20], photos[a][:, :20]) and torch.equal(img[:, 20:], photos[b][:, 20:])
    same, names = photos_mod.same_photo_composites(photos, 20, 8)
    for img, name in zip(same, names):
        assert torch.equal(img[:, :20], photos[name][:, :20])
        assert torch.equal(img[:, 20:], photos[name][:, 12:24])   # 8 rows higher, moved down
    with pytest.raises(ValueError, match="unknown photo"):
        photos_mod.mixed_composites(photos, 20, [("chelsea", "dog")])


def test_photo_views_count_and_square_crop_validation():
    pytest.importorskip("skimage")
    x, names = photos_mod.photo_views(32, scales=(1.0, 0.8), shifts=(-1.0, 1.0), flips=(False, True))
    assert x.shape == (len(set(names)) * 8, 3, 32, 32)
    assert torch.equal(x[1], x[0].flip(-1))
    with pytest.raises(ValueError):
        photos_mod.square_crop(torch.zeros(10, 10, 3, dtype=torch.uint8), 8, scale=0)
