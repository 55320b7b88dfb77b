"""Face tracking with MediaPipe's Face Landmarker and the skin region of interest it defines.

Landmarks are MediaPipe's 478-point mesh (468 + 10 iris points with ``refine_landmarks``), as
``(478, 3) float32``: x, y in source-image pixels and z, depth in the same scale (larger =
nearer). Functions that need only the outline accept ``(478, 2)`` as well. Polygons below are
ordered index loops taken from MediaPipe's ``FACEMESH_*`` connection sets
(``tests/test_face.py`` checks that every edge of each loop is one of MediaPipe's).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import InputError
from .io import VideoInfo, iter_frames, probe_video
from .progress import progress_bar

log = logging.getLogger(__name__)

N_LANDMARKS = 478
#: How :class:`FaceTracker` picks one face when a detector finds several (after the dataset's
#: prior box, which always decides when the mesh finds a face in it or a detection overlaps it).
FACE_SELECTIONS = ("largest", "confident")

#: Lowest detector score taken from a tile: a tile of texture alone scored up to 0.72 on the
#: test clips without a face, real faces 0.8 and more.
TILE_MIN_SCORE = 0.8

#: Face outline, clockwise from the top of the forehead (MediaPipe ``FACEMESH_FACE_OVAL``).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)
#: Eye openings (``FACEMESH_LEFT_EYE`` / ``FACEMESH_RIGHT_EYE``; left = subject's left).
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
#: Eyebrows: MediaPipe gives each as two polylines; upper line then the lower one reversed.
LEFT_BROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
RIGHT_BROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
#: Outer lip contour (the outer loop of ``FACEMESH_LIPS``).
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37,
              39, 40, 185)

# Scale of each polygon about its centroid when drawing the skin mask. The oval shrinks to keep
# hair and background out under small landmark errors; the holes grow to cover eyelids (which
# blink) and the skin that moves with the lips.
_OVAL_SCALE = 0.92
_HOLES = ((LEFT_EYE, 1.5), (RIGHT_EYE, 1.5), (LEFT_BROW, 1.3), (RIGHT_BROW, 1.3), (LIPS_OUTER, 1.2))


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Silence C++ logging (TFLite, absl) that MediaPipe writes straight to file descriptor 2.

    Its start-up chatter ("Created TensorFlow Lite XNNPACK delegate", feedback-tensor warnings)
    would otherwise drown the one-line messages fasprep promises on stderr.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (some embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class FaceTracker:
    """Face landmarks over the frames of one video: detect, then track, re-detecting when lost.

    MediaPipe's Face Landmarker (Tasks API, the 478-point mesh of ``face_landmarker.task``,
    shipped with fasprep) runs on a square crop that follows the face
    (``crop_scale`` times the face's size, resampled to ``crop_px``), so a face that is small in
    a 1080p frame is seen at the size the mesh model expects, and the cost does not depend on
    the frame size. When there is no face to follow, in this order until a face is found: the
    mesh in a caller's prior box (a dataset's face box); MediaPipe's short-range face detector
    (BlazeFace, ``blaze_face_short_range.tflite``) on the whole frame (faces within ~2 m, also
    three-quarter views); the same detector on overlapping square tiles of the frame's shorter
    side, then of half that (faces too small in the frame for the whole-frame pass: people
    further away); each detection is then confirmed by the mesh in its box.

    Several faces: the detection overlapping the prior box most, else per ``select`` the
    largest (default: the person in front of the camera) or the most confident; when a second
    face is at least half as large as the chosen one, a warning is logged (once per tracker).

    Use as a context manager and feed consecutive frames of one video to :meth:`landmarks`.
    Not thread-safe; one tracker per video.

    Parameters
    ----------
    min_detection_confidence, min_tracking_confidence : float in [0, 1]
        MediaPipe's thresholds for finding a face and for keeping it.
    static_image : bool
        Treat every frame as unrelated (for still images): detect afresh each time.
    crop_scale : float > 1
        Side of the tracking crop over the larger side of the face box.
    crop_px : int
        Side of the crop the mesh model is given, pixels.
    select : {"largest", "confident"}
        Which of several detected faces to follow (without a prior box that settles it).
    fps : float > 0, Hz
        Frame rate of the video: the time stamps of the video-mode landmarker, whose landmark
        filter smooths over time (stamps a millisecond apart moved the landmarks of a talking
        face by 5 % of the eye distance).
    """

    def __init__(self, *, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 static_image: bool = False, crop_scale: float = 2.0, crop_px: int = 320,
                 select: str = "largest", fps: float = 30.0):
        from .models import import_mediapipe_vision, mediapipe_model

        if select not in FACE_SELECTIONS:
            raise InputError("select", f"must be one of {', '.join(FACE_SELECTIONS)}, got {select!r}")
        mp, vision, BaseOptions = import_mediapipe_vision()  # imported late: ~1 s, only the face stages need it
        if not fps > 0:
            raise InputError("fps", f"must be > 0, got {fps}")
        self._mp = mp
        self._static = static_image
        self._crop_scale = float(crop_scale)
        self._crop_px = int(crop_px)
        self._select = select
        self._warned = False
        self._box: np.ndarray | None = None  # x1, y1, x2, y2 of the face being followed
        self._frame_ms = 1000.0 / float(fps)
        self._frames = 0  # crops given to the video-mode mesh: its time stamps
        # Two landmarkers on the crop: video mode follows the face from its last landmarks
        # (also a face partly out of the frame, which a detector no longer finds); where it
        # loses the face (a face moving by a third of its size in one frame), image mode finds
        # it again in the same crop with its own detector. Still images: image mode alone.
        with _native_stderr_silenced():
            def landmarker(mode):
                return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
                    base_options=BaseOptions(model_asset_buffer=mediapipe_model("face_landmarker.task")),
                    running_mode=mode, num_faces=1, min_face_detection_confidence=min_detection_confidence,
                    min_face_presence_confidence=min_tracking_confidence,
                    min_tracking_confidence=min_tracking_confidence))

            self._meshes = [landmarker(vision.RunningMode.IMAGE)]
            if not static_image:
                self._meshes.insert(0, landmarker(vision.RunningMode.VIDEO))
            self._detector = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_buffer=mediapipe_model("blaze_face_short_range.tflite")),
                running_mode=vision.RunningMode.IMAGE, min_detection_confidence=min_detection_confidence))
        # The detector sees a frame shrunk to 128 x 128 pixels, letterboxed: it finds faces of
        # about a quarter of the frame's longer side and more. Where the whole frame has none,
        # it looks at square tiles of the frame's shorter side, then of half that (each with half
        # a tile of overlap), where a smaller face fills more of what it sees. One pass each:
        # the tile side over the shorter side (None: the whole frame).
        self._passes = (None, 1.0, 0.5)

    def _image(self, rgb: np.ndarray):
        return self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb, np.uint8))

    def _detect_in(self, rgb: np.ndarray, offset=(0.0, 0.0)) -> list[tuple[np.ndarray, float]]:
        with _native_stderr_silenced():
            result = self._detector.detect(self._image(rgb))
        out = []
        for d in result.detections or []:
            bb = d.bounding_box
            box = np.array([bb.origin_x, bb.origin_y, bb.origin_x + bb.width, bb.origin_y + bb.height], np.float64)
            out.append((box + np.r_[offset, offset], float(d.categories[0].score)))
        return out

    def _run(self, tile: float | None, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """One detector pass (:attr:`_passes`) over a frame."""
        if tile is None:
            return self._detect_in(frame)
        h, w = frame.shape[:2]
        side = int(min(h, w) * tile)
        if side < 32 or (tile == 1.0 and h == w):
            return []
        found = []
        for y in _tile_starts(h, side):
            for x in _tile_starts(w, side):
                found += [(box, score) for box, score in self._detect_in(frame[y:y + side, x:x + side], (x, y))
                          if score >= TILE_MIN_SCORE]
        # A face where tiles overlap is found twice: keep the more confident of overlapping boxes.
        kept: list[tuple[np.ndarray, float]] = []
        for box, score in sorted(found, key=lambda f: -f[1]):
            if not kept or box_iou(np.array([b for b, _ in kept]), box).max() < 0.3:
                kept.append((box, score))
        return kept

    def detections(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Faces in a whole frame: the detector's on the whole frame, else on its tiles.

        Returns
        -------
        list of (box, score): box np.ndarray (4,) float64 x1, y1, x2, y2 in pixels; score in [0, 1].
        """
        for tile in self._passes:
            found = self._run(tile, frame)
            if found:
                return found
        return []

    def _choose(self, found: list[tuple[np.ndarray, float]], prior_box: np.ndarray | None) -> np.ndarray:
        """The face to follow among detections (see the class notes); warns once when faces compete."""
        boxes = np.array([b for b, _ in found])
        area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
        iou = np.zeros(len(found)) if prior_box is None else box_iou(boxes, prior_box)
        if iou.max() > 0:  # the dataset says which face
            best, how = int(np.argmax(iou)), "the one in the dataset's box"
        elif self._select == "largest":
            best, how = int(np.argmax(area)), "the largest"
        else:
            best, how = int(np.argmax([score for _, score in found])), "the most confident"
        if len(found) > 1 and not self._warned and np.sort(area)[-2] >= 0.5 * area.max():
            self._warned = True
            log.warning("%d faces compete in a frame; labelling %s (x1 y1 x2 y2 = %s)", len(found), how,
                        " ".join(f"{v:.0f}" for v in boxes[best]))
        return boxes[best]

    def detect(self, frame: np.ndarray, *, prior_box=None) -> Iterator[np.ndarray]:
        """Boxes of the face to follow in a whole frame, one per detector pass that finds any
        (the whole frame, then its tiles); see the class notes on several faces.

        Yields
        ------
        np.ndarray, shape (4,), float64: x1, y1, x2, y2 in pixels.
        """
        prior = None if prior_box is None else np.asarray(prior_box, dtype=np.float64)
        for tile in self._passes:
            found = self._run(tile, frame)
            if found:
                yield self._choose(found, prior)

    def landmarks(self, frame: np.ndarray, *, prior_box=None) -> np.ndarray | None:
        """Landmarks of the face in ``frame``.

        Parameters
        ----------
        frame : np.ndarray, shape (H, W, 3), uint8, RGB
        prior_box : array-like, shape (4,), optional
            x1, y1, x2, y2 (pixels) where a face is expected (e.g. a dataset's box), tried
            first when the tracker has no face to follow; if the mesh finds no face there,
            the detector searches the whole frame. NaN = no prior.

        Returns
        -------
        np.ndarray, shape (478, 3), float32; or None when no face is found.
            x, y in pixels; z the depth relative to the face centre in the same pixel scale,
            larger = nearer the camera (MediaPipe's z, negated).
        """
        if self._static:
            self._box = None
        if self._box is not None:
            xy = self._mesh_in_box(frame, self._box)
        else:
            xy = None
            # A prior is a hint, never the answer: the mesh must find a face in it, and when it
            # does not (a poor dataset box) the detector searches the whole frame.
            prior = None if prior_box is None else np.asarray(prior_box, float)
            if prior is not None and np.all(np.isfinite(prior)) and min(prior[2] - prior[0], prior[3] - prior[1]) > 4:
                xy = self._mesh_in_box(frame, prior)
            usable = prior is not None and np.all(np.isfinite(prior))
            # Each detector's face is confirmed by the mesh; one it cannot confirm, the next tries.
            for box in (self.detect(frame, prior_box=prior if usable else None) if xy is None else ()):
                xy = self._mesh_in_box(frame, box)
                if xy is not None:
                    break
        if xy is None:
            self._box = None  # lost: the next frame searches again
            return None
        self._box = np.r_[xy[:, :2].min(axis=0), xy[:, :2].max(axis=0)].astype(float)
        return xy

    def _mesh_in_box(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        side = self._crop_scale * max(box[2] - box[0], box[3] - box[1], 8.0)
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        crop_box = np.r_[centre - side / 2, centre + side / 2]
        image = self._image(crop_square(frame, crop_box, self._crop_px))
        result = None
        with _native_stderr_silenced():
            if not self._static:
                self._frames += 1
                result = self._meshes[0].detect_for_video(image, int(round(self._frames * self._frame_ms)))
            if not (result and result.face_landmarks):
                result = self._meshes[-1].detect(image)
        if not result.face_landmarks:
            return None
        # MediaPipe's z shares x's scale (crop width units) and grows away from the camera.
        xyz = np.array([(p.x, p.y, -p.z) for p in result.face_landmarks[0]], dtype=np.float64) * side
        xyz[:, :2] += crop_box[:2]
        return xyz.astype(np.float32)

    def close(self) -> None:
        with _native_stderr_silenced():  # the runtime logs its teardown on fd 2
            for mesh in self._meshes:
                mesh.close()
            self._detector.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tile_starts(length: int, side: int) -> list[int]:
    """Starts of tiles of ``side`` pixels covering ``length`` with half a tile of overlap."""
    if side >= length:
        return [0]
    n = int(np.ceil((length - side) / (side / 2))) + 1
    return [int(round(v)) for v in np.linspace(0, length - side, n)]


def crop_square(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Resample the square ``box`` of a frame to ``size`` x ``size`` pixels; black outside the frame.

    Parameters
    ----------
    frame : np.ndarray, shape (H, W, 3), uint8, RGB
    box : np.ndarray, shape (4,), float: x1, y1, x2, y2 in pixels (x2 - x1 = y2 - y1)
    size : int

    Returns
    -------
    np.ndarray, shape (size, size, 3), uint8, RGB
    """
    s = size / (box[2] - box[0])
    m = np.array([[s, 0, -s * box[0]], [0, s, -s * box[1]]])
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Intersection over union of each of ``boxes`` (N, 4) with ``box`` (4,); x1, y1, x2, y2."""
    boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    lo = np.maximum(boxes[:, :2], box[:2])
    hi = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    union = area + np.prod(np.clip(box[2:] - box[:2], 0, None)) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def face_size_px(landmarks: np.ndarray) -> float:
    """Size of a face: the larger side of its landmarks' bounding box, pixels.

    Parameters
    ----------
    landmarks : np.ndarray, shape (478, 2+), float, pixels
    """
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return float((xy.max(axis=0) - xy.min(axis=0)).max())


def face_yaw_deg(landmarks: np.ndarray) -> float:
    """Head yaw from MediaPipe's landmarks: the turn of the line between the cheeks (234 and
    454, the face oval's widest points) out of the image plane, degrees; 0 = frontal, the sign
    says which way (positive: the subject's left cheek nearer the camera).

    Parameters
    ----------
    landmarks : np.ndarray, shape (478, 3), float: x, y, z pixels (z larger = nearer)
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    dx, dz = lm[454, 0] - lm[234, 0], lm[454, 2] - lm[234, 2]
    return float(np.degrees(np.arctan2(dz, dx)))


def face_in_frame(landmarks: np.ndarray, frame_size: tuple[int, int]) -> float:
    """Share of the face oval's area that lies inside the frame, in [0, 1].

    Parameters
    ----------
    landmarks : np.ndarray, shape (478, 2+), float, pixels
    frame_size : (width, height), pixels
    """
    oval = np.asarray(landmarks, dtype=np.float64)[list(FACE_OVAL), :2]
    w, h = frame_size
    lo = np.floor(oval.min(axis=0)).astype(int)
    hi = np.ceil(oval.max(axis=0)).astype(int) + 1
    mask = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.uint8)
    _fill(mask, oval, [], offset=lo.astype(np.float64))
    total = int(mask.sum())
    if total == 0:
        return 0.0
    x1, y1 = max(0, -lo[0]), max(0, -lo[1])
    x2, y2 = min(mask.shape[1], w - lo[0]), min(mask.shape[0], h - lo[1])
    inside = int(mask[y1:y2, x1:x2].sum()) if x2 > x1 and y2 > y1 else 0
    return inside / total


def track_video(path: str | os.PathLike, **tracker_kw) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Decode and track a video, streaming.

    Yields
    ------
    frame : np.ndarray, shape (H, W, 3), uint8, RGB
    landmarks : np.ndarray, shape (478, 3), float32 (see :meth:`FaceTracker.landmarks`); or None.
    """
    tracker_kw.setdefault("fps", probe_video(path).fps)
    with FaceTracker(**tracker_kw) as tracker:
        for frame in iter_frames(path):
            yield frame, tracker.landmarks(frame)


def _scaled(points: np.ndarray, scale: float) -> np.ndarray:
    centre = points.mean(axis=0)
    return centre + (points - centre) * scale


def skin_polygons(landmarks: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The skin region as an outline and holes.

    Parameters
    ----------
    landmarks : np.ndarray, shape (478, 2), float, pixels

    Returns
    -------
    outline : np.ndarray, shape (36, 2), float
        Face oval, slightly shrunk.
    holes : list of np.ndarray, shape (K, 2), float
        Eyes, brows and lips, slightly grown.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 2 or landmarks.shape[0] != N_LANDMARKS or landmarks.shape[1] not in (2, 3):
        raise InputError("landmarks", f"expected shape ({N_LANDMARKS}, 2 or 3), got {landmarks.shape}")
    landmarks = landmarks[:, :2]
    outline = _scaled(landmarks[list(FACE_OVAL)], _OVAL_SCALE)
    holes = [_scaled(landmarks[list(idx)], s) for idx, s in _HOLES]
    return outline, holes


def skin_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of facial skin: face oval minus eyes, eyebrows and mouth.

    Parameters
    ----------
    landmarks : np.ndarray, shape (478, 2), float, pixels
    shape : (H, W) of the image the landmarks refer to

    Returns
    -------
    np.ndarray, shape (H, W), bool
    """
    mask = np.zeros(shape[:2], np.uint8)
    outline, holes = skin_polygons(landmarks)
    _fill(mask, outline, holes, offset=np.zeros(2))
    return mask.astype(bool)


def _fill(mask: np.ndarray, outline: np.ndarray, holes: list[np.ndarray], offset: np.ndarray) -> None:
    # 4 fractional bits keep sub-pixel landmark precision in cv2's integer polygon filler.
    def fixed(p):
        return np.round((p - offset) * 16).astype(np.int32)

    cv2.fillPoly(mask, [fixed(outline)], 1, lineType=cv2.LINE_8, shift=4)
    if holes:
        cv2.fillPoly(mask, [fixed(h) for h in holes], 0, lineType=cv2.LINE_8, shift=4)


def skin_mean_rgb(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean colour of the facial skin in one frame.

    Only the face's bounding box is rasterised, so the cost depends on the face size, not the
    frame size.

    Parameters
    ----------
    frame : np.ndarray, shape (H, W, 3), uint8, RGB
        Full-resolution frame.
    landmarks : np.ndarray, shape (478, 2), float, pixels

    Returns
    -------
    np.ndarray, shape (3,), float64
        Mean R, G, B in [0, 255]; NaN when the skin region lies outside the frame.
    """
    outline, holes = skin_polygons(landmarks)
    h, w = frame.shape[:2]
    x1, y1 = np.floor(outline.min(axis=0)).astype(int)
    x2, y2 = np.ceil(outline.max(axis=0)).astype(int) + 1
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.full(3, np.nan)
    mask = np.zeros((y2 - y1, x2 - x1), np.uint8)
    _fill(mask, outline, holes, offset=np.array([x1, y1], dtype=np.float64))
    if not mask.any():
        return np.full(3, np.nan)
    return np.array(cv2.mean(frame[y1:y2, x1:x2], mask=mask)[:3], dtype=np.float64)


def skin_trace(path: str | os.PathLike, *, progress: bool = False,
               **tracker_kw) -> tuple[np.ndarray, np.ndarray, VideoInfo]:
    """Mean facial-skin colour of every frame of a video, streaming.

    Parameters
    ----------
    path : str or os.PathLike
    progress : bool
        Show a progress bar on stderr.
    **tracker_kw
        Passed to :class:`FaceTracker`.

    Returns
    -------
    rgb : np.ndarray, shape (T, 3), float64
        Mean R, G, B of the skin region in the full-resolution frame; NaN where no face.
    face_ok : np.ndarray, shape (T,), bool
        Frames where a face was tracked and its skin region lies in the frame.
    info : VideoInfo
        Container metadata (``info.fps`` is the sampling rate of the trace).
    """
    info = probe_video(path)
    rgb = []
    bar = progress_bar(total=info.n_frames or None, desc=Path(path).name, unit="frame", enabled=progress)
    with bar:
        for frame, lm in track_video(path, **tracker_kw):
            rgb.append(np.full(3, np.nan) if lm is None else skin_mean_rgb(frame, lm))
            bar.update()
    rgb = np.array(rgb, dtype=np.float64).reshape(-1, 3)
    return rgb, np.all(np.isfinite(rgb), axis=1), info


# --- MediaPipe 478 -> iBUG 68 ------------------------------------------------------------------
# iBUG numbering is 1-based in the literature; arrays here are 0-based (iBUG k = row k-1).
# Jaw 1-17: eos treats 1-8 and 10-17 as contour points that must lie on the face outline, so they
# are resampled by arc length along MediaPipe's face-oval contour from the subject's right cheek
# (image left, 234) through the chin (152, iBUG 9) to the left cheek (454).
_JAW_RIGHT = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152)
_JAW_LEFT = (152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454)
# Brows 18-22 (subject's right, outer to inner) and 23-27 (left, inner to outer): the midline
# of MediaPipe's upper and lower brow polylines.
_BROW_RIGHT = ((70, 46), (63, 53), (105, 52), (66, 65), (107, 55))
_BROW_LEFT = ((336, 285), (296, 295), (334, 282), (293, 283), (300, 276))
# Nose 28-36, eyes 37-48, mouth 49-68: single MediaPipe points.
_IBUG_POINTS = (
    168, 197, 5, 4,                    # 28-31 nose bridge to tip
    75, 97, 2, 326, 305,               # 32-36 nostril wings and base, right to left
    33, 160, 158, 133, 153, 144,       # 37-42 right eye: outer corner, upper lid, inner, lower lid
    362, 385, 387, 263, 373, 380,      # 43-48 left eye: inner corner, upper lid, outer, lower lid
    61, 39, 37, 0, 267, 269, 291,      # 49-55 outer lip, upper, right corner to left corner
    405, 314, 17, 84, 181,             # 56-60 outer lip, lower, left to right
    78, 82, 13, 312, 308, 317, 14, 87,  # 61-68 inner lip
)


def _resample_polyline(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a polyline, ends included."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.r_[0.0, np.cumsum(seg)]
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, k]) for k in range(points.shape[1])], axis=1)


def to_ibug68(landmarks: np.ndarray) -> np.ndarray:
    """MediaPipe's 478 landmarks as the 68 points of the iBUG scheme (what eos expects).

    Parameters
    ----------
    landmarks : np.ndarray, shape (478, 2) or (478, 3), float, pixels

    Returns
    -------
    np.ndarray, shape (68, D), float32 (D as given): row k is iBUG point k + 1.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != N_LANDMARKS:
        raise InputError("landmarks", f"expected shape ({N_LANDMARKS}, 2 or 3), got {lm.shape}")
    jaw = np.vstack([_resample_polyline(lm[list(_JAW_RIGHT)], 9),
                     _resample_polyline(lm[list(_JAW_LEFT)], 9)[1:]])
    brows = np.array([(lm[a] + lm[b]) / 2 for a, b in _BROW_RIGHT + _BROW_LEFT])
    return np.vstack([jaw, brows, lm[list(_IBUG_POINTS)]]).astype(np.float32)


@functools.lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """Triangles of MediaPipe's face mesh, with the eye openings filled.

    MediaPipe publishes its tesselation as edges; the triangles are its 3-cliques. Each eye
    opening is closed by a fan around the iris centre (468 right, 473 left), so a rendered depth
    map has no holes at the eyes; the mouth stays open, as in the Surrey Face Model.

    Returns
    -------
    np.ndarray, shape (M, 3), int32
    """
    from .models import import_mediapipe_vision

    connections = import_mediapipe_vision()[1].FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION
    edges = [(c.start, c.end) for c in connections]
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]}
    for loop, centre in ((RIGHT_EYE, 468), (LEFT_EYE, 473)):
        tris |= {(centre, p, q) for p, q in zip(loop, loop[1:] + loop[:1])}
    return np.array(sorted(tris), dtype=np.int32)
