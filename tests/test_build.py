"""build-siw end to end on a mock SiW tree: real SiW names, real faces, a real injected pulse.

One tree of two subjects (Train and Test) covering every type and medium is built once per
session with loky (the reference); the kill-and-resume and Dask cases build it again and must
give the same content.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fasprep import shards
from fasprep.build import BuildConfig, build
from sfm import DEPTH_SOURCE, SFM_DIR, build_cli_args
from fasprep.datasets import read_protocol, scan_siw, siw_protocols
from fasprep.mock_siw import make_siw_tree, read_truth

import siw_tree

pytestmark = pytest.mark.slow

# Every (type, medium) of SiW over two subjects: the Train one has live 1, print 1, replay 1-2;
# the Test one live 2, print 2, replay 3-4.
TRAIN_COMBOS = {(1, 1), (2, 1), (3, 1), (3, 2)}
TEST_COMBOS = {(1, 2), (2, 2), (3, 3), (3, 4)}
SECONDS, ATTACK_SECONDS = 8.0, 3.0


def _ids() -> list[str]:
    chosen = []
    for vid in siw_tree.real_ids(1, 1):
        split, codes = vid.split("/", 1)[0], tuple(int(c) for c in vid.rsplit("/", 1)[1].split(".")[0].split("-"))
        combo = (codes[2], codes[3])
        if combo in (TRAIN_COMBOS if split == "Train" else TEST_COMBOS):
            chosen.append(vid)
    return chosen


@pytest.fixture(scope="session")
def mock_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("siw") / "SiW_release"
    ids = _ids()
    subjects = sorted({int(v.rsplit("/", 2)[1]) for v in ids})
    make_siw_tree(root, ids, faces=siw_tree.real_faces(subjects), pulse=siw_tree.welltory_pulse_source(seed=1),
                  seconds=SECONDS, attack_seconds=ATTACK_SECONDS, seed=1)
    return root


@pytest.fixture(scope="session")
def sfm_dir():
    return SFM_DIR


def config(**kw) -> BuildConfig:
    """The test builds' config: sfm depth where the model is installed, else mesh depth."""
    return BuildConfig(depth_source=DEPTH_SOURCE, **kw)


@pytest.fixture(scope="session")
def reference(mock_tree, sfm_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    result = build("siw", mock_tree, out, config=config(), workers=2, sfm_dir=sfm_dir, progress=False)
    return out, result


def _content(out: Path) -> dict:
    """Everything a trainer reads, per video: decoded datasets and group attributes."""
    manifest = shards.read_manifest(out)
    content = {}
    for vid, rec in manifest["videos"].items():
        if rec["status"] != "ok":
            content[vid] = rec["error"]
            continue
        with shards.open_video(out, vid, manifest) as g:
            content[vid] = {name: (np.array([bytes(b) for b in g[name][:]], dtype=object) if name == "frames"
                                   and g[name].attrs["codec"] == "jpeg" else g[name][:]) for name in g}
            content[vid]["attrs"] = dict(g.attrs)
    return content


def _assert_same_content(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for vid in a:
        assert type(a[vid]) is type(b[vid]), vid
        if isinstance(a[vid], str):
            continue
        for name in a[vid]:
            if name == "attrs":
                for key, value in a[vid][name].items():
                    other = b[vid][name][key]
                    if isinstance(value, (float, np.floating)):
                        assert np.isclose(value, other, rtol=1e-4, equal_nan=True), (vid, key)
                    else:
                        assert value == other, (vid, key)
            elif name == "frames":
                assert np.array_equal(a[vid][name], b[vid][name]), vid
            else:
                np.testing.assert_allclose(a[vid][name].astype(float), b[vid][name].astype(float),
                                           atol=2e-3, err_msg=f"{vid}/{name}")


def test_mock_tree_builds_to_the_contract(mock_tree, reference):
    out, result = reference
    assert result.n_failed == 0 and result.n_ok == 8 and result.exit_code == 0
    truth = {v.video_id: v for v in read_truth(mock_tree)}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "fasprep-shards" and manifest["dataset"] == "siw"
    assert {"version", "fasprep_version", "config", "config_hash", "videos", "shards"} <= set(manifest)
    for s in manifest["shards"]:
        assert shards.file_sha256(out / s["path"]) == s["sha256"]
    labels = set()
    for vid, rec in manifest["videos"].items():
        assert {"shard", "status", "error", "n_frames", "label"} <= set(rec)
        labels.add(rec["label"])
        with shards.open_video(out, vid) as g:
            # exactly the contract's datasets and attributes
            assert set(g) == set(shards.SCHEMA) | {"frames", "rppg_fft"}
            assert shards.check_group(g, depth_size=32, crop_size=256, n_bins=50) == []
            assert set(shards.GROUP_ATTRS) <= set(g.attrs)
            T = g["frames"].shape[0]
            assert T == rec["n_frames"] == g.attrs["n_frames_source"]
            assert g["frames"].attrs["codec"] == "jpeg"
            crops = shards.read_frames(g, 0, 5)
            assert crops.shape == (5, 256, 256, 3)
            depth, mask, ok = g["depth"][:].astype(float), g["depth_mask"][:], g["face_ok"][:]
            assert ok.mean() > 0.9, vid
            grid = g["nrr_grid"][:]
            assert np.all(np.abs(grid) <= 1) and np.ptp(grid[ok]) > 0.5  # spoofs keep their grid
            assert np.all(np.isfinite(g["landmarks"][ok]))
            fft = g["rppg_fft"][:]
            if rec["label"] == "live":
                assert np.all(depth[~mask] == 0) and depth[mask].mean() > 0.3, vid
                assert np.all(depth.max(axis=(1, 2))[ok] > 0.9)  # near = 1
                assert np.isclose(np.linalg.norm(fft), 1, atol=1e-3)
                assert abs(g.attrs["hr_bpm"] - truth[vid].hr_bpm) <= 3, (vid, g.attrs["hr_bpm"], truth[vid].hr_bpm)
            else:
                assert not depth.any() and not fft.any(), vid
                assert mask[ok].any(axis=(1, 2)).all()  # fitted anyway
                assert np.any(g["rppg"][:] != 0)  # the pulse signal is kept for QC
    assert labels == {"live", "print", "replay"}
    assert shards.verify(out) == ([], [])
    # protocols written as the file names say
    protocols = siw_protocols(scan_siw(mock_tree).records)
    for name, splits in protocols.items():
        for split, rows in splits.items():
            assert read_protocol(out, name, split) == rows


def test_rebuild_skips_and_config_change_redoes(mock_tree, reference, sfm_dir, tmp_path):
    out, _ = reference
    again = build("siw", mock_tree, out, config=config(), workers=1, sfm_dir=sfm_dir, progress=False)
    assert again.n_processed == 0 and again.n_skipped == 8 and again.n_ok == 8
    # A smaller shard size only repacks (from the shards: the parts are gone), then back again.
    total = sum(s["bytes"] for s in shards.read_manifest(out)["shards"])
    before = _content(out)
    repacked = build("siw", mock_tree, out, config=config(), workers=1, sfm_dir=sfm_dir, progress=False,
                     shard_bytes=total // 3)
    assert repacked.n_processed == 0 and repacked.shards >= 3
    assert shards.verify(out) == ([], [])
    _assert_same_content(before, _content(out))
    assert build("siw", mock_tree, out, config=config(), workers=1, sfm_dir=sfm_dir, progress=False).shards == again.shards
    # A different label config redoes only what it must: here every video (the depth size).
    small = tmp_path / "small"
    one = [r for r in scan_siw(mock_tree).records if r.label == "print"][:1]
    from fasprep.datasets import Scan

    scan = Scan(root=mock_tree, records=one, unknown=[], warnings=[])
    first = build("siw", mock_tree, small, config=config(depth_size=16), scan=scan, sfm_dir=sfm_dir,
                  progress=False)
    second = build("siw", mock_tree, small, config=config(depth_size=16, jpeg_quality=80), scan=scan,
                   sfm_dir=sfm_dir, progress=False)
    assert first.n_processed == 1 and second.n_processed == 1
    with shards.open_video(small, one[0].video_id) as g:
        assert g["depth"].shape[1:] == (16, 16)


def test_killed_build_resumes_to_the_same_content(mock_tree, reference, sfm_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fasprep", "build-siw", str(mock_tree), str(out), "--workers", "1",
           *build_cli_args(), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    def done():  # done-markers; a video in flight has a "started" one
        n = 0
        for p in (out / "parts").rglob("*.json"):
            try:
                n += json.loads(p.read_text())["status"] in ("ok", "failed")
            except (OSError, ValueError):  # renamed away between listing and reading
                pass
        return n

    deadline = time.time() + 300
    while done() < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the build finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    done_before = done()
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{8 - done_before} processed now, {done_before} done before" in resumed.stdout
    _assert_same_content(_content(reference[0]), _content(out))
    assert not list(out.rglob(".*.tmp*"))  # no temp files left behind
    assert subprocess.run([sys.executable, "-m", "fasprep", "verify", str(out)]).returncode == 0


def test_dask_backend_gives_the_same_content(mock_tree, reference, sfm_dir, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        result = build("siw", mock_tree, tmp_path / "out", config=config(), backend="dask",
                       scheduler=cluster.scheduler_address, sfm_dir=sfm_dir, progress=False)
    assert result.n_ok == 8
    _assert_same_content(_content(reference[0]), _content(tmp_path / "out"))


def test_a_failing_video_is_recorded_and_the_rest_go_on(mock_tree, sfm_dir, tmp_path, real_data):
    raw = tmp_path / "raw"
    keep = [p for p in mock_tree.rglob("*.mov") if "/live/" in p.as_posix()][:1]
    for p in keep:
        dest = raw / p.relative_to(mock_tree)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(p, dest)
    bad = raw / "Train" / "spoof" / "090" / "090-1-2-1-1.mov"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(100))  # a truncated .mov
    noface = raw / "Train" / "spoof" / "090" / "090-1-3-1-1.mov"
    os.symlink(real_data / "video" / "no_face.mp4", noface)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "fasprep", "build-siw", str(raw), str(out), *build_cli_args(),
                           "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr
    failures = (out / "failures.csv").read_text().splitlines()
    assert failures[0] == "video_id,label,error" and len(failures) == 3
    assert any("090-1-2-1-1" in f and "truncated" in f for f in failures)
    assert any("090-1-3-1-1" in f and "no face" in f for f in failures)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(r["status"] == "ok" for r in manifest["videos"].values()) == 1
    assert subprocess.run([sys.executable, "-m", "fasprep", "verify", str(out)], capture_output=True).returncode == 0
    # fixed input + --redo-failed: retried, now built
    noface.unlink()
    os.symlink(keep[0], noface)
    proc = subprocess.run([sys.executable, "-m", "fasprep", "build-siw", str(raw), str(out), *build_cli_args(),
                           "--no-progress", "--redo-failed"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3 and "2 processed now, 1 done before" in proc.stdout
    assert json.loads((out / "manifest.json").read_text())["videos"]["Train/spoof/090/090-1-3-1-1"]["status"] == "ok"


CRASHER = """
# Loaded at start-up by every Python process of the build (PYTHONPATH): the worker that takes
# the replay video of medium 2 dies the way a segfault or the OOM killer would kill it.
import os
import fasprep.build as b

_label = b.label_video


def label_video(record, *args, **kwargs):
    if "-1-3-2-" in record.video_id:
        os._exit(139)
    return _label(record, *args, **kwargs)


b.label_video = label_video
"""


def test_a_dying_worker_is_retried_then_recorded(mock_tree, sfm_dir, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CRASHER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "fasprep", "build-siw", str(mock_tree), str(out), "--workers", "2",
                           *build_cli_args(), "--no-progress"], capture_output=True, text=True, timeout=900,
                          env=env)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "a worker process died" in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    dead = [v for v in manifest["videos"] if "-1-3-2-" in v]
    assert len(dead) == 1
    assert manifest["videos"][dead[0]]["status"] == "failed"
    assert "died 3 times" in manifest["videos"][dead[0]]["error"]
    assert sum(r["status"] == "ok" for r in manifest["videos"].values()) == 7
    assert subprocess.run([sys.executable, "-m", "fasprep", "verify", str(out)], capture_output=True).returncode == 0
    # without the crash, --redo-failed builds it
    again = subprocess.run([sys.executable, "-m", "fasprep", "build-siw", str(mock_tree), str(out), "--redo-failed",
                            *build_cli_args(), "--no-progress"], capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "1 processed now, 7 done before" in again.stdout


def test_info_verify_preview_cli(reference, tmp_path):
    out, _ = reference
    run = lambda *a: subprocess.run([sys.executable, "-m", "fasprep", *a], capture_output=True, text=True,  # noqa: E731
                                    timeout=300)
    info = run("info", str(out), "--json")
    assert info.returncode == 0
    summary = json.loads(info.stdout)
    assert summary["ok"] == 8 and summary["failed"] == 0 and summary["frames"] > 0
    assert summary["bytes_per_frame"] < 25e3
    assert summary["live_snr_db"]["median"] > summary["spoof_snr_db"]["median"]
    assert "live HR" in run("info", str(out)).stdout
    # Heart rates: the 8 s live clips' are reliable, the 3 s attacks' flagged (never a bare number).
    videos = json.loads((out / "manifest.json").read_text())["videos"].values()
    assert all(r["hr_reliable"] == (r["label"] == "live") for r in videos)
    assert all("under 5 s is unreliable" in r["hr_note"] for r in videos if r["label"] != "live")
    assert summary["live_hr_unreliable"] == {} and set(summary["rejected_frames"]) == {"frames", "videos"}
    assert all(isinstance(r["rejected_frames"], dict) for r in videos)
    vid = next(v for v, r in json.loads((out / "manifest.json").read_text())["videos"].items() if r["label"] == "live")
    png = tmp_path / "qc.png"
    assert run("preview", str(out), "--video", vid, "--out", str(png)).returncode == 0
    import cv2

    sheet = cv2.imread(str(png))
    assert sheet is not None and sheet.shape[0] > 400 and sheet.shape[1] > 800
    bad = run("preview", str(out), "--video", "Train/live/999/nope", "--out", str(png))
    assert bad.returncode == 2 and "not in the build" in bad.stderr

    # verify fails on a flipped byte, naming the shard
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(out, copy)
    shard = next((copy / "shards").glob("*.h5"))
    with open(shard, "r+b") as f:
        f.seek(shard.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    res = run("verify", str(copy))
    assert res.returncode == 1 and "sha256 mismatch" in res.stdout and shard.name in res.stdout


def test_build_errors_are_one_line(tmp_path):
    run = lambda *a, **kw: subprocess.run([sys.executable, "-m", "fasprep", *a], capture_output=True,  # noqa: E731
                                          text=True, timeout=120, **kw)
    res = run("build-siw", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "nowhere" in res.stderr
    (tmp_path / "raw" / "Train" / "live" / "001").mkdir(parents=True)
    (tmp_path / "raw" / "Train" / "live" / "001" / "001-1-1-1-1.mov").write_bytes(b"")
    env = dict(os.environ, FASPREP_SFM_DIR=str(tmp_path / "no-model"))
    res = run("build-siw", str(tmp_path / "raw"), str(tmp_path / "out"), env=env)
    assert res.returncode == 2 and "Surrey Face Model not found" in res.stderr
    res = run("build-siw", str(tmp_path / "raw"), str(tmp_path / "out"), "--scheduler", "tcp://x:1")
    assert res.returncode == 2 and "--backend dask" in res.stderr
