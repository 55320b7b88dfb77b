"""Any folder of face videos: bring a dataset fasprep has no adapter for.

Labels come from a CSV at the tree's root, ``labels.csv``, with the header
``path,label[,subject][,split][,attack]`` (``path`` relative to the root, with its extension;
``label`` one of live, print, replay, spoof; ``split`` train, dev or test), or, without one,
from folder names: a video under a folder named ``live/``, ``print/``, ``replay/`` or ``spoof/``
(the nearest such folder above it; any case) has that label, and its subject is the folder just
below the label folder (``live/alice/take1.mp4``), else the file's stem.

One protocol, ``folder``: the CSV's split column when it has one, else a subject-disjoint split
drawn from a seed (:func:`subject_split`; the user chooses the seed and the fractions). No face
prior: the tracker's detector finds the face.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import DatasetLayoutError, InputError
from .base import (
    LABELS,
    Dataset,
    Protocols,
    Scan,
    VideoRecord,
    check_root,
    protocol_rows,
    split_ext,
    walk_files,
)

NAME = "folder"
LABELS_CSV = "labels.csv"
VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".wmv", ".mpg", ".mpeg")
SPLITS = ("train", "dev", "test")
#: Default shares of the subjects in train, dev and test.
FRACTIONS = (0.6, 0.2, 0.2)
_CSV_COLUMNS = ("path", "label", "subject", "split", "attack")


def label_of(codes: Mapping[str, int | str]) -> tuple[str, str]:
    """(label, attack) of a mock folder video: its ``label`` code, and ``attack`` when given."""
    return str(codes["label"]), str(codes.get("attack") or codes["label"])


def video_name(codes: Mapping[str, int | str]) -> str:
    """``<label>/<subject>/<subject>_<take>.mp4`` from codes ``label, subject, take``."""
    return f"{codes['label']}/{codes['subject']}/{codes['subject']}_{codes['take']}.mp4"


def subject_split(subjects: Sequence[str], *, fractions: Sequence[float] = FRACTIONS, seed: int = 0
                  ) -> dict[str, str]:
    """Subjects dealt to train, dev and test: shuffled by ``seed``, cut by ``fractions``.

    Every split with a positive fraction gets at least one subject while there are enough.

    Parameters
    ----------
    subjects : sequence of str
    fractions : three floats >= 0, summing to > 0
        Shares of train, dev, test (normalised).
    seed : int

    Returns
    -------
    dict
        subject -> ``"train"``, ``"dev"`` or ``"test"``.
    """
    f = np.asarray(fractions, np.float64)
    if f.shape != (3,) or np.any(f < 0) or not f.sum() > 0:
        raise InputError("fractions", f"needs three shares >= 0 (train, dev, test), got {tuple(fractions)}")
    f = f / f.sum()
    order = sorted(set(subjects))
    rng = np.random.default_rng(seed)
    order = [order[i] for i in rng.permutation(len(order))]
    n = len(order)
    want = [i for i in range(3) if f[i] > 0]
    counts = np.zeros(3, int)
    if n >= len(want):  # a split asked for gets a subject before another gets a second
        counts[want] = 1
    while counts.sum() < n:  # then one at a time to the split furthest below its share
        counts[max(want, key=lambda i: (f[i] * n - counts[i], -i))] += 1
    out, start = {}, 0
    for split, c in zip(SPLITS, counts):
        for s in order[start:start + c]:
            out[s] = split
        start += c
    return out


def _read_csv(base: Path) -> list[dict[str, str]]:
    path = base / LABELS_CSV
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["path", "label"] or not set(header) <= set(_CSV_COLUMNS) or len(set(header)) != len(header):
            raise InputError(path, f"header is {','.join(header)!r}: expected path,label then any of "
                                   f"subject, split, attack")
        rows = []
        for fields in reader:
            k = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise InputError(path, f"line {k}: {len(fields)} fields for a {len(header)}-column header")
            row = {h: v.strip() for h, v in zip(header, fields)}
            if row["label"] not in LABELS:
                raise InputError(path, f"line {k}: label {row['label']!r} is not one of {', '.join(LABELS)}")
            if "split" in row:
                row["split"] = row["split"].lower()
                if row["split"] not in SPLITS:
                    raise InputError(path, f"line {k}: split {row['split']!r} is not one of {', '.join(SPLITS)}")
            if not (base / row["path"]).is_file():
                raise InputError(path, f"line {k}: {row['path']!r}: no such video under {base}")
            row["line"] = str(k)
            rows.append(row)
    return rows


def _from_folders(base: Path) -> tuple[list[dict[str, str]], list[str]]:
    rows, unknown = [], []
    for parts in walk_files(base):
        stem, ext = split_ext(parts[-1])
        if parts == (LABELS_CSV,):
            continue
        folders = [i for i, p in enumerate(parts[:-1]) if p.lower() in LABELS]
        if ext not in VIDEO_EXTS or not folders:
            unknown.append("/".join(parts))
            continue
        i = folders[-1]
        subject = parts[i + 1] if len(parts) - i > 2 else stem
        rows.append({"path": "/".join(parts), "label": parts[i].lower(), "subject": subject})
    return rows, unknown


def scan_folder(root: str | os.PathLike, *, fractions: Sequence[float] = FRACTIONS, seed: int = 0) -> Scan:
    """List the videos of a folder tree with their labels (see the module docstring).

    Parameters
    ----------
    root : str or os.PathLike
    fractions, seed
        The subject-disjoint split when ``labels.csv`` has no split column
        (:func:`subject_split`).

    Raises
    ------
    DatasetLayoutError
        ``root`` is missing, or holds no video with a label.
    InputError
        A malformed ``labels.csv`` (names the line).
    """
    base = check_root(root, "folder", f"videos under live/, print/, replay/ or spoof/ folders, or a {LABELS_CSV}")
    if (base / LABELS_CSV).is_file():
        rows = _read_csv(base)
        listed = {r["path"] for r in rows}
        unknown = ["/".join(p) for p in walk_files(base) if "/".join(p) not in listed and p != (LABELS_CSV,)]
        source = LABELS_CSV
    else:
        rows, unknown = _from_folders(base)
        source = "folder names"
    if not rows:
        raise DatasetLayoutError(f"{base}: no labelled videos: expected a {LABELS_CSV} (path,label[,subject,split]) "
                                 f"or videos under live/, print/, replay/ or spoof/ folders")
    notes = []
    for r in rows:
        if not r.get("subject"):
            r["subject"] = split_ext(r["path"].rsplit("/", 1)[-1])[0]
    if not all("split" in r for r in rows):
        dealt = subject_split([r["subject"] for r in rows], fractions=fractions, seed=seed)
        for r in rows:
            r["split"] = dealt[r["subject"]]
        notes.append(f"split by subject ({len(dealt)} subjects; seed {seed}, shares "
                     f"{', '.join(f'{x:g}' for x in fractions)}): labels from {source}")
    records, seen = [], {}
    for r in rows:
        stem, _ = split_ext(r["path"])
        if stem in seen:
            raise InputError(base / r["path"], f"same video id as {seen[stem]} (ids drop the extension)")
        seen[stem] = r["path"]
        records.append(VideoRecord(video_id=stem, path=base / r["path"], split=r["split"], label=r["label"],
                                   subject=r["subject"], attack=r.get("attack") or r["label"], dataset=NAME))
    records.sort(key=lambda r: r.video_id)
    return Scan(root=base, records=records, unknown=sorted(unknown), warnings=notes)


def folder_protocols(records: Sequence[VideoRecord]) -> Protocols:
    """One protocol, ``folder``: each split of the records (train, dev, test; empty ones left out)."""
    out = {split: protocol_rows(r for r in records if r.split == split) for split in SPLITS}
    return {"folder": {split: rows for split, rows in out.items() if rows}}


def folder_dataset(*, fractions: Sequence[float] = FRACTIONS, seed: int = 0) -> Dataset:
    """The folder adapter with its subject split's shares and seed."""
    subject_split(["x"], fractions=fractions, seed=seed)  # checks the shares now

    def scan(root):
        return scan_folder(root, fractions=fractions, seed=seed)

    return Dataset(name=NAME, title="a folder of videos", scan=scan, protocols=folder_protocols,
                   face_prior=lambda record, n_frames: None, count_frames=lambda record: None,
                   video_name=video_name, label_of=label_of, prior_format=None)


DATASET = folder_dataset()
