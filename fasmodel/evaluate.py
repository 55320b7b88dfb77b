"""Evaluate a checkpoint on a protocol split: per-video scores, the PAD metrics, the pulse's rate.

The non-overlapping clips of a test video (at most ``max_clips``, evenly spaced over it) are
scored; a video's score is the mean over its clips. The decision threshold is the EER threshold
on the protocol's dev split when it has one, else the EER threshold on the test scores
themselves (SiW has no dev split; the report says which).

For an auxiliary model the report also says whether the rPPG branch learnt a pulse: for each
live video, the heart rate at the peak of its predicted spectrum (the mean over its clips)
against the rate at the peak of its label spectrum, as a mean absolute error in bpm, beside the
error of the best constant rate (the median of the labels' rates: an oracle no model beats by
guessing one rate for everyone).

Videos left out (not built, failed, shorter than a clip) are counted and listed in the result.

A cross-dataset protocol (``fasprep protocols cross``: sources train, a target tests) has two
threshold policies, both in the result: the strict one, the EER threshold of the sources'
held-out dev videos (``metrics.hter``, source ``dev-eer``), and the field's customary
"oracle", the EER threshold of the target's test scores themselves, whose HTER is the test
EER by definition (``metrics.eer``; SSDG's and FLIP's published HTER).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from fasprep.datasets import read_protocol
from fasprep.datasets.cross import DOMAINS
from fasprep.io import atomic_path

from . import metrics
from .data import ClipDataset
from .model import spectrum_hr_bpm
from .train import (
    load_checkpoint,
    model_from_checkpoint,
    pick_device,
    to_device,
    torch_session,
)

log = logging.getLogger(__name__)


@torch.no_grad()
def score_videos(model: torch.nn.Module, dataset: ClipDataset, *, device: torch.device, batch_size: int = 8,
                 num_workers: int = 0, progress: bool = False) -> dict[str, dict]:
    """Per video: ``label``, ``score`` (attack score, mean over its clips; higher = attack),
    ``clips`` and, for an auxiliary model, ``spectrum`` (mean predicted spectrum, list of F floats)
    and ``label_spectrum`` (the shards' ``rppg_fft``)."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    ids, scores, labels, spectra, targets = [], [], {}, {}, {}
    for batch in tqdm(loader, desc="score", unit="batch", disable=not progress, leave=False):
        batch = to_device(batch, device)
        with autocast:
            outputs = model(batch["frames"], batch["nrr_grid"], batch["times"])
        scores += model.attack_score(outputs).float().cpu().tolist()
        ids += list(batch["video_id"])
        labels.update(zip(batch["video_id"], batch["label"]))
        if "spectrum" in outputs:
            for v, f, t in zip(batch["video_id"], outputs["spectrum"].float().cpu().numpy(),
                               batch["rppg_fft"].float().cpu().numpy()):
                spectra.setdefault(v, []).append(f)
                targets[v] = t
    per_video = metrics.video_scores(ids, scores)
    counts = Counter(ids)
    out = {}
    for v, score in per_video.items():
        out[v] = {"label": labels[v], "score": score, "clips": counts[v]}
        if v in spectra:
            out[v]["spectrum"] = np.mean(spectra[v], axis=0).tolist()
            out[v]["label_spectrum"] = targets[v].tolist()
    return out


def heart_rate_errors(videos: dict[str, dict]) -> dict | None:
    """Heart rate of the predicted vs the label spectrum over the live videos (bpm).

    Returns
    -------
    dict or None (no live video with spectra): ``n`` live videos, ``mae_bpm`` of the model,
    ``constant_mae_bpm`` of the best constant rate (the labels' median) and ``constant_bpm``,
    and per video ``{video_id: [predicted, label]}`` as ``rates``.
    """
    live = {v: r for v, r in videos.items() if r["label"] == metrics.BONA_FIDE and "spectrum" in r}
    if not live:
        return None
    pred = spectrum_hr_bpm(np.array([r["spectrum"] for r in live.values()]))
    true = spectrum_hr_bpm(np.array([r["label_spectrum"] for r in live.values()]))
    ok = np.isfinite(pred) & np.isfinite(true)
    if not ok.any():
        return None
    constant = float(np.median(true[ok]))
    return {"n": int(ok.sum()), "mae_bpm": float(np.mean(np.abs(pred[ok] - true[ok]))),
            "constant_bpm": constant, "constant_mae_bpm": float(np.mean(np.abs(constant - true[ok]))),
            "rates": {v: [float(p), float(t)] for v, p, t, k in zip(live, pred, true, ok) if k}}


def _has_split(shards: str | os.PathLike, protocol: str, split: str) -> bool:
    return (Path(shards) / "protocols" / protocol / f"{split}.csv").is_file()


def evaluate_checkpoint(shards: str | os.PathLike, protocol: str, checkpoint: str | os.PathLike, *,
                        split: str = "test", dev_split: str = "dev", device: str = "auto", batch_size: int = 8,
                        max_clips: int | None = 10, num_workers: int = 0, progress: bool = False) -> dict:
    """Scores and metrics of a checkpoint on ``protocol``/``split``.

    Returns
    -------
    dict: ``protocol, split, supervision, rppg_head, clip_frames, stride, seed, checkpoint,
    epoch, metrics`` (:meth:`metrics.Report.to_dict`), ``heart_rate`` (:func:`heart_rate_errors`,
    None for the binary model), ``skipped`` {video_id: reason}, ``warnings`` (list of str: a
    split too small to mean much) and ``videos`` {video_id: {label, score, clips}}.
    """
    dev = pick_device(device)
    state = load_checkpoint(checkpoint, "cpu")
    cfg = state["config"]
    with torch_session(cfg.get("threads"), num_workers):
        return _evaluate(shards, protocol, checkpoint, state, dev, split=split, dev_split=dev_split,
                         batch_size=batch_size, max_clips=max_clips, num_workers=num_workers, progress=progress)


def _evaluate(shards, protocol, checkpoint, state, dev, *, split, dev_split, batch_size, max_clips, num_workers,
              progress) -> dict:
    cfg = state["config"]
    model = model_from_checkpoint(state).to(dev)
    kw = dict(clip_frames=cfg["clip_frames"], stride=cfg["stride"], max_clips=max_clips)
    test = ClipDataset(shards, protocol, split, **kw)
    videos = score_videos(model, test, device=dev, batch_size=batch_size, num_workers=num_workers,
                          progress=progress)
    vids = sorted(videos)
    dev_kw = {}
    if _has_split(shards, protocol, dev_split):
        d = score_videos(model, ClipDataset(shards, protocol, dev_split, **kw), device=dev,
                         batch_size=batch_size, num_workers=num_workers)
        dv = sorted(d)
        dev_kw = {"dev_scores": [d[v]["score"] for v in dv], "dev_labels": [d[v]["label"] for v in dv]}
    report = metrics.evaluate([videos[v]["score"] for v in vids], [videos[v]["label"] for v in vids], **dev_kw)
    warnings = metrics.small_split_warnings(report.counts)  # in the result and its printout, not logged twice
    extra = {}
    if any(v.domain for v in test.videos):  # a cross-dataset protocol: which domains each side holds
        order = list(DOMAINS)
        extra["domains"] = {s: sorted({r.domain for r in read_protocol(shards, protocol, s) if r.domain},
                                      key=lambda d: (order.index(d) if d in order else len(order), d))
                            for s in ("train", dev_split, split) if _has_split(shards, protocol, s)}
    return {"protocol": protocol, "split": split, "supervision": cfg["supervision"], **extra,
            "rppg_head": cfg.get("rppg_head", "spectrum") if cfg["supervision"] == "auxiliary" else None,
            "clip_frames": cfg["clip_frames"], "stride": cfg["stride"], "seed": cfg["seed"],
            "checkpoint": str(checkpoint), "epoch": state["epoch"], "metrics": report.to_dict(),
            "heart_rate": heart_rate_errors(videos), "skipped": dict(sorted(test.skipped.items())),
            "warnings": warnings,
            "videos": {v: {k: videos[v][k] for k in ("label", "score", "clips")} for v in vids}}


def evaluation_name(result: dict) -> str:
    """``eval-<protocol>-<split>-epoch<NNN>``: a second evaluation of another split or epoch keeps the first."""
    return f"eval-{result['protocol']}-{result['split']}-epoch{result['epoch']:03d}"


def write_evaluation(result: dict, run: str | os.PathLike) -> Path:
    """``<name>.json`` and ``<name>.csv`` (per video scores) in the run folder, name
    :func:`evaluation_name` (``scores-`` for the CSV)."""
    run = Path(run)
    name = evaluation_name(result)
    path = run / f"{name}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    with atomic_path(run / f"{name.replace('eval-', 'scores-', 1)}.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "label", "attack_score"])
        for v, r in result["videos"].items():
            w.writerow([v, r["label"], f"{r['score']:.6g}"])
    return path


def format_evaluation(result: dict) -> str:
    """A few lines for a person: the metrics, the threshold's source, the heart rate, what was left out."""
    m = result["metrics"]
    per_type = ", ".join(f"{k} {100 * v:.1f}" for k, v in m["apcer_per_type"].items())
    source = {"dev-eer": "EER threshold on the dev split", "test-eer": "EER threshold on the test split itself "
              "(the protocol has no dev split; optimistic)", "given": "given threshold"}[m["threshold_source"]]
    domains = result.get("domains")
    if domains and m["threshold_source"] == "dev-eer":
        source += f" (strict: the sources' held-out videos, domains {', '.join(domains.get('dev', []))})"
    head = f", rPPG head {result['rppg_head']}" if result.get("rppg_head") else ""
    lines = [f"{result['protocol']}/{result['split']} ({result['supervision']}{head}, Nf {result['clip_frames']} "
             f"stride {result['stride']}, epoch {result['epoch']}): "
             f"APCER {100 * m['apcer']:.2f} % (per type: {per_type}), BPCER {100 * m['bpcer']:.2f} %, "
             f"ACER {100 * m['acer']:.2f} %, HTER {100 * m['hter']:.2f} %, EER {100 * m['eer']:.2f} %, "
             f"AUC {m['auc']:.4f}, TPR@FPR=1% {100 * m['tpr_at_fpr1']:.1f} %",
             f"  threshold {m['threshold']:.4g}: {source}; {sum(m['counts'].values())} videos {m['counts']}"]
    if domains:
        lines.append(f"  {'+'.join(domains.get('train', []))} -> {'+'.join(domains.get(result['split'], []))}: "
                     f"HTER {100 * m['eer']:.2f} % at the oracle threshold {m['eer_threshold']:.4g} (the EER "
                     "threshold of the target's own test scores, as SSDG and FLIP report)")
    hr = result.get("heart_rate")
    if hr:
        lines.append(f"  heart rate of the predicted spectrum, {hr['n']} live videos: MAE {hr['mae_bpm']:.1f} bpm "
                     f"(best constant rate {hr['constant_bpm']:.0f} bpm: MAE {hr['constant_mae_bpm']:.1f} bpm)")
    if result.get("skipped"):
        first = next(iter(result["skipped"].items()))
        lines.append(f"  {len(result['skipped'])} videos left out, e.g. {first[0]}: {first[1]}")
    lines += [f"  warning: {w}" for w in result.get("warnings", [])]
    return "\n".join(lines)
