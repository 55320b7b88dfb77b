"""The output format: docs/format.md against the schema in code; version-1 builds still read; a
SiW build unchanged by the dataset layer apart from the new attributes.

tests/data/siw/v1_build is a version-1 build made by fasprep before the dataset layer (commit
d834821) of two SiW-named copies of tests/data/video/single_face.mp4 (a live video and a print),
with ``build-siw --depth-source mesh --crop-size 64 --depth-size 8 --frame-stride 2``;
tests/data/siw/v1_protocols.json holds the sha256 of every protocol file that version wrote for
placeholders of the 4,469 real SiW ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasprep import shards
from fasprep.build import BuildConfig, build
from fasprep.datasets import DATASETS, write_protocols
from fasprep.datasets.siw import scan_siw, siw_protocols
from fasprep.errors import InputError

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
V1_BUILD = DATA / "siw" / "v1_build"
V1_IDS = ("Train/live/003/003-1-1-1-1", "Train/spoof/003/003-1-2-1-1")
V1_CONFIG = dict(depth_source="mesh", crop_size=64, depth_size=8, frame_stride=2)


def _tables(text: str) -> dict[str, dict[str, list[str]]]:
    """Section title -> {first cell name: the other cells} of every table row whose first cell is a
    `name` in backticks."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        m = re.match(r"\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if m:
            out.setdefault(section, {})[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return out


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def test_format_document_matches_the_schema_in_code():
    tables = _tables((REPO / "docs" / "format.md").read_text())
    datasets = tables["Datasets of a video group"]
    assert {k: (v[0].strip("`"), v[1].strip("`")) for k, v in datasets.items()} == {
        k: (_shape(f.shape), f.dtype) for k, f in shards.DATASET_SCHEMA.items()}
    attrs = tables["Group attributes"]
    assert {k: v[0] for k, v in attrs.items()} == {k: f.dtype for k, f in shards.ATTR_SCHEMA.items()}
    manifest = tables["Manifest"]
    assert {k: v[0] for k, v in manifest.items()} == {k: f.dtype for k, f in shards.MANIFEST_VIDEO_SCHEMA.items()}
    assert all(("optional" in manifest[k][1]) != f.required for k, f in shards.MANIFEST_VIDEO_SCHEMA.items())
    # every registered dataset is documented
    text = (REPO / "docs" / "format.md").read_text()
    assert all(f"| {name} |" in text for name in DATASETS)
    assert "docs/format.md" in (REPO / "README.md").read_text()


def test_siw_protocol_files_are_byte_identical_to_version_1(tmp_path):
    raw = tmp_path / "SiW_release"
    for vid in (DATA / "siw" / "siw_files.txt").read_text().split():
        p = raw / f"{vid}.mov"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    written = write_protocols(tmp_path / "out", siw_protocols(scan_siw(raw).records))
    expected = json.loads((DATA / "siw" / "v1_protocols.json").read_text())
    got = {f"{p.parent.name}/{p.name}": {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                                          "rows": len(p.read_text().splitlines()) - 1} for p in written}
    assert got == expected


def test_version_1_builds_are_still_read(tmp_path):
    assert shards.verify(V1_BUILD) == ([], [])
    manifest = shards.read_manifest(V1_BUILD)
    assert manifest["version"] == 1
    with shards.open_video(V1_BUILD, V1_IDS[0], manifest) as g:
        assert shards.read_frames(g, 0, 5).shape == (5, 64, 64, 3)
        assert "attack" not in g.attrs and g.attrs["sensor"] == 1
    from fasprep.report import build_summary

    assert build_summary(V1_BUILD)["counts"] == {"Train": {"live": [1, 0], "print": [1, 0]}}
    # a version this fasprep does not know: one clear error saying what to do
    newer = tmp_path / "newer"
    shutil.copytree(V1_BUILD, newer)
    (newer / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(InputError, match="version 99.*rebuild it"):
        shards.read_manifest(newer)


def _decoded(group) -> np.ndarray:
    return shards.read_frames(group, 0, None).astype(np.float64)


def test_siw_build_content_is_unchanged_apart_from_the_new_attributes(tmp_path):
    raw = tmp_path / "raw"
    for vid in V1_IDS:
        (raw / vid).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / "video" / "single_face.mp4", raw / f"{vid}.mov")
    out = tmp_path / "out"
    result = build("siw", raw, out, config=BuildConfig(**V1_CONFIG), progress=False)
    assert result.n_ok == 2
    old, new = shards.read_manifest(V1_BUILD), shards.read_manifest(out)
    # the labels of label versions 2 (per-video depth scale, quality gate, harmonic-robust HR) and
    # 3 (MediaPipe's Tasks API Face Landmarker) give another config hash; the rest is compared below
    assert new["version"] == 2 and new["label_version"] == 3 and old.get("label_version", 1) == 1
    for name in ("siw-p1/train.csv", "siw-p1/test.csv", "siw-p3-1/train.csv", "siw-p2-2/test.csv"):
        assert (out / "protocols" / name).read_text() == (V1_BUILD / "protocols" / name).read_text()
    assert shards.verify(out) == ([], [])
    for vid in V1_IDS:
        o, n = old["videos"][vid], new["videos"][vid]
        assert {k: o[k] for k in o if k not in ("hr_bpm", "snr_db", "shard", "bytes", "warnings")} == \
            {k: n[k] for k in o if k not in ("hr_bpm", "snr_db", "shard", "bytes", "warnings")}
        # No pulse in this 2.4 s clip: its SNR is noise, which label version 3's tracker (another
        # skin region, frame by frame) draws anew (-4.0 dB in version 1, -9.2 now); it stays low.
        assert n["snr_db"] < 0 and o["snr_db"] < 0
        assert (n["split"], n["subject"], n["attack"]) == ("Train", 3, "live" if "live" in vid else "print-1")
        with shards.open_video(V1_BUILD, vid, old) as a, shards.open_video(out, vid, new) as b:
            assert set(a) == set(b)
            # every version-1 attribute with its value; the new ones besides
            for key, value in a.attrs.items():
                if key in ("hr_bpm", "snr_db"):  # label version 2's HR estimate; checked in the manifest
                    continue
                if isinstance(value, (float, np.floating)):
                    assert np.isclose(value, b.attrs[key], rtol=1e-3, equal_nan=True), (vid, key)
                else:
                    assert value == b.attrs[key], (vid, key)
            assert set(b.attrs) - set(a.attrs) == {"dataset", "split", "attack", "codes", "type", "rotation_deg",
                                                   "hr_reliable", "rejected_frames"}
            # The same labels as far as label version 3 allows: its tracker (MediaPipe's Tasks API)
            # puts the landmarks 0.8 px apart on average (worst 3.7 px) on this 640x360 clip, which
            # moves the crops (mean 5.1 grey levels apart at 64 px) and the NRR grid (2 % of its
            # range); the clip has no pulse, so its rPPG trace is noise drawn anew. Measured
            # values in brackets; bounds with margin.
            fa, fb = _decoded(a), _decoded(b)
            assert fa.shape == fb.shape and np.abs(fa - fb).mean() < 8.0, vid  # [5.1]
            ok = a["face_ok"][:]
            assert np.array_equal(ok, b["face_ok"][:]) and np.array_equal(a["frame_index"][:], b["frame_index"][:])
            for name, bound in (("depth_mask", 0.02), ("nrr_grid", 0.04), ("box", 0.01)):  # [0.004, 0.020, 0.002]
                x, y = a[name][:].astype(float), b[name][:].astype(float)
                assert np.nanmean(np.abs(x - y)) <= bound * max(np.nanmax(np.abs(x)), 1e-6), (vid, name)
            assert a["rppg"].shape == b["rppg"].shape and a["rppg_fft"].shape == b["rppg_fft"].shape
            # depth: per video, not per frame, since version 2; version 3's landmarks: r measured 0.952
            x, y = a["depth"][:].astype(float), b["depth"][:].astype(float)
            if x.any():
                inside = a["depth_mask"][:]
                assert np.corrcoef(x[inside], y[inside])[0, 1] > 0.9, vid
            else:
                assert not y.any(), vid
            lm_a, lm_b = a["landmarks"][:][ok], b["landmarks"][:][ok]
            assert np.abs(lm_a - lm_b).mean() < 1.5 and np.abs(lm_a - lm_b).max() < 6, vid  # [0.76, 3.7] px
    assert cv2 is not None
