"""Heart-rate accuracy over a grid of rates and real PPG waveforms, on real faces, lossy codec.

    python benchmarks/hr_grid.py [--workdir hr-grid] [--kinds photo loop] [--subjects ...] [--rates ...]
    python benchmarks/hr_grid.py --clean      # the estimators on noise-free waveforms, no video

Each cell is a 20 s H.264 video made as the tests make theirs (tests/videos.py): a real face
(`photo`: the astronaut photo animated with head motion, light drift and noise; `loop`: the
single_face.mp4 talking head looped back and forth) carrying a Welltory finger-PPG recording
time-stretched to the rate and injected at <= 0.5 % of skin intensity. The skin trace of each
video (decode + FaceMesh + skin mean, the slow part) is cached in WORKDIR, so re-runs only
re-estimate. Every trace is estimated three times in the same run: by `analyse_trace` (this
version's heart rate), by the estimator of commit 639906c (issue 15's first round) and by the
plain in-band argmax of the spectrum (before issue 15), so the columns compare estimators on
identical inputs.

Prints one table per video kind: rows = waveforms, columns = rates, cells = the three errors in
bpm, the count of cells within 2 bpm for each estimator, and the cells the new one loses.
The six waveforms are recordings that tests/videos.py accepts at every rate of the grid: a
clean excerpt (the PPG agrees with the chest strap, no finger artifact, one rate: the search
moves on from 5 s into the recording until it finds one) whose stretched pulse's own dominant
rate is the target (subject_13, 20 and 21 have no such excerpt at 130 or 150 bpm).
CLEAN_SUBJECTS are all eighteen that pass; the twelve outside SUBJECTS are held out from the
video grid.
About a minute per video on 2 cores (made and tracked once; cached in WORKDIR with the tracked
landmarks, the face's motion).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SUBJECTS = ["subject_05", "subject_09", "subject_15", "subject_16", "subject_02", "subject_03"]
RATES = [45, 50, 55, 60, 75, 100, 130, 150]
N = 600  # 20 s at 30 fps


def trace_of(kind: str, subject: str, bpm: float, workdir: Path) -> dict:
    """Skin trace of one grid video (made and tracked once, then cached)."""
    from videos import looped_video, photo_video, welltory_pulse

    cache = workdir / f"{kind}_{subject}_{bpm:g}.npz"
    if cache.exists():
        return dict(np.load(cache))
    data = ROOT / "tests" / "data"
    pulse = welltory_pulse(data / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=N)
    video = workdir / f"{kind}_{subject}_{bpm:g}.mp4"
    if kind == "photo":
        import cv2

        face = cv2.cvtColor(cv2.imread(str(data / "images" / "astronaut.png")), cv2.COLOR_BGR2RGB)
        photo_video(video, face, pulse, seed=int(bpm), amplitude=0.004)
    else:
        looped_video(video, data / "video" / "single_face.mp4", pulse, amplitude=0.005)
    rgb, ok, landmarks, fps = traced(video)
    video.unlink()
    out = {"rgb": rgb, "face_ok": ok, "fps": np.float64(fps), "landmarks": landmarks}
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(cache)
    return out


def traced(video: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """:func:`fasprep.face.skin_trace` of a video, plus the landmarks it tracked (the face's
    motion), (T, 478, 2) float32 pixels, NaN where no face."""
    from fasprep.face import N_LANDMARKS, skin_mean_rgb, track_video
    from fasprep.io import probe_video

    rgb, landmarks = [], []
    for frame, lm in track_video(video):
        rgb.append(np.full(3, np.nan) if lm is None else skin_mean_rgb(frame, lm))
        landmarks.append(np.full((N_LANDMARKS, 2), np.nan, np.float32) if lm is None else lm[:, :2])
    rgb = np.array(rgb, dtype=np.float64).reshape(-1, 3)
    return rgb, np.all(np.isfinite(rgb), axis=1), np.array(landmarks, np.float32), probe_video(video).fps


def plain_argmax_bpm(pulse: np.ndarray, fs: float) -> float:
    """The estimator before issue 15: the largest in-band peak of the pulse's power spectrum."""
    from fasprep.rppg import PULSE_BAND, pulse_spectrum

    f, p = pulse_spectrum(pulse, fs=fs)
    inband = (f >= PULSE_BAND[0]) & (f <= PULSE_BAND[1])
    return 60.0 * f[inband][np.argmax(p[inband])]


def previous_bpm(pulse: np.ndarray, fs: float) -> float:
    """The estimator of commit 639906c (issue 15's first round): CHROM's response divided out only
    among the peaks within 85 % of the strongest, then the half-frequency check."""
    from fasprep.rppg import (
        HARMONIC_TOLERANCE_BPM,
        PULSE_BAND,
        _band_peaks,
        _refine_hz,
        _response_on,
        pulse_spectrum,
    )

    f, p = pulse_spectrum(pulse, fs=fs)
    weighed = p / np.maximum(_response_on(f, fs, PULSE_BAND, 1.6, 3), 1e-6) ** 2
    peaks = _band_peaks(f, p, PULSE_BAND)
    close = peaks[p[peaks] >= 0.85 * p[peaks].max()]
    k = close[np.argmax(weighed[close])]
    half = peaks[np.abs(f[peaks] - f[k] / 2) <= HARMONIC_TOLERANCE_BPM / 60.0]
    if len(half) and weighed[half].max() >= weighed[k]:
        k = half[np.argmax(weighed[half])]
    return 60.0 * _refine_hz(f, p, k)


#: Recordings with a clean excerpt at every rate of the grid (for --clean).
CLEAN_SUBJECTS = [f"subject_{i:02d}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19)]


def estimates(pulse: np.ndarray, fs: float) -> dict[str, float]:
    """Heart rate (bpm) of one pulse by each estimator compared."""
    from fasprep.rppg import heart_rate

    return {"new": heart_rate(pulse, fs=fs), "previous": previous_bpm(pulse, fs), "plain": plain_argmax_bpm(pulse, fs)}


def clean_grid(subjects: list[str], rates: list[float]) -> None:
    """The estimators on noise-free waveforms through CHROM alone: a skin trace carrying nothing
    but the recording at the rate (0.4 % along the BVP direction), no video."""
    from videos import welltory_pulse

    from fasprep.rppg import chrom_pulse
    from fasprep.synth import BVP_DIRECTION

    fs, ok, n = 30.0, {}, 0
    for subject in subjects:
        for bpm in rates:
            ppg = welltory_pulse(ROOT / "tests" / "data" / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=N)
            pulse = chrom_pulse(150.0 * (1 + 0.004 * np.outer(ppg, BVP_DIRECTION)), fs=fs)
            for name, hr in estimates(pulse, fs).items():
                ok[name] = ok.get(name, 0) + (abs(hr - bpm) <= 2)
            n += 1
    print(f"noise-free waveforms through CHROM, {len(subjects)} recordings x {len(rates)} rates, within 2 bpm: "
          + ", ".join(f"{name} {k}/{n}" for name, k in ok.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("hr-grid"))
    ap.add_argument("--kinds", nargs="+", default=["photo", "loop"], choices=["photo", "loop"])
    ap.add_argument("--subjects", nargs="+", default=SUBJECTS)
    ap.add_argument("--rates", nargs="+", type=float, default=RATES)
    ap.add_argument("--clean", action="store_true", help="Only the noise-free grid over CLEAN_SUBJECTS (seconds).")
    ap.add_argument("--cached-only", action="store_true", help="Tabulate only the cells already in WORKDIR.")
    args = ap.parse_args()
    if args.clean:
        clean_grid(CLEAN_SUBJECTS, args.rates)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)

    from fasprep.rppg import analyse_trace

    for kind in args.kinds:
        err = {}
        t0 = time.perf_counter()
        for subject in args.subjects:
            for bpm in args.rates:
                if args.cached_only and not (args.workdir / f"{kind}_{subject}_{bpm:g}.npz").exists():
                    continue
                tr = trace_of(kind, subject, bpm, args.workdir)
                res = analyse_trace(tr["rgb"], tr["face_ok"], fs=float(tr["fps"]))
                est = estimates(res.pulse, res.fps)
                assert est["new"] == res.hr_bpm
                err[subject, bpm] = {name: hr - bpm for name, hr in est.items()}
        print(f"\n{kind}: HR error in bpm, this version / previous (639906c) / plain argmax (before issue 15); "
              f"{time.perf_counter() - t0:.0f} s")
        print(f"{'waveform':<11}" + "".join(f"{r:>19g}" for r in args.rates))
        for subject in args.subjects:
            cells = ["/".join(f"{e:+.1f}" for e in err[subject, r].values()) if (subject, r) in err else "-"
                     for r in args.rates]
            print(f"{subject:<11}" + "".join(f"{c:>19}" for c in cells))
        n = len(err)
        names = ["new", "previous", "plain"]
        ok = {m: sum(abs(e[m]) <= 2 for e in err.values()) for m in names}
        mae = {m: np.mean([abs(e[m]) for e in err.values()]) if n else np.nan for m in names}
        lost = [f"{s} at {r:g}" for (s, r), e in err.items()
                if abs(e["new"]) > 2 and (abs(e["previous"]) <= 2 or abs(e["plain"]) <= 2)]
        print(f"within 2 bpm of {n} cells: " + ", ".join(f"{m} {ok[m]}" for m in names)
              + "; MAE " + " / ".join(f"{mae[m]:.2f}" for m in names)
              + f" bpm; cells this version loses that an older one got: {', '.join(lost) or 'none'}")


if __name__ == "__main__":
    main()
