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
