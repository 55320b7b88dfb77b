"""`fasmodel run mock`: the shipped mock recipe's mock tree, and (a release case) the recipe end
to end from scratch: generate a mock SiW tree, build it, train, evaluate, table. By default
test_fasmodel.py runs the recipe on its own build (the recipe's videos are a subset of it).
"""

from __future__ import annotations

import json

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
    from recipes import run_mock_recipe

    run_mock_recipe(tmp_path, [("seed = 0\n", 'seed = 0\nsize = [320, 180]\npreset = "ultrafast"\n')])
    truth = json.loads((tmp_path / "mock" / "raw" / "mock_truth.json").read_text())
    assert len(truth) == 16  # the recipe's 4 subjects, 4 videos each
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "mock" / "raw" / f"{truth[0]['video_id']}.mov"))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 180)  # the size taken
    cap.release()
