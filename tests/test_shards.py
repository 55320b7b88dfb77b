"""The shard format: part files written atomically, shards packed by size, verify catches damage."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from fasprep import shards
from fasprep.synth import example_face


def _labels(T: int, S: int = 32, F: int = 50, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "depth": rng.random((T, S, S)), "depth_mask": rng.random((T, S, S)) > 0.5,
        "nrr_grid": rng.uniform(-1, 1, (T, S, S, 2)), "face_ok": np.ones(T, bool),
        "frame_index": np.arange(T), "box": rng.random((T, 4)) * 100, "landmarks": rng.random((T, 68, 2)),
        "rppg": rng.normal(size=T), "rppg_fft": rng.random(F),
    }


_ATTRS = {"dataset": "siw", "split": "Train", "label": "live", "attack": "live", "subject": 3, "sensor": 1,
          "medium": 1, "session": 1, "codes": "sensor,medium,session", "fps": 30.0, "rotation_deg": 0, "hr_bpm": 72.0,
          "snr_db": 3.0, "hr_reliable": True, "rejected_frames": {"yaw": 2},
          "source": "Train/live/003/003-1-1-1-1.mov", "n_frames_source": 12, "fit_rmse_px": 1.5}


def _crops(T: int, size: int = 64) -> list[np.ndarray]:
    import cv2

    face = cv2.resize(example_face(), (size, size), interpolation=cv2.INTER_AREA)
    return [np.roll(face, k, axis=1) for k in range(T)]


def _write_part(path, vid, T=12, codec="jpeg", size=64):
    with shards.PartWriter(path, vid, codec=codec, crop_size=size) as w:
        for c in _crops(T, size):
            w.add_frame(c)
        w.finish(_labels(T), _ATTRS)
    return path


@pytest.mark.parametrize("codec", ["jpeg", "raw"])
def test_part_round_trip(tmp_path, codec):
    vid = "Train/live/003/003-1-1-1-1"
    path = _write_part(tmp_path / "p.h5", vid, T=12, codec=codec)
    with h5py.File(path, "r") as f:
        g = f[shards.group_name(vid)]
        assert shards.check_group(g, depth_size=32, crop_size=64, n_bins=50) == []
        frames = shards.read_frames(g, 3, 8)
        assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.uint8
        want = np.stack(_crops(12)[3:8]).astype(int)
        mse = np.mean((frames.astype(int) - want) ** 2)
        if codec == "raw":
            assert mse == 0
        else:  # JPEG q90: close, not identical
            assert 0 < mse and 10 * np.log10(255 ** 2 / mse) > 30
        assert g["depth"].dtype == np.float16 and g["frames"].attrs["codec"] == codec
        assert g.attrs["label"] == "live" and g.attrs["hr_bpm"] == 72.0
        assert json.loads(g.attrs["rejected_frames"]) == {"yaw": 2} and g.attrs["hr_reliable"]
        # every attribute, the dataset's codes included (a mapping is stored as JSON text)
        assert dict(g.attrs) == {**_ATTRS, "rejected_frames": json.dumps(_ATTRS["rejected_frames"])}


def test_part_is_not_published_on_error(tmp_path):
    path = tmp_path / "p.h5"
    with pytest.raises(ValueError):
        with shards.PartWriter(path, "v", crop_size=64) as w:
            w.add_frame(_crops(1)[0])
            labels = _labels(1)
            labels["rppg"] = np.zeros(5)  # wrong length
            w.finish(labels, _ATTRS)
    with pytest.raises(RuntimeError, match="before finish"):
        with shards.PartWriter(path, "v", crop_size=64) as w:
            w.add_frame(_crops(1)[0])
    assert list(tmp_path.iterdir()) == []  # neither the part nor a temp file is left


def test_shards_are_bounded_and_verified(tmp_path):
    out = tmp_path / "out"
    ids = [f"Train/live/00{k}/00{k}-1-1-1-1" for k in range(1, 6)]
    parts = {v: _write_part(tmp_path / f"{k}.h5", v) for k, v in enumerate(ids)}
    size = parts[ids[0]].stat().st_size
    writer = shards.ShardWriter(out, "siw", max_bytes=int(2.5 * size))
    where = {}
    for v in ids:
        with h5py.File(parts[v], "r") as f:
            where[v] = writer.write(v, f[shards.group_name(v)], size)
    infos = writer.commit()
    assert [i.n_videos for i in infos] == [2, 2, 1]
    assert sorted(set(where.values())) == [i.path for i in infos]
    manifest = {"format": shards.FORMAT, "version": shards.FORMAT_VERSION, "dataset": "siw",
                "config": {"depth_size": 32, "crop_size": 64, "rppg_bins": 50}, "config_hash": "x",
                "videos": {v: {"shard": where[v], "status": "ok", "error": None, "n_frames": 12, "label": "live",
                               "attack": "live", "split": "Train", "subject": 3, "hr_bpm": 72.0, "snr_db": 3.0,
                               "hr_reliable": True, "rejected_frames": {}, "bytes": 1} for v in ids},
                "shards": [vars(i) for i in infos]}
    shards.write_manifest(out, manifest)
    (out / "protocols" / "siw-p1").mkdir(parents=True)
    (out / "protocols" / "siw-p1" / "train.csv").write_text("video_id,label,max_frames\n" +
                                                             "".join(f"{v},live,60\n" for v in ids))
    assert shards.verify(out) == ([], [])
    with shards.open_video(out, ids[3]) as g:
        assert g["depth"].shape == (12, 32, 32)
    # a version-2 manifest without a video's split and subject is a problem
    del manifest["videos"][ids[0]]["split"], manifest["videos"][ids[0]]["subject"]
    shards.write_manifest(out, manifest)
    assert shards.verify(out)[0] == [f"manifest.json: 1 videos lack fields, e.g. {ids[0]}: split, subject"]
    manifest["videos"][ids[0]].update(split="Train", subject=3)
    shards.write_manifest(out, manifest)

    # A protocol listing a video the build does not have is a problem.
    (out / "protocols" / "siw-p1" / "test.csv").write_text("video_id,label,max_frames\nTest/live/999/x,live,\n")
    assert any("not in the build" in p for p in shards.verify(out)[0])
    (out / "protocols" / "siw-p1" / "test.csv").unlink()

    # One flipped byte anywhere in a shard fails its checksum.
    shard = out / infos[1].path
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    problems, _ = shards.verify(out)
    assert problems == [f"{infos[1].path}: sha256 mismatch (file changed or corrupt)"]


def test_verify_reports_schema_problems(tmp_path):
    out = tmp_path / "out"
    vid = "Test/spoof/090/090-1-3-1-1"
    part = _write_part(tmp_path / "p.h5", vid)
    with h5py.File(part, "a") as f:
        del f[shards.group_name(vid)]["nrr_grid"]
    writer = shards.ShardWriter(out, "siw")
    with h5py.File(part, "r") as f:
        path = writer.write(vid, f[shards.group_name(vid)], 1)
    infos = writer.commit()
    shards.write_manifest(out, {"format": shards.FORMAT, "version": shards.FORMAT_VERSION, "dataset": "siw",
                                "config": {"depth_size": 32, "crop_size": 64, "rppg_bins": 50},
                                "videos": {vid: {"shard": path, "status": "ok"}},
                                "shards": [vars(i) for i in infos]})
    problems, _ = shards.verify(out)
    assert f"/videos/{vid}: missing nrr_grid" in problems and "protocols/: missing" in problems


def test_manifest_errors_name_the_folder(tmp_path):
    with pytest.raises(shards.InputError, match="no manifest.json"):
        shards.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(shards.InputError, match="expected 'fasprep-shards'"):
        shards.read_manifest(tmp_path)


def test_new_shards_never_take_a_listed_name_and_damage_is_found(tmp_path):
    out = tmp_path / "out"
    ids = [f"Train/live/00{k}/00{k}-1-1-1-1" for k in range(1, 4)]
    parts = {v: _write_part(tmp_path / f"{k}.h5", v) for k, v in enumerate(ids)}

    def pack(max_bytes):
        writer = shards.ShardWriter(out, "siw", max_bytes=max_bytes, attrs={"config_hash": "x"})
        for v in ids:
            with h5py.File(parts[v], "r") as f:
                writer.write(v, f[shards.group_name(v)], parts[v].stat().st_size)
        return [vars(i) for i in writer.commit()]

    first = pack(1)
    second = pack(1 << 30)  # a repack: a fourth name, the first three untouched
    assert [s["path"] for s in first] == [f"shards/siw-0000{k}.h5" for k in range(3)]
    assert [s["path"] for s in second] == ["shards/siw-00003.h5"]
    with h5py.File(out / second[0]["path"], "r") as f:
        assert f.attrs["config_hash"] == "x" and f.attrs["format"] == shards.FORMAT
    assert shards.damaged_shards(out, first + second) == {}
    cache = json.loads((out / shards.CHECKS_FILE).read_text())
    assert sorted(cache) == sorted(s["path"] for s in first + second)
    os.truncate(out / first[1]["path"], 100)
    (out / first[2]["path"]).unlink()
    assert shards.damaged_shards(out, first + second) == {
        first[1]["path"]: "sha256 mismatch (file changed or corrupt)", first[2]["path"]: "missing"}
