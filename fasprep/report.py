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


def _figure(**kw):
    """A matplotlib Figure drawn by Agg, without pyplot: the caller's backend stays as it is."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def _save_png(fig, path: str | os.PathLike, **kw) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", **kw)
    return path


def plot_rppg(result: RppgResult, path: str | os.PathLike) -> Path:
    """PNG with the pulse waveform, its spectrum with the HR peak marked, and the HR track."""
    t = np.arange(result.n_frames) / result.fps
    fig = _figure(figsize=(10, 8), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1)
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
    ax2.set(xlabel="frequency (bpm)", ylabel="power (normalised to peak)", title="pulse spectrum (whole clip)")
    ax2.legend(loc="upper right")

    win = result.params.get("track_win_sec", 10)
    ax3.plot(result.track_t, result.track_bpm, "o-", ms=3, color="tab:green")
    ax3.set(xlabel="time (s), window centre", ylabel="HR (bpm)", xlim=(0, max(t[-1] if len(t) else 0, 1e-3)))
    if len(result.track_t) > 1:
        ax3.set_title(f"HR track: {win:g} s windows")
    else:
        ax3.set_title(f"HR track: one estimate (the {t[-1] if len(t) else 0:.1f} s clip is shorter than the "
                      f"{win:g} s track window)")
    return _save_png(fig, path, dpi=100)


def _resize_nearest(a: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(a.astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)


def _magma(depth: np.ndarray) -> np.ndarray:
    """(S, S) float in [0, 1] -> (S, S, 3) uint8 RGB in matplotlib's magma colours."""
    from matplotlib import colormaps

    return (colormaps["magma"](np.clip(depth, 0, 1))[..., :3] * 255).astype(np.uint8)


def depth_overlay(crop: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The depth at the crop's size and the crop with the depth blended in (magma) on the face.

    Parameters
    ----------
    crop : (P, P, 3) uint8 RGB; depth : (S, S) float in [0, 1]; mask : (S, S) bool

    Returns
    -------
    depth : (P, P) float32 in [0, 1]; overlay : (P, P, 3) uint8 RGB
    """
    size = crop.shape[0]
    d = np.clip(_resize_nearest(depth, size), 0, 1)
    m = _resize_nearest(mask, size).astype(bool)
    overlay = crop.copy()
    overlay[m] = (0.45 * crop[m] + 0.55 * _magma(d)[m]).astype(np.uint8)
    return d, overlay


def depth_panel(crop: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One row of pixels: the face crop | its depth map (grey) | the depth over the crop (magma).

    Parameters
    ----------
    crop : (P, P, 3) uint8 RGB; depth : (S, S) float in [0, 1]; mask : (S, S) bool

    Returns
    -------
    (P, 3P, 3) uint8 RGB
    """
    d, overlay = depth_overlay(crop, depth, mask)
    grey = np.repeat((d * 255).astype(np.uint8)[..., None], 3, axis=2)
    return np.hstack([crop, grey, overlay])


DEPTH_CBAR_LABEL = "depth (0 far, 1 near)"


def _depth_rows(fig, rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Draw rows of (label, crop, depth, mask) as crop | depth | overlay, with one colour bar."""
    axes = fig.subplots(len(rows), 3, squeeze=False)
    image = None
    for r, (label, crop, depth, mask) in enumerate(rows):
        d, overlay = depth_overlay(crop, depth, mask)
        axes[r, 0].imshow(crop)
        image = axes[r, 1].imshow(d, cmap="magma", vmin=0, vmax=1)
        axes[r, 2].imshow(overlay)
        axes[r, 0].set_ylabel(label, fontsize=9)
        for c, title in enumerate(("face crop", "depth label", "depth over the crop (face mask)")):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(title, fontsize=9)
    fig.colorbar(image, ax=axes[:, 1], shrink=0.9 if len(rows) == 1 else 0.5, label=DEPTH_CBAR_LABEL)


def write_depth_preview(labels, crops: dict, path: str | os.PathLike, *, frame: int | None = None,
                        name: str = "") -> Path:
    """PNG of one frame's crop | depth | overlay (the middle of the kept frames by default),
    titled with ``name`` (e.g. the input file's) and the depth source."""
    t = sorted(crops)[len(crops) // 2] if frame is None else frame
    fig = _figure(figsize=(9.5, 3.4), layout="constrained")
    _depth_rows(fig, [(f"frame {t}", crops[t], labels.depth[t], labels.mask[t])])
    side = labels.depth.shape[-1]
    fig.suptitle(f"{name + ': ' if name else ''}depth label from {labels.source}, {side}x{side}", fontsize=10)
    return _save_png(fig, path, dpi=100)


def write_contact_sheet(labels, crops: dict, path: str | os.PathLike, *, fps: float | None = None,
                        name: str = "") -> Path:
    """PNG with one crop | depth | overlay row per kept frame, labelled with its index (and time)."""
    rows = [(f"frame {t}" + (f"\n{t / fps:.2f} s" if fps else ""), crops[t], labels.depth[t], labels.mask[t])
            for t in sorted(crops)]
    fig = _figure(figsize=(9.5, 0.4 + 2.6 * len(rows)), layout="constrained")
    _depth_rows(fig, rows)
    fig.suptitle(f"{name + ': ' if name else ''}depth labels from {labels.source}", fontsize=10)
    return _save_png(fig, path, dpi=80)


# --- a build -------------------------------------------------------------------------------------


def build_summary(out: str | os.PathLike) -> dict:
    """Counts, sizes, label and pulse statistics and failures of a build folder (``fasprep info``)."""
    from .datasets import read_protocol
    from .shards import read_manifest

    out = Path(out)
    m = read_manifest(out)
    videos = m["videos"]
    counts: dict[str, dict[str, list[int]]] = {}
    for vid, r in videos.items():
        split = r.get("split") or vid.split("/", 1)[0]  # format version 1 has no split: SiW's first folder
        c = counts.setdefault(split, {}).setdefault(r["label"], [0, 0])
        c[0 if r["status"] == "ok" else 1] += 1
    ok = [r for r in videos.values() if r["status"] == "ok"]
    frames = sum(r["n_frames"] for r in ok)
    shard_bytes = sum(s["bytes"] for s in m["shards"])

    def stats(values):
        v = np.array([x for x in values if x is not None], float)
        if not v.size:
            return None
        return {"n": int(v.size), "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}

    protocols = {}
    for csv_path in sorted((out / "protocols").glob("*/*.csv")):
        n = len(read_protocol(out, csv_path.parent.name, csv_path.stem))
        protocols.setdefault(csv_path.parent.name, {})[csv_path.stem] = n
    return {
        "out": str(out), "dataset": m["dataset"], "fasprep_version": m["fasprep_version"],
        "config": m["config"], "config_hash": m["config_hash"],
        "videos": len(videos), "ok": len(ok), "failed": len(videos) - len(ok), "counts": counts,
        "frames": frames, "shards": len(m["shards"]), "bytes": shard_bytes,
        "bytes_per_frame": shard_bytes / frames if frames else None,
        "live_hr_bpm": stats(r["hr_bpm"] for r in ok if r["label"] == "live"),
        "live_hr_unreliable": {v: r.get("hr_note", "too little pulse") for v, r in videos.items()
                               if r["status"] == "ok" and r["label"] == "live" and r.get("hr_reliable") is False},
        "live_snr_db": stats(r["snr_db"] for r in ok if r["label"] == "live"),
        "spoof_snr_db": stats(r["snr_db"] for r in ok if r["label"] != "live"),
        "failures": [(v, r["error"]) for v, r in videos.items() if r["status"] != "ok"],
        "warnings": {v: r["warnings"] for v, r in videos.items() if r.get("warnings")},
        "rejected_frames": _rejected_totals(ok),
        "protocols": protocols,
    }


def _rejected_totals(videos: list[dict]) -> dict:
    """Frames the quality gate left without depth, per reason, and how many videos had any."""
    totals: dict[str, int] = {}
    for r in videos:
        for reason, n in (r.get("rejected_frames") or {}).items():
            totals[reason] = totals.get(reason, 0) + n
    return {"frames": totals, "videos": sum(1 for r in videos if r.get("rejected_frames"))}


def format_summary(s: dict, *, max_failures: int = 10) -> str:
    """The text of ``fasprep info``."""
    c = s["config"]
    lines = [f"{s['out']}: {s['dataset']} built by fasprep {s['fasprep_version']} (config {s['config_hash']})",
             f"  config: crops {c['crop_size']} px ({c['frame_codec']}), depth {c['depth_size']}x{c['depth_size']} "
             f"from {c['depth_source']}, every {c['frame_stride']} frame(s), {c['rppg_bins']} spectrum bins",
             f"  videos: {s['ok']} ok, {s['failed']} failed; {s['frames']} frames stored",
             f"  shards: {s['shards']}, {s['bytes'] / 1e9:.3f} GB"
             + (f", {s['bytes_per_frame'] / 1e3:.1f} KB per frame" if s["bytes_per_frame"] else "")]
    labels = sorted({lab for split in s["counts"].values() for lab in split})
    lines.append("  " + f"{'split':<8}" + "".join(f"{lab:>16}" for lab in labels))
    for split, row in sorted(s["counts"].items()):
        cells = []
        for lab in labels:
            okn, bad = row.get(lab, [0, 0])
            cells.append(f"{okn}" + (f" (+{bad} failed)" if bad else ""))
        lines.append("  " + f"{split:<8}" + "".join(f"{x:>16}" for x in cells))
    for key, name, unit in (("live_hr_bpm", "live HR", "bpm"), ("live_snr_db", "live SNR", "dB"),
                            ("spoof_snr_db", "spoof SNR", "dB")):
        st = s[key]
        if st:
            lines.append(f"  {name}: median {st['median']:.1f} {unit}, range {st['min']:.1f} to {st['max']:.1f} "
                         f"({st['n']} videos)")
    rejected = s.get("rejected_frames") or {}
    if rejected.get("frames"):
        lines.append(f"  frames without depth (quality gate), in {rejected['videos']} video(s): "
                     + ", ".join(f"{reason} {n}" for reason, n in sorted(rejected["frames"].items())))
    if s.get("live_hr_unreliable"):
        first = next(iter(s["live_hr_unreliable"].items()))
        lines.append(f"  {len(s['live_hr_unreliable'])} live video(s) with an UNRELIABLE heart rate (hr_reliable "
                     f"false in manifest.json), e.g. {first[0]}: {first[1]}")
    if s["protocols"]:
        lines.append("  protocols: " + ", ".join(
            f"{p} ({'/'.join(f'{k} {n}' for k, n in sorted(splits.items(), reverse=True))})"
            for p, splits in s["protocols"].items()))
    if s["warnings"]:
        first = next(iter(s["warnings"].items()))
        lines.append(f"  {len(s['warnings'])} video(s) built with warnings (in manifest.json), e.g. "
                     f"{first[0]}: {first[1][0]}")
    if s["failures"]:
        lines.append(f"  failures ({len(s['failures'])}; full list in failures.csv):")
        lines += [f"    {v}: {e}" for v, e in s["failures"][:max_failures]]
    return "\n".join(lines)


def write_preview(out: str | os.PathLike, video_id: str, path: str | os.PathLike, *, n_frames: int = 6) -> Path:
    """A QC sheet of one built video: crops, depth overlays, the pulse and its label spectrum."""
    from .rppg import label_frequencies
    from .shards import open_video, read_frames

    with open_video(out, video_id) as g:
        T = g["frames"].shape[0]
        ok = g["face_ok"][:]
        pick = np.flatnonzero(ok) if ok.any() else np.arange(T)
        pick = pick[np.round(np.linspace(0, len(pick) - 1, min(n_frames, len(pick)))).astype(int)]
        crops = [read_frames(g, t, t + 1)[0] for t in pick]
        depth, mask = g["depth"][:].astype(np.float32), g["depth_mask"][:]
        rppg, spectrum, index = g["rppg"][:], g["rppg_fft"][:], g["frame_index"][:]
        attrs = dict(g.attrs)
    fps = float(attrs["fps"])
    fig = _figure(figsize=(2.2 * len(pick) + 1.2, 2.2 * 2 + 3.0), dpi=100, layout="constrained")
    grid = fig.add_gridspec(3, len(pick) + 1, height_ratios=[1, 1, 1.3], width_ratios=[1] * len(pick) + [0.08])
    for k, (t, crop) in enumerate(zip(pick, crops)):
        overlay = depth_overlay(crop, depth[t], mask[t])[1]
        for row, img in enumerate((crop, overlay)):
            ax = fig.add_subplot(grid[row, k])
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"frame {index[t]} ({index[t] / fps:.2f} s)" + ("" if ok[t] else "\nno face"), fontsize=8)
            if k == 0:
                ax.set_ylabel("face crop" if row == 0 else "depth over crop", fontsize=9)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.colorbar(ScalarMappable(Normalize(0, 1), "magma"), cax=fig.add_subplot(grid[1, -1]),
                 label="depth (0 far, 1 near)")
    half = max(len(pick) // 2, 1)
    ax = fig.add_subplot(grid[2, :half])
    ax.plot(index / fps, rppg, lw=0.8)
    ax.set(xlabel="time (s)", ylabel="pulse (a.u.)")
    ax.set_title("rppg: CHROM pulse of the stored frames", fontsize=9)
    ax = fig.add_subplot(grid[2, half:])
    ax.plot(label_frequencies(len(spectrum)) * 60, spectrum, marker=".", lw=0.8)
    ax.set(xlabel="frequency (bpm)", ylabel="label magnitude (unit norm)")
    ax.set_title(f"rppg_fft label ({'zeros: an attack has no pulse' if not spectrum.any() else 'live'})", fontsize=9)
    fig.suptitle(f"{video_id}: {attrs['label']}, HR {attrs['hr_bpm']:.1f} bpm, SNR {attrs['snr_db']:.1f} dB, "
                 f"{T} frames stored", fontsize=10)
    return _save_png(fig, path)
