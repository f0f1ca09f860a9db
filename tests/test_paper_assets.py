"""The authors' assets on disk: verified (sizes, zip CRCs), written atomically, repaired by a
rerun (issue 21). No network: gdown and the connection check are stand-ins."""

import sys
import types
import zipfile

import pytest

from camwalls_lib import errors
from camwalls_lib.data import paper_assets

PNG = bytes(range(256)) * 4          # any bytes will do: the checks are on sizes and CRCs


def _archive(folder, corrupt=None):
    """datasets.zip with stackmix/0.png, stackgen/0.png (stored); ``corrupt``: a member
    whose stored bytes are changed after its CRC was written."""
    path = folder / "datasets.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for sub in ("stackmix", "stackgen"):
            z.writestr(f"{sub}/0.png", PNG)
    if corrupt:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(corrupt)
        raw = bytearray(path.read_bytes())
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        raw[start + 10] ^= 0xFF
        path.write_bytes(bytes(raw))
    return path


def _drive(folder, corrupt=None, empty_checkpoint=False):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params_vgg16_masked.pt").write_bytes(b"" if empty_checkpoint else b"weights")
    (folder / "params_vgg16_baseline.pt").write_bytes(b"weights")
    _archive(folder, corrupt)


@pytest.fixture
def online(monkeypatch):
    calls = []
    monkeypatch.setattr(paper_assets.socket, "create_connection",
                        lambda *a, **k: types.SimpleNamespace(close=lambda: None))
    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(
        download_folder=lambda id, output, quiet: calls.append(id)))
    return calls


def _files(root):
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_a_member_with_a_bad_crc_leaves_no_empty_image_and_is_never_complete(tmp_path, online):
    dest = tmp_path / "dest"
    _drive(dest, corrupt="stackmix/0.png")
    for _ in range(2):                                      # the rerun is not fooled either
        with pytest.raises(errors.CorruptFile, match="stackmix/0.png"):
            paper_assets.fetch_paper_assets(dest)
        assert 0 not in _files(dest).values()
        assert not paper_assets.find_paper_assets(dest).complete
        assert not [p for p in dest.rglob("*.tmp")]


def test_a_rerun_repairs_a_half_unpacked_set(tmp_path, online):
    dest = tmp_path / "dest"
    _drive(dest)
    (dest / "datasets" / "stackmix").mkdir(parents=True)
    (dest / "datasets" / "stackmix" / "0.png").write_bytes(b"")      # left by an older run
    got = paper_assets.fetch_paper_assets(dest)
    assert got.complete and online == []
    assert (got.stackmix / "0.png").read_bytes() == PNG
    assert (got.stackgen / "0.png").read_bytes() == PNG


def test_an_empty_download_is_not_an_asset(tmp_path, online):
    dest = tmp_path / "dest"
    _drive(dest, empty_checkpoint=True)
    with pytest.raises(FileNotFoundError, match="masked"):
        paper_assets.fetch_paper_assets(dest)
    assert paper_assets.find_paper_assets(dest).masked is None


def test_unpacking_touches_nothing_outside_the_destination(tmp_path, online):
    dest = tmp_path / "dest"
    _drive(dest)
    (tmp_path / "mine.txt").write_text("x")
    paper_assets.fetch_paper_assets(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "mine.txt"]
