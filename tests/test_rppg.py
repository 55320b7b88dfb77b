"""Signal functions of fasprep.rppg on traces with known content."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from fasprep.errors import InputError
from fasprep.rppg import (analyse_trace, chrom_pulse, chrom_response, heart_rate, hr_track, label_frequencies,
                          label_spectrum, pulse_from_trace, segments_of, snr_db)
from fasprep.synth import back_and_forth
from videos import welltory_pulse


def plain_chrom(rgb, fs, band=(0.7, 2.5), win_sec=1.6, order=3):
    """CHROM exactly as docs/design.md (Labels) words it, written out longhand.

    Window length ceil(win_sec * fs) made even; windows every half window from sample 0, plus
    one ending at the last sample; per window: divide by the window's mean, X = 3R - 2G,
    Y = 1.5R + G - 1.5B, zero-phase Butterworth band-pass, alpha = std(Xf) / std(Yf),
    S = Xf - alpha * Yf, times a periodic Hann window; the sum of windowed S divided by the sum
    of the window weights.
    """
    T = len(rgb)
    L = int(np.ceil(win_sec * fs))
    if L % 2 == 1:
        L += 1
    starts = []
    s = 0
    while s + L <= T:
        starts.append(s)
        s += L // 2
    if starts[-1] + L != T:
        starts.append(T - L)
    b, a = signal.butter(order, [band[0] / (fs / 2), band[1] / (fs / 2)], btype="bandpass")
    hann = [0.5 - 0.5 * np.cos(2 * np.pi * k / L) for k in range(L)]
    total = [0.0] * T
    weight = [0.0] * T
    for s in starts:
        R = [rgb[s + k][0] for k in range(L)]
        G = [rgb[s + k][1] for k in range(L)]
        B = [rgb[s + k][2] for k in range(L)]
        mR, mG, mB = sum(R) / L, sum(G) / L, sum(B) / L
        X = [3 * R[k] / mR - 2 * G[k] / mG for k in range(L)]
        Y = [1.5 * R[k] / mR + G[k] / mG - 1.5 * B[k] / mB for k in range(L)]
        Xf = signal.filtfilt(b, a, X)
        Yf = signal.filtfilt(b, a, Y)
        alpha = np.std(Xf) / np.std(Yf)
        for k in range(L):
            total[s + k] += hann[k] * (Xf[k] - alpha * Yf[k])
            weight[s + k] += hann[k]
    return np.array([t / w if w > 1e-9 else 0.0 for t, w in zip(total, weight)])


def random_trace(T, fs, seed, hr_hz=1.2):
    """Skin-like RGB: a pulse along a skin direction, slow drift, motion and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / fs
    pulse = np.sin(2 * np.pi * hr_hz * t + rng.uniform(0, 6))
    drift = 1 + 0.05 * np.sin(2 * np.pi * 0.05 * t) + 0.01 * np.cumsum(rng.normal(0, 0.02, T))
    base = rng.uniform([150, 100, 80], [200, 140, 120])
    rgb = base * drift[:, None] * (1 + 0.003 * np.outer(pulse, [0.33, 0.77, 0.53]))
    return rgb + rng.normal(0, 0.3, (T, 3))


@pytest.mark.parametrize("T,fs,seed", [(300, 30.0, 0), (457, 30.0, 1), (1000, 29.97, 2), (250, 25.0, 3),
                                       (96, 30.0, 4), (49, 30.0, 5)])
def test_chrom_matches_plain_reference(T, fs, seed):
    rgb = random_trace(T, fs, seed)
    np.testing.assert_allclose(chrom_pulse(rgb, fs=fs), plain_chrom(rgb, fs), atol=1e-6, rtol=0)


@pytest.mark.parametrize("band,win_sec,order", [((0.7, 4.0), 1.6, 3), ((0.5, 3.0), 3.2, 2)])
def test_chrom_parameters_match_plain_reference(band, win_sec, order):
    rgb = random_trace(600, 30.0, 7)
    got = chrom_pulse(rgb, fs=30.0, band=band, win_sec=win_sec, order=order)
    np.testing.assert_allclose(got, plain_chrom(rgb, 30.0, band, win_sec, order), atol=1e-6, rtol=0)


def test_chrom_cancels_pure_intensity_changes():
    fs = 30.0
    t = np.arange(600) / fs
    intensity = 1 + 0.1 * np.sin(2 * np.pi * 1.3 * t)  # a flicker in the pulse band, all channels
    rgb = np.outer(intensity, [180.0, 120.0, 100.0])
    assert np.abs(chrom_pulse(rgb, fs=fs)).max() < 1e-9


@pytest.mark.parametrize("bpm", [48.3, 73.37, 101.9, 139.6])
def test_heart_rate_resolution_finer_than_half_bpm(bpm):
    fs = 30.0
    t = np.arange(int(20 * fs)) / fs
    pulse = np.sin(2 * np.pi * bpm / 60 * t) + 0.3 * np.sin(2 * np.pi * 2 * bpm / 60 * t)
    assert heart_rate(pulse, fs=fs) == pytest.approx(bpm, abs=0.1)


def test_snr_higher_with_pulse_than_noise():
    rng = np.random.default_rng(0)
    fs = 30.0
    t = np.arange(600) / fs
    noise = rng.normal(0, 1, 600)
    with_pulse = noise + 1.0 * np.sin(2 * np.pi * 1.25 * t)
    assert snr_db(with_pulse, fs=fs) > snr_db(noise, fs=fs) + 6
    assert snr_db(with_pulse, fs=fs, hr_bpm=75.0) == pytest.approx(snr_db(with_pulse, fs=fs), abs=0.5)
    assert np.isnan(snr_db(np.zeros(600), fs=fs)) and np.isnan(heart_rate(np.zeros(600), fs=fs))


def test_hr_track_follows_a_rising_rate():
    fs = 30.0
    t = np.arange(int(60 * fs)) / fs
    f_inst = (60 + t) / 60  # 60 bpm rising to 120 bpm over a minute
    pulse = np.sin(2 * np.pi * np.cumsum(f_inst) / fs)
    times, bpm, snr = hr_track(pulse, fs=fs)
    assert len(times) == 51 and times[0] == pytest.approx(5.0)
    np.testing.assert_allclose(bpm, 60 + times, atol=1.5)
    assert np.all(np.diff(bpm) > 0)


def test_label_spectrum_shape_norm_and_peak():
    fs = 30.0
    t = np.arange(450) / fs
    label = label_spectrum(np.sin(2 * np.pi * 1.5 * t), fs=fs, n_bins=50)
    freqs = label_frequencies(50)
    assert label.shape == (50,) and label.dtype == np.float32
    assert np.linalg.norm(label) == pytest.approx(1.0, abs=1e-6)
    assert abs(freqs[np.argmax(label)] - 1.5) <= freqs[1] - freqs[0]
    assert freqs[0] == 0.7 and freqs[-1] == 2.5
    assert not np.any(label_spectrum(np.zeros(450), fs=fs))


def test_segments_bridge_short_gaps_and_split_long_ones():
    ok = np.ones(300, bool)
    ok[:5] = False  # leading frames without a face are outside every segment
    ok[100:110] = False  # 10 frames = 0.33 s at 30 fps: bridged
    ok[200:230] = False  # 1 s: splits
    assert segments_of(ok, fs=30.0, max_gap_sec=0.5) == [(5, 200), (230, 300)]
    assert segments_of(np.zeros(10, bool), fs=30.0) == []


def test_pulse_from_trace_with_gaps():
    fs = 30.0
    rgb = random_trace(600, fs, 11, hr_hz=1.1)
    ok = np.ones(600, bool)
    ok[200:210] = False
    ok[400:500] = False
    rgb[~ok] = np.nan
    pulse, segs = pulse_from_trace(rgb, ok, fs=fs)
    assert segs == [(0, 400), (500, 600)]
    assert not np.any(pulse[400:500]) and np.all(np.isfinite(pulse))
    assert heart_rate(pulse, fs=fs) == pytest.approx(66, abs=1.5)


def test_analyse_trace_rejects_too_little_face():
    fs = 30.0
    rgb = random_trace(300, fs, 3)
    ok = np.zeros(300, bool)
    ok[:120] = True
    with pytest.raises(InputError, match=r"clip.mp4: face tracked in only 120 of 300 frames"):
        analyse_trace(rgb, ok, fs=fs, source="clip.mp4")
    with pytest.raises(InputError, match="no face found in any of its 300 frames"):
        analyse_trace(rgb, np.zeros(300, bool), fs=fs, source="clip.mp4")


@pytest.mark.parametrize("rgb,msg", [(np.ones((100, 4)), r"expected shape \(T, 3\)"),
                                     (np.ones((20, 3)), "needs at least 48 samples"),
                                     (np.zeros((100, 3)), "finite and > 0")])
def test_chrom_validates_input(rgb, msg):
    with pytest.raises(InputError, match=msg):
        chrom_pulse(rgb, fs=30.0)


def test_band_must_fit_below_nyquist():
    with pytest.raises(InputError, match="band"):
        chrom_pulse(np.ones((100, 3)), fs=4.0)


@pytest.mark.parametrize("fs", [30.0, 25.0])
def test_chrom_response_is_what_chrom_pulse_does_to_a_sinusoid(fs):
    t = np.arange(int(30 * fs)) / fs
    # (Not at multiples of the hop rate, 75 bpm: there the time-varying overlap-add folds the
    # tone onto itself with a phase-dependent gain; a real pulse is no pure tone.)
    bpm = np.array([42.0, 45, 50, 60, 72, 90, 120, 140, 148])
    measured = []
    for f in bpm / 60:
        s = 1e-3 * np.sin(2 * np.pi * f * t + 0.3)
        rgb = 120.0 * (1 + np.outer(s, [1.0, 0.0, 1.0]))  # Y = 1.5R + G - 1.5B stays 0: X alone
        out = chrom_pulse(rgb, fs=fs)[len(t) // 4:-len(t) // 4]
        ref = 3 * s[len(t) // 4:-len(t) // 4]  # X = 3R - 2G of the input
        tone = np.exp(-2j * np.pi * f * t[len(t) // 4:-len(t) // 4])  # the component at f itself
        measured.append(abs(out @ tone) / abs(ref @ tone))
    np.testing.assert_allclose(chrom_response(bpm / 60, fs=fs), measured, rtol=0.03)
    assert measured[2] < 0.65 * measured[5]  # 50 bpm loses most of its amplitude against 90 bpm


def clean_chrom_pulse(real_data, subject, bpm, fs=30.0):
    """CHROM pulse of a skin trace carrying nothing but a real PPG waveform at ``bpm``."""
    ppg = welltory_pulse(real_data / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=int(20 * fs))
    return chrom_pulse(150.0 * (1 + 0.004 * np.outer(ppg, [0.33, 0.77, 0.53])), fs=fs)


@pytest.mark.parametrize("subject", ["subject_09", "subject_13", "subject_21"])
@pytest.mark.parametrize("bpm", [45, 50])
def test_low_heart_rate_of_real_waveforms_is_not_its_harmonic(real_data, subject, bpm):
    """Real PPG waveforms carry strong 2nd harmonics and CHROM weakens 45-50 bpm: the plain
    spectral peak (no response divided out) reads 2 f0 for some; the heart rate does not."""
    pulse = clean_chrom_pulse(real_data, subject, bpm)
    assert abs(heart_rate(pulse, fs=30.0) - bpm) <= 2.0
    plain = heart_rate(pulse, fs=30.0, chrom_win_sec=None)
    if (subject, bpm) in {("subject_09", 45), ("subject_13", 45), ("subject_21", 50)}:  # measured
        assert abs(plain - 2 * bpm) <= 3.0, plain  # the harmonic case this pins


def test_heart_rate_at_the_band_edge_beats_a_stronger_slow_colour_change(real_data):
    """At 150 bpm CHROM passes 0.30 of the power it passes at 66 bpm: a slower colour change of
    0.75 times the amplitude of the pulse's fundamental (like the photo video's light drift and
    head motion, test_rppg_video.py) wins the plain spectral peak (0.56 against 0.30: 2.7 dB);
    with CHROM's response divided out the pulse wins (0.56 against 1: 2.5 dB; it flips at 0.55
    and beyond 1.0)."""
    fs, n = 30.0, 600
    ppg = welltory_pulse(real_data / "ppg" / "welltory" / "data" / "subject_15", target_bpm=150, n=n)
    t = np.arange(n) / fs
    fundamental = 2 * abs(np.mean(ppg * np.exp(-2j * np.pi * 150 / 60 * t)))
    slow = 0.75 * fundamental * np.sin(2 * np.pi * 66 / 60 * t)
    pulse = chrom_pulse(150.0 * (1 + 0.004 * np.outer(ppg + slow, [0.33, 0.77, 0.53])), fs=fs)
    assert abs(heart_rate(pulse, fs=fs) - 150) <= 2.0
    assert abs(heart_rate(pulse, fs=fs, chrom_win_sec=None) - 66) <= 2.0  # the case this pins


def test_looped_test_clip_has_no_period():
    """tests/videos.py loops a 2.4 s talking head to 20 s. A plain ping-pong repeats every 142
    frames, which puts the clip's own colour changes onto lines at multiples of 12.7 bpm (88.7
    and 139.4 bpm are in the band) that no real video has; its turns are random instead."""
    seq = np.array(list(back_and_forth(list(range(72)), 600)))
    assert len(seq) == 600 and set(np.abs(np.diff(seq))) == {1}
    assert seq.max() - seq.min() >= 36  # each sweep covers at least half the clip
    assert not any(np.array_equal(seq[lag:], seq[:-lag]) for lag in range(1, 400))


def test_heart_rate_not_halved_by_a_weaker_half_rate_line():
    fs = 30.0
    t = np.arange(int(20 * fs)) / fs
    rng = np.random.default_rng(3)
    pulse = np.sin(2 * np.pi * 2.1 * t) + 0.5 * np.sin(2 * np.pi * 1.05 * t) + 0.3 * rng.normal(size=len(t))
    assert heart_rate(pulse, fs=fs) == pytest.approx(126.0, abs=1.0)


def test_short_pulse_gets_an_hr_flagged_unreliable():
    fs = 30.0
    short = analyse_trace(random_trace(72, fs, 8), np.ones(72, bool), fs=fs, source="clip.mp4")  # 2.4 s
    s = short.summary()
    assert s["hr_reliable"] is False and "only 2.4 s" in s["hr_note"] and "unreliable" in s["hr_note"]
    full = analyse_trace(random_trace(300, fs, 8), np.ones(300, bool), fs=fs).summary()
    assert full["hr_reliable"] is True and "hr_note" not in full
