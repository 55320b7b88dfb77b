"""Mock SiW trees and presentation-attack videos: measured properties, not just shapes.

- Attacks are what they claim: MediaPipe finds the face in them; the plane moves in
  perspective (a homography estimated from the rendered frames matches the generator's and an
  affine model cannot explain it); a replay has a moire/pixel-grid peak in its spectrum that a
  live frame lacks; a print has its ink texture; neither carries a pulse (rPPG SNR far below a
  live video's, built in the same test).
- make_siw_tree writes SiW's layout (.mov + .face per id, ``.m`` ids included), one box row per
  frame around the face, the truth file, and the same tree for the same seed.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from scipy import ndimage

from fasprep.errors import InputError
from fasprep.face import FaceTracker
from fasprep.io import iter_frames
from fasprep.rppg import rppg_gt, snr_db
from fasprep.synth import animate_face, attacks, synthetic_ppg
from fasprep.synth import mock_tree as mock_siw

FPS = 30.0
SIZE = (640, 360)
MEDIA = [("print", 1), ("print", 2), ("replay", 1), ("replay", 2), ("replay", 3), ("replay", 4)]


def _attack(kind, image, **kw):
    return (attacks.print_attack if kind == "print" else attacks.replay_attack)(image, **kw)


@pytest.fixture(scope="module")
def face():
    return mock_siw.demo_faces()[1]


@pytest.fixture(scope="module")
def clips(face):
    """2 s in memory per kind: frames and MediaPipe landmarks (tracked, video mode)."""
    n = 60
    out = {}
    cases = [("live", 0)] + MEDIA
    for kind, medium in cases:
        if kind == "live":
            frames = list(animate_face(face, np.zeros(n), fps=FPS, size=SIZE, seed=5))
        else:
            frames = list(_attack(kind, face, n=n, fps=FPS, size=SIZE, medium=medium, seed=5))
        with FaceTracker() as tracker:
            lms = [tracker.landmarks(f) for f in frames]
        out[kind, medium] = frames, lms
    return out


def _face_crop(frame, lm, frac=0.6):
    """Square grey crop of the central part of the face (cheeks, nose, eyes), even side."""
    lo, hi = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
    cx, cy = (lo + hi) / 2
    s = int(frac * max(hi - lo)) // 2 * 2
    crop = frame[int(cy) - s // 2:int(cy) + s // 2, int(cx) - s // 2:int(cx) + s // 2]
    return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _spectrum(grey):
    """Power spectrum (Hann-windowed, centred) and radial frequency in cycles/pixel."""
    n = grey.shape[0]
    win = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2((grey - grey.mean()) * win))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(n))
    return power, np.hypot(*np.meshgrid(f, f))


def peak_prominence(grey):
    """Strongest spectral line between 0.12 and 0.5 cycles/pixel over its 7x7 local median.

    A natural image's spectrum is smooth (the periodogram's own scatter gives ~10); a periodic
    pattern (a screen's pixel grid aliased by the camera, a halftone) stands out far above it.
    """
    power, fr = _spectrum(grey)
    ratio = power / np.maximum(ndimage.median_filter(power, size=7), 1e-12)
    return float(ratio[(fr > 0.12) & (fr <= 0.5)].max())


def hf_fraction(grey):
    """Share of the power above 0.3 cycles/pixel (fine texture, noise)."""
    power, fr = _spectrum(grey)
    return float(power[fr > 0.3].sum() / power.sum())


# --- attacks: the face is there ------------------------------------------------------------------

@pytest.mark.parametrize("kind,medium", MEDIA)
def test_face_tracked_in_attack_frames(clips, kind, medium):
    _, lms = clips[kind, medium]
    rate = np.mean([lm is not None for lm in lms])
    assert rate >= 0.9, f"{kind} medium {medium}: face tracked in {rate:.0%} of frames"


# --- attacks: a moving plane seen in perspective -------------------------------------------------

def _apply(H, pts):
    q = np.c_[pts, np.ones(len(pts))] @ H.T
    return q[:, :2] / q[:, 2:]


def _affine_misfit(P, Q):
    """How far the 4th point is from where the affine map of the first three puts it, pixels."""
    A = cv2.getAffineTransform(P[:3].astype(np.float32), Q[:3].astype(np.float32))
    return float(np.linalg.norm(P[3] @ A[:, :2].T + A[:, 2] - Q[3]))


@pytest.mark.parametrize("kind,medium", MEDIA)
def test_homographies_are_perspective(face, kind, medium):
    H = attacks.photo_homographies(kind, face.shape, n=300, fps=FPS, size=SIZE, medium=medium, seed=5)
    h, w = face.shape[:2]
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    height = np.ptp(_apply(H[0], corners)[:, 1])
    misfit = max(_affine_misfit(_apply(H[0], corners), _apply(Hk, corners)) for Hk in H)
    # A similarity or affine motion keeps parallelograms; a tilted plane does not.
    assert misfit > 0.03 * height, (misfit, height)
    assert np.abs(H[:, 2, :2]).max() > 1e-4


@pytest.mark.parametrize("kind,medium", MEDIA)
def test_frames_follow_the_perspective_motion(face, kind, medium):
    """Feature matches between two rendered frames fit the true homography, not an affine map.

    Both models are judged at the corners of the central 60 % of the photo (inside the frame
    for every medium), on the frame pair where the true motion is least affine.
    """
    n = 300
    H = attacks.photo_homographies(kind, face.shape, n=n, fps=FPS, size=SIZE, medium=medium, seed=5)
    h, w = face.shape[:2]
    inner = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.3 * np.array([w, h]) + np.array([w, h]) / 2
    c0 = _apply(H[0], inner)
    k = max(range(0, n, 5), key=lambda j: _affine_misfit(c0, _apply(H[j], inner)))
    frames = list(_attack(kind, face, n=k + 1, fps=FPS, size=SIZE, medium=medium, seed=5))
    orb = cv2.ORB_create(2000)
    kp0, d0 = orb.detectAndCompute(cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY), None)
    kpk, dk = orb.detectAndCompute(cv2.cvtColor(frames[k], cv2.COLOR_RGB2GRAY), None)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d0, dk)
    P = np.float32([kp0[m.queryIdx].pt for m in matches])
    Q = np.float32([kpk[m.trainIdx].pt for m in matches])
    H_est, _ = cv2.findHomography(P, Q, cv2.RANSAC, 2.0)
    A_est, _ = cv2.estimateAffine2D(P, Q, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    truth = _apply(H[k] @ np.linalg.inv(H[0]), c0)
    err_h = np.abs(_apply(H_est, c0) - truth).max()
    err_a = np.abs(c0 @ A_est[:, :2].T + A_est[:, 2] - truth).max()
    assert err_h < 3.0, f"estimated homography off the generator's by {err_h:.1f} px"
    assert err_a > max(2.5, 2.5 * err_h), f"an affine map explains the motion: {err_a:.1f} vs {err_h:.1f} px"


def test_plane_motion_rest_pose_is_identity():
    H = attacks.plane_motion(50, fps=FPS, tilt_deg=0, roll_deg=0, shift=0, zoom=0)
    np.testing.assert_allclose(H, np.broadcast_to(np.eye(3), H.shape), atol=1e-12)
    H = attacks.plane_motion(900, fps=FPS, seed=2)
    # Slow: no frame-to-frame jump larger than a hand makes at 0.5 Hz.
    assert np.abs(np.diff(H[:, :2, 2], axis=0)).max() < 0.01
    assert not np.allclose(H[0], H[-1])


# --- attacks: the medium's marks -----------------------------------------------------------------

@pytest.mark.parametrize("medium", [1, 2, 3, 4])
def test_replay_has_moire_peak_live_does_not(clips, medium):
    def prominence(key):
        frames, lms = clips[key]
        return np.median([peak_prominence(_face_crop(frames[k], lms[k]))
                          for k in range(0, len(frames), 10) if lms[k] is not None])

    live, replay = prominence(("live", 0)), prominence(("replay", medium))
    assert live < 20, live
    assert replay > 4 * live, (replay, live)


@pytest.mark.parametrize("medium", [1, 2])
def test_print_has_ink_texture(clips, medium):
    def hf(key):
        frames, lms = clips[key]
        return np.median([hf_fraction(_face_crop(frames[k], lms[k]))
                          for k in range(0, len(frames), 10) if lms[k] is not None])

    live, printed = hf(("live", 0)), hf(("print", medium))
    assert printed > 3 * live, (printed, live)


def test_bad_arguments_are_named(face):
    with pytest.raises(InputError, match="medium"):
        next(attacks.print_attack(face, n=2, fps=FPS, medium=3))
    with pytest.raises(InputError, match="image"):
        next(attacks.replay_attack(face[..., 0], n=2, fps=FPS))
    with pytest.raises(InputError, match="kind"):
        attacks.photo_homographies("mask", face.shape, n=2, fps=FPS)


# --- rPPG on mock videos ---------------------------------------------------------------------------

RPPG_IDS = ["Train/live/001/001-1-1-1-1", "Train/spoof/001/001-1-2-1-1", "Train/spoof/001/001-1-3-1-1"]


@pytest.fixture(scope="module")
def rppg_tree(tmp_path_factory):
    """10 s live (72 bpm pulse), print and replay videos of one subject, and their rPPG."""
    root = tmp_path_factory.mktemp("mock_rppg")

    def pulse(video_id, n, fs):
        return synthetic_ppg(n, fs=fs, hr_bpm=72.0, seed=3), 72.0

    truth = mock_siw.make_siw_tree(root, RPPG_IDS, faces=mock_siw.demo_faces(), pulse=pulse, seconds=10.0,
                                   size=SIZE, seed=0)
    return root, truth, {t.label: rppg_gt(root / f"{t.video_id}.mov") for t in truth}


def test_live_mock_heart_rate(rppg_tree):
    _, truth, results = rppg_tree
    live = results["live"]
    assert live.face_frames >= 0.95 * live.n_frames
    assert abs(live.hr_bpm - truth[0].hr_bpm) <= 3.0, live.summary()


@pytest.mark.parametrize("label", ["print", "replay"])
def test_attacks_carry_no_pulse(rppg_tree, label):
    """At the live video's injected rate the attacks hold no pulse: their SNR there is far below
    the live video's (measured: live +3.2 dB, print -8.7, replay -5.1). Their SNR at their own
    strongest peak is no test of that: it reads whatever the motion puts in the band, and was
    within 2.4 dB of the live video's on one CPU (print +1.0 against live +3.4)."""
    _, truth, results = rppg_tree
    attack, live = results[label], results["live"]
    assert attack.face_frames >= 0.9 * attack.n_frames, "face lost in the attack video"
    rate = truth[0].hr_bpm
    at_rate = {k: snr_db(r.pulse, fs=r.fps, hr_bpm=rate) for k, r in (("attack", attack), ("live", live))}
    assert at_rate["attack"] <= at_rate["live"] - 6.0, at_rate


def test_attacks_filmed_against_the_live_background(rppg_tree):
    """No background cue: an attack's frame corners show what the live video's corners show."""
    root, truth, _ = rppg_tree
    corners = []
    for t in truth:
        frame = next(iter_frames(root / f"{t.video_id}.mov")).astype(float)
        corners.append([frame[:24, :24].mean(axis=(0, 1)), frame[:24, -24:].mean(axis=(0, 1)),
                        frame[-24:, :24].mean(axis=(0, 1)), frame[-24:, -24:].mean(axis=(0, 1))])
    live, printed, replayed = np.array(corners)
    assert np.abs(printed - live).max() < 12 and np.abs(replayed - live).max() < 12


def test_face_files_hold_one_box_per_frame_around_the_face(rppg_tree):
    root, truth, _ = rppg_tree
    with FaceTracker(static_image=True) as tracker:
        for t in truth:
            boxes = np.loadtxt(root / f"{t.video_id}.face", dtype=np.int64, ndmin=2)
            frames = list(iter_frames(root / f"{t.video_id}.mov"))
            assert boxes.shape == (len(frames), 4)
            missing = (boxes == 0).all(axis=1)
            assert 0 < missing.sum() <= 0.06 * len(frames)
            inside = []
            for k in range(0, len(frames), 15):
                lm = tracker.landmarks(frames[k])
                if lm is None or missing[k]:
                    continue
                x1, y1, x2, y2 = boxes[k]
                (fx1, fy1), (fx2, fy2) = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
                area = (x2 - x1) * (y2 - y1) / ((fx2 - fx1) * (fy2 - fy1))
                centred = x1 <= (fx1 + fx2) / 2 <= x2 and y1 <= (fy1 + fy2) / 2 <= y2
                inside.append(centred and 0.8 < area < 2.5)
            assert np.mean(inside) >= 0.9, inside


# --- the tree --------------------------------------------------------------------------------------

SMALL_IDS = ["Test/live/153/153-2-1-1-1.m", "Train/spoof/001/001-1-2-2-1", "Train/spoof/001/001-1-3-3-1"]


def _tree(root, seed):
    return mock_siw.make_siw_tree(root, SMALL_IDS, faces=mock_siw.demo_faces((1, 153)), seconds=1.0,
                                  attack_seconds=0.5, size=(320, 180), seed=seed)


def test_tree_layout_and_truth(tmp_path):
    truth = _tree(tmp_path, 0)
    assert [t.video_id for t in truth] == SMALL_IDS
    assert [t.label for t in truth] == ["live", "print", "replay"]
    assert 55 <= truth[0].hr_bpm <= 110 and truth[1].hr_bpm is None and truth[2].hr_bpm is None
    assert (tmp_path / "Test/live/153/153-2-1-1-1.m.mov").is_file()
    assert (tmp_path / "Test/live/153/153-2-1-1-1.m.face").is_file()
    for t, n in zip(truth, (30, 15, 15)):
        frames = list(iter_frames(tmp_path / f"{t.video_id}.mov"))
        assert len(frames) == n and frames[0].shape == (180, 320, 3)
        lines = (tmp_path / f"{t.video_id}.face").read_text().splitlines()
        assert len(lines) == n and all(len(line.split()) == 4 for line in lines)
    saved = json.loads((tmp_path / "mock_truth.json").read_text())
    assert saved == [{"video_id": t.video_id, "label": t.label, "hr_bpm": t.hr_bpm} for t in truth]
    assert mock_siw.read_truth(tmp_path) == truth
    assert not list(tmp_path.rglob(".*tmp*")), "temporary files left behind"


def test_tree_is_deterministic(tmp_path):
    a, b, c = (_tree(tmp_path / name, seed) for name, seed in (("a", 0), ("b", 0), ("c", 1)))
    assert a == b
    for vid in SMALL_IDS:
        face_a = (tmp_path / "a" / f"{vid}.face").read_bytes()
        assert face_a == (tmp_path / "b" / f"{vid}.face").read_bytes()
        assert face_a != (tmp_path / "c" / f"{vid}.face").read_bytes()
        # the same bytes (fasprep.io.X264_PARAMS: x264's default rate control did not give them)
        assert (tmp_path / "a" / f"{vid}.mov").read_bytes() == (tmp_path / "b" / f"{vid}.mov").read_bytes()
        fa, fc = (np.stack(list(iter_frames(tmp_path / r / f"{vid}.mov"))).astype(np.float32) for r in "ac")
        assert np.abs(fa - fc).mean() > 5.0  # another seed: another video (10-15 grey levels apart)
    truth_a, truth_b = ((tmp_path / name / "mock_truth.json").read_bytes() for name in "ab")
    assert truth_a == truth_b
    assert a[0].hr_bpm != c[0].hr_bpm


def test_tree_rejects_what_siw_lacks(tmp_path):
    faces = mock_siw.demo_faces()
    with pytest.raises(InputError, match="is not a SiW video name"):
        mock_siw.make_siw_tree(tmp_path, ["Train/live/001/001_1_1_1_1"], faces=faces)
    with pytest.raises(InputError, match="no photo for subject"):
        mock_siw.make_siw_tree(tmp_path, ["Train/live/007/007-1-1-1-1"], faces=faces)
    with pytest.raises(InputError, match="medium"):
        mock_siw.make_siw_tree(tmp_path, ["Train/spoof/001/001-1-2-3-1"], faces=faces)
    with pytest.raises(InputError, match="even"):
        mock_siw.make_siw_tree(tmp_path, ["Train/live/001/001-1-1-1-1"], faces=faces, size=(321, 180))
    blank = {1: np.full((200, 200, 3), 128, np.uint8)}
    with pytest.raises(InputError, match="no face"):
        mock_siw.make_siw_tree(tmp_path, ["Train/live/001/001-1-1-1-1"], faces=blank, seconds=0.2)
    assert not list(tmp_path.rglob("*.mov"))


def test_demo_ids_cover_every_type_medium_and_protocol():
    ids = mock_siw.demo_video_ids()
    assert 8 <= len(ids) <= 10 and len(set(ids)) == len(ids)
    codes = [(v.split("/")[0], *map(int, v.rsplit("/", 1)[1].split("-"))) for v in ids]
    assert {(c[3], c[4]) for c in codes} == {(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (3, 4)}
    assert len({c[1] for c in codes}) == 2
    for split in ("Train", "Test"):
        kinds = {c[3] for c in codes if c[0] == split}
        assert kinds == {1, 2, 3}, split  # Protocols 1 and 3 need all three on both sides
    test_replays = {c[4] for c in codes if c[0] == "Test" and c[3] == 3}
    train_replays = {c[4] for c in codes if c[0] == "Train" and c[3] == 3}
    assert test_replays == {1, 2, 3, 4} and len(train_replays) >= 2  # Protocol 2, every fold


def test_demo_faces_differ_and_are_faces():
    faces = mock_siw.demo_faces((4, 9))
    assert set(faces) == {4, 9}
    a, b = faces[4], faces[9]
    assert a.dtype == b.dtype == np.uint8 and a.ndim == b.ndim == 3
    with FaceTracker(static_image=True) as tracker:
        for img in (a, b):
            lm = tracker.landmarks(img)
            assert lm is not None and np.ptp(lm[:, 1]) > 0.25 * img.shape[0]
    small = cv2.resize(b, a.shape[1::-1])
    assert np.abs(small.astype(int) - a.astype(int)).mean() > 20


# --- real material (tests/data) ----------------------------------------------------------------------

@pytest.mark.slow
def test_mock_tree_of_real_ids_faces_and_pulses(tmp_path):
    from siw_tree import COMBOS, build_mock_tree

    truth = build_mock_tree(tmp_path, 1, 1, seconds=1.0, attack_seconds=0.5, size=(320, 180))
    for split in ("Train", "Test"):
        mine = [t for t in truth if t.video_id.startswith(split + "/")]
        names = [t.video_id.rsplit("/", 1)[1].split(".")[0] for t in mine]
        combos = {tuple(int(c) for c in name.split("-")[2:4]) for name in names}
        assert combos == set(COMBOS), split
    for t in truth:
        assert (tmp_path / f"{t.video_id}.mov").is_file() and (tmp_path / f"{t.video_id}.face").is_file()
        assert (t.label == "live") == (t.hr_bpm is not None)
        if t.hr_bpm is not None:
            assert 54 <= t.hr_bpm <= 111


@pytest.mark.slow
def test_real_pulse_recovered_from_mock_live_video(tmp_path):
    from siw_tree import real_faces, welltory_pulse_source

    vid = "Train/live/003/003-1-1-1-1"
    truth = mock_siw.make_siw_tree(tmp_path, [vid], faces=real_faces([3]),
                                   pulse=welltory_pulse_source({vid: 84.0}), seconds=10.0, size=SIZE)
    assert abs(truth[0].hr_bpm - 84.0) < 1.0
    result = rppg_gt(tmp_path / f"{vid}.mov")
    assert abs(result.hr_bpm - truth[0].hr_bpm) <= 3.0, result.summary()
