"""fasmodel end to end on shards of a mock SiW tree: data loading, training, resume, evaluation, recipes.

The tree has 6 Train and 4 Test subjects (real face photos from tests/data; live videos
carry a real PPG pulse, attacks are printed or replayed copies under perspective motion), built
with 64-px crops and 8x8 depth maps so that a CPU trains on it in a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import siw_tree  # noqa: E402

from fasmodel.data import ClipDataset  # noqa: E402
from fasmodel.evaluate import evaluate_checkpoint  # noqa: E402
from fasmodel.report import protocol_table  # noqa: E402
from fasmodel.train import TrainConfig, load_checkpoint, train  # noqa: E402
from fasprep.build import BuildConfig, build  # noqa: E402
from fasprep.synth.mock_tree import make_siw_tree, mock_video_ids  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("fasmodel")
    ids = mock_video_ids(train_subjects=6, test_subjects=4)
    subjects = sorted({int(v.split("/")[2]) for v in ids})
    make_siw_tree(root / "raw", ids, faces=siw_tree.real_faces(subjects), pulse=siw_tree.welltory_pulse_source(seed=3),
                  seconds=5.0, attack_seconds=2.5, seed=3)
    result = build("siw", root / "raw", root / "shards", config=BuildConfig(crop_size=64, depth_size=8,
                                                                            depth_source="mesh"),
                   workers=2, progress=False)
    assert result.n_failed == 0
    return root / "shards"


def test_clip_dataset(shards):
    ds = ClipDataset(shards, "siw-p1", "train", clip_frames=5, clips_per_video=3, seed=1)
    assert len(ds) == 24 * 3
    item = ds[0]
    assert item["frames"].shape == (5, 64, 64, 3) and item["frames"].dtype == np.uint8
    assert item["depth"].shape == (5, 8, 8) and item["nrr_grid"].shape == (5, 8, 8, 2)
    assert item["rppg_fft"].shape == (50,) and item["attack"] == int(item["label"] != "live")
    # P1 trains on the first 60 frames only
    assert all(start + 5 <= 60 for _, start in ds.index)
    # reproducible per (seed, epoch), different across epochs
    again = ClipDataset(shards, "siw-p1", "train", clip_frames=5, clips_per_video=3, seed=1)
    assert again.index == ds.index
    ds.set_epoch(1)
    assert ds.index != again.index
    # files open in the process that reads (the workers), never in the parent before the fork
    fresh = ClipDataset(shards, "siw-p1", "train", clip_frames=5, clips_per_video=3, seed=1)
    batch = next(iter(torch.utils.data.DataLoader(fresh, batch_size=4, num_workers=2)))
    assert batch["frames"].shape == (4, 5, 64, 64, 3) and fresh._files == {}
    assert ds.__getstate__()["_files"] == {}  # a pickled dataset carries no open handle
    test = ClipDataset(shards, "siw-p1", "test", clip_frames=5, max_clips=4)
    assert len(test) == 16 * 4 and {v for v, _ in test.index} == set(range(16))


def _cfg(shards, **kw):
    base = dict(shards=str(shards), protocol="siw-p1", epochs=3, batch_size=8, clips_per_video=6, width=0.25,
                num_workers=0, threads=2, lr=1e-3, seed=0)
    return TrainConfig(**{**base, **kw})


def test_auxiliary_model_separates_held_out_subjects(shards, tmp_path):
    results = []
    for supervision in ("auxiliary", "binary"):
        run = tmp_path / supervision
        last = train(_cfg(shards, supervision=supervision), run, progress=False)
        results.append(evaluate_checkpoint(shards, "siw-p1", last, max_clips=4))
        assert (run / "log.csv").is_file() and (run / "curves.png").is_file()
        assert [row["epoch"] for row in json.loads((run / "log.json").read_text())] == [1, 2, 3]
    aux, binary = results
    print("\n" + protocol_table(results))
    # the held-out Test subjects: ACER at the EER threshold of the test scores (SiW has no dev split)
    assert aux["metrics"]["threshold_source"] == "test-eer"
    assert aux["metrics"]["acer"] <= 0.10, aux["metrics"]
    assert set(binary["metrics"]["apcer_per_type"]) == {"print", "replay"}
    assert 0 <= binary["metrics"]["acer"] <= 1
    # live videos predicted with depth, attacks flat: the liveness part of the score works
    live = [v["score"] for v in aux["videos"].values() if v["label"] == "live"]
    attack = [v["score"] for v in aux["videos"].values() if v["label"] != "live"]
    assert np.median(live) < np.median(attack)


def test_resume_continues_exactly(shards, tmp_path):
    cfg = _cfg(shards, epochs=2, clips_per_video=1, width=0.125)
    straight = load_checkpoint(train(cfg, tmp_path / "straight", progress=False))
    one = _cfg(shards, epochs=1, clips_per_video=1, width=0.125)
    train(one, tmp_path / "resumed", progress=False)
    resumed = load_checkpoint(train(cfg, tmp_path / "resumed", resume=True, progress=False))
    assert resumed["epoch"] == straight["epoch"] == 2
    for k, v in straight["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert resumed["history"] == [dict(r, seconds=h["seconds"]) for r, h in zip(straight["history"],
                                                                                resumed["history"])]


def test_cli_train_eval_report(shards, tmp_path):
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "fasmodel.cli"]
    res = subprocess.run(cli + ["train", "--shards", str(shards), "--protocol", "siw-p2-1", "--out", str(run),
                                "--epochs", "1", "--width", "0.125", "--num-workers", "0", "--clips-per-video", "1"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(cli + ["eval", "--shards", str(shards), "--protocol", "siw-p2-1", "--checkpoint",
                                str(run / "checkpoints" / "last.pt"), "--max-clips", "2"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "APCER" in res.stdout and "EER threshold on the test split itself" in res.stdout
    result = json.loads((run / "eval-siw-p2-1.json").read_text())
    assert set(result["metrics"]["apcer_per_type"]) == {"replay"}  # P2: prints excluded
    res = subprocess.run(cli + ["report", str(run)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "| siw-p2 | auxiliary | 1 |" in res.stdout
    bad = subprocess.run(cli + ["train", "--shards", str(shards), "--protocol", "siw-p9", "--out", str(run)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "siw-p9" in bad.stderr and bad.stderr.count("\n") == 1


def test_mock_recipe_end_to_end(tmp_path):
    """`fasmodel run pipelines/mock.toml`: generate, build, train, evaluate, table."""
    res = subprocess.run([sys.executable, "-m", "fasmodel.cli", "run", str(REPO / "pipelines" / "mock.toml"),
                          "--workdir", str(tmp_path), "--no-progress"], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    table = (tmp_path / "mock" / "runs" / "table.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| siw-")]
    assert len(lines) == 4  # siw-p1 and siw-p2 (2 folds), auxiliary and binary
    assert any(line.startswith("| siw-p2 | auxiliary | 2 |") and "±" in line for line in lines)
    assert table in res.stdout
