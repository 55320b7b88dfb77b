"""Realistic test videos: real faces with a real, time-stretched PPG pulse in their skin.

The pulse is a Welltory finger-camera PPG recording; its reference heart rate is the Polar H10
chest strap recorded at the same time (RR.txt), so the "true" rate of a stretched excerpt is the
strap's mean rate over that excerpt times the stretch factor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fasprep import synth
from fasprep.face import skin_mean_rgb  # noqa: F401  (re-exported for tests that need it)
from fasprep.io import iter_frames, write_video

FPS = 30.0
#: Frames of the rPPG test videos (test_rppg_video*.py): 20 s.
RPPG_FRAMES = int(20 * FPS)


def load_welltory(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (s), PPG values (the red channel, which carries the finger pulse), RR intervals (s)."""
    a = np.loadtxt(folder / "PPG.csv", delimiter=",", skiprows=1)
    rr = np.array((folder / "RR.txt").read_text().split(), dtype=float) / 1000.0
    return a[:, 0] / 1000.0, a[:, 1], rr


def strap_rate(rr: np.ndarray, start_s: float, stop_s: float) -> float:
    """Mean heart rate (bpm) of the chest-strap beats between two recording times."""
    beats = np.cumsum(rr)
    inside = (beats > start_s) & (beats <= stop_s)
    return 60.0 / rr[inside].mean()


def welltory_pulse(folder: Path, *, target_bpm: float, n: int, fs: float = FPS,
                   start_s: float = 5.0) -> np.ndarray:
    """A recorded PPG excerpt, time-stretched so that its dominant pulse rate is ``target_bpm``.

    The recording's heart rate varies beat to beat; its dominant rate over the excerpt is what
    a spectral estimator can be held to, so the stretch is chosen to put exactly that at the
    target. The chest strap checks that the recording is a good pulse (within 5 %), and the stretched
    pulse's own dominant rate must be the target.

    The excerpt starts at ``start_s`` or, when the recording is not clean there, at the first
    whole second after it from which it is: its PPG agrees with the strap and it holds no
    artifact (:func:`artifact_free`). A finger shifting on the phone's camera swings the
    recording 3.5-7 times as far as a beat, and the pulse, scaled to peak magnitude 1, would
    then carry a fifth of its amplitude (the injected "0.5 %" pulse would be 0.1 %, beside a
    step no skin makes) and it has one rate (:func:`single_rate`; a rate that jumps by 10 bpm
    within the excerpt has no truth to hold an estimate to within 2 bpm). AssertionError when no
    such excerpt fits in the recording.
    """
    t, ppg, rr = load_welltory(folder)
    native_fs = 1.0 / np.median(np.diff(t))
    start, why = start_s, ""
    while True:
        try:
            pulse = _stretched(t, ppg, rr, native_fs, folder=folder, target_bpm=target_bpm, n=n, fs=fs,
                               start_s=start)
        except AssertionError as exc:  # the PPG disagrees with the strap here
            why = str(exc)
        except ValueError as exc:  # the recording ends before the excerpt would
            raise AssertionError(f"{folder.name}: no clean {target_bpm:g} bpm excerpt of {n} samples from "
                                 f"{start_s:g} s ({why or 'artifacts'}; {exc})") from None
        else:
            if not artifact_free(pulse, fs):
                why = f"artifact at {start:g} s"
            elif not single_rate(pulse, fs):
                why = f"two rates at {start:g} s"
            else:
                break
        start += 1.0
    # A recording whose rate swings between two values over the excerpt can leave the stretched
    # pulse dominated by the other one (subject_01 at 130 bpm: 119.2); its truth is not the target.
    own = dominant_rate_bpm(pulse, fs)
    assert abs(own - target_bpm) < 0.5, f"{folder.name}: stretched pulse peaks at {own:.1f}, not {target_bpm} bpm"
    return pulse


def _stretched(t, ppg, rr, native_fs, *, folder, target_bpm, n, fs, start_s) -> np.ndarray:
    """The excerpt from ``start_s`` stretched to the target (see :func:`welltory_pulse`)."""
    speed = target_bpm / strap_rate(rr, start_s, start_s + n / fs)
    for _ in range(3):  # the excerpt's span depends on the speed: settle both
        span = n / fs * speed
        excerpt = synth.resample_ppg(t, ppg, fs=native_fs, n=int(span * native_fs), start_s=start_s)
        own = dominant_rate_bpm(excerpt, native_fs)
        strap = strap_rate(rr, start_s, start_s + span)
        assert abs(own / strap - 1) < 0.05, f"{folder.name}: PPG {own:.1f} vs strap {strap:.1f} bpm"
        speed = target_bpm / own
    return synth.resample_ppg(t, ppg, fs=fs, n=n, speed=speed, start_s=start_s)


def artifact_free(pulse: np.ndarray, fs: float, *, max_ratio: float = 2.5) -> bool:
    """No second of ``pulse`` swings (peak to peak) more than ``max_ratio`` times the median
    second does. Clean excerpts of the recordings stay within 2.3 at every rate of the tests;
    those holding a finger artifact reach 3.1-62."""
    k = round(fs)
    seconds = np.asarray(pulse[:len(pulse) // k * k], float).reshape(-1, k)
    swing = seconds.max(axis=1) - seconds.min(axis=1)
    return bool(swing.max() <= max_ratio * np.median(swing))


def photo_video(path: Path, image: np.ndarray, pulse: np.ndarray, *, seed: int = 0, **kw) -> Path:
    """A still face photo animated with ``pulse`` (motion, light drift, noise), H.264."""
    write_video(path, synth.animate_face(image, pulse, fps=FPS, seed=seed, **kw), fps=FPS)
    return path


def looped_video(path: Path, source: Path, pulse: np.ndarray, *, amplitude: float = 0.004) -> Path:
    """A real face video looped back and forth to ``len(pulse)`` frames (turning at random frames:
    :func:`fasprep.synth.back_and_forth`), pulse in its skin."""
    frames = list(iter_frames(source))
    fps = FPS
    write_video(path, synth.pulse_in_frames(synth.back_and_forth(frames, len(pulse)), pulse,
                                            amplitude=amplitude), fps=fps)
    return path


def single_rate(pulse: np.ndarray, fs: float, *, band=(0.7, 2.5), min_apart_bpm: float = 3.0,
                max_ratio: float = 0.5) -> bool:
    """The pulse has one dominant rate: no other spectral peak in ``band``, more than
    ``min_apart_bpm`` from it and from its 2nd harmonic and subharmonic, has ``max_ratio`` of its
    power (subject_02's excerpts at 100 and 150 bpm: a second rate at 0.72 and 0.63)."""
    f_hz, p = _periodogram(pulse, fs)
    inband = np.flatnonzero((f_hz >= band[0]) & (f_hz <= band[1]))
    f = 60 * f_hz
    peaks = inband[1:-1][(p[inband][1:-1] >= p[inband][:-2]) & (p[inband][1:-1] > p[inband][2:])]
    f0 = f[peaks[np.argmax(p[peaks])]]
    others = peaks[np.min(np.abs(f[peaks, None] - f0 * np.array([0.5, 1.0, 2.0])), axis=1) > min_apart_bpm]
    return not len(others) or bool(p[others].max() < max_ratio * p[peaks].max())


def dominant_rate_bpm(x: np.ndarray, fs: float, band=(0.7, 2.5)) -> float:
    """Dominant frequency (bpm) of a clean signal: plain zero-padded periodogram peak.

    Written here independently of fasprep.rppg, to define the truth the estimator is held to.
    """
    f, p = _periodogram(x, fs)
    inband = (f >= band[0]) & (f <= band[1])
    return 60 * f[inband][np.argmax(p[inband])]


def _periodogram(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and power of the mean-removed, Hann-windowed signal, zero-padded to 2^16."""
    x = np.asarray(x, float) - np.mean(x)
    nfft = 1 << 16
    return np.fft.rfftfreq(nfft, 1 / fs), np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) ** 2
