"""Replay-Attack, Replay-Mobile, CASIA-FASD and MSU-MFSD adapters: dry runs over placeholders
named like each whole release (tests/release_trees.py), protocol sizes as
../shared/datasets/FAS_DATASETS.md gives them, memberships checked against derivations written
here from the names (string splitting, not the adapters' parsers); the MCIO domain counts; the
frame-column face files.
"""

from __future__ import annotations

import numpy as np
import pytest
import release_trees as rt
from click.testing import CliRunner

from fasprep.cli import main
from fasprep.datasets import DATASETS, read_protocol
from fasprep.datasets.base import read_corner_csv, read_xywh_boxes
from fasprep.datasets.casia_fasd import CASIA_FILES, scan_casia
from fasprep.datasets.msu_mfsd import UPSIDE_DOWN, parse_msu_name, scan_msu
from fasprep.datasets.oulu_npu import scan_oulu
from fasprep.datasets.replay import (
    parse_replay_attack_name,
    scan_replay_attack,
    scan_replay_mobile,
)
from fasprep.errors import DatasetLayoutError, InputError
from fasprep.io import turn_boxes

#: Replay-Attack attacks per protocol and split (FAS_DATASETS.md 2.1, from bob.db.replay's test.py).
REPLAY_ATTACKS = {"grandtest": (300, 300, 400), "print": (60, 60, 80), "mobile": (120, 120, 160),
                  "highdef": (120, 120, 160), "photo": (180, 180, 240), "video": (120, 120, 160)}
SPLITS3 = ("train", "dev", "test")


def dry_run(dataset, raw, out) -> str:
    res = CliRunner().invoke(main, ["build", dataset, str(raw), str(out), "--dry-run"])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def replay_tree(tmp_path_factory):
    """The 1,300 Replay-Attack videos (enrolment ones included), a face file for two, a list file."""
    face = "0 10 20 100 120\n0 0 0 0 0\n2 12 20 100 120\n"
    return rt.placeholder_tree(tmp_path_factory.mktemp("replay") / "replayattack", rt.replay_attack_names(), {
        "face-locations/train/real/client001_session01_webcam_authenticate_adverse_1.face": face,
        "test/attack/fixed/attack_print_client101_session01_highdef_photo_adverse.face": face,
        "clients.txt": "1 train\n"})


def test_replay_attack_dry_run(replay_tree, tmp_path):
    names = [n[:-4] for n in rt.replay_attack_names() if not n.startswith("enroll/")]
    text = dry_run("replay-attack", replay_tree, tmp_path)
    assert "1,200 videos" in text and "Unknown files (not Replay-Attack videos, skipped): 101" in text
    assert "Frames known for 2 of 1,200 videos (6 frames" in text
    folder = {"train": "train", "dev": "devel", "test": "test"}
    keep = {"grandtest": lambda f: True, "print": lambda f: f[1] == "print", "mobile": lambda f: f[1] == "mobile",
            "highdef": lambda f: f[1] == "highdef", "photo": lambda f: f[5] == "photo",
            "video": lambda f: f[5] == "video"}
    protocols = sorted(p.name for p in (tmp_path / "protocols").iterdir())
    assert protocols == sorted(f"replayattack-{p}{s}" for p in REPLAY_ATTACKS for s in ("", "-fixed", "-hand"))
    for protocol, sizes in REPLAY_ATTACKS.items():
        for support in ("", "fixed", "hand"):
            name = f"replayattack-{protocol}" + (f"-{support}" if support else "")
            for split, n_attacks in zip(SPLITS3, sizes):
                rows = read_protocol(tmp_path, name, split)
                real = [n for n in names if n.startswith(f"{folder[split]}/real/")]
                attacks = [n for n in names if n.startswith(f"{folder[split]}/attack/{support}")
                           and keep[protocol](n.rsplit("/", 1)[1].split("_"))]
                assert len(real) == {"train": 60, "dev": 60, "test": 80}[split]
                assert len(attacks) == (n_attacks // 2 if support else n_attacks), (name, split)
                assert [r.video_id for r in rows] == sorted(real + attacks), (name, split)
                for r in rows:
                    stem = r.video_id.rsplit("/", 1)[1]
                    assert r.label == ("live" if "/real/" in r.video_id else
                                       "print" if stem.startswith("attack_print") else "replay")
    # the MCIO "I" domain: train + test, dev excluded
    grand = {s: read_protocol(tmp_path, "replayattack-grandtest", s) for s in SPLITS3}
    assert len(grand["train"]) + len(grand["test"]) == 840


def test_replay_attack_records(replay_tree):
    scan = scan_replay_attack(replay_tree.parent)  # the folder above the release also works
    assert scan.root == replay_tree and len(scan.records) == 1200 and scan.warnings == []
    by_id = {r.video_id: r for r in scan.records}
    r = by_id["devel/attack/hand/attack_mobile_client016_session01_mobile_video_controlled"]
    assert (r.split, r.label, r.attack, r.subject, r.dataset) == ("dev", "replay", "replay-mobile-video", 16,
                                                                  "replay-attack")
    assert r.codes == {"client": 16, "session": 1, "attack_device": "mobile", "support": "hand",
                       "sample_device": "mobile", "sample_type": "video", "light": "controlled"}
    r = by_id["train/real/client001_session01_webcam_authenticate_adverse_1"]
    assert (r.split, r.label, r.attack, r.codes) == ("train", "live", "live", {"client": 1, "session": 1,
                                                                               "light": "adverse", "take": 1})
    assert r.face_path == replay_tree / "face-locations" / "train" / "real" / (r.video_id.rsplit("/")[-1] + ".face")
    assert by_id["test/attack/fixed/attack_print_client101_session01_highdef_photo_adverse"].face_path is not None
    assert sum(r.face_path is not None for r in scan.records) == 2
    assert {r.split for r in scan.records} == set(SPLITS3)
    assert len([u for u in scan.unknown if u.startswith("enroll/")]) == 100 and "clients.txt" in scan.unknown


def test_replay_attack_inconsistencies(tmp_path):
    for name in ("train/real/client001_session01_webcam_authenticate_adverse_1.mov",
                 "test/real/client001_session01_webcam_authenticate_adverse_2.mov",
                 "train/attack/real/client002_session01_webcam_authenticate_adverse_1.mov",
                 "train/attack/fixed/client003_session01_webcam_authenticate_adverse_1.mov",
                 "train/attack/fixed/attack_laser_client003_session01_highdef_photo_adverse.mov"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    scan = scan_replay_attack(tmp_path)
    text = "\n".join(scan.warnings)
    assert "client 1 is in more than one split (test, train)" in text
    assert "client003_session01_webcam_authenticate_adverse_1: a real name in the 'attack' folder" in text
    assert "attack_laser_client003_session01_highdef_photo_adverse: skipped" in text
    assert "train/attack/real/client002_session01_webcam_authenticate_adverse_1.mov" in scan.unknown
    with pytest.raises(DatasetLayoutError, match="not a Replay-Attack tree"):
        scan_replay_attack(tmp_path / "train" / "real")
    with pytest.raises(DatasetLayoutError, match="not a Replay-Attack video name"):
        parse_replay_attack_name("client001_session01_webcam_enroll_adverse")


def test_replay_mobile_protocols(tmp_path):
    names = [n[:-4] for n in rt.replay_mobile_names()]
    rt.placeholder_tree(tmp_path / "raw", rt.replay_mobile_names())
    dry_run("replay-mobile", tmp_path / "raw", tmp_path / "out")
    folder = {"train": "train", "dev": "devel", "test": "test"}
    sizes = {"grandtest": (192, 256, 192), "print": (96, 128, 96), "mattescreen": (96, 128, 96)}  # FAS_DATASETS 2.2
    for protocol, attacks in sizes.items():
        for split, n_attacks, n_real in zip(SPLITS3, attacks, (120, 160, 110)):
            rows = read_protocol(tmp_path / "out", f"replaymobile-{protocol}", split)
            real = [n for n in names if n.startswith(f"{folder[split]}/real/")]
            attack = [n for n in names if n.startswith(f"{folder[split]}/attack/")
                      and protocol in ("grandtest", n.rsplit("/", 1)[1].split("_")[3])]
            assert (len(real), len(attack)) == (n_real, n_attacks), (protocol, split)
            assert [r.video_id for r in rows] == sorted(real + attack)
    r = next(r for r in scan_replay_mobile(tmp_path / "raw").records if "mattescreen" in r.video_id)
    assert (r.label, r.attack, r.codes["support"]) == ("replay", f"replay-mattescreen-{r.codes['sample_type']}",
                                                       "fixed")


# --------------------------------------------------------------------------------- CASIA-FASD

#: What each CASIA file is, written here from FAS_DATASETS.md section 3 (quality as in Bob).
CASIA_TYPE = {"1": "real", "2": "real", "HR_1": "real", "3": "warped", "4": "warped", "HR_2": "warped",
              "5": "cut", "6": "cut", "HR_3": "cut", "7": "video", "8": "video", "HR_4": "video"}
CASIA_QUALITY = {f: "high" if f.startswith("HR") else ("normal" if int(f) % 2 else "low") for f in CASIA_TYPE}


@pytest.fixture(scope="module")
def casia_tree(tmp_path_factory):
    return rt.placeholder_tree(tmp_path_factory.mktemp("casia") / "CASIA_faceAntisp", rt.casia_names(), {
        "face-locations/test_release/3/HR_4.face": "0 1 2 3 4\n1 1 2 3 4\n2 1 2 3 4\n"})


def test_casia_dry_run(casia_tree, tmp_path):
    names = [n[:-4] for n in rt.casia_names()]
    text = dry_run("casia-fasd", casia_tree, tmp_path)
    assert "600 videos" in text and "Frames known for 1 of 600 videos (3 frames" in text
    sizes = {"overall": (240, 360), "low": (80, 120), "normal": (80, 120), "high": (80, 120),
             "warped": (120, 180), "cut": (120, 180), "video": (120, 180)}
    assert sorted(p.name for p in (tmp_path / "protocols").iterdir()) == sorted(f"casia-{p}" for p in sizes)
    for protocol, (n_train, n_test) in sizes.items():
        for split, n in (("train", n_train), ("test", n_test)):
            def keep(name):
                code = name.rsplit("/", 1)[1]
                if protocol in ("low", "normal", "high"):
                    return CASIA_QUALITY[code] == protocol
                return protocol == "overall" or CASIA_TYPE[code] in ("real", protocol)
            want = sorted(v for v in names if v.startswith(f"{split}_release/") and keep(v))
            rows = read_protocol(tmp_path, f"casia-{protocol}", split)
            assert len(rows) == n and [r.video_id for r in rows] == want, (protocol, split)
            for r in rows:
                kind = CASIA_TYPE[r.video_id.rsplit("/", 1)[1]]
                assert r.label == {"real": "live", "warped": "print", "cut": "print", "video": "replay"}[kind]
    assert not (tmp_path / "protocols" / "casia-overall" / "dev.csv").exists()  # CASIA has no dev split


def test_casia_records(casia_tree):
    scan = scan_casia(casia_tree)
    assert len(scan.records) == 600 and scan.warnings == [] and scan.unknown == []
    by_id = {r.video_id: r for r in scan.records}
    r = by_id["test_release/3/HR_4"]
    assert (r.split, r.label, r.attack, r.subject) == ("test", "replay", "replay-video", 23)
    assert r.codes == {"folder": 3, "file": "HR_4", "quality": "high"} and r.face_path is not None
    assert by_id["train_release/3/2"].subject == 3 and by_id["train_release/3/2"].codes["quality"] == "low"
    # HR_4 is a replay, not live (a known pitfall); train and test subjects never collide
    assert [f for f, (label, _, _) in CASIA_FILES.items() if label == "live"] == ["1", "2", "HR_1"]
    subjects = {s: {r.subject for r in scan.records if r.split == s} for s in ("train", "test")}
    assert subjects == {"train": set(range(1, 21)), "test": set(range(21, 51))}


# ---------------------------------------------------------------------------------- MSU-MFSD


def test_msu_dry_run_and_rotation(tmp_path):
    raw = rt.placeholder_tree(tmp_path / "MSU-MFSD", rt.msu_names())
    text = dry_run("msu-mfsd", raw, tmp_path / "out")
    assert "280 videos" in text
    for split, subjects, n in (("train", rt.MSU_TRAIN, 120), ("test", rt.MSU_TEST, 160)):
        rows = read_protocol(tmp_path / "out", "msu-mfsd", split)
        want = sorted(v[len("scene01/"):-4] for v in rt.msu_names() if int(v.split("_client")[1][:3]) in subjects)
        assert len(rows) == n and [r.video_id for r in rows] == want
        assert {r.label for r in rows if "printed_photo" in r.video_id} == {"print"}
        assert {r.label for r in rows if r.video_id.startswith("real/")} == {"live"}
    scan = scan_msu(raw)
    turned = sorted(r.video_id for r in scan.records if r.rotation_deg)
    assert turned == [f"real/real_client00{c}_android_SD_scene01" for c in (3, 5, 6, 7, 8, 9)] == sorted(UPSIDE_DOWN)
    assert {r.rotation_deg for r in scan.records} == {0, 180}
    r = next(r for r in scan.records if r.video_id == "attack/attack_client013_laptop_SD_ipad_video_scene01")
    assert (r.split, r.label, r.attack, r.codes) == ("test", "replay", "replay-ipad",
                                                     {"client": 13, "camera": "laptop", "instrument": "ipad_video"})
    # the release's own subject lists decide; a difference from the published ones is a warning
    (raw / "train_sub_list.txt").write_text("".join(f"{s:02d}\n" for s in rt.MSU_TRAIN[:-1]))
    (raw / "test_sub_list.txt").write_text("".join(f"{s:02d}\n" for s in rt.MSU_TEST + [55]))
    scan = scan_msu(raw)
    text = "\n".join(scan.warnings)
    assert "train_sub_list.txt: subjects" in text and "test_sub_list.txt: subjects" in text and len(scan.warnings) == 2
    assert {r.split for r in scan.records if r.subject == 55} == {"test"}
    (raw / "train_sub_list.txt").write_text("".join(f"{s:02d}\n" for s in rt.MSU_TRAIN))
    (raw / "test_sub_list.txt").write_text("".join(f"{s:02d}\n" for s in rt.MSU_TEST))
    assert scan_msu(raw).warnings == [] and scan_msu(raw).unknown == []
    with pytest.raises(DatasetLayoutError, match="not an MSU-MFSD video name"):
        parse_msu_name("real_client001_laptop_SD_printed_photo_scene01")


def test_mcio_domain_counts(replay_tree, casia_tree, tmp_path):
    """Train + test of each domain, dev excluded (FAS_DATASETS.md 6.1: M 70/210, C 150/450,
    I 140/700, O 720/2880 real/attack), from the records' split."""
    msu = rt.placeholder_tree(tmp_path / "msu", rt.msu_names())
    oulu = rt.placeholder_tree(tmp_path / "oulu", rt.oulu_names())
    for scan, want in ((scan_msu(msu), (70, 210)), (scan_casia(casia_tree), (150, 450)),
                       (scan_replay_attack(replay_tree), (140, 700)), (scan_oulu(oulu), (720, 2880))):
        used = [r for r in scan.records if r.split.lower() in ("train", "test")]
        assert (sum(r.label == "live" for r in used), sum(r.label != "live" for r in used)) == want
        assert {r.split.lower() for r in scan.records} <= {"train", "dev", "test"}


# ------------------------------------------------------------------------------- face files


def test_xywh_boxes(tmp_path):
    path = tmp_path / "a.face"
    path.write_text("0 10 20 100 120\n0 0 0 0 0\n3 12 20 100 120\n0 0 0 0 0\n")
    boxes = read_xywh_boxes(path)
    assert boxes.shape == (4, 4) and np.isnan(boxes[1:3]).all()  # the zero rows' frame numbers are not used
    assert boxes[0].tolist() == [10, 20, 110, 140] and boxes[3].tolist() == [12, 20, 112, 140]
    with pytest.warns(UserWarning, match="4 face rows for 6 video frames"):
        assert read_xywh_boxes(path, n_frames=6).shape == (6, 4)
    path.write_text("5 1 2 3 4\n")  # placed by its frame number
    assert read_xywh_boxes(path).shape == (6, 4)


def test_corner_csv(tmp_path):
    path = tmp_path / "a.face"
    path.write_text("0,10.5,20,110,140,40,60,80,60\n1,0,0,0,0,0,0,0,0\n2,11,20,111,140\n")
    boxes = read_corner_csv(path)
    assert boxes[0].tolist() == [10.5, 20, 110, 140] and np.isnan(boxes[1]).all() and boxes[2, 0] == 11


@pytest.mark.parametrize("reader, text, match", [
    (read_xywh_boxes, "0 1 2 3\n", "line 1: expected 5 numbers"),
    (read_xywh_boxes, "0 1 2 3 4\n0 1 2 3 4\n", "line 2: frame 0 appears twice"),
    (read_xywh_boxes, "1.5 1 2 3 4\n", "line 1: frame number 1.5"),
    (read_corner_csv, "0,1,2,3\n", "line 1: expected 5 numbers"),
    (read_corner_csv, "0,1,2,3,x\n", "line 1: not numbers"),
    (read_corner_csv, "-1,1,2,3,4\n", "line 1: frame number -1"),
])
def test_face_files_malformed(tmp_path, reader, text, match):
    path = tmp_path / "bad.face"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        reader(path)


def test_turn_boxes():
    box = np.array([[10, 20, 50, 80]], np.float32)  # in a 100 x 200 (w x h) frame
    assert turn_boxes(box, 180, (100, 200)).tolist() == [[50, 120, 90, 180]]
    assert turn_boxes(box, 90, (100, 200)).tolist() == [[120, 10, 180, 50]]
    assert turn_boxes(turn_boxes(box, 90, (100, 200)), 270, (200, 100)).tolist() == box.tolist()


def test_registry_has_the_new_adapters():
    for name in ("replay-attack", "replay-mobile", "casia-fasd", "msu-mfsd"):
        assert DATASETS[name].name == name and DATASETS[name].prior_format
