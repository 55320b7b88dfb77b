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
    """
    t, ppg, rr = load_welltory(folder)
    native_fs = 1.0 / np.median(np.diff(t))
    speed = target_bpm / strap_rate(rr, start_s, start_s + n / fs)
    for _ in range(3):  # the excerpt's span depends on the speed: settle both
        span = n / fs * speed
        excerpt = synth.resample_ppg(t, ppg, fs=native_fs, n=int(span * native_fs), start_s=start_s)
        own = dominant_rate_bpm(excerpt, native_fs)
        strap = strap_rate(rr, start_s, start_s + span)
        assert abs(own / strap - 1) < 0.05, f"{folder.name}: PPG {own:.1f} vs strap {strap:.1f} bpm"
        speed = target_bpm / own
    pulse = synth.resample_ppg(t, ppg, fs=fs, n=n, speed=speed, start_s=start_s)
    # A recording whose rate swings between two values over the excerpt can leave the stretched
    # pulse dominated by the other one (subject_01 at 130 bpm: 119.2); its truth is not the target.
    own = dominant_rate_bpm(pulse, fs)
    assert abs(own - target_bpm) < 0.5, f"{folder.name}: stretched pulse peaks at {own:.1f}, not {target_bpm} bpm"
    return pulse


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


def dominant_rate_bpm(x: np.ndarray, fs: float, band=(0.7, 2.5)) -> float:
    """Dominant frequency (bpm) of a clean signal: plain zero-padded periodogram peak.

    Written here independently of fasprep.rppg, to define the truth the estimator is held to.
    """
    x = np.asarray(x, float) - np.mean(x)
    nfft = 1 << 16
    f = np.fft.rfftfreq(nfft, 1 / fs)
    p = np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) ** 2
    inband = (f >= band[0]) & (f <= band[1])
    return 60 * f[inband][np.argmax(p[inband])]
