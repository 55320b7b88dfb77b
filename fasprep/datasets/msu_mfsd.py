"""MSU-MFSD (MSU Mobile Face Spoofing Database; Wen, Han & Jain, TIFS 2015): the 280 public
videos of 35 subjects, two cameras, three attacks.

The release is laid out as (the names of Idiap's ``bob.db.msu_mfsd_mod`` lists, copied from
the release)::

    <root>/scene01/real/real_client<NNN>_<camera>_SD_scene01.<mp4|mov>
    <root>/scene01/attack/attack_client<NNN>_<camera>_SD_<instrument>_scene01.<mp4|mov>
    <root>/train_sub_list.txt, <root>/test_sub_list.txt                (one 2-digit id a line)

(``root`` may also be the folder holding ``real/`` and ``attack/``; video ids are relative to
that folder, ``real/real_client003_android_SD_scene01``, as Bob's lists name them.) Camera ``android``
(``.mp4``) or ``laptop`` (``.mov``); instrument ``ipad_video`` and ``iphone_video`` (replay,
``replay-ipad``, ``replay-iphone``) or ``printed_photo`` (print, ``print-photo``). Codes:
``client, camera`` and, for attacks, ``instrument``.

Split: the release's subject lists, :data:`TRAIN_SUBJECTS` (15 subjects, 120 videos) and
:data:`TEST_SUBJECTS` (20, 160); when the release's list files are there they decide, and any
difference from these is a warning. One protocol, ``msu-mfsd`` (train, test).

Face files: ``<stem>.face`` beside the video or in ``face-locations/`` mirroring the tree, one
comma-separated row per frame ``frame,x1,y1,x2,y2[,eyes]`` (corners;
:func:`fasprep.datasets.base.read_corner_csv`).

Six real android videos are stored upside down (:data:`UPSIDE_DOWN`): they are turned by 180
degrees on decode (:attr:`fasprep.datasets.VideoRecord.rotation_deg`), face prior included,
and the shard's ``rotation_deg`` says so. (Bob flips them vertically, which leaves the face
mirrored; a camera held upside down turns the picture, so fasprep turns it back.)
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
    annotation_lines,
    check_root,
    count_framed_rows,
    describe_folder,
    mirrored_annotations,
    protocol_rows,
    read_corner_csv,
    split_ext,
    unique_videos,
    walk_files,
)

NAME = "msu-mfsd"
#: The release's train_sub_list.txt and test_sub_list.txt (bob.db.msu_mfsd_mod folds/, copies
#: of the release's files).
TRAIN_SUBJECTS = (2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55)
TEST_SUBJECTS = (1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39, 42, 48, 49, 50, 51)
#: The videos stored upside down, turned by 180 degrees on decode (bob.db.msu_mfsd_mod
#: rotated_videos/rotated_videos.txt, the only place fasprep lists them).
UPSIDE_DOWN = tuple(f"real/real_client{c:03d}_android_SD_scene01" for c in (3, 5, 6, 7, 8, 9))
#: Attack instrument -> (label, attack).
INSTRUMENTS = {"printed_photo": ("print", "print-photo"), "ipad_video": ("replay", "replay-ipad"),
               "iphone_video": ("replay", "replay-iphone")}
CAMERA_EXT = {"android": ".mp4", "laptop": ".mov"}
_NAME = re.compile(r"(real|attack)_client(\d{3})_(android|laptop)_SD_(?:(printed_photo|ipad_video|iphone_video)_)?"
                   r"scene01")
_VIDEO_EXTS = (".mp4", ".mov", ".avi")
_FACE_EXT = ".face"
_FACE_DIR = "face-locations"
_LISTS = {"train": "train_sub_list.txt", "test": "test_sub_list.txt"}


def parse_msu_name(stem: str) -> dict[str, int | str]:
    """The codes of an MSU-MFSD video name.

    Returns
    -------
    dict
        ``client`` (int), ``camera`` and, for an attack, ``instrument``.

    Raises
    ------
    DatasetLayoutError
        Not such a name (or a real name with an instrument, an attack without one).

    Examples
    --------
    >>> parse_msu_name("attack_client001_laptop_SD_printed_photo_scene01")
    {'client': 1, 'camera': 'laptop', 'instrument': 'printed_photo'}
    """
    m = _NAME.fullmatch(stem)
    if m is None or (m[1] == "attack") != (m[4] is not None):
        raise DatasetLayoutError(f"{stem!r} is not an MSU-MFSD video name: expected real_client<NNN>_<android|"
                                 f"laptop>_SD_scene01 or attack_client<NNN>_<android|laptop>_SD_<printed_photo|"
                                 f"ipad_video|iphone_video>_scene01")
    codes: dict[str, int | str] = {"client": int(m[2]), "camera": m[3]}
    if m[4]:
        codes["instrument"] = m[4]
    return codes


def label_of(codes: Mapping[str, int | str]) -> tuple[str, str]:
    """(label, attack): live without an instrument, else :data:`INSTRUMENTS`."""
    return INSTRUMENTS[str(codes["instrument"])] if codes.get("instrument") else ("live", "live")


def video_name(codes: Mapping[str, int | str]) -> str:
    """``{real,attack}/<name>.<mp4|mov>`` from codes ``client, camera[, instrument]``: the path
    below the scene folder, which is also the video id (mock trees put ``real/`` and ``attack/``
    at their root)."""
    kind = "attack" if codes.get("instrument") else "real"
    middle = f"_{codes['instrument']}" if codes.get("instrument") else ""
    return (f"{kind}/{kind}_client{int(codes['client']):03d}_{codes['camera']}_SD{middle}_scene01"
            f"{CAMERA_EXT[str(codes['camera'])]}")


def rotation_of(codes: Mapping[str, int | str]) -> int:
    """180 for the six videos of :data:`UPSIDE_DOWN`, else 0."""
    return 180 if video_name(codes).rsplit(".", 1)[0] in UPSIDE_DOWN else 0


def _base(root: str | os.PathLike) -> Path:
    expected = "a folder holding scene01/real/ and scene01/attack/ (or real/ and attack/)"
    root = check_root(root, "MSU-MFSD", expected)
    for base in [root / "scene01", root] + sorted(p for p in root.iterdir() if p.is_dir()):
        if (base / "real").is_dir() or (base / "attack").is_dir():
            return base
    raise DatasetLayoutError(f"{root}: not an MSU-MFSD tree: expected {expected}; found {describe_folder(root)}")


def read_subject_list(path: str | os.PathLike) -> list[int]:
    """The subject ids of a ``*_sub_list.txt`` (one id a line, its first two characters; SSDG's
    reading); :class:`InputError` for a line that is not one."""
    from ..errors import InputError

    ids = []
    for k, line in enumerate(annotation_lines(path), start=1):
        text = line.decode(errors="replace").strip()
        if not text:
            continue
        if not text[:2].isdigit():
            raise InputError(path, f"line {k}: {text[:40]!r} is not a subject id")
        ids.append(int(text[:2]))
    return ids


def subject_splits(root: Path, base: Path) -> tuple[dict[int, str], list[str]]:
    """Subject -> ``train``/``test`` from the release's lists (in ``base`` or ``root``), else
    from :data:`TRAIN_SUBJECTS` and :data:`TEST_SUBJECTS`; and warnings for every difference."""
    from ..errors import InputError

    official = {"train": TRAIN_SUBJECTS, "test": TEST_SUBJECTS}
    lists, notes = {}, []
    for split, name in _LISTS.items():
        for folder in (base, root, base.parent):
            if (folder / name).is_file():
                try:
                    lists[split] = tuple(read_subject_list(folder / name))
                except InputError as exc:
                    notes.append(f"{exc}; the published list is used")
                break
    for split, ids in lists.items():
        if sorted(ids) != sorted(official[split]):
            notes.append(f"{_LISTS[split]}: subjects {sorted(ids)} differ from the published {split} list "
                         f"{sorted(official[split])}; the release's file is used")
    chosen = {**official, **lists}
    return {s: split for split in ("train", "test") for s in chosen[split]}, notes


def scan_msu(root: str | os.PathLike) -> Scan:
    """List the MSU-MFSD videos under ``root`` by name (nothing is decoded).

    A video of a subject on neither list gets split ``""`` (in no protocol), with a warning.
    The six :data:`UPSIDE_DOWN` videos get ``rotation_deg`` 180.

    Raises
    ------
    DatasetLayoutError
        ``root`` is missing or holds no ``real/`` or ``attack/`` folder.
    """
    root = Path(root)
    base = _base(root)
    split_of, notes = subject_splits(root, base)
    faces = mirrored_annotations(base, _FACE_DIR, _FACE_EXT)
    beside: dict[tuple[str, ...], Path] = {}
    videos: list[tuple[tuple[str, str], str]] = []
    unknown, records = [], []
    for parts in walk_files(base):
        if parts[0] == _FACE_DIR:
            continue
        stem, ext = split_ext(parts[-1])
        placed = len(parts) == 2 and parts[0] in ("real", "attack") and _NAME.fullmatch(stem) is not None
        if placed and ext in _VIDEO_EXTS:
            videos.append(((parts[0], stem), parts[-1]))
        elif placed and ext == _FACE_EXT:
            beside[(parts[0], stem)] = base.joinpath(*parts)
        elif parts[-1] not in _LISTS.values():
            unknown.append("/".join(parts))
    for key, file in unique_videos(videos, notes):
        video_id = "/".join(key)
        try:
            codes = parse_msu_name(key[1])
        except DatasetLayoutError as exc:
            unknown.append(f"{key[0]}/{file}")
            notes.append(f"{video_id}: skipped: {exc}")
            continue
        label, attack = label_of(codes)
        if (label == "live") != (key[0] == "real"):
            notes.append(f"{video_id}: {'a real' if label == 'live' else 'an attack'} name in the '{key[0]}' folder; "
                         f"labelled by the name")
        split = split_of.get(int(codes["client"]), "")
        if not split:
            notes.append(f"{video_id}: subject {codes['client']} is on neither subject list; in no protocol")
        records.append(VideoRecord(video_id=video_id, path=base.joinpath(key[0], file), split=split, label=label,
                                   subject=int(codes["client"]), attack=attack, codes=codes, dataset=NAME,
                                   face_path=faces.pop(key, None) or beside.pop(key, None),
                                   rotation_deg=rotation_of(codes)))
    notes += [f"{'/'.join(k)}{_FACE_EXT}: face file without a video" for k in sorted(beside)]
    records.sort(key=lambda r: r.video_id)
    return Scan(root=base, records=records, unknown=sorted(unknown), warnings=sorted(notes))


def msu_protocols(records: Sequence[VideoRecord]) -> Protocols:
    """``msu-mfsd``: train = the train subjects' videos, test = the test subjects' (120 and 160
    in the release)."""
    return {"msu-mfsd": {split: protocol_rows(r for r in records if r.split == split) for split in ("train", "test")}}


def _face_prior(record: VideoRecord, n_frames: int | None) -> np.ndarray | None:
    return None if record.face_path is None else read_corner_csv(record.face_path, n_frames=n_frames)


def _count_frames(record: VideoRecord) -> int | None:
    return None if record.face_path is None else count_framed_rows(record.face_path)


DATASET = Dataset(name=NAME, title="MSU-MFSD", scan=scan_msu, protocols=msu_protocols, face_prior=_face_prior,
                  count_frames=_count_frames, video_name=video_name, label_of=label_of, prior_format="corner-csv",
                  subject_code="client", rotation_of=rotation_of)
