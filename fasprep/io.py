"""Video input and atomic file output.

Frames inside fasprep are always ``(H, W, 3) uint8`` RGB; conversion from OpenCV's BGR happens
here, at the edge. Decoding streams: at most ``prefetch`` frames are held in memory whatever
the length of the video.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)

#: Decoding fewer than this share of the frames a container lists means the file is truncated.
MIN_DECODED_SHARE = 0.9

_CV_LOG_ERROR = 2  # cv::utils::logging::LOG_LEVEL_ERROR
# OpenCV 4.13 moved the log-level functions from cv2 to cv2.utils.logging.
_cv_logging = getattr(getattr(cv2, "utils", None), "logging", None)
if _cv_logging is None or not hasattr(_cv_logging, "getLogLevel"):
    _cv_logging = cv2


def _umask() -> int:
    """The process's umask, read without changing it (Linux /proc), else set-and-restore."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video.

    Attributes
    ----------
    path : str
    fps : float, Hz
        Frame rate from the container.
    n_frames : int
        Frame count from the container (an estimate for some formats; decoding is the truth).
    width, height : int, pixels
        Of the frames as decoded, i.e. displayed (after the container's rotation).
    rotation_deg : int
        Clockwise rotation the container asks for on display (0, 90, 180 or 270; phones
        filming in portrait store 90 or 270). Decoding applies it: frames come out upright.
    """

    path: str
    fps: float
    n_frames: int
    width: int
    height: int
    rotation_deg: int = 0


# Container rotation (OpenCV >= 4.5; older 4.x builds neither read nor apply it).
_ROTATION_META = getattr(cv2, "CAP_PROP_ORIENTATION_META", None)
_AUTO_ROTATE = getattr(cv2, "CAP_PROP_ORIENTATION_AUTO", None)


def _describe_unopenable(path: Path) -> str:
    """Say why FFmpeg could not open ``path``, as precisely as the header allows."""
    with open(path, "rb") as f:
        head = f.read(12)
    if not head:
        return "file is empty (0 bytes)"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return "MP4/MOV container cannot be opened: the file is truncated or damaged (no index found)"
    return "not a video file that FFmpeg/OpenCV can read"


#: Clockwise turns of :func:`turn_frame`, as OpenCV rotation codes.
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _check_turn(rotation_deg: int) -> int:
    if int(rotation_deg) % 90:
        raise InputError("rotation_deg", f"must be a multiple of 90, got {rotation_deg}")
    return int(rotation_deg) % 360


def turn_frame(frame: np.ndarray, rotation_deg: int) -> np.ndarray:
    """``frame`` turned clockwise by ``rotation_deg`` (0, 90, 180, 270), contiguous; the same
    array for 0."""
    turn = _check_turn(rotation_deg)
    return frame if turn == 0 else cv2.rotate(frame, _TURNS[turn])


def turn_boxes(boxes: np.ndarray, rotation_deg: int, size: tuple[int, int]) -> np.ndarray:
    """Boxes of a frame carried into the same frame turned clockwise by ``rotation_deg``.

    Parameters
    ----------
    boxes : np.ndarray, shape (N, 4), float
        ``x1, y1, x2, y2``, pixels of the frame before turning (NaN rows stay NaN).
    rotation_deg : int, multiple of 90
    size : (width, height), pixels
        Of the frame before turning.

    Returns
    -------
    np.ndarray, shape (N, 4), float32
        ``x1, y1, x2, y2`` (x1 <= x2, y1 <= y2) in the turned frame.
    """
    turn = _check_turn(rotation_deg)
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    w, h = size
    x1, y1, x2, y2 = b.T
    if turn == 90:  # (x, y) -> (h - y, x)
        out = (h - y2, x1, h - y1, x2)
    elif turn == 180:  # (x, y) -> (w - x, h - y)
        out = (w - x2, h - y2, w - x1, h - y1)
    elif turn == 270:  # (x, y) -> (y, w - x)
        out = (y1, w - x2, y2, w - x1)
    else:
        out = (x1, y1, x2, y2)
    return np.stack(out, axis=1).astype(np.float32)


def _decode_inline(cap: cv2.VideoCapture, info: "VideoInfo", path, turn: int = 0) -> Iterator[np.ndarray]:
    n = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            n += 1
            yield turn_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), turn)
    finally:
        cap.release()
    _check_decoded(path, n, info)


def _check_decoded(path, n: int, info: "VideoInfo") -> None:
    if n == 0:
        raise InputError(path, "no frame could be decoded (zero-frame or corrupt video)")
    if info.n_frames and n < MIN_DECODED_SHARE * info.n_frames:
        log.warning("%s: decoded %d of the %d frames the container lists; the file may be truncated",
                    path, n, info.n_frames)


def _open_capture(path: str | os.PathLike, threads: int | None = None) -> tuple[cv2.VideoCapture, VideoInfo]:
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a directory, not a video file")
    if not os.access(p, os.R_OK):
        raise InputError(p, "permission denied")
    # OpenCV warns on stderr when FFmpeg refuses a file; fasprep says why itself, below.
    level = _cv_logging.getLogLevel()
    _cv_logging.setLogLevel(_CV_LOG_ERROR)
    try:
        params = [] if threads is None else [cv2.CAP_PROP_N_THREADS, int(threads)]
        cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG, params)
    finally:
        _cv_logging.setLogLevel(level)
    if not cap.isOpened():
        raise InputError(p, _describe_unopenable(p))
    if _AUTO_ROTATE is not None:  # frames as displayed, whatever this OpenCV's default
        cap.set(_AUTO_ROTATE, 1)
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    info = VideoInfo(
        path=str(p),
        fps=fps,
        n_frames=max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        rotation_deg=int(round(cap.get(_ROTATION_META))) % 360 if _ROTATION_META is not None else 0,
    )
    if not (0 < fps < 1000):
        cap.release()
        raise InputError(p, f"container reports no usable frame rate (fps={fps:g})")
    return cap, info


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's container metadata without decoding frames.

    Raises
    ------
    InputError
        Missing file, not a video, truncated container, no frame rate.
    """
    cap, info = _open_capture(path)
    cap.release()
    return info


def iter_frames(path: str | os.PathLike, *, prefetch: int = 8, threads: int | None = None,
                rotation_deg: int = 0) -> Iterator[np.ndarray]:
    """Decode a video frame by frame, in a background thread (or in the caller's).

    Parameters
    ----------
    path : str or os.PathLike
    prefetch : int >= 0
        Frames decoded ahead in a background thread; bounds memory. Decoding then overlaps
        the caller's work on another core (OpenCV releases the GIL while decoding). 0 decodes
        in the caller's thread: one core in all, for a worker among as many as there are cores.
    threads : int, optional
        FFmpeg decoder threads (default: FFmpeg's choice, about one per core).
    rotation_deg : int, multiple of 90
        A further clockwise turn of every frame, after the container's own rotation: a
        dataset's correction of videos it knows are stored turned without saying so
        (:attr:`fasprep.datasets.VideoRecord.rotation_deg`).

    Yields
    ------
    frame : np.ndarray, shape (H, W, 3), uint8, RGB

    Raises
    ------
    InputError
        The file cannot be opened, or it opens but not a single frame decodes.
    """
    turn = _check_turn(rotation_deg)
    cap, info = _open_capture(path, threads)
    if prefetch < 1:
        yield from _decode_inline(cap, info, path, turn)
        return
    q: queue.Queue = queue.Queue(maxsize=max(int(prefetch), 1))
    stop = threading.Event()
    done = object()

    def decode() -> None:
        try:
            while not stop.is_set():
                ok, bgr = cap.read()
                if not ok:
                    break
                q.put(turn_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), turn))
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(exc)
        finally:
            cap.release()
            q.put(done)

    thread = threading.Thread(target=decode, name="fasprep-decode", daemon=True)
    thread.start()
    n = 0
    try:
        while True:
            item = q.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            n += 1
            yield item
    finally:
        stop.set()
        # Drain so the decoder is never blocked on a full queue, then let it finish.
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        thread.join()
    _check_decoded(path, n, info)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else all).

    >>> usable_cores() >= 1
    True
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


#: x264 presets :func:`write_video` accepts, slowest first.
X264_PRESETS = ("veryslow", "slower", "slow", "medium", "fast", "faster", "veryfast", "superfast", "ultrafast")

#: :func:`write_video`'s x264 preset and constant rate factor: SiW-like bits per pixel (see there).
DEFAULT_PRESET, DEFAULT_CRF = "fast", 15
#: x264 settings that make :func:`write_video`'s output a function of its frames alone. The
#: macroblock-tree rate control (x264's default) gave other bytes run to run for the same frames
#: (4 distinct files in 10 encodes of one 300-frame mock video, with 1 or 2 threads; one file with
#: it off, or with x264's assembly off), and the slices follow the thread count, which FFmpeg
#: otherwise takes from the cores (other bytes with 1, 2 and 3 threads). Such differences moved
#: a mock live video's heart rate from 94.9 to 52 bpm. tests/test_io.py checks both. Without the
#: tree, CRF 15 spends 0.49 bits per pixel on a 10 s mock live video (0.30 with it), SiW's rate.
#: PyAV 18.1 (CPython 3.11) and 19.0 (3.13) wrote files that decode to the same frames (only
#: the muxer's version tag differs).
X264_THREADS = 2
X264_PARAMS = "mbtree=0"
#: CRF at which an x264 preset spends about SiW's bits per pixel on a 10 s mock live video (640x360,
#: real face photo, sensor noise): fast 15 -> 0.49, ultrafast 20 -> 0.49 at 0.11x the CPU (1.6
#: against 14.2 ms per frame, one core). Others: :data:`DEFAULT_CRF`.
SIW_LIKE_CRF = {"fast": 15, "ultrafast": 20}


def write_video(path: str | os.PathLike, frames, *, fps: float, crf: int = DEFAULT_CRF, rotation_deg: int = 0,
                preset: str = DEFAULT_PRESET) -> int:
    """Encode RGB frames to an H.264 MP4, atomically; the same frames give the same bytes, run
    after run, on any number of cores (:data:`X264_THREADS`, :data:`X264_PARAMS`).

    Uses PyAV's FFmpeg (libx264; OpenCV's wheels carry no H.264 encoder). The default quality,
    preset ``"fast"`` at CRF 15 with ``tune=grain``, spends about 0.4-0.6 bits per pixel on the
    generated face videos, the rate of SiW's camera files (27 Mbit/s at 1080p30: 0.43); lower-rate
    encoders erase the sub-grey-level colour changes that rPPG measures. ``"veryfast"`` at CRF 16
    spends the same bits at 0.4x the CPU time but keeps less of the pulse: on the suite's rPPG
    videos it lowered CHROM's SNR by 2-5 dB and moved 5 heart-rate and SNR checks past their
    margins (``python benchmarks/synth.py`` times the presets).

    Parameters
    ----------
    path : str or os.PathLike
        Output file (MP4 container whatever the suffix).
    frames : iterable of np.ndarray, shape (H, W, 3), uint8, RGB
        Streamed to the encoder: never held in memory all at once. H and W must be even.
    fps : float > 0, Hz
    crf : int in [0, 51]
        x264 constant rate factor (lower = better; 0 is lossless).
    rotation_deg : {0, 90, 180, 270}
        Store the frames turned and let the container's display matrix turn them back, as a
        phone filming in portrait does: a reader that honours the container shows ``frames``;
        :attr:`VideoInfo.rotation_deg` reads this value back (clockwise degrees).
    preset : str, one of :data:`X264_PRESETS`
        x264's speed/compression trade-off at the same CRF. ``"ultrafast"`` encodes a few times
        faster than the default and, compressing less, spends about 3x the bits: for test
        trees where encoding time matters more than SiW-like files.

    Returns
    -------
    n_frames : int
    """
    from fractions import Fraction

    import av

    path = Path(path)
    if rotation_deg % 90:
        raise InputError("rotation_deg", f"must be a multiple of 90, got {rotation_deg}")
    if preset not in X264_PRESETS:
        raise InputError("preset", f"must be one of {', '.join(X264_PRESETS)}, got {preset!r}")
    turns = (rotation_deg // 90) % 4
    n = 0
    with atomic_path(path) as tmp:
        try:
            with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
                stream = None
                for frame in frames:
                    frame = np.rot90(frame, k=turns) if turns else frame  # stored = displayed turned back
                    if stream is None:
                        h, w = frame.shape[:2]
                        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001),
                                                options={"preset": preset, "tune": "grain", "crf": str(crf),
                                                         "x264-params": X264_PARAMS})
                        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                        stream.thread_count = X264_THREADS  # the same bytes on any number of cores
                        if turns:
                            stream.set_display_rotation((-90 * turns) % 360)  # PyAV counts counter-clockwise
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
                    out.mux(stream.encode(vf))
                    n += 1
                if stream is not None:
                    out.mux(stream.encode(None))  # flush the encoder
        except (av.FFmpegError, ValueError) as exc:
            raise InputError(path, f"FFmpeg failed to encode: {exc}") from exc
        if n == 0:
            raise InputError(path, "no frames to write")
    return n


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or a directory's) data and metadata to the disk (``fsync``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    An interrupted writer leaves no partial file under the final name. The temporary name keeps
    the suffix so that libraries that choose a format by extension still work. ``durable``
    also fsyncs the file before the rename and the folder after it, so that the new content
    survives a power loss once the block exits (for files that others point at: a manifest).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
