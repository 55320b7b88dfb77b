"""3DMM fit and depth rendering on real faces (the sfm path needs FASPREP_SFM_DIR, as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasprep import depth, face
from fasprep.errors import ModelAssetError

IMAGES = ["astronaut.png", "silent-face/image_T1.jpg", "silent-face/image_T2.jpg"]


@pytest.fixture(scope="module")
def sfm(shared_data):
    """The Surrey Face Model: FASPREP_SFM_DIR (CI sets it), else ../shared/models/sfm."""
    folder = os.environ.get("FASPREP_SFM_DIR") or shared_data.parent / "models" / "sfm"
    if not (Path(folder) / "sfm_shape_3448.bin").is_file():
        pytest.skip(f"no Surrey Face Model in {folder}")
    return depth.load_sfm(folder)


@pytest.fixture(scope="module")
def landmarks(shared_data):
    """image name -> (landmarks of the image, landmarks of its mirror image)."""
    out = {}
    with face.FaceTracker(static_image=True) as tracker:
        for name in IMAGES:
            rgb = cv2.cvtColor(cv2.imread(str(shared_data / "images" / name)), cv2.COLOR_BGR2RGB)
            out[name] = (tracker.landmarks(rgb), tracker.landmarks(np.ascontiguousarray(rgb[:, ::-1])))
    return out


def reprojection_error_iod(fit, model, p68):
    """Mean distance of the fitted model's landmark vertices to the image landmarks, in IOD."""
    proj = fit.project()
    vid = depth._contour_vertices(model, proj[:, :2] * (1, -1), p68[:, :2] * (1, -1))
    use = vid >= 0
    iod = np.linalg.norm(p68[36:42, :2].mean(0) - p68[42:48, :2].mean(0))
    return np.linalg.norm(proj[vid[use], :2] - p68[use, :2], axis=1).mean() / iod


def test_ibug68_jaw_lies_on_the_face_oval(landmarks):
    lm, _ = landmarks["astronaut.png"]
    p68 = face.to_ibug68(lm)
    assert p68.shape == (68, 3)
    oval = lm[list(face.FACE_OVAL), :2]
    for point in p68[:17, :2]:  # each jaw point within a pixel of the oval polyline
        seg_a, seg_b = oval, np.roll(oval, -1, axis=0)
        t = np.clip(np.einsum("ij,ij->i", point - seg_a, seg_b - seg_a) / np.einsum("ij,ij->i", seg_b - seg_a, seg_b - seg_a), 0, 1)
        assert np.min(np.linalg.norm(seg_a + t[:, None] * (seg_b - seg_a) - point, axis=1)) < 1.0
    np.testing.assert_allclose(p68[8], lm[152])  # iBUG 9 is the chin
    assert p68[0, 0] < p68[16, 0] and p68[36, 0] < p68[45, 0]  # iBUG 1 and 37 on the image left


@pytest.mark.parametrize("name", IMAGES)
def test_fit_reprojection_within_4_percent_iod(sfm, landmarks, name):
    lm, _ = landmarks[name]
    p68 = face.to_ibug68(lm)
    fit = depth.fit_3dmm(p68, sfm)
    assert reprojection_error_iod(fit, sfm, p68) <= 0.04
    assert fit.vertices.shape == (3448, 3) and np.isfinite(fit.rmse_px)


@pytest.mark.parametrize("name", IMAGES)
def test_sfm_and_mesh_depth_agree(sfm, landmarks, name):
    lm, _ = landmarks[name]
    box = depth.square_box(lm)
    d_sfm, m_sfm = depth.render_depth(depth.fit_3dmm(face.to_ibug68(lm), sfm).project(), sfm.triangles, box)
    d_mesh, m_mesh = depth.render_depth(lm, face.mesh_triangles(), box)
    both = m_sfm & m_mesh
    assert both.sum() > 300
    assert np.corrcoef(d_sfm[both], d_mesh[both])[0, 1] >= 0.9


@pytest.mark.parametrize("name", IMAGES)
def test_mirrored_face_gives_mirrored_depth(sfm, landmarks, name):
    lm, lm_mirror = landmarks[name]
    maps = []
    for points in (lm, lm_mirror):
        fit = depth.fit_3dmm(face.to_ibug68(points), sfm)
        maps.append(depth.render_depth(fit.project(), sfm.triangles, depth.square_box(points)))
    (d, m), (dm, mm) = maps
    both = m & mm[:, ::-1]
    assert np.corrcoef(d[both], dm[:, ::-1][both])[0, 1] >= 0.97


def test_depth_label_properties(landmarks):
    lm, _ = landmarks["astronaut.png"]
    d, mask = depth.render_depth(lm, face.mesh_triangles(), depth.square_box(lm), size=32)
    assert d.shape == (32, 32) and d.dtype == np.float32 and mask.dtype == bool
    assert d.max() == 1.0 and d.min() == 0.0 and not d[~mask].any()
    assert 0.3 < mask.mean() < 0.8
    # The nose tip is the nearest point: its pixel is among the brightest.
    box = depth.square_box(lm)
    nx, ny = ((lm[1, :2] - box[:2]) / (box[2] - box[0]) * 32).astype(int)
    assert d[ny, nx] >= 0.85


def test_rasterize_a_known_triangle():
    # A front triangle over the upper-left half of an 8x8 grid, and a big one behind everything.
    xyz = np.array([[0.0, 0.0, 1.0], [8.0, 0.0, 1.0], [0.0, 8.0, 3.0],
                    [0.0, 0.0, 0.0], [16.0, 0.0, 0.0], [0.0, 16.0, 0.0]])
    z, mask = depth.rasterize(xyz, np.array([[3, 4, 5], [0, 1, 2]]), 8)
    assert mask.all()
    # Pixel centre (x 0.5, y 4.5): z = 1 + 2 * 4.5 / 8 on the front triangle, which wins.
    assert z[4, 0] == pytest.approx(1 + 2 * 4.5 / 8)
    assert z[7, 7] == 0.0
    assert (z > 0.5).sum() == 36  # pixel centres with x + y <= 8


def test_missing_sfm_names_the_options(tmp_path, monkeypatch):
    monkeypatch.setenv("FASPREP_SFM_DIR", str(tmp_path))
    with pytest.raises(ModelAssetError, match=r"fasprep models fetch.*--sfm-dir.*--depth-source mesh"):
        depth.load_sfm()
