"""`fasprep demo`, README's first command: a mock SiW tree made offline and built end to end.
Apart from test_cli.py so that the two files run on different cores.
"""

from __future__ import annotations

import pytest
from cli_run import fasprep_cli


@pytest.mark.slow
def test_demo_builds_a_mock_siw_offline(tmp_path):
    """README's first command on a fresh machine: no Surrey Face Model, so mesh depth, saying so."""
    import os

    env = dict(os.environ, FASPREP_SFM_DIR=str(tmp_path / "no-model"), HOME=str(tmp_path))
    res = fasprep_cli("demo", tmp_path / "demo", "--seconds", "8", timeout=900, env=env)
    assert res.returncode == 0, res.stderr
    assert "depth source: mesh" in res.stdout and "10 of 10 videos built" in res.stdout
    rates = [line.split(": ")[1].split(" bpm")[0].split(" -> ") for line in res.stdout.splitlines()
             if " -> " in line and "bpm" in line]
    assert len(rates) == 2 and all(abs(float(a) - float(b)) <= 3 for a, b in rates), rates
    assert sorted(p.name for p in (tmp_path / "demo").glob("preview_*.png")) == [
        "preview_001-1-1-1-1.png", "preview_001-1-3-1-1.png"]
    assert fasprep_cli("verify", tmp_path / "demo" / "build").returncode == 0
    # running it again resumes: nothing to redo
    again = fasprep_cli("demo", tmp_path / "demo", env=env)
    assert again.returncode == 0 and "0 processed now, 10 done before" in again.stdout
