"""`fasmodel run mock`: the shipped mock recipe's mock tree, and (a release case) the recipe end
to end from scratch: generate a mock SiW tree, build it, train, evaluate, table. By default
test_fasmodel.py runs the recipe on its own build (the recipe's videos are a subset of it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.slow


def test_recipe_mock_table_makes_the_tree_it_names(tmp_path):
    """[dataset.mock] as the recipe runner reads it: subjects, lengths, size and preset taken; a
    tree already there kept."""
    from fasmodel.pipeline import _make_mock
    from fasprep.synth.mock_tree import read_truth

    raw = tmp_path / "raw"
    spec = {"train_subjects": 1, "test_subjects": 1, "seconds": 0.5, "attack_seconds": 0.3, "size": [320, 180],
            "preset": "ultrafast", "seed": 0}
    _make_mock(raw, "siw", spec, progress=False)
    truth = read_truth(raw)
    assert len(truth) == 8 and {t.label for t in truth} == {"live", "print", "replay"}
    import cv2

    for t in truth:
        cap = cv2.VideoCapture(str(raw / f"{t.video_id}.mov"))
        size = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        cap.release()
        assert size == (320, 180) and frames == (15 if t.label == "live" else 9), (t, size, frames)
    before = {p: p.stat().st_mtime_ns for p in raw.rglob("*.mov")}
    _make_mock(raw, "siw", spec, progress=False)  # all there: kept
    assert {p: p.stat().st_mtime_ns for p in raw.rglob("*.mov")} == before


@pytest.mark.release
def test_mock_recipe_end_to_end(tmp_path):
    """`fasmodel run` on the shipped mock recipe: generate, build, train, evaluate, table. The
    recipe's own tables, with smaller videos encoded faster, one epoch and a narrower CNN (the
    suite's time)."""
    from fasmodel.pipeline import find_recipe

    text = find_recipe("mock").read_text()
    for old, new in (("seed = 0\n", 'seed = 0\nsize = [320, 180]\npreset = "ultrafast"\n'),
                     ("epochs = 2\n", "epochs = 1\n"), ("clips_per_video = 4\n", "clips_per_video = 2\n"),
                     ("width = 0.25\n", "width = 0.125\n")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    recipe = tmp_path / "mock.toml"
    recipe.write_text(text)
    res = subprocess.run([sys.executable, "-m", "fasmodel.cli", "run", str(recipe), "--workdir", str(tmp_path),
                          "--no-progress"], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    table = (tmp_path / "mock" / "runs" / "table.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| siw-")]
    assert len(lines) == 4  # siw-p1 and siw-p2 (2 folds), auxiliary and binary
    assert any(line.startswith("| siw-p2 | auxiliary | 2 | 1 |") and "±" in line for line in lines)
    assert table in res.stdout
    truth = json.loads((tmp_path / "mock" / "raw" / "mock_truth.json").read_text())
    assert len(truth) == 16  # the recipe's 4 subjects, 4 videos each
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "mock" / "raw" / f"{truth[0]['video_id']}.mov"))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 180)  # the size taken
    cap.release()
