"""Names of the whole Replay-Attack, Replay-Mobile, CASIA-FASD, MSU-MFSD and OULU-NPU releases,
written here from ../shared/datasets/FAS_DATASETS.md's naming rules (plain string formatting,
not the adapters' code), and empty placeholder trees of them for dry runs.

Replay-Attack's client ids are not contiguous and its clients.txt was not available: the ids
here are made up in the release's pattern (3, 21, 101 and 119 exist; 0, 32, 100 and 120 do
not; 15 train, 15 devel, 20 test clients).
"""

from __future__ import annotations

from pathlib import Path

#: Replay-Attack: release folder -> clients.
REPLAY_ATTACK_CLIENTS = {"train": list(range(1, 16)), "devel": [c for c in range(16, 32) if c != 30],
                         "test": list(range(101, 120)) + [33]}
#: Replay-Attack attacks of a client per light and support: (attack device, sample device, sample type).
REPLAY_ATTACK_KINDS = [("print", "highdef", "photo"), ("mobile", "mobile", "photo"), ("mobile", "mobile", "video"),
                       ("highdef", "highdef", "photo"), ("highdef", "highdef", "video")]
#: Replay-Mobile's client lists (bob.db.replaymobile test.py); client 9 has no real videos.
REPLAY_MOBILE_CLIENTS = {"train": [1, 3, 8, 11, 12, 16, 18, 20, 26, 34, 37, 38],
                         "devel": [5, 6, 13, 14, 15, 23, 24, 25, 28, 29, 31, 32, 35, 36, 39, 40],
                         "test": [2, 4, 7, 9, 10, 17, 19, 21, 22, 27, 30, 33]}
CASIA_FILES = ["1", "2", "3", "4", "5", "6", "7", "8", "HR_1", "HR_2", "HR_3", "HR_4"]
MSU_TRAIN = [2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55]
MSU_TEST = [1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39, 42, 48, 49, 50, 51]
OULU_USERS = {"Train": range(1, 21), "Dev": range(21, 36), "Test": range(36, 56)}


def replay_attack_names() -> list[str]:
    """Relative paths (with extension) of the 1,200 anti-spoofing videos and 100 enrolment videos."""
    names = []
    for split, clients in REPLAY_ATTACK_CLIENTS.items():
        for c in clients:
            for light in ("controlled", "adverse"):
                names += [f"{split}/real/client{c:03d}_session01_webcam_authenticate_{light}_{t}.mov" for t in (1, 2)]
                names.append(f"enroll/{split}/client{c:03d}_session01_webcam_enroll_{light}.mov")
                for support in ("fixed", "hand"):
                    names += [f"{split}/attack/{support}/attack_{dev}_client{c:03d}_session01_{sdev}_{kind}_{light}.mov"
                              for dev, sdev, kind in REPLAY_ATTACK_KINDS]
    return sorted(names)


def replay_mobile_names() -> list[str]:
    names = []
    for split, clients in REPLAY_MOBILE_CLIENTS.items():
        for c in clients:
            head = f"client{c:03d}_session01"
            if c != 9:
                names += [f"{split}/real/{head}_authenticate_{dev}_{light}.mov" for dev in ("mobile", "tablet")
                          for light in ("controlled", "adverse", "direct", "lateral", "diffuse")]
            for dev in ("mobile", "tablet"):
                for light in ("lighton", "lightoff"):
                    names += [f"{split}/attack/attack_{head}_print_{s}_{dev}_photo_{light}.mov"
                              for s in ("fixed", "hand")]
                    names += [f"{split}/attack/attack_{head}_mattescreen_fixed_{dev}_{kind}_{light}.mov"
                              for kind in ("photo", "video")]
    return sorted(names)


def casia_names() -> list[str]:
    return sorted(f"{split}_release/{s}/{f}.avi" for split, n in (("train", 20), ("test", 30))
                  for s in range(1, n + 1) for f in CASIA_FILES)


def msu_names() -> list[str]:
    names = []
    for c in MSU_TRAIN + MSU_TEST:
        for cam, ext in (("android", "mp4"), ("laptop", "mov")):
            names.append(f"scene01/real/real_client{c:03d}_{cam}_SD_scene01.{ext}")
            names += [f"scene01/attack/attack_client{c:03d}_{cam}_SD_{inst}_scene01.{ext}"
                      for inst in ("ipad_video", "iphone_video", "printed_photo")]
    return sorted(names)


def oulu_names() -> list[str]:
    return sorted(f"{split}_files/{p}_{s}_{u:02d}_{f}.avi" for split, users in OULU_USERS.items()
                  for p in range(1, 7) for s in range(1, 4) for u in users for f in range(1, 6))


def placeholder_tree(root: Path, names: list[str], extra: dict[str, str] | None = None) -> Path:
    """Empty files named ``names`` under ``root``, plus ``extra`` files (path -> text)."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    for name, text in (extra or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root
