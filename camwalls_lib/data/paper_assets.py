"""The authors' own assets, in one call: their masked and baseline VGG16 checkpoints and the
STACK-MIX / STACK-GEN images, from their public Google Drive folder (linked from their
repository's README).

:func:`fetch_paper_assets` downloads the folder with ``gdown`` (the optional extra
``camwalls[paper]``) unless ``dest`` already holds the assets, unpacks any zip archive in it
(the images come as ``datasets.zip`` holding ``stackmix/`` and ``stackgen/``), and returns a
:class:`PaperAssets` of paths found wherever they lie under ``dest``
(:func:`find_paper_assets`). Without a network it fails at once with a message saying what
to do, instead of hanging. The checkpoints are then read by
:func:`camwalls_lib.vgg.load_paper_vgg` (``weights_only=True``, every shape checked).
"""

from __future__ import annotations

import os
import socket
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .. import validate
from ..errors import BadType, BadValue, CorruptFile

__all__ = ["DRIVE_FOLDER_ID", "PaperAssets", "find_paper_assets", "fetch_paper_assets",
           "default_dest"]

DRIVE_FOLDER_ID = "19LbSZcABEv3E0KB4KzlYQebjo8qDxr1S"
"""The authors' public Google Drive folder (params_vgg16_masked.pt, params_vgg16_baseline.pt,
the STACK-MIX and STACK-GEN images)."""

_MASKED, _BASELINE = "params_vgg16_masked.pt", "params_vgg16_baseline.pt"


@dataclass(frozen=True)
class PaperAssets:
    """Paths of the authors' files (``None`` where absent): ``masked`` and ``baseline``
    checkpoints, ``stackmix`` and ``stackgen`` image folders."""

    masked: Path | None
    baseline: Path | None
    stackmix: Path | None
    stackgen: Path | None

    @property
    def complete(self) -> bool:
        return None not in (self.masked, self.baseline, self.stackmix, self.stackgen)


def default_dest() -> Path:
    """``$CAMWALLS_PAPER_ASSETS`` or ``~/.cache/camwalls/paper``."""
    return Path(os.environ.get("CAMWALLS_PAPER_ASSETS",
                               Path.home() / ".cache" / "camwalls" / "paper"))


def find_paper_assets(root) -> PaperAssets:
    """Look anywhere under ``root`` for the two checkpoints (by file name, not empty) and for
    folders named ``stackmix`` / ``stackgen`` (any case) that hold images (not empty); the
    shallowest match wins. Archives are not looked into: :func:`fetch_paper_assets` unpacks
    and verifies them."""
    if not isinstance(root, (str, os.PathLike)):
        raise BadType(f"root must be a folder path, got {root!r:.60} ({type(root).__name__}).")
    root = Path(root)
    if not root.is_dir():
        return PaperAssets(None, None, None, None)
    paths = sorted(root.rglob("*"), key=lambda p: (len(p.parts), str(p)))

    def file(name):
        return next((p for p in paths if p.is_file() and p.name == name
                     and p.stat().st_size > 0), None)

    def images(name):
        return next((p for p in paths if p.is_dir() and p.name.lower() == name
                     and any(q.suffix.lower() in (".png", ".jpg", ".jpeg") and q.is_file()
                             and q.stat().st_size > 0 for q in p.iterdir())), None)

    return PaperAssets(file(_MASKED), file(_BASELINE), images("stackmix"), images("stackgen"))


def _unpack(root: Path) -> None:
    """Unpack every zip archive under ``root`` beside itself (``datasets.zip`` ->
    ``datasets/``), verified: the archive's CRCs are checked before anything is written, each
    member is written atomically (temporary file, then ``os.replace``), and a member already
    on disk is kept only if its size and CRC match the archive's -- so a rerun repairs what an
    interrupted or failed run left incomplete."""
    for archive in sorted(root.rglob("*.zip")):
        target = archive.with_suffix("")
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            for m in members:
                if not (target / m.filename).resolve().is_relative_to(target.resolve()):
                    raise BadValue(f"{archive} holds {m.filename!r}, a path outside the "
                                   "archive's folder: refusing to unpack it.")
            try:
                bad = z.testzip()
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                bad = f"? ({e})"
            if bad is not None:
                raise CorruptFile(f"{archive} is damaged: its member {bad} does not match its "
                                  "checksum (CRC). Nothing was unpacked from it; delete the "
                                  "archive and download it again.")
            for m in members:
                out = target / m.filename
                if not _same(out, m):
                    validate.atomic_write_bytes(out, z.read(m))


def _same(path: Path, member: zipfile.ZipInfo) -> bool:
    """``path`` holds exactly ``member``'s bytes (size and CRC-32)."""
    if not path.is_file() or path.stat().st_size != member.file_size:
        return False
    crc = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(chunk, crc)
    return crc == member.CRC


def _online(host: str = "drive.google.com", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def fetch_paper_assets(dest=None, quiet: bool = False) -> PaperAssets:
    """The authors' checkpoints and images under ``dest`` (default :func:`default_dest`),
    downloaded once with ``gdown`` from :data:`DRIVE_FOLDER_ID`.

    Raises ``ImportError`` without gdown (``pip install "camwalls[paper]"``),
    ``ConnectionError`` at once when Google Drive cannot be reached, and
    ``FileNotFoundError`` naming what is missing if the folder's content is not the expected
    one (two checkpoints, the stackmix/ and stackgen/ images), and
    :class:`~camwalls_lib.errors.CorruptFile` for an archive whose CRCs do not match. Zip
    archives are verified and unpacked atomically member by member; a rerun re-checks every
    unpacked file against its archive and rewrites those that differ.
    """
    dest = Path(dest) if dest is not None else default_dest()
    if dest.is_dir():
        _unpack(dest)                   # verify (and repair) what an earlier run unpacked
    found = find_paper_assets(dest)
    if found.complete:
        return found
    try:
        import gdown
    except ImportError:
        raise ImportError("Downloading the authors' assets needs gdown: "
                          'pip install "camwalls[paper]" (or pip install gdown).') from None
    if not _online():
        raise ConnectionError(
            "Google Drive is not reachable from here, so the authors' checkpoints cannot be "
            "downloaded. Run this on a machine with internet access (e.g. Colab), or download "
            f"the folder https://drive.google.com/drive/folders/{DRIVE_FOLDER_ID} by hand into "
            f"{dest} (or set CAMWALLS_PAPER_ASSETS to where it is).")
    dest.mkdir(parents=True, exist_ok=True)
    gdown.download_folder(id=DRIVE_FOLDER_ID, output=str(dest), quiet=quiet)
    _unpack(dest)
    found = find_paper_assets(dest)
    if not found.complete:
        missing = [k for k, v in vars(found).items() if v is None]
        raise FileNotFoundError(
            f"The downloaded folder {dest} lacks {', '.join(missing)} (expected "
            f"{_MASKED}, {_BASELINE} and stackmix/ + stackgen/ image folders, possibly inside "
            "a zip). The authors may have changed its layout: look inside and point "
            "CAMWALLS_PAPER_ASSETS to a folder arranged as expected.")
    return found
