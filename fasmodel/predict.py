"""Is this video live? One video through fasprep's face pipeline and a trained checkpoint.

The video goes through :func:`fasprep.build.label_video`, the function a build runs per video,
with the build options stored in the checkpoint (crop size, depth size, frame stride, depth
source), into a temporary part file; its non-overlapping clips (at most ``max_clips``, evenly
spaced) are scored as ``fasmodel eval`` scores a test video, and the video's score is their
mean. The decision compares it with a threshold: the one given, else the threshold of the
run's evaluation of the same epoch (``eval-*.json`` beside the checkpoint; the EER threshold of
the dev split, or of the test split when the protocol has none).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch

from .data import clip_starts, read_clip
from .model import spectrum_hr_bpm
from .train import load_checkpoint, model_from_checkpoint, pick_device


def run_folder(checkpoint: str | os.PathLike) -> Path:
    """The run folder of a checkpoint (``RUN/checkpoints/x.pt`` -> ``RUN``)."""
    folder = Path(checkpoint).resolve().parent
    return folder.parent if folder.name == "checkpoints" else folder


def run_threshold(checkpoint: str | os.PathLike, epoch: int) -> tuple[float, str]:
    """The decision threshold of the run's evaluation of ``epoch`` and where it came from.

    Raises
    ------
    FileNotFoundError
        No ``eval-*-epochNNN.json`` of that epoch in the run folder.
    """
    run = run_folder(checkpoint)
    found = sorted(run.glob(f"eval-*-epoch{epoch:03d}.json"))
    if not found:
        raise FileNotFoundError(f"{run}: no evaluation of epoch {epoch} (eval-*-epoch{epoch:03d}.json) to take a "
                                "threshold from: run `fasmodel eval` first, or give --threshold")
    result = json.loads(found[0].read_text())
    m = result["metrics"]
    return float(m["threshold"]), f"{found[0].name} ({m['threshold_source']})"


def label_one_video(video: str | os.PathLike, build: dict, folder: str | os.PathLike, *,
                    sfm_dir: str | None = None) -> Path:
    """Run fasprep's per-video build on ``video`` with a build's options; returns its part file.

    Raises :class:`fasprep.errors.InputError` (a file that is not a readable video) as the build does.
    """
    from fasprep.build import BuildConfig, label_video
    from fasprep.datasets import VideoRecord
    from fasprep.errors import InputError
    from fasprep.shards import PartWriter

    fields = set(BuildConfig.__dataclass_fields__)
    config = BuildConfig(**{k: v for k, v in build.items() if k in fields})
    if config.depth_source == "sfm":
        from fasprep import depth as dp

        sfm_dir = str(dp.find_sfm(sfm_dir))
    path = Path(video)
    if not path.is_file():
        raise InputError(path, "no such file")
    # The label only decides which labels a build writes (depth, spectrum); prediction reads neither.
    record = VideoRecord(video_id=path.stem, path=path, split="", label="live", subject=0, attack="live")
    part = Path(folder) / "video.h5"
    with PartWriter(part, record.video_id, codec=config.frame_codec, crop_size=config.crop_size,
                    jpeg_quality=config.jpeg_quality) as writer:
        label_video(record, writer, config=config, sfm_dir=sfm_dir)
    return part


@torch.no_grad()
def predict_video(video: str | os.PathLike, checkpoint: str | os.PathLike, *, threshold: float | None = None,
                  max_clips: int = 10, batch_size: int = 8, device: str = "auto", sfm_dir: str | None = None) -> dict:
    """Score one video with a checkpoint and decide live or attack.

    Returns
    -------
    dict: ``video``, ``decision`` ("live" or "attack"), ``attack_score`` (higher = attack),
    ``threshold``, ``threshold_from``, ``clips``, ``frames`` (stored), ``face_frames``,
    ``heart_rate_bpm`` (peak of the mean predicted spectrum; auxiliary models only, else None),
    ``checkpoint``, ``epoch``.
    """
    state = load_checkpoint(checkpoint, "cpu")
    cfg = state["config"]
    if threshold is None:
        threshold, source = run_threshold(checkpoint, state["epoch"])
    else:
        threshold, source = float(threshold), "given"
    dev = pick_device(device)
    model = model_from_checkpoint(state).to(dev)
    span = (cfg["clip_frames"] - 1) * cfg["stride"] + 1
    with tempfile.TemporaryDirectory(prefix="fasmodel-predict-") as tmp:
        part = label_one_video(video, state["build"], tmp, sfm_dir=sfm_dir)
        with h5py.File(part, "r") as f:
            group = f["videos"][Path(video).stem]
            n = len(group["face_ok"])
            faces = int(np.sum(group["face_ok"][:]))
            starts = clip_starts(n, span, max_clips)
            if not len(starts):
                raise ValueError(f"{video}: {n} stored frames, shorter than one clip of {cfg['clip_frames']} frames "
                                 f"{cfg['stride']} apart ({span} frames)")
            clips = [read_clip(group, int(s), cfg["clip_frames"], cfg["stride"]) for s in starts]
    scores, spectra = [], []
    for i in range(0, len(clips), batch_size):
        chunk = clips[i:i + batch_size]
        batch = {k: torch.as_tensor(np.stack([c[k] for c in chunk])).to(dev) for k in ("frames", "nrr_grid", "times")}
        out = model(batch["frames"], batch["nrr_grid"], batch["times"])
        scores += model.attack_score(out).float().cpu().tolist()
        if "spectrum" in out:
            spectra += list(out["spectrum"].float().cpu().numpy())
    score = float(np.mean(scores))
    hr = float(spectrum_hr_bpm(np.mean(spectra, axis=0))) if spectra else None
    return {"video": str(video), "decision": "attack" if score >= threshold else "live", "attack_score": score,
            "threshold": threshold, "threshold_from": source, "clips": len(scores), "frames": n,
            "face_frames": faces, "heart_rate_bpm": hr if hr is None or np.isfinite(hr) else None,
            "checkpoint": str(checkpoint), "epoch": state["epoch"]}


def format_prediction(p: dict) -> str:
    hr = f"; predicted pulse {p['heart_rate_bpm']:.0f} bpm" if p.get("heart_rate_bpm") is not None else ""
    return (f"{p['video']}: {p['decision'].upper()} (attack score {p['attack_score']:.4g}, threshold "
            f"{p['threshold']:.4g} from {p['threshold_from']}; {p['clips']} clips, face in {p['face_frames']} of "
            f"{p['frames']} frames{hr})")
