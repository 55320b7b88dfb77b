"""Train the paper's CNN-RNN (or the binary baseline) on fasprep shards, resumably.

Auxiliary supervision alternates the paper's two streams, one batch each per step pair:
single frames with their depth maps (the CNN), then Nf-frame clips with depth and rPPG spectra
(CNN, NRR layer and RNN). The binary baseline trains the same backbone with a softmax head on
the clips' frames.

A run folder holds ``config.json``, ``checkpoints/last.pt`` (+ one per epoch), ``log.csv`` and
``log.json`` (one row per epoch), ``curves.png`` and, with ``tensorboard``, ``tb/``. Clip
positions and batch order are drawn from the seed, the stream and the epoch (the two streams
see different orders), and the checkpoint carries the RNG states, so ``--resume`` continues
exactly, from the run's own ``config.json``.

Checkpoints hold only tensors and plain Python values (RNG states included), so they load with
``torch.load(path, weights_only=True)``: loading a shared checkpoint runs no code.
"""

from __future__ import annotations

import contextlib
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

from fasprep.io import atomic_path, usable_cores

from .data import ClipDataset
from .losses import binary_loss, total_loss
from .model import build_model

log = logging.getLogger(__name__)


#: Options a resumed run may change: they decide how fast it runs, not what it computes
#: (``epochs``: train further).
RUNTIME_OPTIONS = ("epochs", "device", "num_workers", "threads", "tensorboard")


@dataclass
class TrainConfig:
    """Options of a training run (saved as ``config.json`` in the run folder).

    The defaults are the paper's (Adam, learning rate 3e-3, Nf = 5 consecutive frames, no
    weight decay); every departure is an option, with its reason in README.md.
    """

    shards: str
    protocol: str
    supervision: str = "auxiliary"  # or "binary"
    epochs: int = 10
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 0.0
    clip_frames: int = 5
    stride: int = 1
    clips_per_video: int = 4
    width: float = 1.0
    rppg_head: str = "spectrum"  # or "signal": per-frame pulse, then its DFT (long clips)
    rppg_weight: float = 1.0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 2
    threads: int | None = None  # torch CPU threads; default: default_threads(num_workers)
    tensorboard: bool = False

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrainConfig":
        path = Path(path)
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such file (not a fasmodel run folder?)") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(saved) - known)
        if unknown:
            raise ValueError(f"{path}: unknown options {', '.join(unknown)} (written by another fasmodel version?)")
        return cls(**saved)


def resume_config(run: str | os.PathLike, given: dict | None = None) -> TrainConfig:
    """The config of a run to continue: its own ``config.json``, with ``given`` options checked.

    Options given again must agree with the run's, except :data:`RUNTIME_OPTIONS` (epochs,
    device, workers, threads, tensorboard), which replace the saved ones.

    Raises
    ------
    ValueError
        One line naming every option that differs, its saved and its given value.
    """
    path = Path(run) / "config.json"
    cfg = TrainConfig.load(path)
    saved = dataclasses.asdict(cfg)
    given = dict(given or {})
    clash = [f"--{k.replace('_', '-')} {v!r} (the run has {saved[k]!r})" for k, v in sorted(given.items())
             if k in saved and k not in RUNTIME_OPTIONS and _differs(saved[k], v)]
    if clash:
        raise ValueError(f"{path}: resuming with options that differ from the run's: {'; '.join(clash)}. "
                         "Resume without them, or train into a new --out folder")
    return dataclasses.replace(cfg, **{k: v for k, v in given.items() if k in RUNTIME_OPTIONS})


def _differs(saved, given) -> bool:
    if isinstance(saved, str) and isinstance(given, (str, os.PathLike)) and saved != str(given):
        return Path(saved).resolve() != Path(given).resolve()  # the same shards folder, spelt differently
    return saved != given


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def default_threads(num_workers: int = 0) -> int:
    """torch CPU threads when none are asked for: the cores this process may use that the
    DataLoader workers leave free, at most ``OMP_NUM_THREADS`` where that is set (the variable
    torch and BLAS read too: a job scheduler or a parallel test runner sets it to the process's
    share of the machine).

    >>> default_threads(num_workers=10**6)  # never fewer than one
    1
    """
    free = max(1, usable_cores() - num_workers)
    try:
        return max(1, min(free, int(os.environ["OMP_NUM_THREADS"])))
    except (KeyError, ValueError):
        return free


@contextlib.contextmanager
def torch_session(threads: int | None, num_workers: int = 0):
    """While the block runs: torch's CPU threads as given, else :func:`default_threads`.
    Afterwards the caller's thread count and random states (torch, numpy,
    ``random``; training seeds them, and checkpoints carry them) are as they were: the
    library leaves its caller's process as it found it.

    Oversubscribed cores cost far more than they give: two torch threads sharing a core with a
    loader worker ran 10x slower than one thread in our measurements.
    """
    saved = (torch.get_num_threads(), torch.get_rng_state(), random.getstate(), np.random.get_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.set_num_threads(threads or default_threads(num_workers))
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.set_rng_state(saved[1])
        random.setstate(saved[2])
        np.random.set_state(saved[3])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


#: Build options a model's shape depends on: every build a run trains on must share them.
MODEL_BUILD_OPTIONS = ("crop_size", "depth_size", "rppg_bins")


def build_config_of(shards: str | os.PathLike) -> dict:
    """The build options of a shards folder (``manifest.json``'s ``config``), checked for the model.

    ``shards`` may also be a folder of cross-dataset protocols (``fasprep protocols cross``):
    then its builds (``cross.json``) must agree on :data:`MODEL_BUILD_OPTIONS`, and the first
    build's options are returned.

    The CNN's depth map is its input / 8 (256 -> 32, as in the paper), so the build's depth
    size must be its crop size / 8.
    """
    from fasprep.datasets.cross import read_cross
    from fasprep.shards import read_manifest

    if (Path(shards) / "manifest.json").is_file():
        c = read_manifest(shards)["config"]
    else:
        configs = {d: read_manifest(b["build"])["config"] for d, b in read_cross(shards)["builds"].items()}
        first, c = next(iter(configs.items()))
        for d, other in configs.items():
            differ = [f"{k} {c.get(k)} / {other.get(k)}" for k in MODEL_BUILD_OPTIONS if c.get(k) != other.get(k)]
            if differ:
                raise ValueError(f"{shards}: the builds of domains {first} and {d} differ in {', '.join(differ)}; "
                                 "one model trains on builds made with the same --crop-size, --depth-size and "
                                 "--rppg-bins: rebuild one of them")
    if c["crop_size"] != 8 * c["depth_size"]:
        raise ValueError(f"{shards}: crops of {c['crop_size']} px need depth maps of {c['crop_size'] // 8} "
                         f"(the CNN's depth map is its input / 8), the build has {c['depth_size']}: "
                         f"rebuild with --depth-size {c['crop_size'] // 8}")
    return dict(c)


def model_for_build(build: dict, supervision: str, *, width: float = 1.0, rppg_head: str = "spectrum") -> torch.nn.Module:
    """The model whose input, depth map and spectrum match a build's crops, depth size and bins."""
    return build_model(supervision, n_bins=build["rppg_bins"], width=width, grid_size=build["depth_size"],
                       rppg_head=rppg_head)


def model_for_shards(shards: str | os.PathLike, supervision: str, *, width: float = 1.0,
                     rppg_head: str = "spectrum") -> torch.nn.Module:
    """:func:`model_for_build` of a shards folder's build options."""
    return model_for_build(build_config_of(shards), supervision, width=width, rppg_head=rppg_head)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _loader(dataset: ClipDataset, cfg: TrainConfig, epoch: int, *, shuffle: bool, stream: int = 0) -> DataLoader:
    dataset.set_epoch(epoch)
    g = torch.Generator().manual_seed((cfg.seed * 100_003 + epoch) * 7 + stream)  # each stream its own order
    # Training drops a last partial batch, unless there is no full one.
    drop_last = shuffle and len(dataset) > cfg.batch_size
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=shuffle, generator=g, drop_last=drop_last,
                      num_workers=cfg.num_workers, persistent_workers=False,
                      pin_memory=torch.cuda.is_available(),
                      multiprocessing_context="spawn" if cfg.num_workers and sys.platform == "darwin" else None)


def _rng_state() -> dict:
    """RNG states as tensors and plain values (``weights_only`` loadable)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": json.dumps(random.getstate()),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, **state) -> Path:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """A checkpoint, loaded with ``weights_only=True`` (tensors and plain values only: no code runs).

    Returns
    -------
    dict: ``model`` (state dict), ``optimizer``, ``epoch``, ``history``, ``config`` (the
    :class:`TrainConfig` as a dict), ``build`` (the shards' build options), ``rng``.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # pickle.UnpicklingError and friends: not ours, or not safe to load
        raise ValueError(f"{path}: not a fasmodel checkpoint loadable with weights_only=True "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc


def model_from_checkpoint(state: dict) -> torch.nn.Module:
    """The model of a loaded checkpoint, weights in place, in eval mode."""
    cfg = state["config"]
    model = model_for_build(state["build"], cfg["supervision"], width=cfg["width"],
                            rppg_head=cfg.get("rppg_head", "spectrum"))
    model.load_state_dict(state["model"])
    return model.eval()


def format_epoch(row: dict, epochs: int) -> str:
    """One line per epoch: ``epoch 3/10 (12 steps, 41.2 s): sequence_depth 0.0123, ...``."""
    losses = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "steps", "seconds"))
    return f"epoch {row['epoch']}/{epochs} ({row['steps']} steps, {row['seconds']:.1f} s): {losses}"


def train(cfg: TrainConfig, run: str | os.PathLike, *, resume: bool = False, progress: bool = True,
          echo=None) -> Path:
    """Train (or continue training) into the run folder; returns the last checkpoint's path.

    Parameters
    ----------
    cfg : TrainConfig
        With ``resume``, the run's own config (:func:`resume_config`); it must match the
        checkpoint's, except :data:`RUNTIME_OPTIONS`.
    run : path, the run folder
    resume : bool, continue from ``run/checkpoints/last.pt``
    progress : bool, a progress bar per epoch on stderr
    echo : callable(str), optional, called with :func:`format_epoch`'s line after every epoch
    """
    with torch_session(cfg.threads, cfg.num_workers):
        return _train(cfg, run, resume=resume, progress=progress, echo=echo)


def _train(cfg: TrainConfig, run: str | os.PathLike, *, resume: bool, progress: bool, echo) -> Path:
    run = Path(run)
    last = run / "checkpoints" / "last.pt"
    if cfg.rppg_head not in ("spectrum", "signal"):
        raise ValueError(f"rppg_head: expected 'spectrum' or 'signal', got {cfg.rppg_head!r}")
    state = None
    if resume:
        if not last.is_file():
            raise FileNotFoundError(f"{last}: no checkpoint to resume from")
        state = load_checkpoint(last)
        changed = sorted(k for k, v in dataclasses.asdict(cfg).items()
                         if k not in RUNTIME_OPTIONS and _differs(state["config"].get(k), v))
        if changed:
            raise ValueError(f"{last}: the checkpoint was trained with other options ({', '.join(changed)}); "
                             "resume with the run's own config.json")
    elif last.is_file():
        raise ValueError(f"{run}: already holds a run (checkpoints/last.pt); continue it with --resume, "
                         "or train into a new --out folder")
    # Bad shards or protocol fail here, before anything is written into the run folder.
    clips = ClipDataset(cfg.shards, cfg.protocol, "train", clip_frames=cfg.clip_frames, stride=cfg.stride,
                        clips_per_video=cfg.clips_per_video, seed=cfg.seed)
    singles = ClipDataset(cfg.shards, cfg.protocol, "train", clip_frames=1, clips_per_video=cfg.clips_per_video,
                          seed=cfg.seed + 1)
    run.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    build_cfg = build_config_of(cfg.shards)
    model = model_for_build(build_cfg, cfg.supervision, width=cfg.width, rppg_head=cfg.rppg_head).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, history = 0, []
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"], state["history"]
        _set_rng_state(state["rng"])
    with atomic_path(run / "config.json") as tmp:
        tmp.write_text(json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    board = _tensorboard(run) if cfg.tensorboard else None
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0, sums, steps = time.perf_counter(), {}, 0
        seq_loader = _loader(clips, cfg, epoch, shuffle=True, stream=1)
        streams = [("sequence", seq_loader)]
        if cfg.supervision == "auxiliary":
            streams.insert(0, ("single", _loader(singles, cfg, epoch, shuffle=True, stream=0)))
        bar = tqdm(total=len(seq_loader), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False,
                   disable=not progress, file=sys.stderr)
        for batches in zip(*(loader for _, loader in streams)):
            for (stream, _), batch in zip(streams, batches):
                batch = to_device(batch, device)
                with autocast:
                    outputs = model(batch["frames"], batch["nrr_grid"], batch["times"])
                    if cfg.supervision == "auxiliary":
                        losses = total_loss(outputs, batch, stream=stream, rppg_weight=cfg.rppg_weight)
                    else:
                        ce = binary_loss(outputs["logits"], batch["attack"])
                        losses = {"loss": ce}
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
                 "history": history, "config": dataclasses.asdict(cfg), "build": build_cfg, "rng": _rng_state()}
        save_checkpoint(run / "checkpoints" / f"epoch-{epoch + 1:03d}.pt", **state)
        save_checkpoint(last, **state)
        write_logs(run, history, title=_title(cfg))
        if board is not None:
            for k, v in row.items():
                if k not in ("epoch", "steps"):
                    board.add_scalar(k.replace("_", "/", 1), v, epoch + 1)
            board.flush()
        if echo is not None:
            echo(format_epoch(row, cfg.epochs))
    if board is not None:
        board.close()
    return last


def _tensorboard(run: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("tensorboard: not installed; pip install tensorboard (or train without --tensorboard)") from None
    return SummaryWriter(str(run / "tb"))


def _title(cfg: TrainConfig) -> str:
    head = f", rPPG head {cfg.rppg_head}" if cfg.supervision == "auxiliary" else ""
    return (f"{cfg.protocol}: {cfg.supervision}{head}, Nf {cfg.clip_frames} stride {cfg.stride}, "
            f"width {cfg.width:g}, lr {cfg.lr:g}, seed {cfg.seed}")


def write_logs(run: Path, history: list[dict], *, title: str = "") -> None:
    """``log.csv`` and ``log.json`` (one row per epoch) and ``curves.png`` (the losses over epochs).

    The plot has integer epoch ticks, ``title`` on top, and one line per distinct series (a
    total that equals its only part, e.g. a single-frame step's loss = its depth loss, is drawn
    once).
    """
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
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    epochs = [r["epoch"] for r in history]
    drawn = []
    for k in keys:
        if k in ("epoch", "steps", "seconds"):
            continue
        values = [r.get(k, np.nan) for r in history]
        if any(np.allclose(values, d, equal_nan=True) for d in drawn):
            continue
        drawn.append(values)
        ax.plot(epochs, values, marker=".", label=k)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(run / "curves.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
