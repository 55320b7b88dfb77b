"""Face tracking and the skin region on real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fasprep import face
from fasprep.errors import InputError
from fasprep.io import iter_frames


def load_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def edges(loop):
    return {frozenset(e) for e in zip(loop, loop[1:] + loop[:1])}


@pytest.mark.parametrize("name,loop", [("FACEMESH_FACE_OVAL", face.FACE_OVAL), ("FACEMESH_LEFT_EYE", face.LEFT_EYE),
                                       ("FACEMESH_RIGHT_EYE", face.RIGHT_EYE), ("FACEMESH_LIPS", face.LIPS_OUTER)])
def test_loops_are_mediapipe_contours(name, loop):
    import mediapipe as mp

    mp_edges = {frozenset(e) for e in getattr(mp.solutions.face_mesh, name)}
    assert edges(loop) <= mp_edges
    assert len(set(loop)) == len(loop)


@pytest.mark.parametrize("name,brow", [("FACEMESH_LEFT_EYEBROW", face.LEFT_BROW), ("FACEMESH_RIGHT_EYEBROW", face.RIGHT_BROW)])
def test_brow_polygons_are_mediapipe_polylines(name, brow):
    import mediapipe as mp

    mp_edges = {frozenset(e) for e in getattr(mp.solutions.face_mesh, name)}
    upper, lower = brow[:5], brow[5:]
    assert {frozenset(e) for e in zip(upper, upper[1:])} | {frozenset(e) for e in zip(lower, lower[1:])} == mp_edges


@pytest.fixture(scope="module")
def tracker():
    with face.FaceTracker(static_image=True) as t:
        yield t


@pytest.mark.parametrize("image", ["astronaut.png", "silent-face/image_T1.jpg", "silent-face/image_T2.jpg"])
def test_landmarks_on_real_faces(real_data, tracker, image):
    rgb = load_rgb(real_data / "images" / image)
    lm = tracker.landmarks(rgb)
    assert lm.shape == (478, 3) and lm.dtype == np.float32
    h, w = rgb.shape[:2]
    assert np.all((lm[:, :2] >= -5) & (lm[:, :2] <= [w + 5, h + 5]))
    # z grows towards the camera: the nose tip is nearer than the cheeks' outline.
    assert lm[1, 2] > lm[234, 2] and lm[1, 2] > lm[454, 2]
    # Anatomy: the subject's left eye is on the image's right, the chin below the nose.
    assert lm[list(face.LEFT_EYE)].mean(0)[0] > lm[list(face.RIGHT_EYE)].mean(0)[0]
    assert lm[152, 1] > lm[1, 1] > lm[10, 1]


def test_no_face_gives_none(real_data, tracker):
    frame = next(iter_frames(real_data / "video" / "no_face.mp4"))
    assert tracker.landmarks(frame) is None


def test_skin_mask_is_skin(real_data, tracker):
    rgb = load_rgb(real_data / "images" / "astronaut.png")
    lm = tracker.landmarks(rgb)
    mask = face.skin_mask(lm, rgb.shape)
    assert 2000 < mask.sum() < 0.2 * mask.size
    # Eye centres and the mouth centre are holes; cheeks (between eye and mouth corner) are skin.
    for idx in (468, 473, 13):  # iris centres, inner upper lip
        x, y = np.round(lm[idx, :2]).astype(int)
        assert not mask[y, x]
    cheek = np.round((lm[face.LEFT_EYE[0], :2] + lm[291, :2]) / 2).astype(int)
    assert mask[cheek[1], cheek[0]]
    # Skin is skin-coloured: redder than it is blue, unlike the background.
    mean = rgb[mask].mean(0)
    assert mean[0] > mean[2] + 20


def test_skin_mean_rgb_equals_full_frame_mask_mean(real_data, tracker):
    rgb = load_rgb(real_data / "images" / "silent-face" / "image_T1.jpg")
    lm = tracker.landmarks(rgb)
    expected = rgb[face.skin_mask(lm, rgb.shape)].mean(0)
    np.testing.assert_allclose(face.skin_mean_rgb(rgb, lm), expected, atol=1e-6)


def test_skin_mean_outside_frame_is_nan(real_data, tracker):
    rgb = load_rgb(real_data / "images" / "astronaut.png")
    lm = tracker.landmarks(rgb) + 5000
    assert np.all(np.isnan(face.skin_mean_rgb(rgb, lm)))


def test_landmark_shape_is_checked():
    with pytest.raises(InputError, match=r"landmarks: expected shape \(478, 2 or 3\)"):
        face.skin_mask(np.zeros((68, 2)), (100, 100))
    with pytest.raises(InputError, match=r"landmarks: expected shape \(478, 2 or 3\)"):
        face.skin_mask(np.zeros((478, 4)), (100, 100))


def test_skin_trace_flags_face_loss(real_data):
    rgb, ok, info = face.skin_trace(real_data / "video" / "face_noface.mov")
    assert len(rgb) == len(ok) == 169 and info.fps == pytest.approx(26.4, abs=0.1)
    # A face for the first 72 frames, then none.
    assert ok[:70].all() and not ok[75:].any()
    assert np.all(np.isnan(rgb[~ok])) and np.all(np.isfinite(rgb[ok]))
