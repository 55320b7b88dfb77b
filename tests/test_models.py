"""Finding and fetching the Surrey Face Model (served from loopback, never the internet)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fasprep import models
from fasprep.errors import ModelAssetError
from sfm import require_sfm


@pytest.fixture()
def sfm_server(tmp_path):
    """A local HTTP server holding a copy of the SFM files; yields (url template, its folder)."""
    served = tmp_path / "served"
    shutil.copytree(require_sfm(), served)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{{name}}", served
    server.shutdown()


def test_fetch_downloads_verifies_and_skips_good_files(sfm_server, tmp_path):
    url, _ = sfm_server
    fetched = []
    dest = models.fetch_sfm(tmp_path / "cache", url=url, progress=fetched.append)
    assert sorted(fetched) == sorted(models.SFM_FILES)
    models.verify_sfm(dest)
    assert models.find_sfm(dest) == dest
    fetched.clear()
    models.fetch_sfm(dest, url=url, progress=fetched.append)
    assert fetched == []  # all present with the right checksum


def test_fetch_rejects_a_corrupt_file(sfm_server, tmp_path):
    url, served = sfm_server
    path = served / "sfm_model_contours.json"
    path.write_bytes(path.read_bytes().replace(b"380", b"381"))
    with pytest.raises(ModelAssetError, match="sfm_model_contours.json: sha256 mismatch"):
        models.fetch_sfm(tmp_path / "cache", url=url)
    assert not (tmp_path / "cache" / "sfm_model_contours.json").exists()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


def test_lookup_order_and_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FASPREP_SFM_DIR", raising=False)
    with pytest.raises(ModelAssetError, match=r"not found in .*xdg/fasprep/sfm \(user cache"):
        models.find_sfm()
    real = Path(require_sfm())
    monkeypatch.setenv("FASPREP_SFM_DIR", str(real))
    assert models.find_sfm() == real
    with pytest.raises(ModelAssetError, match=r"\(--sfm-dir; missing sfm_shape_3448.bin"):
        models.find_sfm(tmp_path)  # an explicit folder wins over the environment


def test_verify_detects_tampering(tmp_path):
    copy = tmp_path / "sfm"
    shutil.copytree(Path(require_sfm()), copy)
    models.verify_sfm(copy)
    (copy / "ibug_to_sfm.txt").write_text("changed")
    with pytest.raises(ModelAssetError, match="ibug_to_sfm.txt: sha256 mismatch"):
        models.verify_sfm(copy)


def test_models_where_cli(tmp_path):
    from click.testing import CliRunner

    from fasprep.cli import main

    real = Path(require_sfm())
    res = CliRunner().invoke(main, ["models", "where", "--sfm-dir", str(real)])
    assert res.exit_code == 0 and res.stdout.strip() == str(real)
    res = CliRunner().invoke(main, ["models", "where", "--sfm-dir", str(tmp_path)])
    assert res.exit_code == 2 and "fasprep: error: Surrey Face Model not found" in res.output


def test_missing_mediapipe_is_one_line_with_the_install_command(tmp_path):
    """A machine without MediaPipe: the CLI says how to install it."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mediapipe' or name.startswith('mediapipe.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'mediapipe'\", name='mediapipe')\n"
        "sys.meta_path.insert(0, _Hide())\n")
    env = {**os.environ, "PYTHONPATH": f"{hide}:{Path(__file__).resolve().parents[1]}"}
    res = subprocess.run([sys.executable, "-m", "fasprep", "depth", str(Path(__file__).parent / "data" / "images"
                          / "silent-face" / "image_T1.jpg"), "--out", str(tmp_path / "o"), "--depth-source", "mesh"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"fasprep: error: MediaPipe (face tracking) is not installed: run `{models.MEDIAPIPE_INSTALL}` "
        "(see README, Install)"]


def test_mediapipe_models_ship_checked_and_a_missing_or_changed_one_is_one_clear_error(monkeypatch):
    """The face tracker's models come from the package (nothing downloaded), checked against
    their sha256; a missing or altered file says to reinstall."""
    import hashlib

    for name, digest in models.MEDIAPIPE_FILES.items():
        assert hashlib.sha256(models.mediapipe_model(name)).hexdigest() == digest
    monkeypatch.setitem(models.MEDIAPIPE_FILES, "face_landmarker.task", "0" * 64)
    with pytest.raises(ModelAssetError, match=r"face_landmarker\.task: sha256 mismatch .*reinstall fasprep"):
        models.mediapipe_model("face_landmarker.task")
    monkeypatch.setitem(models.MEDIAPIPE_FILES, "gone.task", "0" * 64)
    with pytest.raises(ModelAssetError, match=r"gone\.task: MediaPipe model missing from the fasprep package"):
        models.mediapipe_model("gone.task")
    with pytest.raises(ModelAssetError, match="not a MediaPipe model fasprep ships"):
        models.mediapipe_model("pose_landmarker.task")
