"""rppg-gt end to end on realistic videos: real faces, a real PPG pulse, a lossy codec.

Each video is a real face (the astronaut photo animated with head motion, light drift and
sensor noise; or the single_face.mp4 talking-head clip looped back and forth to 20 s, turning
at random frames) with a real finger PPG recording (Welltory) time-stretched to a chosen rate
and injected into the skin at <= 0.5 % of intensity along the blood-volume-pulse colour
direction, then encoded with H.264 at SiW's bits per pixel.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fasprep.rppg import heart_rate, rppg_gt

from videos import FPS, dominant_rate_bpm, looped_video, photo_video, welltory_pulse

pytestmark = pytest.mark.slow

N = int(20 * FPS)  # 20 s clips

# (welltory subject, rate in bpm): a different recording for each rate; the low end (2nd harmonic
# risk), mid band and the high end. The whole grid of rates and recordings is
# benchmarks/hr_grid.py's (a minute per video: too long for the suite).
PHOTO_CASES = [("subject_09", 45), ("subject_15", 70), ("subject_09", 95), ("subject_16", 140)]
# The talking-head clip's own speech and motion change its skin colour more than a 0.5 % pulse
# in parts of the band (it is looped back and forth with random turns: a plain ping-pong made
# that into lines at multiples of 12.7 bpm), and a pulse near such a peak can lose to it
# (subject_05 at 50 bpm reads 45.3); benchmarks/hr_grid.py measures the grid. 45 bpm is where a
# plain spectral peak fails: CHROM weakens it to a third of its mid-band power, so the 2nd
# harmonic wins (subject_09 read 89.3, subject_05 92.0).
LOOP_CASES = [("subject_09", 45), ("subject_05", 45), ("subject_05", 115)]


@pytest.fixture(scope="session")
def astronaut(real_data):
    return cv2.cvtColor(cv2.imread(str(real_data / "images" / "astronaut.png")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def analysed(tmp_path_factory, real_data, astronaut):
    """analysed(kind, subject, bpm) -> rppg_gt's result on that test video (bpm 0 = no pulse),
    made and analysed once per session: several tests read the same video."""
    root = tmp_path_factory.mktemp("rppg_videos")
    cache = {}

    def analyse(kind: str, subject: str, bpm: float):
        key = (kind, subject, bpm)
        if key not in cache:
            pulse = np.zeros(N)
            if bpm:
                pulse = welltory_pulse(real_data / "ppg" / "welltory" / "data" / subject, target_bpm=bpm, n=N)
                assert abs(dominant_rate_bpm(pulse, FPS) - bpm) < 0.2
            path = root / f"{kind}_{subject}_{bpm}.mp4"
            if kind == "photo":
                video = photo_video(path, astronaut, pulse, seed=int(bpm), amplitude=0.004)
            else:
                video = looped_video(path, real_data / "video" / "single_face.mp4", pulse, amplitude=0.005)
            cache[key] = rppg_gt(video)
        return cache[key]

    return analyse


@pytest.mark.parametrize("subject,bpm", PHOTO_CASES)
def test_hr_recovered_from_animated_photo(analysed, subject, bpm):
    result = analysed("photo", subject, bpm)
    assert result.n_frames == N and result.face_frames == N
    assert abs(result.hr_bpm - bpm) <= 2.0, result.summary()


@pytest.mark.parametrize("subject,bpm", LOOP_CASES)
def test_hr_recovered_from_looped_talking_face(analysed, subject, bpm):
    result = analysed("loop", subject, bpm)
    assert result.face_frames >= 0.95 * N
    assert abs(result.hr_bpm - bpm) <= 2.0, result.summary()


def test_heart_rate_at_the_band_edge(analysed):
    """At 150 bpm, the band's upper edge, CHROM passes about a quarter of the power it passes
    mid-band, and the photo's light drift and head motion at lower rates are stronger than that:
    only with CHROM's response divided out does the pulse win (the plain peak read 66 bpm)."""
    result = analysed("photo", "subject_15", 150)
    assert abs(result.hr_bpm - 150) <= 2.0, result.summary()
    assert abs(heart_rate(result.pulse, fs=result.fps, chrom_win_sec=None) - 150) > 30  # the case this pins


# The loop at 66 bpm measured only 3.1 dB above its pulse-free twin on the random-turn loop
# (the clip's motion spreads over the band); at 45 bpm 7.7 dB.
@pytest.mark.parametrize("kind,subject,bpm", [("photo", "subject_15", 70), ("loop", "subject_09", 45)])
def test_snr_clearly_lower_without_pulse(analysed, kind, subject, bpm):
    with_pulse = analysed(kind, subject, bpm)
    without = analysed(kind, subject, 0)
    assert without.snr_db < with_pulse.snr_db - 3.0, (without.snr_db, with_pulse.snr_db)


def test_label_spectrum_peaks_at_the_injected_rate(analysed):
    result = analysed("photo", "subject_09", 95)
    peak_bpm = 60 * result.label_freqs[np.argmax(result.label)]
    spacing = 60 * (result.label_freqs[1] - result.label_freqs[0])
    assert abs(peak_bpm - 95) <= spacing
    assert np.linalg.norm(result.label) == pytest.approx(1.0, abs=1e-5)
