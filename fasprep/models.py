"""Model assets: MediaPipe's face models, which ship with fasprep, and the Surrey Face Model
(SFM 3448) of eos, which cannot.

MediaPipe's Face Landmarker bundle and BlazeFace detector (Apache-2.0) are package data in
``fasprep/data/mediapipe``, read from there and checked against their sha256: nothing is
downloaded for face tracking. The mediapipe package itself carries no models.

The SFM is free for non-commercial use only, so fasprep never bundles it. It is looked up, in
order, in the ``sfm_dir`` argument (CLI ``--sfm-dir``), the ``FASPREP_SFM_DIR`` environment
variable, and the user cache (``~/.cache/fasprep/sfm``, or ``$XDG_CACHE_HOME/fasprep/sfm``),
where ``fasprep models fetch`` puts it: downloaded from eos's repository at tag v1.5.0 (the
release eos-py 1.5.0 was built from) and checked against the sha256 sums below.
"""

from __future__ import annotations

import functools
import hashlib
import os
import urllib.request
from pathlib import Path

from .errors import ModelAssetError
from .io import atomic_path

SFM_TAG = "v1.5.0"
SFM_URL = "https://raw.githubusercontent.com/patrikhuber/eos/{tag}/share/{name}"

#: Files of the SFM 3448 set and their sha256 at eos tag v1.5.0.
SFM_FILES = {
    "sfm_shape_3448.bin": "43750338ae533e7fb981e924b6f67ebde3d292f15ec4fc886ae5af14308ad980",
    "expression_blendshapes_3448.bin": "a77c81712fc5e8b08a1be4cd2824d51514e5bde6578109ae5240dfb3489efd43",
    "ibug_to_sfm.txt": "810810c457184526c7d54305ecbc5da764e2431b5e66025d921a7d424aebfac9",
    "sfm_model_contours.json": "c9e69bfa995ab19ac6b27abb07729eb0520a00bb192be12426ca6bce76f3fded",
    "sfm_3448_edge_topology.json": "5934e5ec34dd6779fda06d28a1f8d02ca9a238bff882e5ccd6da5af9fffe61d5",
}

SFM_LICENCE = ("The Surrey Face Model is free for non-commercial use only "
               "(see http://www.cvssp.org/facemodel); fasprep does not redistribute it.")


def user_cache_dir() -> Path:
    """Where ``fasprep models fetch`` stores the SFM."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fasprep" / "sfm"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_sfm(sfm_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the SFM files.

    Parameters
    ----------
    sfm_dir : str or os.PathLike, optional
        Checked first; when given, it must hold the files.

    Raises
    ------
    ModelAssetError
        No candidate folder holds every file; the message names the places looked in and the
        ways to provide the model.
    """
    candidates = []
    if sfm_dir is not None:
        candidates.append(("--sfm-dir", Path(sfm_dir)))
    elif os.environ.get("FASPREP_SFM_DIR"):
        candidates.append(("FASPREP_SFM_DIR", Path(os.environ["FASPREP_SFM_DIR"])))
    else:
        candidates.append(("user cache", user_cache_dir()))
    for _, folder in candidates:
        if all((folder / name).is_file() for name in SFM_FILES):
            return folder
    where, folder = candidates[0]
    missing = [n for n in SFM_FILES if not (folder / n).is_file()]
    raise ModelAssetError(
        f"Surrey Face Model not found in {folder} ({where}; missing {', '.join(missing)}). Run "
        f"`fasprep models fetch`, or pass --sfm-dir / set FASPREP_SFM_DIR to a folder with the eos "
        f"{SFM_TAG} share/ files, or use --depth-source mesh (needs no model)")


def verify_sfm(folder: str | os.PathLike) -> None:
    """Check every SFM file against its sha256; raise :class:`ModelAssetError` on a mismatch."""
    for name, digest in SFM_FILES.items():
        path = Path(folder) / name
        if not path.is_file():
            raise ModelAssetError(f"{path}: missing")
        if _sha256(path) != digest:
            raise ModelAssetError(f"{path}: sha256 mismatch (not the eos {SFM_TAG} file)")


def fetch_sfm(dest: str | os.PathLike | None = None, *, url: str = SFM_URL, progress=None) -> Path:
    """Download the SFM files from eos's repository and verify their sha256.

    Each file is written atomically and only kept when its checksum matches; files already
    present with the right checksum are not downloaded again.

    Parameters
    ----------
    dest : folder, optional
        Defaults to :func:`user_cache_dir`.
    url : str
        Template with ``{tag}`` and ``{name}`` (tests point it at a local server).
    progress : callable(name), optional
        Called before each download.

    Returns
    -------
    Path
        The folder.
    """
    dest = Path(dest) if dest is not None else user_cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name, digest in SFM_FILES.items():
        path = dest / name
        if path.is_file() and _sha256(path) == digest:
            continue
        if progress:
            progress(name)
        source = url.format(tag=SFM_TAG, name=name)
        try:
            with urllib.request.urlopen(source, timeout=60) as response, atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        f.write(block)
                if _sha256(tmp) != digest:
                    raise ModelAssetError(f"{source}: sha256 mismatch, file discarded")
        except OSError as exc:
            raise ModelAssetError(f"{source}: download failed ({exc})") from exc
    return dest


MEDIAPIPE_INSTALL = 'pip install "mediapipe>=1.2"'

#: MediaPipe's model files shipped in ``fasprep/data/mediapipe`` (Apache-2.0, the licence and
#: their source beside them) and their sha256: the Face Landmarker bundle (BlazeFace short
#: range, the 478-point mesh, blendshapes) and the BlazeFace short-range detector alone.
MEDIAPIPE_FILES = {
    "face_landmarker.task": "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    "blaze_face_short_range.tflite": "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f",
}


def mediapipe_model(name: str) -> bytes:
    """The bytes of a MediaPipe model file that fasprep ships (:data:`MEDIAPIPE_FILES`), read
    and checked once per process (every :class:`fasprep.face.FaceTracker` asks for them).

    Raises
    ------
    ModelAssetError
        The file is missing from the installed package or is not the file fasprep ships
        (its sha256 differs): a broken install, the message says so.
    """
    if name not in MEDIAPIPE_FILES:
        raise ModelAssetError(f"{name}: not a MediaPipe model fasprep ships ({', '.join(MEDIAPIPE_FILES)})")
    return _checked_model(name, MEDIAPIPE_FILES[name])


@functools.lru_cache(maxsize=None)
def _checked_model(name: str, sha256: str) -> bytes:
    from importlib import resources

    where = resources.files("fasprep").joinpath("data", "mediapipe", name)
    try:
        data = where.read_bytes()
    except OSError as exc:
        raise ModelAssetError(f"{where}: MediaPipe model missing from the fasprep package ({exc.strerror or exc}); "
                              "reinstall fasprep") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelAssetError(f"{where}: sha256 mismatch (not the MediaPipe model fasprep ships); reinstall fasprep")
    return data


def import_mediapipe_vision():
    """MediaPipe's Tasks API, imported on first use (it takes about a second).

    Returns
    -------
    (mediapipe, mediapipe.tasks.python.vision, mediapipe.tasks.python.BaseOptions)

    Raises
    ------
    ModelAssetError
        MediaPipe is not installed; the message gives the install line (README, Install).
    """
    try:
        import mediapipe
        from mediapipe.tasks.python import BaseOptions, vision
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("mediapipe"):
            raise
        raise ModelAssetError(f"MediaPipe (face tracking) is not installed: run `{MEDIAPIPE_INSTALL}` "
                              "(see README, Install)") from None
    return mediapipe, vision, BaseOptions
