"""Mock dataset trees: live, print and replay videos of face photos, named and laid out as any
adapter's raw tree, with the adapter's own face annotation.

:func:`make_tree` writes a tree for any adapter of :data:`fasprep.datasets.DATASETS` from the
codes of its videos: each video goes where the adapter's ``video_name`` puts it and gets the
label its ``label_of`` gives; live videos are a face photo brought to life with a pulse
(:func:`fasprep.synth.animate_face`), print and replay videos the photo printed or shown on a
screen and held up to the camera (:mod:`fasprep.synth.attacks`), without a pulse. An attack's
finer code picks the medium (``print-2``: print medium 2). ``mock_truth.json`` records the label
and the injected heart rate of every video.

The annotation is the one the adapter reads (``prior_format``), placed around where the face
truly is (the face's extent and eye centres in the photo, carried by the known geometry into
each frame), then made as poor as the datasets': SiW-like corner boxes (``.face``) are loose,
offset, jittery, with a few frames of ``0 0 0 0``; Replay/CASIA-like ``frame x y w h`` rows and
MSU-like comma-separated corners (``.face``, in the adapter's ``prior_dir`` when it has one) are
the same boxes written their way; OULU-like eye centres (``.txt``) are off by a pixel or two. A
video the adapter says is stored turned (MSU-MFSD's upside-down ones, ``rotation_of``) is
written turned, its annotation in the turned frame, so that decoding must turn it back. Videos can be stored turned, with the container's display rotation turning them
back (phones filming in portrait), so readers must take the orientation from the container.

An attack is filmed against the same background as the subject's live videos (the blurred
photo that :func:`fasprep.synth.animate_face` puts behind a live face), as datasets record a
subject's videos in one place: the background tells a model nothing about the label.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..datasets import Dataset, get_dataset
from ..datasets.siw import parse_siw_name
from ..errors import DatasetLayoutError, InputError
from ..io import DEFAULT_CRF, SIW_LIKE_CRF, atomic_path, turn_frame, write_video
from . import attacks, live

#: x264 preset of the mock trees: SiW's bits per pixel at CRF 20 (:data:`fasprep.io.SIW_LIKE_CRF`)
#: for a ninth of the CPU time of :func:`fasprep.io.write_video`'s default. The test suite's
#: heart-rate checks on the trees pass with it; the rPPG accuracy videos of tests/ keep x264 fast,
#: with which a 150 bpm pulse at the band edge reads 150 (147.9 with ultrafast at CRF 20).
MOCK_PRESET = "ultrafast"

#: ``pulse(video_id, n, fs) -> (pulse, hr_bpm)``: one sample per frame in [-1, 1], and the
#: rate a heart-rate estimator should find in it (its dominant rate), bpm.
PulseSource = Callable[[str, int, float], "tuple[np.ndarray, float]"]


@dataclass(frozen=True)
class MockVideo:
    """One video of a mock tree, as recorded in ``mock_truth.json``.

    Attributes
    ----------
    video_id : str
        The adapter's id, e.g. ``Train/live/003/003-1-1-1-1`` or ``Train_files/1_1_01_1``.
    label : str
        ``live``, ``print``, ``replay`` or ``spoof``.
    hr_bpm : float or None
        Dominant rate of the pulse injected into a live video, bpm; None for attacks.
    """

    video_id: str
    label: str
    hr_bpm: float | None


def _siw_codes(video_id: str) -> dict:
    """SiW codes (with split) from a SiW id (:func:`fasprep.datasets.siw.parse_siw_name`)."""
    try:
        c = parse_siw_name(video_id.rsplit("/", 1)[-1])
    except DatasetLayoutError as exc:
        raise InputError("video_ids", f"{video_id!r}: {exc}") from exc
    return {"split": video_id.split("/", 1)[0], **c, "suffix": ".m" if video_id.endswith(".m") else ""}


def _rng(seed: int, video_id: str, stream: int) -> np.random.Generator:
    """A generator per (seed, video, purpose): a video's content does not depend on the list order."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode()), stream])


def _face_points(image: np.ndarray, subject) -> np.ndarray:
    """Face box corners and eye centres of a still photo, photo pixels.

    Returns
    -------
    np.ndarray, shape (6, 2), float64
        The corners of the face mesh's landmark extent (x1 y1, x2 y1, x2 y2, x1 y2), then the
        iris centres: the subject's right eye (image-left), then the left.
    """
    from ..face import FaceTracker

    with FaceTracker(static_image=True) as tracker:
        lm = tracker.landmarks(image)
    if lm is None:
        raise InputError(f"faces[{subject}]", "no face found in the photo")
    (x1, y1), (x2, y2) = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], lm[468, :2], lm[473, :2]], np.float64)


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


def _write_eyes(path: Path, eyes: np.ndarray, rng: np.random.Generator) -> None:
    """OULU-like eye positions: ``frame,x_right,y_right,x_left,y_left`` from frame 0, integers,
    off by about a pixel (annotators' and detectors' error)."""
    noisy = np.round(eyes.reshape(-1, 4) + rng.normal(0, 1.0, (len(eyes), 4))).astype(np.int64)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{t},{a},{b},{c},{d}\n" for t, (a, b, c, d) in enumerate(noisy)))


def _write_xywh(path: Path, boxes: np.ndarray) -> None:
    """Replay/CASIA-like ``frame x y w h`` rows from frame 0; ``0 0 0 0 0`` where the box is
    missing (as Bob's files have it: the frame number is zero too)."""
    rows = [f"{t} {a} {b} {c - a} {d - b}\n" if c > a else "0 0 0 0 0\n" for t, (a, b, c, d) in enumerate(boxes)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(rows))


def _write_corner_csv(path: Path, boxes: np.ndarray, eyes: np.ndarray) -> None:
    """MSU-like ``frame,x1,y1,x2,y2,ex1,ey1,ex2,ey2`` rows (eyes image-left first), floats."""
    rows = [",".join([str(t)] + [f"{v:.1f}" for v in (*box, *eye.ravel())]) + "\n"
            for t, (box, eye) in enumerate(zip(boxes, eyes))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(rows))


def _turn_points(points: np.ndarray, turn: int, size: tuple[int, int]) -> np.ndarray:
    """Points (..., 2) of a (width, height) frame carried into the frame turned clockwise by ``turn``."""
    w, h = size
    x, y = points[..., 0], points[..., 1]
    turned = {0: (x, y), 90: (h - y, x), 180: (w - x, h - y), 270: (y, w - x)}[turn % 360]
    return np.stack(turned, axis=-1)


def _write_prior(fmt: str | None, path: Path, points: np.ndarray, size: tuple[int, int],
                 rng: np.random.Generator) -> None:
    """The annotation file the adapter reads, at ``path`` (its extension is the format's);
    ``points`` (T, 6, 2) as :func:`_face_points` per frame, in stored-frame pixels."""
    if fmt is None:
        return
    if fmt == "corner-boxes":
        _write_boxes(path.with_suffix(".face"), _poor_boxes(points[:, :4], size, rng))
    elif fmt == "eye-centres":
        _write_eyes(path.with_suffix(".txt"), points[:, 4:6], rng)
    elif fmt == "xywh-rows":
        _write_xywh(path.with_suffix(".face"), _poor_boxes(points[:, :4], size, rng))
    elif fmt == "corner-csv":
        boxes = _poor_boxes(points[:, :4], size, rng)
        eyes = np.round(points[:, 4:6] + rng.normal(0, 1.0, points[:, 4:6].shape), 1)
        _write_corner_csv(path.with_suffix(".face"), boxes, eyes)
    else:
        raise InputError("prior_format", f"mock trees cannot write {fmt!r} annotations yet")


def _default_pulse(seed: int) -> PulseSource:
    def pulse(video_id: str, n: int, fs: float) -> tuple[np.ndarray, float]:
        rng = _rng(seed, video_id, 0)
        hr = float(rng.uniform(55.0, 110.0))
        return live.synthetic_ppg(n, fs=fs, hr_bpm=hr, seed=int(rng.integers(2**31))), hr

    return pulse


def _medium(attack: str) -> int:
    """The print or screen medium of an attack code: ``print-2`` -> 2; 1 without a number."""
    tail = attack.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


def make_tree(dataset: str | Dataset, root: str | os.PathLike, videos: Iterable[Mapping[str, int | str]], *,
              faces: Mapping, pulse: PulseSource | None = None, seconds: float = 10.0,
              attack_seconds: float | None = None, fps: float = 30.0, size: tuple[int, int] = (640, 360),
              rotation_deg: Callable[[Mapping], int] | int = 0, seed: int = 0, preset: str = MOCK_PRESET,
              progress: bool = False) -> list[MockVideo]:
    """Write a mock tree of any adapter: videos where the adapter names them, its annotation
    beside each, and ``mock_truth.json``.

    Parameters
    ----------
    dataset : str or Dataset
        An adapter (or its name); its ``video_name``, ``label_of``, ``subject_code`` and
        ``prior_format`` decide the tree.
    root : path
        Tree root (created if missing); existing files of the same names are replaced.
    videos : iterable of mapping
        The codes of each video, as the adapter's ``video_name`` takes them (SiW: ``split,
        subject, sensor, type, medium, session``; OULU-NPU: ``split, phone, session, user,
        file``; Replay-Attack: :func:`replay_attack_codes`; CASIA-FASD: ``split, subject, file``;
        MSU-MFSD: ``client, camera[, instrument]``; folder: ``label, subject, take``). The attack
        code's number (where it has one) picks the print or
        screen medium (:data:`fasprep.synth.attacks.PRINT_MEDIA`, ``SCREEN_MEDIA``). Where the
        codes have them, ``sensor`` 2 (SiW's webcam) is noisier and a live ``medium`` 2 moves more.
    faces : mapping of subject to np.ndarray, shape (H, W, 3), uint8, RGB
        Face photo of each subject in the codes.
    pulse : callable ``(video_id, n, fs) -> (pulse, hr_bpm)``, optional
        Pulse of a live video, shape (n,), in [-1, 1], and its dominant rate (recorded as the
        truth). Default: :func:`fasprep.synth.synthetic_ppg` at a rate drawn per video in
        55-110 bpm.
    seconds : float > 0, s
        Length of live videos (rPPG needs several seconds).
    attack_seconds : float > 0, s, optional
        Length of print and replay videos (default ``seconds``).
    fps : float > 0, Hz
    size : (width, height), pixels, both even (H.264 4:2:0)
        Of the frames as displayed (portrait when height > width).
    rotation_deg : int or callable ``(codes) -> int``
        Clockwise display rotation stored in each container (0, 90, 180, 270): the frames are
        stored turned back, as a phone filming in portrait does.
    seed : int
        Same seed and arguments, same tree (video content, annotations, truth).
    preset : str
        x264 preset of the videos (:func:`fasprep.io.write_video`), at the CRF where it spends
        about SiW's 0.43 bits per pixel (:data:`fasprep.io.SIW_LIKE_CRF`; other presets at
        :data:`fasprep.io.DEFAULT_CRF`). Default :data:`MOCK_PRESET`.
    progress : bool
        A progress bar on stderr.

    Returns
    -------
    list of MockVideo, in the order of ``videos``.

    Raises
    ------
    InputError
        Codes the adapter cannot name, a subject without a photo, a photo without a face, a
        medium the attack generator does not have, a bad size or length.
    """
    from ..progress import progress_bar

    adapter = get_dataset(dataset) if isinstance(dataset, str) else dataset
    root = Path(root)
    specs = [dict(v) for v in videos]
    w, h = (int(v) for v in size)
    if w % 2 or h % 2 or w < 32 or h < 32:
        raise InputError("size", f"needs even width and height of at least 32 pixels, got {size}")
    attack_seconds = seconds if attack_seconds is None else attack_seconds
    if not (seconds > 0 and attack_seconds > 0 and fps > 0):
        raise InputError("seconds", f"needs seconds, attack_seconds and fps > 0, got {seconds}, "
                                    f"{attack_seconds}, {fps}")
    plans = []
    for codes in specs:
        try:
            name, (label, attack) = adapter.video_name(codes), adapter.label_of(codes)
            subject = codes[adapter.subject_code]
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError("videos", f"{codes}: not {adapter.name} codes ({type(exc).__name__}: {exc})") from None
        if label != "live":
            attacks._medium("replay" if label == "replay" else "print", _medium(attack))  # raises on a bad one
        turn = rotation_deg(codes) if callable(rotation_deg) else int(rotation_deg)
        plans.append((name, label, attack, subject, codes, turn))
    missing = sorted({p[3] for p in plans} - set(faces), key=str)
    if missing:
        raise InputError("faces", f"no photo for subject(s) {missing}")
    photos = {}
    for s in sorted({p[3] for p in plans}, key=str):
        photo = np.asarray(faces[s])
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise InputError(f"faces[{s}]", f"expected an (H, W, 3) uint8 RGB photo, got shape "
                                            f"{photo.shape} dtype {photo.dtype}")
        photos[s] = np.ascontiguousarray(photo)
    points = {s: _face_points(image, s) for s, image in photos.items()}  # fails before writing
    pulse = pulse or _default_pulse(seed)
    truth = []
    for name, label, attack, subject, codes, turn in progress_bar(plans, desc=f"mock {adapter.name}", unit="video",
                                                                  enabled=progress):
        vid = name.rsplit(".", 1)[0]
        image = photos[subject]
        vseed = int(_rng(seed, vid, 1).integers(2**31))
        noise = 2.5 if codes.get("sensor") == 2 else 1.5
        hr = None
        if label == "live":
            n = max(int(round(seconds * fps)), 1)
            values, hr = pulse(vid, n, fps)
            values = np.asarray(values, dtype=np.float64)
            if values.shape != (n,):
                raise InputError("pulse", f"returned shape {values.shape} for {vid}, expected ({n},)")
            motion = 4.0 if codes.get("medium") == 2 else 2.0  # SiW live medium 2: more head movement
            frames = live.animate_face(image, values, fps=fps, size=(w, h), motion_px=motion,
                                       rotation_deg=motion / 2, noise_sigma=noise, seed=vseed)
            scale = h / image.shape[0]  # animate_face: photo scaled to the frame height, centred
            where = (points[subject] - np.array([image.shape[1], image.shape[0]]) / 2) * scale + np.array([w, h]) / 2
            where = np.broadcast_to(where, (n, 6, 2))
            hr = round(float(hr), 3)
        else:
            n = max(int(round(attack_seconds * fps)), 1)
            kind = "replay" if label == "replay" else "print"
            make = attacks.replay_attack if kind == "replay" else attacks.print_attack
            frames = make(image, n=n, fps=fps, size=(w, h), medium=_medium(attack), seed=vseed,
                          background=live.photo_background(image, (w, h)), noise_sigma=noise)
            H = attacks.photo_homographies(kind, image.shape, n=n, fps=fps, size=(w, h), medium=_medium(attack),
                                           seed=vseed)
            q = np.einsum("tij,kj->tki", H, np.c_[points[subject], np.ones(6)])
            where = q[..., :2] / q[..., 2:]
        video = root / name
        stored, where = (w, h), np.asarray(where)
        upside = adapter.rotation_of(codes) % 360  # stored turned without the container saying so
        if upside:
            back = 360 - upside
            frames = (turn_frame(f, back) for f in frames)
            where = _turn_points(where, back, (w, h))
            stored = (h, w) if upside in (90, 270) else (w, h)
        written = write_video(video, frames, fps=fps, rotation_deg=turn, preset=preset,
                              crf=SIW_LIKE_CRF.get(preset, DEFAULT_CRF))
        if written != n:
            raise InputError(video, f"wrote {written} of {n} frames")
        prior = root / adapter.prior_dir / name if adapter.prior_dir else video
        _write_prior(adapter.prior_format, prior, where, stored, _rng(seed, vid, 2))
        truth.append(MockVideo(vid, label, hr))
    with atomic_path(root / "mock_truth.json") as tmp:
        tmp.write_text(json.dumps([asdict(t) for t in truth], indent=1) + "\n")
    return truth


def make_siw_tree(root: str | os.PathLike, video_ids: Iterable[str], *, faces: Mapping[int, np.ndarray],
                  **kw) -> list[MockVideo]:
    """A mock SiW tree from SiW ids (``Train/live/003/003-1-1-1-1``): :func:`make_tree` with
    the codes the ids carry. The type code chooses live (1), print (2) or replay (3); the
    medium code the printer or screen. Keyword arguments as :func:`make_tree`.

    ``Test/live/153/153-2-1-1-1.m``-style ids keep their name (file ``153-2-1-1-1.m.mov``).
    """
    return make_tree("siw", root, [_siw_codes(v) for v in video_ids], faces=faces, **kw)


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
    photo = live.example_face()
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


def oulu_codes(*, users: Mapping[str, Sequence[int]], phones: Sequence[int] = (1,), sessions: Sequence[int] = (1,),
               files: Sequence[int] = (1, 2, 3, 4, 5)) -> list[dict]:
    """OULU-NPU codes for :func:`make_tree`: every combination of the given phones, sessions,
    users of each split and files (1 live, 2-3 print 1-2, 4-5 display 1-2).

    Examples
    --------
    >>> oulu_codes(users={"Train": [1]}, files=(1, 2))
    [{'split': 'Train', 'phone': 1, 'session': 1, 'user': 1, 'file': 1}, {'split': 'Train', 'phone': 1, 'session': 1, 'user': 1, 'file': 2}]
    """
    return [{"split": split, "phone": p, "session": s, "user": u, "file": f}
            for split, us in users.items() for u in us for p in phones for s in sessions for f in files]


def folder_codes(subjects: Sequence[str], *, labels: Sequence[str] = ("live", "print", "replay"),
                 takes: int = 1) -> list[dict]:
    """Folder-adapter codes for :func:`make_tree`: ``takes`` videos of every label per subject
    (``live/<subject>/<subject>_<take>.mp4``, ...)."""
    return [{"label": lab, "subject": s, "take": t} for s in subjects for lab in labels for t in range(1, takes + 1)]


def replay_attack_codes(*, clients: Mapping[str, Sequence[int]], takes: Sequence[int] = (1,),
                        attacks: Sequence[tuple[str, str, str]] = (("print", "highdef", "photo"),
                                                                   ("highdef", "highdef", "video")),
                        lights: Sequence[str] = ("controlled",), supports: Sequence[str] = ("hand",)) -> list[dict]:
    """Replay-Attack codes for :func:`make_tree`: per client of each split (``train``, ``dev``,
    ``test``) and light, a real video per take and each attack ``(attack device, sample device,
    sample type)`` on each support."""
    out = []
    for split, cs in clients.items():
        for c in cs:
            for light in lights:
                out += [{"split": split, "client": c, "session": 1, "light": light, "take": t} for t in takes]
                out += [{"split": split, "client": c, "session": 1, "attack_device": dev, "support": sup,
                         "sample_device": sdev, "sample_type": kind, "light": light}
                        for dev, sdev, kind in attacks for sup in supports]
    return out


def casia_codes(*, subjects: Mapping[str, Sequence[int]], files: Sequence[str] = ("1", "HR_2", "7")) -> list[dict]:
    """CASIA-FASD codes for :func:`make_tree`: each file of each subject (1-50: train 1-20,
    test 21-50) of each split (``train``, ``test``)."""
    return [{"split": split, "subject": s, "file": f} for split, ss in subjects.items() for s in ss for f in files]


def msu_codes(*, clients: Sequence[int], cameras: Sequence[str] = ("android",),
              instruments: Sequence[str | None] = (None, "printed_photo", "ipad_video")) -> list[dict]:
    """MSU-MFSD codes for :func:`make_tree`: per client and camera, a real video (instrument
    None) and each attack instrument. Clients 3, 5-9's real android videos are stored upside
    down, as the release's are."""
    return [{"client": c, "camera": cam, **({"instrument": i} if i else {})}
            for c in clients for cam in cameras for i in instruments]


#: Displayed frame size (width, height) of each dataset's demo and test trees: OULU-NPU's phones
#: film in portrait.
MOCK_SIZE = {"siw": (640, 360), "oulu-npu": (288, 512), "folder": (640, 360), "replay-attack": (480, 360),
             "replay-mobile": (360, 480), "casia-fasd": (480, 360), "msu-mfsd": (480, 360)}


def oulu_rotation(codes: Mapping) -> int:
    """Display rotation of a mock OULU-NPU video: phone 1's videos are stored turned (90
    degrees), the other phones' upright, so both paths of the decoder are exercised."""
    return 90 if int(codes["phone"]) == 1 else 0


def demo_videos(dataset: str) -> list[dict]:
    """The codes of the demo's tree of ``dataset``: two or three subjects, every label, every
    split and protocol side with data.

    - siw: :func:`demo_video_ids` (10 videos of 2 subjects).
    - oulu-npu: Train user 1 and Dev user 21 on phone 2, session 1 (live, print 1, display 1;
      Dev: live, print 2), Test user 36 on phone 1, session 3 (live, print 2, display 2): 8
      videos; P1, P2 and the phone-1 folds of P3 and P4 have both labels on every side.
    - replay-attack: train client 1 (live, print, iPad video), dev client 16 (live, iPhone
      video), test client 101 (live, print, iPad photo): 8 videos, hand-held.
    - replay-mobile: train client 1 (live, print), dev client 5 (live, matte-screen video),
      test client 2 (live, print, matte-screen photo): 7 videos.
    - casia-fasd: train subject 1 (files 1, HR_2, 7), test subject 21 (2, 5, HR_4): 6 videos.
    - msu-mfsd: train client 3 (android: live, stored upside down; printed photo), test
      client 1 (laptop: live, iPad video): 4 videos.
    - folder: subjects s1 and s2, one live, print and replay video each (6 videos).
    """
    if dataset == "siw":
        return [_siw_codes(v) for v in demo_video_ids()]
    if dataset == "oulu-npu":
        return (oulu_codes(users={"Train": [1]}, phones=(2,), files=(1, 2, 4))
                + oulu_codes(users={"Dev": [21]}, phones=(2,), files=(1, 3))
                + oulu_codes(users={"Test": [36]}, phones=(1,), sessions=(3,), files=(1, 3, 5)))
    if dataset == "replay-attack":
        return (replay_attack_codes(clients={"train": [1]}, attacks=(("print", "highdef", "photo"),
                                                                      ("highdef", "highdef", "video")))
                + replay_attack_codes(clients={"dev": [16]}, attacks=(("mobile", "mobile", "video"),))
                + replay_attack_codes(clients={"test": [101]}, lights=("adverse",),
                                      attacks=(("print", "highdef", "photo"), ("highdef", "highdef", "photo"))))
    if dataset == "replay-mobile":
        real = {"session": 1, "device": "mobile", "light": "lighton"}
        attack = {"session": 1, "support": "fixed", "sample_device": "mobile", "light": "lighton"}
        return [{"split": "train", "client": 1, **real},
                {"split": "train", "client": 1, **attack, "attack_device": "print", "sample_type": "photo"},
                {"split": "dev", "client": 5, **real},
                {"split": "dev", "client": 5, **attack, "attack_device": "mattescreen", "sample_type": "video"},
                {"split": "test", "client": 2, **real},
                {"split": "test", "client": 2, **attack, "attack_device": "print", "sample_type": "photo"},
                {"split": "test", "client": 2, **attack, "attack_device": "mattescreen", "sample_type": "photo"}]
    if dataset == "casia-fasd":
        return (casia_codes(subjects={"train": [1]}, files=("1", "HR_2", "7"))
                + casia_codes(subjects={"test": [21]}, files=("2", "5", "HR_4")))
    if dataset == "msu-mfsd":
        return (msu_codes(clients=[3], instruments=(None, "printed_photo"))
                + msu_codes(clients=[1], cameras=("laptop",), instruments=(None, "ipad_video")))
    if dataset == "folder":
        return folder_codes(["s1", "s2"])
    raise InputError("dataset", f"no demo tree for {dataset!r}")
