"""Train the paper's CNN-RNN (or the binary baseline) on fasprep shards, resumably.

Auxiliary supervision alternates the paper's two streams, one batch each per step pair:
single frames with their depth maps (the CNN), then Nf-frame clips with depth and rPPG spectra
(CNN, NRR layer and RNN). The binary baseline trains the same backbone with a softmax head on
the clips' frames.

A run folder holds ``config.json``, ``checkpoints/last.pt`` (+ one per epoch), ``log.csv`` and
``log.json`` (one row per epoch) and ``curves.png``. Clip positions and batch order are drawn
from the seed and the epoch, and the checkpoint carries the RNG states, so ``--resume``
continues exactly.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from fasprep.io import atomic_path

from .data import ClipDataset
from .losses import binary_loss, total_loss
from .model import build_model

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Options of a training run (saved as ``config.json`` in the run folder)."""

    shards: str
    protocol: str
    supervision: str = "auxiliary"  # or "binary"
    epochs: int = 10
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-5
    clip_frames: int = 5
    stride: int = 1
    clips_per_video: int = 4
    width: float = 1.0
    rppg_weight: float = 1.0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 2
    threads: int | None = None  # torch CPU threads; default: the cores the loader workers leave

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrainConfig":
        return cls(**json.loads(Path(path).read_text()))


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_threads(threads: int | None, num_workers: int = 0) -> None:
    """torch's CPU threads: as given, else the cores the DataLoader workers leave free.

    Oversubscribed cores cost far more than they give: two torch threads sharing a core with a
    loader worker ran 10x slower than one thread in our measurements.
    """
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) - num_workers))


def model_for_shards(shards: str | os.PathLike, supervision: str, *, width: float = 1.0) -> torch.nn.Module:
    """The model whose input, depth map and spectrum match a build's crops, depth size and bins.

    The CNN's depth map is its input / 8 (256 -> 32, as in the paper), so the build's depth
    size must be its crop size / 8.
    """
    from fasprep.shards import read_manifest

    c = read_manifest(shards)["config"]
    if c["crop_size"] != 8 * c["depth_size"]:
        raise ValueError(f"{shards}: crops of {c['crop_size']} px need depth maps of {c['crop_size'] // 8} "
                         f"(the CNN's depth map is its input / 8), the build has {c['depth_size']}: "
                         f"rebuild with --depth-size {c['crop_size'] // 8}")
    return build_model(supervision, n_bins=c["rppg_bins"], width=width, grid_size=c["depth_size"])


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _loader(dataset: ClipDataset, cfg: TrainConfig, epoch: int, *, shuffle: bool) -> DataLoader:
    dataset.set_epoch(epoch)
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    # Training drops a last partial batch, unless there is no full one.
    drop_last = shuffle and len(dataset) > cfg.batch_size
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=shuffle, generator=g, drop_last=drop_last,
                      num_workers=cfg.num_workers, persistent_workers=False,
                      pin_memory=torch.cuda.is_available(),
                      multiprocessing_context="spawn" if cfg.num_workers and sys.platform == "darwin" else None)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, **state) -> Path:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    return torch.load(path, map_location=device, weights_only=False)


def train(cfg: TrainConfig, run: str | os.PathLike, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or continue training) into the run folder; returns the last checkpoint's path."""
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    last = run / "checkpoints" / "last.pt"
    device = pick_device(cfg.device)
    set_threads(cfg.threads, cfg.num_workers)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = model_for_shards(cfg.shards, cfg.supervision, width=cfg.width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, history = 0, []
    if resume:
        if not last.is_file():
            raise FileNotFoundError(f"{last}: no checkpoint to resume from")
        state = load_checkpoint(last, device)
        changed = sorted(k for k, v in dataclasses.asdict(cfg).items()
                         if k != "epochs" and state["config"].get(k) != v)
        if changed:
            log.warning("resuming %s with changed options: %s", run, ", ".join(changed))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"], state["history"]
        _set_rng_state(state["rng"])
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
    clips = ClipDataset(cfg.shards, cfg.protocol, "train", clip_frames=cfg.clip_frames, stride=cfg.stride,
                        clips_per_video=cfg.clips_per_video, seed=cfg.seed)
    singles = ClipDataset(cfg.shards, cfg.protocol, "train", clip_frames=1, clips_per_video=cfg.clips_per_video,
                          seed=cfg.seed + 1)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0, sums, steps = time.perf_counter(), {}, 0
        seq_loader = _loader(clips, cfg, epoch, shuffle=True)
        streams = [("sequence", seq_loader)]
        if cfg.supervision == "auxiliary":
            streams.insert(0, ("single", _loader(singles, cfg, epoch, shuffle=True)))
        bar = tqdm(total=len(seq_loader), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False,
                   disable=not progress, file=sys.stderr)
        for batches in zip(*(loader for _, loader in streams)):
            for (stream, _), batch in zip(streams, batches):
                batch = to_device(batch, device)
                with autocast:
                    outputs = model(batch["frames"], batch["nrr_grid"])
                    if cfg.supervision == "auxiliary":
                        losses = total_loss(outputs, batch, stream=stream, rppg_weight=cfg.rppg_weight)
                    else:
                        ce = binary_loss(outputs["logits"], batch["attack"])
                        losses = {"loss": ce, "ce": ce.detach()}
                opt.zero_grad(set_to_none=True)
                losses["loss"].backward()
                opt.step()
                for k, v in losses.items():
                    sums[f"{stream}_{k}"] = sums.get(f"{stream}_{k}", 0.0) + float(v.detach())
            steps += 1
            bar.update()
        bar.close()
        row = {"epoch": epoch + 1, "steps": steps, "seconds": round(time.perf_counter() - t0, 2),
               **{k: v / max(steps, 1) for k, v in sorted(sums.items())}}
        history.append(row)
        log.info("epoch %d: %s", epoch + 1, row)
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                 "history": history, "config": dataclasses.asdict(cfg), "rng": _rng_state()}
        save_checkpoint(run / "checkpoints" / f"epoch-{epoch + 1:03d}.pt", **state)
        save_checkpoint(last, **state)
        write_logs(run, history)
    return last


def write_logs(run: Path, history: list[dict]) -> None:
    """``log.csv`` and ``log.json`` (one row per epoch) and ``curves.png`` (the losses over epochs)."""
    with atomic_path(run / "log.json") as tmp:
        tmp.write_text(json.dumps(history, indent=1) + "\n")
    keys = sorted({k for row in history for k in row}, key=lambda k: (k not in ("epoch", "steps", "seconds"), k))
    with atomic_path(run / "log.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    epochs = [r["epoch"] for r in history]
    for k in keys:
        if k not in ("epoch", "steps", "seconds"):
            ax.plot(epochs, [r.get(k, np.nan) for r in history], marker=".", label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(run / "curves.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
