"""Protocol tables: mean ± std over folds of evaluated runs, laid out as the paper's tables."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

COLUMNS = (("apcer", "APCER (%)"), ("bpcer", "BPCER (%)"), ("acer", "ACER (%)"))


def protocol_family(protocol: str) -> str:
    """``siw-p2-3`` -> ``siw-p2`` (the folds of a protocol share a row); ``siw-p1`` stays.

    >>> protocol_family("siw-p2-3"), protocol_family("siw-p1")
    ('siw-p2', 'siw-p1')
    """
    return re.sub(r"-\d+$", "", protocol) if re.search(r"-p\d+-\d+$", protocol) else protocol


def collect(runs: list[str | os.PathLike]) -> list[dict]:
    """Every ``eval-*.json`` in the given run folders (or files)."""
    results = []
    for run in runs:
        p = Path(run)
        files = [p] if p.is_file() else sorted(p.rglob("eval-*.json"))
        if not files:
            raise FileNotFoundError(f"{run}: no eval-*.json (run `fasmodel eval` first)")
        results += [json.loads(f.read_text()) for f in files]
    return results


def protocol_table(results: list[dict]) -> str:
    """Markdown: one row per protocol and method, mean ± std over its folds, in percent."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((protocol_family(r["protocol"]), r["supervision"]), []).append(r["metrics"])
    lines = ["| Protocol | Method | Folds | " + " | ".join(name for _, name in COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    for (family, supervision), ms in sorted(groups.items()):
        cells = []
        for key, _ in COLUMNS:
            v = 100 * np.array([m[key] for m in ms])
            cells.append(f"{v.mean():.2f}" if len(v) == 1 else f"{v.mean():.2f} ± {v.std(ddof=1):.2f}")
        lines.append(f"| {family} | {supervision} | {len(ms)} | " + " | ".join(cells) + " |")
    sources = sorted({m["threshold_source"] for ms in groups.values() for m in ms})
    lines.append("")
    lines.append(f"Threshold: {', '.join(sources)} (dev-eer: EER threshold on the dev split; test-eer: on the "
                 f"test split itself, for protocols without a dev split). Scores are per video, the mean over its clips.")
    return "\n".join(lines)
