"""A mock SiW tree: live, print and replay videos of face photos, named and laid out as SiW.

SiW (Liu, Jourabloo & Liu, CVPR 2018) stores
``{Train,Test}/{live,spoof}/<subject>/<subject>-<sensor>-<type>-<medium>-<session>.mov`` with a
``.face`` file beside each video: one ``x1 y1 x2 y2`` line per frame, ``0 0 0 0`` where the
dataset's detector found no face. :func:`make_siw_tree` writes such a tree for any list of SiW
video ids from face photos: live videos (type 1) are the photo brought to life with a pulse
(:func:`fasprep.synth.animate_face`), print (type 2) and replay (type 3) videos are the photo
printed or shown on a screen and held up to the camera (:mod:`fasprep.attacks`), without a
pulse. ``mock_truth.json`` records the label and the injected heart rate of every video.

The ``.face`` boxes are placed around where the face truly is (the face's extent in the photo,
carried by the known geometry into each frame), then made as poor as SiW's: loose (1.1-1.4
times the face), offset, jittery, with a few frames of ``0 0 0 0``.

An attack is filmed against the same background as the subject's live videos (the blurred
photo that :func:`fasprep.synth.animate_face` puts behind a live face), as SiW records a
subject's videos in one place: the background tells a model nothing about the label.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from . import attacks, synth
from .datasets import SIW_TYPE_LABELS, parse_siw_name
from .errors import DatasetLayoutError, InputError
from .io import atomic_path, write_video

#: ``pulse(video_id, n, fs) -> (pulse, hr_bpm)``: one sample per frame in [-1, 1], and the
#: rate a heart-rate estimator should find in it (its dominant rate), bpm.
PulseSource = Callable[[str, int, float], "tuple[np.ndarray, float]"]



@dataclass(frozen=True)
class MockVideo:
    """One video of a mock tree, as recorded in ``mock_truth.json``.

    Attributes
    ----------
    video_id : str
        SiW id, e.g. ``Train/live/003/003-1-1-1-1``; the video is ``<root>/<video_id>.mov``.
    label : str
        ``live``, ``print`` or ``replay``.
    hr_bpm : float or None
        Dominant rate of the pulse injected into a live video, bpm; None for attacks.
    """

    video_id: str
    label: str
    hr_bpm: float | None


def _codes(video_id: str) -> tuple[int, int, int, int, int]:
    """(subject, sensor, type, medium, session) from a SiW id (:func:`fasprep.datasets.parse_siw_name`)."""
    try:
        c = parse_siw_name(video_id.rsplit("/", 1)[-1])
    except DatasetLayoutError as exc:
        raise InputError("video_ids", f"{video_id!r}: {exc}") from exc
    return c["subject"], c["sensor"], c["type"], c["medium"], c["session"]


def _rng(seed: int, video_id: str, stream: int) -> np.random.Generator:
    """A generator per (seed, video, purpose): a video's content does not depend on the list order."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode()), stream])


def _face_extent(image: np.ndarray, subject: int) -> np.ndarray:
    """x1, y1, x2, y2 (photo pixels) of the face mesh's landmarks in a still photo."""
    from .face import FaceTracker

    with FaceTracker(static_image=True) as tracker:
        lm = tracker.landmarks(image)
    if lm is None:
        raise InputError(f"faces[{subject}]", "no face found in the photo")
    return np.r_[lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)].astype(np.float64)


def _poor_boxes(corners: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """SiW-like boxes around the face, one row per frame.

    Parameters
    ----------
    corners : np.ndarray, shape (T, 4, 2), float
        The face box's corners in each frame, pixels.
    size : (width, height)
    rng : np.random.Generator

    Returns
    -------
    np.ndarray, shape (T, 4), int: x1, y1, x2, y2; all 0 on a few frames.
    """
    w, h = size
    T = len(corners)
    lo, hi = corners.min(axis=1), corners.max(axis=1)  # (T, 2)
    centre, extent = (lo + hi) / 2, hi - lo
    scale = np.clip(rng.uniform(1.15, 1.35) + np.cumsum(rng.normal(0, 0.01, T)).clip(-0.05, 0.05)
                    + rng.normal(0, 0.015, T), 1.1, 1.4)
    offset = rng.uniform(-0.08, 0.08, 2) + rng.normal(0, 0.02, (T, 2))
    centre = centre + offset * extent
    half = extent * scale[:, None] / 2
    boxes = np.round(np.c_[centre - half, centre + half]).astype(np.int64)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w - 1)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h - 1)
    # A few misses, in runs of 1-3 frames (about 2 % of frames).
    for start in rng.choice(T, size=max(1, T // 100), replace=False):
        boxes[start:start + rng.integers(1, 4)] = 0
    return boxes


def _write_boxes(path: Path, boxes: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{a} {b} {c} {d}\n" for a, b, c, d in boxes))


def _default_pulse(seed: int) -> PulseSource:
    def pulse(video_id: str, n: int, fs: float) -> tuple[np.ndarray, float]:
        rng = _rng(seed, video_id, 0)
        hr = float(rng.uniform(55.0, 110.0))
        return synth.synthetic_ppg(n, fs=fs, hr_bpm=hr, seed=int(rng.integers(2**31))), hr

    return pulse


def make_siw_tree(root: str | os.PathLike, video_ids: Iterable[str], *, faces: Mapping[int, np.ndarray],
                  pulse: PulseSource | None = None, seconds: float = 10.0,
                  attack_seconds: float | None = None, fps: float = 30.0,
                  size: tuple[int, int] = (640, 360), seed: int = 0,
                  progress: bool = False) -> list[MockVideo]:
    """Write a mock SiW tree: ``<root>/<video_id>.mov`` and ``.face`` per id, and ``mock_truth.json``.

    Parameters
    ----------
    root : path
        Tree root (created if missing); existing files of the same names are replaced.
    video_ids : iterable of str
        SiW ids, e.g. ``Train/live/003/003-1-1-1-1`` or ``Test/live/153/153-2-1-1-1.m`` (the file
        is then ``153-2-1-1-1.m.mov``). The type code chooses live (1), print (2) or replay (3);
        the medium code the printer or screen (:data:`fasprep.attacks.PRINT_MEDIA`,
        :data:`fasprep.attacks.SCREEN_MEDIA`); sensor 2 (SiW's webcam) is noisier than sensor 1.
    faces : mapping of int to np.ndarray, shape (H, W, 3), uint8, RGB
        Face photo of each subject number in the ids.
    pulse : callable ``(video_id, n, fs) -> (pulse, hr_bpm)``, optional
        Pulse of a live video, shape (n,), in [-1, 1], and its dominant rate (recorded as the
        truth). Default: :func:`fasprep.synth.synthetic_ppg` at a rate drawn per video in
        55-110 bpm.
    seconds : float > 0, s
        Length of live videos (rPPG needs several seconds; SiW's are ~15 s).
    attack_seconds : float > 0, s, optional
        Length of print and replay videos (default ``seconds``).
    fps : float > 0, Hz
    size : (width, height), pixels, both even (H.264 4:2:0)
    seed : int
        Same seed and arguments, same tree (video content, boxes, truth).
    progress : bool
        A progress bar on stderr.

    Returns
    -------
    list of MockVideo, in the order of ``video_ids``.

    Raises
    ------
    InputError
        An id that is not a SiW id, a subject without a photo, a photo without a face, a
        medium SiW does not have, a bad size or length.
    """
    from tqdm import tqdm

    root = Path(root)
    ids = list(video_ids)
    w, h = (int(v) for v in size)
    if w % 2 or h % 2 or w < 32 or h < 32:
        raise InputError("size", f"needs even width and height of at least 32 pixels, got {size}")
    attack_seconds = seconds if attack_seconds is None else attack_seconds
    if not (seconds > 0 and attack_seconds > 0 and fps > 0):
        raise InputError("seconds", f"needs seconds, attack_seconds and fps > 0, got {seconds}, "
                                    f"{attack_seconds}, {fps}")
    codes = [_codes(v) for v in ids]
    missing = sorted({c[0] for c in codes} - set(faces))
    if missing:
        raise InputError("faces", f"no photo for subject(s) {missing}")
    for _, _, kind, medium, _ in codes:
        if kind > 1:
            attacks._medium(SIW_TYPE_LABELS[kind], medium)  # raises on a medium SiW does not have
    pulse = pulse or _default_pulse(seed)
    photos = {}
    for s in sorted({c[0] for c in codes}):
        photo = np.asarray(faces[s])
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise InputError(f"faces[{s}]", f"expected an (H, W, 3) uint8 RGB photo, got shape "
                                            f"{photo.shape} dtype {photo.dtype}")
        photos[s] = np.ascontiguousarray(photo)
    extents = {s: _face_extent(image, s) for s, image in photos.items()}  # fails before writing
    truth = []
    for vid, (subject, sensor, kind, medium, _) in tqdm(list(zip(ids, codes)), desc="mock SiW", unit="video",
                                                         disable=not progress, file=sys.stderr):
        image = photos[subject]
        x1, y1, x2, y2 = extents[subject]
        face = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
        label = SIW_TYPE_LABELS[kind]
        vseed = int(_rng(seed, vid, 1).integers(2**31))
        noise = 1.5 if sensor == 1 else 2.5
        hr = None
        if label == "live":
            n = max(int(round(seconds * fps)), 1)
            values, hr = pulse(vid, n, fps)
            values = np.asarray(values, dtype=np.float64)
            if values.shape != (n,):
                raise InputError("pulse", f"returned shape {values.shape} for {vid}, expected ({n},)")
            motion = 2.0 if medium == 1 else 4.0  # SiW live medium 2: more head movement
            frames = synth.animate_face(image, values, fps=fps, size=(w, h), motion_px=motion,
                                        rotation_deg=motion / 2, noise_sigma=noise, seed=vseed)
            scale = h / image.shape[0]  # animate_face: photo scaled to the frame height, centred
            corners = (face - np.array([image.shape[1], image.shape[0]]) / 2) * scale + np.array([w, h]) / 2
            corners = np.broadcast_to(corners, (n, 4, 2))
            hr = round(float(hr), 3)
        else:
            n = max(int(round(attack_seconds * fps)), 1)
            make = attacks.print_attack if label == "print" else attacks.replay_attack
            frames = make(image, n=n, fps=fps, size=(w, h), medium=medium, seed=vseed,
                          background=synth.photo_background(image, (w, h)), noise_sigma=noise)
            H = attacks.photo_homographies(label, image.shape, n=n, fps=fps, size=(w, h), medium=medium,
                                           seed=vseed)
            q = np.einsum("tij,kj->tki", H, np.c_[face, np.ones(4)])
            corners = q[..., :2] / q[..., 2:]
        video = root / f"{vid}.mov"
        written = write_video(video, frames, fps=fps)
        if written != n:
            raise InputError(video, f"wrote {written} of {n} frames")
        _write_boxes(root / f"{vid}.face", _poor_boxes(corners, (w, h), _rng(seed, vid, 2)))
        truth.append(MockVideo(vid, label, hr))
    with atomic_path(root / "mock_truth.json") as tmp:
        tmp.write_text(json.dumps([asdict(t) for t in truth], indent=1) + "\n")
    return truth


def read_truth(root: str | os.PathLike) -> list[MockVideo]:
    """The videos of a mock tree, from its ``mock_truth.json``."""
    return [MockVideo(**d) for d in json.loads((Path(root) / "mock_truth.json").read_text())]


def demo_video_ids(subjects: Sequence[int] = (1, 2)) -> list[str]:
    """Ten SiW ids of two subjects that cover every type and medium and every protocol.

    The first subject is in ``Train`` (live medium 1, print 1, replay 1 and 2), the second in
    ``Test`` (live medium 2, print 2, replay 1-4): SiW Protocol 1 has both labels on both
    sides, every Protocol 2 fold k has train replays of another medium and test replays of
    medium k, and both Protocol 3 directions (print to replay, replay to print) have data.

    Examples
    --------
    >>> demo_video_ids()[:2]
    ['Train/live/001/001-1-1-1-1', 'Train/spoof/001/001-1-2-1-1']
    """
    if len(subjects) != 2 or subjects[0] == subjects[1]:
        raise InputError("subjects", f"needs two different subject numbers, got {subjects}")
    a, b = (f"{int(s):03d}" for s in subjects)
    return ([f"Train/live/{a}/{a}-1-1-1-1", f"Train/spoof/{a}/{a}-1-2-1-1",
             f"Train/spoof/{a}/{a}-1-3-1-1", f"Train/spoof/{a}/{a}-1-3-2-1",
             f"Test/live/{b}/{b}-2-1-2-1", f"Test/spoof/{b}/{b}-2-2-2-1"]
            + [f"Test/spoof/{b}/{b}-1-3-{m}-1" for m in (1, 2, 3, 4)])


def demo_faces(subjects: Sequence[int] = (1, 2)) -> dict[int, np.ndarray]:
    """Different-looking face photos made from the one fasprep ships, one per subject.

    The first subject gets a head-and-shoulders crop of the astronaut photo
    (:func:`fasprep.synth.example_face`); the second its mirror image, cropped differently and
    with a warmer colour balance; further subjects other crops, mirrorings, colour balances and
    gammas (deterministic in their position). The crops make the face about a third of the
    photo's height, so it stays large enough in a 640x360 video for the face tracker.

    Returns
    -------
    dict of int to np.ndarray, shape (H, W, 3), uint8, RGB
    """
    subjects = [int(s) for s in subjects]
    if not subjects or len(set(subjects)) != len(subjects):
        raise InputError("subjects", f"needs different subject numbers, got {subjects}")
    photo = synth.example_face()
    faces = {}
    for i, subject in enumerate(subjects):
        if i == 0:
            faces[subject] = np.ascontiguousarray(photo[0:340, 75:375])
            continue
        if i == 1:
            crop, mirror, gain, gamma = (10, 330, 60, 400), True, (1.05, 1.0, 0.9), 0.95
        else:
            rng = np.random.default_rng([7, i])
            top, left = int(rng.integers(0, 25)), int(rng.integers(55, 95))
            crop = (top, top + int(rng.integers(310, 345)), left, left + int(rng.integers(290, 330)))
            mirror, gamma = bool(i % 2), float(rng.uniform(0.85, 1.15))
            gain = tuple(rng.uniform(0.88, 1.08, 3))
        face = photo[crop[0]:crop[1], crop[2]:crop[3]]
        face = (face[:, ::-1] if mirror else face).astype(np.float32) / 255.0
        face = (face ** gamma * np.array(gain, np.float32)).clip(0.0, 1.0)
        faces[subject] = np.ascontiguousarray(np.round(face * 255.0).astype(np.uint8))
    return faces


def mock_video_ids(*, train_subjects: int = 2, test_subjects: int = 2) -> list[str]:
    """SiW ids for a training-sized mock: per subject two live videos, one print, one replay.

    Train subjects are numbered 1, 2, ...; Test subjects 101, 102, ... Print and replay media
    rotate over the subjects (print 1-2, replay 1-4), so with four subjects per split every
    medium appears on both sides.

    Examples
    --------
    >>> mock_video_ids(train_subjects=1, test_subjects=1)[:3]
    ['Train/live/001/001-1-1-1-1', 'Train/live/001/001-1-1-2-1', 'Train/spoof/001/001-1-2-1-1']
    """
    ids = []
    for split, first, n in (("Train", 1, train_subjects), ("Test", 101, test_subjects)):
        for i in range(n):
            s = f"{first + i:03d}"
            ids += [f"{split}/live/{s}/{s}-1-1-1-1", f"{split}/live/{s}/{s}-1-1-2-1",
                    f"{split}/spoof/{s}/{s}-1-2-{1 + i % 2}-1", f"{split}/spoof/{s}/{s}-1-3-{1 + i % 4}-1"]
    return ids
