"""Idiap Replay-Attack (``replay-attack``; Chingovska, Anjos & Marcel, BIOSIG 2012) and
Replay-Mobile (``replay-mobile``; Costa-Pazo et al., BIOSIG 2016): one layout, two name grammars.

Both releases are laid out as (the layout and names of Idiap's ``bob.db.replay`` and
``bob.db.replaymobile``, which are generated from the releases' own list files)::

    <root>/{train,devel,test}/real/<real name>.mov
    <root>/{train,devel,test}/attack/{fixed,hand}/<attack name>.mov     (Replay-Attack)
    <root>/{train,devel,test}/attack/<attack name>.mov                  (Replay-Mobile)
    <root>/face-locations/<the same relative path>.face                 (Replay-Attack)
    <root>/faceloc/rect/<the same relative path>.face                   (Replay-Mobile)

Replay-Attack names: ``client<NNN>_session<NN>_webcam_authenticate_<light>_<take>`` (real;
light ``controlled`` or ``adverse``, take 1-2) and ``attack_<attack device>_client<NNN>_
session<NN>_<sample device>_<sample type>_<light>`` (attack device ``print``, ``mobile``
(iPhone screen) or ``highdef`` (iPad screen); sample device ``mobile`` or ``highdef``, the
camera of the photo or video shown; sample type ``photo`` or ``video``); the support, ``fixed``
or ``hand``, is the folder. Replay-Mobile names: ``client<NNN>_session<NN>_authenticate_
<device>_<light>`` (real; device ``mobile`` or ``tablet``) and ``attack_client<NNN>_session<NN>_
<attack device>_<support>_<sample device>_<sample type>_<light>`` (attack device ``print`` or
``mattescreen``). Enrolment videos (face verification, not anti-spoofing) are not scanned.

Labels: a ``print`` attack is print, a screen (``mobile``, ``highdef``, ``mattescreen``) is
replay, whether it shows a photo or a video. The finer ``attack`` code is
``<label>[-<screen>]-<sample type>``: ``print-photo``, ``replay-highdef-video``, ...

Splits: the release's partition, ``train``, ``dev`` (the ``devel`` folder) and ``test``; the
video id keeps the folder name. Face files: one ``frame x y w h`` row per frame, zeros for no
face (:func:`fasprep.datasets.base.read_xywh_boxes`), found in the mirror folder or beside the
video.

Protocols (train, dev, test; every protocol has all the real videos of each split, the attack
lists follow Bob's definitions of the release's ``attack-<protocol>-allsupports-*`` lists):

- Replay-Attack ``replayattack-<p>`` for p = ``grandtest`` (every attack), ``print``,
  ``mobile``, ``highdef`` (by attack device), ``photo`` (print and screen photos), ``video``
  (screen videos); ``replayattack-<p>-fixed`` and ``-hand``: only the attacks on that support.
  Full release: real 60/60/80; grandtest attacks 300/300/400.
- Replay-Mobile ``replaymobile-<p>`` for p = ``grandtest``, ``print``, ``mattescreen``.
  Full release: real 120/160/110; grandtest attacks 192/256/192.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

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

#: Release folder -> split.
SPLIT_FOLDERS = {"train": "train", "devel": "dev", "test": "test"}
_FOLDER_OF_SPLIT = {v: k for k, v in SPLIT_FOLDERS.items()}
SUPPORTS = ("fixed", "hand")
_VIDEO_EXTS = (".mov", ".mp4", ".avi")
_FACE_EXT = ".face"

_RA_REAL = re.compile(r"client(\d{3})_session(\d{2})_webcam_authenticate_(controlled|adverse)_(\d+)")
_RA_ATTACK = re.compile(r"attack_(print|mobile|highdef)_client(\d{3})_session(\d{2})_(mobile|highdef)_(photo|video)_"
                        r"(controlled|adverse)")
_RM_LIGHTS = "lighton|lightoff|controlled|adverse|direct|lateral|diffuse"
_RM_REAL = re.compile(rf"client(\d{{3}})_session(\d{{2}})_authenticate_(mobile|tablet)_({_RM_LIGHTS})")
_RM_ATTACK = re.compile(rf"attack_client(\d{{3}})_session(\d{{2}})_(print|mattescreen)_(fixed|hand)_(mobile|tablet)_"
                        rf"(photo|video)_({_RM_LIGHTS})")

#: Replay-Attack protocols: name -> which attacks (codes) it has; every real video is in each.
REPLAY_ATTACK_PROTOCOLS: dict[str, Callable[[Mapping], bool]] = {
    "grandtest": lambda c: True,
    "print": lambda c: c["attack_device"] == "print",
    "mobile": lambda c: c["attack_device"] == "mobile",
    "highdef": lambda c: c["attack_device"] == "highdef",
    "photo": lambda c: c["sample_type"] == "photo",
    "video": lambda c: c["sample_type"] == "video",
}
#: Replay-Mobile protocols, likewise.
REPLAY_MOBILE_PROTOCOLS: dict[str, Callable[[Mapping], bool]] = {
    "grandtest": lambda c: True,
    "print": lambda c: c["attack_device"] == "print",
    "mattescreen": lambda c: c["attack_device"] == "mattescreen",
}


def label_of(codes: Mapping[str, int | str]) -> tuple[str, str]:
    """(label, attack) of Replay-Attack or Replay-Mobile codes: live without an attack device;
    print for a print; replay for a screen (``replay-<screen>-<sample type>``)."""
    device = codes.get("attack_device")
    if not device:
        return "live", "live"
    if device == "print":
        return "print", f"print-{codes['sample_type']}"
    return "replay", f"replay-{device}-{codes['sample_type']}"


def _attack_codes(codes: Mapping) -> bool:
    return bool(codes.get("attack_device"))


def parse_replay_attack_name(stem: str, support: str | None = None) -> dict[str, int | str]:
    """The codes of a Replay-Attack video name (:mod:`fasprep.datasets.replay` gives the grammar).

    Parameters
    ----------
    stem : str
        File name without extension.
    support : str, optional
        ``fixed`` or ``hand``: the attack's folder (attacks only).

    Returns
    -------
    dict
        Real: ``client, session, light, take``; attack: ``client, session, attack_device,
        support, sample_device, sample_type, light``. ``client``, ``session`` and ``take``
        are ints.

    Raises
    ------
    DatasetLayoutError
        Not a Replay-Attack name.

    Examples
    --------
    >>> parse_replay_attack_name("client001_session01_webcam_authenticate_adverse_1")
    {'client': 1, 'session': 1, 'light': 'adverse', 'take': 1}
    >>> parse_replay_attack_name("attack_highdef_client027_session01_highdef_photo_adverse", "hand")["attack_device"]
    'highdef'
    """
    m = _RA_REAL.fullmatch(stem)
    if m:
        return {"client": int(m[1]), "session": int(m[2]), "light": m[3], "take": int(m[4])}
    m = _RA_ATTACK.fullmatch(stem)
    if m:
        return {"client": int(m[2]), "session": int(m[3]), "attack_device": m[1], "support": support or "",
                "sample_device": m[4], "sample_type": m[5], "light": m[6]}
    raise DatasetLayoutError(f"{stem!r} is not a Replay-Attack video name: expected "
                             f"client<NNN>_session<NN>_webcam_authenticate_<light>_<take> or attack_<print|mobile|"
                             f"highdef>_client<NNN>_session<NN>_<mobile|highdef>_<photo|video>_<light>")


def parse_replay_mobile_name(stem: str, support: str | None = None) -> dict[str, int | str]:
    """The codes of a Replay-Mobile video name.

    Returns
    -------
    dict
        Real: ``client, session, device, light``; attack: ``client, session, attack_device,
        support, sample_device, sample_type, light`` (the support is in the name).

    Raises
    ------
    DatasetLayoutError
        Not a Replay-Mobile name.

    Examples
    --------
    >>> parse_replay_mobile_name("attack_client005_session01_mattescreen_fixed_mobile_photo_lightoff")["support"]
    'fixed'
    """
    m = _RM_REAL.fullmatch(stem)
    if m:
        return {"client": int(m[1]), "session": int(m[2]), "device": m[3], "light": m[4]}
    m = _RM_ATTACK.fullmatch(stem)
    if m:
        return {"client": int(m[1]), "session": int(m[2]), "attack_device": m[3], "support": m[4],
                "sample_device": m[5], "sample_type": m[6], "light": m[7]}
    raise DatasetLayoutError(f"{stem!r} is not a Replay-Mobile video name: expected "
                             f"client<NNN>_session<NN>_authenticate_<mobile|tablet>_<light> or attack_client<NNN>_"
                             f"session<NN>_<print|mattescreen>_<fixed|hand>_<mobile|tablet>_<photo|video>_<light>")


def replay_attack_video_name(codes: Mapping[str, int | str]) -> str:
    """Relative path of a Replay-Attack video from codes ``split`` (train, dev, test) and the
    name's codes (:func:`parse_replay_attack_name`)."""
    folder = _FOLDER_OF_SPLIT[str(codes["split"])]
    head = f"client{int(codes['client']):03d}_session{int(codes.get('session', 1)):02d}"
    if not _attack_codes(codes):
        return f"{folder}/real/{head}_webcam_authenticate_{codes['light']}_{int(codes['take'])}.mov"
    return (f"{folder}/attack/{codes['support']}/attack_{codes['attack_device']}_{head}_{codes['sample_device']}_"
            f"{codes['sample_type']}_{codes['light']}.mov")


def replay_mobile_video_name(codes: Mapping[str, int | str]) -> str:
    """Relative path of a Replay-Mobile video from codes ``split`` and the name's codes."""
    folder = _FOLDER_OF_SPLIT[str(codes["split"])]
    head = f"client{int(codes['client']):03d}_session{int(codes.get('session', 1)):02d}"
    if not _attack_codes(codes):
        return f"{folder}/real/{head}_authenticate_{codes['device']}_{codes['light']}.mov"
    return (f"{folder}/attack/attack_{head}_{codes['attack_device']}_{codes['support']}_{codes['sample_device']}_"
            f"{codes['sample_type']}_{codes['light']}.mov")


@dataclass(frozen=True)
class _Release:
    """What differs between the two releases."""

    name: str
    title: str
    parse: Callable[[str, str | None], dict]
    support_folders: bool  # attacks under attack/{fixed,hand}/ (Replay-Attack) or attack/ (Replay-Mobile)
    face_dir: str


_RA = _Release("replay-attack", "Replay-Attack", parse_replay_attack_name, True, "face-locations")
_RM = _Release("replay-mobile", "Replay-Mobile", parse_replay_mobile_name, False, "faceloc/rect")


def _base(root: str | os.PathLike, title: str) -> Path:
    expected = "a folder holding train/, devel/ and test/"
    root = check_root(root, title, expected)
    for base in [root] + sorted(p for p in root.iterdir() if p.is_dir()):
        if any((base / f).is_dir() and ((base / f / "real").is_dir() or (base / f / "attack").is_dir())
               for f in SPLIT_FOLDERS):
            return base
    raise DatasetLayoutError(f"{root}: not a {title} tree: expected {expected}, each with real/ and attack/; "
                             f"found {describe_folder(root)}")


def _scan(release: _Release, root: str | os.PathLike) -> Scan:
    base = _base(root, release.title)
    faces = mirrored_annotations(base, release.face_dir, _FACE_EXT)
    face_top = release.face_dir.split("/")[0]
    records, unknown, notes = [], [], []
    beside: dict[tuple[str, ...], Path] = {}
    videos: list[tuple[tuple[str, ...], str]] = []
    for parts in walk_files(base):
        if parts[0] == face_top:
            continue
        stem, ext = split_ext(parts[-1])
        where = parts[:-1]
        attack_folder = (len(where) == 3 and where[1] == "attack" and where[2] in SUPPORTS if release.support_folders
                         else where[1:] == ("attack",))
        placed = len(where) >= 2 and where[0] in SPLIT_FOLDERS and (where[1:] == ("real",) or attack_folder)
        if placed and ext in _VIDEO_EXTS:
            videos.append(((*where, stem), parts[-1]))
        elif placed and ext == _FACE_EXT:
            beside[(*where, stem)] = base.joinpath(*parts)
        else:
            unknown.append("/".join(parts))
    for key, file in unique_videos(videos, notes):
        video_id = "/".join(key)
        support = key[2] if release.support_folders and key[1] == "attack" else None
        try:
            codes = release.parse(key[-1], support)
        except DatasetLayoutError as exc:
            unknown.append("/".join((*key[:-1], file)))
            notes.append(f"{video_id}: skipped: {exc}")
            continue
        if _attack_codes(codes) != (key[1] == "attack"):
            notes.append(f"{video_id}: {'an attack' if _attack_codes(codes) else 'a real'} name in the "
                         f"'{key[1]}' folder; labelled by the name")
        label, attack = label_of(codes)
        face = faces.pop(key, None) or beside.pop(key, None)
        records.append(VideoRecord(video_id=video_id, path=base.joinpath(*key[:-1], file),
                                   split=SPLIT_FOLDERS[key[0]], label=label, subject=int(codes["client"]),
                                   attack=attack, codes=codes, face_path=face, dataset=release.name))
    splits_of: dict[int, set[str]] = {}
    for r in records:
        splits_of.setdefault(int(r.subject), set()).add(r.split)
    notes += [f"client {c} is in more than one split ({', '.join(sorted(s))}): the release's splits are "
              f"client-disjoint" for c, s in sorted(splits_of.items()) if len(s) > 1]
    notes += [f"{'/'.join(k)}{_FACE_EXT}: face file without a video" for k in sorted(beside)]
    records.sort(key=lambda r: r.video_id)
    return Scan(root=base, records=records, unknown=sorted(unknown), warnings=sorted(notes))


def scan_replay_attack(root: str | os.PathLike) -> Scan:
    """List the Replay-Attack videos under ``root`` by name (nothing is decoded).

    ``root`` holds ``train/``, ``devel/`` and ``test/`` (or is the folder above the one that
    does). Files that are not the release's anti-spoofing videos (enrolment videos, list files)
    go to ``Scan.unknown``; a client in two splits, a real name in ``attack/`` (or the reverse)
    and face files without a video are warnings.

    Raises
    ------
    DatasetLayoutError
        ``root`` is missing or holds none of the split folders.
    """
    return _scan(_RA, root)


def scan_replay_mobile(root: str | os.PathLike) -> Scan:
    """List the Replay-Mobile videos under ``root`` by name, as :func:`scan_replay_attack`."""
    return _scan(_RM, root)


def _protocols(prefix: str, definitions: Mapping[str, Callable[[Mapping], bool]], records: Sequence[VideoRecord],
               supports: Sequence[str | None]) -> Protocols:
    out: Protocols = {}
    for name, keep in definitions.items():
        for support in supports:
            def chosen(r: VideoRecord, split: str) -> bool:
                if r.split != split:
                    return False
                if r.label == "live":
                    return True
                return keep(r.codes) and (support is None or r.codes["support"] == support)

            key = f"{prefix}-{name}" + (f"-{support}" if support else "")
            out[key] = {split: protocol_rows(r for r in records if chosen(r, split))
                        for split in ("train", "dev", "test")}
    return out


def replay_attack_protocols(records: Sequence[VideoRecord]) -> Protocols:
    """The Replay-Attack protocols over scanned records (the module's docstring lists them).

    Returns
    -------
    dict
        ``replayattack-<p>`` and ``replayattack-<p>-{fixed,hand}`` for p in grandtest, print,
        mobile, highdef, photo, video -> ``{"train", "dev", "test"}`` rows, sorted by
        ``video_id``, all frames. Full release: real 60/60/80 in each; attacks grandtest
        300/300/400, print 60/60/80, mobile and highdef 120/120/160, photo 180/180/240, video
        120/120/160 (each support half of that).
    """
    return _protocols("replayattack", REPLAY_ATTACK_PROTOCOLS, records, (None, *SUPPORTS))


def replay_mobile_protocols(records: Sequence[VideoRecord]) -> Protocols:
    """The Replay-Mobile protocols: ``replaymobile-{grandtest,print,mattescreen}`` (train, dev,
    test). Full release: real 120/160/110; attacks grandtest 192/256/192, print and
    mattescreen 96/128/96."""
    return _protocols("replaymobile", REPLAY_MOBILE_PROTOCOLS, records, (None,))


def _face_prior(record: VideoRecord, n_frames: int | None) -> np.ndarray | None:
    return None if record.face_path is None else read_xywh_boxes(record.face_path, n_frames=n_frames)


def _count_frames(record: VideoRecord) -> int | None:
    return None if record.face_path is None else count_framed_rows(record.face_path)


REPLAY_ATTACK = Dataset(name=_RA.name, title=_RA.title, scan=scan_replay_attack, protocols=replay_attack_protocols,
                        face_prior=_face_prior, count_frames=_count_frames, video_name=replay_attack_video_name,
                        label_of=label_of, prior_format="xywh-rows", subject_code="client", prior_dir=_RA.face_dir)
REPLAY_MOBILE = Dataset(name=_RM.name, title=_RM.title, scan=scan_replay_mobile, protocols=replay_mobile_protocols,
                        face_prior=_face_prior, count_frames=_count_frames, video_name=replay_mobile_video_name,
                        label_of=label_of, prior_format="xywh-rows", subject_code="client", prior_dir=_RM.face_dir)
