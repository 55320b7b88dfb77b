"""Readers of eos's model files, without eos: the Surrey Face Model's shape model and its
expression blendshapes.

eos (github.com/patrikhuber/eos) writes its models with cereal's portable little-endian
``BinaryOutputArchive``; the layouts below are those of eos 1.5.0's headers
(``MorphableModel.hpp``, ``PcaModel.hpp``, ``Blendshape.hpp``,
``io/eigen_cerealisation.hpp``):

- an Eigen matrix: ``int32 rows, int32 cols``, then ``rows * cols`` float32, column-major;
- a ``std::vector`` or ``std::string``: ``uint64 size``, then its elements (a
  ``std::array<int, 3>`` as three int32, a ``std::array<double, 2>`` as two float64);
- ``PcaModel``: mean (vector), orthonormal basis (matrix, one column per component),
  eigenvalues (vector), triangle list (vector of int32 triples);
- ``MorphableModel``: ``uint32`` class version, then per version 1: shape model, colour model,
  texture coordinates (the SFM 3448 of eos 1.5.0 is version 1; versions 2-4 append an
  expression model and landmark definitions, which this reader refuses by name);
- blendshapes: a vector of (name string, deformation matrix).

The rescaled basis is computed as eos computes it on load (each column times the square root
of its eigenvalue, in float32), so these arrays equal eos-py's bit for bit (``tests/test_depth.py``
compares them where eos-py is installed).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelAssetError


@dataclass(frozen=True)
class PcaModel:
    """A PCA model as eos stores it.

    Attributes
    ----------
    mean : np.ndarray, shape (D,), float32
        D = 3 N for N vertices (x, y, z per vertex; millimetres for the SFM).
    orthonormal_basis : np.ndarray, shape (D, K), float32
        One unit eigenvector per column.
    eigenvalues : np.ndarray, shape (K,), float32
        Variances along the eigenvectors.
    triangles : np.ndarray, shape (M, 3), int32
        Vertex indices of the mesh's triangles.
    """

    mean: np.ndarray
    orthonormal_basis: np.ndarray
    eigenvalues: np.ndarray
    triangles: np.ndarray

    @property
    def rescaled_basis(self) -> np.ndarray:
        """(D, K) float32: each eigenvector times the square root of its eigenvalue (so that
        coefficients of a sample are ~N(0, 1)), as eos's ``get_rescaled_pca_basis``."""
        return self.orthonormal_basis * np.sqrt(self.eigenvalues)[None, :]


class _Reader:
    """Sequential little-endian reads from a file's bytes; every failure names the file."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as exc:
            raise ModelAssetError(f"{path}: cannot read the model file ({exc.strerror or exc})") from exc
        self.pos = 0

    def fail(self, what: str) -> ModelAssetError:
        return ModelAssetError(f"{self.path}: not an eos model file this reader knows: {what} (at byte {self.pos})")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"file ends inside {what}: {n} bytes wanted, {len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def size(self, what: str, item_bytes: int) -> int:
        """A vector's or string's length, checked against what is left in the file."""
        n = self.scalar("Q", what)
        if n * item_bytes > len(self.data) - self.pos:
            raise self.fail(f"{what} claims {n} items, more than the file holds")
        return n

    def matrix(self, what: str) -> np.ndarray:
        """An Eigen float32 matrix, (rows, cols); a vector comes back as (rows,) when cols is 1."""
        rows, cols = self.scalar("i", f"{what} rows"), self.scalar("i", f"{what} columns")
        if rows < 0 or cols < 0:
            raise self.fail(f"{what} has shape ({rows}, {cols})")
        raw = self.take(rows * cols * 4, what)
        m = np.frombuffer(raw, "<f4").reshape(cols, rows).T  # column-major; read-only until copied
        return np.array(m[:, 0] if cols == 1 else m, np.float32, order="C")  # always a writable copy

    def array(self, dtype: str, width: int, what: str) -> np.ndarray:
        """A vector of ``std::array<T, width>``: (n, width)."""
        item = np.dtype(dtype).itemsize * width
        n = self.size(what, item)
        return np.frombuffer(self.take(n * item, what), dtype).reshape(n, width).copy()

    def string(self, what: str) -> str:
        n = self.size(what, 1)
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not text") from None

    def pca_model(self, what: str) -> PcaModel:
        mean = self.matrix(f"{what} mean")
        basis = self.matrix(f"{what} basis")
        eigenvalues = self.matrix(f"{what} eigenvalues")
        triangles = self.array("<i4", 3, f"{what} triangle list").astype(np.int32)
        if mean.size:
            basis = basis.reshape(mean.size, -1)
            if basis.shape[1] != eigenvalues.size or np.any(eigenvalues < 0):
                raise self.fail(f"{what}: {basis.shape[1]} basis vectors but {eigenvalues.size} eigenvalues")
            if triangles.size and (triangles.min() < 0 or triangles.max() >= mean.size // 3):
                raise self.fail(f"{what}: triangle vertex out of range")
        return PcaModel(mean=mean, orthonormal_basis=basis, eigenvalues=eigenvalues.reshape(-1),
                        triangles=triangles)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} bytes left after the model")


def read_shape_model(path: str | os.PathLike) -> PcaModel:
    """The shape PCA model of an eos ``MorphableModel`` file (version 1, as the SFM 3448 files).

    Parameters
    ----------
    path : str or os.PathLike
        E.g. ``sfm_shape_3448.bin``.

    Returns
    -------
    PcaModel
        For the SFM 3448: mean (10344,), basis (10344, 63), 6736 triangles.

    Raises
    ------
    ModelAssetError
        Unreadable, truncated or trailing bytes, a version this reader does not know, an
        inconsistent model; the message names the file and the byte.
    """
    r = _Reader(Path(path))
    version = r.scalar("I", "class version")
    if version != 1:
        raise r.fail(f"MorphableModel version {version}; this reader knows version 1 (eos 1.5.0's SFM files)")
    shape = r.pca_model("shape model")
    if shape.mean.size == 0 or shape.mean.size % 3:
        raise r.fail(f"shape model mean has {shape.mean.size} values, not 3 per vertex")
    r.pca_model("colour model")
    r.array("<f8", 2, "texture coordinates")
    r.end()
    return shape


def read_blendshapes(path: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
    """eos blendshapes: (name, deformation) pairs.

    Parameters
    ----------
    path : str or os.PathLike
        E.g. ``expression_blendshapes_3448.bin``.

    Returns
    -------
    list of (str, np.ndarray of shape (D,), float32)
        D = 3 N: the per-vertex offset of the full expression (SFM 3448: 6 shapes, anger ...
        surprise).

    Raises
    ------
    ModelAssetError
        As :func:`read_shape_model`.
    """
    r = _Reader(Path(path))
    n = r.size("blendshape count", 16)
    out = []
    for i in range(n):
        name = r.string(f"blendshape {i} name")
        deformation = r.matrix(f"blendshape {name!r}")
        if deformation.ndim != 1 or (out and deformation.shape != out[0][1].shape):
            raise r.fail(f"blendshape {name!r} has shape {deformation.shape}")
        out.append((name, deformation))
    r.end()
    return out
