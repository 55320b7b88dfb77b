"""Files a user looks at: rPPG tables, arrays and plots. Every file is written atomically."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from .io import atomic_path
from .rppg import RppgResult


def write_rppg_csv(result: RppgResult, path: str | os.PathLike) -> Path:
    """One row per frame: ``frame, time_s, r, g, b, pulse, face_ok`` (r, g, b empty without a face)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "time_s", "r", "g", "b", "pulse", "face_ok"])
        for i, (rgb, p, ok) in enumerate(zip(result.rgb, result.pulse, result.face_ok)):
            colour = [f"{v:.4f}" for v in rgb] if ok else ["", "", ""]
            w.writerow([i, f"{i / result.fps:.4f}", *colour, f"{p:.6g}", int(ok)])
    return path


def write_rppg_npz(result: RppgResult, path: str | os.PathLike) -> Path:
    """Arrays: ``pulse`` (T,), ``freqs`` (K,) Hz, ``spectrum`` (K,) power, ``label`` (F,),
    ``label_freqs`` (F,) Hz, ``rgb`` (T, 3), ``face_ok`` (T,), ``hr_track`` (N, 3) as time_s, bpm, snr_db."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, pulse=result.pulse.astype(np.float32), freqs=result.freqs.astype(np.float32),
                spectrum=result.power.astype(np.float32), label=result.label,
                label_freqs=result.label_freqs.astype(np.float32), rgb=result.rgb.astype(np.float32),
                face_ok=result.face_ok, fps=np.float64(result.fps), hr_bpm=np.float64(result.hr_bpm),
                snr_db=np.float64(result.snr_db),
                hr_track=np.stack([result.track_t, result.track_bpm, result.track_snr], axis=1))
    return path


def plot_rppg(result: RppgResult, path: str | os.PathLike) -> Path:
    """PNG with the pulse waveform, its spectrum with the HR peak marked, and the HR track."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(result.n_frames) / result.fps
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 8), constrained_layout=True)
    ax1.plot(t, result.pulse, lw=0.8, color="tab:red")
    lost = ~result.face_ok
    if lost.any():
        ax1.fill_between(t, 0, 1, where=lost, transform=ax1.get_xaxis_transform(),
                         color="0.85", step="mid", label="no face")
        ax1.legend(loc="upper right")
    ax1.set(xlabel="time (s)", ylabel="pulse (a.u.)",
            title=f"{Path(result.source).name}: CHROM pulse, HR {result.hr_bpm:.1f} bpm, SNR {result.snr_db:.1f} dB")

    keep = result.freqs <= 4.0
    bpm = 60 * result.freqs[keep]
    ax2.plot(bpm, result.power[keep] / max(result.power[keep].max(), 1e-30), color="tab:blue")
    lo, hi = result.params.get("band_hz", (0.7, 2.5))
    ax2.axvspan(60 * lo, 60 * hi, color="tab:blue", alpha=0.07, label="pulse band")
    if np.isfinite(result.hr_bpm):
        ax2.axvline(result.hr_bpm, color="tab:red", ls="--", label=f"HR {result.hr_bpm:.1f} bpm")
    ax2.set(xlabel="frequency (bpm)", ylabel="power (norm.)", title="pulse spectrum")
    ax2.legend(loc="upper right")

    ax3.plot(result.track_t, result.track_bpm, "o-", ms=3, color="tab:green")
    ax3.set(xlabel="time (s)", ylabel="HR (bpm)",
            title=f"HR track ({result.params.get('track_win_sec', 10):g} s windows)")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def _depth_rgb(depth: np.ndarray, size: int) -> np.ndarray:
    import cv2

    d = cv2.resize(depth.astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor((np.clip(d, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)


def depth_panel(crop: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One row: the face crop | its depth map | the depth over the crop (magma colours).

    Parameters
    ----------
    crop : (P, P, 3) uint8 RGB; depth : (S, S) float in [0, 1]; mask : (S, S) bool

    Returns
    -------
    (P, 3P, 3) uint8 RGB
    """
    import cv2

    size = crop.shape[0]
    grey = _depth_rgb(depth, size)
    colour = cv2.applyColorMap(grey[..., 0], cv2.COLORMAP_MAGMA)[..., ::-1]
    m = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)
    overlay = crop.copy()
    overlay[m] = (0.45 * crop[m] + 0.55 * colour[m]).astype(np.uint8)
    return np.hstack([crop, grey, overlay])


def write_depth_preview(labels, crops: dict, path: str | os.PathLike, *, frame: int | None = None) -> Path:
    """PNG of one frame's crop | depth | overlay (the middle of the kept frames by default)."""
    import cv2

    t = sorted(crops)[len(crops) // 2] if frame is None else frame
    panel = depth_panel(crops[t], labels.depth[t], labels.mask[t])
    path = Path(path)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), panel[..., ::-1])
    return path


def write_contact_sheet(labels, crops: dict, path: str | os.PathLike, *, fps: float | None = None) -> Path:
    """PNG with one crop | depth | overlay row per kept frame, labelled with its index (and time)."""
    import cv2

    rows = []
    for t in sorted(crops):
        row = depth_panel(crops[t], labels.depth[t], labels.mask[t])
        text = f"frame {t}" + (f"  {t / fps:.2f} s" if fps else "")
        cv2.putText(row, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(row)
    path = Path(path)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), np.vstack(rows)[..., ::-1])
    return path
