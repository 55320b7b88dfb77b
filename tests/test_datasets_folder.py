"""The folder adapter: labels from a CSV or from folder names, a subject-disjoint seeded split,
clear errors for a bad CSV."""

from __future__ import annotations

import pytest

from fasprep.datasets import DATASETS
from fasprep.datasets.folder import (
    folder_dataset,
    folder_protocols,
    scan_folder,
    subject_split,
)
from fasprep.errors import DatasetLayoutError, InputError


def _touch(root, *paths):
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).touch()


def test_labels_from_folder_names(tmp_path):
    _touch(tmp_path, "live/alice/a1.mp4", "live/alice/a2.MOV", "Print/alice/p.avi", "attacks/replay/bob/r.mp4",
           "spoof/carol.mkv", "live/notes.txt", "misc/x.mp4")
    scan = scan_folder(tmp_path)
    got = {r.video_id: (r.label, r.subject, r.attack) for r in scan.records}
    assert got == {"live/alice/a1": ("live", "alice", "live"), "live/alice/a2": ("live", "alice", "live"),
                   "Print/alice/p": ("print", "alice", "print"), "attacks/replay/bob/r": ("replay", "bob", "replay"),
                   "spoof/carol": ("spoof", "carol", "spoof")}
    assert scan.unknown == ["live/notes.txt", "misc/x.mp4"]
    # subject-disjoint: every subject's videos in one split
    by_subject = {}
    for r in scan.records:
        by_subject.setdefault(r.subject, set()).add(r.split)
    assert all(len(s) == 1 for s in by_subject.values())
    protocols = folder_protocols(scan.records)
    assert list(protocols) == ["folder"]
    assert sum(len(rows) for rows in protocols["folder"].values()) == 5


def test_subject_split_is_seeded_and_disjoint():
    subjects = [f"s{i:02d}" for i in range(20)]
    a = subject_split(subjects, seed=1)
    assert a == subject_split(list(reversed(subjects)), seed=1)  # order of listing does not matter
    assert a != subject_split(subjects, seed=2)
    assert sorted(a.values()).count("train") == 12 and sorted(a.values()).count("dev") == 4
    tiny = subject_split(["a", "b", "c"], fractions=(0.8, 0.1, 0.1))
    assert sorted(tiny.values()) == ["dev", "test", "train"]  # each asked-for split gets one
    assert set(subject_split(["a", "b"], fractions=(1, 0, 1)).values()) == {"train", "test"}
    with pytest.raises(InputError, match="three shares"):
        subject_split(["a"], fractions=(1, -1, 0))


def test_labels_from_csv(tmp_path):
    _touch(tmp_path, "v/1.mp4", "v/2.mp4", "v/3.mp4", "other.mp4")
    (tmp_path / "labels.csv").write_text("path,label,subject,split,attack\nv/1.mp4,live,p1,train,\n"
                                         "v/2.mp4,print,p1,Test,print-glossy\nv/3.mp4,replay,p2,dev,\n")
    scan = DATASETS["folder"].scan(tmp_path)
    got = {r.video_id: (r.label, r.subject, r.split, r.attack) for r in scan.records}
    assert got == {"v/1": ("live", "p1", "train", "live"), "v/2": ("print", "p1", "test", "print-glossy"),
                   "v/3": ("replay", "p2", "dev", "replay")}
    assert scan.unknown == ["other.mp4"]
    rows = folder_protocols(scan.records)["folder"]
    assert {s: [r.video_id for r in rs] for s, rs in rows.items()} == {"train": ["v/1"], "dev": ["v/3"],
                                                                      "test": ["v/2"]}
    # without a split column the seeded split is used, the CSV's subjects kept together
    (tmp_path / "labels.csv").write_text("path,label,subject\nv/1.mp4,live,p1\nv/2.mp4,print,p1\nv/3.mp4,live,p2\n")
    scan = folder_dataset(fractions=(1, 0, 1), seed=5).scan(tmp_path)
    splits = {r.video_id: r.split for r in scan.records}
    assert splits["v/1"] == splits["v/2"] and set(splits.values()) == {"train", "test"}


@pytest.mark.parametrize("text, match", [
    ("file,label\nv/1.mp4,live\n", "header is 'file,label'"),
    ("path,label\nv/1.mp4,fake\n", "line 2: label 'fake'"),
    ("path,label\nv/9.mp4,live\n", "line 2: 'v/9.mp4': no such video"),
    ("path,label,split\nv/1.mp4,live,val\n", "line 2: split 'val'"),
    ("path,label\nv/1.mp4\n", "line 2: 1 fields"),
])
def test_bad_csv_is_one_clear_error(tmp_path, text, match):
    _touch(tmp_path, "v/1.mp4")
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(InputError, match=match) as info:
        scan_folder(tmp_path)
    assert "labels.csv" in str(info.value)


def test_nothing_labelled(tmp_path):
    _touch(tmp_path, "clips/a.mp4")
    with pytest.raises(DatasetLayoutError, match="no labelled videos"):
        scan_folder(tmp_path)


def test_cli_dry_run_with_a_chosen_split(tmp_path):
    import subprocess
    import sys

    from fasprep.datasets import read_protocol

    _touch(tmp_path / "raw", *(f"{lab}/s{i}/c.mp4" for i in range(6) for lab in ("live", "replay")))
    run = [sys.executable, "-m", "fasprep", "build", "folder", str(tmp_path / "raw"), str(tmp_path / "out"), "--dry-run"]
    res = subprocess.run([*run, "--split-seed", "7", "--split-shares", "1,0,1"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "12 videos" in res.stdout and "seed 7" in res.stdout
    train, test = (read_protocol(tmp_path / "out", "folder", s) for s in ("train", "test"))
    assert len(train) == len(test) == 6
    assert not {r.video_id.split("/")[1] for r in train} & {r.video_id.split("/")[1] for r in test}
    bad = subprocess.run([sys.executable, "-m", "fasprep", "build", "siw", str(tmp_path / "raw"), str(tmp_path / "o2"),
                          "--split-seed", "3"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "folder dataset only" in bad.stderr
