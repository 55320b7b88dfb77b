"""`fasmodel run` on the shipped mock recipe, lean (one epoch, two clips per video, width 0.125:
the suite's time), and the checks of its table (test_fasmodel.py, test_fasmodel_mock_recipe.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LEAN = (("epochs = 2\n", "epochs = 1\n"), ("clips_per_video = 4\n", "clips_per_video = 2\n"),
        ("width = 0.25\n", "width = 0.125\n"))


def run_mock_recipe(workdir: Path, changes=()) -> str:
    """Run the mock recipe, lean and with ``changes`` (pairs of text replaced once each), in
    ``workdir``; check its table (siw-p1 and siw-p2's two folds, both supervisions; the P2 mean
    with its spread) and return its stdout."""
    from fasmodel.pipeline import find_recipe

    text = find_recipe("mock").read_text()
    for old, new in (*changes, *LEAN):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    recipe = workdir / "mock.toml"
    recipe.write_text(text)
    res = subprocess.run([sys.executable, "-m", "fasmodel.cli", "run", str(recipe), "--workdir", str(workdir),
                          "--no-progress"], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    table = (workdir / "mock" / "runs" / "table.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| siw-")]
    assert len(lines) == 4  # siw-p1 and siw-p2 (2 folds), auxiliary and binary
    assert any(line.startswith("| siw-p2 | auxiliary | 2 | 1 |") and "±" in line for line in lines)
    assert table in res.stdout
    return res.stdout
