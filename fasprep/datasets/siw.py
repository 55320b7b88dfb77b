"""SiW (Spoof in the Wild; Liu, Jourabloo & Liu, CVPR 2018).

The release is laid out as::

    SiW_release/{Train,Test}/{live,spoof}/<subject>/<subject>-<sensor>-<type>-<medium>-<session>.mov

with a ``.face`` file of per-frame corner boxes beside each video. The type code (1 live,
2 print, 3 replay) is the label; the folder names are checked against it. The medium code is
the print (1-2) or replay (1-4) device, so an attack's finer code is ``print-<medium>`` or
``replay-<medium>``. Protocols: ``siw-p1``, ``siw-p2-1..4``, ``siw-p3-1..2`` (no dev split).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import DatasetLayoutError
from .base import (
    Dataset,
    ProtocolRow,
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

NAME = "siw"

#: SiW Protocol 1 trains on the first 60 frames of every Train video.
SIW_P1_TRAIN_FRAMES = 60

_SIW_SPLITS = ("Train", "Test")
#: Folder label -> the type codes a video in that folder may carry.
_SIW_FOLDER_TYPES = {"live": frozenset({1}), "spoof": frozenset({2, 3})}
#: SiW type code -> label.
SIW_TYPE_LABELS = {1: "live", 2: "print", 3: "replay"}
#: Video extensions (matched case-insensitively), in order of preference for a duplicate stem.
_VIDEO_EXTS = (".mov", ".mp4")
_FACE_EXT = ".face"
_SIW_NAME = re.compile(r"(\d+)-(\d+)-(\d+)-(\d+)-(\d+)(\.m)?")
_CODE_NAMES = ("subject", "sensor", "type", "medium", "session")


def parse_siw_name(stem: str) -> dict[str, int]:
    """The codes of a SiW video name: ``<subject>-<sensor>-<type>-<medium>-<session>``.

    A few real Test names end in ``.m`` (``153-2-1-1-1.m``, file ``153-2-1-1-1.m.mov``); the
    codes are the part before that suffix.

    Parameters
    ----------
    stem : str
        File name without the video extension.

    Returns
    -------
    dict
        ``subject, sensor, type, medium, session`` as ints; type 1 live, 2 print, 3 replay.

    Raises
    ------
    DatasetLayoutError
        The name is not of that form, or its type code is not 1, 2 or 3.

    Examples
    --------
    >>> parse_siw_name("003-1-2-1-1")
    {'subject': 3, 'sensor': 1, 'type': 2, 'medium': 1, 'session': 1}
    >>> parse_siw_name("153-2-1-1-1.m")["subject"]
    153
    """
    m = _SIW_NAME.fullmatch(stem)
    if m is None:
        hint = " (SiW names use hyphens, not underscores)" if "_" in stem else ""
        raise DatasetLayoutError(
            f"{stem!r} is not a SiW video name: expected "
            f"<subject>-<sensor>-<type>-<medium>-<session> (e.g. 003-1-2-1-1, or 153-2-1-1-1.m){hint}")
    codes = dict(zip(_CODE_NAMES, map(int, m.groups()[:5])))
    if codes["type"] not in SIW_TYPE_LABELS:
        raise DatasetLayoutError(
            f"{stem!r}: type code {codes['type']} is not 1 (live), 2 (print) or 3 (replay)")
    return codes


def label_of(codes: Mapping[str, int | str]) -> tuple[str, str]:
    """(label, attack) of SiW codes: the type code decides; an attack's medium refines it."""
    label = SIW_TYPE_LABELS[int(codes["type"])]
    return label, label if label == "live" else f"{label}-{int(codes['medium'])}"


def video_name(codes: Mapping[str, int | str]) -> str:
    """``{Train,Test}/{live,spoof}/<subject>/<subject>-<sensor>-<type>-<medium>-<session>.mov``
    from codes ``split, subject, sensor, type, medium, session`` (subject zero-padded to 3), and
    an optional ``suffix`` after the stem (``".m"``, as a few real Test names have)."""
    s = f"{int(codes['subject']):03d}"
    folder = "live" if int(codes["type"]) == 1 else "spoof"
    stem = f"{s}-{int(codes['sensor'])}-{int(codes['type'])}-{int(codes['medium'])}-{int(codes['session'])}"
    return f"{codes['split']}/{folder}/{s}/{stem}{codes.get('suffix', '')}.mov"


def _siw_base(root: str | os.PathLike) -> Path:
    """The folder holding ``Train/`` and ``Test/``: ``root`` itself or its ``SiW_release/``."""
    expected = "a folder holding Train/ and Test/ (or SiW_release/ with them)"
    root = check_root(root, "SiW", expected)
    for base in (root, root / "SiW_release"):
        if any((base / split).is_dir() for split in _SIW_SPLITS):
            return base
    raise DatasetLayoutError(f"{root}: not a SiW tree: expected {expected}; found {describe_folder(root)}")


def scan_siw(root: str | os.PathLike) -> Scan:
    """List the SiW videos under ``root`` by name (nothing is opened or decoded).

    Expected layout: ``root/{Train,Test}/{live,spoof}/<subject>/<stem>.{mov,mp4}`` (extension
    in any case), with ``<stem>.face`` beside each video where the release has one. ``root``
    may also be the folder that contains ``SiW_release/``. Folder names are matched exactly.

    Inconsistencies are resolved by the file name and reported in ``Scan.warnings``: the type
    code decides the label (it is what the release's own lists and protocols key on) and the
    name's subject code decides the subject, whatever folder the file sits in; the video id is
    still its real relative path. A stem present as both ``.mov`` and ``.mp4`` keeps the
    ``.mov``. Files elsewhere in the tree, and video or face files whose names are not SiW
    names, go to ``Scan.unknown``.

    Raises
    ------
    DatasetLayoutError
        ``root`` does not exist, or holds neither ``Train/`` nor ``Test/`` (directly or in
        ``SiW_release/``).
    """
    base = _siw_base(root)
    videos: dict[tuple[str, ...], list[tuple[str, str]]] = {}  # (split, folder, subj, stem) -> [(ext, name)]
    faces: dict[tuple[str, ...], str] = {}
    unknown: list[str] = []
    for parts in walk_files(base):
        stem, ext = split_ext(parts[-1])
        placed = (len(parts) == 4 and parts[0] in _SIW_SPLITS and parts[1] in _SIW_FOLDER_TYPES
                  and _SIW_NAME.fullmatch(stem) is not None)
        if placed and ext in _VIDEO_EXTS:
            videos.setdefault((*parts[:3], stem), []).append((ext, parts[-1]))
        elif placed and ext == _FACE_EXT:
            faces[(*parts[:3], stem)] = parts[-1]
        else:
            unknown.append("/".join(parts))

    records: list[VideoRecord] = []
    notes: list[str] = []
    for key, files in videos.items():
        split, folder, subject_dir, stem = key
        files.sort(key=lambda f: (_VIDEO_EXTS.index(f[0]), f[1]))
        video_id = "/".join(key)
        if len(files) > 1:
            notes.append(f"{video_id}: {len(files)} video files ({', '.join(f[1] for f in files)}); "
                         f"using {files[0][1]}")
        try:
            codes = parse_siw_name(stem)
        except DatasetLayoutError as exc:  # type code out of range: not a SiW video
            unknown.extend(f"{'/'.join(key[:3])}/{name}" for _, name in files)
            notes.append(f"{video_id}: skipped: {exc}")
            continue
        label, attack = label_of(codes)
        if codes["type"] not in _SIW_FOLDER_TYPES[folder]:
            notes.append(f"{video_id}: type code {codes['type']} ({label}) in a '{folder}' folder; "
                         f"labelled {label} by the type code")
        if not (subject_dir.isdigit() and int(subject_dir) == codes["subject"]):
            notes.append(f"{video_id}: subject {codes['subject']} in the name but folder "
                         f"'{subject_dir}'; subject {codes['subject']} by the name")
        face = faces.pop(key, None)
        subject = codes.pop("subject")
        records.append(VideoRecord(
            video_id=video_id, path=base.joinpath(*key[:3], files[0][1]), split=split, label=label,
            subject=subject, attack=attack, codes=codes, dataset=NAME,
            face_path=None if face is None else base.joinpath(*key[:3], face)))
    notes.extend(f"{'/'.join(key[:3])}/{name}: face file without a video" for key, name in faces.items())
    records.sort(key=lambda r: r.video_id)
    return Scan(root=base, records=records, unknown=sorted(unknown), warnings=sorted(notes))


def read_face_boxes(path: str | os.PathLike, *, n_frames: int | None = None) -> np.ndarray:
    """Per-frame face boxes of a SiW ``.face`` file.

    One line per frame, ``x1 y1 x2 y2`` in source pixels, whitespace separated; ``0 0 0 0``
    means no face. The boxes are known to be poor: use them as a prior only.

    Parameters
    ----------
    path : str or os.PathLike
    n_frames : int >= 0, optional
        Frames the video really has. When the file has another number of rows, a
        ``UserWarning`` names the file and both counts, and the rows are padded with NaN or
        truncated to ``n_frames``.

    Returns
    -------
    np.ndarray, shape (N, 4), float32, pixels
        ``x1, y1, x2, y2`` per frame, all NaN where there is no face. ``N`` is ``n_frames``
        when given, else the number of lines.

    Raises
    ------
    InputError
        The file is missing or unreadable, or a line is not four finite numbers
        (``"<path>: line K: ..."``, K from 1).
    """
    lines = annotation_lines(path)
    boxes = np.full((len(lines), 4), np.nan, dtype=np.float32)
    for k, line in enumerate(lines, start=1):
        values = finite_values(path, k, line, 4, None, "x1 y1 x2 y2")
        if any(values):
            boxes[k - 1] = values
    return fit_rows(boxes, n_frames, path)


def count_face_rows(path: str | os.PathLike) -> int:
    """Number of rows (frames) :func:`read_face_boxes` would return, without parsing them.

    Raises
    ------
    InputError
        The file is missing or unreadable.
    """
    return len(annotation_lines(path))


def siw_protocols(records: Sequence[VideoRecord]) -> Protocols:
    """The SiW evaluation protocols (Liu, Jourabloo & Liu, CVPR 2018) over scanned records.

    - ``siw-p1``: train = every Train video, first 60 frames; test = every Test video.
    - ``siw-p2-k`` (k = 1..4, leave one replay medium out): train = Train live + Train replay
      with medium != k; test = Test live + Test replay with medium == k; prints excluded. The
      medium condition applies to replays only: a live video's medium code is not a replay
      device, so every live video is on both sides' lists.
    - ``siw-p3-1`` (print -> replay): train = Train live + Train print; test = Test live + Test
      replay. ``siw-p3-2`` (replay -> print): train = Train live + Train replay; test = Test
      live + Test print.

    SiW has no dev split. Train and Test subjects are disjoint in the release, so no protocol
    shares a subject between its sides.

    Returns
    -------
    dict
        protocol name -> ``{"train": rows, "test": rows}``, rows sorted by ``video_id``;
        ``max_frames`` is 60 for P1 train, None (all frames) elsewhere.
    """
    train = [r for r in records if r.split == "Train"]
    test = [r for r in records if r.split == "Test"]

    def pick(rs: list[VideoRecord], labels: set[str], keep_replay=lambda m: True) -> list[ProtocolRow]:
        return protocol_rows(r for r in rs
                             if r.label in labels and (r.label != "replay" or keep_replay(r.codes["medium"])))

    out = {"siw-p1": {"train": protocol_rows(train, SIW_P1_TRAIN_FRAMES), "test": protocol_rows(test)}}
    for k in (1, 2, 3, 4):
        out[f"siw-p2-{k}"] = {"train": pick(train, {"live", "replay"}, lambda m, k=k: m != k),
                              "test": pick(test, {"live", "replay"}, lambda m, k=k: m == k)}
    out["siw-p3-1"] = {"train": pick(train, {"live", "print"}), "test": pick(test, {"live", "replay"})}
    out["siw-p3-2"] = {"train": pick(train, {"live", "replay"}), "test": pick(test, {"live", "print"})}
    return out


def _face_prior(record: VideoRecord, n_frames: int | None) -> np.ndarray | None:
    return None if record.face_path is None else read_face_boxes(record.face_path, n_frames=n_frames)


def _count_frames(record: VideoRecord) -> int | None:
    return None if record.face_path is None else count_face_rows(record.face_path)


DATASET = Dataset(name=NAME, title="SiW (Spoof in the Wild)", scan=scan_siw, protocols=siw_protocols,
                  face_prior=_face_prior, count_frames=_count_frames, video_name=video_name, label_of=label_of,
                  prior_format="corner-boxes")

