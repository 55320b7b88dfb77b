"""Training clips from fasprep shards: a torch Dataset over a build folder, a protocol and a split.

A sample is ``clip_frames`` (Nf) frames of one video, ``stride`` stored frames apart, with their
depth maps, NRR grids, face flags and times, the video's rPPG label spectrum and its label.
Frames stay uint8 RGB here (the model converts them to RGB+HSV on its device: a quarter of the
bytes to move).

A protocol's frame limit (SiW P1 trains on the first 60 frames) counts *source* frames,
whatever the build's ``--frame-stride``: only stored frames whose ``frame_index`` is below it
are used, and a clip lies entirely within them.

Frames without a face (``face_ok`` false) have no depth label (the depth loss leaves them
out) and no registration: their NRR grid is set to :data:`NO_FACE_GRID`, outside the crop, so
the NRR layer samples zeros for them (the build stores the crop centre there, which would feed
the RNN one constant pixel). Nothing here is NaN.

A protocol over several builds (``fasprep protocols cross``: rows naming their build and
domain) reads each video from its own build; its videos are keyed ``<domain>:<video_id>`` (ids
of two builds may coincide), and the builds' frame strides may differ.

HDF5 files are opened lazily, in the process that reads them (a DataLoader worker), never
before the fork; JPEG decoding happens there too. Clip positions are drawn from ``seed`` and
the epoch (:meth:`ClipDataset.set_epoch`), so a run is reproducible and resumable.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from fasprep.datasets import read_protocol
from fasprep.shards import group_name, read_frames, read_manifest

log = logging.getLogger(__name__)

#: NRR grid value of frames without a face: outside [-1, 1], so grid_sample reads zeros there.
NO_FACE_GRID = -2.0


@dataclass(frozen=True)
class VideoEntry:
    video_id: str  # the build's id; <domain>:<id> in a protocol over several builds
    label: str  # live | print | replay
    shard: str  # path relative to the build folder
    n_frames: int  # stored frames usable (the protocol's max_frames applied, in source frames)
    build: Path | None = None  # the build folder when not the protocol's own (a cross-dataset protocol)
    domain: str | None = None  # M, C, I, O in a cross-dataset protocol
    build_id: str | None = None  # the video's id in its build, when video_id is <domain>:<id>


def usable_frames(n_stored: int, max_frames: int | None, frame_stride: int) -> int:
    """Stored frames within a protocol's limit of ``max_frames`` *source* frames.

    A build keeps source frames 0, K, 2K, ... (K = ``frame_stride``), so the stored frames
    with a source index below ``max_frames`` are the first ceil(max_frames / K).

    Examples
    --------
    >>> usable_frames(150, 60, 1), usable_frames(50, 60, 3), usable_frames(150, None, 3)
    (60, 20, 150)
    """
    if max_frames is None:
        return int(n_stored)
    return int(min(n_stored, -(-int(max_frames) // int(frame_stride))))


def protocol_videos(out: str | os.PathLike, protocol: str, split: str, *,
                    skipped: dict[str, str] | None = None) -> list[VideoEntry]:
    """The built videos of a protocol split; videos that failed to build are left out (logged,
    and recorded in ``skipped`` {video_id: reason} when given).

    ``out`` is a build folder, or a folder of protocols over several builds whose rows name
    their build (relative to ``out``, or absolute) and domain."""
    out = Path(out)
    manifests: dict[Path, dict] = {}
    entries, missing = [], []
    for row in read_protocol(out, protocol, split):
        build = None if row.build is None else out / row.build
        root = out if build is None else build
        if root not in manifests:
            manifests[root] = read_manifest(root)
        manifest = manifests[root]
        key = row.video_id if build is None else f"{row.domain or row.build}:{row.video_id}"
        rec = manifest["videos"].get(row.video_id)
        if rec is None or rec["status"] != "ok":
            missing.append(key)
            if skipped is not None:
                skipped[key] = "not built" if rec is None else f"failed in the build: {rec.get('error')}"
            continue
        n = usable_frames(rec["n_frames"], row.max_frames, int(manifest["config"].get("frame_stride", 1)))
        entries.append(VideoEntry(key, row.label, rec["shard"], n, build, row.domain,
                                  None if build is None else row.video_id))
    if missing:
        log.warning("%s/%s: %d videos not built (failed or missing), left out, e.g. %s", protocol, split,
                    len(missing), missing[0])
    return entries


def clip_starts(n_frames: int, span: int, max_clips: int | None = None) -> np.ndarray:
    """Starts of the non-overlapping clips of ``span`` frames in ``n_frames``, at most ``max_clips``
    of them, evenly spaced (evaluation and prediction).

    Examples
    --------
    >>> clip_starts(20, 5).tolist(), clip_starts(20, 5, max_clips=2).tolist(), clip_starts(4, 5).tolist()
    ([0, 5, 10, 15], [0, 15], [])
    """
    starts = np.arange(0, n_frames - span + 1, span)
    if max_clips and len(starts) > max_clips:
        starts = starts[np.round(np.linspace(0, len(starts) - 1, max_clips)).astype(int)]
    return starts


def read_clip(group: h5py.Group, start: int, clip_frames: int, stride: int = 1) -> dict:
    """One clip of a video group (a shard's or a part file's): the arrays of a :class:`ClipDataset` item.

    Returns
    -------
    dict: ``frames`` (Nf, H, W, 3) uint8, ``depth`` (Nf, S, S) float32, ``nrr_grid`` (Nf, S, S, 2)
    float32 (:data:`NO_FACE_GRID` where ``face_ok`` is false), ``face_ok`` (Nf,) bool, ``times``
    (Nf,) float32 s, ``rppg_fft`` (F,) float32, ``start`` int.
    """
    stop = start + (clip_frames - 1) * stride + 1
    sel = slice(start, stop, stride)
    face_ok = group["face_ok"][sel]
    grid = group["nrr_grid"][sel].astype(np.float32)
    grid[~face_ok] = NO_FACE_GRID
    index = group["frame_index"][sel].astype(np.float64)
    return {
        "frames": read_frames(group, start, stop)[::stride],
        "depth": group["depth"][sel].astype(np.float32),
        "nrr_grid": grid,
        "face_ok": face_ok,
        "times": ((index - index[0]) / float(group.attrs["fps"])).astype(np.float32),
        "rppg_fft": group["rppg_fft"][:].astype(np.float32),
        "start": int(start),
    }


class ClipDataset:
    """Clips of the videos of one protocol split (a map-style torch Dataset).

    Parameters
    ----------
    out : a fasprep build folder (manifest.json, shards/, protocols/)
    protocol, split : e.g. "siw-p1", "train"
    clip_frames : int, Nf (5 in the paper; 1 for the single-frame stream)
    stride : int, frames between the clip's frames
    clips_per_video : int, optional
        Clips drawn per video per epoch at random positions (training). Default: the
        non-overlapping clips of the video, in order (evaluation), at most ``max_clips`` of
        them, evenly spaced.
    max_clips : int, optional
    seed : int

    Each item is a dict: ``frames`` (Nf, H, W, 3) uint8 RGB, ``depth`` (Nf, S, S) float32,
    ``nrr_grid`` (Nf, S, S, 2) float32 (:data:`NO_FACE_GRID` on frames without a face),
    ``face_ok`` (Nf,) bool, ``times`` (Nf,) float32 seconds since the clip's first frame (from
    ``frame_index`` and the video's fps), ``rppg_fft`` (F,) float32, ``attack`` int (0 = live,
    1 = attack), ``label`` str, ``video_id`` str, ``start`` int (stored frame).

    ``skipped`` {video_id: reason}: the split's videos left out (not built, failed, or shorter
    than a clip), each also logged.
    """

    def __init__(self, out: str | os.PathLike, protocol: str, split: str, *, clip_frames: int = 5, stride: int = 1,
                 clips_per_video: int | None = None, max_clips: int | None = None, seed: int = 0):
        self.out = Path(out)
        self.clip_frames, self.stride = int(clip_frames), int(stride)
        self.clips_per_video, self.max_clips, self.seed = clips_per_video, max_clips, int(seed)
        span = (self.clip_frames - 1) * self.stride + 1
        self.skipped: dict[str, str] = {}
        videos = protocol_videos(out, protocol, split, skipped=self.skipped)
        short = [v for v in videos if v.n_frames < span]
        for v in short:
            self.skipped[v.video_id] = f"{v.n_frames} usable frames, shorter than a clip of {span}"
        if short:
            log.warning("%s/%s: %d videos shorter than a clip (%d frames x stride %d = %d stored frames), "
                        "left out, e.g. %s", protocol, split, len(short), self.clip_frames, self.stride, span,
                        short[0].video_id)
        self.videos = [v for v in videos if v.n_frames >= span]
        if not self.videos:
            raise ValueError(f"{out}: no built video of {protocol}/{split} has {span} usable frames "
                             f"(clip of {self.clip_frames} frames, stride {self.stride})")
        self._span = span
        self._files: dict[Path, h5py.File] = {}
        self._pid = None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the clips of an epoch (deterministic in ``seed`` and ``epoch``)."""
        self.epoch = int(epoch)
        rng = np.random.default_rng([self.seed, self.epoch])
        index = []
        for v, video in enumerate(self.videos):
            last = video.n_frames - self._span  # last possible start
            if self.clips_per_video is None:
                starts = clip_starts(video.n_frames, self._span, self.max_clips)
            else:
                starts = np.sort(rng.integers(0, last + 1, self.clips_per_video))
            index += [(v, int(s)) for s in starts]
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def _group(self, video: VideoEntry) -> h5py.Group:
        if self._pid != os.getpid():  # a fresh worker process: handles from the parent are not ours
            self._files, self._pid = {}, os.getpid()
        path = (video.build or self.out) / video.shard
        f = self._files.get(path)
        if f is None:
            f = self._files[path] = h5py.File(path, "r")
        return f[group_name(video.build_id or video.video_id)]

    def __getitem__(self, i: int) -> dict:
        v, start = self.index[i]
        video = self.videos[v]
        return {**read_clip(self._group(video), start, self.clip_frames, self.stride),
                "attack": int(video.label != "live"), "label": video.label, "video_id": video.video_id}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_files"], state["_pid"] = {}, None  # never ship open HDF5 handles to a worker
        return state

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
