"""Loads that check what they load, and CLIs that check every argument before any work
(issue 21): the trained Fashion-MNIST VGG, its record, the model cache."""

import json
import shutil

import pytest
import torch

from camwalls_lib import errors, helpers, validate
from camwalls_lib.experiments import fashion_vgg
from camwalls_lib.experiments import mnist_walls as mnist

DATA = fashion_vgg.ASSETS


# ----------------------------------------------------------------------------- the trained VGG

def test_a_string_for_walled_is_refused():
    for bad in ("unwalled", "walled", 0, None):
        with pytest.raises(TypeError, match="walled must be True or False"):
            fashion_vgg.load_trained(bad)


def test_unwalled_weights_in_walled_pt_are_refused_before_the_load(tmp_path):
    shutil.copy(DATA / "unwalled.pt", tmp_path / "walled.pt")
    shutil.copy(DATA / "record.json", tmp_path / "record.json")
    with pytest.raises(ValueError, match="behind its wall"):
        fashion_vgg.load_trained(True, tmp_path)


@pytest.mark.parametrize("record", [b"", b"{not json", b"[]", b'{"unwalled": {}}',
                                    b'{"walled": {"recipe": {"epochs": "x", "bogus": 1}}}'])
def test_a_damaged_record_names_the_file(tmp_path, record):
    shutil.copy(DATA / "walled.pt", tmp_path / "walled.pt")
    (tmp_path / "record.json").write_bytes(record)
    with pytest.raises(errors.CorruptFile, match="record.json"):
        fashion_vgg.load_trained(True, tmp_path)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="walled.pt"):
        fashion_vgg.load_trained(True, tmp_path / "nowhere")


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--test", "0"], ["--train", "0"],
                                   ["--train", "-5"], ["--width", "0"], ["--width", "nan"],
                                   ["--lr", "-1"], ["--lr", "inf"], ["--device", "gpu"]])
def test_the_cli_refuses_bad_arguments_before_any_work(tmp_path, flags, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        fashion_vgg.main(["--out", str(out), *flags])
    assert exit_.value.code == 2
    assert flags[0] in capsys.readouterr().err
    assert not out.exists()


def test_the_cli_refuses_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit):
        fashion_vgg.main(["--out", str(tmp_path / "f")])
    assert (tmp_path / "f").read_text() == "x"


# ----------------------------------------------------------------------------- the cache

@pytest.mark.parametrize("name", ["../escape.pt", "/etc/passwd", "mnist/../../x.pt", "", 3])
def test_cached_file_keeps_names_inside_the_cache(name):
    with pytest.raises((ValueError, TypeError), match="relative"):
        helpers.cached_file(name)


def test_a_folder_at_a_cache_path_is_refused_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMWALLS_CACHE", str(tmp_path))
    (tmp_path / "mnist" / "x.pt").mkdir(parents=True)
    with pytest.raises(errors.UnsafePath, match="is a folder"):
        helpers.cached_file("mnist/x.pt")


def test_a_corrupt_user_copy_falls_back_to_the_shipped_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAMWALLS_CACHE", str(tmp_path))
    shipped = sorted((helpers.SHIPPED / "mnist").glob("toy-walled-*.pt"))[0]
    own = tmp_path / "mnist" / shipped.name
    own.parent.mkdir()
    own.write_bytes(shipped.read_bytes()[:1000])              # truncated user copy
    monkeypatch.setattr(mnist, "fit", lambda *a, **k: pytest.fail("retrained"))
    trained = mnist.train_walled_mnist(progress=False)
    assert trained.cached and trained.path == shipped
    assert "unreadable" in capsys.readouterr().out
