"""Evaluate a checkpoint on a protocol split: per-video scores and the ISO/IEC 30107-3 metrics.

The non-overlapping clips of a test video (at most ``max_clips``, evenly spaced over it) are
scored; a video's score is the mean over its clips. The decision threshold is the EER threshold on the protocol's dev split when it has one,
else the EER threshold on the test scores themselves (SiW has no dev split; the report says
which was used).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from fasprep.io import atomic_path

from . import metrics
from .data import ClipDataset
from .train import load_checkpoint, model_for_shards, pick_device, set_threads, to_device


@torch.no_grad()
def score_videos(model: torch.nn.Module, dataset: ClipDataset, *, device: torch.device, batch_size: int = 8,
                 num_workers: int = 0, progress: bool = False) -> tuple[dict[str, float], dict[str, str]]:
    """Attack score per video (mean over its clips; higher = attack) and each video's label."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    ids, scores, labels = [], [], {}
    for batch in tqdm(loader, desc="score", unit="batch", disable=not progress, leave=False):
        batch = to_device(batch, device)
        with autocast:
            outputs = model(batch["frames"], batch["nrr_grid"])
        scores += model.attack_score(outputs).float().cpu().tolist()
        ids += list(batch["video_id"])
        labels.update(zip(batch["video_id"], batch["label"]))
    return metrics.video_scores(ids, scores), labels


def _has_split(shards: str | os.PathLike, protocol: str, split: str) -> bool:
    return (Path(shards) / "protocols" / protocol / f"{split}.csv").is_file()


def evaluate_checkpoint(shards: str | os.PathLike, protocol: str, checkpoint: str | os.PathLike, *,
                        split: str = "test", dev_split: str = "dev", device: str = "auto", batch_size: int = 8,
                        max_clips: int | None = 10, num_workers: int = 0, progress: bool = False) -> dict:
    """Scores and metrics of a checkpoint on ``protocol``/``split``.

    Returns
    -------
    dict: ``protocol, split, supervision, checkpoint, epoch, metrics`` (:meth:`Report.to_dict`)
    and ``videos`` {video_id: {label, score}}.
    """
    dev = pick_device(device)
    state = load_checkpoint(checkpoint, dev)
    cfg = state["config"]
    set_threads(cfg.get("threads"), num_workers)
    model = model_for_shards(shards, cfg["supervision"], width=cfg["width"]).to(dev)
    model.load_state_dict(state["model"])
    kw = dict(clip_frames=cfg["clip_frames"], stride=cfg["stride"], max_clips=max_clips)
    test_scores, test_labels = score_videos(model, ClipDataset(shards, protocol, split, **kw), device=dev,
                                            batch_size=batch_size, num_workers=num_workers, progress=progress)
    vids = sorted(test_scores)
    dev_kw = {}
    if _has_split(shards, protocol, dev_split):
        d_scores, d_labels = score_videos(model, ClipDataset(shards, protocol, dev_split, **kw), device=dev,
                                          batch_size=batch_size, num_workers=num_workers)
        dv = sorted(d_scores)
        dev_kw = {"dev_scores": [d_scores[v] for v in dv], "dev_labels": [d_labels[v] for v in dv]}
    report = metrics.evaluate([test_scores[v] for v in vids], [test_labels[v] for v in vids], **dev_kw)
    return {"protocol": protocol, "split": split, "supervision": cfg["supervision"], "checkpoint": str(checkpoint),
            "epoch": state["epoch"], "metrics": report.to_dict(),
            "videos": {v: {"label": test_labels[v], "score": test_scores[v]} for v in vids}}


def write_evaluation(result: dict, run: str | os.PathLike) -> Path:
    """``eval-<protocol>.json`` and ``scores-<protocol>.csv`` (per video) in the run folder."""
    run = Path(run)
    path = run / f"eval-{result['protocol']}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    with atomic_path(run / f"scores-{result['protocol']}.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "label", "attack_score"])
        for v, r in result["videos"].items():
            w.writerow([v, r["label"], f"{r['score']:.6g}"])
    return path


def format_evaluation(result: dict) -> str:
    m = result["metrics"]
    per_type = ", ".join(f"{k} {100 * v:.1f}" for k, v in m["apcer_per_type"].items())
    source = {"dev-eer": "EER threshold on the dev split", "test-eer": "EER threshold on the test split itself "
              "(the protocol has no dev split)", "given": "given threshold"}[m["threshold_source"]]
    return (f"{result['protocol']} ({result['supervision']}, epoch {result['epoch']}): "
            f"APCER {100 * m['apcer']:.2f} % (per type: {per_type}), BPCER {100 * m['bpcer']:.2f} %, "
            f"ACER {100 * m['acer']:.2f} %, HTER {100 * m['hter']:.2f} %, EER {100 * m['eer']:.2f} %\n"
            f"  threshold {m['threshold']:.4g}: {source}; {sum(m['counts'].values())} videos {m['counts']}")
