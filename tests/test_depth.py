"""3DMM fit and depth rendering on real faces (the sfm path needs FASPREP_SFM_DIR, as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasprep import depth, face
from fasprep.errors import ModelAssetError
from sfm import require_sfm

IMAGES = ["astronaut.png", "silent-face/image_T1.jpg", "silent-face/image_T2.jpg"]


@pytest.fixture(scope="module")
def sfm_folder():
    """The Surrey Face Model's folder (tests/sfm.py), else skip."""
    return Path(require_sfm())


@pytest.fixture(scope="module")
def sfm(sfm_folder):
    return depth.load_sfm(sfm_folder)


@pytest.fixture(scope="module")
def landmarks(real_data):
    """image name -> (landmarks of the image, landmarks of its mirror image)."""
    out = {}
    with face.FaceTracker(static_image=True) as tracker:
        for name in IMAGES:
            rgb = cv2.cvtColor(cv2.imread(str(real_data / "images" / name)), cv2.COLOR_BGR2RGB)
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
    assert d.max() == 1.0 and not d[~mask].any()
    # The face spans [floor, 1] on its own scale: its far rim is not the background's 0.
    assert d[mask].min() == pytest.approx(depth.FACE_DEPTH_FLOOR)
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


@pytest.fixture(scope="module")
def moving_face_landmarks():
    """MediaPipe landmarks through 60 frames of a real face photo under small known motion."""
    from fasprep.synth import animate_face, example_face

    frames = animate_face(example_face(), np.zeros(60), fps=30.0, size=(640, 480), motion_px=4.0,
                          rotation_deg=2.0, seed=5)
    with face.FaceTracker() as tracker:
        lm = np.array([tracker.landmarks(f) for f in frames])
    return lm


def frame_to_frame_change(d):
    return np.abs(np.diff(d, axis=0)).mean()


def test_per_video_identity_is_steadier_than_per_frame_fits(sfm, sfm_folder, moving_face_landmarks):
    from fasprep.depth_labels import label_frames

    lm = moving_face_landmarks
    ok = np.ones(len(lm), bool)
    video = label_frames(lm, ok, source="sfm", size=32, sfm_dir=sfm_folder)
    independent = []
    for points in lm:  # the naive design: every frame its own identity, no smoothing
        fit = depth.fit_3dmm(face.to_ibug68(points), sfm)
        independent.append(depth.render_depth(fit.project(), sfm.triangles, depth.square_box(points))[0])
    steady, jittery = frame_to_frame_change(video.depth), frame_to_frame_change(np.array(independent))
    assert steady < jittery, (steady, jittery)
    assert video.depth.shape == (60, 32, 32) and video.face_ok.all()
    assert np.all(video.fit_rmse_px < 10)


def test_nrr_grid_tracks_the_face(sfm_folder, moving_face_landmarks):
    from fasprep.depth_labels import label_frames

    lm = moving_face_landmarks[:10]
    for source in ("sfm", "mesh"):
        labels = label_frames(lm, np.ones(10, bool), source=source, size=32, sfm_dir=sfm_folder)
        g = labels.nrr_grid
        assert g.shape == (10, 32, 32, 2) and g.dtype == np.float32
        inside = labels.mask[0]
        # Where the face is, the grid lies inside the crop, x growing left to right, y top to bottom.
        assert np.all(np.abs(g[0][inside]) <= 1.0)
        assert np.mean(np.diff(g[0, 16, :, 0]) >= 0) > 0.9 and np.mean(np.diff(g[0, :, 16, 1]) >= 0) > 0.9
        # The grid's centre sits near the crop centre (the nose) and moves little between frames.
        assert np.abs(g[:, 16, 16]).max() < 0.3
        assert np.abs(np.diff(g[:, 16, 16], axis=0)).max() < 0.05


def test_depth_cli(real_data, sfm_folder, tmp_path):
    import subprocess
    import sys

    def run(*args):
        env = dict(os.environ, FASPREP_SFM_DIR=str(sfm_folder))
        return subprocess.run([sys.executable, "-m", "fasprep", "depth", *map(str, args)], capture_output=True,
                              text=True, env=env, timeout=300)

    out = tmp_path / "out"
    proc = run(real_data / "video" / "single_face.mp4", "--out", out)
    assert proc.returncode == 0, proc.stderr
    arrays = np.load(out / "single_face_depth.npz")
    assert arrays["depth"].shape == (72, 32, 32) and arrays["depth"].dtype == np.float16
    assert arrays["nrr_grid"].shape == (72, 32, 32, 2) and arrays["face_ok"].all()
    assert arrays["landmarks"].shape == (72, 68, 2) and str(arrays["source"]) == "sfm"
    for png in ("single_face_depth.png", "single_face_depth_sheet.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"

    proc = run(real_data / "images" / "astronaut.png", "--out", out, "--depth-source", "mesh", "--depth-size", "64")
    assert proc.returncode == 0, proc.stderr
    arrays = np.load(out / "astronaut_depth.npz")
    assert arrays["depth"].shape == (1, 64, 64) and not (out / "astronaut_depth_sheet.png").exists()

    for args, reason in [((real_data / "video" / "no_face.mp4",), "no face found"),
                         ((tmp_path / "missing.jpg",), "no such file")]:
        proc = run(*args, "--out", out, "--depth-source", "mesh")
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and reason in proc.stderr

    env = dict(os.environ, FASPREP_SFM_DIR=str(tmp_path / "nowhere"))
    proc = subprocess.run([sys.executable, "-m", "fasprep", "depth", str(real_data / "images" / "astronaut.png"),
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "Surrey Face Model not found" in proc.stderr and "--depth-source mesh" in proc.stderr


@pytest.fixture(scope="module")
def talking_head(real_data):
    """single_face.mp4 tracked as it is and mirrored: (landmarks, mirrored video's landmarks)."""
    from fasprep.io import iter_frames

    frames = list(iter_frames(real_data / "video" / "single_face.mp4"))
    seqs = []
    for mirror in (False, True):
        with face.FaceTracker() as tracker:
            seqs.append(np.array([tracker.landmarks(np.ascontiguousarray(f[:, ::-1]) if mirror else f)
                                  for f in frames]))
    return seqs


def test_video_frames_fit_agree_and_mirror(sfm, sfm_folder, talking_head):
    """single_face.mp4 and its mirror image, through the per-video design, frame by frame."""
    from fasprep.depth_labels import label_frames

    seqs = talking_head
    ok = np.ones(len(seqs[0]), bool)
    sfm_labels = [label_frames(s, ok, source="sfm", sfm_dir=sfm_folder) for s in seqs]
    mesh_labels = label_frames(seqs[0], ok, source="mesh")
    agree, mirrored = [], []
    for t in range(len(ok)):
        a, am = sfm_labels[0].depth[t], sfm_labels[0].mask[t]
        b, bm = sfm_labels[1].depth[t][:, ::-1], sfm_labels[1].mask[t][:, ::-1]
        m, mm = mesh_labels.depth[t], mesh_labels.mask[t]
        agree.append(np.corrcoef(a[am & mm], m[am & mm])[0, 1])
        mirrored.append(np.corrcoef(a[am & bm], b[am & bm])[0, 1])
    agree, mirrored = np.array(agree), np.array(mirrored)
    # The mirrored video is tracked afresh, and MediaPipe's landmarks of a mirrored frame are
    # not the mirror of its landmarks (its network is not mirror-equivariant, and its kernels
    # differ by CPU): a frame where the two trackings part (the clip's last frame, 1.3 degrees
    # of yaw apart here) has a lower r on one machine and another. Measured here: mean 0.988,
    # minimum 0.975 (frame 71), 0.951 on another machine; the fit itself is mirror-symmetric
    # on average, and on all but a few frames to 0.97.
    assert mirrored.mean() >= 0.975 and np.mean(mirrored >= 0.97) >= 0.9 and mirrored.min() >= 0.93, \
        np.sort(mirrored)[:3]
    # sfm-vs-mesh agreement on average and on nearly all frames (independent estimates).
    assert agree.mean() >= 0.9 and np.mean(agree >= 0.9) >= 0.9 and agree.min() >= 0.85, np.sort(agree)[:3]
    labels = sfm_labels[0]
    p68 = np.array([face.to_ibug68(x) for x in seqs[0]])
    iod = np.linalg.norm(p68[:, 36:42, :2].mean(1) - p68[:, 42:48, :2].mean(1), axis=1)
    # fit_rmse_px is the error of the rendered (smoothed) mesh: ~3 % of the eye distance here.
    assert np.mean(labels.fit_rmse_px / iod) <= 0.05
    fits = depth.fit_video(p68, ok, sfm)
    errors = [reprojection_error_iod(fits.frame(sfm, t), sfm, p68[t]) for t in range(len(ok))]
    assert np.mean(errors) <= 0.045


@pytest.mark.parametrize("source", ["sfm", "mesh"])
def test_one_depth_scale_per_video_steadies_the_labels(sfm_folder, talking_head, source):
    """Per-video depth scale against each frame normalised on its own, same geometry."""
    from fasprep.depth_labels import label_frames

    lm = talking_head[0]
    ok = np.ones(len(lm), bool)
    labels = label_frames(lm, ok, source=source, sfm_dir=sfm_folder)
    model = depth.load_sfm(sfm_folder) if source == "sfm" else None
    fits = depth.fit_video(np.array([face.to_ibug68(x) for x in lm]), ok, model) if model else None
    per_frame = []
    for t in range(len(lm)):  # the same meshes, each frame min-max normalised alone
        points = fits.frame(model, t).project() if model else lm[t]
        triangles = model.triangles if model else face.mesh_triangles()
        per_frame.append(depth.render_depth(points, triangles, depth.square_box(lm[t]))[0])
    per_frame = np.array(per_frame)
    both = labels.mask[1:] & labels.mask[:-1]
    video_change = np.abs(np.diff(labels.depth, axis=0))[both].mean()
    frame_change = np.abs(np.diff(per_frame, axis=0))[both].mean()
    # Measured: 70 % (sfm) and 75 % (mesh) less frame-to-frame change; the issue asks 40 %.
    assert video_change <= 0.6 * frame_change, (video_change, frame_change)
    assert labels.depth[labels.mask].min() >= depth.FACE_DEPTH_FLOOR and labels.depth.max() == 1.0


def test_face_loss_gives_zero_labels(real_data):
    from fasprep.depth_labels import depth_labels

    labels, crops = depth_labels(real_data / "video" / "face_noface.mov", source="mesh")
    ok = labels.face_ok
    assert ok[:70].all() and not ok[75:].any()
    assert not labels.depth[~ok].any() and not labels.mask[~ok].any()
    assert np.isnan(labels.nrr_grid[~ok]).all() and np.isnan(labels.box[~ok]).all()
    assert labels.depth[ok].max() == 1.0
    assert all(ok[t] for t in crops)


def test_gate_rejects_a_poor_fit(sfm_folder, talking_head):
    """Landmarks no face can take (a frame's points scattered by 6 % of the face size) are not
    labelled; the real frames around them are (their fit error is 1.5-1.8 % of the face size)."""
    from fasprep.depth_labels import label_frames

    lm = talking_head[0][:24].copy()
    rng = np.random.default_rng(0)
    lm[12, :, :2] += rng.normal(0, 0.06 * face.face_size_px(lm[12]), (478, 2))
    labels = label_frames(lm, np.ones(24, bool), source="sfm", sfm_dir=sfm_folder, frame_size=(640, 360))
    assert labels.reject_reason[12] == "fit_error" and not labels.mask[12].any()
    assert labels.rejected() == {"fit_error": 1} and labels.face_ok.sum() == 23
    size = np.array([face.face_size_px(x) for x in lm])
    assert np.nanmax(np.delete(labels.fit_rmse_px / size, 12)) <= 0.025


def test_stacked_labels_equal_the_per_frame_reference(sfm, sfm_folder, talking_head):
    """The fast path (every frame's fit and rendering as stacked arrays) against the plain path,
    one frame at a time with fit_3dmm and render_z, on the real talking-head video."""
    from fasprep.depth_labels import label_frames

    lm = talking_head[0]
    ok = np.ones(len(lm), bool)
    p68 = np.array([face.to_ibug68(x) for x in lm])
    identity = depth.fit_identity(p68[depth.keyframes(ok)], sfm)
    stacked = depth.fit_frames(p68, sfm, identity)
    reference = [depth.fit_3dmm(x, sfm, identity=identity) for x in p68]
    for key, field in [("scale", "scale"), ("rotation", "rotation"), ("translation", "translation"),
                       ("expression", "expression"), ("rmse_px", "rmse_px")]:
        # Measured: equal to 1e-13 (the same steps; only the order of a few sums differs).
        np.testing.assert_allclose(stacked[key], np.array([getattr(f, field) for f in reference]),
                                   rtol=1e-7, atol=1e-7, err_msg=key)

    # The labels, unsmoothed and ungated, against the per-frame path's.
    labels = label_frames(lm, ok, source="sfm", sfm_dir=sfm_folder, smooth_frames=0, gate=None)
    grid_ids = depth.grid_vertices(sfm.mean[:, :2] * (1.0, -1.0), 32)
    zs, masks, ranges, grids, rmse = [], [], [], [], []
    for t, fit in enumerate(reference):
        box = depth.square_box(lm[t])
        z, mask = depth.render_z(fit.project(), sfm.triangles, box)
        zs.append(z), masks.append(mask), ranges.append(depth.depth_range(z, mask))
        grids.append(depth.nrr_grid(fit.project(), grid_ids, box))
        rmse.append(depth.landmark_rmse_px(fit, sfm, p68[t]))
    scale = depth.video_depth_range(np.array(ranges))
    ref_depth = np.array([depth.normalise_depth(z.astype(np.float32), m, scale=scale) for z, m in zip(zs, masks)])
    # A pixel centre within 1e-9 of a triangle edge could flip; none does here.
    assert (labels.mask != np.array(masks)).sum() <= 2
    both = labels.mask & np.array(masks)
    np.testing.assert_allclose(labels.depth[both], ref_depth[both], atol=1e-5)
    np.testing.assert_allclose(labels.nrr_grid, np.array(grids), atol=1e-5)
    np.testing.assert_allclose(labels.fit_rmse_px, rmse, rtol=1e-5)


def test_labels_leave_the_callers_blas_threads(talking_head):
    """label_frames pins BLAS to one thread while it runs and restores the caller's setting."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from fasprep.depth_labels import label_frames

    def blas_threads():
        return sorted(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        label_frames(talking_head[0][:4], np.ones(4, bool), source="mesh")
        assert blas_threads() == before
