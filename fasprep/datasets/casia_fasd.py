"""CASIA-FASD (CASIA Face Anti-Spoofing Database; Zhang et al., ICB 2012): 600 videos of 50
subjects, three qualities, three attacks.

The release is laid out as (counted in Idiap's ``bob.db.casia_fasd``, whose face files mirror it)::

    <root>/train_release/<1..20>/{1..8,HR_1..HR_4}.avi
    <root>/test_release/<1..30>/{1..8,HR_1..HR_4}.avi
    <root>/face-locations/<the same relative path>.face      (Bob's face files, not the release's)

Subject folders restart at 1 in ``test_release``: the subject is the folder number in train and
the folder number + 20 in test (1-50, as Bob numbers them), so train and test subjects never
collide. Each subject has 12 videos; the file name is the only code, kept raw (``file``) and
mapped through :data:`CASIA_FILES`, the one table of what each file is:

==========  ===========================  =============
file        type (label, attack)         quality
==========  ===========================  =============
1, 2, HR_1  real (live)                  see below
3, 4, HR_2  warped photo (print-warped)
5, 6, HR_3  cut photo (print-cut)
7, 8, HR_4  video replay (replay-video)
==========  ===========================  =============

Quality: ``HR_*`` is high (a high-definition camera). Sources disagree on the others: Bob's
``bob.db.casia_fasd`` (generated from the release) has the odd files 1, 3, 5, 7 normal and the
even files 2, 4, 6, 8 low; other write-ups have it the other way round. fasprep follows Bob
(:data:`QUALITY_OF_FILE`) and stores the raw file code beside the quality, so a user who holds
the other reading can re-map the quality protocols from the shards' ``file`` attribute.

Face files (Bob's): one ``frame x y w h`` row per frame counted from 0, ``0 0 0 0 0`` where no
face was found; in ``face-locations/`` or beside the video.

Protocols (train and test; CASIA has no dev split): ``casia-overall`` (all videos), the quality
tests ``casia-low``, ``casia-normal``, ``casia-high`` (that quality's real and attack videos)
and the attack tests ``casia-warped``, ``casia-cut``, ``casia-video`` (all real videos and that
attack); train and test are restricted the same way. Full release: overall 240/360, a quality
80/120, an attack 120/180.
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
    Protocols,
    Scan,
    VideoRecord,
    check_root,
    count_framed_rows,
    describe_folder,
    mirrored_annotations,
    protocol_rows,
    read_xywh_boxes,
    split_ext,
    unique_videos,
    walk_files,
)

NAME = "casia-fasd"
#: Release folder -> (split, subject folders it has, subject number of its folder 1).
SPLIT_FOLDERS = {"train_release": ("train", range(1, 21), 1), "test_release": ("test", range(1, 31), 21)}
#: File code -> (label, attack, quality): the one table of what a CASIA file is (quality of 1-8
#: as in Bob's bob.db.casia_fasd; the other reading swaps low and normal, see the module).
CASIA_FILES: dict[str, tuple[str, str, str]] = {
    "1": ("live", "live", "normal"), "2": ("live", "live", "low"), "HR_1": ("live", "live", "high"),
    "3": ("print", "print-warped", "normal"), "4": ("print", "print-warped", "low"),
    "HR_2": ("print", "print-warped", "high"),
    "5": ("print", "print-cut", "normal"), "6": ("print", "print-cut", "low"), "HR_3": ("print", "print-cut", "high"),
    "7": ("replay", "replay-video", "normal"), "8": ("replay", "replay-video", "low"),
    "HR_4": ("replay", "replay-video", "high"),
}
QUALITY_OF_FILE = {f: q for f, (_, _, q) in CASIA_FILES.items()}
QUALITIES = ("low", "normal", "high")
#: Attack protocols: name -> attack code.
ATTACKS = {"warped": "print-warped", "cut": "print-cut", "video": "replay-video"}
_VIDEO_EXTS = (".avi", ".mp4", ".mov")
_FACE_EXT = ".face"
_FACE_DIR = "face-locations"
_FILE = re.compile(r"[1-8]|HR_[1-4]")


def label_of(codes: Mapping[str, int | str]) -> tuple[str, str]:
    """(label, attack) of a CASIA file code (:data:`CASIA_FILES`)."""
    label, attack, _ = CASIA_FILES[str(codes["file"])]
    return label, attack


def video_name(codes: Mapping[str, int | str]) -> str:
    """``{train,test}_release/<folder>/<file>.avi`` from codes ``split`` (train, test), ``subject``
    (1-50: train 1-20, test 21-50) and ``file``."""
    split, subject = str(codes["split"]), int(codes["subject"])
    folder, (_, _, first) = f"{split}_release", SPLIT_FOLDERS[f"{split}_release"]
    return f"{folder}/{subject - first + 1}/{codes['file']}.avi"


def _base(root: str | os.PathLike) -> Path:
    expected = "a folder holding train_release/ and test_release/"
    root = check_root(root, "CASIA-FASD", expected)
    for base in [root] + sorted(p for p in root.iterdir() if p.is_dir()):
        if any((base / f).is_dir() for f in SPLIT_FOLDERS):
            return base
    raise DatasetLayoutError(f"{root}: not a CASIA-FASD tree: expected {expected}; found {describe_folder(root)}")


def scan_casia(root: str | os.PathLike) -> Scan:
    """List the CASIA-FASD videos under ``root`` by name (nothing is decoded).

    ``root`` holds ``train_release/`` and ``test_release/`` (or is the folder above the one
    that does). A subject folder outside its split's range (train 1-20, test 1-30) is kept,
    with a warning; other files go to ``Scan.unknown``.

    Raises
    ------
    DatasetLayoutError
        ``root`` is missing or holds neither split folder.
    """
    base = _base(root)
    faces = mirrored_annotations(base, _FACE_DIR, _FACE_EXT)
    beside: dict[tuple[str, ...], Path] = {}
    videos: list[tuple[tuple[str, ...], str]] = []
    unknown, notes, records = [], [], []
    for parts in walk_files(base):
        if parts[0] == _FACE_DIR:
            continue
        stem, ext = split_ext(parts[-1])
        placed = (len(parts) == 3 and parts[0] in SPLIT_FOLDERS and parts[1].isdigit()
                  and _FILE.fullmatch(stem) is not None)
        if placed and ext in _VIDEO_EXTS:
            videos.append(((*parts[:2], stem), parts[-1]))
        elif placed and ext == _FACE_EXT:
            beside[(*parts[:2], stem)] = base.joinpath(*parts)
        else:
            unknown.append("/".join(parts))
    for key, file in unique_videos(videos, notes):
        video_id = "/".join(key)
        release, folder, code = key
        split, folders, first = SPLIT_FOLDERS[release]
        if int(folder) not in folders:
            notes.append(f"{video_id}: subject folder {folder} is outside {release}'s {folders.start}-"
                         f"{folders.stop - 1}")
        label, attack, quality = CASIA_FILES[code]
        records.append(VideoRecord(
            video_id=video_id, path=base.joinpath(release, folder, file), split=split, label=label,
            subject=int(folder) + first - 1, attack=attack, codes={"folder": int(folder), "file": code,
                                                                    "quality": quality},
            face_path=faces.pop(key, None) or beside.pop(key, None), dataset=NAME))
    notes += [f"{'/'.join(k)}{_FACE_EXT}: face file without a video" for k in sorted(beside)]
    records.sort(key=lambda r: r.video_id)
    return Scan(root=base, records=records, unknown=sorted(unknown), warnings=sorted(notes))


def casia_protocols(records: Sequence[VideoRecord]) -> Protocols:
    """The seven CASIA-FASD test protocols over scanned records (the module's docstring).

    Returns
    -------
    dict
        ``casia-overall``, ``casia-{low,normal,high}``, ``casia-{warped,cut,video}`` ->
        ``{"train", "test"}`` rows, sorted by ``video_id``, all frames.
    """
    def sides(keep) -> dict:
        return {split: protocol_rows(r for r in records if r.split == split and keep(r)) for split in ("train", "test")}

    out = {"casia-overall": sides(lambda r: True)}
    for q in QUALITIES:
        out[f"casia-{q}"] = sides(lambda r, q=q: r.codes["quality"] == q)
    for name, attack in ATTACKS.items():
        out[f"casia-{name}"] = sides(lambda r, a=attack: r.label == "live" or r.attack == a)
    return out


def _face_prior(record: VideoRecord, n_frames: int | None) -> np.ndarray | None:
    return None if record.face_path is None else read_xywh_boxes(record.face_path, n_frames=n_frames)


def _count_frames(record: VideoRecord) -> int | None:
    return None if record.face_path is None else count_framed_rows(record.face_path)


DATASET = Dataset(name=NAME, title="CASIA-FASD", scan=scan_casia, protocols=casia_protocols, face_prior=_face_prior,
                  count_frames=_count_frames, video_name=video_name, label_of=label_of, prior_format="xywh-rows",
                  prior_dir=_FACE_DIR)
