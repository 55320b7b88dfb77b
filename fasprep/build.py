"""Build a dataset: one task per video, run in parallel, packed into shards.

The stages are composed here and only here (:func:`label_video`); parallelism is here and only
here (:func:`run_tasks`, joblib with loky or Dask: one code path, the backend is a parameter).

A build folder OUT holds::

    OUT/protocols/<protocol>/<split>.csv      from the file names (also written by --dry-run)
    OUT/parts/<video_id>.json                 done-marker: config hash, status, error, counts
    OUT/parts/<video_id>.h5                   the video's labels until they are packed
    OUT/shards/<dataset>-NNNNN.h5             packed, size-bounded
    OUT/manifest.json, OUT/failures.csv

Resuming: a video whose marker carries the current config hash is not processed again (a
failed one only with ``redo_failed``); a different hash (another crop size, depth source, ...)
redoes it. Parts and markers are written atomically, so a build killed at any moment resumes
where it stopped.

Packing is atomic as a whole: new shards get new names, the manifest is switched atomically
and durably, and only then are the old shards and the packed parts removed, so a kill at any
instant leaves either the old or the new build. A re-run trusts an old shard only after its
sha256 matched the manifest's (cached by size and mtime), rebuilds the videos of a damaged one
from their parts or from RAW, and recovers a lost manifest (or lost markers) from intact shards.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np

from . import __version__
from . import depth as dp
from .datasets import Dataset, VideoRecord, get_dataset, write_protocols
from .depth_labels import DEPTH_SOURCES, QualityGate, label_frames
from .errors import FasprepError, InputError, OutputError
from .face import FACE_SELECTIONS, FaceTracker, crop_square, skin_mean_rgb
from .io import MIN_DECODED_SHARE, atomic_path, iter_frames, probe_video, turn_boxes, usable_cores
from .progress import progress_bar
from .rppg import analyse_trace
from .shards import (
    CODECS,
    FORMAT,
    FORMAT_VERSION,
    PartWriter,
    ShardWriter,
    damaged_shards,
    find_videos_in_shards,
    group_name,
    read_manifest,
    record_checks,
    write_manifest,
)

log = logging.getLogger(__name__)

#: Bump when the labels computed for the same config change; older parts are then redone.
LABEL_VERSION = 3
#: Deaths of a worker process under a video, seen by the build, before it is recorded as failed.
MAX_ATTEMPTS = 3
BACKENDS = ("loky", "dask")


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the content of a video's labels (its hash keys the done-markers).

    Attributes
    ----------
    crop_size : int, H = W of the stored face crops, pixels
    crop_scale : float, side of the square crop over the larger side of the landmarks' box
    depth_size : int, S of the depth maps and NRR grids
    depth_source : {"sfm", "mesh"}
    frame_stride : int, store every K-th frame (the pulse always uses every frame)
    frame_codec : {"jpeg", "raw"}
    jpeg_quality : int in [1, 100]
    rppg_bins : int, F of the label spectrum
    face_select : {"largest", "confident"}, which face is labelled when several are found and
        the dataset's box does not say (:class:`fasprep.face.FaceTracker`)
    min_face_px, max_yaw_deg, min_in_frame, max_fit_error : the per-frame quality gate
        (:class:`fasprep.depth_labels.QualityGate`); a frame that fails it gets face_ok False
        and no depth, its reason counted in the manifest
    """

    crop_size: int = 256
    crop_scale: float = 1.3
    depth_size: int = 32
    depth_source: str = "sfm"
    frame_stride: int = 1
    frame_codec: str = "jpeg"
    jpeg_quality: int = 90
    rppg_bins: int = 50
    face_select: str = "largest"
    min_face_px: float = QualityGate.min_face_px
    max_yaw_deg: float = QualityGate.max_yaw_deg
    min_in_frame: float = QualityGate.min_in_frame
    max_fit_error: float = QualityGate.max_fit_error

    def __post_init__(self):
        if self.face_select not in FACE_SELECTIONS:
            raise InputError("face_select", f"must be one of {', '.join(FACE_SELECTIONS)}, got {self.face_select!r}")
        if self.depth_source not in DEPTH_SOURCES:
            raise InputError("depth_source", f"must be one of {', '.join(DEPTH_SOURCES)}, got {self.depth_source!r}")
        if self.frame_codec not in CODECS:
            raise InputError("frame_codec", f"must be one of {', '.join(CODECS)}, got {self.frame_codec!r}")
        for name in ("crop_size", "depth_size", "frame_stride", "rppg_bins"):
            if getattr(self, name) < 1:
                raise InputError(name, f"must be >= 1, got {getattr(self, name)}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def gate(self) -> QualityGate:
        return QualityGate(min_face_px=self.min_face_px, max_yaw_deg=self.max_yaw_deg,
                           min_in_frame=self.min_in_frame, max_fit_error=self.max_fit_error)

    @property
    def hash(self) -> str:
        text = json.dumps({**self.as_dict(), "label_version": LABEL_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- one video ---------------------------------------------------------------------------------


def _prior(boxes: np.ndarray | None, t: int) -> np.ndarray | None:
    if boxes is None or t >= len(boxes) or not np.all(np.isfinite(boxes[t])):
        return None
    return boxes[t]


def label_video(record: VideoRecord, writer: PartWriter, *, config: BuildConfig,
                sfm_dir: str | None = None, decode_thread: bool = False) -> dict:
    """Decode, track, crop, fit depth and measure the pulse of one video, into ``writer``.

    Streams the video: per frame only its landmarks, skin colour and (for stored frames) the
    encoded crop are kept. The dataset's face boxes, when there are any, are tried as a prior
    where the tracker has no face to follow; the tracker's own result decides.

    Crop box of a frame: the square around its landmarks (``crop_scale``); on a frame without a
    face the last face's box, before the first face the dataset box, else the frame's centre square.

    ``decode_thread``: decode in a thread of its own, a few frames ahead, overlapping the
    labelling (for a task that has two cores); else in this thread (one core).

    Returns
    -------
    dict: the group attributes written (hr_bpm, snr_db, ...) and ``n_frames`` stored.
    """
    info = probe_video(record.path)
    try:
        boxes = face_prior(record, info.n_frames or None)
    except InputError as exc:  # the prior only helps the tracker: a broken file is like a missing one
        boxes = None
        warnings.warn(f"{exc}; the video is built without its face prior", stacklevel=2)
    if boxes is not None and record.rotation_deg:  # the dataset's turn (MSU's upside-down videos): boxes too
        boxes = turn_boxes(boxes, record.rotation_deg, (info.width, info.height))
    stride, scale = config.frame_stride, config.crop_scale
    rgb, kept_lm, kept_box, kept_index = [], [], [], []
    last_box = None
    frame_wh = None
    with FaceTracker(select=config.face_select, fps=info.fps) as tracker:
        # FFmpeg single-threaded, in this thread when the task has one core (as many workers as
        # cores: the fastest in total, and workers scale linearly), else in a thread of its own.
        for t, frame in enumerate(iter_frames(record.path, prefetch=2 if decode_thread else 0, threads=1,
                                              rotation_deg=record.rotation_deg)):
            prior = _prior(boxes, t)
            frame_wh = (frame.shape[1], frame.shape[0])
            lm = tracker.landmarks(frame, prior_box=prior)
            rgb.append(np.full(3, np.nan) if lm is None else skin_mean_rgb(frame, lm[:, :2]))
            if lm is not None:
                last_box = dp.square_box(lm, scale=scale)
            if t % stride:
                continue
            if last_box is not None:
                box = last_box
            elif prior is not None:
                box = dp.square_box(prior.reshape(2, 2), scale=scale / 1.2)  # dataset boxes are loose
            else:
                h, w = frame.shape[:2]
                side = min(h, w)
                box = np.array([(w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2])
            writer.add_frame(crop_square(frame, box, config.crop_size))
            kept_lm.append(np.full((478, 3), np.nan, np.float32) if lm is None else lm)
            kept_box.append(box)
            kept_index.append(t)
    if info.n_frames and len(rgb) < MIN_DECODED_SHARE * info.n_frames:
        raise InputError(record.path, f"decoded only {len(rgb)} of the {info.n_frames} frames its container lists: "
                                      "the file is truncated or damaged")
    rgb = np.array(rgb, np.float64).reshape(-1, 3)
    face_ok_all = np.all(np.isfinite(rgb), axis=1)
    pulse = analyse_trace(rgb, face_ok_all, fs=info.fps, source=str(record.path), n_bins=config.rppg_bins)
    lm = np.array(kept_lm)
    ok = np.all(np.isfinite(lm[:, :, 0]), axis=1)
    depth = label_frames(lm, ok, source=config.depth_source, size=config.depth_size, crop_scale=scale,
                         sfm_dir=sfm_dir, gate=config.gate, frame_size=frame_wh)
    ok = depth.face_ok
    live = record.label == "live"
    index = np.array(kept_index, np.int32)
    arrays = {
        "depth": depth.depth if live else np.zeros_like(depth.depth),
        "depth_mask": depth.mask,
        # Frames without a face get the crop centre, not NaN: NaN would poison grid_sample.
        "nrr_grid": np.clip(np.nan_to_num(depth.nrr_grid, nan=0.0), -1.0, 1.0),
        "face_ok": ok,
        "frame_index": index,
        "box": np.array(kept_box, np.float32),
        "landmarks": depth.landmarks,
        "rppg": pulse.pulse[index],
        "rppg_fft": pulse.label if live else np.zeros_like(pulse.label),
    }
    rmse = depth.fit_rmse_px[ok]
    turned = (int(info.rotation_deg) + record.rotation_deg) % 360  # the container's turn and the dataset's
    attrs = {**record.attrs, "fps": float(info.fps), "rotation_deg": turned,
             "hr_bpm": float(pulse.hr_bpm), "snr_db": float(pulse.snr_db),
             "hr_reliable": bool(pulse.hr_reliable), "hr_note": pulse.hr_note, "rejected_frames": depth.rejected(),
             "source": f"{record.video_id}{record.path.suffix}",
             "n_frames_source": len(rgb),
             "fit_rmse_px": float(np.mean(rmse)) if len(rmse) and np.all(np.isfinite(rmse)) else float("nan")}
    writer.finish(arrays, attrs)
    return {**attrs, "n_frames": int(len(index))}


def part_paths(out: str | os.PathLike, video_id: str) -> tuple[Path, Path]:
    """(part file, done-marker) of a video in a build folder."""
    base = Path(out) / "parts" / video_id
    return base.with_name(base.name + ".h5"), base.with_name(base.name + ".json")


def process_video(record: VideoRecord, *, out: str, config: BuildConfig, sfm_dir: str | None = None,
                  run_id: str | None = None, decode_thread: bool = False) -> dict:
    """The task of one video: its part file and its done-marker; never raises for a bad video.

    An output that cannot be written (a full disk, a read-only folder) is not the video's
    fault: it raises :class:`~fasprep.errors.OutputError` and stops the build.

    Returns the marker: ``video_id, config_hash, status (ok|failed), error, label, n_frames,
    bytes, hr_bpm, snr_db, seconds, warnings`` (and ``traceback`` for an unexpected error).
    """
    import cv2

    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one task = one core; parallelism comes from the workers
    start = time.perf_counter()
    part, marker_path = part_paths(out, record.video_id)
    marker = {"video_id": record.video_id, "config_hash": config.hash, "status": "ok", "error": None,
              **_identity(record), "n_frames": 0, "bytes": 0, "hr_bpm": None, "snr_db": None}
    try:
        # "started" (with the build's run id) tells the build which videos were in flight when
        # a worker process died; it is not counted here: only the build can tell a worker's
        # death from a stop of the whole build.
        _write_marker(marker_path, {**marker, "status": "started", "run": run_id})
        with warnings.catch_warnings(record=True) as caught, _logged_warnings() as logged:
            warnings.simplefilter("always")
            try:
                with PartWriter(part, record.video_id, codec=config.frame_codec, crop_size=config.crop_size,
                                jpeg_quality=config.jpeg_quality) as writer:
                    result = label_video(record, writer, config=config, sfm_dir=sfm_dir, decode_thread=decode_thread)
                marker.update(n_frames=result["n_frames"], bytes=part.stat().st_size,
                              hr_bpm=_num(result["hr_bpm"]), snr_db=_num(result["snr_db"]),
                              hr_reliable=result["hr_reliable"], rejected_frames=result["rejected_frames"],
                              **({"hr_note": result["hr_note"]} if result["hr_note"] else {}))
            except FasprepError as exc:
                marker.update(status="failed", error=str(exc))
            except OSError as exc:
                if storage_error(exc, part) is not None:
                    raise
                marker.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            except Exception as exc:  # a bug or a library failure on this video: recorded, the build goes on
                marker.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        marker["warnings"] = [str(w.message) for w in caught] + logged
        marker["seconds"] = round(time.perf_counter() - start, 3)
        _write_marker(marker_path, marker)
    except OSError as exc:
        err = storage_error(exc, part)
        if err is None:
            raise
        raise err from None
    finally:
        cv2.setNumThreads(cv_threads)
    return marker


#: errno values that say an output cannot be written (not that an input is bad).
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def storage_error(exc: OSError, path: str | os.PathLike) -> OutputError | None:
    """The :class:`OutputError` for an OS error of writing ``path`` (a full disk, a read-only or
    unwritable folder), or None when ``exc`` is another kind of error.

    HDF5 errors carry no ``errno`` attribute; their message does (``errno = 28``).
    """
    code = exc.errno
    if code is None:
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    if code not in _STORAGE_ERRNOS:
        return None
    return OutputError(exc.filename or path, f"cannot write: {os.strerror(code)}")


def _write_marker(path: Path, marker: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(marker) + "\n")


@contextlib.contextmanager
def _logged_warnings() -> Iterator[list[str]]:
    """Collect fasprep's log warnings of one task for its marker, instead of printing them
    through the progress bar (a build of thousands of videos would bury the bar)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = logging.getLogger("fasprep")
    handler, propagate = Collect(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 3)


# --- many videos -------------------------------------------------------------------------------


def run_tasks(fn: Callable, items: list, *, workers: int = 1, backend: str = "loky",
              scheduler: str | None = None) -> Iterator:
    """``fn(item)`` for every item, results in completion order, on joblib's loky or Dask backend.

    ``backend="dask"`` connects to ``scheduler`` (e.g. ``tcp://host:8786``) or, without one,
    starts a local cluster of ``workers`` processes. Dask workers need the same Python
    environment and must see the same paths (a shared filesystem).
    """
    from joblib import Parallel, delayed, parallel_config

    if backend not in BACKENDS:
        raise InputError("backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
    tasks = (delayed(fn)(item) for item in items)
    if backend == "loky":
        yield from Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")(tasks)
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InputError("backend", "dask needs the dask extra: pip install 'fasprep[dask]'") from exc
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                stack.enter_context(Client(scheduler, timeout="20s"))  # joblib's dask backend uses it
            except OSError as exc:
                raise InputError(scheduler, f"cannot reach the Dask scheduler ({exc})") from exc
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1,
                                                       processes=True, dashboard_address=None))
            stack.enter_context(Client(cluster))
        stack.enter_context(parallel_config(backend="dask"))
        yield from Parallel(n_jobs=-1, return_as="generator_unordered")(tasks)


def _worker_died_errors() -> tuple[type[BaseException], ...]:
    """What joblib (loky) and Dask raise when a worker process dies under a task."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    errors: tuple[type[BaseException], ...] = (TerminatedWorkerError,)
    try:
        from distributed import KilledWorker

        errors += (KilledWorker,)
    except ImportError:
        pass
    return errors


def read_marker(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@dataclass
class BuildResult:
    out: Path
    n_videos: int
    n_ok: int
    n_failed: int
    n_processed: int  # in this run
    n_skipped: int  # done before this run
    failures: list[tuple[str, str]]
    shards: int
    seconds: float

    @property
    def exit_code(self) -> int:
        return 3 if self.n_failed else 0


#: Worker processes hold a shared lock on this file while they run a task (see _worker_guard).
WORKERS_LOCK = ".workers.lock"


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold OUT's build lock, after the worker processes of a killed earlier build are gone."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(out, "another build is writing to this folder") from None
        _wait_for_orphan_workers(out)
        yield


def _wait_for_orphan_workers(out: Path, timeout: float = 10.0) -> None:
    """Wait until no worker holds OUT/.workers.lock: a worker whose build was killed exits
    within a fraction of a second (:func:`_exit_with_parent`)."""
    with open(out / WORKERS_LOCK, "a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(out, "worker processes of an earlier build are still writing to this "
                                          "folder") from None
                time.sleep(0.1)


# Per worker process: the builds it watches and its open lock files (resources of the process).
_watched_builds: set[int] = set()
_worker_lock_files: dict[str, io.TextIOWrapper] = {}


@contextlib.contextmanager
def _worker_guard(out: str, build_pid: int) -> Iterator[None]:
    """In a loky worker process of the build: exit when the build's process dies, and hold a
    shared lock on OUT/.workers.lock while the task runs, so that a new build waits for it.
    A no-op in the build's own process (one worker runs inline)."""
    if os.getpid() == build_pid:
        yield
        return
    if os.getppid() != build_pid:  # the build died while this task was queued: do not start it
        os._exit(1)
    if build_pid not in _watched_builds:
        _watched_builds.add(build_pid)
        threading.Thread(target=_exit_with_parent, args=(build_pid,), name="fasprep-parent-watch", daemon=True).start()
    if out not in _worker_lock_files:
        _worker_lock_files[out] = open(Path(out) / WORKERS_LOCK, "a")
    lock = _worker_lock_files[out]
    fcntl.flock(lock, fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)


def _exit_with_parent(build_pid: int) -> None:
    while os.getppid() == build_pid:
        time.sleep(0.2)
    os._exit(1)  # the build is gone (killed): write nothing more into its folder


def _clean_stale_temps(folder: Path) -> None:
    """Temp files of writers killed mid-write (``.<name>.<random>.tmp.h5``), anywhere in OUT:
    with the lock held, none of them is being written."""
    if folder.is_dir():
        for p in folder.rglob(".*.tmp*"):
            p.unlink(missing_ok=True)


@contextlib.contextmanager
def _storage_errors(path: Path) -> Iterator[None]:
    """OS errors of writing (a full disk, a read-only folder) as one :class:`OutputError`."""
    try:
        yield
    except OSError as exc:
        err = storage_error(exc, path)
        if err is None:
            raise
        raise err from exc


#: What the manifest says of every video besides its build result (docs/format.md).
IDENTITY = ("label", "attack", "split", "subject")


def _identity(record: VideoRecord) -> dict:
    return {k: getattr(record, k) for k in IDENTITY}


def face_prior(record: VideoRecord, n_frames: int | None) -> np.ndarray | None:
    """The dataset's face prior of a video as boxes (N, 4) float32 x1, y1, x2, y2, NaN rows where
    there is none (the adapter named by ``record.dataset`` reads it); None without one."""
    if record.face_path is None:
        return None
    return get_dataset(record.dataset).face_prior(record, n_frames)


def build(dataset: str | Dataset, raw: str | os.PathLike, out: str | os.PathLike, *, config: BuildConfig = BuildConfig(),
          workers: int = 1, backend: str = "loky", scheduler: str | None = None, redo_failed: bool = False,
          shard_bytes: int = 2 << 30, sfm_dir: str | os.PathLike | None = None, keep_parts: bool = False,
          progress: bool = True, scan=None) -> BuildResult:
    """Build a dataset: protocols, one task per video (resumable), then shards and manifest.

    Parameters
    ----------
    dataset : a name in :data:`fasprep.datasets.DATASETS` (``"siw"``, ``"oulu-npu"``, ``"folder"``), or an
        adapter (e.g. :func:`fasprep.datasets.folder.folder_dataset` with its own split)
    raw, out : the dataset's root and the build folder
    config : BuildConfig
    workers : int, parallel tasks
    backend : {"loky", "dask"}; scheduler: a Dask scheduler address (dask only)
    redo_failed : retry videos that failed in an earlier run
    shard_bytes : soft bound on a shard's size
    sfm_dir : the Surrey Face Model folder (``depth_source="sfm"``)
    keep_parts : keep the per-video part files after packing (else removed; markers stay)
    scan : a precomputed :class:`fasprep.datasets.Scan` (else scanned here)

    Returns
    -------
    BuildResult (``exit_code`` 3 when some videos failed)

    Raises
    ------
    OutputError
        OUT cannot be written (a full disk, a read-only folder); temp files are removed and
        what was finished is kept: the same command resumes.
    """
    start = time.perf_counter()
    out = Path(out).resolve()
    adapter = get_dataset(dataset) if isinstance(dataset, str) else dataset
    dataset = adapter.name
    if config.depth_source == "sfm":
        sfm_dir = str(dp.find_sfm(sfm_dir))
        dp.load_sfm(sfm_dir)  # a missing or broken model fails here, before any work
    with _storage_errors(out), _locked(out):
        try:
            scan = scan or adapter.scan(raw)
        except OSError as exc:
            raise InputError(exc.filename or raw, f"cannot be read: {exc.strerror or exc}") from exc
        if not scan.records:
            raise InputError(raw, f"no {dataset} videos found")
        for w in scan.warnings:
            log.warning("%s", w)
        write_protocols(out, adapter.protocols(scan.records))
        _clean_stale_temps(out)
        old = _previous_build(out, dataset, config)
        todo, skipped = [], 0
        for r in scan.records:
            part, marker_path = part_paths(out, r.video_id)
            m = read_marker(marker_path)
            if (m is None or m.get("config_hash") != config.hash or m.get("status") == "started") \
                    and _in_old_shard(old, out, r.video_id):
                m = _restore_marker(out, r.video_id, old["videos"][r.video_id], config)
            done = m is not None and m.get("config_hash") == config.hash and (
                (m["status"] == "ok" and (part.is_file() or _in_old_shard(old, out, r.video_id)))
                or (m["status"] == "failed" and not redo_failed))
            if done:
                skipped += 1
            else:
                todo.append(r)
        run_id = uuid.uuid4().hex[:12]
        task = _Task(out=str(out), config=config, sfm_dir=sfm_dir, run_id=run_id, build_pid=os.getpid(),
                     local=backend == "loky", decode_thread=backend == "loky" and 2 * workers <= usable_cores())
        failures_now = 0
        bar = progress_bar(total=len(todo), desc=f"build {dataset}", unit="video", enabled=progress and bool(todo))
        frames, t0 = 0, time.perf_counter()
        finished: set[str] = set()

        def tally(marker: dict) -> None:
            nonlocal frames, failures_now
            finished.add(marker["video_id"])
            frames += marker["n_frames"]
            if marker["status"] != "ok":
                failures_now += 1
                bar.write(f"fasprep: failed: {marker['video_id']}: {marker['error']}", file=sys.stderr)
            bar.update()
            bar.set_postfix(failed=failures_now, fps=f"{frames / (time.perf_counter() - t0):.0f}")

        def run(records: list[VideoRecord], n_workers: int) -> str | None:
            """Run tasks, tally their markers; the exit codes when a worker process died under them."""
            try:
                for marker in run_tasks(task, records, workers=n_workers, backend=backend, scheduler=scheduler):
                    tally(marker)
            except Exception as exc:
                if not isinstance(exc, _worker_died_errors()):
                    raise
                codes = re.search(r"exit codes of the workers are \{([^}]*)\}", str(exc))
                detail = codes.group(1) if codes else type(exc).__name__
                bar.write(f"fasprep: a worker process died ({detail}); going on", file=sys.stderr)
                return detail
            return None

        with _removing_temps_on_error(out):
            with bar:
                remaining, blind_deaths = todo, 0
                while remaining and run(remaining, workers) is not None:
                    remaining = [r for r in remaining if r.video_id not in finished]
                    # The videos that were in flight, one at a time in a worker of their own, so that
                    # a death is charged to the video that causes it; then the rest in parallel again.
                    # Only deaths seen here count: a stop of the whole build (Ctrl-C, a kill) is not
                    # the video's fault, and the next run simply starts it again.
                    in_flight = [r for r in remaining if (read_marker(part_paths(out, r.video_id)[1]) or {})
                                 .get("run") == run_id]
                    blind_deaths = 0 if in_flight else blind_deaths + 1
                    if blind_deaths >= MAX_ATTEMPTS:
                        raise FasprepError(f"worker processes died {MAX_ATTEMPTS} times before starting a video "
                                           "(out of memory? a broken installation?)")
                    for r in in_flight:
                        deaths = 0
                        while r.video_id not in finished:
                            detail = run([r], max(workers, 2))  # n_jobs >= 2: a worker process even for one task
                            if detail is None:
                                continue
                            deaths += 1
                            if deaths >= MAX_ATTEMPTS:
                                tally(_record_deaths(out, r, config, deaths, detail))
                    remaining = [r for r in remaining if r.video_id not in finished]
            manifest = pack(out, dataset, scan.records, config, shard_bytes=shard_bytes, keep_parts=keep_parts,
                            old=old, progress=progress)
    failures = [(v, r["error"]) for v, r in manifest["videos"].items() if r["status"] != "ok"]
    return BuildResult(out=out, n_videos=len(scan.records), n_ok=len(manifest["videos"]) - len(failures),
                       n_failed=len(failures), n_processed=len(todo), n_skipped=skipped, failures=failures,
                       shards=len(manifest["shards"]), seconds=time.perf_counter() - start)


@contextlib.contextmanager
def _removing_temps_on_error(out: Path) -> Iterator[None]:
    """On any error or stop, remove the temp files of the writers it interrupted (the workers
    have been stopped by then: joblib kills them when their results are abandoned)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            _clean_stale_temps(out)
        raise


def _record_deaths(out: Path, record: VideoRecord, config: BuildConfig, deaths: int, detail: str) -> dict:
    marker = {"video_id": record.video_id, "config_hash": config.hash, "status": "failed",
              "error": f"the worker process building it died {deaths} times (exit codes {detail}: a crash or out "
                       "of memory); retry with --redo-failed",
              **_identity(record), "n_frames": 0, "bytes": 0, "hr_bpm": None, "snr_db": None, "attempts": deaths}
    _write_marker(part_paths(out, record.video_id)[1], marker)
    return marker


@dataclass(frozen=True)
class _Task:
    """The picklable task the workers run: ``process_video`` with the build's parameters bound."""

    out: str
    config: BuildConfig
    sfm_dir: str | None
    run_id: str
    build_pid: int
    local: bool  # run by the build's own process or its loky workers (not by Dask workers)
    decode_thread: bool = False  # each task has two cores or more: decoding overlaps labelling

    def __call__(self, record: VideoRecord) -> dict:
        with _worker_guard(self.out, self.build_pid) if self.local else contextlib.nullcontext():
            return process_video(record, out=self.out, config=self.config, sfm_dir=self.sfm_dir, run_id=self.run_id,
                                 decode_thread=self.decode_thread)


def _previous_build(out: Path, dataset: str, config: BuildConfig) -> dict | None:
    """What the previous pack left that can be trusted, as a manifest: its videos in shards whose
    sha256 is the manifest's, if it was built with the same config and format version (videos of
    an older format are built again, not repacked with their old attributes); without a readable
    manifest, the intact video groups that the shards of this config and format hold."""
    try:
        m = read_manifest(out)
    except InputError:
        found = find_videos_in_shards(out, dataset=dataset, config_hash=config.hash)
        if not found["videos"]:
            return None
        log.warning("%s: no readable manifest.json; %d video(s) recovered from the shards", out, len(found["videos"]))
        return {"config_hash": config.hash, "shard_bytes": None, "videos": found["videos"], "shards": found["shards"]}
    if m.get("config_hash") != config.hash or m.get("version") != FORMAT_VERSION:
        return None
    damaged = damaged_shards(out, m["shards"])
    for path, why in damaged.items():
        log.warning("%s: %s; its videos are rebuilt from their parts or the raw videos", out / path, why)
    if damaged:
        m = {**m, "shards": [s for s in m["shards"] if s["path"] not in damaged],
             "videos": {v: r for v, r in m["videos"].items() if r.get("shard") not in damaged}}
    return m


def _in_old_shard(old: dict | None, out: Path, video_id: str) -> bool:
    rec = (old or {}).get("videos", {}).get(video_id)
    return bool(rec and rec["status"] == "ok" and rec.get("shard") and (out / rec["shard"]).is_file())


def _restore_marker(out: Path, video_id: str, rec: dict, config: BuildConfig) -> dict:
    """A lost done-marker of a video packed in an intact shard, from the manifest's entry."""
    marker = {"video_id": video_id, "config_hash": config.hash, "status": "ok", "error": None,
              **{k: rec.get(k) for k in IDENTITY}, "n_frames": rec["n_frames"], "bytes": rec["bytes"],
              "hr_bpm": rec["hr_bpm"], "snr_db": rec["snr_db"], "warnings": rec.get("warnings", []),
              **{k: rec[k] for k in ("hr_reliable", "hr_note", "rejected_frames") if k in rec}}
    _write_marker(part_paths(out, video_id)[1], marker)
    return marker


def pack(out: Path, dataset: str, records: list[VideoRecord], config: BuildConfig, *, shard_bytes: int,
         keep_parts: bool = False, old: dict | None = None, progress: bool = False) -> dict:
    """Pack every done video into shards (in video_id order) and switch the manifest to them.

    A video's data comes from its part file or, once packed, from the previous shards (``old``:
    only shards checked intact). New shards get new names; the manifest is replaced atomically
    and durably; only then are the parts and the shards it no longer lists removed. When nothing
    changed since the last pack the shards are kept as they are.
    """
    markers = {r.video_id: read_marker(part_paths(out, r.video_id)[1]) for r in records}
    ok = sorted(v for v, m in markers.items() if m and m["config_hash"] == config.hash and m["status"] == "ok"
                and (part_paths(out, v)[0].is_file() or _in_old_shard(old, out, v)))
    new_parts = [v for v in ok if part_paths(out, v)[0].is_file()]
    unchanged = (old is not None and not new_parts and old.get("shard_bytes") == shard_bytes
                 and sorted(v for v, r in old["videos"].items() if r["status"] == "ok") == ok)
    if unchanged:
        locations = {v: old["videos"][v]["shard"] for v in ok}
        shards = old["shards"]
    else:
        locations, shards = _write_shards(out, dataset, ok, markers, old, shard_bytes, config, progress)
    videos = {}
    for r in records:
        m = markers[r.video_id] or {}
        stale = m.get("config_hash") != config.hash or m.get("status") not in ("ok", "failed")
        videos[r.video_id] = {
            "shard": locations.get(r.video_id),
            "status": "ok" if r.video_id in locations else "failed",
            "error": (m.get("error") if not stale else "not built (interrupted, or built with another config)")
            if r.video_id not in locations else None,
            "n_frames": m.get("n_frames", 0) if not stale else 0,
            "label": r.label,
            "attack": r.attack,
            "split": r.split,
            "subject": r.subject,
            "hr_bpm": m.get("hr_bpm"),
            "hr_reliable": m.get("hr_reliable", m.get("hr_bpm") is not None),
            **({"hr_note": m["hr_note"]} if m.get("hr_note") and not stale else {}),
            "snr_db": m.get("snr_db"),
            "bytes": m.get("bytes", 0),
            "rejected_frames": m.get("rejected_frames", {}) if not stale else {},
        }
        if m.get("warnings") and not stale:
            videos[r.video_id]["warnings"] = m["warnings"]
    manifest = {
        "format": FORMAT, "version": FORMAT_VERSION, "dataset": dataset, "fasprep_version": __version__,
        "config": config.as_dict(), "config_hash": config.hash, "label_version": LABEL_VERSION,
        "shard_bytes": shard_bytes, "videos": videos, "shards": shards,
    }
    write_manifest(out, manifest)
    _write_failures(out, videos)
    # Only now, with the manifest pointing at the new shards, are the parts and old shards redundant.
    if not keep_parts:
        for v in ok:
            part_paths(out, v)[0].unlink(missing_ok=True)
    live = {s["path"] for s in shards}
    for p in (out / "shards").glob(f"{dataset}-*.h5"):
        if p.relative_to(out).as_posix() not in live:
            p.unlink()
    return manifest


def _write_shards(out, dataset, ok, markers, old, shard_bytes, config, progress):
    attrs = {"dataset": dataset, "config": json.dumps(config.as_dict()), "config_hash": config.hash}
    writer = ShardWriter(out, dataset, max_bytes=shard_bytes, attrs=attrs)
    locations = {}
    open_shards: dict[str, h5py.File] = {}
    try:
        for vid in progress_bar(ok, desc="pack", unit="video", enabled=progress):
            part = part_paths(out, vid)[0]
            if part.is_file():
                with h5py.File(part, "r") as f:
                    locations[vid] = writer.write(vid, f[group_name(vid)], markers[vid]["bytes"])
            else:
                shard = old["videos"][vid]["shard"]
                if shard not in open_shards:
                    open_shards[shard] = h5py.File(out / shard, "r")
                locations[vid] = writer.write(vid, open_shards[shard][group_name(vid)], markers[vid]["bytes"])
        infos = writer.commit()  # the old shards are read-only sources until here; closed below
    except BaseException:
        writer.abort()
        raise
    finally:
        for f in open_shards.values():
            f.close()
    shards = [dataclasses.asdict(i) for i in infos]
    record_checks(out, shards)
    return locations, shards


def recover_manifest(out: str | os.PathLike) -> dict:
    """Write a lost or unreadable ``manifest.json`` again from the intact shards of OUT.

    Lists every video group of the shards that conforms to the schema (with the build config
    the shards record), and the failed videos of that config from their markers. Videos in
    neither (not yet built, or in a damaged shard) are not listed: a re-run of the build
    builds them. The shards are listed as they are (a re-run repacks them).

    Returns
    -------
    dict, the manifest written

    Raises
    ------
    InputError
        The manifest is readable (nothing to recover), or no intact shard was found.
    """
    out = Path(out)
    try:
        read_manifest(out)
    except InputError:
        pass
    else:
        raise InputError(out / "manifest.json", "is readable: nothing to recover (a re-run of the build rebuilds "
                                                "what is damaged)")
    datasets = sorted({p.name.rsplit("-", 1)[0] for p in (out / "shards").glob("*-*.h5")})
    found = next((f for f in (find_videos_in_shards(out, dataset=d) for d in datasets) if f["videos"]), None)
    if found is None:
        raise InputError(out, "no intact shard to recover a manifest from: run the build again")
    dataset = found["shards"][0]["path"].split("/")[-1].rsplit("-", 1)[0]
    videos = dict(found["videos"])
    for path in sorted((out / "parts").rglob("*.json")):
        m = read_marker(path)
        if m and m.get("status") == "failed" and m.get("config_hash") == found["config_hash"] \
                and m.get("video_id") not in videos:
            videos[m["video_id"]] = {"shard": None, "status": "failed", "error": m["error"], "n_frames": 0,
                                     **{k: m.get(k) for k in IDENTITY}, "hr_bpm": None, "snr_db": None,
                                     "hr_reliable": False, "rejected_frames": {}, "bytes": 0}
    manifest = {
        "format": FORMAT, "version": FORMAT_VERSION, "dataset": dataset, "fasprep_version": __version__,
        "config": found["config"], "config_hash": found["config_hash"], "label_version": LABEL_VERSION,
        "shard_bytes": None, "videos": dict(sorted(videos.items())), "shards": found["shards"],
    }
    with _storage_errors(out), _locked(out):
        write_manifest(out, manifest)
        _write_failures(out, manifest["videos"])
    return manifest


def failure_details(out: str | os.PathLike) -> list[dict]:
    """The failed videos of a build: ``video_id``, ``error`` (one line) and ``traceback`` (from
    the video's marker in OUT/parts; None for an expected failure such as a truncated file)."""
    out = Path(out)
    details = []
    for vid, rec in read_manifest(out)["videos"].items():
        if rec["status"] != "ok":
            marker = read_marker(part_paths(out, vid)[1]) or {}
            details.append({"video_id": vid, "error": rec["error"], "traceback": marker.get("traceback")})
    return details


def _write_failures(out: Path, videos: dict) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["video_id", "label", "error"])
    for v, r in videos.items():
        if r["status"] != "ok":
            w.writerow([v, r["label"], r["error"]])
    with atomic_path(out / "failures.csv") as tmp:
        tmp.write_text(buf.getvalue())


def format_result(result: BuildResult) -> str:
    """The summary a user reads at the end of a build."""
    lines = [f"{result.out}: {result.n_ok} of {result.n_videos} videos built "
             f"({result.n_processed} processed now, {result.n_skipped} done before), "
             f"{result.shards} shard(s), {result.seconds:.0f} s"]
    if result.failures:
        lines.append(f"{result.n_failed} failed (see {result.out / 'failures.csv'}; retry with --redo-failed):")
        lines += [f"  {v}: {e}" for v, e in result.failures[:10]]
        if len(result.failures) > 10:
            lines.append(f"  ... and {len(result.failures) - 10} more")
    return "\n".join(lines)
