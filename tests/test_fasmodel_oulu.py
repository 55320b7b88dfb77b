"""fasmodel on a mock OULU-NPU build: protocol oulu-p1 trained, then evaluated with the decision
threshold from its dev split (OULU has one; SiW does not).

The tree has 3 Train, 2 Dev and 2 Test users (real face photos; live videos with a real PPG
pulse; print 1-2 and display 1-2 attacks), portrait phone videos, built with 64-px crops and
8x8 depth maps.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import siw_tree  # noqa: E402

from fasmodel.data import ClipDataset  # noqa: E402
from fasprep.build import BuildConfig, build  # noqa: E402
from fasprep.synth.mock_tree import make_tree, oulu_codes, oulu_rotation  # noqa: E402

pytestmark = pytest.mark.slow

USERS = {"Train": [1, 2, 3], "Dev": [21, 22], "Test": [36, 37]}


@pytest.fixture(scope="module")
def oulu_shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("fasmodel-oulu")
    codes = (oulu_codes(users={"Train": USERS["Train"], "Dev": USERS["Dev"]}, phones=(2,), sessions=(1,))
             + oulu_codes(users={"Test": USERS["Test"]}, phones=(1,), sessions=(3,)))
    subjects = [u for us in USERS.values() for u in us]
    faces = dict(zip(subjects, siw_tree.real_faces(range(len(subjects)), max_height=320).values()))
    make_tree("oulu-npu", root / "raw", codes, faces=faces, pulse=siw_tree.welltory_pulse_source(seed=4),
              seconds=2.0, attack_seconds=2.0, size=(180, 320), rotation_deg=oulu_rotation, seed=4)
    result = build("oulu-npu", root / "raw", root / "shards",
                   config=BuildConfig(crop_size=64, depth_size=8, depth_source="mesh"), workers=2, progress=False)
    assert result.n_failed == 0, result.failures
    return root / "shards"


def test_train_and_eval_with_the_dev_threshold(oulu_shards, tmp_path):
    train = ClipDataset(oulu_shards, "oulu-p1", "train", clip_frames=5, clips_per_video=2, seed=0)
    assert len(train.videos) == 15 and {v.label for v in train.videos} == {"live", "print", "replay"}
    assert len(ClipDataset(oulu_shards, "oulu-p1", "dev", clip_frames=5).videos) == 10
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "fasmodel.cli"]
    res = subprocess.run(cli + ["train", "--build", str(oulu_shards), "--protocol", "oulu-p1", "--out", str(run),
                                "--epochs", "2", "--width", "0.125", "--num-workers", "0", "--clips-per-video", "2"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    res = subprocess.run(cli + ["eval", "--build", str(oulu_shards), "--protocol", "oulu-p1", "--checkpoint",
                                str(run / "checkpoints" / "last.pt"), "--max-clips", "2"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "EER threshold on the dev split" in res.stdout
    result = json.loads((run / "eval-oulu-p1-test-epoch002.json").read_text())
    m = result["metrics"]
    assert m["threshold_source"] == "dev-eer"
    assert set(m["apcer_per_type"]) == {"print", "replay"}
    assert len(result["videos"]) == 10 and {v.split("/")[0] for v in result["videos"]} == {"Test_files"}
    res = subprocess.run(cli + ["report", str(run)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "| oulu-p1 | auxiliary | 1 |" in res.stdout
