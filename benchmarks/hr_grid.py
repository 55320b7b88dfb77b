"""Heart-rate accuracy over a grid of rates and real PPG waveforms, on real faces, lossy codec.

    python benchmarks/hr_grid.py [--workdir hr-grid] [--kinds photo loop] [--subjects ...] [--rates ...]
    python benchmarks/hr_grid.py --clean      # the estimators on noise-free waveforms, no video

Each cell is a 20 s H.264 video made as the tests make theirs (tests/videos.py): a real face
(`photo`: the astronaut photo animated with head motion, light drift and noise; `loop`: the
single_face.mp4 talking head looped back and forth) carrying a Welltory finger-PPG recording
time-stretched to the rate and injected at <= 0.5 % of skin intensity. The skin trace of each
video (decode + FaceMesh + skin mean, the slow part) is cached in WORKDIR, so re-runs only
re-estimate. Every trace is estimated twice in the same run: by `analyse_trace` (this version's
heart rate) and by the plain in-band argmax of the spectrum of the same pulse (the estimator
before issue 15), so the two columns compare estimators on identical inputs.

Prints one table per video kind: rows = waveforms, columns = rates, cells = new / old error in
bpm, the count of cells within 2 bpm for each estimator, and the cells the new one loses.
The six waveforms are recordings whose PPG agrees with the chest strap at every rate of the
grid (tests/videos.py checks it; subject_04, 07, 08, 11, 12, 18-20 do not, at some rate).
About a minute per video on 2 cores (made and tracked once; cached in WORKDIR).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SUBJECTS = ["subject_05", "subject_09", "subject_15", "subject_16", "subject_01", "subject_13"]
RATES = [45, 50, 55, 60, 75, 100, 130, 150]
N = 600  # 20 s at 30 fps


def trace_of(kind: str, subject: str, bpm: float, workdir: Path) -> dict:
    """Skin trace of one grid video (made and tracked once, then cached)."""
    from videos import looped_video, photo_video, welltory_pulse

    from fasprep.face import skin_trace

    cache = workdir / f"{kind}_{subject}_{bpm}.npz"
    if cache.exists():
        return dict(np.load(cache))
    data = ROOT / "tests" / "data"
    pulse = welltory_pulse(data / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=N)
    video = workdir / f"{kind}_{subject}_{bpm}.mp4"
    if kind == "photo":
        import cv2

        face = cv2.cvtColor(cv2.imread(str(data / "images" / "astronaut.png")), cv2.COLOR_BGR2RGB)
        photo_video(video, face, pulse, seed=int(bpm), amplitude=0.004)
    else:
        looped_video(video, data / "video" / "single_face.mp4", pulse, amplitude=0.005)
    rgb, ok, info = skin_trace(video)
    video.unlink()
    out = {"rgb": rgb, "face_ok": ok, "fps": np.float64(info.fps)}
    np.savez(cache, **out)
    return out


def plain_argmax_bpm(pulse: np.ndarray, fs: float) -> float:
    """The estimator before issue 15: the largest in-band peak of the pulse's power spectrum."""
    from fasprep.rppg import PULSE_BAND, pulse_spectrum

    f, p = pulse_spectrum(pulse, fs=fs)
    inband = (f >= PULSE_BAND[0]) & (f <= PULSE_BAND[1])
    return 60.0 * f[inband][np.argmax(p[inband])]


#: Recordings whose PPG agrees with the chest strap at every rate of the grid (for --clean).
CLEAN_SUBJECTS = ["subject_01", "subject_02", "subject_03", "subject_05", "subject_06", "subject_09", "subject_10",
                  "subject_13", "subject_14", "subject_15", "subject_16", "subject_17", "subject_21"]


def clean_grid(subjects: list[str], rates: list[float]) -> None:
    """The estimators on noise-free waveforms through CHROM alone: a skin trace carrying nothing
    but the recording at the rate (0.4 % along the BVP direction), no video."""
    from videos import welltory_pulse

    from fasprep.rppg import chrom_pulse, heart_rate
    from fasprep.synth import BVP_DIRECTION

    fs, new_ok, old_ok, n = 30.0, 0, 0, 0
    for subject in subjects:
        for bpm in rates:
            ppg = welltory_pulse(ROOT / "tests" / "data" / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=N)
            pulse = chrom_pulse(150.0 * (1 + 0.004 * np.outer(ppg, BVP_DIRECTION)), fs=fs)
            new_ok += abs(heart_rate(pulse, fs=fs) - bpm) <= 2
            old_ok += abs(plain_argmax_bpm(pulse, fs) - bpm) <= 2
            n += 1
    print(f"noise-free waveforms through CHROM, {len(subjects)} recordings x {len(rates)} rates: within 2 bpm "
          f"this version {new_ok}/{n}, plain argmax {old_ok}/{n}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("hr-grid"))
    ap.add_argument("--kinds", nargs="+", default=["photo", "loop"], choices=["photo", "loop"])
    ap.add_argument("--subjects", nargs="+", default=SUBJECTS)
    ap.add_argument("--rates", nargs="+", type=float, default=RATES)
    ap.add_argument("--clean", action="store_true", help="Only the noise-free grid over CLEAN_SUBJECTS (seconds).")
    args = ap.parse_args()
    if args.clean:
        clean_grid(CLEAN_SUBJECTS, args.rates)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)

    from fasprep.rppg import analyse_trace

    for kind in args.kinds:
        new_err, old_err = {}, {}
        t0 = time.perf_counter()
        for subject in args.subjects:
            for bpm in args.rates:
                tr = trace_of(kind, subject, bpm, args.workdir)
                res = analyse_trace(tr["rgb"], tr["face_ok"], fs=float(tr["fps"]))
                new_err[subject, bpm] = res.hr_bpm - bpm
                old_err[subject, bpm] = plain_argmax_bpm(res.pulse, res.fps) - bpm
        print(f"\n{kind}: HR error in bpm, this version / plain argmax (before issue 15); "
              f"{time.perf_counter() - t0:.0f} s")
        print(f"{'waveform':<11}" + "".join(f"{r:>13g}" for r in args.rates))
        for subject in args.subjects:
            cells = [f"{new_err[subject, r]:+6.1f}/{old_err[subject, r]:+6.1f}" for r in args.rates]
            print(f"{subject:<11}" + "".join(f"{c:>13}" for c in cells))
        n = len(new_err)
        ok_new = sum(abs(e) <= 2 for e in new_err.values())
        ok_old = sum(abs(e) <= 2 for e in old_err.values())
        mae_new = np.mean(np.abs(list(new_err.values())))
        mae_old = np.mean(np.abs(list(old_err.values())))
        worse = [f"{s} at {r:g}" for (s, r), e in new_err.items() if abs(e) > 2 and abs(old_err[s, r]) <= 2]
        print(f"within 2 bpm: this version {ok_new}/{n}, plain argmax {ok_old}/{n}; "
              f"MAE {mae_new:.2f} vs {mae_old:.2f} bpm; cells this version loses that the plain argmax "
              f"got: {', '.join(worse) or 'none'}")


if __name__ == "__main__":
    main()
