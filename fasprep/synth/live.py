"""Realistic synthetic face videos with a known pulse: for the demo, the tests and benchmarks.

A real face photo is given a blood-volume pulse in its skin pixels (a relative intensity change
along the BVP colour direction), then moved slightly, lit with a slow drift and given sensor
noise, frame by frame. Skin is found by a colour rule here, independently of the MediaPipe
landmarks the estimator uses, so a test of the estimator does not test it against itself.
"""

from __future__ import annotations

from importlib import resources
from typing import Iterable, Iterator

import cv2
import numpy as np
from scipy import signal

#: Relative pulsatile amplitude per channel (R, G, B) of skin, unit norm: the "Pbv" signature of
#: de Haan & van Leest, Physiol. Meas. 35(9), 2014. Green pulses most.
BVP_DIRECTION = np.array([0.33, 0.77, 0.53]) / np.linalg.norm([0.33, 0.77, 0.53])


def example_face() -> np.ndarray:
    """The face photo shipped with fasprep (astronaut Eileen Collins, public domain).

    Returns
    -------
    np.ndarray, shape (512, 512, 3), uint8, RGB
    """
    data = resources.files("fasprep").joinpath("data/astronaut.jpg").read_bytes()
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def skin_colour_mask(image: np.ndarray, *, blur_px: int = 7) -> np.ndarray:
    """Soft skin mask by the YCrCb rule of Chai & Ngan (1999): 133 <= Cr <= 173, 77 <= Cb <= 127.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8, RGB
    blur_px : int
        Gaussian feathering of the mask edge, pixels (odd).

    Returns
    -------
    np.ndarray, shape (H, W), float32 in [0, 1]
    """
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1], ycc[..., 2]
    mask = ((cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)).astype(np.float32)
    return cv2.GaussianBlur(mask, (blur_px, blur_px), 0) if blur_px > 1 else mask


def synthetic_ppg(n: int, *, fs: float, hr_bpm: float, hrv_bpm: float = 2.0, seed: int = 0) -> np.ndarray:
    """A plausible PPG waveform: systolic peak and dicrotic wave per beat, with sinus arrhythmia.

    Parameters
    ----------
    n : int
        Samples.
    fs : float > 0, Hz
    hr_bpm : float
        Mean heart rate.
    hrv_bpm : float
        Amplitude of a slow (0.1-0.25 Hz) heart-rate modulation.
    seed : int

    Returns
    -------
    np.ndarray, shape (n,), float64 in [-1, 1]
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    f_resp = rng.uniform(0.1, 0.25)
    inst_hz = (hr_bpm + hrv_bpm * np.sin(2 * np.pi * f_resp * t + rng.uniform(0, 2 * np.pi))) / 60.0
    phase = np.cumsum(inst_hz) / fs % 1.0
    wave = np.exp(-0.5 * ((phase - 0.2) / 0.08) ** 2) + 0.4 * np.exp(-0.5 * ((phase - 0.5) / 0.1) ** 2)
    return normalise_pulse(wave)


def normalise_pulse(x: np.ndarray) -> np.ndarray:
    """Remove the mean and scale to peak magnitude 1."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    peak = np.max(np.abs(x))
    return x / peak if peak > 0 else x


def resample_ppg(times_s: np.ndarray, values: np.ndarray, *, fs: float, n: int, speed: float = 1.0,
                 start_s: float = 0.0) -> np.ndarray:
    """Resample a recorded PPG to video frame times, time-stretched to a new heart rate.

    Output sample ``k`` takes the recording at ``start_s + k / fs * speed``: ``speed`` > 1 plays
    it faster (heart rate times ``speed``). The result is band-passed to 0.5-4 Hz (removing the
    recording's baseline wander) and scaled to peak magnitude 1.

    Parameters
    ----------
    times_s : np.ndarray, shape (N,), float, seconds
        Capture times of the recording, increasing (need not be uniform).
    values : np.ndarray, shape (N,), float
    fs : float > 0, Hz
        Output rate (video fps).
    n : int
        Output samples.
    speed : float > 0
    start_s : float, seconds
        Where in the recording to start.
    """
    t = start_s + np.arange(n) / fs * speed
    if t[-1] > times_s[-1]:
        raise ValueError(f"recording is {times_s[-1]:.1f} s long, {t[-1]:.1f} s needed")
    x = np.interp(t, times_s, values)
    sos = signal.butter(2, (0.5, min(4.0, 0.45 * fs)), btype="bandpass", fs=fs, output="sos")
    return normalise_pulse(signal.sosfiltfilt(sos, x))


def inject_pulse(image: np.ndarray, value: float, *, amplitude: float, mask: np.ndarray) -> np.ndarray:
    """Skin pixels scaled by ``1 + amplitude * value * BVP_DIRECTION / max(BVP_DIRECTION)``.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8 or float, RGB
    value : float in [-1, 1]
        Pulse sample.
    amplitude : float
        Peak relative intensity change of the strongest (green) channel, e.g. 0.004 = 0.4 %.
    mask : np.ndarray, shape (H, W), float in [0, 1]
        Skin weight per pixel.

    Returns
    -------
    np.ndarray, shape (H, W, 3), float32
    """
    gain = (amplitude * value * BVP_DIRECTION / BVP_DIRECTION.max()).astype(np.float32)
    return image.astype(np.float32) * (1.0 + mask[..., None].astype(np.float32) * gain)


def photo_background(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What stands behind the face in the generated videos: the photo blurred and dimmed, so
    that it holds no second face.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8, RGB
    size : (width, height), pixels

    Returns
    -------
    np.ndarray, shape (height, width, 3), float32 in [0, 255]
    """
    return cv2.GaussianBlur(cv2.resize(image, size), (0, 0), 25).astype(np.float32) * 0.7


def animate_face(image: np.ndarray, pulse: np.ndarray, *, fps: float, size: tuple[int, int] = (640, 480),
                 amplitude: float = 0.004, motion_px: float = 2.0, rotation_deg: float = 1.0,
                 drift: float = 0.03, noise_sigma: float = 2.0, seed: int = 0) -> Iterator[np.ndarray]:
    """Frames of a still face photo brought to life with a pulse.

    Per frame ``k``: the pulse ``pulse[k]`` is injected into the photo's skin; the photo is
    scaled to the frame height, moved by a slow random translation (up to ``motion_px`` at the
    output scale) and rotation (up to ``rotation_deg``), lit with a gain drifting by up to
    ``drift`` (below 0.1 Hz, outside the pulse band) and given Gaussian sensor noise.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8, RGB
    pulse : np.ndarray, shape (T,), float in [-1, 1]
        One sample per output frame; zeros give a video without a pulse.
    fps : float > 0, Hz
    size : (width, height), pixels
    amplitude, motion_px, rotation_deg, drift, noise_sigma : float
    seed : int

    Yields
    ------
    np.ndarray, shape (height, width, 3), uint8, RGB
    """
    rng = np.random.default_rng(seed)
    w, h = size
    scale = h / image.shape[0]
    mask = skin_colour_mask(image)
    background = photo_background(image, (w, h))
    n = len(pulse)
    t = np.arange(n) / fps
    # Slow head motion: a few low-frequency sinusoids (0.05-0.4 Hz) with random phases.
    def wander(amp):
        f = rng.uniform(0.05, 0.4, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        return amp / 3 * np.sin(2 * np.pi * f[:, None] * t + ph[:, None]).sum(axis=0)

    dx, dy, rot = wander(motion_px), wander(motion_px), wander(rotation_deg)
    gain = 1.0 + drift * np.sin(2 * np.pi * rng.uniform(0.02, 0.08) * t + rng.uniform(0, 2 * np.pi))
    # A bank of noise frames drawn from at random: fresh Gaussian noise per 1080p frame would
    # cost more than everything else together.
    bank = None
    if noise_sigma > 0:  # int8 keeps even a 1080p bank small (6 frames: 37 MB)
        bank = np.clip(np.round(rng.normal(0.0, noise_sigma, (6, h, w, 3))), -127, 127).astype(np.int8)
    centre = (image.shape[1] / 2, image.shape[0] / 2)
    for k in range(n):
        face = inject_pulse(image, pulse[k], amplitude=amplitude, mask=mask)
        m = cv2.getRotationMatrix2D(centre, rot[k], scale)
        m[:, 2] += (w / 2 - centre[0] + dx[k], h / 2 - centre[1] + dy[k])  # photo centre to frame centre
        frame = cv2.warpAffine(face, m, (w, h), dst=background.copy(), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_TRANSPARENT)
        frame *= gain[k]
        if bank is not None:
            frame += bank[rng.integers(len(bank))]
        yield np.clip(frame, 0, 255).astype(np.uint8)


def pulse_in_frames(frames: Iterable[np.ndarray], pulse: np.ndarray, *, amplitude: float = 0.004,
                    noise_sigma: float = 2.0, seed: int = 0) -> Iterator[np.ndarray]:
    """Inject a pulse into the skin of existing video frames (skin found per frame by colour).

    Gaussian sensor noise is added and the result rounded stochastically
    (``floor(x + U[0, 1))``), so a pulse of well under one grey level survives in the mean, as
    sensor noise lets it survive in a camera; plain rounding would erase every change smaller
    than half a level. Already-compressed source clips have lost their sensor noise.

    Parameters
    ----------
    frames : iterable of np.ndarray, shape (H, W, 3), uint8, RGB
    pulse : np.ndarray, shape (T,), float in [-1, 1]
        One sample per frame; extra frames are dropped.
    amplitude : float
    noise_sigma : float >= 0, grey levels
    seed : int

    Yields
    ------
    np.ndarray, shape (H, W, 3), uint8, RGB
    """
    rng = np.random.default_rng(seed)
    for frame, value in zip(frames, pulse):
        out = inject_pulse(frame, value, amplitude=amplitude, mask=skin_colour_mask(frame))
        if noise_sigma > 0:
            out += rng.normal(0.0, noise_sigma, out.shape).astype(np.float32)
        out += rng.random(out.shape, dtype=np.float32)
        yield np.clip(np.floor(out), 0, 255).astype(np.uint8)


def back_and_forth(frames: list[np.ndarray], n: int, *, seed: int = 0) -> Iterator[np.ndarray]:
    """Loop a short clip forwards and backwards to ``n`` frames, turning at random frames.

    Every step is to a neighbouring frame (no jump at a turn), and each sweep covers at least
    half the clip. The turns are random because a plain ping-pong repeats every ``2 (L - 1)``
    frames: that puts all of the clip's own changes (speech, motion, codec) onto sharp spectral
    lines at multiples of ``fps / (2 (L - 1))``, lines no real video has (a 72-frame clip at
    30 fps: multiples of 12.7 bpm, with 88.7 and 139.4 bpm in the pulse band).

    Parameters
    ----------
    frames : list of np.ndarray
        The clip, L >= 2 frames.
    n : int
        Frames to yield.
    seed : int
        Seed of the turning points.

    Yields
    ------
    np.ndarray
        Frames of ``frames`` (the same objects).
    """
    last = len(frames) - 1
    if last < 1:
        raise ValueError("need at least 2 frames to loop")
    rng = np.random.default_rng(seed)
    min_sweep = max(1, (last + 1) // 2)
    pos, step, done = 0, 1, 0
    while True:
        if step > 0:
            turn = int(rng.integers(min(pos + min_sweep, last), last + 1))
        else:
            turn = int(rng.integers(0, max(pos - min_sweep, 0) + 1))
        for k in range(pos, turn, step):
            if done == n:
                return
            yield frames[k]
            done += 1
        pos, step = turn, -step
