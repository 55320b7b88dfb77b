"""Dense depth labels: a 3D morphable model fitted to face landmarks, rendered with a z-buffer.

Coordinates: image points are (x, y) pixels, y down. Model space is the Surrey Face Model's
(millimetres, x to the subject's left, y up, z towards the viewer). A fitted frame is a scaled
orthographic camera: ``image = s * R[:2] @ v * (1, -1) + t``; its depth is ``s * (R @ v)_z``,
larger = nearer the camera.

The fit alternates a pose step (a 3D alignment to the landmarks' own depth picks among the
mirror-ambiguous orthographic poses, Gauss-Newton on the 2D reprojection refines it) and a
linear shape step (regularised least squares against the PCA basis, blendshapes bounded at 0),
with eos's contour trick: jaw landmarks are matched to the nearest projected model contour
vertex at each iteration. Identity is fitted once per video from keyframes; each frame then fits only pose
and expression, which keeps the face shape from breathing between frames.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize

from .eos_files import read_blendshapes, read_shape_model
from .errors import InputError
from .models import find_sfm

# iBUG jaw rows (0-based) that eos treats as contour points, per side of the subject.
_CONTOUR_RIGHT = np.arange(0, 8)  # iBUG 1-8, image left for a frontal face
_CONTOUR_LEFT = np.arange(9, 17)  # iBUG 10-17


@dataclass(frozen=True)
class FaceModel:
    """A 3D morphable face model as arrays.

    Attributes
    ----------
    mean : (N, 3) float64, mm
    identity : (N * 3, K) float64
        PCA basis scaled by the standard deviations, so identity coefficients are ~N(0, 1).
    expression : (N * 3, E) float64
        Blendshape offsets (coefficients >= 0, about 0-1).
    triangles : (M, 3) int32
    landmark_vertex : (68,) int64
        Model vertex of each iBUG point; -1 for the contour points (matched per fit) and for
        the inner lip line 61-68, which is left out: MediaPipe puts it where the lips meet, the
        SFM's vertices a lip's thickness apart, 10 % of the eye distance off on a closed mouth.
    contour_right, contour_left : (C,) int64
        Candidate vertices of the face outline on the subject's right and left.
    """

    mean: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    triangles: np.ndarray
    landmark_vertex: np.ndarray
    contour_right: np.ndarray
    contour_left: np.ndarray


@functools.lru_cache(maxsize=4)
def _load_sfm_cached(folder: str) -> FaceModel:
    root = Path(folder)
    shape = read_shape_model(root / "sfm_shape_3448.bin")
    blendshapes = read_blendshapes(root / "expression_blendshapes_3448.bin")
    mapping = {}
    for line in (root / "ibug_to_sfm.txt").read_text().splitlines():
        m = re.match(r"\s*(\d+)\s*=\s*(\d+)", line)
        if m:
            mapping[int(m.group(1))] = int(m.group(2))
    contours = json.loads((root / "sfm_model_contours.json").read_text())["model_contour"]
    return FaceModel(
        mean=shape.mean.astype(np.float64).reshape(-1, 3),
        identity=shape.rescaled_basis.astype(np.float64),
        expression=np.stack([d.astype(np.float64) for _, d in blendshapes], axis=1),
        triangles=shape.triangles,
        landmark_vertex=np.array([mapping.get(k, -1) if k < 61 else -1 for k in range(1, 69)]),
        contour_right=np.asarray(contours["right_contour"]),
        contour_left=np.asarray(contours["left_contour"]),
    )


def _shape(model: FaceModel, identity: np.ndarray, expression: np.ndarray | None = None) -> np.ndarray:
    """Vertices (N, 3) of the model for identity (and expression) coefficients."""
    v = model.mean + (model.identity @ identity).reshape(-1, 3)
    if expression is not None:
        v = v + (model.expression @ expression).reshape(-1, 3)
    return v


def load_sfm(sfm_dir: str | os.PathLike | None = None) -> FaceModel:
    """Load the Surrey Face Model 3448 with its expression blendshapes (see :mod:`fasprep.models`)."""
    return _load_sfm_cached(str(find_sfm(sfm_dir)))


@dataclass
class Fit:
    """A fitted face in one image.

    Attributes
    ----------
    scale : float, pixels per mm
    rotation : (3, 3) float64, model to camera
    translation : (2,) float64, pixels (image x; y up, i.e. ``-y``)
    identity : (K,) float64
    expression : (E,) float64
    vertices : (N, 3) float64, model space, mm
    rmse_px : float
        Root-mean-square landmark reprojection error, pixels.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    vertices: np.ndarray
    rmse_px: float

    def project(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """Image positions (x, y pixels, y down) and depth (pixels, larger = nearer): (N, 3)."""
        v = self.vertices if vertices is None else vertices
        cam = self.scale * v @ self.rotation.T
        return np.column_stack([cam[:, 0] + self.translation[0], -(cam[:, 1] + self.translation[1]), cam[:, 2]])


def _scaled_rotation(X: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scaled orthographic camera from 3D-2D pairs: nearest scaled rotation to the affine fit."""
    Xm, xm = X.mean(axis=0), x.mean(axis=0)
    P = np.linalg.lstsq(X - Xm, x - xm, rcond=None)[0].T  # (2, 3)
    u, sv, vt = np.linalg.svd(P, full_matrices=False)
    r12 = u @ vt
    R = np.vstack([r12, np.cross(r12[0], r12[1])])
    s = float(sv.mean())
    return s, R, xm - s * r12 @ Xm


def _similarity(X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scaled rotation from 3D-3D pairs (Umeyama 1991): ``Y ~ s R X + t``; returns s, R, t[:2]."""
    Xm, Ym = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - Xm, Y - Ym
    u, sv, vt = np.linalg.svd(Yc.T @ Xc)
    d = np.sign(np.linalg.det(u @ vt))
    D = np.diag([1.0, 1.0, d])
    R = u @ D @ vt
    s = float((sv * np.diag(D)).sum() / (Xc ** 2).sum())
    return s, R, (Ym - s * R @ Xm)[:2]


def _pose(X: np.ndarray, pts: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Camera from model points and image points: 3D similarity when the points carry depth
    (MediaPipe's z removes the pitch/yaw reversal ambiguity of an orthographic view), else the
    scaled orthographic fit to x, y."""
    if pts.shape[1] == 3:
        # Start from the 3D alignment, then move to the nearest 2D reprojection optimum: the
        # image decides the pose, MediaPipe's depth only which of the mirror-ambiguous ones.
        _, R, _ = _similarity(X, pts)
        q = X @ R[:2].T
        qm, pm = q.mean(axis=0), pts[:, :2].mean(axis=0)
        s = float(((q - qm) * (pts[:, :2] - pm)).sum() / ((q - qm) ** 2).sum())
        return _refine_pose(X, pts[:, :2], s, R, pm - s * qm)
    return _scaled_rotation(X, pts)


def _refine_pose(X: np.ndarray, xy: np.ndarray, s: float, R: np.ndarray, t: np.ndarray,
                 n_iter: int = 6) -> tuple[float, np.ndarray, np.ndarray]:
    """Gauss-Newton on the 2D reprojection error over rotation (left increment), scale and shift."""
    n = len(X)
    for _ in range(n_iter):
        Y = X @ R.T  # rotated points
        r = (s * Y[:, :2] + t - xy).ravel()
        # d(s * (exp(w) Y)[:2]) / dw = s * (w x Y)[:2] = -s * skew(Y)[:2]
        J = np.zeros((2 * n, 6))
        J[0::2, 0:3] = s * np.column_stack([np.zeros(n), Y[:, 2], -Y[:, 1]])
        J[1::2, 0:3] = s * np.column_stack([-Y[:, 2], np.zeros(n), Y[:, 0]])
        J[0::2, 3], J[1::2, 3] = Y[:, 0], Y[:, 1]
        J[0::2, 4] = 1.0
        J[1::2, 5] = 1.0
        step = np.linalg.lstsq(J, -r, rcond=None)[0]
        w = step[:3]
        angle = np.linalg.norm(w)
        if angle > 1e-12:
            k = w / angle
            K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
            R = (np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K) @ R
        s, t = s + step[3], t + step[4:]
        if angle < 1e-6:
            break
    return float(s), R, t


def _contour_vertices(model: FaceModel, proj: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Model vertex for each iBUG point: fixed ones, and for the jaw the nearest contour vertex.

    -1 where the model defines no vertex (iBUG 61 and 65, the inner mouth corners).
    """
    vid = model.landmark_vertex.copy()
    for rows, cands in ((_CONTOUR_RIGHT, model.contour_right), (_CONTOUR_LEFT, model.contour_left)):
        d = np.linalg.norm(pts[rows, None, :] - proj[None, cands, :2], axis=2)
        vid[rows] = cands[np.argmin(d, axis=1)]
    return vid


def _correspond(model: FaceModel, shape: np.ndarray, pts: np.ndarray, s: float, R: np.ndarray, t: np.ndarray):
    """Match the jaw to the model contour under pose (s, R, t), then re-fit the pose to all matches.

    Returns s, R, t and the matched vertex ids with the rows of ``pts`` they belong to.
    """
    vid = _contour_vertices(model, s * shape @ R[:2].T + t, pts[:, :2])
    use = vid >= 0
    s, R, t = _pose(shape[vid[use]], pts[use])
    return s, R, t, vid[use], use


def _solve_coefficients(blocks: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]], model: FaceModel,
                        base: np.ndarray, *, fit_identity: bool, sigma_mm: float, expression_weight: float,
                        depth_weight: float = 0.0):
    """Regularised least squares for identity (shared) and expression (per frame, >= 0) coefficients.

    ``blocks``: per frame (scale, R, t, vertex ids, image points in y-up coordinates, with an
    optional third column: landmark depth in pixels). Residuals are measured in model
    millimetres (image / scale) against ``sigma_mm``. Depth residuals, centred over the points
    (landmark depth is relative), count with ``depth_weight``.
    """
    K, E = model.identity.shape[1], model.expression.shape[1]
    n_frames = len(blocks)
    n_unknown = (K if fit_identity else 0) + E * n_frames
    rows_a, rows_b = [], []
    for f, (s, R, t, vid, pts) in enumerate(blocks):
        use_z = depth_weight > 0 and pts.shape[1] == 3
        axes = 3 if use_z else 2
        idx = (3 * vid[:, None] + np.arange(3)).ravel()
        rot = R[:axes]
        # residual (mm) = (pts - t)/s - rot @ (base + B a + E b) per point
        target = (pts[:, :axes] - np.r_[t, 0.0][:axes]) / s - base[vid] @ rot.T  # (n, axes)
        weights = np.array([1.0, 1.0, depth_weight])[:axes]

        def project_basis(basis):
            b = np.einsum("ij,njk->nik", rot, basis[idx].reshape(len(vid), 3, -1))  # (n, axes, k)
            if use_z:
                b[:, 2] -= b[:, 2].mean(axis=0)
            return (b * weights[None, :, None]).reshape(axes * len(vid), -1)

        if use_z:
            target[:, 2] -= target[:, 2].mean()
        a = np.zeros((axes * len(vid), n_unknown))
        col = 0
        if fit_identity:
            a[:, :K] = project_basis(model.identity)
            col = K
        a[:, col + f * E: col + (f + 1) * E] = project_basis(model.expression)
        rows_a.append(a / sigma_mm)
        rows_b.append((target * weights).ravel() / sigma_mm)
    prior = np.ones(n_unknown)
    # Landmark errors are largely the same in every frame (where MediaPipe's points differ
    # from the model's vertices), so F views are not F independent measurements: the identity
    # prior grows with sqrt(F), keeping one identity's regularisation independent of F.
    prior[:K if fit_identity else 0] = np.sqrt(n_frames)
    prior[(K if fit_identity else 0):] = expression_weight
    A = np.vstack(rows_a + [np.diag(prior)])
    b = np.concatenate(rows_b + [np.zeros(n_unknown)])
    # Blendshapes only add expressions: their coefficients are bounded below by 0. (Clipping
    # an unbounded solution instead lets correlated blendshapes cancel, then diverge.)
    lower = np.zeros(n_unknown)
    lower[:K if fit_identity else 0] = -np.inf
    # The same problem on A's triangular factor (A = QR: |Ax - b|^2 = |Rx - Q'b|^2 + const):
    # the solver's repeated least squares then run on n_unknown rows, not on every residual.
    q, r = np.linalg.qr(A)
    coef = optimize.lsq_linear(r, q.T @ b, bounds=(lower, np.inf), method="bvls").x
    ident = coef[:K] if fit_identity else None
    expr = coef[(K if fit_identity else 0):].reshape(n_frames, E)
    return ident, expr


def _check_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim < 2 or pts.shape[-2] != 68 or pts.shape[-1] not in (2, 3):
        raise InputError("landmarks", f"expected iBUG-68 points of shape (..., 68, 2 or 3), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise InputError("landmarks", "contains NaN or inf")
    return pts


def _y_up(pts: np.ndarray) -> np.ndarray:
    """Image points (y down) in the model's orientation (y up); z, if present, is kept."""
    flip = np.ones(pts.shape[-1])
    flip[1] = -1.0
    return pts * flip


def fit_3dmm(landmarks68: np.ndarray, model: FaceModel, *, identity: np.ndarray | None = None,
             n_iter: int = 3, sigma_mm: float = 0.7, expression_weight: float = 1.0,
             depth_weight: float = 0.1) -> Fit:
    """Fit the morphable model to one face's iBUG-68 landmarks.

    Parameters
    ----------
    landmarks68 : np.ndarray, shape (68, 2) or (68, 3), float, pixels (y down)
        From :func:`fasprep.face.to_ibug68`. With a third column (MediaPipe's depth, larger =
        nearer) the head pose is a 3D alignment, free of the pitch/yaw reversal that a 2D-only
        orthographic pose suffers; the shape is always fitted to x, y.
    model : FaceModel
        From :func:`load_sfm`.
    identity : np.ndarray, shape (K,), optional
        Keep this identity (from :func:`fit_identity`) and fit only pose and expression.
    n_iter : int
        Alternations of pose, contour matching and shape.
    sigma_mm : float
        Expected landmark error in model millimetres: the weight of the data against the prior.
    expression_weight : float
        Prior weight of the blendshape coefficients relative to identity's.
    depth_weight : float
        Weight of the landmarks' own depth (third column, MediaPipe's relative z) against x, y
        in the shape fit: 2D landmarks alone leave the face's depth profile to the prior.

    Returns
    -------
    Fit
    """
    pts = _y_up(_check_points(landmarks68))
    xy = pts[:, :2]
    fixed = identity is not None
    ident = np.zeros(model.identity.shape[1]) if identity is None else np.asarray(identity, np.float64)
    expr = np.zeros(model.expression.shape[1])
    base = _shape(model, ident)
    shape = base
    known = model.landmark_vertex >= 0
    s, R, t = _pose(shape[model.landmark_vertex[known]], pts[known])
    for _ in range(n_iter):
        s, R, t, vid, use = _correspond(model, shape, pts, s, R, t)
        new_ident, e = _solve_coefficients([(s, R, t, vid, pts[use])], model, base if fixed else model.mean,
                                           fit_identity=not fixed, sigma_mm=sigma_mm,
                                           expression_weight=expression_weight, depth_weight=depth_weight)
        if not fixed:
            ident = new_ident
            base = _shape(model, ident)
        expr = e[0]
        shape = base + (model.expression @ expr).reshape(-1, 3)
    s, R, t = _pose(shape[vid], pts[use])
    err = (s * shape[vid] @ R[:2].T + t) - xy[use]
    return Fit(scale=s, rotation=R, translation=t, identity=ident, expression=expr, vertices=shape,
               rmse_px=float(np.sqrt((err ** 2).sum(axis=1).mean())))


def fit_identity(landmarks68: np.ndarray, model: FaceModel, *, n_iter: int = 3, sigma_mm: float = 0.7,
                 expression_weight: float = 1.0, depth_weight: float = 0.1) -> np.ndarray:
    """One identity for several views of the same face (a video's keyframes).

    Poses and expressions are per keyframe; the identity coefficients are shared, so they are
    fitted to all views at once.

    Parameters
    ----------
    landmarks68 : np.ndarray, shape (F, 68, 2 or 3), float, pixels (see :func:`fit_3dmm`)

    Returns
    -------
    np.ndarray, shape (K,), float64
    """
    pts_all = _y_up(_check_points(landmarks68))
    pts_all = pts_all.reshape(-1, 68, pts_all.shape[-1])
    K, E = model.identity.shape[1], model.expression.shape[1]
    ident = np.zeros(K)
    exprs = np.zeros((len(pts_all), E))
    known = model.landmark_vertex >= 0
    known = np.flatnonzero(known)
    F = len(pts_all)
    for _ in range(n_iter):
        base = _shape(model, ident)
        # Each keyframe's pose and contour match, all keyframes at once (see fit_frames).
        s, R, t = _pose_stack(_vertices_stack(model, base, exprs, np.broadcast_to(model.landmark_vertex[known],
                                                                                 (F, len(known)))), pts_all[:, known])
        vid = _contour_vertices_stack(model, base, exprs, s, R, t, pts_all[..., :2])
        use = vid[0] >= 0
        vid = vid[:, use]
        s, R, t = _pose_stack(_vertices_stack(model, base, exprs, vid), pts_all[:, use])
        blocks = [(s[f], R[f], t[f], vid[f], pts_all[f][use]) for f in range(F)]
        ident, exprs = _solve_coefficients(blocks, model, model.mean, fit_identity=True, sigma_mm=sigma_mm,
                                           expression_weight=expression_weight, depth_weight=depth_weight)
    return ident


# --- many frames at once ------------------------------------------------------------------------
# The per-frame fit of a video (identity fixed) as stacked linear algebra over frames: the same
# steps as :func:`fit_3dmm`, each a batched array operation, so a video costs a few dozen numpy
# calls instead of a few dozen per frame. :func:`fit_3dmm` stays the readable reference.


def _lstsq_stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares of full-rank stacked systems: a (T, m, k), b (T, m) -> x (T, k).

    By the normal equations, each column scaled to unit norm first (the pose Jacobian's
    columns differ by 10^3 in scale; scaled, its normal matrix is well conditioned).
    """
    norm = np.sqrt((a ** 2).sum(axis=1))  # (T, k)
    a = a / norm[:, None]
    at = a.transpose(0, 2, 1)
    return np.linalg.solve(at @ a, at @ b[..., None])[..., 0] / norm


def _rotate_stack(X: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``X @ R.T`` per frame: X (T, n, 3), R (T, k, 3) -> (T, n, k)."""
    return X @ R.transpose(0, 2, 1)


def _similarity_stack(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The rotation of :func:`_similarity` for each frame: X, Y (T, n, 3) -> R (T, 3, 3)."""
    Xc, Yc = X - X.mean(axis=1, keepdims=True), Y - Y.mean(axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(Yc.transpose(0, 2, 1) @ Xc)
    d = np.ones((len(X), 3))
    d[:, 2] = np.sign(np.linalg.det(u @ vt))
    return (u * d[:, None, :]) @ vt


def _scaled_rotation_stack(X: np.ndarray, x: np.ndarray):
    """:func:`_scaled_rotation` for each frame: X (T, n, 3), x (T, n, 2)."""
    Xm, xm = X.mean(axis=1), x.mean(axis=1)
    Xc, xc = X - Xm[:, None], x - xm[:, None]
    P = np.stack([_lstsq_stack(Xc, xc[..., k]) for k in range(2)], axis=1)  # (T, 2, 3)
    u, sv, vt = np.linalg.svd(P, full_matrices=False)
    r12 = u @ vt
    R = np.concatenate([r12, np.cross(r12[:, 0], r12[:, 1])[:, None]], axis=1)
    s = sv.mean(axis=1)
    return s, R, xm - s[:, None] * (r12 @ Xm[..., None])[..., 0]


def _refine_pose_stack(X: np.ndarray, xy: np.ndarray, s: np.ndarray, R: np.ndarray, t: np.ndarray,
                       n_iter: int = 6):
    """:func:`_refine_pose` for each frame (each stops on its own, as there)."""
    T, n = X.shape[:2]
    s, R, t = s.copy(), R.copy(), t.copy()
    active = np.ones(T, bool)
    for _ in range(n_iter):
        f = np.flatnonzero(active)
        if not len(f):
            break
        Y = _rotate_stack(X[f], R[f])
        r = (s[f, None, None] * Y[..., :2] + t[f, None] - xy[f]).reshape(len(f), -1)
        J = np.zeros((len(f), n, 2, 6))
        sf = s[f, None]
        J[:, :, 0, 1], J[:, :, 0, 2] = sf * Y[..., 2], -sf * Y[..., 1]
        J[:, :, 1, 0], J[:, :, 1, 2] = -sf * Y[..., 2], sf * Y[..., 0]
        J[:, :, 0, 3], J[:, :, 1, 3] = Y[..., 0], Y[..., 1]
        J[:, :, 0, 4] = 1.0
        J[:, :, 1, 5] = 1.0
        step = _lstsq_stack(J.reshape(len(f), 2 * n, 6), -r)
        w = step[:, :3]
        angle = np.linalg.norm(w, axis=1)
        turn = angle > 1e-12
        k = w[turn] / angle[turn, None]
        K = np.zeros((len(k), 3, 3))
        K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
        K = K - K.transpose(0, 2, 1)
        a = angle[turn, None, None]
        R[f[turn]] = (np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K) @ R[f[turn]]
        s[f] += step[:, 3]
        t[f] += step[:, 4:]
        active[f[angle < 1e-6]] = False
    return s, R, t


def _pose_stack(X: np.ndarray, pts: np.ndarray):
    """:func:`_pose` for each frame: X (T, n, 3) model points, pts (T, n, 2 or 3) -> s (T,), R (T, 3, 3), t (T, 2)."""
    if pts.shape[-1] == 3:
        R = _similarity_stack(X, pts)
        q = _rotate_stack(X, R[:, :2])
        qc = q - q.mean(axis=1, keepdims=True)
        pm = pts[..., :2].mean(axis=1)
        s = (qc * (pts[..., :2] - pm[:, None])).sum(axis=(1, 2)) / (qc ** 2).sum(axis=(1, 2))
        return _refine_pose_stack(X, pts[..., :2], s, R, pm - s[:, None] * q.mean(axis=1))
    return _scaled_rotation_stack(X, pts)


def _vertices_stack(model: FaceModel, base: np.ndarray, expression: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Vertices ``ids`` (T, n) of the shapes ``base`` + blendshapes ``expression`` (T, E): (T, n, 3)."""
    blend = model.expression.reshape(len(base), 3, -1)
    return base[ids] + (blend[ids] @ expression[:, None, :, None])[..., 0]


def _match_contour_stack(model: FaceModel, pts: np.ndarray, project) -> np.ndarray:
    """:func:`_contour_vertices` for each frame: pts (T, 68, 2); ``project(cands)`` gives the
    contour candidates' image points (T, len(cands), 2). Returns (T, 68) int64."""
    vid = np.broadcast_to(model.landmark_vertex, (len(pts), 68)).copy()
    for rows, cands in ((_CONTOUR_RIGHT, model.contour_right), (_CONTOUR_LEFT, model.contour_left)):
        d = np.linalg.norm(pts[:, rows, None, :] - project(cands)[:, None], axis=3)
        vid[:, rows] = cands[np.argmin(d, axis=2)]
    return vid


def _contour_vertices_stack(model: FaceModel, base: np.ndarray, expression: np.ndarray, s, R, t,
                            pts: np.ndarray) -> np.ndarray:
    """:func:`_contour_vertices` for each frame, projecting only the contour candidates: (T, 68) int64."""
    T = len(pts)

    def project(cands):
        v = _vertices_stack(model, base, expression, np.broadcast_to(cands, (T, len(cands))))
        return s[:, None, None] * _rotate_stack(v, R[:, :2]) + t[:, None]

    return _match_contour_stack(model, pts, project)


def _nonnegative_quadratic_stack(G: np.ndarray, g: np.ndarray) -> np.ndarray:
    """argmin over x >= 0 of ``x G x / 2 - g x`` per frame, G (T, E, E) positive definite, g (T, E).

    Exact for few unknowns: the minimiser is the unconstrained one on its own support, so every
    support (2^E of them) is solved at once and the feasible candidate of least cost is taken.
    """
    E = G.shape[-1]
    support = ((np.arange(2 ** E)[:, None] >> np.arange(E)) & 1).astype(bool)  # (S, E)
    both = support[:, :, None] & support[:, None, :]
    Gs = np.where(both, G[:, None], np.eye(E))  # (T, S, E, E): free block, identity elsewhere
    x = np.linalg.solve(Gs, np.where(support, g[:, None], 0.0)[..., None])[..., 0]  # (T, S, E)
    cost = ((0.5 * x @ G - g[:, None]) * x).sum(axis=2)
    cost[np.any(x < 0, axis=2)] = np.inf
    return x[np.arange(len(G)), np.argmin(cost, axis=1)]


def _solve_expressions_stack(model: FaceModel, base: np.ndarray, s, R, t, vid: np.ndarray, pts: np.ndarray, *,
                             sigma_mm: float, expression_weight: float, depth_weight: float) -> np.ndarray:
    """The expression step of :func:`_solve_coefficients` (identity fixed) for each frame: (T, E)."""
    T, n = vid.shape
    axes = 3 if depth_weight > 0 and pts.shape[-1] == 3 else 2
    rot = R[:, :axes]
    shift = np.zeros((T, axes))
    shift[:, :2] = t
    target = (pts[..., :axes] - shift[:, None]) / s[:, None, None] - _rotate_stack(base[vid], rot)  # (T, n, axes)
    B = rot[:, None] @ model.expression.reshape(len(base), 3, -1)[vid]  # (T, n, axes, E)
    if axes == 3:
        B[:, :, 2] -= B[:, :, 2].mean(axis=1, keepdims=True)
        target[..., 2] -= target[..., 2].mean(axis=1, keepdims=True)
    weights = np.array([1.0, 1.0, depth_weight])[:axes]
    A = (B * weights[:, None]).reshape(T, n * axes, -1) / sigma_mm
    b = (target * weights).reshape(T, -1) / sigma_mm
    E = A.shape[-1]
    At = A.transpose(0, 2, 1)
    G = At @ A + np.eye(E) * expression_weight ** 2
    return _nonnegative_quadratic_stack(G, (At @ b[..., None])[..., 0])


def fit_frames(landmarks68: np.ndarray, model: FaceModel, identity: np.ndarray, *, n_iter: int = 3,
               sigma_mm: float = 0.7, expression_weight: float = 1.0, depth_weight: float = 0.1) -> dict:
    """Pose and expression of one identity in many frames at once: :func:`fit_3dmm` with ``identity``
    for each frame, as stacked linear algebra (equal to it within float tolerance).

    Parameters
    ----------
    landmarks68 : np.ndarray, shape (T, 68, 2 or 3), float, pixels (y down)
    model : FaceModel
    identity : np.ndarray, shape (K,)
    n_iter, sigma_mm, expression_weight, depth_weight : as :func:`fit_3dmm`

    Returns
    -------
    dict of arrays: ``scale`` (T,), ``rotation`` (T, 3, 3), ``translation`` (T, 2),
    ``expression`` (T, E), ``rmse_px`` (T,), as the fields of :class:`Fit`.
    """
    pts = _y_up(_check_points(landmarks68))
    pts = pts.reshape(-1, 68, pts.shape[-1])
    T = len(pts)
    base = _shape(model, np.asarray(identity, np.float64))
    expr = np.zeros((T, model.expression.shape[1]))
    known = np.flatnonzero(model.landmark_vertex >= 0)
    s, R, t = _pose_stack(np.broadcast_to(base[model.landmark_vertex[known]], (T, len(known), 3)), pts[:, known])
    for _ in range(n_iter):
        vid = _contour_vertices_stack(model, base, expr, s, R, t, pts[..., :2])
        use = vid[0] >= 0  # the same rows in every frame: only the jaw's vertices change
        vid = vid[:, use]
        s, R, t = _pose_stack(_vertices_stack(model, base, expr, vid), pts[:, use])
        expr = _solve_expressions_stack(model, base, s, R, t, vid, pts[:, use], sigma_mm=sigma_mm,
                                        expression_weight=expression_weight, depth_weight=depth_weight)
    X = _vertices_stack(model, base, expr, vid)
    s, R, t = _pose_stack(X, pts[:, use])
    err = s[:, None, None] * _rotate_stack(X, R[:, :2]) + t[:, None] - pts[:, use, :2]
    return {"scale": s, "rotation": R, "translation": t, "expression": expr,
            "rmse_px": np.sqrt((err ** 2).sum(axis=2).mean(axis=1))}


# --- rendering ---------------------------------------------------------------------------------


def square_box(points: np.ndarray, *, scale: float = 1.3) -> np.ndarray:
    """Square crop box around points: centre of their bounding box, side ``scale`` times its larger side.

    Parameters
    ----------
    points : np.ndarray, shape (N, 2+), pixels

    Returns
    -------
    np.ndarray, shape (4,), float64: x1, y1, x2, y2 in pixels
    """
    p = np.asarray(points, dtype=np.float64)[:, :2]
    lo, hi = p.min(axis=0), p.max(axis=0)
    c, half = (lo + hi) / 2, scale * (hi - lo).max() / 2
    return np.r_[c - half, c + half]


def _pixel_depth(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """Whether pixel centres ``(px + 0.5, py + 0.5)`` lie in triangles ``a, b, c`` (each (P, 3):
    grid x, y, z of a corner, one triangle per pixel) and the z interpolated there (barycentric)."""
    x, y = px + 0.5, py + 0.5
    den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    w0 = ((b[:, 1] - c[:, 1]) * (x - c[:, 0]) + (c[:, 0] - b[:, 0]) * (y - c[:, 1])) / den
    w1 = ((c[:, 1] - a[:, 1]) * (x - c[:, 0]) + (a[:, 0] - c[:, 0]) * (y - c[:, 1])) / den
    w2 = 1.0 - w0 - w1
    inside = ok & (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
    return inside, w0 * a[:, 2] + w1 * b[:, 2] + w2 * c[:, 2]


def rasterize(xyz: np.ndarray, triangles: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer rendering of a triangle mesh into a ``size`` x ``size`` grid.

    Each pixel centre (i + 0.5) inside a triangle takes the triangle's barycentrically
    interpolated z; the largest z (nearest) wins. Fully vectorised: every (triangle, pixel in its
    bounding box) pair is tested at once.

    Parameters
    ----------
    xyz : np.ndarray, shape (N, 3), float
        Vertex x, y in grid units (0 = left/top edge, ``size`` = right/bottom edge) and z.
    triangles : np.ndarray, shape (M, 3), int
    size : int

    Returns
    -------
    z : np.ndarray, shape (size, size), float64, -inf where no triangle covers the pixel
    mask : np.ndarray, shape (size, size), bool
    """
    tri = xyz[triangles]  # (M, 3, 3)
    lo = np.maximum(np.ceil(tri[:, :, :2].min(axis=1) - 0.5), 0).astype(np.int64)
    hi = np.minimum(np.floor(tri[:, :, :2].max(axis=1) - 0.5), size - 1).astype(np.int64)
    n = np.clip(hi - lo + 1, 0, None)
    count = n[:, 0] * n[:, 1]
    keep = count > 0
    tri, lo, n, count = tri[keep], lo[keep], n[keep], count[keep]
    zbuf = np.full(size * size, -np.inf)
    if len(tri):
        t = np.repeat(np.arange(len(tri)), count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        px = lo[t, 0] + k % n[t, 0]
        py = lo[t, 1] + k // n[t, 0]
        a, b, c = tri[t, 0], tri[t, 1], tri[t, 2]
        inside, z = _pixel_depth(px, py, a, b, c)
        np.maximum.at(zbuf, (py * size + px)[inside], z[inside])
    zbuf = zbuf.reshape(size, size)
    return zbuf, np.isfinite(zbuf)


def rasterize_stack(xyz: np.ndarray, triangles: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rasterize` of T meshes at once (the same arithmetic, in one pass over all frames).

    Parameters
    ----------
    xyz : np.ndarray, shape (T, N, 3), float: grid x, y and z per frame (as :func:`rasterize`)
    triangles : np.ndarray, shape (M, 3), int
    size : int

    Returns
    -------
    z : np.ndarray, shape (T, size, size), float64, -inf where no triangle covers the pixel
    mask : np.ndarray, shape (T, size, size), bool
    """
    T = len(xyz)
    # Pixel bounds per vertex, then per triangle (ceil and floor commute with min and max): most
    # triangles of a dense mesh cover no pixel centre at 32 x 32 and are dropped right here.
    # Rows x0, y0, x1, y1, ... (np.take along one axis is far faster than a batched gather).
    grid_xy = xyz[..., :2].transpose(0, 2, 1).reshape(2 * T, -1)
    first = np.clip(np.ceil(grid_xy - 0.5), -1, size).astype(np.int16)
    last = np.clip(np.floor(grid_xy - 0.5), -1, size).astype(np.int16)
    corners = [np.ascontiguousarray(triangles[:, k]) for k in range(3)]
    lo = np.maximum(np.minimum(np.minimum(first.take(corners[0], axis=1), first.take(corners[1], axis=1)),
                               first.take(corners[2], axis=1)), 0).reshape(T, 2, -1)
    hi = np.minimum(np.maximum(np.maximum(last.take(corners[0], axis=1), last.take(corners[1], axis=1)),
                               last.take(corners[2], axis=1)), size - 1).reshape(T, 2, -1)
    f, m = np.nonzero((hi[:, 0] >= lo[:, 0]) & (hi[:, 1] >= lo[:, 1]))
    lo = lo[f, :, m].astype(np.int64)  # (P, 2)
    n = hi[f, :, m].astype(np.int64) - lo + 1
    count = n[:, 0] * n[:, 1]
    tri = xyz.reshape(-1, 3).take(f[:, None] * xyz.shape[1] + triangles[m], axis=0)  # (P, 3, 3)
    zbuf = np.full(T * size * size, -np.inf)
    if len(tri):
        t = np.repeat(np.arange(len(tri)), count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        nx = n[:, 0].take(t)
        px = lo[:, 0].take(t) + k % nx
        py = lo[:, 1].take(t) + k // nx
        corner = tri.take(t, axis=0)
        a, b, c = corner[:, 0], corner[:, 1], corner[:, 2]
        inside, z = _pixel_depth(px, py, a, b, c)
        np.maximum.at(zbuf, ((f.take(t) * size + py) * size + px)[inside], z[inside])
    zbuf = zbuf.reshape(T, size, size)
    return zbuf, np.isfinite(zbuf)


def render_z_stack(points_xyz: np.ndarray, triangles: np.ndarray, boxes: np.ndarray, *, size: int = 32
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_z` of T posed meshes at once: points (T, N, 3), boxes (T, 4) -> z, mask (T, S, S)."""
    side = boxes[:, 2] - boxes[:, 0]
    g = np.array(points_xyz, dtype=np.float64, copy=True)
    g[..., :2] = (g[..., :2] - boxes[:, None, :2]) / side[:, None, None] * size
    z, mask = rasterize_stack(g, triangles, size)
    return z / side[:, None, None], mask


def depth_range_stack(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:func:`depth_range` of T frames: z, mask (T, S, S) -> (T,), NaN without a face."""
    near = np.where(mask, z, -np.inf).max(axis=(1, 2))
    far = np.where(mask, z, np.inf).min(axis=(1, 2))
    return np.where(mask.any(axis=(1, 2)), near - far, np.nan)


#: Depth label of the far end of the face at the video's depth range: inside the mask the label
#: spans [FACE_DEPTH_FLOOR, 1], so the face's rim never takes the background's 0.
FACE_DEPTH_FLOOR = 0.1
#: Percentile of a video's per-frame depth ranges that sets its depth scale: a few frames with
#: an unusually deep view (strong yaw, a poor fit) clip at the floor instead of squashing the rest.
VIDEO_RANGE_PERCENTILE = 95.0


def depth_range(z: np.ndarray, mask: np.ndarray) -> float:
    """Depth extent of a rendered face, nearest minus farthest visible point (NaN without a face).

    Parameters
    ----------
    z : np.ndarray, shape (S, S), float, larger = nearer (e.g. from :func:`render_z`)
    mask : np.ndarray, shape (S, S), bool

    Returns
    -------
    float, in the units of ``z``
    """
    return float(z[mask].max() - z[mask].min()) if mask.any() else float("nan")


def video_depth_range(ranges: np.ndarray) -> float:
    """The depth scale of a video: a high percentile of its frames' :func:`depth_range`.

    Parameters
    ----------
    ranges : np.ndarray, shape (T,), float; NaN for frames without a face (ignored)

    Returns
    -------
    float; NaN when no frame has a face
    """
    r = np.asarray(ranges, dtype=np.float64)
    r = r[np.isfinite(r)]
    return float(np.percentile(r, VIDEO_RANGE_PERCENTILE)) if len(r) else float("nan")


def normalise_depth(z: np.ndarray, mask: np.ndarray, *, scale: float | None = None) -> np.ndarray:
    """Depth label from a z-buffer: nearest point 1, ``scale`` of depth spans 1 - FACE_DEPTH_FLOOR.

    ``label = 1 - (1 - FACE_DEPTH_FLOOR) * (z_max - z) / scale``, clipped to
    [FACE_DEPTH_FLOOR, 1] inside the mask, 0 outside. With one ``scale`` for a whole video
    (:func:`video_depth_range`) the same shape gives the same values on every frame; without
    one, the frame's own :func:`depth_range` (a single image).

    Parameters
    ----------
    z : np.ndarray, shape (S, S), float, larger = nearer
    mask : np.ndarray, shape (S, S), bool
    scale : float > 0, optional, units of ``z``

    Returns
    -------
    np.ndarray, shape (S, S), float32
    """
    out = np.zeros(z.shape, np.float32)
    if mask.any():
        zmax = z[mask].max()
        d = depth_range(z, mask) if scale is None or not np.isfinite(scale) else scale
        rel = (zmax - z[mask]) / max(d, 1e-9)
        out[mask] = np.clip(1.0 - (1.0 - FACE_DEPTH_FLOOR) * rel, FACE_DEPTH_FLOOR, 1.0)
    return out


def normalise_depth_stack(z: np.ndarray, mask: np.ndarray, *, scale: float) -> np.ndarray:
    """:func:`normalise_depth` of T frames with one ``scale``: z, mask (T, S, S) -> (T, S, S) float32."""
    zmax = np.where(mask, z, -np.inf).max(axis=(1, 2), keepdims=True)
    rel = (zmax - z) / max(scale, 1e-9)
    return np.where(mask, np.clip(1.0 - (1.0 - FACE_DEPTH_FLOOR) * rel, FACE_DEPTH_FLOOR, 1.0), 0.0).astype(np.float32)


def to_grid(points_xyz: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Image points (x, y pixels) and depth mapped into a ``size`` grid over a crop box."""
    g = np.array(points_xyz, dtype=np.float64, copy=True)
    side = box[2] - box[0]
    g[:, 0] = (g[:, 0] - box[0]) / side * size
    g[:, 1] = (g[:, 1] - box[1]) / side * size
    return g


def render_z(points_xyz: np.ndarray, triangles: np.ndarray, box: np.ndarray, *, size: int = 32
             ) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer of a posed mesh inside a square crop box, depth in crop-side units.

    Depth is divided by the crop's side, so it scales with the face as x and y do: a face's
    depth profile has the same values however large it is in the frame.

    Parameters
    ----------
    points_xyz : np.ndarray, shape (N, 3), float
        Vertex image x, y (pixels, y down) and depth (pixels, larger = nearer), e.g.
        :meth:`Fit.project`, or MediaPipe landmarks (:meth:`fasprep.face.FaceTracker.landmarks`).
    triangles : np.ndarray, shape (M, 3), int
    box : np.ndarray, shape (4,), float: x1, y1, x2, y2 of the square crop, pixels
    size : int
        Output side S.

    Returns
    -------
    z : np.ndarray, shape (S, S), float64, crop sides, larger = nearer; -inf outside the face
    mask : np.ndarray, shape (S, S), bool
    """
    z, mask = rasterize(to_grid(points_xyz, box, size), triangles, size)
    return z / (box[2] - box[0]), mask


def render_depth(points_xyz: np.ndarray, triangles: np.ndarray, box: np.ndarray, *, size: int = 32,
                 scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Depth label and mask of a posed mesh inside a square crop box (:func:`render_z`, then
    :func:`normalise_depth` with ``scale``, in crop sides; by default the face's own range).

    Returns
    -------
    depth : np.ndarray, shape (S, S), float32, in [FACE_DEPTH_FLOOR, 1] on the face (near = 1), 0 elsewhere
    mask : np.ndarray, shape (S, S), bool
    """
    z, mask = render_z(points_xyz, triangles, box, size=size)
    return normalise_depth(z, mask, scale=scale), mask


def landmark_rmse_px(fit: Fit, model: FaceModel, landmarks68: np.ndarray) -> float:
    """Root-mean-square distance (pixels) of a fit's landmark vertices, as projected, to the landmarks.

    The jaw landmarks are matched to the nearest projected contour vertex, as in the fit.
    Measures the mesh that is rendered (e.g. after a video's temporal smoothing).

    Parameters
    ----------
    fit : Fit
    model : FaceModel
    landmarks68 : np.ndarray, shape (68, 2+), float, pixels (y down)

    Returns
    -------
    float, pixels
    """
    proj = fit.project()
    pts = np.asarray(landmarks68, dtype=np.float64)[:, :2]
    vid = _contour_vertices(model, _y_up(proj[:, :2]), _y_up(pts))
    use = vid >= 0
    return float(np.sqrt(((proj[vid[use], :2] - pts[use]) ** 2).sum(axis=1).mean()))


def landmark_rmse_stack(points_xyz: np.ndarray, model: FaceModel, landmarks68: np.ndarray) -> np.ndarray:
    """:func:`landmark_rmse_px` of T frames from their projected meshes.

    Parameters
    ----------
    points_xyz : np.ndarray, shape (T, N, 2+), float, pixels (y down): e.g. :meth:`VideoFit.project`
    model : FaceModel
    landmarks68 : np.ndarray, shape (T, 68, 2+), float, pixels (y down)

    Returns
    -------
    np.ndarray, shape (T,), float64, pixels
    """
    proj = np.asarray(points_xyz, dtype=np.float64)[..., :2]
    pts = np.asarray(landmarks68, dtype=np.float64)[..., :2]
    T = len(pts)
    vid = _match_contour_stack(model, pts, lambda cands: proj[:, cands])
    use = vid[0] >= 0
    err = proj[np.arange(T)[:, None], vid[:, use]] - pts[:, use]
    return np.sqrt((err ** 2).sum(axis=2).mean(axis=1))


# --- video -------------------------------------------------------------------------------------


@dataclass
class VideoFit:
    """Per-frame fits of one face through a video, with one identity.

    Attributes (T frames)
    ----------
    identity : (K,) float64
    scale : (T,) float64; rotation : (T, 3, 3); translation : (T, 2); expression : (T, E)
        NaN on frames without a face.
    ok : (T,) bool
    rmse_px : (T,) float64
    """

    identity: np.ndarray
    scale: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    ok: np.ndarray
    rmse_px: np.ndarray

    def frame(self, model: FaceModel, t: int) -> Fit:
        """The fit of frame ``t`` (a frame with a face)."""
        vertices = _shape(model, self.identity, self.expression[t])
        return Fit(scale=float(self.scale[t]), rotation=self.rotation[t], translation=self.translation[t],
                   identity=self.identity, expression=self.expression[t], vertices=vertices,
                   rmse_px=float(self.rmse_px[t]))

    def project(self, model: FaceModel, frames: np.ndarray) -> np.ndarray:
        """:meth:`Fit.project` of the meshes of several frames at once: (len(frames), N, 3).

        The identity's shape is computed once, not once per frame.
        """
        frames = np.asarray(frames, dtype=np.int64)
        base = _shape(model, self.identity)
        v = base + (self.expression[frames] @ model.expression.T).reshape(len(frames), -1, 3)
        cam = self.scale[frames, None, None] * v @ self.rotation[frames].transpose(0, 2, 1)
        cam[..., :2] += self.translation[frames, None]
        cam[..., 1] *= -1.0
        return cam


def keyframes(ok: np.ndarray, n: int = 8) -> np.ndarray:
    """Up to ``n`` frame indices with a face, spread evenly over the video."""
    idx = np.flatnonzero(ok)
    if len(idx) <= n:
        return idx
    return idx[np.round(np.linspace(0, len(idx) - 1, n)).astype(int)]


def _smooth_runs(values: np.ndarray, ok: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time, separately within each run of ``ok`` frames."""
    from scipy.ndimage import gaussian_filter1d

    out = values.copy()
    if sigma <= 0:
        return out
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    for a, b in zip(edges[0::2], edges[1::2]):
        out[a:b] = gaussian_filter1d(values[a:b], sigma, axis=0, mode="nearest")
    return out


def _orthonormalise(R: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(R)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def fit_video(landmarks68: np.ndarray, ok: np.ndarray, model: FaceModel, *, n_keyframes: int = 8,
              smooth_frames: float = 2.0, **fit_kw) -> VideoFit:
    """Fit a face through a video: identity once from keyframes, then pose and expression per frame.

    Parameters
    ----------
    landmarks68 : np.ndarray, shape (T, 68, 2 or 3), float, pixels
        Rows of frames without a face are ignored.
    ok : np.ndarray, shape (T,), bool
        Frames with a face.
    model : FaceModel
    n_keyframes : int
        Frames the identity is fitted to, spread over the video.
    smooth_frames : float
        Gaussian sigma, in frames, of the temporal smoothing of pose and expression (within
        each run of tracked frames; 0 = none).
    **fit_kw
        ``sigma_mm``, ``expression_weight``, ``depth_weight``, ``n_iter`` of :func:`fit_3dmm`.

    Returns
    -------
    VideoFit
    """
    ok = np.asarray(ok, dtype=bool)
    T = len(ok)
    if not ok.any():
        raise InputError("landmarks", "no frame with a face to fit")
    lm = np.asarray(landmarks68, dtype=np.float64)
    identity = fit_identity(lm[keyframes(ok, n_keyframes)], model, **fit_kw)
    E = model.expression.shape[1]
    scale, rot = np.full(T, np.nan), np.full((T, 3, 3), np.nan)
    trans, expr, rmse = np.full((T, 2), np.nan), np.full((T, E), np.nan), np.full(T, np.nan)
    frames = np.flatnonzero(ok)
    f = fit_frames(lm[frames], model, identity, **fit_kw)
    scale[frames], rot[frames], trans[frames] = f["scale"], f["rotation"], f["translation"]
    expr[frames], rmse[frames] = f["expression"], f["rmse_px"]
    if smooth_frames > 0:
        scale = _smooth_runs(scale, ok, smooth_frames)
        trans = _smooth_runs(trans, ok, smooth_frames)
        expr = _smooth_runs(expr, ok, smooth_frames)
        smoothed = _smooth_runs(rot.reshape(T, 9), ok, smooth_frames).reshape(T, 3, 3)
        rot[ok] = [_orthonormalise(r) for r in smoothed[ok]]
    return VideoFit(identity=identity, scale=scale, rotation=rot, translation=trans, expression=expr,
                    ok=ok, rmse_px=rmse)


# --- non-rigid registration grid -----------------------------------------------------------------


def grid_vertices(layout_xy: np.ndarray, size: int, *, crop_scale: float = 1.3) -> np.ndarray:
    """The fixed vertices of an S x S frontal grid, for the NRR layer.

    Cell (i, j) of an S x S grid laid over the frontal face (the square box of ``layout_xy``
    at ``crop_scale``, the same framing as the crops) takes the vertex nearest its centre.

    Parameters
    ----------
    layout_xy : np.ndarray, shape (N, 2), float
        Frontal positions of the mesh vertices, y down.
    size : int

    Returns
    -------
    np.ndarray, shape (size, size), int64: vertex index per cell, row-major (y, x).
    """
    box = square_box(layout_xy, scale=crop_scale)
    c = (np.arange(size) + 0.5) / size * (box[2] - box[0])
    gx, gy = np.meshgrid(box[0] + c, box[1] + c)
    cells = np.column_stack([gx.ravel(), gy.ravel()])
    d = ((cells[:, None, :] - layout_xy[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1).reshape(size, size)


def nrr_grid(points_xy: np.ndarray, vertices: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Where the grid's vertices are in the crop, in torch ``grid_sample`` coordinates.

    Parameters
    ----------
    points_xy : np.ndarray, shape (N, 2+), float, pixels: the posed mesh in the frame
    vertices : np.ndarray, shape (S, S), int: from :func:`grid_vertices`
    box : np.ndarray, shape (4,): the square crop, pixels

    Returns
    -------
    np.ndarray, shape (S, S, 2), float32: (x, y) in [-1, 1] over the crop (-1 = left/top edge,
    +1 = right/bottom edge, i.e. ``align_corners=False``); values outside mean outside the crop.
    """
    p = np.asarray(points_xy, dtype=np.float64)[vertices][..., :2]
    side = box[2] - box[0]
    return (2.0 * (p - box[:2]) / side - 1.0).astype(np.float32)


def nrr_grid_stack(points_xy: np.ndarray, vertices: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """:func:`nrr_grid` of T frames: points (T, N, 2+), boxes (T, 4) -> (T, S, S, 2) float32."""
    p = np.asarray(points_xy, dtype=np.float64)[:, vertices, :2]
    side = (boxes[:, 2] - boxes[:, 0])[:, None, None, None]
    return (2.0 * (p - boxes[:, None, None, :2]) / side - 1.0).astype(np.float32)
