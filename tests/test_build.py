"""`fasprep build DATASET` end to end on a mock tree of every adapter: real names, real faces, a
real injected pulse, the dataset's own annotations.

Per adapter, one tree covering every label is built once per session with loky (the reference)
and checked against the contract. The build machinery (rebuild, kill and resume, Dask, a failing
video, a dying worker) does not depend on the adapter, so each of those cases runs on one adapter,
spread so that every adapter goes through some of them (a full matrix tripled the suite's time).

- siw: real SiW ids of two subjects (Train and Test) covering every type and medium, ``.face`` boxes;
- oulu-npu: a Train, a Dev and a Test user, portrait videos, phone 1's stored turned by 90 degrees
  (the decoder must take the orientation from the container), eye-position files;
- folder: two subjects under live/, print/ and replay/ folders, labels from the folder names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import siw_tree
from build_content import assert_same_content as _assert_same_content
from build_content import content as _content
from cli_run import fasprep_cli
from sfm import DEPTH_SOURCE, SFM_DIR, build_cli_args

from fasprep import shards
from fasprep.build import BuildConfig, build
from fasprep.datasets import Scan, get_dataset, read_protocol
from fasprep.synth.mock_tree import (
    MOCK_SIZE,
    folder_codes,
    make_siw_tree,
    make_tree,
    oulu_codes,
    oulu_rotation,
    read_truth,
)

pytestmark = pytest.mark.slow

# Every (type, medium) of SiW over two subjects: the Train one has live 1, print 1, replay 1-2;
# the Test one live 2, print 2, replay 3-4.
TRAIN_COMBOS = {(1, 1), (2, 1), (3, 1), (3, 2)}
TEST_COMBOS = {(1, 2), (2, 2), (3, 3), (3, 4)}
SECONDS, ATTACK_SECONDS = 8.0, 3.0
ADAPTERS = ("siw", "oulu-npu", "folder")
#: Codes of two attacks the trees do not have, for the failing-video test.
SPARE_ATTACKS = {
    "siw": [{"split": "Train", "subject": 90, "sensor": 1, "type": 2, "medium": 1, "session": 1},
            {"split": "Train", "subject": 90, "sensor": 1, "type": 3, "medium": 1, "session": 1}],
    "oulu-npu": oulu_codes(users={"Train": [5]}, phones=(3,), files=(2, 4)),
    "folder": folder_codes(["zed"], labels=("print", "replay")),
}


def _ids() -> list[str]:
    chosen = []
    for vid in siw_tree.real_ids(1, 1):
        split, codes = vid.split("/", 1)[0], tuple(int(c) for c in vid.rsplit("/", 1)[1].split(".")[0].split("-"))
        combo = (codes[2], codes[3])
        if combo in (TRAIN_COMBOS if split == "Train" else TEST_COMBOS):
            chosen.append(vid)
    return chosen


@dataclass(frozen=True)
class Tree:
    dataset: str
    root: Path

    @property
    def n(self) -> int:
        return len(read_truth(self.root))


def _faces(subjects) -> dict:
    photos = siw_tree.real_faces(range(len(subjects)))
    return dict(zip(subjects, photos.values()))


@pytest.fixture(scope="session", params=ADAPTERS)
def mock_tree(request, tmp_path_factory):
    dataset = request.param
    pulse = siw_tree.welltory_pulse_source(seed=1)
    kw = dict(pulse=pulse, seconds=SECONDS, attack_seconds=ATTACK_SECONDS, seed=1)
    if dataset == "siw":
        root = tmp_path_factory.mktemp("siw") / "SiW_release"
        ids = _ids()
        make_siw_tree(root, ids, faces=siw_tree.real_faces(sorted({int(v.rsplit("/", 2)[1]) for v in ids})), **kw)
    elif dataset == "oulu-npu":
        root = tmp_path_factory.mktemp("oulu") / "Oulu_NPU"
        codes = (oulu_codes(users={"Train": [1]}, phones=(2,), files=(1, 2, 4))
                 + oulu_codes(users={"Dev": [21]}, phones=(2,), files=(3,))
                 + oulu_codes(users={"Test": [36]}, phones=(1,), sessions=(3,), files=(1, 5)))
        make_tree(dataset, root, codes, faces=_faces([1, 21, 36]), size=MOCK_SIZE[dataset],
                  rotation_deg=oulu_rotation, **kw)
    else:
        root = tmp_path_factory.mktemp("folder") / "videos"
        codes = folder_codes(["alice"], labels=("live", "print")) + folder_codes(["bob"], labels=("live", "replay"))
        make_tree(dataset, root, codes, faces=_faces(["alice", "bob"]), size=MOCK_SIZE[dataset], **kw)
    return Tree(dataset, root)


def on(*datasets):
    """Run a test on these adapters' trees only."""
    return pytest.mark.parametrize("mock_tree", datasets, indirect=True)


@pytest.fixture(scope="session")
def sfm_dir():
    return SFM_DIR


def config(**kw) -> BuildConfig:
    """The test builds' config: sfm depth where the model is installed, else mesh depth."""
    return BuildConfig(depth_source=DEPTH_SOURCE, **kw)


@pytest.fixture(scope="session")
def reference(mock_tree, sfm_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    result = build(mock_tree.dataset, mock_tree.root, out, config=config(), workers=2, sfm_dir=sfm_dir, progress=False)
    return out, result


def test_mock_tree_builds_to_the_contract(mock_tree, reference):
    out, result = reference
    assert result.n_failed == 0 and result.n_ok == mock_tree.n and result.exit_code == 0
    truth = {v.video_id: v for v in read_truth(mock_tree.root)}
    adapter = get_dataset(mock_tree.dataset)
    records = {r.video_id: r for r in adapter.scan(mock_tree.root).records}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "fasprep-shards" and manifest["dataset"] == mock_tree.dataset
    assert manifest["version"] == 2
    assert {"version", "fasprep_version", "config", "config_hash", "videos", "shards"} <= set(manifest)
    for s in manifest["shards"]:
        assert shards.file_sha256(out / s["path"]) == s["sha256"]
    labels = set()
    for vid, rec in manifest["videos"].items():
        assert {"shard", "status", "error", "n_frames", "label"} <= set(rec)
        r = records[vid]
        assert (rec["split"], rec["subject"], rec["attack"], rec["label"]) == (r.split, r.subject, r.attack, r.label)
        labels.add(rec["label"])
        with shards.open_video(out, vid) as g:
            # exactly the contract's datasets and attributes
            assert set(g) == set(shards.SCHEMA) | {"frames", "rppg_fft"}
            assert shards.check_group(g, depth_size=32, crop_size=256, n_bins=50) == []
            assert set(g.attrs) == set(shards.GROUP_ATTRS) | set(r.codes)  # the dataset's codes, nothing faked
            assert {k: g.attrs[k] for k in r.attrs} == r.attrs and g.attrs["dataset"] == mock_tree.dataset
            # orientation from the container: phone 1's OULU videos are stored turned by 90 degrees
            turned = mock_tree.dataset == "oulu-npu" and r.codes["phone"] == 1
            assert g.attrs["rotation_deg"] == (90 if turned else 0)
            if mock_tree.dataset == "oulu-npu":  # decoded as displayed: portrait 288 x 512, the face upright
                lm = g["landmarks"][:][g["face_ok"][:]]
                assert np.nanmax(lm[..., 0]) < 288 and np.nanmin(lm[..., 0]) > 0
                chin_below_eyes = lm[:, 8, 1] - lm[:, 36:48, 1].mean(axis=1)
                assert np.all(chin_below_eyes > 2 * np.abs(lm[:, 8, 0] - lm[:, 36:48, 0].mean(axis=1)))
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
    protocols = adapter.protocols(adapter.scan(mock_tree.root).records)
    for name, splits in protocols.items():
        for split, rows in splits.items():
            assert read_protocol(out, name, split) == rows


@on("folder")
def test_rebuild_skips_and_config_change_redoes(mock_tree, reference, sfm_dir, tmp_path):
    out, _ = reference
    raw, n, dataset = mock_tree.root, mock_tree.n, mock_tree.dataset
    again = build(dataset, raw, out, config=config(), workers=1, sfm_dir=sfm_dir, progress=False)
    assert again.n_processed == 0 and again.n_skipped == n and again.n_ok == n
    # A smaller shard size only repacks (from the shards: the parts are gone), then back again.
    total = sum(s["bytes"] for s in shards.read_manifest(out)["shards"])
    before = _content(out)
    repacked = build(dataset, raw, out, config=config(), workers=1, sfm_dir=sfm_dir, progress=False,
                     shard_bytes=total // 3)
    assert repacked.n_processed == 0 and repacked.shards >= 3
    assert shards.verify(out) == ([], [])
    _assert_same_content(before, _content(out))
    assert build(dataset, raw, out, config=config(), workers=1, sfm_dir=sfm_dir, progress=False).shards == again.shards
    # A different label config redoes only what it must: here every video (the depth size).
    small = tmp_path / "small"
    one = [r for r in get_dataset(dataset).scan(raw).records if r.label == "print"][:1]
    scan = Scan(root=raw, records=one, unknown=[], warnings=[])
    first = build(dataset, raw, small, config=config(depth_size=16), scan=scan, sfm_dir=sfm_dir,
                  progress=False)
    second = build(dataset, raw, small, config=config(depth_size=16, jpeg_quality=80), scan=scan,
                   sfm_dir=sfm_dir, progress=False)
    assert first.n_processed == 1 and second.n_processed == 1
    with shards.open_video(small, one[0].video_id) as g:
        assert g["depth"].shape[1:] == (16, 16)


@on("oulu-npu")
def test_killed_build_resumes_to_the_same_content(mock_tree, reference, sfm_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fasprep", "build", mock_tree.dataset, str(mock_tree.root), str(out), "--workers", "1",
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
    assert f"{mock_tree.n - done_before} processed now, {done_before} done before" in resumed.stdout
    _assert_same_content(_content(reference[0]), _content(out))
    assert not list(out.rglob(".*.tmp*"))  # no temp files left behind
    assert fasprep_cli("verify", out).returncode == 0


@on("folder")
def test_dask_backend_gives_the_same_content(mock_tree, reference, sfm_dir, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        result = build(mock_tree.dataset, mock_tree.root, tmp_path / "out", config=config(), backend="dask",
                       scheduler=cluster.scheduler_address, sfm_dir=sfm_dir, progress=False)
    assert result.n_ok == mock_tree.n
    _assert_same_content(_content(reference[0]), _content(tmp_path / "out"))


@on("oulu-npu")
def test_a_failing_video_is_recorded_and_the_rest_go_on(mock_tree, sfm_dir, tmp_path, real_data):
    adapter = get_dataset(mock_tree.dataset)
    raw = tmp_path / "raw"
    keep = [r.path for r in adapter.scan(mock_tree.root).records if r.label == "live"][:1]
    for p in keep:
        dest = raw / p.relative_to(mock_tree.root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(p, dest)
    names = [adapter.video_name(c) for c in SPARE_ATTACKS[mock_tree.dataset]]
    bad, noface = raw / names[0], raw / names[1]
    bad.parent.mkdir(parents=True, exist_ok=True)
    noface.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(100))  # a truncated .mov
    os.symlink(real_data / "video" / "no_face.mp4", noface)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fasprep", "build", mock_tree.dataset, str(raw), str(out), *build_cli_args(),
           "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr
    failures = (out / "failures.csv").read_text().splitlines()
    assert failures[0] == "video_id,label,error" and len(failures) == 3
    bad_id, noface_id = (n.rsplit(".", 1)[0] for n in names)
    assert any(bad_id in f and "truncated" in f for f in failures)
    assert any(noface_id in f and "no face" in f for f in failures)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(r["status"] == "ok" for r in manifest["videos"].values()) == 1
    assert fasprep_cli("verify", out).returncode == 0
    # fixed input + --redo-failed: retried, now built
    noface.unlink()
    os.symlink(keep[0], noface)
    proc = subprocess.run([*cmd, "--redo-failed"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3 and "2 processed now, 1 done before" in proc.stdout
    assert json.loads((out / "manifest.json").read_text())["videos"][noface_id]["status"] == "ok"


CRASHER = """
# Loaded at start-up by every Python process of the build (PYTHONPATH): the worker that takes
# the video FASPREP_TEST_CRASH names dies the way a segfault or the OOM killer would kill it.
import os
import fasprep.build as b

_label = b.label_video


def label_video(record, *args, **kwargs):
    if record.video_id == os.environ["FASPREP_TEST_CRASH"]:
        os._exit(139)
    return _label(record, *args, **kwargs)


b.label_video = label_video
"""


@on("siw")
def test_a_dying_worker_is_retried_then_recorded(mock_tree, sfm_dir, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CRASHER)
    records = get_dataset(mock_tree.dataset).scan(mock_tree.root).records
    victim = [r.video_id for r in records if r.label == "replay"][-1]
    # the victim and one print video beside it (the machinery is per video; a 3 s attack, not an
    # 8 s live video, to keep the case short)
    keep = {victim, next(r.video_id for r in records if r.label == "print")}
    raw = siw_tree.link_videos(mock_tree.root, tmp_path / "raw", {v.rsplit("/", 1)[1] for v in keep})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
               FASPREP_TEST_CRASH=victim)
    out = tmp_path / "out"
    # SiW through the build-siw alias, the others through build DATASET
    command = ["build-siw"] if mock_tree.dataset == "siw" else ["build", mock_tree.dataset]
    cmd = [sys.executable, "-m", "fasprep", *command, str(raw), str(out), *build_cli_args(), "--no-progress"]
    proc = subprocess.run([*cmd, "--workers", "2"], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "a worker process died" in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["videos"][victim]["status"] == "failed"
    assert "died 3 times" in manifest["videos"][victim]["error"]
    n = len(keep)
    assert len(manifest["videos"]) == n and sum(r["status"] == "ok" for r in manifest["videos"].values()) == n - 1
    assert fasprep_cli("verify", out).returncode == 0
    # without the crash, --redo-failed builds it
    again = subprocess.run([*cmd, "--redo-failed"], capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and f"1 processed now, {n - 1} done before" in again.stdout


def test_info_cli(reference):
    out, _ = reference
    info = fasprep_cli("info", str(out), "--json")
    assert info.returncode == 0
    summary = json.loads(info.stdout)
    assert summary["ok"] == len(json.loads((out / "manifest.json").read_text())["videos"]) and summary["failed"] == 0 and summary["frames"] > 0
    assert summary["bytes_per_frame"] < 25e3
    assert summary["live_snr_db"]["median"] > summary["spoof_snr_db"]["median"]
    assert "live HR" in fasprep_cli("info", str(out)).stdout
    # Heart rates: the 8 s live clips' are reliable, the 3 s attacks' flagged (never a bare number).
    videos = json.loads((out / "manifest.json").read_text())["videos"].values()
    assert all(r["hr_reliable"] == (r["label"] == "live") for r in videos)
    assert all("under 5 s is unreliable" in r["hr_note"] for r in videos if r["label"] != "live")
    assert summary["live_hr_unreliable"] == {} and set(summary["rejected_frames"]) == {"frames", "videos"}
    assert all(isinstance(r["rejected_frames"], dict) for r in videos)


@on("siw")
def test_preview_and_verify_cli(mock_tree, reference, tmp_path):
    """Neither depends on the adapter: one tree."""
    out, _ = reference
    vid = next(v for v, r in json.loads((out / "manifest.json").read_text())["videos"].items() if r["label"] == "live")
    png = tmp_path / "qc.png"
    assert fasprep_cli("preview", str(out), "--video", vid, "--png", str(png)).returncode == 0
    import cv2

    sheet = cv2.imread(str(png))
    assert sheet is not None and sheet.shape[0] > 400 and sheet.shape[1] > 800
    bad = fasprep_cli("preview", str(out), "--video", "Train/live/999/nope", "--png", str(png))
    assert bad.returncode == 2 and "not in the build" in bad.stderr
    old = fasprep_cli("preview", str(out), "--video", vid, "--out", str(tmp_path / "old.png"))  # the old spelling
    assert old.returncode == 0 and "--out is now --png" in old.stderr and (tmp_path / "old.png").is_file()

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
    res = fasprep_cli("verify", str(copy))
    assert res.returncode == 1 and "sha256 mismatch" in res.stdout and shard.name in res.stdout


def test_build_errors_are_one_line(tmp_path):
    res = fasprep_cli("build-siw", str(tmp_path / "nowhere"), str(tmp_path / "out"), timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "nowhere" in res.stderr
    (tmp_path / "raw" / "Train" / "live" / "001").mkdir(parents=True)
    (tmp_path / "raw" / "Train" / "live" / "001" / "001-1-1-1-1.mov").write_bytes(b"")
    env = dict(os.environ, FASPREP_SFM_DIR=str(tmp_path / "no-model"))
    res = fasprep_cli("build-siw", str(tmp_path / "raw"), str(tmp_path / "out"), env=env, timeout=120)
    assert res.returncode == 2 and "Surrey Face Model not found" in res.stderr
    res = fasprep_cli("build-siw", str(tmp_path / "raw"), str(tmp_path / "out"), "--scheduler", "tcp://x:1", timeout=120)
    assert res.returncode == 2 and "--backend dask" in res.stderr
