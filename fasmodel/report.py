"""Protocol tables: mean ± std over folds of evaluated runs, laid out as the paper's tables; the
cross-dataset table (HTER and AUC per target, both threshold policies named)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

#: (metrics key, header, scale): rates in percent as the paper's tables, AUC as a fraction.
COLUMNS = (("apcer", "APCER (%)", 100), ("bpcer", "BPCER (%)", 100), ("acer", "ACER (%)", 100),
           ("hter", "HTER (%)", 100), ("eer", "EER (%)", 100), ("auc", "AUC", 1))


def protocol_family(protocol: str) -> str:
    """``siw-p2-3`` -> ``siw-p2`` (the folds of a protocol share a row); ``siw-p1`` stays.

    >>> protocol_family("siw-p2-3"), protocol_family("siw-p1")
    ('siw-p2', 'siw-p1')
    """
    return re.sub(r"-\d+$", "", protocol) if re.search(r"-p\d+-\d+$", protocol) else protocol


def collect(runs: list[str | os.PathLike]) -> list[dict]:
    """The evaluations in the given run folders (or ``eval-*.json`` files): per folder, protocol
    and split, the latest epoch's."""
    latest: dict[tuple, tuple[int, dict]] = {}
    for run in runs:
        p = Path(run)
        files = [p] if p.is_file() else sorted(p.rglob("eval-*.json"))
        if not files:
            raise FileNotFoundError(f"{run}: no eval-*.json (run `fasmodel eval` first)")
        for f in files:
            r = json.loads(f.read_text())
            key = (str(f.parent.resolve()), r["protocol"], r.get("split", "test"))
            if key not in latest or r.get("epoch", 0) > latest[key][0]:
                latest[key] = (r.get("epoch", 0), r)
    return [r for _, r in latest.values()]


def method_name(result: dict) -> str:
    """``auxiliary``, ``binary``, or ``auxiliary (signal head, Nf 64/2)`` for a departure from the paper's branch."""
    name = result["supervision"]
    head = result.get("rppg_head")
    if name == "auxiliary" and head and head != "spectrum":
        name += f" ({head} head, Nf {result.get('clip_frames')}/{result.get('stride')})"
    return name


def _cell(values: list[float], scale: float) -> str:
    v = scale * np.asarray(values, np.float64)
    fmt = ".2f" if scale != 1 else ".3f"
    return f"{v.mean():{fmt}}" if len(v) == 1 else f"{v.mean():{fmt}} ± {v.std(ddof=1):{fmt}}"


def protocol_table(results: list[dict]) -> str:
    """Markdown: one row per protocol and method, in the paper's layout (rates in %).

    Folds and seeds are kept apart: the runs of one fold with different seeds are averaged
    first; the ± is the standard deviation over folds (as the paper's P2 and P3 rows), or over
    seeds for a protocol with one fold and several seeds (marked "seeds"). The HR column is the
    heart-rate MAE of the predicted spectrum on live videos (bpm), beside the best constant's.
    """
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for r in results:
        key = (protocol_family(r["protocol"]), method_name(r))
        groups.setdefault(key, {}).setdefault(r["protocol"], []).append(r)
    head = " | ".join(name for _, name, _ in COLUMNS)
    lines = [f"| Protocol | Method | Folds | Seeds | {head} | HR MAE (bpm): model / constant |",
             "|---|---|---|---|" + "---|" * len(COLUMNS) + "---|"]
    notes = set()
    for (family, method), folds in sorted(groups.items()):
        n_seeds = sorted({len(rs) for rs in folds.values()})
        cells = []
        for key, _, scale in COLUMNS:
            per_fold = [[r["metrics"][key] for r in rs] for rs in folds.values()]
            if len(per_fold) > 1:
                cells.append(_cell([np.mean(v) for v in per_fold], scale))
            else:
                cell = _cell(per_fold[0], scale)
                cells.append(cell + (" (seeds)" if len(per_fold[0]) > 1 else ""))
        hrs = [r["heart_rate"] for rs in folds.values() for r in rs if r.get("heart_rate")]
        hr = (f"{np.mean([h['mae_bpm'] for h in hrs]):.1f} / {np.mean([h['constant_mae_bpm'] for h in hrs]):.1f}"
              if hrs else "-")
        seeds = str(n_seeds[0]) if len(n_seeds) == 1 else f"{n_seeds[0]}-{n_seeds[-1]}"
        lines.append(f"| {family} | {method} | {len(folds)} | {seeds} | " + " | ".join(cells) + f" | {hr} |")
        for rs in folds.values():
            for r in rs:
                notes.update(f"{r['protocol']}: {w}" for w in r.get("warnings", []))
                if r.get("skipped"):
                    notes.add(f"{r['protocol']}: {len(r['skipped'])} videos left out (see its eval JSON)")
    sources = sorted({r["metrics"]["threshold_source"] for r in results})
    lines.append("")
    lines.append(f"Threshold: {', '.join(sources)} (dev-eer: EER threshold on the dev split; test-eer: on the "
                 f"test split itself, for protocols without a dev split: optimistic). Scores are per video, the "
                 f"mean over its clips. ±: standard deviation over folds (over seeds where marked).")
    lines += [f"Note: {n}" for n in sorted(notes)]
    return "\n".join(lines)


#: (header, value of an evaluation result, scale) of the cross-dataset table; rates and AUC in
#: percent, as SSDG's and FLIP's tables.
CROSS_COLUMNS = (("HTER oracle (%)", lambda r: r["metrics"]["eer"], 100),
                 ("HTER strict (%)", lambda r: r["metrics"]["hter"] if r["metrics"]["threshold_source"] == "dev-eer"
                  else None, 100),
                 ("AUC (%)", lambda r: r["metrics"]["auc"], 100),
                 ("TPR@FPR=1% (%)", lambda r: r["metrics"]["tpr_at_fpr1"], 100))

#: What the cross-dataset table's two HTER columns mean.
CROSS_THRESHOLDS = ("Threshold policies: HTER oracle = at the EER threshold of the target's own test scores, "
                    "the field's customary figure (SSDG, FLIP; chosen on the data it is measured on, so optimistic; "
                    "it equals the test EER); HTER strict = at the EER threshold of the sources' held-out dev videos "
                    "(never trained on, no target data), applied unchanged to the target. AUC and TPR@FPR=1% need "
                    "no threshold. Scores are per video, the mean over its clips; the last epoch is evaluated (no "
                    "checkpoint is chosen on the target). ±: standard deviation over seeds.")


def is_cross(result: dict) -> bool:
    """An evaluation of a cross-dataset protocol (its result names the domains)."""
    return bool(result.get("domains"))


def _target_order(item: tuple[tuple[str, str], list[dict]]) -> tuple:
    """Sort key of a cross table's rows: the target in the benchmark's order (M, C, I, O), then the name."""
    from fasprep.datasets.cross import DOMAINS

    (protocol, method), rs = item
    target = rs[0]["domains"].get(rs[0].get("split", "test"), [])
    rank = list(DOMAINS).index(target[0]) if len(target) == 1 and target[0] in DOMAINS else len(DOMAINS)
    return rank, protocol, method


def cross_table(results: list[dict]) -> str:
    """Markdown: one row per cross-dataset protocol (target) and method, as the MCIO tables.

    Columns: the sources and the target, the test videos, HTER at the oracle and at the strict
    threshold (:data:`CROSS_THRESHOLDS`, printed below the table), AUC and TPR at FPR = 1 %.
    Runs of one protocol with several seeds are averaged (± over seeds).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["protocol"], method_name(r)), []).append(r)
    lines = ["| Protocol | Sources → target | Method | Test videos | Seeds | "
             + " | ".join(h for h, _, _ in CROSS_COLUMNS) + " |",
             "|---|---|---|---|---|" + "---|" * len(CROSS_COLUMNS)]
    notes: dict[str, list[str]] = {}  # note -> protocols it applies to
    for (protocol, method), rs in sorted(groups.items(), key=_target_order):
        d = rs[0]["domains"]
        sides = f"{'&'.join(d.get('train', []))} → {'&'.join(d.get(rs[0].get('split', 'test'), []))}"
        cells = []
        for _, value, scale in CROSS_COLUMNS:
            values = [value(r) for r in rs]
            cells.append("-" if any(v is None for v in values) else _cell(values, scale))
        n = sum(rs[0]["metrics"]["counts"].values())
        lines.append(f"| {protocol} | {sides} | {method} | {n} | {len(rs)} | " + " | ".join(cells) + " |")
        for r in rs:
            found = list(r.get("warnings", []))
            if r.get("skipped"):
                found.append(f"{len(r['skipped'])} videos left out (see its eval JSON)")
            if r["metrics"]["threshold_source"] != "dev-eer":
                found.append("no held-out source videos (dev split), so no strict HTER")
            for note in found:
                if protocol not in notes.setdefault(note, []):
                    notes[note].append(protocol)
    lines += ["", CROSS_THRESHOLDS]
    lines += [f"Note: {', '.join(ps)}: {n}" for n, ps in sorted(notes.items())]
    return "\n".join(lines)


def tables(results: list[dict]) -> str:
    """The cross-dataset table of the cross-dataset evaluations and the protocol table of the others."""
    cross = [r for r in results if is_cross(r)]
    rest = [r for r in results if not is_cross(r)]
    return "\n\n".join(([cross_table(cross)] if cross else []) + ([protocol_table(rest)] if rest else []))
