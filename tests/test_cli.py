"""The fasprep command as a user runs it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from cli_run import fasprep_cli
from click.testing import CliRunner

from fasprep.cli import main
from fasprep.io import write_video
from fasprep.synth import animate_face, example_face, synthetic_ppg

FPS = 30.0


@pytest.fixture(scope="module")
def pulse_video(tmp_path_factory):
    """12 s of the shipped face photo with an 80 bpm pulse (needs no shared data)."""
    path = tmp_path_factory.mktemp("cli") / "live.mp4"
    pulse = synthetic_ppg(int(12 * FPS), fs=FPS, hr_bpm=80.0, seed=3)
    write_video(path, animate_face(example_face(), pulse, fps=FPS, amplitude=0.005, seed=3), fps=FPS)
    return path



def test_rppg_gt_json_and_files(pulse_video, tmp_path):
    res = CliRunner().invoke(main, ["rppg-gt", str(pulse_video), "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    prefix = tmp_path / f"{pulse_video.stem}_rppg"
    out = json.loads(res.stdout)
    for key in ("hr_bpm", "snr_db", "fps", "n_frames", "face_frames", "method", "hr_track"):
        assert key in out
    assert out["method"] == "chrom" and out["fps"] == 30.0 and out["n_frames"] == 360
    assert abs(out["hr_bpm"] - 80.0) <= 2.0
    assert len(out["hr_track"]["hr_bpm"]) == 3  # 10 s windows, 1 s hop, over 12 s

    rows = list(csv.DictReader(open(f"{prefix}.csv")))
    assert len(rows) == 360 and list(rows[0]) == ["frame", "time_s", "r", "g", "b", "pulse", "face_ok"]
    assert rows[30]["time_s"] == "1.0000" and rows[30]["face_ok"] == "1"
    arrays = np.load(f"{prefix}.npz")
    assert arrays["pulse"].shape == (360,) and arrays["label"].shape == (50,)
    assert arrays["spectrum"].shape == arrays["freqs"].shape
    assert np.linalg.norm(arrays["label"]) == pytest.approx(1.0, abs=1e-5)
    png = Path(f"{prefix}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_old_option_names_still_work_with_a_warning(pulse_video, tmp_path):
    """Renamed options keep their old spelling, hidden, for one release (here --plot -> --png)."""
    res = fasprep_cli("rppg-gt", pulse_video, "--plot", tmp_path / "p.png")
    assert res.returncode == 0, res.stderr
    assert "fasprep: warning: --plot is now --png" in res.stderr
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert "--plot" not in fasprep_cli("rppg-gt", "--help").stdout


def test_rppg_gt_human_summary(pulse_video):
    res = CliRunner().invoke(main, ["rppg-gt", str(pulse_video), "--bins", "32"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith(f"{pulse_video}: HR ")
    assert "360 frames at 30.00 fps" in res.stdout


def truncated(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 2 // 3])
    return dst


@pytest.mark.parametrize("make,reason", [
    (lambda d, s: s / "video" / "no_face.mp4", "no face found in any of its"),
    (lambda d, s: truncated(s / "video" / "single_face.mp4", d / "cut.mp4"), "truncated or damaged"),
    (lambda d, s: (d / "readme.mp4").write_text("hello\n") and d / "readme.mp4", "not a video file"),
    (lambda d, s: d / "nowhere.mp4", "no such file"),
    (lambda d, s: s / "video" / "face_noface.mov", "face tracked in only"),
])
def test_bad_input_exit_2_with_one_line(tmp_path, real_data, make, reason):
    path = make(tmp_path, real_data)
    proc = fasprep_cli("rppg-gt", path, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"fasprep: error: {path}: ") and reason in lines[0]


def test_min_face_option_accepts_partial_face(real_data):
    proc = fasprep_cli("rppg-gt", real_data / "video" / "face_noface.mov", "--json", "--min-face", "0.4")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert 70 <= out["face_frames"] <= 74 and out["n_frames"] == 169
    assert out["segments"][0][0] == 0 and out["segments"][0][1] <= 74
    # 2.7 s of pulse: a heart rate is given, flagged, never a bare number.
    assert out["hr_reliable"] is False and "only 2.7 s" in out["hr_note"]
    text = fasprep_cli("rppg-gt", real_data / "video" / "face_noface.mov", "--min-face", "0.4")
    assert text.returncode == 0 and "bpm (UNRELIABLE: pulse from only 2.7 s" in text.stdout


def test_bad_option_is_a_usage_error(pulse_video):
    res = CliRunner().invoke(main, ["rppg-gt", str(pulse_video), "--band", "2.5", "0.7"])
    assert res.exit_code == 2 and "needs 0 < LOW < HIGH" in res.output


def test_build_siw_dry_run_over_the_real_release_list(tmp_path):
    """`--dry-run` over placeholders of all 4,469 real SiW ids: protocols and plan, no decoding."""

    from fasprep.datasets import read_protocol
    from fasprep.datasets.siw import scan_siw, siw_protocols

    ids_file = Path(__file__).resolve().parent / "data" / "siw" / "siw_files.txt"
    raw = tmp_path / "SiW_release"
    ids = ids_file.read_text().split()
    for vid in ids:
        p = raw / f"{vid}.mov"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    res = fasprep_cli("build-siw", raw, tmp_path / "out", "--dry-run")  # its time: benchmarks/dry_run.py
    assert res.returncode == 0, res.stderr
    assert f"{len(ids):,} videos" in res.stdout and "siw-p2-4" in res.stdout
    expected = siw_protocols(scan_siw(raw).records)
    assert sorted(p.name for p in (tmp_path / "out" / "protocols").iterdir()) == sorted(expected)
    for name, splits in expected.items():
        for split, rows in splits.items():
            assert read_protocol(tmp_path / "out", name, split) == rows
    # P1 as DESIGN.md defines it, counted here from the raw ids
    train = [v for v in ids if v.startswith("Train/")]
    p1 = read_protocol(tmp_path / "out", "siw-p1", "train")
    assert len(p1) == len(train) == 2416 and {r.max_frames for r in p1} == {60}
    assert len(read_protocol(tmp_path / "out", "siw-p1", "test")) == len(ids) - len(train)
    assert not (tmp_path / "out" / "shards").exists()  # nothing built