"""HDF5 shards: the on-disk format of a build, written and read in one place.

The format is specified in docs/format.md (the output contract). A build writes one
HDF5 *part* per video (:class:`PartWriter`, atomically), then packs the parts into size-bounded
*shards* (:class:`ShardWriter`) listed with their sha256 in ``manifest.json``. In every file a
video is the group ``/videos/<video_id>`` (``video_id`` has ``/`` separators, so groups nest).

docs/format.md gives every dataset, attribute and manifest field with shapes, dtypes and units;
its tables are checked against :data:`DATASET_SCHEMA`,
:data:`ATTR_SCHEMA` and :data:`MANIFEST_VIDEO_SCHEMA` here, which the writer and the verifier use.
Frames are chunked by clip (``CLIP_FRAMES`` consecutive frames), so reading the frames of one
training clip is one chunk read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import h5py
import numpy as np

from .datasets import read_protocol
from .errors import FasprepError, InputError
from .io import atomic_path, fsync_path

FORMAT = "fasprep-shards"
#: Version 2: generic dataset attributes (dataset, split, attack, codes, rotation_deg), the
#: manifest records split, subject and attack of every video. Version 1 (SiW only) is still read.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CODECS = ("jpeg", "raw")
CLIP_FRAMES = 5  # Nf of the paper's model: the frames of one training clip


@dataclass(frozen=True)
class Field:
    """One entry of the format: a shape (symbols T frames, H crop side, S depth side, F spectrum
    bins), a dtype or type, whether every video has it, and what it means (units included)."""

    shape: tuple
    dtype: str
    meaning: str
    required: bool = True


#: The datasets of a video group ``/videos/<video_id>`` (docs/format.md, "Datasets").
DATASET_SCHEMA = {
    "frames": Field(("T",), "vlen uint8", "face crops as JPEG bytes (attr codec = jpeg); with codec = raw "
                    "(T, H, H, 3) uint8 RGB"),
    "depth": Field(("T", "S", "S"), "float16", "depth label in [0, 1], 1 = nearest; all zeros for attacks"),
    "depth_mask": Field(("T", "S", "S"), "bool", "face pixels of the fitted mesh"),
    "nrr_grid": Field(("T", "S", "S", 2), "float16", "crop coordinates in [-1, 1] of a frontal vertex grid"),
    "face_ok": Field(("T",), "bool", "face tracked and fitted on this frame"),
    "frame_index": Field(("T",), "int32", "index of the frame in the decoded source video"),
    "box": Field(("T", 4), "float32", "crop box x1, y1, x2, y2, pixels of the decoded frame"),
    "landmarks": Field(("T", 68, 2), "float32", "iBUG-68 landmarks, pixels of the decoded frame; NaN without a face"),
    "rppg": Field(("T",), "float32", "CHROM pulse at the stored frames, unitless"),
    "rppg_fft": Field(("F",), "float32", "label spectrum of the pulse, unit L2 norm; all zeros for attacks"),
}

#: The attributes of a video group (docs/format.md, "Group attributes"). A dataset's own codes
#: come on top, each under its own name, listed in ``codes``.
ATTR_SCHEMA = {
    "dataset": Field((), "str", "adapter name: siw, oulu-npu, replay-attack, replay-mobile, casia-fasd, msu-mfsd, "
                                "folder"),
    "split": Field((), "str", "the dataset's own partition (SiW Train/Test; OULU Train/Dev/Test; the others "
                              "train/dev/test: lower-cased, it is one of train, dev, test)"),
    "label": Field((), "str", "live, print, replay or spoof (an attack of unknown kind)"),
    "attack": Field((), "str", "finer attack code: live, print-1, replay-2, ... (the dataset's PAI species)"),
    "subject": Field((), "int or str", "the person filmed, as the dataset names them"),
    "codes": Field((), "str", "names of the dataset's own code attributes, comma-separated ('' when none)"),
    "fps": Field((), "float", "frame rate of the source video, Hz"),
    "rotation_deg": Field((), "int", "clockwise turn applied on decode, degrees: the container's display rotation "
                                     "plus the dataset's own correction (MSU-MFSD's upside-down videos: 180)"),
    "hr_bpm": Field((), "float", "heart rate of the CHROM pulse, beats per minute (NaN when none)"),
    "snr_db": Field((), "float", "SNR of the pulse at its heart rate, dB"),
    "hr_reliable": Field((), "bool", "heart rate to be trusted: false for a pulse under 5 s (a number is kept, flagged; see hr_note)"),
    "rejected_frames": Field((), "str", "JSON object: frames given no depth, per reason (no_face, small_face, yaw, out_of_frame, fit_error)"),
    "source": Field((), "str", "the source video, relative to the raw root"),
    "n_frames_source": Field((), "int", "frames decoded from the source video"),
    "fit_rmse_px": Field((), "float", "mean 3DMM fit RMSE over frames with a face, pixels (NaN for mesh depth)"),
}

#: Fields of every video in ``manifest.json`` (docs/format.md, "Manifest").
MANIFEST_VIDEO_SCHEMA = {
    "shard": Field((), "str or null", "shard file holding the video, relative to OUT; null when it failed"),
    "status": Field((), "str", "ok or failed"),
    "error": Field((), "str or null", "why it failed"),
    "n_frames": Field((), "int", "frames stored (T)"),
    "label": Field((), "str", "as the group attribute"),
    "attack": Field((), "str", "as the group attribute"),
    "split": Field((), "str", "as the group attribute"),
    "subject": Field((), "int or str", "as the group attribute"),
    "hr_bpm": Field((), "float or null", "as the group attribute (null when none)"),
    "snr_db": Field((), "float or null", "as the group attribute"),
    "hr_reliable": Field((), "bool", "as the group attribute"),
    "hr_note": Field((), "str", "why the heart rate is not reliable", required=False),
    "rejected_frames": Field((), "object", "frames given no depth, per reason (the group attribute, parsed)"),
    "bytes": Field((), "int", "bytes of the video's part file"),
    "warnings": Field((), "list of str", "what the build noticed on this video", required=False),
}

#: Group attributes of format version 1 (SiW only).
GROUP_ATTRS_V1 = ("label", "subject", "sensor", "medium", "session", "fps", "hr_bpm", "snr_db", "source",
                  "n_frames_source", "fit_rmse_px")
GROUP_ATTRS = tuple(ATTR_SCHEMA)
#: dataset -> (shape after T, with S = depth side, H = crop side, F = spectrum bins; dtype):
#: the per-frame label arrays, as the writer and the checker use them.
SCHEMA = {name: (f.shape[1:], np.dtype(f.dtype)) for name, f in DATASET_SCHEMA.items()
          if f.shape[:1] == ("T",) and name != "frames"}
_COMPRESS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def group_name(video_id: str) -> str:
    """HDF5 path of a video's group: ``videos/<video_id>``."""
    return f"videos/{video_id}"


def encode_jpeg(frame: np.ndarray, *, quality: int = 90) -> np.ndarray:
    """JPEG bytes of one RGB frame.

    Parameters
    ----------
    frame : np.ndarray, shape (H, W, 3), uint8, RGB
    quality : int in [1, 100]

    Returns
    -------
    np.ndarray, shape (n_bytes,), uint8
    """
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InputError("frame", f"JPEG encoding failed for an array of shape {frame.shape}")
    return buf.reshape(-1)


def read_frames(group: h5py.Group, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames ``start:stop`` of a video group, decoded.

    Returns
    -------
    np.ndarray, shape (n, H, W, 3), uint8, RGB
    """
    ds = group["frames"]
    if ds.attrs.get("codec", "raw") == "raw":
        return ds[start:stop]
    out = [cv2.imdecode(np.asarray(b), cv2.IMREAD_COLOR) for b in ds[start:stop]]
    if any(x is None for x in out):
        raise InputError(group.file.filename, f"{group.name}: a frame is not a decodable JPEG")
    return np.stack([cv2.cvtColor(x, cv2.COLOR_BGR2RGB) for x in out]) if out else np.zeros((0, 0, 0, 3), np.uint8)


class PartWriter:
    """Writes one video's part file: frames streamed in as they are cropped, labels at the end.

    The file appears under its final name only when :meth:`finish` has run and the context
    exits without an error (temp file + rename), so a killed worker leaves no partial part.

    Parameters
    ----------
    path : path of the part file (``.h5``)
    video_id : str
    codec : {"jpeg", "raw"}
    crop_size : int, H = W of the crops
    jpeg_quality : int in [1, 100]
    """

    def __init__(self, path: str | os.PathLike, video_id: str, *, codec: str = "jpeg", crop_size: int = 256,
                 jpeg_quality: int = 90):
        if codec not in CODECS:
            raise InputError("frame_codec", f"must be one of {', '.join(CODECS)}, got {codec!r}")
        self.path, self.video_id, self.codec = Path(path), video_id, codec
        self.crop_size, self.jpeg_quality = int(crop_size), int(jpeg_quality)
        self._stack = contextlib.ExitStack()
        self._pending: list[np.ndarray] = []
        self._finished = False
        self.n_frames = 0

    def __enter__(self) -> "PartWriter":
        tmp = self._stack.enter_context(atomic_path(self.path))
        # No chunk cache (frames go in a clip at a time): after a failed write (a full disk) no
        # dirty chunk is left for the close to flush (see discard_file).
        self._file = self._stack.enter_context(h5py.File(tmp, "w", rdcc_nbytes=0))
        self.group = self._file.create_group(group_name(self.video_id))
        H = self.crop_size
        if self.codec == "jpeg":
            self._frames = self.group.create_dataset("frames", shape=(0,), maxshape=(None,),
                                                     dtype=h5py.vlen_dtype(np.uint8), chunks=(CLIP_FRAMES * 8,))
        else:
            self._frames = self.group.create_dataset("frames", shape=(0, H, H, 3), maxshape=(None, H, H, 3),
                                                     dtype=np.uint8, chunks=(CLIP_FRAMES, H, H, 3))
        self._frames.attrs["codec"] = self.codec
        return self

    def add_frame(self, crop: np.ndarray) -> None:
        """Append one crop, (H, W, 3) uint8 RGB with H = W = ``crop_size``."""
        if crop.shape != (self.crop_size, self.crop_size, 3):
            raise InputError("crop", f"expected shape {(self.crop_size, self.crop_size, 3)}, got {crop.shape}")
        self._pending.append(encode_jpeg(crop, quality=self.jpeg_quality) if self.codec == "jpeg" else crop)
        if len(self._pending) >= CLIP_FRAMES * 8:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        n, k = self.n_frames, len(self._pending)
        self._frames.resize(n + k, axis=0)
        if self.codec == "jpeg":
            for i, data in enumerate(self._pending):  # one vlen element at a time: h5py broadcasts blocks wrongly
                self._frames[n + i] = data
        else:
            self._frames[n:n + k] = np.stack(self._pending)
        self.n_frames += k
        self._pending = []

    def finish(self, arrays: dict[str, np.ndarray], attrs: dict) -> None:
        """Write the label arrays (names of :data:`SCHEMA` plus ``rppg_fft``) and group attributes."""
        self._flush()
        T = self.n_frames
        for name, (_, dtype) in SCHEMA.items():
            a = np.asarray(arrays[name]).astype(dtype)
            if len(a) != T:
                raise ValueError(f"{self.video_id}: {name} has {len(a)} rows for {T} frames")
            self.group.create_dataset(name, data=a, **(_COMPRESS if a.ndim > 1 else {}))
        self.group.create_dataset("rppg_fft", data=np.asarray(arrays["rppg_fft"], np.float32))
        codes = [c for c in str(attrs["codes"]).split(",") if c]
        for key in (*GROUP_ATTRS, *codes):
            value = attrs[key]
            if isinstance(value, dict):
                value = json.dumps(value, sort_keys=True)
            self.group.attrs[key] = np.nan if value is None else value
        self._finished = True

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self._finished:  # never publish a part without its labels
            err = RuntimeError(f"{self.video_id}: PartWriter closed before finish()")
            self._stack.__exit__(RuntimeError, err, None)
            raise err
        if exc_type is not None:
            self._discard()
        self._stack.__exit__(exc_type, exc, tb)

    def _discard(self) -> None:
        self._pending = []
        discard_file(self._file)


def discard_file(file: h5py.File) -> None:
    """Close an HDF5 file being written that is thrown away after an error, freeing its space
    first: after a failed write (a full disk) HDF5 must be able to flush its metadata on close,
    or it crashes the process at exit. The caller removes the file."""
    with contextlib.suppress(Exception):
        os.truncate(file.filename, 0)
    with contextlib.suppress(Exception):
        file.close()


def file_sha256(path: str | os.PathLike, *, block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ShardInfo:
    path: str  # relative to the build's OUT folder
    sha256: str
    n_videos: int
    bytes: int


class ShardWriter:
    """Copies video groups into shard files, starting a new file when one would exceed ``max_bytes``.

    Shards are written under temporary names, then renamed by :meth:`commit` to names that no
    file in ``out/shards`` has yet (numbers after the highest one there), so that packing never
    overwrites a shard that the current manifest still lists: until the caller switches the
    manifest, the previous shards stay intact.

    Parameters
    ----------
    out : the build's OUT folder; shards go to ``out/shards/<prefix>-NNNNN.h5``
    prefix : str, the dataset name
    max_bytes : int, soft bound on a shard's size (a single larger video gets its own shard)
    attrs : dict, optional
        File attributes of every shard besides ``format`` and ``version`` (the build's
        ``dataset``, ``config`` and ``config_hash``: what a lost manifest is recovered from).
    """

    def __init__(self, out: str | os.PathLike, prefix: str, *, max_bytes: int = 2 << 30, attrs: dict | None = None):
        self.out, self.prefix, self.max_bytes = Path(out), prefix, int(max_bytes)
        (self.out / "shards").mkdir(parents=True, exist_ok=True)
        self.attrs = dict(attrs or {})
        self._written: list[tuple[Path, Path, int]] = []  # (temp, final, n_videos)
        self._file: h5py.File | None = None
        self._bytes = 0
        self._first = 1 + max((_shard_number(p.name, prefix) for p in (self.out / "shards").glob(f"{prefix}-*.h5")),
                              default=-1)

    def shard_path(self, index: int) -> str:
        return f"shards/{self.prefix}-{index:05d}.h5"

    def _start(self) -> None:
        final = self.out / self.shard_path(self._first + len(self._written))
        tmp = final.with_name(f".{final.name}.tmp")
        self._written.append((tmp, final, 0))  # before creating it: abort() removes it
        self._file = h5py.File(tmp, "w", rdcc_nbytes=0)  # as PartWriter: nothing to flush after an error
        self._file.attrs["format"] = FORMAT
        self._file.attrs["version"] = FORMAT_VERSION
        for key, value in self.attrs.items():
            self._file.attrs[key] = value
        self._bytes = 0

    def _close_current(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, video_id: str, source: h5py.Group, n_bytes: int) -> str:
        """Copy a video's group; returns the shard's path relative to OUT."""
        if self._file is None or (self._bytes and self._bytes + n_bytes > self.max_bytes):
            self._close_current()
            self._start()
        # HDF5 cannot recover from a full disk inside a copy (it crashes the process on close):
        # check the room first, with a margin for metadata.
        if shutil.disk_usage(self._file.filename).free < n_bytes + n_bytes // 8 + (4 << 20):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.out / "shards"))
        source.file.copy(source, self._file, name=group_name(video_id))
        self._bytes += n_bytes
        tmp, final, n = self._written[-1]
        self._written[-1] = (tmp, final, n + 1)
        return final.relative_to(self.out).as_posix()

    def commit(self) -> list[ShardInfo]:
        """Close the shards, flush them to the disk, move them to their final (new) names and
        return their checksums. Nothing refers to them until the caller writes a manifest."""
        self._close_current()
        infos = []
        for tmp, final, n in self._written:
            fsync_path(tmp)
            infos.append(ShardInfo(path=final.relative_to(self.out).as_posix(), sha256=file_sha256(tmp),
                                   n_videos=n, bytes=tmp.stat().st_size))
        for tmp, final, _ in self._written:
            os.replace(tmp, final)
        fsync_path(self.out / "shards")
        self._written = []
        return infos

    def abort(self) -> None:
        """Remove the temporary shards, also when closing the open one fails (a full disk)."""
        if self._file is not None:
            discard_file(self._file)
            self._file = None
        for tmp, _, _ in self._written:
            tmp.unlink(missing_ok=True)
        self._written = []


def _shard_number(name: str, prefix: str) -> int:
    number = name[len(prefix) + 1:-len(".h5")]
    return int(number) if number.isdigit() else -1


# --- checking shards before trusting them ---------------------------------------------------------

CHECKS_FILE = ".shard-checks.json"


def damaged_shards(out: str | os.PathLike, shards: list[dict]) -> dict[str, str]:
    """The shards of a manifest whose file is missing or whose sha256 is not the listed one.

    A shard's checksum is computed once per (size, mtime): results are cached in
    ``OUT/.shard-checks.json``, so a re-run of an unchanged build reads no shard.

    Parameters
    ----------
    out : the build folder
    shards : list of dict, the manifest's ``shards`` entries (``path``, ``sha256``)

    Returns
    -------
    dict, shard path (relative to OUT) -> the reason it cannot be trusted
    """
    out = Path(out)
    cache_path = out / CHECKS_FILE
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    damaged, fresh = {}, {}
    for info in shards:
        path = out / info["path"]
        try:
            st = path.stat()
        except FileNotFoundError:
            damaged[info["path"]] = "missing"
            continue
        key = [st.st_size, st.st_mtime_ns]
        seen = cache.get(info["path"])
        digest = seen[2] if isinstance(seen, list) and seen[:2] == key else file_sha256(path)
        fresh[info["path"]] = key + [digest]
        if digest != info["sha256"]:
            damaged[info["path"]] = "sha256 mismatch (file changed or corrupt)"
    if fresh != cache:
        with contextlib.suppress(OSError):  # only a cache: a read-only OUT still builds
            with atomic_path(cache_path) as tmp:
                tmp.write_text(json.dumps(fresh))
    return damaged


def record_checks(out: str | os.PathLike, shards: list[dict]) -> None:
    """Remember the checksums of shards just written (``path``, ``sha256``), for :func:`damaged_shards`."""
    out = Path(out)
    cache_path = out / CHECKS_FILE
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    for info in shards:
        st = (out / info["path"]).stat()
        cache[info["path"]] = [st.st_size, st.st_mtime_ns, info["sha256"]]
    with atomic_path(cache_path) as tmp:
        tmp.write_text(json.dumps(cache))


def find_videos_in_shards(out: str | os.PathLike, *, dataset: str, config_hash: str | None = None) -> dict:
    """Recover what a lost manifest said from the shards themselves.

    Every readable ``OUT/shards/<dataset>-*.h5`` written with the build config ``config_hash``
    (its file attributes; any config when None) is opened, and every video group in it that
    conforms to the schema is listed (the first shard holding a video wins).

    Returns
    -------
    dict with ``config`` and ``config_hash`` (the shards' build config, or None when none was
    found), ``videos``:
    video_id -> its manifest entry (``shard``, ``status``, ``n_frames``, ``label``, ``hr_bpm``,
    ``snr_db``, ``bytes``), and ``shards``: the manifest's shard entries of the shards used.
    """
    out = Path(out)
    config, found_hash, videos, used = None, None, {}, {}
    for path in sorted((out / "shards").glob(f"{dataset}-*.h5"), key=lambda p: _shard_number(p.name, dataset)):
        rel = path.relative_to(out).as_posix()
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != FORMAT or f.attrs.get("version") != FORMAT_VERSION \
                        or "config" not in f.attrs:
                    continue
                if config_hash is not None and f.attrs.get("config_hash") != config_hash:
                    continue
                shard_config, shard_hash = json.loads(f.attrs["config"]), str(f.attrs.get("config_hash"))
                if found_hash is not None and shard_hash != found_hash:  # one config: the first shard's
                    continue
                found = {}

                def visit(name, obj):
                    if isinstance(obj, h5py.Group) and "frames" in obj:
                        found[name[len("videos/"):]] = obj

                f["videos"].visititems(lambda name, obj: visit(f"videos/{name}", obj))
                n = 0
                for vid, g in found.items():
                    if vid in videos or check_group(g, depth_size=shard_config["depth_size"],
                                                    crop_size=shard_config["crop_size"],
                                                    n_bins=shard_config["rppg_bins"]):
                        continue
                    attrs = dict(g.attrs)
                    videos[vid] = {"shard": rel, "status": "ok", "error": None, "n_frames": int(g["frames"].shape[0]),
                                   "label": str(attrs["label"]), "attack": str(attrs["attack"]),
                                   "split": str(attrs["split"]), "subject": _plain(attrs["subject"]),
                                   "hr_bpm": _finite(attrs["hr_bpm"]), "snr_db": _finite(attrs["snr_db"]),
                                   "hr_reliable": bool(attrs["hr_reliable"]),
                                   "rejected_frames": json.loads(attrs["rejected_frames"]),
                                   "bytes": int(sum(g[d].id.get_storage_size() for d in g))}
                    n += 1
        except (OSError, KeyError, ValueError):  # unreadable or foreign: not a source
            continue
        if n:
            config, found_hash = config or shard_config, found_hash or shard_hash
            used[rel] = {"path": rel, "sha256": file_sha256(path), "n_videos": n, "bytes": path.stat().st_size}
    return {"config": config, "config_hash": found_hash, "videos": videos, "shards": list(used.values())}


def _plain(x) -> int | str:
    """An HDF5 attribute as JSON holds it: numpy integers as int, bytes and numpy strings as str."""
    if isinstance(x, (bytes, np.bytes_)):
        return x.decode()
    return int(x) if isinstance(x, (int, np.integer)) else str(x)


def _finite(x) -> float | None:
    x = float(x)
    return round(x, 3) if np.isfinite(x) else None


# --- reading -------------------------------------------------------------------------------------


def read_manifest(out: str | os.PathLike) -> dict:
    """The build's ``manifest.json``; :class:`InputError` if absent or not a fasprep manifest."""
    path = Path(out) / "manifest.json"
    if not path.is_file():
        raise InputError(out, "no manifest.json: not a fasprep build folder (or the build never finished a pack)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise InputError(path, f"format is {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("version") not in READABLE_VERSIONS:
        raise InputError(path, f"format version {manifest.get('version')!r}: this fasprep reads versions "
                               f"{', '.join(map(str, READABLE_VERSIONS))}; rebuild it with this fasprep "
                               f"(fasprep build DATASET RAW OUT) or read it with the fasprep that wrote it "
                               f"({manifest.get('fasprep_version', 'unknown')})")
    return manifest


def write_manifest(out: str | os.PathLike, manifest: dict) -> Path:
    """Switch ``manifest.json`` atomically and durably (temp file, fsync, rename, folder fsync)."""
    path = Path(out) / "manifest.json"
    with atomic_path(path, durable=True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return path


@contextlib.contextmanager
def open_video(out: str | os.PathLike, video_id: str, manifest: dict | None = None) -> Iterator[h5py.Group]:
    """The group of one built video, read-only (``with open_video(OUT, vid) as g: g["depth"][:]``)."""
    manifest = manifest or read_manifest(out)
    rec = manifest["videos"].get(video_id)
    if rec is None:
        raise InputError(video_id, f"not in the build at {out}")
    if rec["status"] != "ok":
        raise InputError(video_id, f"failed in the build: {rec.get('error')}")
    with h5py.File(Path(out) / rec["shard"], "r") as f:
        yield f[group_name(video_id)]


def check_group(group: h5py.Group, *, depth_size: int, crop_size: int, n_bins: int,
                version: int = FORMAT_VERSION) -> list[str]:
    """Schema problems of one video group (empty list = conforms) against format ``version``."""
    problems = []
    name = group.name
    if "frames" not in group:
        return [f"{name}: no frames"]
    frames = group["frames"]
    T = frames.shape[0]
    codec = frames.attrs.get("codec")
    if codec == "raw":
        if frames.shape[1:] != (crop_size, crop_size, 3) or frames.dtype != np.uint8:
            problems.append(f"{name}/frames: {frames.shape} {frames.dtype}, expected (T, {crop_size}, {crop_size}, 3) uint8")
    elif codec != "jpeg":
        problems.append(f"{name}/frames: codec {codec!r}")
    dims = {"S": depth_size}
    for ds_name, (tail, dtype) in SCHEMA.items():
        if ds_name not in group:
            problems.append(f"{name}: missing {ds_name}")
            continue
        ds = group[ds_name]
        want = (T,) + tuple(dims.get(d, d) for d in tail)
        if ds.shape != want or ds.dtype != np.dtype(dtype):
            problems.append(f"{name}/{ds_name}: {ds.shape} {ds.dtype}, expected {want} {np.dtype(dtype)}")
    if "rppg_fft" not in group or group["rppg_fft"].shape != (n_bins,):
        problems.append(f"{name}/rppg_fft: missing or not ({n_bins},)")
    if version == 1:
        wanted = list(GROUP_ATTRS_V1)
    else:
        codes = str(group.attrs.get("codes", ""))
        wanted = [a for a, f in ATTR_SCHEMA.items() if f.required] + [c for c in codes.split(",") if c]
    missing = [a for a in wanted if a not in group.attrs]
    if missing:
        problems.append(f"{name}: missing attributes {', '.join(missing)}")
    return problems


def verify(out: str | os.PathLike, *, progress: bool = False) -> tuple[list[str], list[str]]:
    """Check a build: manifest, shard checksums, every video's schema, protocol files vs shards.

    Returns
    -------
    problems : list of str
        Anything corrupt or missing; empty means the build is sound.
    notes : list of str
        Things a user should know that are not corruption (videos that failed to build and
        that protocol files still list).
    """
    from .progress import progress_bar

    out = Path(out)
    manifest = read_manifest(out)
    config = manifest["config"]
    problems, notes = [], []
    videos = manifest["videos"]
    by_shard: dict[str, list[str]] = {}
    for vid, rec in videos.items():
        if rec["status"] == "ok":
            by_shard.setdefault(rec["shard"], []).append(vid)
    listed = {s["path"] for s in manifest["shards"]}
    for shard in set(by_shard) - listed:
        problems.append(f"{shard}: holds videos in the manifest but is not in its shard list")
    for info in progress_bar(manifest["shards"], desc="verify", unit="shard", enabled=progress):
        path = out / info["path"]
        if not path.is_file():
            problems.append(f"{info['path']}: missing")
            continue
        if file_sha256(path) != info["sha256"]:
            problems.append(f"{info['path']}: sha256 mismatch (file changed or corrupt)")
            continue
        try:
            with h5py.File(path, "r") as f:
                for vid in by_shard.get(info["path"], []):
                    if group_name(vid) not in f:
                        problems.append(f"{info['path']}: no group for {vid}")
                        continue
                    problems += check_group(f[group_name(vid)], depth_size=config["depth_size"],
                                            crop_size=config["crop_size"], n_bins=config["rppg_bins"],
                                            version=manifest["version"])
        except OSError as exc:
            problems.append(f"{info['path']}: cannot be read as HDF5 ({exc})")
    if manifest["version"] >= 2:
        wanted = [k for k, f in MANIFEST_VIDEO_SCHEMA.items() if f.required]
        lacking = {vid: [k for k in wanted if k not in rec] for vid, rec in videos.items()}
        lacking = {vid: keys for vid, keys in lacking.items() if keys}
        if lacking:
            vid, keys = next(iter(lacking.items()))
            problems.append(f"manifest.json: {len(lacking)} videos lack fields, e.g. {vid}: {', '.join(keys)}")
    failed = {v for v, r in videos.items() if r["status"] != "ok"}
    proto_root = out / "protocols"
    if not proto_root.is_dir():
        problems.append("protocols/: missing")
    for csv in sorted(proto_root.glob("*/*.csv")):
        try:
            ids = [row.video_id for row in read_protocol(out, csv.parent.name, csv.stem)]
        except FasprepError as exc:
            problems.append(str(exc))
            continue
        unknown = [v for v in ids if v not in videos]
        if unknown:
            problems.append(f"{csv.relative_to(out)}: {len(unknown)} videos not in the build, e.g. {unknown[0]}")
        n_failed = sum(v in failed for v in ids)
        if n_failed:
            notes.append(f"{csv.relative_to(out)}: {n_failed} listed videos failed to build (no data; loaders skip them)")
    return problems, notes
