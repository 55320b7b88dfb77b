"""OULU-NPU (Boulkenafet et al., FG 2017): 4,950 videos of 55 subjects, 6 phones, 3 sessions.

The release (Boulkenafet et al. 2017; the dataset's own README and Protocols/ folder) is laid out as::

    <root>/{Train,Dev,Test}_files/<phone>_<session>_<user>_<file>.avi   (+ <stem>.txt beside each)
    <root>/Protocols/Protocol_{1,2}/{Train,Dev,Test}.txt, Protocol_{3,4}/{Train,Dev,Test}_<k>.txt

Phone 1-6, session 1-3, user 01-55 (zero-padded), file (presentation-attack code) 1 real,
2 print 1, 3 print 2, 4 display (replay) 1, 5 display 2. The ``.txt`` beside a video has one
line per frame, ``frame,x_right_eye,y_right_eye,x_left_eye,y_left_eye`` (the subject's right
eye first: image-left for an upright face); OULU ships no face boxes, so the face prior is a
box derived from the eyes (:func:`box_from_eyes`). Frames may decode in portrait: the eye
coordinates are taken to be in the frame as displayed, which the decoder produces from the
container's rotation.

Protocols, derived from the official definitions (fold k leaves phone k out for test):

- ``oulu-p1``: sessions 1-2 for train and dev, session 3 for test.
- ``oulu-p2``: attack codes 1, 2, 4 (print 1, display 1) for train and dev, 1, 3, 5 for test.
- ``oulu-p3-k``: phones other than k for train and dev, phone k for test.
- ``oulu-p4-k``: P1, P2 and P3 at once.

When the release's own ``Protocols/`` folder is there, the scan reads it and reports every
disagreement with the derived lists as a warning.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import DatasetLayoutError, InputError
from .base import (
    Dataset,
    Protocols,
    Scan,
    VideoRecord,
    annotation_lines,
    check_root,
    describe_folder,
    finite_values,
    fit_rows,
    protocol_rows,
    split_ext,
    walk_files,
)

NAME = "oulu-npu"
SPLITS = ("Train", "Dev", "Test")
#: File (presentation attack) code -> (label, attack).
FILE_CODES = {1: ("live", "live"), 2: ("print", "print-1"), 3: ("print", "print-2"),
              4: ("replay", "replay-1"), 5: ("replay", "replay-2")}
PHONES = (1, 2, 3, 4, 5, 6)
#: Users of each split in the release (the same in every protocol).
SPLIT_USERS = {"Train": range(1, 21), "Dev": range(21, 36), "Test": range(36, 56)}
_NAME = re.compile(r"([1-6])_([1-3])_(\d\d)_([1-5])")
_VIDEO_EXTS = (".avi", ".mp4", ".mov")
_EYES_EXT = ".txt"
_PROTOCOL_LINE = re.compile(r"([+-])\d+,(\d_\d_\d\d_\d)")
#: Face box from the eyes, in inter-ocular distances d (measured on MediaPipe's face mesh of
#: real photos: the mesh spans 2.1-2.5 d across and 2.5-3.0 d down, its centre 0.4-0.5 d below
#: the eyes), loosened a little so the whole face is inside.
EYE_BOX_WIDTH, EYE_BOX_HEIGHT, EYE_BOX_DROP = 2.6, 3.0, 0.45


def parse_oulu_name(stem: str) -> dict[str, int]:
    """The codes of an OULU-NPU video name ``<phone>_<session>_<user>_<file>``.

    Returns
    -------
    dict
        ``phone, session, user, file`` as ints.

    Raises
    ------
    DatasetLayoutError
        Not such a name (phone 1-6, session 1-3, two-digit user, file 1-5).

    Examples
    --------
    >>> parse_oulu_name("1_3_36_4")
    {'phone': 1, 'session': 3, 'user': 36, 'file': 4}
    """
    m = _NAME.fullmatch(stem)
    if m is None:
        raise DatasetLayoutError(f"{stem!r} is not an OULU-NPU video name: expected "
                                 f"<phone 1-6>_<session 1-3>_<user 01-55>_<file 1-5> (e.g. 1_1_01_1)")
    return dict(zip(("phone", "session", "user", "file"), map(int, m.groups())))


def label_of(codes: Mapping[str, int | str]) -> tuple[str, str]:
    """(label, attack) from the file code: 1 live, 2-3 print 1-2, 4-5 replay (display) 1-2."""
    return FILE_CODES[int(codes["file"])]


def video_name(codes: Mapping[str, int | str]) -> str:
    """``<Split>_files/<phone>_<session>_<user>_<file>.avi`` from codes ``split, phone, session,
    user, file``."""
    return (f"{codes['split']}_files/{int(codes['phone'])}_{int(codes['session'])}_{int(codes['user']):02d}_"
            f"{int(codes['file'])}.avi")


def _base(root: str | os.PathLike) -> Path:
    expected = "a folder holding Train_files/, Dev_files/ and Test_files/"
    root = check_root(root, "OULU-NPU", expected)
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    for base in candidates:
        if any((base / f"{s}_files").is_dir() for s in SPLITS):
            return base
    raise DatasetLayoutError(f"{root}: not an OULU-NPU tree: expected {expected}; found {describe_folder(root)}")


def scan_oulu(root: str | os.PathLike) -> Scan:
    """List the OULU-NPU videos under ``root`` by name (nothing is decoded).

    ``root`` holds ``Train_files/``, ``Dev_files/``, ``Test_files/`` (or is the folder above
    the one that does). A video whose user is not in its split's range (train 1-20, dev 21-35,
    test 36-55) is kept, with a warning. When ``root/Protocols/`` exists its list files are
    compared with the derived protocols (:func:`oulu_protocols`) and every difference is a
    warning.

    Raises
    ------
    DatasetLayoutError
        ``root`` is missing or holds none of the split folders.
    """
    base = _base(root)
    videos: dict[tuple[str, str], list[str]] = {}
    eyes: dict[tuple[str, str], str] = {}
    unknown: list[str] = []
    for split in SPLITS:
        folder = base / f"{split}_files"
        if not folder.is_dir():
            continue
        for parts in walk_files(folder):
            stem, ext = split_ext(parts[-1])
            placed = len(parts) == 1 and _NAME.fullmatch(stem) is not None
            if placed and ext in _VIDEO_EXTS:
                videos.setdefault((split, stem), []).append(parts[-1])
            elif placed and ext == _EYES_EXT:
                eyes[(split, stem)] = parts[-1]
            else:
                unknown.append("/".join((f"{split}_files", *parts)))
    for entry in sorted(base.iterdir()):
        if entry.name in {f"{s}_files" for s in SPLITS} | {"Protocols"}:
            continue
        unknown += (["/".join((entry.name, *parts)) for parts in walk_files(entry)] if entry.is_dir()
                    else [entry.name])
    records, notes = [], []
    for (split, stem), files in videos.items():
        video_id = f"{split}_files/{stem}"
        files.sort(key=lambda f: (_VIDEO_EXTS.index(split_ext(f)[1]), f))
        if len(files) > 1:
            notes.append(f"{video_id}: {len(files)} video files ({', '.join(files)}); using {files[0]}")
        codes = parse_oulu_name(stem)
        label, attack = label_of(codes)
        if codes["user"] not in SPLIT_USERS[split]:
            notes.append(f"{video_id}: user {codes['user']} is not a {split} user of the release "
                         f"({SPLIT_USERS[split].start}-{SPLIT_USERS[split].stop - 1})")
        eye = eyes.pop((split, stem), None)
        folder = base / f"{split}_files"
        records.append(VideoRecord(video_id=video_id, path=folder / files[0], split=split, label=label,
                                   subject=codes["user"], attack=attack, codes=codes, dataset=NAME,
                                   face_path=None if eye is None else folder / eye))
    notes.extend(f"{s}_files/{name}: eye-position file without a video" for (s, _), name in eyes.items())
    records.sort(key=lambda r: r.video_id)
    if (base / "Protocols").is_dir():
        notes += compare_official(base / "Protocols", oulu_protocols(records))
    return Scan(root=base, records=records, unknown=sorted(unknown), warnings=sorted(notes))


def oulu_protocols(records: Sequence[VideoRecord]) -> Protocols:
    """The four OULU-NPU protocols over scanned records, derived from the official definitions.

    ============ ==================================== =====================================
    protocol     train and dev (Train, Dev videos)    test (Test videos)
    ============ ==================================== =====================================
    oulu-p1      sessions 1, 2                        session 3
    oulu-p2      files 1, 2, 4                        files 1, 3, 5
    oulu-p3-k    phones other than k                  phone k
    oulu-p4-k    sessions 1, 2; files 1, 2, 4;        session 3; files 1, 3, 5; phone k
                 phones other than k
    ============ ==================================== =====================================

    Returns
    -------
    dict
        ``oulu-p1``, ``oulu-p2``, ``oulu-p3-1`` .. ``oulu-p3-6``, ``oulu-p4-1`` .. ``oulu-p4-6``
        -> ``{"train", "dev", "test"}`` rows, sorted by ``video_id``, all frames. On the full
        release: P1 1200/900/600, P2 1080/810/1080, P3 1500/1125/300, P4 600/450/60.
    """
    by_split = {s: [r for r in records if r.split == s] for s in SPLITS}

    def sides(train_dev, test) -> dict:
        return {"train": protocol_rows(r for r in by_split["Train"] if train_dev(r.codes)),
                "dev": protocol_rows(r for r in by_split["Dev"] if train_dev(r.codes)),
                "test": protocol_rows(r for r in by_split["Test"] if test(r.codes))}

    out = {"oulu-p1": sides(lambda c: c["session"] in (1, 2), lambda c: c["session"] == 3),
           "oulu-p2": sides(lambda c: c["file"] in (1, 2, 4), lambda c: c["file"] in (1, 3, 5))}
    for k in PHONES:
        out[f"oulu-p3-{k}"] = sides(lambda c, k=k: c["phone"] != k, lambda c, k=k: c["phone"] == k)
    for k in PHONES:
        out[f"oulu-p4-{k}"] = sides(
            lambda c, k=k: c["phone"] != k and c["session"] in (1, 2) and c["file"] in (1, 2, 4),
            lambda c, k=k: c["phone"] == k and c["session"] == 3 and c["file"] in (1, 3, 5))
    return out


def official_lists(protocols_dir: str | os.PathLike) -> dict[str, dict[str, list[str]]]:
    """The release's own protocol lists, as ``oulu-pN[-k]`` -> split -> video ids.

    Lines are ``<sign><digits>,<stem>`` (``+1,1_1_01_1``; ``-1``/``-2`` attacks): only the stem
    is used (labels come from the file code). Missing files are skipped.

    Raises
    ------
    InputError
        A line that is not of that form (names the file and line).
    """
    folder = Path(protocols_dir)
    found: dict[str, dict[str, list[str]]] = {}
    for n in (1, 2, 3, 4):
        for k in ((None,) if n <= 2 else PHONES):
            name = f"oulu-p{n}" if k is None else f"oulu-p{n}-{k}"
            for split in SPLITS:
                path = folder / f"Protocol_{n}" / (f"{split}.txt" if k is None else f"{split}_{k}.txt")
                if not path.is_file():
                    continue
                ids = []
                for i, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
                    if not line.strip():
                        continue
                    m = _PROTOCOL_LINE.fullmatch(line.strip())
                    if m is None:
                        raise InputError(path, f"line {i}: expected '<+|->N,<phone>_<session>_<user>_<file>', "
                                               f"got {line.strip()[:60]!r}")
                    ids.append(f"{split}_files/{m.group(2)}")
                found.setdefault(name, {})[split.lower()] = sorted(ids)
    return found


def compare_official(protocols_dir: str | os.PathLike, derived: Protocols) -> list[str]:
    """Differences between the release's protocol lists and ``derived``, as warnings.

    Only the videos present in the scanned tree are compared (a partial copy of the release
    is not a disagreement); the derived lists are what the build writes.
    """
    try:
        official = official_lists(protocols_dir)
    except InputError as exc:
        return [f"official protocol lists not compared: {exc}"]
    present = {r.video_id for sp in derived.values() for rows in sp.values() for r in rows}
    notes = []
    for name, splits in official.items():
        for split, ids in splits.items():
            ours = {r.video_id for r in derived.get(name, {}).get(split, [])}
            theirs = {v for v in ids if v in present}
            extra, missing = sorted(ours - theirs), sorted(theirs - ours)
            if extra or missing:
                notes.append(f"{name}/{split}: the release's Protocols/ list differs from the derived one: "
                             f"{len(missing)} only in the release's (e.g. {missing[:1]}), "
                             f"{len(extra)} only in the derived (e.g. {extra[:1]}); the derived list is written")
    return notes


def read_eye_positions(path: str | os.PathLike, *, n_frames: int | None = None) -> np.ndarray:
    """Per-frame eye centres of an OULU-NPU ``.txt`` file.

    Lines are ``frame,x_right_eye,y_right_eye,x_left_eye,y_left_eye`` (integers, pixels of the
    displayed frame). Rows are placed by their frame number, not by line order: numbers from
    0 when a 0 appears, else from 1; frames without a line (and lines of zeros) are NaN.

    Parameters
    ----------
    path : str or os.PathLike
    n_frames : int >= 0, optional
        Frames the video really has: rows are padded with NaN or truncated to it, with a
        ``UserWarning`` when the file's last frame differs.

    Returns
    -------
    np.ndarray, shape (N, 2, 2), float32
        ``[[x_right, y_right], [x_left, y_left]]`` per frame.

    Raises
    ------
    InputError
        Missing or unreadable file, a line that is not five finite numbers, a negative or
        repeated frame number (names the file and line).
    """
    lines = annotation_lines(path)
    values = np.array([finite_values(path, k, line, 5, b",", "frame,xr,yr,xl,yl")
                       for k, line in enumerate(lines, start=1)], dtype=np.float64).reshape(-1, 5)
    frames = values[:, 0]
    if len(frames) and (frames.min() < 0 or np.any(frames != np.round(frames))):
        k = int(np.argmax((frames < 0) | (frames != np.round(frames)))) + 1
        raise InputError(path, f"line {k}: frame number {frames[k - 1]:g} is not a non-negative integer")
    index = frames.astype(np.int64) - (0 if (len(frames) == 0 or frames.min() == 0) else 1)
    seen, counts = np.unique(index, return_counts=True)
    if np.any(counts > 1):
        k = int(np.flatnonzero(index == seen[counts > 1][0])[1]) + 1
        raise InputError(path, f"line {k}: frame {int(frames[k - 1])} appears twice")
    eyes = np.full((int(index.max()) + 1 if len(index) else 0, 2, 2), np.nan, np.float32)
    given = np.any(values[:, 1:] != 0, axis=1)
    eyes[index[given]] = values[given, 1:].reshape(-1, 2, 2)
    return fit_rows(eyes, n_frames, path)


def box_from_eyes(eyes: np.ndarray) -> np.ndarray:
    """Face boxes from eye centres, following the eyes' roll.

    The face is taken as a rectangle :data:`EYE_BOX_WIDTH` by :data:`EYE_BOX_HEIGHT`
    inter-ocular distances, centred :data:`EYE_BOX_DROP` distances below the eyes' midpoint
    (perpendicular to the line through the eyes); the box is its axis-aligned bounding box.

    Parameters
    ----------
    eyes : np.ndarray, shape (N, 2, 2), float
        ``[[x_right, y_right], [x_left, y_left]]`` per frame (the subject's right eye first:
        image-left on an upright face), pixels; NaN where there are none.

    Returns
    -------
    np.ndarray, shape (N, 4), float32
        ``x1, y1, x2, y2``, pixels; NaN rows where the eyes are NaN or coincide.
    """
    eyes = np.asarray(eyes, np.float64).reshape(-1, 2, 2)
    across = eyes[:, 1] - eyes[:, 0]  # subject's right eye -> left eye: image rightwards when upright
    d = np.linalg.norm(across, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = across / d[:, None]
    down = np.c_[-u[:, 1], u[:, 0]]  # perpendicular, towards the mouth
    centre = eyes.mean(axis=1) + EYE_BOX_DROP * d[:, None] * down
    half_w, half_h = EYE_BOX_WIDTH * d / 2, EYE_BOX_HEIGHT * d / 2
    ext_x = np.abs(u[:, 0]) * half_w + np.abs(down[:, 0]) * half_h
    ext_y = np.abs(u[:, 1]) * half_w + np.abs(down[:, 1]) * half_h
    boxes = np.c_[centre[:, 0] - ext_x, centre[:, 1] - ext_y, centre[:, 0] + ext_x, centre[:, 1] + ext_y]
    boxes[~(d > 0)] = np.nan
    return boxes.astype(np.float32)


def _face_prior(record: VideoRecord, n_frames: int | None) -> np.ndarray | None:
    if record.face_path is None:
        return None
    return box_from_eyes(read_eye_positions(record.face_path, n_frames=n_frames))


def _count_frames(record: VideoRecord) -> int | None:
    return None if record.face_path is None else len(annotation_lines(record.face_path))


DATASET = Dataset(name=NAME, title="OULU-NPU", scan=scan_oulu, protocols=oulu_protocols, face_prior=_face_prior,
                  count_frames=_count_frames, video_name=video_name, label_of=label_of, prior_format="eye-centres",
                  subject_code="user")
