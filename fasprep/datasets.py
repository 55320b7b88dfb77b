"""Dataset adapters: find a dataset's videos by name, its labels, and its protocol splits.

An adapter is two small functions registered in :data:`DATASETS`: ``scan(root) -> Scan``
lists the videos (names only: nothing is opened or decoded, so a dry run over the whole
dataset takes well under a second) and ``protocols(records)`` turns the records into the
train/test lists that ``OUT/protocols/<protocol>/<split>.csv`` holds (see docs/format.md,
and the SiW adapter below).

SiW (Spoof in the Wild; Liu, Jourabloo & Liu, CVPR 2018) is laid out as::

    SiW_release/{Train,Test}/{live,spoof}/<subject>/<subject>-<sensor>-<type>-<medium>-<session>.mov

with a ``.face`` file of per-frame boxes beside each video. The type code (1 live, 2 print,
3 replay) is the label; the folder names are checked against it.
"""

from __future__ import annotations

import csv
import math
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .errors import DatasetLayoutError, InputError
from .io import atomic_path

#: Labels of every dataset, in this order (``label`` column of the protocol files).
LABELS = ("live", "print", "replay")

#: Protocol-file header, exactly (DESIGN.md, "Output contract").
PROTOCOL_HEADER = ("video_id", "label", "max_frames")

#: SiW Protocol 1 trains on the first 60 frames of every Train video.
SIW_P1_TRAIN_FRAMES = 60

#: Frames assumed per SiW video when no ``.face`` file tells (about 15 s at 30 fps).
SIW_NOMINAL_FRAMES = 450

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
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class VideoRecord:
    """One source video of a dataset and its codes.

    Attributes
    ----------
    video_id : str
        Path of the video relative to the raw root, without extension, ``/`` separators
        (``"Train/live/003/003-1-1-1-1"``). The key of the video everywhere in the output.
    path : Path
        The video file.
    split : str
        The dataset's own split folder (SiW: ``"Train"`` or ``"Test"``).
    label : str
        One of :data:`LABELS`, from the type code.
    subject, sensor, type, medium, session : int
        The dataset's codes, as in the file name (SiW type: 1 live, 2 print, 3 replay).
    face_path : Path or None
        The dataset's per-frame face boxes beside the video (same stem), None when absent.
    """

    video_id: str
    path: Path
    split: str
    label: str
    subject: int
    sensor: int
    type: int
    medium: int
    session: int
    face_path: Path | None = None

    @property
    def attrs(self) -> dict[str, str | int]:
        """The dataset codes a shard stores as group attrs: label, subject, sensor, medium, session."""
        return {"label": self.label, "subject": self.subject, "sensor": self.sensor,
                "medium": self.medium, "session": self.session}


@dataclass
class Scan:
    """What a dataset scan found.

    Attributes
    ----------
    root : Path
        The folder the video ids are relative to (``SiW_release/`` when the user named its
        parent).
    records : list of VideoRecord
        Sorted by ``video_id``.
    unknown : list of str
        Files (relative paths, ``/`` separators) that are not the dataset's videos or face
        files, sorted. Reported, never fatal.
    warnings : list of str
        Inconsistencies the scan resolved, each saying how (e.g. a folder label that disagrees
        with the type code, a ``.face`` file without a video).
    """

    root: Path
    records: list[VideoRecord]
    unknown: list[str]
    warnings: list[str]


@dataclass(frozen=True)
class ProtocolRow:
    """One line of a protocol file: which video, its label, and how many of its first frames
    to use (``None`` = all)."""

    video_id: str
    label: str
    max_frames: int | None = None


# --------------------------------------------------------------------------------------------
# SiW names and tree


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


def _siw_base(root: str | os.PathLike) -> Path:
    """The folder holding ``Train/`` and ``Test/``: ``root`` itself or its ``SiW_release/``."""
    root = Path(root)
    expected = "a folder holding Train/ and Test/ (or SiW_release/ with them)"
    if not root.exists():
        raise DatasetLayoutError(f"{root}: SiW root not found: expected {expected}")
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: SiW root is a file: expected {expected}")
    for base in (root, root / "SiW_release"):
        if any((base / split).is_dir() for split in _SIW_SPLITS):
            return base
    found = sorted(os.listdir(root))
    shown = ", ".join(found[:8]) + (f", ... ({len(found)} entries)" if len(found) > 8 else "")
    raise DatasetLayoutError(
        f"{root}: not a SiW tree: expected {expected}; found {shown or 'an empty folder'}")


def _walk_files(base: Path) -> Iterator[tuple[str, ...]]:
    """Relative path parts of every file under ``base``, by ``os.scandir`` (no stat calls on
    most file systems), in sorted order."""
    stack: list[tuple[str, ...]] = [()]
    while stack:
        parts = stack.pop()
        with os.scandir(base.joinpath(*parts)) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            if entry.is_dir():
                subdirs.append(parts + (entry.name,))
            else:
                yield parts + (entry.name,)
        stack.extend(reversed(subdirs))


def _split_ext(name: str) -> tuple[str, str]:
    """``("153-2-1-1-1.m", ".mov")`` for ``153-2-1-1-1.m.MOV``: only the last suffix, lower-cased."""
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext.lower()}") if dot and stem else (name, "")


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

    Parameters
    ----------
    root : str or os.PathLike
        ``SiW_release/`` or its parent.

    Returns
    -------
    Scan

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
    for parts in _walk_files(base):
        stem, ext = _split_ext(parts[-1])
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
        label = SIW_TYPE_LABELS[codes["type"]]
        if codes["type"] not in _SIW_FOLDER_TYPES[folder]:
            notes.append(f"{video_id}: type code {codes['type']} ({label}) in a '{folder}' folder; "
                         f"labelled {label} by the type code")
        if not (subject_dir.isdigit() and int(subject_dir) == codes["subject"]):
            notes.append(f"{video_id}: subject {codes['subject']} in the name but folder "
                         f"'{subject_dir}'; subject {codes['subject']} by the name")
        face = faces.pop(key, None)
        records.append(VideoRecord(
            video_id=video_id, path=base.joinpath(*key[:3], files[0][1]), split=split,
            label=label, face_path=None if face is None else base.joinpath(*key[:3], face),
            **codes))
    notes.extend(f"{'/'.join(key[:3])}/{name}: face file without a video" for key, name in faces.items())
    records.sort(key=lambda r: r.video_id)
    return Scan(root=base, records=records, unknown=sorted(unknown), warnings=sorted(notes))


# --------------------------------------------------------------------------------------------
# Face boxes


def _face_lines(path: str | os.PathLike) -> list[bytes]:
    """The lines of a face file, trailing blank lines dropped."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a face file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    data = data.rstrip()
    return data.splitlines() if data else []


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
    lines = _face_lines(path)
    boxes = np.full((len(lines), 4), np.nan, dtype=np.float32)
    for k, line in enumerate(lines, start=1):
        fields = line.split()
        text = line.decode(errors="replace").strip()
        if len(fields) != 4:
            what = "empty line" if not fields else f"{len(fields)} fields {text[:60]!r}"
            raise InputError(path, f"line {k}: expected 4 numbers 'x1 y1 x2 y2', got {what}")
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise InputError(path, f"line {k}: not numbers: {text[:60]!r}") from None
        if not all(map(math.isfinite, values)):
            raise InputError(path, f"line {k}: non-finite value in {text[:60]!r}")
        if any(values):
            boxes[k - 1] = values
    if n_frames is not None and n_frames != len(boxes):
        if n_frames < 0:
            raise InputError("n_frames", f"must be >= 0, got {n_frames}")
        how = "padding with NaN rows" if n_frames > len(boxes) else "truncating"
        warnings.warn(f"{path}: {len(boxes)} face rows for {n_frames} video frames; {how}",
                      UserWarning, stacklevel=2)
        fitted = np.full((n_frames, 4), np.nan, dtype=np.float32)
        fitted[:min(n_frames, len(boxes))] = boxes[:n_frames]
        boxes = fitted
    return boxes


def count_face_rows(path: str | os.PathLike) -> int:
    """Number of rows (frames) :func:`read_face_boxes` would return, without parsing them.

    Raises
    ------
    InputError
        The file is missing or unreadable.
    """
    return len(_face_lines(path))


# --------------------------------------------------------------------------------------------
# Protocols


def _rows(records: Iterable[VideoRecord], max_frames: int | None = None) -> list[ProtocolRow]:
    return [ProtocolRow(r.video_id, r.label, max_frames) for r in records]


def siw_protocols(records: Sequence[VideoRecord]) -> dict[str, dict[str, list[ProtocolRow]]]:
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

    Parameters
    ----------
    records : sequence of VideoRecord
        From :func:`scan_siw`; ``split`` is ``"Train"`` or ``"Test"``.

    Returns
    -------
    dict
        protocol name -> ``{"train": rows, "test": rows}``, rows sorted by ``video_id``;
        ``max_frames`` is 60 for P1 train, None (all frames) elsewhere.
    """
    ordered = sorted(records, key=lambda r: r.video_id)
    train = [r for r in ordered if r.split == "Train"]
    test = [r for r in ordered if r.split == "Test"]

    def pick(rs: list[VideoRecord], labels: set[str], keep_replay=lambda m: True) -> list[ProtocolRow]:
        return _rows(r for r in rs
                     if r.label in labels and (r.label != "replay" or keep_replay(r.medium)))

    out = {"siw-p1": {"train": _rows(train, SIW_P1_TRAIN_FRAMES), "test": _rows(test)}}
    for k in (1, 2, 3, 4):
        out[f"siw-p2-{k}"] = {"train": pick(train, {"live", "replay"}, lambda m, k=k: m != k),
                              "test": pick(test, {"live", "replay"}, lambda m, k=k: m == k)}
    out["siw-p3-1"] = {"train": pick(train, {"live", "print"}), "test": pick(test, {"live", "replay"})}
    out["siw-p3-2"] = {"train": pick(train, {"live", "replay"}), "test": pick(test, {"live", "print"})}
    return out


def _protocol_path(out_dir: str | os.PathLike, protocol: str, split: str) -> Path:
    for what, name in (("protocol", protocol), ("split", split)):
        if not _SAFE_NAME.fullmatch(name):
            raise InputError(what, f"{name!r} is not a plain name (letters, digits, '.', '_', '-')")
    return Path(out_dir) / "protocols" / protocol / f"{split}.csv"


def write_protocols(out_dir: str | os.PathLike,
                    protocols: Mapping[str, Mapping[str, Sequence[ProtocolRow]]]) -> list[Path]:
    """Write ``out_dir/protocols/<protocol>/<split>.csv`` for every protocol and split, atomically.

    Each file has the header ``video_id,label,max_frames`` and one row per video; an empty
    ``max_frames`` means all frames.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The build's output folder (``OUT``).
    protocols : mapping
        As :func:`siw_protocols` returns.

    Returns
    -------
    list of Path
        The files written, in the order of ``protocols``.
    """
    paths = []
    for protocol, splits in protocols.items():
        for split, rows in splits.items():
            path = _protocol_path(out_dir, protocol, split)
            with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(PROTOCOL_HEADER)
                w.writerows((r.video_id, r.label, "" if r.max_frames is None else r.max_frames)
                            for r in rows)
            paths.append(path)
    return paths


def _available_protocols(out_dir: str | os.PathLike) -> list[str]:
    root = Path(out_dir) / "protocols"
    if not root.is_dir():
        return []
    return sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("*/*.csv"))


def _parse_max_frames(text: str) -> int | None:
    if text == "":
        return None
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def read_protocol(out_dir: str | os.PathLike, protocol: str, split: str) -> list[ProtocolRow]:
    """Read one protocol file that :func:`write_protocols` wrote.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The build's output folder (``OUT``).
    protocol : str
        E.g. ``"siw-p1"``.
    split : str
        E.g. ``"train"``.

    Returns
    -------
    list of ProtocolRow
        In file order.

    Raises
    ------
    InputError
        The file is missing (the message lists the protocol files there are) or malformed.
    """
    path = _protocol_path(out_dir, protocol, split)
    if not path.is_file():
        have = _available_protocols(out_dir)
        there = f"available: {', '.join(have)}" if have else "no protocol files in this folder"
        raise InputError(path, f"no protocol file for {protocol}/{split}; {there}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header) != PROTOCOL_HEADER:
            raise InputError(path, f"header is {','.join(header or [])!r}, expected "
                                   f"{','.join(PROTOCOL_HEADER)!r}")
        rows = []
        for fields in reader:
            k = reader.line_num
            if len(fields) != 3:
                raise InputError(path, f"line {k}: expected 3 fields, got {len(fields)}")
            video_id, label, max_frames = fields
            if label not in LABELS:
                raise InputError(path, f"line {k}: label {label!r} is not one of {', '.join(LABELS)}")
            try:
                rows.append(ProtocolRow(video_id, label, _parse_max_frames(max_frames)))
            except ValueError:
                raise InputError(path, f"line {k}: max_frames {max_frames!r} is not empty or "
                                       f"a positive integer") from None
    return rows


# --------------------------------------------------------------------------------------------
# Dry-run plan


def plan(scan: Scan, protocols: Mapping[str, Mapping[str, Sequence[ProtocolRow]]], *,
         bytes_per_frame: float = 25_000, frame_stride: int = 1,
         nominal_frames: int = SIW_NOMINAL_FRAMES) -> dict:
    """What a build of ``scan`` would process, from names and face files only.

    Frames are counted from the ``.face`` files (one row per frame); videos without one are
    estimated at the mean of those counted, or at ``nominal_frames`` when none is.

    Parameters
    ----------
    scan : Scan
    protocols : mapping
        As :func:`siw_protocols` returns.
    bytes_per_frame : float > 0, bytes
        Shard bytes per stored frame. The default fits a 256×256 JPEG crop (about 15-20 kB)
        plus a 32×32 depth map, mask, NRR grid, 68 landmarks and a box.
    frame_stride : int >= 1
        Every ``frame_stride``-th frame is stored.
    nominal_frames : int >= 1
        Frames per video when no face file gives a count.

    Returns
    -------
    dict
        ``root`` (str), ``n_videos``; ``videos``: split -> label -> count (every label of
        :data:`LABELS`); ``mediums``: split -> label -> medium -> count; ``protocols``:
        name -> split -> count; ``max_frames``: name -> split -> the frame limits its rows
        carry (only protocols and splits with a limit); ``frames_known`` (sum over the videos
        with a face file, None when none has one), ``videos_with_frames``,
        ``frames_estimated`` (all videos), ``frames_basis`` (words); ``frame_stride``,
        ``bytes_per_frame``, ``estimated_bytes`` (int); ``unknown`` and ``warnings`` (lists of
        str: the scan's, plus unreadable face files).
    """
    if not bytes_per_frame > 0:
        raise InputError("bytes_per_frame", f"must be > 0, got {bytes_per_frame}")
    for name, value in (("frame_stride", frame_stride), ("nominal_frames", nominal_frames)):
        if int(value) < 1:
            raise InputError(name, f"must be >= 1, got {value}")
    splits = sorted({r.split for r in scan.records}, key=_split_order)
    videos = {s: dict.fromkeys(LABELS, 0) for s in splits}
    mediums: dict[str, dict[str, Counter]] = {s: {lab: Counter() for lab in LABELS} for s in splits}
    for r in scan.records:
        videos[r.split][r.label] += 1
        mediums[r.split][r.label][r.medium] += 1

    notes = list(scan.warnings)
    counts = []
    for r in scan.records:
        if r.face_path is None:
            continue
        try:
            counts.append(count_face_rows(r.face_path))
        except InputError as exc:
            notes.append(f"{r.video_id}: face file not counted: {exc}")
    n = len(scan.records)
    known = sum(counts) if counts else None
    if counts:
        mean = known / len(counts)
        basis = ("all counted" if len(counts) == n else
                 f"the other {n - len(counts):,} videos at the counted mean, {mean:,.0f} frames")
    else:
        mean = float(nominal_frames)
        basis = f"no face files: {nominal_frames:,} frames per video assumed"
    estimated = round((known or 0) + (n - len(counts)) * mean)
    stored = math.ceil(estimated / int(frame_stride))
    return {
        "root": str(scan.root),
        "n_videos": n,
        "videos": videos,
        "mediums": {s: {lab: dict(sorted(c.items())) for lab, c in by.items()}
                    for s, by in mediums.items()},
        "protocols": {name: {split: len(rows) for split, rows in sp.items()} for name, sp in protocols.items()},
        "max_frames": _frame_limits(protocols),
        "frames_known": known,
        "videos_with_frames": len(counts),
        "frames_estimated": estimated,
        "frames_basis": basis,
        "frame_stride": int(frame_stride),
        "bytes_per_frame": float(bytes_per_frame),
        "estimated_bytes": round(stored * bytes_per_frame),
        "unknown": list(scan.unknown),
        "warnings": notes,
    }


def _frame_limits(protocols: Mapping[str, Mapping[str, Sequence[ProtocolRow]]]) -> dict:
    """protocol -> split -> sorted frame limits, for the splits whose rows carry any."""
    out: dict[str, dict[str, list[int]]] = {}
    for name, splits in protocols.items():
        for split, rows in splits.items():
            limits = sorted({r.max_frames for r in rows if r.max_frames is not None})
            if limits:
                out.setdefault(name, {})[split] = limits
    return out


def _split_order(split: str) -> tuple[int, str]:
    order = ("Train", "Dev", "Test", "train", "dev", "test")
    return (order.index(split) if split in order else len(order), split)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> list[str]:
    """Left-aligned first column, right-aligned numbers; thousands separators."""
    cells = [[str(h) for h in header]] + [
        [c if isinstance(c, str) else f"{c:,}" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]


def format_plan(plan: dict, *, max_listed: int = 10) -> str:
    """The plan as text for a user: what ``fasprep build-siw RAW OUT --dry-run`` prints.

    Parameters
    ----------
    plan : dict
        As :func:`plan` returns.
    max_listed : int
        Unknown files and warnings shown (the rest are counted).
    """
    splits = list(plan["videos"])
    lines = [f"{plan['n_videos']:,} videos under {plan['root']}", "", "Videos per split and label:"]
    totals = {lab: sum(plan["videos"][s][lab] for s in splits) for lab in LABELS}
    lines += _table(["", *LABELS, "total"],
                    [[s, *plan["videos"][s].values(), sum(plan["videos"][s].values())] for s in splits]
                    + [["total", *totals.values(), plan["n_videos"]]])

    lines += ["", "Videos per label and medium code:"]
    keys = sorted({(lab, m) for s in splits for lab in LABELS for m in plan["mediums"][s][lab]},
                  key=lambda k: (LABELS.index(k[0]), k[1]))
    lines += _table(["", *splits], [[f"{lab} {m}", *(plan["mediums"][s][lab].get(m, 0) for s in splits)]
                                    for lab, m in keys])

    if plan["protocols"]:
        lines += ["", "Protocols (videos per split):"]
        cols = list(dict.fromkeys(split for sp in plan["protocols"].values() for split in sp))
        lines += _table(["", *cols], [[name, *(sp.get(c, 0) for c in cols)]
                                      for name, sp in plan["protocols"].items()])
        for name, limited in plan.get("max_frames", {}).items():
            for split, limits in limited.items():
                first = " or ".join(f"{m:,}" for m in limits)
                lines.append(f"  {name} {split}: only the first {first} frames of each video")

    n, k = plan["n_videos"], plan["videos_with_frames"]
    known = ("no face files" if plan["frames_known"] is None
             else f"{plan['frames_known']:,} frames, from face files")
    stride = plan["frame_stride"]
    size = plan["estimated_bytes"]
    lines += ["", f"Frames known for {k:,} of {n:,} videos ({known});",
              f"  about {plan['frames_estimated']:,} in all ({plan['frames_basis']}).",
              "Estimated shard size: "
              + (f"{size / 1e9:,.1f} GB " if size >= 1e8 else f"{size / 1e6:,.1f} MB ")
              + f"({plan['bytes_per_frame']:,.0f} bytes per stored frame"
              + (f", 1 frame in {stride} stored" if stride > 1 else "") + ")."]
    for title, items in (("Unknown files (not SiW videos, skipped)", plan["unknown"]),
                         ("Warnings", plan["warnings"])):
        if items:
            lines += ["", f"{title}: {len(items):,}"]
            lines += [f"  {item}" for item in items[:max_listed]]
            if len(items) > max_listed:
                lines.append(f"  ... and {len(items) - max_listed:,} more")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class Dataset:
    """A dataset adapter: how to scan a raw tree and which protocols its records form."""

    name: str
    scan: Callable[[str | os.PathLike], Scan]
    protocols: Callable[[Sequence[VideoRecord]], dict[str, dict[str, list[ProtocolRow]]]]


#: Adapters by name (OULU-NPU to follow).
DATASETS: dict[str, Dataset] = {"siw": Dataset("siw", scan_siw, siw_protocols)}
