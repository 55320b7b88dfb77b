"""The dataset layer every adapter shares: the generic record, the adapter interface, protocol
files and the dry-run plan.

An adapter (:class:`Dataset`) knows one dataset's raw tree and nothing else: how to list its
videos by name (``scan``), which protocol splits they form (``protocols``), where a video's face
prior is and how to read it (``face_prior``, whatever the dataset's format: corner boxes, eye
centres, ...), and how a video is named from its codes (``video_name``, so that mock trees can be
made for any adapter). Everything downstream (build, shards, fasmodel) sees only
:class:`VideoRecord` and :class:`ProtocolRow`.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..io import atomic_path

#: Labels of every dataset (``label`` column of the protocol files): bona fide, the two attack
#: families of the paper, and ``spoof`` for an attack whose kind the dataset does not say.
LABELS = ("live", "print", "replay", "spoof")

#: Protocol-file header, exactly (docs/format.md, "Protocol files").
PROTOCOL_HEADER = ("video_id", "label", "max_frames")

#: Header of a protocol over several builds: each row also names its build and domain.
CROSS_PROTOCOL_HEADER = PROTOCOL_HEADER + ("build", "domain")

#: Frames assumed per video when no annotation file tells (about 15 s at 30 fps).
NOMINAL_FRAMES = 450

#: Names a dataset's codes may not take: the shard's own group attributes.
RESERVED_ATTRS = frozenset({"dataset", "label", "attack", "subject", "split", "codes", "fps", "hr_bpm", "snr_db",
                            "source", "n_frames_source", "fit_rmse_px", "rotation_deg"})
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class VideoRecord:
    """One source video of any dataset.

    Attributes
    ----------
    video_id : str
        Path of the video relative to the raw root, without extension, ``/`` separators
        (``"Train/live/003/003-1-1-1-1"``, ``"Train_files/1_1_01_1"``). The key of the video
        everywhere in the output.
    path : Path
        The video file.
    split : str
        The dataset's own split (SiW ``Train``/``Test``; OULU ``Train``/``Dev``/``Test``;
        Replay ``train``/``dev``/``test``; CASIA and MSU ``train``/``test``; a folder dataset's
        CSV split, or ``""`` when it has none): lower-cased, one of train, dev, test (or ``""``).
    label : str
        One of :data:`LABELS`.
    subject : int or str
        The person filmed (the dataset's id: an int where the dataset numbers them).
    attack : str
        The dataset's finer presentation-attack code: ``"live"`` for bona fide, else e.g.
        ``"print-1"``, ``"replay-2"`` (OULU print/display 1 and 2, SiW's print and replay media).
    codes : mapping of str to int or str
        The dataset's own codes of the video as in its name (SiW ``sensor, type, medium,
        session``; OULU ``phone, session, user, file``); empty when it has none.
    face_path : Path or None
        The dataset's face annotation beside the video (boxes or eye centres), None when absent.
    dataset : str
        The adapter's name.
    rotation_deg : int
        Clockwise turn (0, 90, 180, 270) the dataset says the video needs on decode, on top
        of its container's display rotation: videos stored turned without the container
        saying so (MSU-MFSD's six upside-down ones: 180). The face prior is turned with the
        frames; the shard's ``rotation_deg`` attribute is the sum of both turns.
    """

    video_id: str
    path: Path
    split: str
    label: str
    subject: int | str
    attack: str = ""
    codes: Mapping[str, int | str] = field(default_factory=dict)
    face_path: Path | None = None
    dataset: str = ""
    rotation_deg: int = 0

    def __post_init__(self):
        if self.label not in LABELS:
            raise InputError(self.video_id, f"label {self.label!r} is not one of {', '.join(LABELS)}")
        if self.rotation_deg not in (0, 90, 180, 270):
            raise InputError(self.video_id, f"rotation_deg {self.rotation_deg!r} is not 0, 90, 180 or 270")
        clash = RESERVED_ATTRS & set(self.codes)
        if clash:
            raise InputError(self.video_id, f"dataset codes may not be named {', '.join(sorted(clash))}")
        if not self.attack:
            object.__setattr__(self, "attack", self.label)

    @property
    def attrs(self) -> dict[str, str | int]:
        """What a shard stores about the video as group attributes: ``dataset, split, label,
        attack, subject``, each code under its own name, and ``codes`` (the code names,
        comma-separated). A code the dataset does not have is absent, never faked."""
        return {"dataset": self.dataset, "split": self.split, "label": self.label, "attack": self.attack,
                "subject": self.subject, **self.codes, "codes": ",".join(self.codes)}


@dataclass
class Scan:
    """What a dataset scan found.

    Attributes
    ----------
    root : Path
        The folder the video ids are relative to.
    records : list of VideoRecord
        Sorted by ``video_id``.
    unknown : list of str
        Files (relative paths, ``/`` separators) that are not the dataset's videos or
        annotations, sorted. Reported, never fatal.
    warnings : list of str
        Inconsistencies the scan resolved, each saying how.
    """

    root: Path
    records: list[VideoRecord]
    unknown: list[str]
    warnings: list[str]


@dataclass(frozen=True)
class ProtocolRow:
    """One line of a protocol file: which video, its label, and how many of its first frames
    to use (``None`` = all).

    A protocol over several builds (:mod:`fasprep.datasets.cross`) also names the video's
    ``build`` (its folder, relative to the folder holding ``protocols/``, or absolute) and the
    ``domain`` it stands for (``M``, ``C``, ``I``, ``O``); a build's own protocols leave both None.
    """

    video_id: str
    label: str
    max_frames: int | None = None
    build: str | None = None
    domain: str | None = None


#: protocol name -> split name (train, dev, test) -> rows
Protocols = dict[str, dict[str, list[ProtocolRow]]]


def no_rotation(codes: Mapping[str, int | str]) -> int:
    """The turn of a video of a dataset that stores every video as it is shown: 0."""
    return 0


@dataclass(frozen=True)
class Dataset:
    """A dataset adapter.

    Attributes
    ----------
    name : str
        Registry name, also the shard prefix (``siw``, ``oulu-npu``, ``folder``).
    title : str
        What a user reads (``"SiW (Spoof in the Wild)"``).
    scan : callable ``(root) -> Scan``
        Lists the videos by name; nothing is decoded.
    protocols : callable ``(records) -> Protocols``
        The dataset's protocol splits over scanned records.
    face_prior : callable ``(record, n_frames) -> np.ndarray or None``
        The dataset's face prior of a video as boxes, shape (N, 4), float32, ``x1, y1, x2, y2``
        in decoded-frame pixels, all NaN on frames without one; N = ``n_frames`` when given.
        None when the video has no annotation.
    count_frames : callable ``(record) -> int or None``
        Frames of a video as its annotation file counts them (for the dry-run plan), None
        when it has none. Raises :class:`InputError` for an unreadable file.
    video_name : callable ``(codes) -> str``
        Relative path (with extension) of the video with these codes in a raw tree; the
        inverse of the scan, used to make mock trees.
    label_of : callable ``(codes) -> (label, attack)``
        Label and attack code of a video from its codes (what the scan assigns).
    prior_format : str or None
        The annotation the adapter reads (``"corner-boxes"``, ``"eye-centres"``), for mock
        trees to write; None when it reads none.
    subject_code : str
        Which of ``video_name``'s codes is the subject (OULU: ``user``).
    rotation_of : callable ``(codes) -> int``
        Clockwise turn a video with these codes needs on decode (:attr:`VideoRecord.rotation_deg`;
        what the scan assigns, and how mock trees store such a video); 0 for every video by default.
    prior_dir : str
        Folder under the raw root whose tree mirrors the videos' with the face annotations
        (Replay-Attack's ``face-locations/``), where mock trees put them; ``""``: beside each
        video.
    """

    name: str
    title: str
    scan: Callable[[str | os.PathLike], Scan]
    protocols: Callable[[Sequence[VideoRecord]], Protocols]
    face_prior: Callable[[VideoRecord, int | None], np.ndarray | None]
    count_frames: Callable[[VideoRecord], int | None]
    video_name: Callable[[Mapping[str, int | str]], str]
    label_of: Callable[[Mapping[str, int | str]], tuple[str, str]]
    prior_format: str | None = None
    subject_code: str = "subject"
    rotation_of: Callable[[Mapping[str, int | str]], int] = no_rotation
    prior_dir: str = ""


# --------------------------------------------------------------------------------------------
# Raw trees


def walk_files(base: Path) -> Iterator[tuple[str, ...]]:
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


def unique_videos(videos: Sequence[tuple[tuple[str, ...], str]], notes: list[str]) -> Iterator[tuple[tuple[str, ...], str]]:
    """A scan's ``(key, file name)`` pairs in sorted order, one per video: a second file of the
    same video (another extension) is left out, with a note appended to ``notes``."""
    seen: dict[tuple[str, ...], str] = {}
    for key, file in sorted(videos):
        if key in seen:
            notes.append(f"{'/'.join(key)}: two video files ({seen[key]}, {file}); using {seen[key]}")
            continue
        seen[key] = file
        yield key, file


def split_ext(name: str) -> tuple[str, str]:
    """``("153-2-1-1-1.m", ".mov")`` for ``153-2-1-1-1.m.MOV``: only the last suffix, lower-cased."""
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext.lower()}") if dot and stem else (name, "")


def check_root(root: str | os.PathLike, what: str, expected: str) -> Path:
    """``root`` as a Path; :class:`DatasetLayoutError` when it is missing or a file."""
    from ..errors import DatasetLayoutError

    root = Path(root)
    if not root.exists():
        raise DatasetLayoutError(f"{root}: {what} root not found: expected {expected}")
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: {what} root is a file: expected {expected}")
    return root


def describe_folder(root: Path) -> str:
    """A few entries of a folder, for an error message."""
    found = sorted(os.listdir(root))
    shown = ", ".join(found[:8]) + (f", ... ({len(found)} entries)" if len(found) > 8 else "")
    return shown or "an empty folder"


def annotation_lines(path: str | os.PathLike) -> list[bytes]:
    """The lines of an annotation file, trailing blank lines dropped; :class:`InputError` when
    it is missing or unreadable."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not an annotation file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    data = data.rstrip()
    return data.splitlines() if data else []


def fit_rows(rows: np.ndarray, n_frames: int | None, path) -> np.ndarray:
    """Per-frame rows padded with NaN or truncated to ``n_frames``, with a ``UserWarning``
    naming the file and both counts when they differ."""
    import warnings

    if n_frames is None or n_frames == len(rows):
        return rows
    if n_frames < 0:
        raise InputError("n_frames", f"must be >= 0, got {n_frames}")
    how = "padding with NaN rows" if n_frames > len(rows) else "truncating"
    warnings.warn(f"{path}: {len(rows)} face rows for {n_frames} video frames; {how}", UserWarning, stacklevel=3)
    fitted = np.full((n_frames,) + rows.shape[1:], np.nan, dtype=rows.dtype)
    fitted[:min(n_frames, len(rows))] = rows[:n_frames]
    return fitted


def finite_values(path, k: int, line: bytes, n: int, sep: bytes | None, form: str) -> list[float]:
    """The ``n`` numbers of annotation line ``k`` (from 1); :class:`InputError` otherwise."""
    fields = line.split(sep)
    text = line.decode(errors="replace").strip()
    if len(fields) != n:
        what = "empty line" if not line.strip() else f"{len(fields)} fields {text[:60]!r}"
        raise InputError(path, f"line {k}: expected {n} numbers {form!r}, got {what}")
    try:
        values = [float(v) for v in fields]
    except ValueError:
        raise InputError(path, f"line {k}: not numbers: {text[:60]!r}") from None
    if not all(map(math.isfinite, values)):
        raise InputError(path, f"line {k}: non-finite value in {text[:60]!r}")
    return values


def _framed_rows(path, rows: list[list[float]], first_frame: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(frame index, values) of annotation rows whose first field is the frame number;
    :class:`InputError` for a negative, fractional or repeated frame number."""
    values = np.array(rows, np.float64).reshape(len(rows), -1)
    frames = values[:, 0] - first_frame if len(values) else np.zeros(0)
    bad = (frames < 0) | (frames != np.round(frames))
    if bad.any():
        k = int(np.argmax(bad)) + 1
        raise InputError(path, f"line {k}: frame number {values[k - 1, 0]:g} is not an integer >= {first_frame} "
                               f"({what})")
    index = frames.astype(np.int64)
    seen, counts = np.unique(index, return_counts=True)
    if np.any(counts > 1):
        k = int(np.flatnonzero(index == seen[counts > 1][0])[1]) + 1
        raise InputError(path, f"line {k}: frame {int(values[k - 1, 0])} appears twice")
    return index, values[:, 1:]


def _place(path, index: np.ndarray, boxes: np.ndarray, n_frames: int | None, n_lines: int) -> np.ndarray:
    """Boxes placed at their frame numbers, NaN elsewhere, fitted to ``n_frames``. The file covers
    as many frames as it has lines (one a frame), or up to its last frame number if that is more."""
    out = np.full((max(int(index.max()) + 1 if len(index) else 0, n_lines), 4), np.nan, np.float32)
    out[index] = boxes
    return fit_rows(out, n_frames, path)


def read_xywh_boxes(path: str | os.PathLike, *, n_frames: int | None = None, first_frame: int = 0) -> np.ndarray:
    """Per-frame face boxes of a ``frame x y w h`` file (Replay-Attack, Replay-Mobile, CASIA-FASD).

    One whitespace-separated line per frame: the frame number, the box's top-left corner and
    its width and height (pixels). A line whose box is all zeros (``0 0 0 0 0``: the frame
    number is zero too) means no face there, and its frame number is not used. Rows are
    placed by their frame number, not by line order; frames without a box are NaN. The file
    covers as many frames as it has lines (or up to its last frame number, if more).

    Parameters
    ----------
    path : str or os.PathLike
    n_frames : int >= 0, optional
        Frames the video really has: rows are padded with NaN or truncated to it, with a
        ``UserWarning`` when the file's last frame differs.
    first_frame : int
        Number of the video's first frame in the file (0: Bob's files, counted from 0).

    Returns
    -------
    np.ndarray, shape (N, 4), float32, pixels
        ``x1, y1, x2, y2`` per frame, all NaN where there is no face.

    Raises
    ------
    InputError
        Missing or unreadable file, a line that is not five finite numbers, a frame number
        that is negative, fractional or repeated (names the file and line).
    """
    lines = annotation_lines(path)
    rows = [finite_values(path, k, line, 5, None, "frame x y w h") for k, line in enumerate(lines, start=1)]
    faced = [r for r in rows if any(r[1:])]
    index, xywh = _framed_rows(path, faced, first_frame, "frame x y w h")
    boxes = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:4]] if len(xywh) else np.zeros((0, 4))
    return _place(path, index, boxes, n_frames, len(lines))


def read_corner_csv(path: str | os.PathLike, *, n_frames: int | None = None, first_frame: int = 0) -> np.ndarray:
    """Per-frame face boxes of a comma-separated ``frame,x1,y1,x2,y2[,eyes]`` file (MSU-MFSD).

    One line per frame: the frame number, the box's corners (pixels) and, optionally, four
    more numbers (the eye centres, not used). Rows are placed by their frame number; a box of
    zeros and frames without a line are NaN.

    Parameters
    ----------
    path : str or os.PathLike
    n_frames : int >= 0, optional
        As :func:`read_xywh_boxes`.
    first_frame : int
        Number of the video's first frame in the file.

    Returns
    -------
    np.ndarray, shape (N, 4), float32, pixels
        ``x1, y1, x2, y2`` per frame.

    Raises
    ------
    InputError
        Missing or unreadable file, a line that is not 5 or 9 finite numbers, a bad or
        repeated frame number (names the file and line).
    """
    lines = annotation_lines(path)
    form = "frame,x1,y1,x2,y2[,lx,ly,rx,ry]"
    rows = [finite_values(path, k, line, 9 if line.count(b",") == 8 else 5, b",", form)[:5]
            for k, line in enumerate(lines, start=1)]
    index, values = _framed_rows(path, rows, first_frame, form)
    boxes = values[:, :4] if len(values) else np.zeros((0, 4))
    faced = np.any(boxes != 0, axis=1)
    return _place(path, index[faced], boxes[faced], n_frames, len(lines))


def count_framed_rows(path: str | os.PathLike) -> int:
    """Frames an annotation file with a frame column covers (its line count), without parsing."""
    return len(annotation_lines(path))


def mirrored_annotations(base: Path, folder: str, ext: str) -> dict[tuple[str, ...], Path]:
    """Annotation files under ``base/folder`` (e.g. ``face-locations/``), keyed by the path parts
    of the video they annotate (relative to ``base``, the stem without extension)."""
    top = base / folder
    if not top.is_dir():
        return {}
    found = {}
    for parts in walk_files(top):
        stem, e = split_ext(parts[-1])
        if e == ext:
            found[(*parts[:-1], stem)] = top.joinpath(*parts)
    return found


# --------------------------------------------------------------------------------------------
# Protocol files


def protocol_rows(records, max_frames: int | None = None) -> list[ProtocolRow]:
    """Rows of ``records`` in ``video_id`` order."""
    return [ProtocolRow(r.video_id, r.label, max_frames) for r in sorted(records, key=lambda r: r.video_id)]


def _protocol_path(out_dir: str | os.PathLike, protocol: str, split: str) -> Path:
    for what, name in (("protocol", protocol), ("split", split)):
        if not _SAFE_NAME.fullmatch(name):
            raise InputError(what, f"{name!r} is not a plain name (letters, digits, '.', '_', '-')")
    return Path(out_dir) / "protocols" / protocol / f"{split}.csv"


def write_protocols(out_dir: str | os.PathLike, protocols: Mapping[str, Mapping[str, Sequence[ProtocolRow]]]) -> list[Path]:
    """Write ``out_dir/protocols/<protocol>/<split>.csv`` for every protocol and split, atomically.

    Each file has the header ``video_id,label,max_frames`` and one row per video; an empty
    ``max_frames`` means all frames. A split whose rows name their build gets the header
    ``video_id,label,max_frames,build,domain`` (:data:`CROSS_PROTOCOL_HEADER`).

    Returns
    -------
    list of Path
        The files written, in the order of ``protocols``.
    """
    paths = []
    for protocol, splits in protocols.items():
        for split, rows in splits.items():
            path = _protocol_path(out_dir, protocol, split)
            cross = any(r.build is not None for r in rows)
            with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(CROSS_PROTOCOL_HEADER if cross else PROTOCOL_HEADER)
                for r in rows:
                    fields = [r.video_id, r.label, "" if r.max_frames is None else r.max_frames]
                    w.writerow(fields + [r.build or "", r.domain or ""] if cross else fields)
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
        E.g. ``"siw-p1"``, ``"oulu-p3-2"``.
    split : str
        ``"train"``, ``"dev"`` or ``"test"``.

    Returns
    -------
    list of ProtocolRow
        In file order; ``build`` and ``domain`` as written (None where the file has no such
        columns or leaves them empty).

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
        header = tuple(next(reader, None) or ())
        if header not in (PROTOCOL_HEADER, CROSS_PROTOCOL_HEADER):
            raise InputError(path, f"header is {','.join(header)!r}, expected {','.join(PROTOCOL_HEADER)!r} "
                                   f"(or {','.join(CROSS_PROTOCOL_HEADER)!r})")
        rows = []
        for fields in reader:
            k = reader.line_num
            if len(fields) != len(header):
                raise InputError(path, f"line {k}: expected {len(header)} fields, got {len(fields)}")
            video_id, label, max_frames = fields[:3]
            build, domain = fields[3:] if len(fields) == 5 else ("", "")
            if label not in LABELS:
                raise InputError(path, f"line {k}: label {label!r} is not one of {', '.join(LABELS)}")
            if len(fields) == 5 and not build:
                raise InputError(path, f"line {k}: empty build (the folder of the build holding {video_id})")
            try:
                rows.append(ProtocolRow(video_id, label, _parse_max_frames(max_frames), build or None, domain or None))
            except ValueError:
                raise InputError(path, f"line {k}: max_frames {max_frames!r} is not empty or "
                                       f"a positive integer") from None
    return rows


# --------------------------------------------------------------------------------------------
# Dry-run plan


def plan(scan: Scan, protocols: Mapping[str, Mapping[str, Sequence[ProtocolRow]]], *,
         count_frames: Callable[[VideoRecord], int | None] | None = None, bytes_per_frame: float = 25_000,
         frame_stride: int = 1, nominal_frames: int = NOMINAL_FRAMES) -> dict:
    """What a build of ``scan`` would process, from names and annotation files only.

    Frames are counted by ``count_frames`` (the adapter's: one annotation row per frame);
    videos without a count are estimated at the mean of those counted, or at
    ``nominal_frames`` when none is.

    Parameters
    ----------
    scan : Scan
    protocols : mapping
        As an adapter's ``protocols`` returns.
    count_frames : callable ``(record) -> int or None``, optional
        Default: no video is counted.
    bytes_per_frame : float > 0, bytes
        Shard bytes per stored frame. The default fits a 256×256 JPEG crop (about 15-20 kB)
        plus a 32×32 depth map, mask, NRR grid, 68 landmarks and a box.
    frame_stride : int >= 1
        Every ``frame_stride``-th frame is stored.
    nominal_frames : int >= 1
        Frames per video when no annotation gives a count.

    Returns
    -------
    dict
        ``root`` (str), ``n_videos``; ``videos``: split -> label -> count (every label of
        :data:`LABELS`); ``attacks``: split -> attack code -> count; ``protocols``:
        name -> split -> count; ``max_frames``: name -> split -> the frame limits its rows
        carry (only protocols and splits with a limit); ``frames_known`` (sum over the counted
        videos, None when none is), ``videos_with_frames``, ``frames_estimated`` (all videos),
        ``frames_basis`` (words); ``frame_stride``, ``bytes_per_frame``, ``estimated_bytes``
        (int); ``unknown`` and ``warnings`` (lists of str: the scan's, plus unreadable
        annotation files).
    """
    if not bytes_per_frame > 0:
        raise InputError("bytes_per_frame", f"must be > 0, got {bytes_per_frame}")
    for name, value in (("frame_stride", frame_stride), ("nominal_frames", nominal_frames)):
        if int(value) < 1:
            raise InputError(name, f"must be >= 1, got {value}")
    splits = sorted({r.split for r in scan.records}, key=_split_order)
    videos = {s: dict.fromkeys(LABELS, 0) for s in splits}
    attacks: dict[str, Counter] = {s: Counter() for s in splits}
    for r in scan.records:
        videos[r.split][r.label] += 1
        attacks[r.split][r.attack] += 1

    notes = list(scan.warnings)
    counts = []
    for r in scan.records:
        try:
            n = count_frames(r) if count_frames else None
        except InputError as exc:
            notes.append(f"{r.video_id}: face file not counted: {exc}")
            continue
        if n is not None:
            counts.append(n)
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
        "attacks": {s: dict(sorted(c.items(), key=lambda kv: _attack_order(kv[0]))) for s, c in attacks.items()},
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


def _attack_order(attack: str) -> tuple[int, str]:
    family = attack.split("-", 1)[0]
    return (LABELS.index(family) if family in LABELS else len(LABELS), attack)


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


def format_plan(plan: dict, *, max_listed: int = 10, dataset: str = "the dataset's") -> str:
    """The plan as text for a user: what ``fasprep build DATASET RAW OUT --dry-run`` prints.

    Parameters
    ----------
    plan : dict
        As :func:`plan` returns.
    max_listed : int
        Unknown files and warnings shown (the rest are counted).
    dataset : str
        Name of the dataset, in "Unknown files (not <dataset> videos)".
    """
    splits = list(plan["videos"])
    labels = [lab for lab in LABELS if lab != "spoof" or any(plan["videos"][s][lab] for s in splits)]
    lines = [f"{plan['n_videos']:,} videos under {plan['root']}", "", "Videos per split and label:"]
    totals = {lab: sum(plan["videos"][s][lab] for s in splits) for lab in labels}
    lines += _table(["", *labels, "total"],
                    [[s or "(none)", *(plan["videos"][s][lab] for lab in labels), sum(plan["videos"][s].values())]
                     for s in splits] + [["total", *totals.values(), plan["n_videos"]]])

    lines += ["", "Videos per attack code:"]
    codes = sorted({a for s in splits for a in plan["attacks"][s]}, key=_attack_order)
    lines += _table(["", *(s or "(none)" for s in splits)],
                    [[a, *(plan["attacks"][s].get(a, 0) for s in splits)] for a in codes])

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
    for title, items in ((f"Unknown files (not {dataset} videos, skipped)", plan["unknown"]),
                         ("Warnings", plan["warnings"])):
        if items:
            lines += ["", f"{title}: {len(items):,}"]
            lines += [f"  {item}" for item in items[:max_listed]]
            if len(items) > max_listed:
                lines.append(f"  ... and {len(items) - max_listed:,} more")
    return "\n".join(lines)
