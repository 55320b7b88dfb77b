"""Shared fixtures: the real test data kept in tests/data (see tests/data/README.md), and the
rPPG test videos made from it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from videos import FPS, RPPG_FRAMES, dominant_rate_bpm, looped_video, photo_video, welltory_pulse

from fasprep.rppg import rppg_gt

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """tests/data: real faces, videos and PPG recordings, each with its source and licence."""
    return DATA


@pytest.fixture(scope="session")
def astronaut(real_data):
    return cv2.cvtColor(cv2.imread(str(real_data / "images" / "astronaut.png")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def analysed(tmp_path_factory, real_data, astronaut):
    """analysed(kind, subject, bpm) -> rppg_gt's result on that test video, made and analysed
    once per session (several tests read the same video).

    kind: "photo" (the astronaut photo animated, 0.4 % pulse) or "loop" (the talking-head clip
    looped back and forth, 0.5 %); subject: the Welltory recording time-stretched to ``bpm``
    (0: no pulse, the same video for every subject); RPPG_FRAMES frames at FPS, H.264 at SiW's
    bits per pixel.
    """
    root = tmp_path_factory.mktemp("rppg_videos")
    cache = {}

    def analyse(kind: str, subject: str, bpm: float):
        key = (kind, subject if bpm else "none", bpm)
        if key not in cache:
            pulse = np.zeros(RPPG_FRAMES)
            if bpm:
                pulse = welltory_pulse(real_data / "ppg" / "welltory" / "data" / subject, target_bpm=bpm,
                                       n=RPPG_FRAMES)
                assert abs(dominant_rate_bpm(pulse, FPS) - bpm) < 0.2
            path = root / ("_".join(map(str, key)) + ".mp4")
            if kind == "photo":
                video = photo_video(path, astronaut, pulse, seed=int(bpm), amplitude=0.004)
            else:
                video = looped_video(path, real_data / "video" / "single_face.mp4", pulse, amplitude=0.005)
            cache[key] = rppg_gt(video)
        return cache[key]

    return analyse
