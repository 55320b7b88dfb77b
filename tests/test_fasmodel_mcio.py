"""`fasmodel run mcio-mock`: mock trees of MSU-MFSD, CASIA-FASD, Replay-Attack and OULU-NPU built,
the cross-dataset protocols written, a model trained on three builds and evaluated on the
fourth, four times, and the table of HTER (both threshold policies) and AUC per target.

The recipe is lean (each adapter's demo tree of 4-8 videos of 2-3 s, 64-px crops, width 0.125,
one epoch of one clip per video): the test checks the plumbing, not what the model learns.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

SIDES = {"m": ("C&I&O", "M"), "c": ("M&I&O", "C"), "i": ("M&C&O", "I"), "o": ("M&C&I", "O")}


def test_mcio_mock_recipe(tmp_path):
    from fasmodel.pipeline import find_recipe

    cli = [sys.executable, "-m", "fasmodel.cli"]
    # the shipped recipe, its mock videos at half their size encoded with x264's fastest preset
    # (the suite's time; no heart rate is asserted here)
    text = find_recipe("mcio-mock").read_text()
    for name, size in (("msu-mfsd", "[240, 180]"), ("casia-fasd", "[240, 180]"), ("replay-attack", "[240, 180]"),
                       ("oulu-npu", "[144, 256]")):
        text, n = re.subn(rf'(name = "{name}"\n[^\[]*mock = \{{[^}}]*seed = \d+)',
                          rf'\1, preset = "ultrafast", size = {size}', text)
        assert n == 1, name
    recipe = tmp_path / "mcio-mock.toml"
    recipe.write_text(text)
    res = subprocess.run(cli + ["run", str(recipe), "--workdir", str(tmp_path), "--no-progress"],
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    root = tmp_path / "mcio-mock"
    table = (root / "runs" / "table.md").read_text()
    assert table in res.stdout
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| mcio-to-")]
    assert [r[0].strip() for r in rows] == ["mcio-to-m", "mcio-to-c", "mcio-to-i", "mcio-to-o"]
    for cells in rows:
        target = cells[0].strip()[-1]
        assert cells[1].strip() == f"{SIDES[target][0]} → {SIDES[target][1]}"
        hter_oracle, hter_strict, auc, tpr = (float(c) for c in cells[5:9])  # every value there, strict too
        assert all(0 <= v <= 100 for v in (hter_oracle, hter_strict, auc, tpr))
    assert "HTER oracle (%) | HTER strict (%) | AUC (%)" in table
    assert "HTER oracle = at the EER threshold of the target's own test scores" in table
    assert "HTER strict = at the EER threshold of the sources' held-out dev videos" in table
    for target, (sources, letter) in SIDES.items():
        result = json.loads((root / "runs" / "auxiliary" / f"mcio-to-{target}" /
                             f"eval-mcio-to-{target}-test-epoch001.json").read_text())
        assert result["domains"]["train"] == sources.split("&") and result["domains"]["test"] == [letter]
        assert set(result["domains"]["dev"]) <= {"I", "O"} and letter not in result["domains"]["dev"]
        assert result["videos"] and all(v.startswith(f"{letter}:") for v in result["videos"])
        m = result["metrics"]
        assert m["threshold_source"] == "dev-eer" and {"live", "print", "replay"} <= set(m["counts"])
        # the oracle HTER of the table is the test EER (HTER at the target's own EER threshold)
        row = next(r for r in rows if r[0].strip() == f"mcio-to-{target}")
        assert float(row[5]) == pytest.approx(100 * m["eer"], abs=0.006)
        assert float(row[6]) == pytest.approx(100 * m["hter"], abs=0.006)
    # every training video came from the three source builds
    train = (root / "cross" / "protocols" / "mcio-to-o" / "train.csv").read_text().splitlines()[1:]
    assert {line.rsplit(",", 1)[1] for line in train} == {"M", "C", "I"}
    res = subprocess.run(cli + ["report", str(root / "runs")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and re.search(r"\| mcio-to-o \| M&C&I → O \| auxiliary \| 6 \| 1 \|", res.stdout)
