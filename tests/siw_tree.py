"""Mock SiW trees from real material: real SiW ids, real face photos, real PPG recordings.

- ids from the real release's list (tests/data/siw/siw_files.txt), chosen so that the subjects
  of each split cover every type and medium (live 1-2, print 1-2, replay 1-4);
- real face photos (tests/data/images: the astronaut, Silent-Face's two live faces),
  cropped to head and shoulders as in SiW's frames; the attack photos F1/F2 are not used as
  live faces;
- real finger PPG recordings (Welltory, 21 subjects) time-stretched to a chosen rate per video
  as the live videos' pulse.

"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from videos import dominant_rate_bpm, welltory_pulse

from fasprep.synth.mock_tree import MockVideo, make_siw_tree

DATA = Path(__file__).resolve().parent / "data"
SIW_FILES = DATA / "siw" / "siw_files.txt"
IMAGES = DATA / "images"
WELLTORY = DATA / "ppg" / "welltory" / "data"

#: Every (type, medium) of SiW: live 1-2, print 1-2, replay 1-4.
COMBOS = ((1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (3, 4))

#: Real live-face photos and their head-and-shoulders crop (row and column fractions).
PHOTOS = (
    ("astronaut.png", (0.0, 0.66, 0.15, 0.73)),
    ("silent-face/image_T1.jpg", (0.0, 1.0, 0.0, 1.0)),
    ("silent-face/image_T2.jpg", (0.10, 0.75, 0.12, 0.90)),
)


def _codes(video_id: str) -> tuple[int, int, int, int, int]:
    name = video_id.rsplit("/", 1)[-1].split(".")[0]
    return tuple(int(c) for c in name.split("-"))  # type: ignore[return-value]


def _release() -> dict[str, dict[int, list[str]]]:
    """split -> subject -> its ids, in the list's (sorted) order."""
    out: dict[str, dict[int, list[str]]] = {"Train": {}, "Test": {}}
    for vid in SIW_FILES.read_text().split():
        out[vid.split("/", 1)[0]].setdefault(_codes(vid)[0], []).append(vid)
    return out


def _combo(vid: str) -> tuple[int, int]:
    c = _codes(vid)
    return c[2], c[3]


def real_ids(subjects_train: int | Sequence[int] = 1, subjects_test: int | Sequence[int] = 1, *,
             per_subject: int | None = None) -> list[str]:
    """Real SiW ids of a few subjects per split, covering every type and medium in each split.

    Parameters
    ----------
    subjects_train, subjects_test : int or sequence of int
        How many subjects (the first ones, by number, that have every type and medium), or
        which subjects.
    per_subject : int, optional
        Ids per subject. The 8 (type, medium) combinations are dealt round-robin over a split's
        subjects (one subject: all 8; two: 4 each); more ids are then added per subject from
        its remaining videos. Default: just the dealt combinations.

    Returns
    -------
    list of str, Train ids first, each split by subject.

    Raises
    ------
    ValueError
        A subject that is not in the split or lacks a combination dealt to it, or a
        ``per_subject`` below the number of combinations dealt.
    """
    release = _release()
    out = []
    for split, want in (("Train", subjects_train), ("Test", subjects_test)):
        by_subject = release[split]
        if isinstance(want, int):
            complete = [s for s in sorted(by_subject) if {_combo(v) for v in by_subject[s]} >= set(COMBOS)]
            if len(complete) < want:
                raise ValueError(f"{split} has only {len(complete)} subjects with every type and medium")
            subjects = complete[:want]
        else:
            subjects = [int(s) for s in want]
        if not subjects:
            raise ValueError(f"no {split} subjects asked for")
        for i, s in enumerate(subjects):
            if s not in by_subject:
                raise ValueError(f"subject {s} is not in SiW {split}")
            dealt = COMBOS[i::len(subjects)]
            if per_subject is not None and per_subject < len(dealt):
                raise ValueError(f"per_subject={per_subject} cannot hold the {len(dealt)} combinations "
                                 f"dealt to each of {len(subjects)} {split} subject(s)")
            chosen = []
            for combo in dealt:
                match = [v for v in by_subject[s] if _combo(v) == combo]
                if not match:
                    raise ValueError(f"{split} subject {s} has no video of type {combo[0]} medium {combo[1]}")
                chosen.append(match[0])
            rest = [v for v in by_subject[s] if v not in chosen]
            chosen += rest[:max(0, (per_subject or 0) - len(chosen))]
            out += chosen
    return out


def _crop(image: np.ndarray, frac: tuple[float, float, float, float], max_height: int) -> np.ndarray:
    h, w = image.shape[:2]
    r0, r1, c0, c1 = frac
    image = image[int(r0 * h):int(r1 * h), int(c0 * w):int(c1 * w)]
    if image.shape[0] > max_height:
        s = max_height / image.shape[0]
        image = cv2.resize(image, (round(image.shape[1] * s), max_height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def real_faces(subjects: Sequence[int], *, max_height: int = 480) -> dict[int, np.ndarray]:
    """Real face photos, RGB, dealt to ``subjects`` in turn (astronaut, T1, T2, astronaut, ...).

    Each photo is cropped to head and shoulders and at most ``max_height`` pixels tall (the
    live generator works on the photo at its own size every frame).
    """
    photos = []
    for name, frac in PHOTOS:
        bgr = cv2.imread(str(IMAGES / name), cv2.IMREAD_COLOR)
        photos.append(_crop(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), frac, max_height))
    return {int(s): photos[i % len(photos)] for i, s in enumerate(subjects)}


def _draw(video_id: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(video_id.encode())])


def welltory_pulse_source(rates: Mapping[str, float] | Sequence[float] | None = None, *, seed: int = 0):
    """A ``pulse`` source for :func:`fasprep.synth.mock_tree.make_siw_tree` from the Welltory recordings.

    Each video gets an excerpt of a real finger PPG recording, time-stretched to its target
    rate (:func:`videos.welltory_pulse`). The recording is picked per video id; one whose
    excerpt is not a clean pulse at the target (its own rate off the chest strap's, or the
    stretched excerpt's dominant rate more than 1 bpm from the target; a few recordings have
    such stretches) is passed over for the next.

    Parameters
    ----------
    rates : mapping of video id to bpm, or sequence of bpm, optional
        Target rate of each video: by id, or picked from the sequence per id. Default: drawn
        per id in 55-110 bpm.
    seed : int

    Returns
    -------
    callable ``(video_id, n, fs) -> (pulse, hr_bpm)``, hr_bpm the dominant rate of the pulse
    returned, over 5 s at least (the excerpt is judged over 10 s at least: a shorter video gets
    the start of a 10 s excerpt).
    """
    folders = sorted(p for p in WELLTORY.iterdir() if (p / "PPG.csv").exists())

    def pulse(video_id: str, n: int, fs: float) -> tuple[np.ndarray, float]:
        rng = _draw(video_id, seed)
        if rates is None:
            target = float(rng.uniform(55.0, 110.0))
        elif isinstance(rates, Mapping):
            target = float(rates[video_id])
        else:
            target = float(rates[int(rng.integers(len(rates)))])
        first = int(rng.integers(len(folders)))
        m = max(n, int(10 * fs))  # a rate is only defined over several beats: judge >= 10 s
        for k in range(len(folders)):
            folder = folders[(first + k) % len(folders)]
            try:
                x = welltory_pulse(folder, target_bpm=target, n=m, fs=fs)
            except (AssertionError, ValueError):  # not a clean pulse here, or too short
                continue
            rate = dominant_rate_bpm(x, fs)
            if abs(rate - target) < 1.0:
                # the truth is the rate of the pulse the video holds (an 8 s start of a 10 s
                # excerpt at 68.4 peaks at 70.2 bpm), over 5 s at least: a rate needs several beats
                return x[:n], dominant_rate_bpm(x[:max(n, int(5 * fs))], fs)
        raise RuntimeError(f"no Welltory recording gives a clean {target:.1f} bpm pulse of {n} samples")

    return pulse


def build_mock_tree(root: str | os.PathLike, n_train_subjects: int = 1, n_test_subjects: int = 1, *,
                    per_subject: int | None = None, seconds: float = 10.0,
                    attack_seconds: float | None = None, size: tuple[int, int] = (640, 360), rates=None,
                    seed: int = 0, progress: bool = False) -> list[MockVideo]:
    """A mock SiW tree of real ids, real faces and real pulses (see the module docstring).

    Returns
    -------
    list of MockVideo (also in ``<root>/mock_truth.json``).
    """
    ids = real_ids(n_train_subjects, n_test_subjects, per_subject=per_subject)
    subjects = sorted({_codes(v)[0] for v in ids})
    return make_siw_tree(root, ids, faces=real_faces(subjects), pulse=welltory_pulse_source(rates, seed=seed),
                         seconds=seconds, attack_seconds=attack_seconds, size=size, seed=seed,
                         progress=progress)


def link_videos(tree: Path, dest: Path, names) -> Path:
    """``dest``: a tree of symbolic links to the files of ``tree`` whose names (before the first
    dot) are in ``names`` (a video and the annotation beside it), at the same relative paths."""
    for p in tree.rglob("*"):
        if p.is_file() and p.name.split(".")[0] in names:
            target = dest / p.relative_to(tree)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(p, target)
    return dest
