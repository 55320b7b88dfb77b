"""Depth labels of an image or a video: tracking, 3DMM fit (or MediaPipe's mesh), rendering.

Two depth sources, the same outputs:

- ``sfm``: the Surrey Face Model fitted to the landmarks (identity once per video, pose and
  expression per frame, smoothed). Needs the SFM files (non-commercial licence).
- ``mesh``: MediaPipe's own 478-point mesh with its depth, eye openings filled. Needs nothing
  beyond mediapipe and the Face Landmarker model fasprep ships (Apache-2.0): licence-clean.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import depth as dp
from .errors import InputError
from .face import FaceTracker, crop_square, face_in_frame, face_size_px, face_yaw_deg, mesh_triangles, to_ibug68
from .io import atomic_path, iter_frames, probe_video
from .progress import progress_bar

DEPTH_SOURCES = ("sfm", "mesh")
#: Why a frame has no depth label, in the order they are checked ("" = labelled).
REJECT_REASONS = ("no_face", "small_face", "yaw", "out_of_frame", "fit_error")


@dataclass(frozen=True)
class QualityGate:
    """When a tracked face is labelled: every frame's face must pass all four.

    Attributes
    ----------
    min_face_px : float
        Smallest face (larger side of its landmarks' box), pixels: a smaller one has too few
        pixels per label pixel for its shape to mean anything ("small_face").
    max_yaw_deg : float
        Largest head yaw (:func:`fasprep.face.face_yaw_deg`), degrees ("yaw").
    min_in_frame : float in [0, 1]
        Smallest share of the face oval inside the frame: the rest would be labelled over
        the crop's black padding ("out_of_frame").
    max_fit_error : float
        Largest 3DMM landmark error (``fit_rmse_px``) over the face size, ``sfm`` only ("fit_error").
    """

    min_face_px: float = 64.0
    max_yaw_deg: float = 60.0
    min_in_frame: float = 0.9
    max_fit_error: float = 0.04


#: Frames posed and rendered at once by :func:`label_frames` (memory ~ 0.2 MB per frame for ``sfm``).
CHUNK_FRAMES = 64
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class DepthLabels:
    """Depth labels of T frames (T = 1 for an image).

    Attributes
    ----------
    depth : (T, S, S) float32: inside the mask 1 at the nearest point, falling by
        (1 - FACE_DEPTH_FLOOR) over the video's depth range (one scale per video, see
        :func:`fasprep.depth.normalise_depth`), never below FACE_DEPTH_FLOOR (0.1); 0 outside
        the face and on frames without one
    mask : (T, S, S) bool
    nrr_grid : (T, S, S, 2) float32, crop coordinates in [-1, 1] (NaN without a face)
    face_ok : (T,) bool
    box : (T, 4) float32, square crop x1, y1, x2, y2 in pixels (NaN without a face)
    landmarks : (T, 68, 2) float32, iBUG-68 in pixels (NaN without a face)
    fit_rmse_px : (T,) float32, landmark reprojection RMS of the rendered (smoothed) fit, pixels
        (NaN for ``mesh``)
    source : str
    reject_reason : (T,) str: why a frame has no label (one of ``REJECT_REASONS``); "" = labelled
    """

    depth: np.ndarray
    mask: np.ndarray
    nrr_grid: np.ndarray
    face_ok: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray
    fit_rmse_px: np.ndarray
    source: str
    reject_reason: np.ndarray

    def rejected(self) -> dict[str, int]:
        """Frames without a label per reason (only reasons that occur)."""
        reasons, counts = np.unique(self.reject_reason[self.reject_reason != ""], return_counts=True)
        return {str(r): int(n) for r, n in zip(reasons, counts)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the arrays to an ``.npz`` file, atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, depth=self.depth.astype(np.float16), mask=self.mask,
                                nrr_grid=self.nrr_grid.astype(np.float16), face_ok=self.face_ok, box=self.box,
                                landmarks=self.landmarks, fit_rmse_px=self.fit_rmse_px, source=self.source,
                                reject_reason=self.reject_reason.astype(str))
        return Path(path)


@functools.lru_cache(maxsize=1)
def _mesh_frontal_layout() -> np.ndarray:
    """Frontal x, y of MediaPipe's mesh: its landmarks on the frontal face photo fasprep ships."""
    from .synth import example_face

    with FaceTracker(static_image=True) as tracker:
        return tracker.landmarks(example_face())[:, :2].astype(np.float64)


@functools.lru_cache(maxsize=8)
def _grid(source: str, size: int, crop_scale: float, sfm_key: str) -> np.ndarray:
    if source == "mesh":
        layout = _mesh_frontal_layout()
    else:
        layout = dp.load_sfm(sfm_key).mean[:, :2] * (1.0, -1.0)
    return dp.grid_vertices(layout, size, crop_scale=crop_scale)


def _check_source(source: str) -> None:
    if source not in DEPTH_SOURCES:
        raise InputError("depth_source", f"must be one of {', '.join(DEPTH_SOURCES)}, got {source!r}")


def gate_reasons(landmarks: np.ndarray, tracked: np.ndarray, gate: QualityGate,
                 frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """Why each frame fails the gate before any fit: no face, small face, yaw, out of frame.

    Parameters
    ----------
    landmarks : np.ndarray, shape (T, 478, 3), float, pixels
    tracked : np.ndarray, shape (T,), bool
    gate : QualityGate
    frame_size : (width, height), optional; without it the in-frame check is skipped

    Returns
    -------
    np.ndarray, shape (T,), str: a reason of ``REJECT_REASONS`` or ""
    """
    reason = np.full(len(tracked), "", dtype=object)
    for t in range(len(tracked)):
        if not tracked[t]:
            reason[t] = "no_face"
        elif face_size_px(landmarks[t]) < gate.min_face_px:
            reason[t] = "small_face"
        elif abs(face_yaw_deg(landmarks[t])) > gate.max_yaw_deg:
            reason[t] = "yaw"
        elif frame_size is not None and face_in_frame(landmarks[t], frame_size) < gate.min_in_frame:
            reason[t] = "out_of_frame"
    return reason


def label_frames(landmarks: np.ndarray, face_ok: np.ndarray, *, source: str = "sfm", size: int = 32,
                 crop_scale: float = 1.3, sfm_dir: str | os.PathLike | None = None,
                 smooth_frames: float = 2.0, gate: QualityGate | None = QualityGate(),
                 frame_size: tuple[int, int] | None = None) -> DepthLabels:
    """Depth labels from tracked landmarks, for the frames whose face passes the quality gate.

    Frames that fail it (``reject_reason``) get no depth, mask or NRR grid (as frames without
    a face), and ``face_ok`` False; their box and landmarks are kept.

    Parameters
    ----------
    landmarks : np.ndarray, shape (T, 478, 3), float
        MediaPipe landmarks per frame (:meth:`FaceTracker.landmarks`); rows where ``face_ok``
        is False are ignored.
    face_ok : np.ndarray, shape (T,), bool
    source : {"sfm", "mesh"}
    size : int
        S, the label side.
    crop_scale : float
        Side of the square crop over the larger side of the landmarks' box.
    sfm_dir : path, optional
        The SFM folder (see :mod:`fasprep.models`); ``sfm`` only.
    smooth_frames : float
        Temporal smoothing of the fitted pose and expression (``sfm`` only), frames.
    gate : QualityGate, optional
        None labels every tracked face.
    frame_size : (width, height), optional
        Of the frames the landmarks are in, for the gate's in-frame check.

    BLAS runs on one thread meanwhile (restored on return): the fit is many small stacked
    solves, on which more threads only spin (on a loaded 2-core machine the fit ran 14x slower
    with two), and a build's worker has one core.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _label_frames(landmarks, face_ok, source=source, size=size, crop_scale=crop_scale, sfm_dir=sfm_dir,
                             smooth_frames=smooth_frames, gate=gate, frame_size=frame_size)


def _label_frames(landmarks, face_ok, *, source, size, crop_scale, sfm_dir, smooth_frames, gate, frame_size):
    _check_source(source)
    lm = np.asarray(landmarks, dtype=np.float64)
    tracked = np.asarray(face_ok, dtype=bool)
    T = len(tracked)
    reason = (gate_reasons(lm, tracked, gate, frame_size) if gate is not None
              else np.where(tracked, "", "no_face").astype(object))
    ok = reason == ""
    depth = np.zeros((T, size, size), np.float32)
    mask = np.zeros((T, size, size), bool)
    grid = np.full((T, size, size, 2), np.nan, np.float32)
    boxes = np.full((T, 4), np.nan)  # float64 for rendering; the labels store them as float32
    p68 = np.full((T, 68, 3), np.nan)
    rmse = np.full(T, np.nan, np.float32)
    for t in np.flatnonzero(tracked):
        p68[t] = to_ibug68(lm[t])
    if source == "sfm":
        model = dp.load_sfm(sfm_dir)
        grid_ids = _grid(source, size, crop_scale, str(dp.find_sfm(sfm_dir)))
        fits = dp.fit_video(p68, ok, model, smooth_frames=smooth_frames) if ok.any() else None
        triangles = model.triangles
    else:
        grid_ids = _grid(source, size, crop_scale, "")
        triangles = mesh_triangles()
    zs = np.full((T, size, size), -np.inf, np.float32)
    ranges = np.full(T, np.nan)
    for t in np.flatnonzero(tracked):
        boxes[t] = dp.square_box(lm[t], scale=crop_scale)
    # Frames in chunks, each chunk's meshes posed, checked and rendered at once (bounded memory).
    todo = np.flatnonzero(ok)
    for frames in np.array_split(todo, -(-len(todo) // CHUNK_FRAMES)) if len(todo) else []:
        box = boxes[frames]
        if source == "sfm":
            points = fits.project(model, frames)
            rmse[frames] = dp.landmark_rmse_stack(points, model, p68[frames])  # of the smoothed mesh, as rendered
            if gate is not None:
                poor = rmse[frames] > gate.max_fit_error * np.array([face_size_px(lm[t]) for t in frames])
                reason[frames[poor]] = "fit_error"
                frames, box, points = frames[~poor], box[~poor], points[~poor]
        else:
            points = lm[frames]
        z, mask[frames] = dp.render_z_stack(points, triangles, box, size=size)
        zs[frames], ranges[frames] = z, dp.depth_range_stack(z, mask[frames])
        grid[frames] = dp.nrr_grid_stack(points, grid_ids, box)
    ok = reason == ""
    mask[~ok] = False
    grid[~ok] = np.nan
    # One depth scale for the whole video: the same shape gives the same label on every frame.
    scale = dp.video_depth_range(ranges)
    if ok.any():
        depth[ok] = dp.normalise_depth_stack(zs[ok], mask[ok], scale=scale)
    return DepthLabels(depth=depth, mask=mask, nrr_grid=grid, face_ok=ok, box=boxes.astype(np.float32),
                       landmarks=p68[:, :, :2].astype(np.float32), fit_rmse_px=rmse, source=source,
                       reject_reason=reason.astype(str))


def is_image(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB; :class:`InputError` if it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such file")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(p, "not an image file OpenCV can read")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def depth_labels(path: str | os.PathLike, *, source: str = "sfm", size: int = 32, crop_scale: float = 1.3,
                 sfm_dir: str | os.PathLike | None = None, keep_frames: int = 8, crop_px: int = 256,
                 progress: bool = False) -> tuple[DepthLabels, dict[int, np.ndarray]]:
    """Depth labels of an image or a video file.

    Returns the labels and a few face crops for previews: ``{frame index: (crop_px, crop_px, 3)
    uint8 RGB}``, ``keep_frames`` of them spread over a video. Videos stream; only landmarks
    and those crops are kept.

    Raises
    ------
    InputError
        Unreadable input, or no face in any frame.
    ModelAssetError
        ``sfm`` without the Surrey Face Model.
    """
    _check_source(source)
    if source == "sfm":
        dp.load_sfm(sfm_dir)  # fail before decoding anything
    if is_image(path):
        frames, n_est = [read_image(path)], 1
        tracker_kw = {"static_image": True}
    else:
        info = probe_video(path)
        n_est = info.n_frames
        frames = iter_frames(path)
        tracker_kw = {"fps": info.fps}
    wanted = set(np.round(np.linspace(0, max(n_est - 1, 0), keep_frames)).astype(int)) if n_est else {0}
    landmarks, crops, frame_wh = [], {}, None
    with FaceTracker(**tracker_kw) as tracker:
        for t, frame in enumerate(progress_bar(frames, total=n_est or None, desc=Path(path).name, unit="frame",
                                               enabled=progress)):
            lm = tracker.landmarks(frame)
            frame_wh = (frame.shape[1], frame.shape[0])
            landmarks.append(np.full((478, 3), np.nan, np.float32) if lm is None else lm)
            if t in wanted and lm is not None:
                crops[t] = crop_square(frame, dp.square_box(lm, scale=crop_scale), crop_px)
    lm = np.array(landmarks)
    ok = np.all(np.isfinite(lm[:, :, 0]), axis=1)
    if not ok.any():
        raise InputError(path, f"no face found in {'the image' if len(ok) == 1 else f'any of its {len(ok)} frames'}")
    return label_frames(lm, ok, source=source, size=size, crop_scale=crop_scale, sfm_dir=sfm_dir,
                        frame_size=frame_wh), crops
