"""Remote photoplethysmography: CHROM pulse, heart rate, SNR and the label spectrum.

All functions take a per-frame skin colour trace or pulse signal sampled at ``fs`` Hz (the
video frame rate). Frequencies are in Hz, heart rates in beats per minute (bpm).

References
----------
G. de Haan and V. Jeanne, "Robust pulse rate from chrominance-based rPPG", IEEE Trans.
Biomed. Eng. 60(10), 2013.  Y. Liu, A. Jourabloo and X. Liu, "Learning deep models for face
anti-spoofing: binary or auxiliary supervision", CVPR 2018 (the label spectrum).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from .errors import InputError

log = logging.getLogger(__name__)

#: Pulse band in Hz (42-150 bpm), as in de Haan & Jeanne 2013.
PULSE_BAND = (0.7, 2.5)
#: Seconds of pulse below which a heart rate is flagged unreliable: 5 s hold 3.5 beats at the
#: band's 42 bpm, and a 5 s Hann window's main lobe is already +-24 bpm wide.
MIN_RELIABLE_SEC = 5.0


def _check_fs_band(fs: float, band: tuple[float, float]) -> None:
    if not fs > 0:
        raise InputError("fs", f"must be > 0 Hz, got {fs}")
    lo, hi = band
    if not 0 < lo < hi < fs / 2:
        raise InputError("band", f"needs 0 < low < high < fs/2 = {fs / 2:g} Hz, got {band}")


def chrom_window_length(fs: float, win_sec: float = 1.6) -> int:
    """Samples per CHROM window: ``ceil(win_sec * fs)`` rounded up to even (hop = half)."""
    n = int(np.ceil(win_sec * fs))
    return n + (n % 2)


def chrom_pulse(rgb: np.ndarray, *, fs: float, band: tuple[float, float] = PULSE_BAND,
                win_sec: float = 1.6, order: int = 3) -> np.ndarray:
    """Pulse signal by the chrominance method (CHROM), one sample per input sample.

    Per window of ``win_sec`` seconds: RGB divided by the window mean; ``X = 3R - 2G``,
    ``Y = 1.5R + G - 1.5B``; both band-passed (Butterworth of ``order``, zero phase);
    ``alpha = std(Xf) / std(Yf)``; ``S = Xf - alpha * Yf``. Windows hop by half their length and
    are overlap-added with a periodic Hann window, divided by the summed window weight so the
    amplitude is uniform; the last window is aligned to the end of the trace so every sample is
    covered (sample 0 has zero weight and is 0).

    Parameters
    ----------
    rgb : np.ndarray, shape (T, 3), float
        Mean skin R, G, B per frame (any positive scale).
    fs : float > 0, Hz
        Sampling rate (video fps).
    band : (float, float), Hz
        Pass band of the filter.
    win_sec : float > 0, seconds
    order : int
        Butterworth order.

    Returns
    -------
    np.ndarray, shape (T,), float64

    Examples
    --------
    >>> fs = 30.0
    >>> t = np.arange(300) / fs
    >>> rgb = 100 + np.outer(np.sin(2 * np.pi * 1.2 * t), [0.3, 0.8, 0.5])
    >>> pulse = chrom_pulse(rgb, fs=fs)
    >>> pulse.shape
    (300,)
    >>> round(heart_rate(pulse, fs=fs))
    72
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim != 2 or rgb.shape[1] != 3:
        raise InputError("rgb", f"expected shape (T, 3), got {rgb.shape}")
    _check_fs_band(fs, band)
    n = chrom_window_length(fs, win_sec)
    T = len(rgb)
    if T < n:
        raise InputError("rgb", f"needs at least {n} samples ({win_sec:g} s at {fs:g} Hz), got {T}")
    if not np.all(np.isfinite(rgb)) or np.any(rgb <= 0):
        raise InputError("rgb", "values must be finite and > 0")

    b, a = signal.butter(order, band, btype="bandpass", fs=fs)
    hann = signal.windows.hann(n, sym=False)
    hop = n // 2
    starts = list(range(0, T - n + 1, hop))
    if starts[-1] + n < T:
        starts.append(T - n)

    pulse = np.zeros(T)
    weight = np.zeros(T)
    for s in starts:
        win = rgb[s:s + n]
        norm = win / win.mean(axis=0)
        r, g, bl = norm.T
        xf = signal.filtfilt(b, a, 3 * r - 2 * g)
        yf = signal.filtfilt(b, a, 1.5 * r + g - 1.5 * bl)
        alpha = np.std(xf) / max(np.std(yf), 1e-12)
        pulse[s:s + n] += hann * (xf - alpha * yf)
        weight[s:s + n] += hann
    covered = weight > 1e-9
    pulse[covered] /= weight[covered]
    return pulse


def segments_of(face_ok: np.ndarray, *, fs: float, max_gap_sec: float = 0.5) -> list[tuple[int, int]]:
    """Runs of tracked frames, joining runs separated by short gaps.

    Parameters
    ----------
    face_ok : np.ndarray, shape (T,), bool
    fs : float > 0, Hz
    max_gap_sec : float >= 0, seconds
        Gaps up to this long are bridged; longer ones split the signal.

    Returns
    -------
    list of (start, stop)
        Half-open frame ranges; each starts and ends on a tracked frame.
    """
    ok = np.asarray(face_ok, dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return []
    max_gap = int(round(max_gap_sec * fs))
    breaks = np.flatnonzero(np.diff(idx) - 1 > max_gap)
    starts = np.r_[idx[0], idx[breaks + 1]]
    stops = np.r_[idx[breaks] + 1, idx[-1] + 1]
    return [(int(a), int(b)) for a, b in zip(starts, stops)]


def pulse_from_trace(rgb: np.ndarray, face_ok: np.ndarray, *, fs: float, max_gap_sec: float = 0.5,
                     **chrom_kw) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """CHROM pulse of a skin trace with face-loss gaps.

    Short gaps are bridged by linear interpolation of the colour; each segment between long
    gaps gets its own CHROM pulse; segments shorter than one CHROM window, and the gaps, are 0.

    Parameters
    ----------
    rgb : np.ndarray, shape (T, 3), float
        Skin colour per frame; values where ``face_ok`` is False are ignored.
    face_ok : np.ndarray, shape (T,), bool
    fs : float > 0, Hz
    max_gap_sec : float, seconds
    **chrom_kw
        Passed to :func:`chrom_pulse` (``band``, ``win_sec``, ``order``).

    Returns
    -------
    pulse : np.ndarray, shape (T,), float64
    segments : list of (start, stop)
        The frame ranges that carry a pulse.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    ok = np.asarray(face_ok, dtype=bool)
    if rgb.shape != (len(ok), 3):
        raise InputError("rgb", f"expected shape ({len(ok)}, 3) to match face_ok, got {rgb.shape}")
    ok = ok & np.all(np.isfinite(rgb), axis=1)
    min_len = chrom_window_length(fs, chrom_kw.get("win_sec", 1.6))
    pulse = np.zeros(len(ok))
    used = []
    for start, stop in segments_of(ok, fs=fs, max_gap_sec=max_gap_sec):
        if stop - start < min_len:
            continue
        seg_ok = ok[start:stop]
        t = np.arange(start, stop)
        seg = np.stack([np.interp(t, t[seg_ok], rgb[start:stop][seg_ok, c]) for c in range(3)], axis=1)
        pulse[start:stop] = chrom_pulse(seg, fs=fs, **chrom_kw)
        used.append((start, stop))
    return pulse, used


def pulse_spectrum(pulse: np.ndarray, *, fs: float, resolution_bpm: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of a pulse signal, Hann-windowed and zero-padded.

    Parameters
    ----------
    pulse : np.ndarray, shape (T,), float
    fs : float > 0, Hz
    resolution_bpm : float > 0
        Bin spacing to reach by zero padding (the FFT length is a power of two at least
        ``60 * fs / resolution_bpm``).

    Returns
    -------
    freqs : np.ndarray, shape (K,), float64, Hz
    power : np.ndarray, shape (K,), float64
    """
    x = np.asarray(pulse, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2:
        raise InputError("pulse", f"expected shape (T,) with T >= 2, got {x.shape}")
    nfft = 1 << int(np.ceil(np.log2(max(len(x), 60.0 * fs / resolution_bpm))))
    spec = np.fft.rfft((x - x.mean()) * np.hanning(len(x)), n=nfft)
    return np.fft.rfftfreq(nfft, d=1.0 / fs), np.abs(spec) ** 2


def chrom_response(freqs: np.ndarray, *, fs: float, band: tuple[float, float] = PULSE_BAND,
                   win_sec: float = 1.6, order: int = 3) -> np.ndarray:
    """Amplitude response of :func:`chrom_pulse` to a small sinusoidal colour change.

    Each CHROM window is band-passed on its own (zero phase, over ``win_sec``), so a pulse near
    the band edges loses more than the Butterworth response alone says: at 1.6 s windows and
    30 fps, 0.58 of the amplitude at 50 bpm and 0.54 at 150 bpm, against 1.08 at 75-90 bpm.
    For a window of n samples with filter matrix M (filtfilt of the identity) and Hann weights
    h, the steady-state complex gain of the overlap-add at angular frequency w is
    ``sum_k h[k] (M u)[k] conj(u[k]) / sum_k h[k]`` with ``u[k] = exp(i w k / fs)``.

    Parameters
    ----------
    freqs : np.ndarray, shape (K,), float, Hz
    fs : float > 0, Hz
    band, win_sec, order
        As given to :func:`chrom_pulse`.

    Returns
    -------
    np.ndarray, shape (K,), float64, >= 0 (1 = passed unchanged)
    """
    _check_fs_band(fs, band)
    n = chrom_window_length(fs, win_sec)
    b, a = signal.butter(order, band, btype="bandpass", fs=fs)
    m = signal.filtfilt(b, a, np.eye(n), axis=0)
    h = signal.windows.hann(n, sym=False)
    u = np.exp(2j * np.pi * np.outer(np.asarray(freqs, dtype=np.float64), np.arange(n)) / fs)  # (K, n)
    return np.abs(np.einsum("k,fk,fk->f", h, u @ m.T, u.conj())) / h.sum()


#: A spectral peak this close outside the band (bpm) still counts as the band's.
PEAK_EDGE_BPM = 1.0
#: Half-width, bpm, of the search for a fundamental at half the chosen peak's frequency.
HARMONIC_TOLERANCE_BPM = 3.0


def _band_peaks(freqs: np.ndarray, power: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Bins of the local maxima of ``power`` within ``PEAK_EDGE_BPM`` of ``band`` (a pulse at the
    band's very edge peaks just outside it; a drift rising towards 0 Hz peaks far outside)."""
    tol = PEAK_EDGE_BPM / 60.0
    idx = np.flatnonzero((freqs >= band[0] - tol) & (freqs <= band[1] + tol))
    p = power[idx]
    return idx[np.flatnonzero((p[1:-1] >= p[:-2]) & (p[1:-1] > p[2:])) + 1]


def _refine_hz(freqs: np.ndarray, power: np.ndarray, k: int) -> float:
    """Frequency of bin ``k`` refined by parabolic interpolation of its neighbours."""
    if 0 < k < len(power) - 1:
        y0, y1, y2 = power[k - 1:k + 2]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            return float(freqs[k] + 0.5 * (y0 - y2) / denom * (freqs[1] - freqs[0]))
    return float(freqs[k])


def weighed_for_choice(power: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``power`` as :func:`pulse_peak_hz` weighs it to choose a peak: divided by
    ``min(response, 1)²`` above the response's maximum, unchanged below it."""
    top = int(np.argmax(response))
    return power / np.maximum(np.r_[np.ones(top), np.minimum(response[top:], 1.0)], 1e-6) ** 2


def pulse_peak_hz(freqs: np.ndarray, power: np.ndarray, band: tuple[float, float],
                  response: np.ndarray | None = None) -> float:
    """The pulse's fundamental frequency from its power spectrum, robust to its harmonics.

    CHROM weakens a pulse near either band edge (``response``: to a third of the power it
    passes at 90 bpm at 50 bpm, to a quarter at 150 bpm). Peaks are weighed with that response
    divided out (power / min(response, 1)²), but only above the response's maximum: there the
    noise (sensor, codec) is about flat, so dividing merely undoes CHROM's roll-off. Below it, motion
    and light drift rise towards 0 Hz and CHROM's roll-off is what keeps them down, so there
    the full division only decides whether a peak is a 2nd harmonic:

    1. the strongest local maximum, so weighed, in ``band`` (or within ``PEAK_EDGE_BPM`` of
       it) is taken;
    2. a local maximum within ``HARMONIC_TOLERANCE_BPM`` of half its frequency that is at least
       as strong with the response fully divided out is the fundamental, the taken one its
       2nd harmonic.

    The frequency is then read off ``power`` itself: the nearest local maximum of ``power``
    (uphill from the chosen bin), refined by parabolic interpolation.

    Parameters
    ----------
    freqs : np.ndarray, shape (K,), float, Hz, evenly spaced from 0
    power : np.ndarray, shape (K,), float
    band : (float, float), Hz
    response : np.ndarray, shape (K,), float, optional
        Amplitude response of the method at ``freqs`` (:func:`chrom_response`), > 0 in and
        near ``band``; None = flat.

    Returns
    -------
    float, Hz
    """
    if response is None:
        response = np.ones(len(power))
    full = power / np.maximum(response, 1e-6) ** 2
    above = weighed_for_choice(power, response)
    peaks = _band_peaks(freqs, above, band)
    if len(peaks) == 0:  # monotonic through the band: its larger end
        inband = np.flatnonzero((freqs >= band[0]) & (freqs <= band[1]))
        return float(freqs[inband[np.argmax(above[inband])]])
    k = peaks[np.argmax(above[peaks])]
    lows = _band_peaks(freqs, full, band)
    half = lows[np.abs(freqs[lows] - freqs[k] / 2) <= HARMONIC_TOLERANCE_BPM / 60.0]
    if len(half) and full[half].max() >= full[k]:
        k = half[np.argmax(full[half])]
    # The frequency from the spectrum as measured: a line passed through CHROM is still a line,
    # and dividing by the sloping response would skew its window lobe (-0.35 bpm at 48 bpm).
    while 0 < k < len(power) - 1 and max(power[k - 1], power[k + 1]) > power[k]:
        k += 1 if power[k + 1] > power[k - 1] else -1
    return _refine_hz(freqs, power, k)


def heart_rate(pulse: np.ndarray, *, fs: float, band: tuple[float, float] = PULSE_BAND,
               chrom_win_sec: float | None = 1.6, chrom_order: int = 3) -> float:
    """Heart rate of a pulse: its fundamental frequency (:func:`pulse_peak_hz`), in bpm.

    Parameters
    ----------
    pulse : np.ndarray, shape (T,), float
    fs : float > 0, Hz
    band : (float, float), Hz
    chrom_win_sec, chrom_order
        The :func:`chrom_pulse` ``win_sec`` and ``order`` the pulse was made with: their
        frequency response (:func:`chrom_response`) is divided out when peaks are compared.
        ``chrom_win_sec=None`` for a pulse from elsewhere (taken as it is).

    Returns
    -------
    float, bpm
        NaN when the pulse is all zeros.
    """
    _check_fs_band(fs, band)
    if not np.any(pulse):
        return float("nan")
    freqs, power = pulse_spectrum(pulse, fs=fs)
    response = None if chrom_win_sec is None else _response_on(freqs, fs, band, chrom_win_sec, chrom_order)
    return 60.0 * pulse_peak_hz(freqs, power, band, response)


def _response_on(freqs: np.ndarray, fs: float, band: tuple[float, float], win_sec: float,
                 order: int) -> np.ndarray:
    """:func:`chrom_response` on a spectrum's frequency grid, 0 outside ``band`` (not needed there)."""
    out = np.zeros(len(freqs))
    inband = (freqs >= band[0] - 0.1) & (freqs <= band[1] + 0.1)
    out[inband] = _chrom_response_cached(float(fs), tuple(band), float(win_sec), int(order),
                                         float(freqs[1]), int(np.flatnonzero(inband)[0]), int(inband.sum()))
    return out


@functools.lru_cache(maxsize=16)
def _chrom_response_cached(fs, band, win_sec, order, df, k0, count) -> np.ndarray:
    return chrom_response(df * (k0 + np.arange(count)), fs=fs, band=band, win_sec=win_sec, order=order)


def snr_db(pulse: np.ndarray, *, fs: float, hr_bpm: float | None = None,
           band: tuple[float, float] = PULSE_BAND, halfwidth_bpm: float = 6.0) -> float:
    """Signal-to-noise ratio of a pulse, after de Haan & Jeanne 2013.

    Power within ``halfwidth_bpm`` of the heart rate f0 and of its first harmonic 2·f0,
    against the power in the rest of ``band``.

    Parameters
    ----------
    pulse : np.ndarray, shape (T,), float
    fs : float > 0, Hz
    hr_bpm : float, optional
        f0 in bpm; defaults to :func:`heart_rate` of the pulse (the blind SNR).
    band : (float, float), Hz
    halfwidth_bpm : float > 0

    Returns
    -------
    float, dB
        NaN when the pulse is all zeros.
    """
    _check_fs_band(fs, band)
    if not np.any(pulse):
        return float("nan")
    freqs, power = pulse_spectrum(pulse, fs=fs)
    f0 = (heart_rate(pulse, fs=fs, band=band) if hr_bpm is None else hr_bpm) / 60.0
    dw = halfwidth_bpm / 60.0
    inband = (freqs >= band[0]) & (freqs <= band[1])
    near = (np.abs(freqs - f0) <= dw) | (np.abs(freqs - 2 * f0) <= dw)
    sig, noise = power[inband & near].sum(), power[inband & ~near].sum()
    return float(10 * np.log10(max(sig, 1e-30) / max(noise, 1e-30)))


def hr_track(pulse: np.ndarray, *, fs: float, win_sec: float = 10.0, hop_sec: float = 1.0,
             band: tuple[float, float] = PULSE_BAND, chrom_win_sec: float | None = 1.6,
             chrom_order: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heart rate over sliding windows.

    Parameters
    ----------
    pulse : np.ndarray, shape (T,), float
        Zeros mark samples without a pulse (face lost); windows mostly made of them are NaN.
    fs : float > 0, Hz
    win_sec, hop_sec : float > 0, seconds
        Window length and hop; a pulse shorter than one window gives one window.
    band : (float, float), Hz
    chrom_win_sec, chrom_order
        See :func:`heart_rate`.

    Returns
    -------
    times : np.ndarray, shape (N,), float64, seconds
        Window centres.
    bpm : np.ndarray, shape (N,), float64
    snr : np.ndarray, shape (N,), float64, dB
    """
    x = np.asarray(pulse, dtype=np.float64)
    n = min(int(round(win_sec * fs)), len(x))
    hop = max(int(round(hop_sec * fs)), 1)
    starts = np.arange(0, len(x) - n + 1, hop)
    bpm = np.full(len(starts), np.nan)
    snr = np.full(len(starts), np.nan)
    for i, s in enumerate(starts):
        w = x[s:s + n]
        if np.count_nonzero(w) >= n / 2:
            bpm[i] = heart_rate(w, fs=fs, band=band, chrom_win_sec=chrom_win_sec, chrom_order=chrom_order)
            snr[i] = snr_db(w, fs=fs, hr_bpm=bpm[i], band=band)
    return (starts + n / 2) / fs, bpm, snr


def label_frequencies(n_bins: int = 50, band: tuple[float, float] = PULSE_BAND) -> np.ndarray:
    """The ``n_bins`` frequencies (Hz) of :func:`label_spectrum`, evenly spaced over ``band``."""
    return np.linspace(band[0], band[1], n_bins)


def label_spectrum(pulse: np.ndarray, *, fs: float, n_bins: int = 50,
                   band: tuple[float, float] = PULSE_BAND) -> np.ndarray:
    """The rPPG label of a live video: magnitude spectrum over the pulse band, unit L2 norm.

    The Hann-windowed, mean-removed pulse's DFT magnitude is evaluated exactly at
    :func:`label_frequencies` (no bin rounding), then scaled to unit norm. Spoof videos get
    zeros instead (the dataset builder decides that, not this function).

    Parameters
    ----------
    pulse : np.ndarray, shape (T,), float
    fs : float > 0, Hz
    n_bins : int
        F, the label length.
    band : (float, float), Hz

    Returns
    -------
    np.ndarray, shape (n_bins,), float32
        Unit L2 norm; all zeros when the pulse is all zeros.
    """
    _check_fs_band(fs, band)
    x = np.asarray(pulse, dtype=np.float64)
    if not np.any(x):
        return np.zeros(n_bins, np.float32)
    x = (x - x.mean()) * np.hanning(len(x))
    t = np.arange(len(x)) / fs
    mag = np.abs(np.exp(-2j * np.pi * np.outer(label_frequencies(n_bins, band), t)) @ x)
    return (mag / np.linalg.norm(mag)).astype(np.float32)


@dataclass
class RppgResult:
    """Everything ``fasprep rppg-gt`` reports for one video.

    Per-frame arrays have length ``n_frames`` (frames decoded).
    """

    source: str
    fps: float
    rgb: np.ndarray  # (T, 3) float64, mean skin RGB, NaN where no face
    face_ok: np.ndarray  # (T,) bool
    pulse: np.ndarray  # (T,) float64, 0 outside segments
    segments: list[tuple[int, int]]
    hr_bpm: float
    snr_db: float
    freqs: np.ndarray  # (K,) Hz
    power: np.ndarray  # (K,)
    label: np.ndarray  # (F,) float32, unit norm
    label_freqs: np.ndarray  # (F,) Hz
    track_t: np.ndarray  # (N,) s
    track_bpm: np.ndarray  # (N,)
    track_snr: np.ndarray  # (N,) dB
    hr_reliable: bool = True  # False: hr_bpm is reported but cannot be trusted (see hr_note)
    hr_note: str = ""  # why hr_bpm is unreliable
    method: str = "chrom"
    params: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.face_ok)

    @property
    def face_frames(self) -> int:
        return int(self.face_ok.sum())

    def summary(self) -> dict:
        """JSON-ready summary (the ``rppg-gt --json`` object)."""

        def num(x):
            return None if not np.isfinite(x) else round(float(x), 3)

        return {
            "source": self.source,
            "method": self.method,
            "hr_bpm": num(self.hr_bpm),
            "hr_reliable": self.hr_reliable,
            **({"hr_note": self.hr_note} if self.hr_note else {}),
            "snr_db": num(self.snr_db),
            "fps": round(self.fps, 6),
            "n_frames": self.n_frames,
            "face_frames": self.face_frames,
            "segments": [list(s) for s in self.segments],
            "hr_track": {"time_s": [num(t) for t in self.track_t],
                         "hr_bpm": [num(b) for b in self.track_bpm],
                         "snr_db": [num(s) for s in self.track_snr]},
            "params": self.params,
        }


def analyse_trace(rgb: np.ndarray, face_ok: np.ndarray, *, fs: float, source: str = "",
                  band: tuple[float, float] = PULSE_BAND, win_sec: float = 1.6, order: int = 3,
                  max_gap_sec: float = 0.5, min_face_fraction: float = 0.5, n_bins: int = 50,
                  track_win_sec: float = 10.0, track_hop_sec: float = 1.0) -> RppgResult:
    """Pulse, heart rate, SNR, HR track and label spectrum from a skin colour trace.

    Parameters
    ----------
    rgb : np.ndarray, shape (T, 3), float
        Mean skin RGB per frame (NaN where no face).
    face_ok : np.ndarray, shape (T,), bool
    fs : float > 0, Hz
    source : str
        Name used in error messages and the summary (the video path).
    min_face_fraction : float in [0, 1]
        Below this share of frames with a usable pulse the trace is rejected, not guessed at.
    band, win_sec, order, max_gap_sec, n_bins, track_win_sec, track_hop_sec
        See :func:`chrom_pulse`, :func:`pulse_from_trace`, :func:`label_spectrum`,
        :func:`hr_track`.

    A pulse shorter than ``MIN_RELIABLE_SEC`` still gets its numbers, with ``hr_reliable``
    False and the reason in ``hr_note`` (and a logged warning).

    Raises
    ------
    InputError
        Too few frames with a face.
    """
    face_ok = np.asarray(face_ok, dtype=bool)
    T = len(face_ok)
    n_face = int(face_ok.sum())
    if n_face == 0:
        raise InputError(source, f"no face found in any of its {T} frames")
    pulse, segments = pulse_from_trace(rgb, face_ok, fs=fs, max_gap_sec=max_gap_sec,
                                       band=band, win_sec=win_sec, order=order)
    covered = sum(b - a for a, b in segments)
    if covered < min_face_fraction * T:
        raise InputError(source, f"face tracked in only {n_face} of {T} frames; usable pulse on "
                                 f"{covered} frames ({covered / T:.0%}), below the required "
                                 f"{min_face_fraction:.0%}")
    note = ""
    if covered < MIN_RELIABLE_SEC * fs:
        note = (f"pulse from only {covered / fs:.1f} s of video; a heart rate from under "
                f"{MIN_RELIABLE_SEC:g} s is unreliable")
        log.warning("%s: %s", source, note)
    hr = heart_rate(pulse, fs=fs, band=band, chrom_win_sec=win_sec, chrom_order=order)
    freqs, power = pulse_spectrum(pulse, fs=fs)
    track_t, track_bpm, track_snr = hr_track(pulse, fs=fs, win_sec=track_win_sec, hop_sec=track_hop_sec,
                                             band=band, chrom_win_sec=win_sec, chrom_order=order)
    return RppgResult(
        source=source, fps=float(fs), rgb=np.asarray(rgb, dtype=np.float64), face_ok=face_ok,
        pulse=pulse, segments=segments, hr_bpm=hr, snr_db=snr_db(pulse, fs=fs, hr_bpm=hr, band=band),
        freqs=freqs, power=power, label=label_spectrum(pulse, fs=fs, n_bins=n_bins, band=band),
        label_freqs=label_frequencies(n_bins, band), track_t=track_t, track_bpm=track_bpm,
        track_snr=track_snr, hr_reliable=not note, hr_note=note,
        params={"band_hz": list(band), "win_sec": win_sec, "order": order, "max_gap_sec": max_gap_sec,
                "n_bins": n_bins, "track_win_sec": track_win_sec, "track_hop_sec": track_hop_sec},
    )


def rppg_gt(path: str | os.PathLike, *, progress: bool = False, **analyse_kw) -> RppgResult:
    """rPPG ground truth of a face video: decode, track, skin trace, CHROM, HR and spectrum.

    Streams the video (memory does not grow with its length).

    Parameters
    ----------
    path : str or os.PathLike
    progress : bool
        Show a progress bar on stderr.
    **analyse_kw
        Passed to :func:`analyse_trace`.

    Raises
    ------
    InputError
        Unreadable video, no frames, no or too little face.
    """
    from .face import skin_trace

    rgb, face_ok, info = skin_trace(path, progress=progress)
    return analyse_trace(rgb, face_ok, fs=info.fps, source=str(path), **analyse_kw)
