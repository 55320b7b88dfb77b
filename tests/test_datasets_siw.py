"""SiW adapter: names, scan of a placeholder tree of the real 4,469 ids, protocols, face boxes,
protocol files, dry-run plan.

Expected counts are computed here from the raw id list with plain string splitting, never with
the module's own parser.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fasprep.datasets import (
    DATASETS,
    LABELS,
    ProtocolRow,
    Scan,
    VideoRecord,
    format_plan,
    plan,
    read_protocol,
    write_protocols,
)
from fasprep.datasets.siw import (
    count_face_rows,
    parse_siw_name,
    read_face_boxes,
    scan_siw,
    siw_protocols,
)
from fasprep.errors import DatasetLayoutError, InputError

SIW_FILES = Path(__file__).resolve().parent / "data" / "siw" / "siw_files.txt"
TYPE_LABEL = {"1": "live", "2": "print", "3": "replay"}
FACE_EVERY = 50  # a .face file for every 50th id of the placeholder tree


def siw_ids() -> list[str]:
    """The real SiW ids (tests/data/siw/siw_files.txt)."""
    return SIW_FILES.read_text().split()


def codes_of(video_id: str) -> dict:
    """Independent parse: split, folder, subject, label, medium from an id string."""
    split, folder, _, stem = video_id.split("/")
    subject, _, type_, medium, _ = stem.split(".")[0].split("-")
    return {"split": split, "folder": folder, "subject": int(subject),
            "label": TYPE_LABEL[type_], "medium": int(medium)}


def face_rows(i: int) -> int:
    return 3 + (i // FACE_EVERY) % 5


@pytest.fixture(scope="module")
def ids() -> list[str]:
    return siw_ids()


@pytest.fixture(scope="module")
def siw_tree(tmp_path_factory, ids):
    """``raw/SiW_release/...``: an empty ``.mov`` per real id, a ``.face`` for every 50th id,
    and two files that are not SiW videos. Returns (raw folder, {video_id: face rows})."""
    raw = tmp_path_factory.mktemp("raw")
    base = raw / "SiW_release"
    frames = {}
    for i, vid in enumerate(ids):
        video = base / f"{vid}.mov"
        video.parent.mkdir(parents=True, exist_ok=True)
        video.touch()
        if i % FACE_EVERY == 0:
            n = face_rows(i)
            (base / f"{vid}.face").write_text("10 20 110 140\n0 0 0 0\n" + "12 22 112 142\n" * (n - 2))
            frames[vid] = n
    (base / "notes.txt").write_text("downloaded 2018\n")
    (base / "Train" / "live" / "003" / "thumb.jpg").write_bytes(b"\xff\xd8")
    return raw, frames


@pytest.fixture(scope="module")
def scan(siw_tree) -> Scan:
    return scan_siw(siw_tree[0])


@pytest.fixture(scope="module")
def protocols(scan):
    return siw_protocols(scan.records)


# ---------------------------------------------------------------------------------- names


@pytest.mark.parametrize("stem, expected", [
    ("003-1-2-1-1", (3, 1, 2, 1, 1)),
    ("165-2-3-4-2", (165, 2, 3, 4, 2)),
    ("001-1-1-2-1", (1, 1, 1, 2, 1)),
    ("153-2-1-1-1.m", (153, 2, 1, 1, 1)),
])
def test_parse_siw_name(stem, expected):
    codes = parse_siw_name(stem)
    assert codes == dict(zip(("subject", "sensor", "type", "medium", "session"), expected))


@pytest.mark.parametrize("stem", [
    "003_1_2_1_1",          # underscores, as some docs show
    "003-1-2-1",            # four codes
    "003-1-2-1-1-1",        # six codes
    "003-1-4-1-1",          # type 4
    "003-1-0-1-1",          # type 0
    "003-1-2-1-1.x",        # another suffix
    "003-1-2-1-1.m.m",
    "003-1-2-1-1.mov",      # extension not stripped
    "abc-1-2-1-1",
    "",
])
def test_parse_siw_name_rejects(stem):
    with pytest.raises(DatasetLayoutError) as err:
        parse_siw_name(stem)
    assert repr(stem) in str(err.value)


def test_parse_siw_name_hints_hyphens():
    with pytest.raises(DatasetLayoutError, match="hyphens"):
        parse_siw_name("003_1_2_1_1")


# ---------------------------------------------------------------------------------- scan


def test_scan_finds_every_real_id(scan, siw_tree, ids):
    raw, frames = siw_tree
    assert scan.root == raw / "SiW_release"
    assert [r.video_id for r in scan.records] == sorted(ids)
    expected = Counter((codes_of(v)["split"], codes_of(v)["label"]) for v in ids)
    assert Counter((r.split, r.label) for r in scan.records) == expected
    assert Counter(r.split for r in scan.records) == {"Train": 2416, "Test": 2053}  # README figures
    assert scan.warnings == []
    assert {r.video_id for r in scan.records if r.face_path is not None} == set(frames)
    for r in scan.records:
        assert r.path == scan.root / f"{r.video_id}.mov" and r.path.is_file()
        c = codes_of(r.video_id)
        assert (r.subject, r.codes["medium"], r.label) == (c["subject"], c["medium"], c["label"])


def test_scan_reports_unknown_files(scan):
    assert scan.unknown == ["Train/live/003/thumb.jpg", "notes.txt"]


def test_scan_keeps_the_dot_m_quirk(scan, ids):
    quirks = [r for r in scan.records if r.video_id.endswith(".m")]
    assert len(quirks) == sum(v.endswith(".m") for v in ids) == 16
    r = next(r for r in quirks if r.video_id == "Test/live/153/153-2-1-1-1.m")
    assert r.path.name == "153-2-1-1-1.m.mov"
    assert (r.split, r.label, r.subject, r.attack, r.dataset) == ("Test", "live", 153, "live", "siw")
    assert r.codes == {"sensor": 2, "type": 1, "medium": 1, "session": 1}
    # the version-1 attributes, unchanged, plus the generic ones of format version 2
    assert r.attrs == {"label": "live", "subject": 153, "sensor": 2, "medium": 1, "session": 1, "type": 1,
                       "dataset": "siw", "split": "Test", "attack": "live", "codes": "sensor,type,medium,session"}


def test_scan_accepts_the_release_folder_itself(scan, siw_tree):
    inner = scan_siw(siw_tree[0] / "SiW_release")
    assert inner.root == scan.root
    assert inner.records == scan.records


def test_scan_missing_root(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetLayoutError, match="not found") as err:
        scan_siw(missing)
    assert str(missing) in str(err.value)


def test_scan_root_without_train_or_test(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "readme.txt").write_text("")
    with pytest.raises(DatasetLayoutError) as err:
        scan_siw(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and "Train/" in msg and "videos" in msg


def test_scan_resolves_inconsistencies_by_the_name(tmp_path):
    subject = tmp_path / "Train" / "live" / "003"
    subject.mkdir(parents=True)
    for name in ("003-1-1-1-1.mov", "003-1-1-1-1.face", "003-1-2-1-1.MOV", "004-1-1-1-2.mp4",
                 "003-1-1-2-1.mov", "003-1-1-2-1.mp4", "003-9-9-9-9.mov", "003-1-1-1-2.face",
                 "clip.mov"):
        (subject / name).touch()
    s = scan_siw(tmp_path)
    by_id = {r.video_id: r for r in s.records}
    assert sorted(by_id) == ["Train/live/003/003-1-1-1-1", "Train/live/003/003-1-1-2-1",
                             "Train/live/003/003-1-2-1-1", "Train/live/003/004-1-1-1-2"]
    assert by_id["Train/live/003/003-1-1-1-1"].face_path == subject / "003-1-1-1-1.face"
    assert by_id["Train/live/003/003-1-1-2-1"].path.name == "003-1-1-2-1.mov"  # .mov preferred
    # A print in a live folder: labelled by its type code, with a warning.
    assert by_id["Train/live/003/003-1-2-1-1"].label == "print"
    assert by_id["Train/live/003/004-1-1-1-2"].subject == 4
    text = "\n".join(s.warnings)
    assert "003-1-2-1-1: type code 2 (print) in a 'live' folder" in text
    assert "004-1-1-1-2: subject 4 in the name but folder '003'" in text
    assert "003-1-1-1-2.face: face file without a video" in text
    assert "003-1-1-2-1: 2 video files" in text
    assert "003-9-9-9-9: skipped" in text
    assert s.unknown == ["Train/live/003/003-9-9-9-9.mov", "Train/live/003/clip.mov"]


def test_registry():
    siw = DATASETS["siw"]
    assert siw.name == "siw" and siw.scan is scan_siw and siw.protocols is siw_protocols
    assert list(DATASETS) == ["siw", "oulu-npu", "replay-attack", "replay-mobile", "casia-fasd", "msu-mfsd", "folder"]
    from fasprep.cli import build_cmd, demo_cmd

    for command in (build_cmd, demo_cmd):  # the CLI offers every registered dataset
        choice = next(p for p in command.params if p.name == "dataset")
        assert list(choice.type.choices) == list(DATASETS)


# ---------------------------------------------------------------------------------- protocols


def expected_ids(ids, split, labels, medium=lambda m: True):
    """Ids of ``split`` whose label is in ``labels``; replays filtered by medium."""
    out = []
    for v in ids:
        c = codes_of(v)
        if c["split"] == split and c["label"] in labels and (c["label"] != "replay" or medium(c["medium"])):
            out.append(v)
    return sorted(out)


def protocol_ids(protocols, name, split):
    return [r.video_id for r in protocols[name][split]]


def test_protocol_names(protocols):
    assert list(protocols) == ["siw-p1", "siw-p2-1", "siw-p2-2", "siw-p2-3", "siw-p2-4",
                               "siw-p3-1", "siw-p3-2"]
    assert all(set(sp) == {"train", "test"} for sp in protocols.values())


def test_protocol_1(protocols, ids):
    train, test = protocols["siw-p1"]["train"], protocols["siw-p1"]["test"]
    assert [r.video_id for r in train] == sorted(v for v in ids if v.startswith("Train/"))
    assert [r.video_id for r in test] == sorted(v for v in ids if v.startswith("Test/"))
    assert (len(train), len(test)) == (2416, 2053)
    assert {r.max_frames for r in train} == {60} and {r.max_frames for r in test} == {None}
    assert all(r.label == codes_of(r.video_id)["label"] for r in train + test)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_protocol_2_leaves_one_replay_medium_out(protocols, ids, k):
    p = protocols[f"siw-p2-{k}"]
    assert protocol_ids(protocols, f"siw-p2-{k}", "train") == \
        expected_ids(ids, "Train", {"live", "replay"}, lambda m: m != k)
    assert protocol_ids(protocols, f"siw-p2-{k}", "test") == \
        expected_ids(ids, "Test", {"live", "replay"}, lambda m: m == k)
    rows = p["train"] + p["test"]
    assert "print" not in {r.label for r in rows}
    assert {codes_of(r.video_id)["medium"] for r in p["train"] if r.label == "replay"} == {1, 2, 3, 4} - {k}
    assert {codes_of(r.video_id)["medium"] for r in p["test"] if r.label == "replay"} == {k}
    assert {r.max_frames for r in rows} == {None}


@pytest.mark.parametrize("name, train_attack, test_attack", [
    ("siw-p3-1", "print", "replay"),
    ("siw-p3-2", "replay", "print"),
])
def test_protocol_3_crosses_attack_types(protocols, ids, name, train_attack, test_attack):
    assert protocol_ids(protocols, name, "train") == expected_ids(ids, "Train", {"live", train_attack})
    assert protocol_ids(protocols, name, "test") == expected_ids(ids, "Test", {"live", test_attack})
    assert {r.label for r in protocols[name]["train"]} == {"live", train_attack}
    assert {r.label for r in protocols[name]["test"]} == {"live", test_attack}


def test_protocols_keep_train_and_test_apart(protocols):
    for name, sp in protocols.items():
        train, test = protocol_ids(protocols, name, "train"), protocol_ids(protocols, name, "test")
        assert train == sorted(train) and test == sorted(test), name
        assert len(set(train)) == len(train) and not set(train) & set(test), name
        train_subjects = {codes_of(v)["subject"] for v in train}
        test_subjects = {codes_of(v)["subject"] for v in test}
        assert not train_subjects & test_subjects, name
        assert all(r.label in LABELS for r in sp["train"] + sp["test"])


# ---------------------------------------------------------------------------------- protocol files


def test_write_protocols_exact_text(tmp_path):
    protocols = {"siw-p1": {"train": [ProtocolRow("Train/live/003/003-1-1-1-1", "live", 60),
                                      ProtocolRow("Train/spoof/003/003-1-3-2-1", "replay", 60)],
                            "test": [ProtocolRow("Test/live/153/153-2-1-1-1.m", "live", None)]}}
    paths = write_protocols(tmp_path, protocols)
    assert paths == [tmp_path / "protocols" / "siw-p1" / "train.csv",
                     tmp_path / "protocols" / "siw-p1" / "test.csv"]
    assert paths[0].read_text() == ("video_id,label,max_frames\n"
                                    "Train/live/003/003-1-1-1-1,live,60\n"
                                    "Train/spoof/003/003-1-3-2-1,replay,60\n")
    assert paths[1].read_text() == "video_id,label,max_frames\nTest/live/153/153-2-1-1-1.m,live,\n"
    assert sorted(p.name for p in paths[0].parent.iterdir()) == ["test.csv", "train.csv"]  # no temp files
    assert read_protocol(tmp_path, "siw-p1", "train") == protocols["siw-p1"]["train"]
    assert read_protocol(tmp_path, "siw-p1", "test") == protocols["siw-p1"]["test"]


def test_read_protocol_round_trips_the_real_protocols(tmp_path, protocols):
    paths = write_protocols(tmp_path, protocols)
    assert len(paths) == 14
    for name, sp in protocols.items():
        for split, rows in sp.items():
            assert read_protocol(tmp_path, name, split) == rows


def test_read_protocol_missing(tmp_path):
    with pytest.raises(InputError, match="no protocol files"):
        read_protocol(tmp_path, "siw-p1", "train")
    write_protocols(tmp_path, {"siw-p1": {"train": []}})
    with pytest.raises(InputError, match="available: siw-p1/train") as err:
        read_protocol(tmp_path, "siw-p2-1", "test")
    assert str(tmp_path / "protocols" / "siw-p2-1" / "test.csv") in str(err.value)


@pytest.mark.parametrize("text, match", [
    ("id,label\n", "header"),
    ("video_id,label,max_frames\nTrain/x,genuine,\n", "line 2: label 'genuine'"),
    ("video_id,label,max_frames\nTrain/x,live,0\n", "line 2: max_frames '0'"),
    ("video_id,label,max_frames\nTrain/x,live\n", "line 2: expected 3 fields"),
])
def test_read_protocol_malformed(tmp_path, text, match):
    path = tmp_path / "protocols" / "p" / "train.csv"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_protocol(tmp_path, "p", "train")


def test_protocol_names_must_be_plain(tmp_path):
    with pytest.raises(InputError, match="plain name"):
        write_protocols(tmp_path, {"../escape": {"train": []}})


# ---------------------------------------------------------------------------------- face boxes


def test_read_face_boxes(tmp_path):
    path = tmp_path / "003-1-1-1-1.face"
    path.write_text("10 20 110 140\n0 0 0 0\n  12\t22 112 142  \r\n\n")
    boxes = read_face_boxes(path)
    assert boxes.shape == (3, 4) and boxes.dtype == np.float32
    np.testing.assert_array_equal(boxes[0], [10, 20, 110, 140])
    assert np.isnan(boxes[1]).all()
    np.testing.assert_array_equal(boxes[2], [12, 22, 112, 142])
    assert count_face_rows(path) == 3


def test_read_face_boxes_pads_and_truncates_with_a_warning(tmp_path):
    path = tmp_path / "a.face"
    path.write_text("1 2 3 4\n5 6 7 8\n")
    with pytest.warns(UserWarning, match=r"a\.face: 2 face rows for 4 video frames; padding"):
        boxes = read_face_boxes(path, n_frames=4)
    assert boxes.shape == (4, 4) and np.isnan(boxes[2:]).all()
    np.testing.assert_array_equal(boxes[:2], [[1, 2, 3, 4], [5, 6, 7, 8]])
    with pytest.warns(UserWarning, match="2 face rows for 1 video frames; truncating"):
        np.testing.assert_array_equal(read_face_boxes(path, n_frames=1), [[1, 2, 3, 4]])


@pytest.mark.parametrize("text, match", [
    ("1 2 3 4\n1 2 3\n", "line 2: expected 4 numbers"),
    ("1 2 3 4\n\n1 2 3 4\n", "line 2: .*empty line"),
    ("1 2 3 a\n", "line 1: not numbers"),
    ("1,2,3,4\n", "line 1: expected 4 numbers"),
    ("1 2 nan 4\n", "line 1: non-finite"),
])
def test_read_face_boxes_malformed(tmp_path, text, match):
    path = tmp_path / "bad.face"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        read_face_boxes(path)
    assert str(err.value).startswith(f"{path}: ")


def test_read_face_boxes_missing(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_face_boxes(tmp_path / "none.face")
    with pytest.raises(InputError, match="no such file"):
        count_face_rows(tmp_path / "none.face")


def test_empty_face_file(tmp_path):
    path = tmp_path / "empty.face"
    path.write_text("")
    assert read_face_boxes(path).shape == (0, 4) and count_face_rows(path) == 0


# ---------------------------------------------------------------------------------- plan


def test_plan_counts(scan, protocols, siw_tree, ids):
    _, frames = siw_tree
    p = plan(scan, protocols, count_frames=DATASETS["siw"].count_frames)
    assert p["n_videos"] == len(ids)
    for split in ("Train", "Test"):
        for label in LABELS:
            assert p["videos"][split][label] == sum(
                1 for v in ids if codes_of(v)["split"] == split and codes_of(v)["label"] == label)
    assert {a: n for a, n in p["attacks"]["Test"].items() if a.startswith("replay")} == {
        f"replay-{m}": n for m, n in sorted(Counter(
            codes_of(v)["medium"] for v in ids
            if codes_of(v)["split"] == "Test" and codes_of(v)["label"] == "replay").items())}
    assert p["protocols"]["siw-p1"] == {"train": 2416, "test": 2053}
    assert p["max_frames"] == {"siw-p1": {"train": [60]}}
    assert p["videos_with_frames"] == len(frames) == -(-len(ids) // FACE_EVERY)
    assert p["frames_known"] == sum(frames.values())
    mean = sum(frames.values()) / len(frames)
    assert p["frames_estimated"] == round(sum(frames.values()) + (len(ids) - len(frames)) * mean)
    assert p["estimated_bytes"] == round(p["frames_estimated"] * 25_000)
    assert p["unknown"] == scan.unknown

    half = plan(scan, protocols, count_frames=DATASETS["siw"].count_frames, bytes_per_frame=10_000, frame_stride=2)
    assert half["estimated_bytes"] == -(-p["frames_estimated"] // 2) * 10_000

    text = format_plan(p)
    print(text)
    assert f"Frames known for {len(frames)} of 4,469 videos ({sum(frames.values()):,} frames" in text
    assert "siw-p1 train: only the first 60 frames" in text
    assert "notes.txt" in text and "Train/live/003/thumb.jpg" in text
    first = next(line for line in text.splitlines() if line.strip().startswith("Train "))
    assert first.split() == ["Train", "714", "339", "1,363", "2,416"]
    assert any(line.split() == ["siw-p2-4", f"{p['protocols']['siw-p2-4']['train']:,}",
                                f"{p['protocols']['siw-p2-4']['test']:,}"] for line in text.splitlines())
    assert f"Estimated shard size: {p['estimated_bytes'] / 1e9:.1f} GB" in text


def test_plan_without_face_files(tmp_path):
    rec = VideoRecord("Train/live/003/003-1-1-1-1", tmp_path / "v.mov", "Train", "live", 3)
    p = plan(Scan(tmp_path, [rec], [], []), {}, count_frames=DATASETS["siw"].count_frames, nominal_frames=450)
    assert p["frames_known"] is None and p["videos_with_frames"] == 0
    assert p["frames_estimated"] == 450 and p["estimated_bytes"] == 450 * 25_000
    text = format_plan(p)
    assert "Frames known for 0 of 1 videos (no face files)" in text
    assert "Estimated shard size: 11.2 MB" in text


def test_plan_reports_unreadable_face_files(tmp_path):
    rec = VideoRecord("Train/live/003/003-1-1-1-1", tmp_path / "v.mov", "Train", "live", 3,
                      face_path=tmp_path / "gone.face", dataset="siw")
    p = plan(Scan(tmp_path, [rec], [], []), {}, count_frames=DATASETS["siw"].count_frames)
    assert p["videos_with_frames"] == 0
    assert p["warnings"] == [f"{rec.video_id}: face file not counted: {tmp_path / 'gone.face'}: no such file"]


def test_dry_run_of_the_whole_release(siw_tree, tmp_path):
    """Scan, protocols, protocol files and plan of the full placeholder tree (its time:
    benchmarks/dry_run.py)."""
    s = scan_siw(siw_tree[0])
    protocols = siw_protocols(s.records)
    paths = write_protocols(tmp_path, protocols)
    text = format_plan(plan(s, protocols, count_frames=DATASETS["siw"].count_frames))
    assert len(s.records) == 4469 and len(paths) == 14 and f"{len(s.records):,}" in text
