"""rppg-gt end to end on the talking-head clip (tests/data/video/single_face.mp4) looped back and
forth to 20 s, turning at random frames, with a real finger PPG recording (Welltory)
time-stretched to a chosen rate and injected into the skin at 0.5 % of intensity, then encoded
with H.264 at SiW's bits per pixel. The animated photo's cases are test_rppg_video.py's (a
file each, so that they run on different cores); the videos are made by conftest's
``analysed``.
"""

from __future__ import annotations

import pytest

from videos import RPPG_FRAMES as N

pytestmark = pytest.mark.slow

# The talking-head clip's own speech and motion change its skin colour more than a 0.5 % pulse
# in parts of the band (it is looped back and forth with random turns: a plain ping-pong made
# that into lines at multiples of 12.7 bpm), and a pulse near such a peak can lose to it
# (subject_05 at 50 bpm reads 45.3); benchmarks/hr_grid.py measures the grid. 45 bpm is where a
# plain spectral peak fails: CHROM weakens it to a third of its mid-band power, so the 2nd
# harmonic wins (subject_09 read 89.3, subject_05 92.0).
# subject_09 runs by default, subject_05 with the release cases (`-m release`).
LOOP_CASES = [("subject_09", 45), pytest.param("subject_05", 45, marks=pytest.mark.release),
              pytest.param("subject_05", 115, marks=pytest.mark.release)]


@pytest.mark.parametrize("subject,bpm", LOOP_CASES)
def test_hr_recovered_from_looped_talking_face(analysed, subject, bpm):
    result = analysed("loop", subject, bpm)
    assert result.face_frames >= 0.95 * N
    assert abs(result.hr_bpm - bpm) <= 2.0, result.summary()


# The loop at 66 bpm measured only 3.1 dB above its pulse-free twin on the random-turn loop
# (the clip's motion spreads over the band); at 45 bpm 7.7 dB.
def test_snr_clearly_lower_without_pulse(analysed):
    with_pulse = analysed("loop", "subject_09", 45)
    without = analysed("loop", "subject_09", 0)
    assert without.snr_db < with_pulse.snr_db - 3.0, (without.snr_db, with_pulse.snr_db)
