"""MNIST loads offline, and says where it came from; a missing dataset gets a useful error."""

import pytest

from camwalls_lib.data import mnist as data


def test_test_split_is_the_official_one():
    digits = data.load_mnist("test", download=False)
    assert digits.x.shape == (10_000, 28, 28) and digits.full
    assert digits.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    x, y = digits.tensors()
    assert x.shape == (10_000, 1, 28, 28) and 0 <= x.min() and x.max() <= 1


def test_train_split_labels_its_source():
    digits = data.load_mnist("train", download=False)
    assert len(digits) in (19_690, 60_000)
    if not digits.full:
        assert digits.source == "19,690 of MNIST's 60,000 training images"
    assert digits.y[:5].tolist() == [5, 0, 4, 1, 9]


def test_missing_data_names_all_three_ways_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "mnist_dirs", lambda root=None: [tmp_path])
    with pytest.raises(FileNotFoundError, match="root=.*CAMWALLS_DATA.*network"):
        data.load_mnist("test", download=False)


def test_environment_variable_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMWALLS_DATA", str(tmp_path))
    assert data.mnist_dirs()[0].parent == tmp_path or tmp_path in data.mnist_dirs()[:3]
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_mnist("val")


def test_the_shared_data_folder_beside_the_repository_is_searched(monkeypatch):
    """Without $CAMWALLS_DATA, the offline copies in ../shared/data (beside the repository,
    where CI and the book's build find them) are searched first."""
    from pathlib import Path

    from camwalls_lib.data.fashion import fashion_dirs
    from camwalls_lib.data.mnist import mnist_dirs

    monkeypatch.delenv("CAMWALLS_DATA", raising=False)
    shared = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    assert mnist_dirs()[0] == shared / "mnist"
    assert fashion_dirs()[0] == shared / "fashion-mnist"
