"""OULU-NPU adapter: a dry run over placeholders named like the whole release (4,950 videos),
protocol sizes as ../shared/datasets/FAS_DATASETS.md gives them and memberships checked against
a derivation here from the names (plain string splitting, not the module's parser); eye files,
boxes from eyes, the release's own Protocols/ lists.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fasprep.datasets import DATASETS, read_protocol
from fasprep.datasets.oulu_npu import (
    box_from_eyes,
    oulu_protocols,
    parse_oulu_name,
    read_eye_positions,
    scan_oulu,
)
from fasprep.errors import DatasetLayoutError, InputError

USERS = {"Train": range(1, 21), "Dev": range(21, 36), "Test": range(36, 56)}

#: FAS_DATASETS.md section 1.3: train/dev/test sizes (P3, P4: per fold).
SIZES = {"oulu-p1": (1200, 900, 600), "oulu-p2": (1080, 810, 1080),
         **{f"oulu-p3-{k}": (1500, 1125, 300) for k in range(1, 7)},
         **{f"oulu-p4-{k}": (600, 450, 60) for k in range(1, 7)}}


def release_names() -> list[str]:
    """``<Split>_files/<phone>_<session>_<user>_<file>`` of the whole release."""
    return [f"{split}_files/{p}_{s}_{u:02d}_{f}" for split, users in USERS.items() for p in range(1, 7)
            for s in range(1, 4) for u in users for f in range(1, 6)]


def expected(names: list[str], protocol: str, split: str) -> list[str]:
    """The official definitions (FAS_DATASETS.md 1.3), applied to the names' fields."""
    folder = {"train": "Train_files", "dev": "Dev_files", "test": "Test_files"}[split]
    parts = protocol.split("-")  # oulu, pN[, k]
    n, k = int(parts[1][1]), (int(parts[2]) if len(parts) == 3 else None)
    out = []
    for name in names:
        where, stem = name.split("/")
        phone, session, _, file = (int(x) for x in stem.split("_"))
        if where != folder:
            continue
        test = split == "test"
        ok = {1: (session == 3) if test else (session in (1, 2)),
              2: (file in (1, 3, 5)) if test else (file in (1, 2, 4)),
              3: (phone == k) if test else (phone != k)}
        keep = ok[n] if n < 4 else ok[1] and ok[2] and ((phone == k) if test else (phone != k))
        if keep:
            out.append(name)
    return sorted(out)


@pytest.fixture(scope="module")
def oulu_tree(tmp_path_factory):
    """Empty placeholder files named like the whole release, an eye file beside every 100th video,
    and one stray file."""
    root = tmp_path_factory.mktemp("oulu") / "Oulu_NPU"
    names = release_names()
    for i, name in enumerate(names):
        video = root / f"{name}.avi"
        video.parent.mkdir(parents=True, exist_ok=True)
        video.touch()
        if i % 100 == 0:
            video.with_suffix(".txt").write_text("".join(f"{t},100,200,160,202\n" for t in range(7)))
    (root / "Train_files" / "readme.pdf").touch()
    return root


def test_dry_run_over_the_whole_release(oulu_tree, tmp_path):
    names = release_names()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "fasprep", "build", "oulu-npu", str(oulu_tree), str(out), "--dry-run"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    assert "4,950 videos" in proc.stdout and "Train_files/readme.pdf" in proc.stdout
    assert sorted(p.name for p in (out / "protocols").iterdir()) == sorted(SIZES)
    for protocol, sizes in SIZES.items():
        for split, size in zip(("train", "dev", "test"), sizes):
            rows = read_protocol(out, protocol, split)
            assert len(rows) == size, (protocol, split)
            assert [r.video_id for r in rows] == expected(names, protocol, split), (protocol, split)
            for r in rows:
                file = int(r.video_id[-1])
                assert r.label == {1: "live", 2: "print", 3: "print", 4: "replay", 5: "replay"}[file]
            users = {int(r.video_id.split("_")[3]) for r in rows}
            assert users <= set(USERS[{"train": "Train", "dev": "Dev", "test": "Test"}[split]])
    assert "Frames known for 50 of 4,950 videos (350 frames" in proc.stdout


def test_scan_records(oulu_tree):
    scan = scan_oulu(oulu_tree.parent)  # the folder above the release also works
    assert scan.root == oulu_tree and len(scan.records) == 4950 and scan.warnings == []
    r = next(r for r in scan.records if r.video_id == "Test_files/6_3_55_4")
    assert (r.split, r.label, r.attack, r.subject, r.dataset) == ("Test", "replay", "replay-1", 55, "oulu-npu")
    assert r.codes == {"phone": 6, "session": 3, "user": 55, "file": 4}
    assert r.attrs["codes"] == "phone,session,user,file"
    assert sum(r.face_path is not None for r in scan.records) == 50
    assert scan.unknown == ["Train_files/readme.pdf"]
    assert DATASETS["oulu-npu"].scan is scan_oulu and DATASETS["oulu-npu"].protocols is oulu_protocols


def test_names():
    assert parse_oulu_name("1_3_36_4") == {"phone": 1, "session": 3, "user": 36, "file": 4}
    for bad in ("7_1_01_1", "1_4_01_1", "1_1_1_1", "1_1_01_6", "1-1-01-1"):
        with pytest.raises(DatasetLayoutError, match="not an OULU-NPU video name"):
            parse_oulu_name(bad)
    codes = {"split": "Dev", "phone": 2, "session": 1, "user": 21, "file": 3}
    assert DATASETS["oulu-npu"].video_name(codes) == "Dev_files/2_1_21_3.avi"
    assert DATASETS["oulu-npu"].label_of(codes) == ("print", "print-2")


def test_user_out_of_its_split_is_a_warning(tmp_path):
    (tmp_path / "Train_files").mkdir()
    (tmp_path / "Train_files" / "1_1_40_1.avi").touch()
    (tmp_path / "Train_files" / "1_1_02_1.txt").touch()
    scan = scan_oulu(tmp_path)
    assert len(scan.records) == 1
    assert "user 40 is not a Train user" in scan.warnings[1]
    assert "1_1_02_1.txt: eye-position file without a video" in scan.warnings[0]
    with pytest.raises(DatasetLayoutError, match="not an OULU-NPU tree.*Train_files"):
        scan_oulu(tmp_path / "Train_files")


def _official(root: Path, names: list[str]) -> None:
    """The release's Protocols/ lists in their own format (``+1,stem`` / ``-1,stem``), written
    from this file's derivation."""
    for protocol in SIZES:
        n, k = protocol.split("-")[1][1], (protocol.split("-")[2] if protocol.count("-") == 2 else None)
        for split in ("train", "dev", "test"):
            path = root / "Protocols" / f"Protocol_{n}" / (f"{split.title()}.txt" if k is None
                                                          else f"{split.title()}_{k}.txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = [f"{'+1' if v.endswith('_1') else '-1'},{v.split('/')[1]}" for v in expected(names, protocol, split)]
            path.write_text("\n".join(lines) + "\n")


def test_the_release_protocol_lists_are_compared(tmp_path):
    names = release_names()
    for name in names:
        (tmp_path / f"{name}.avi").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{name}.avi").touch()
    _official(tmp_path, names)
    assert scan_oulu(tmp_path).warnings == []  # the derived lists agree with the definitions
    p2 = tmp_path / "Protocols" / "Protocol_2" / "Test.txt"
    p2.write_text(p2.read_text().replace("-1,1_1_36_3\n", "-1,1_1_36_2\n"))
    warnings = scan_oulu(tmp_path).warnings
    assert len(warnings) == 1 and warnings[0].startswith("oulu-p2/test: the release's Protocols/ list differs")
    assert "1 only in the release's" in warnings[0] and "1 only in the derived" in warnings[0]
    p2.write_text("+1,1_1_36_1\nnonsense\n")
    assert "line 2" in scan_oulu(tmp_path).warnings[0]


def test_eye_positions_and_boxes(tmp_path):
    path = tmp_path / "1_1_01_1.txt"
    path.write_text("0,100,200,160,200\n1,0,0,0,0\n3,110,210,170,210\n")
    eyes = read_eye_positions(path)
    assert eyes.shape == (4, 2, 2) and np.isnan(eyes[1]).all() and np.isnan(eyes[2]).all()
    assert eyes[3].tolist() == [[110, 210], [170, 210]]
    with pytest.warns(UserWarning, match="4 face rows for 6 video frames"):
        assert read_eye_positions(path, n_frames=6).shape == (6, 2, 2)
    boxes = box_from_eyes(eyes)
    d = 60.0  # inter-ocular distance
    x1, y1, x2, y2 = boxes[0]
    assert (x1 + x2) / 2 == pytest.approx(130) and (y1 + y2) / 2 == pytest.approx(200 + 0.45 * d)
    assert x2 - x1 == pytest.approx(2.6 * d) and y2 - y1 == pytest.approx(3.0 * d)
    assert np.isnan(boxes[1]).all()
    # a face rolled by 90 degrees (eyes one above the other): the box turns with it
    rolled = box_from_eyes(np.array([[[100, 100], [100, 160]]], float))[0]
    assert rolled[2] - rolled[0] == pytest.approx(3.0 * d) and rolled[3] - rolled[1] == pytest.approx(2.6 * d)
    assert (rolled[0] + rolled[2]) / 2 == pytest.approx(100 - 0.45 * d)
    # 1-based numbering (no frame 0) is placed from row 0
    path.write_text("1,100,200,160,200\n2,100,200,160,200\n")
    assert read_eye_positions(path).shape == (2, 2, 2)


@pytest.mark.parametrize("text, match", [
    ("0,1,2,3\n", "line 1: expected 5 numbers"),
    ("0,1,2,3,x\n", "line 1: not numbers"),
    ("0,1,2,3,4\n0,1,2,3,4\n", "line 2: frame 0 appears twice"),
    ("-1,1,2,3,4\n", "line 1: frame number -1"),
])
def test_eye_positions_malformed(tmp_path, text, match):
    path = tmp_path / "e.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_eye_positions(path)
