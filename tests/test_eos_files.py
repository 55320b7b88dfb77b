"""fasprep.eos_files: eos's cereal model files read without eos.

A small model written here byte by byte from eos 1.5.0's layout (not with the reader's code)
reads back exactly, and every damaged copy of it (cut at any byte, an unknown version, bytes
left over, a vector longer than the file) is one ModelAssetError naming the file. Where the
Surrey Face Model and eos-py are installed, the reader's arrays are eos-py's, and depth maps
fitted with them are the ones eos-py's arrays give.
"""

from __future__ import annotations

import importlib.util
import struct

import numpy as np
import pytest
from sfm import SFM_DIR

from fasprep import depth, eos_files, face
from fasprep.errors import ModelAssetError


def _matrix(m: np.ndarray) -> bytes:
    m = np.asarray(m, np.float32)
    m = m[:, None] if m.ndim == 1 else m
    return struct.pack("<ii", *m.shape) + m.T.astype("<f4").tobytes()  # Eigen: column-major


def _vector(items: np.ndarray, dtype: str) -> bytes:
    return struct.pack("<Q", len(items)) + np.asarray(items, dtype).tobytes()


def _pca(mean, basis, eigenvalues, triangles) -> bytes:
    return _matrix(mean) + _matrix(basis) + _matrix(eigenvalues) + _vector(triangles, "<i4")


@pytest.fixture(scope="module")
def small_model():
    """(bytes of a version-1 MorphableModel with 4 vertices and 2 components, its arrays)."""
    rng = np.random.default_rng(0)
    mean = rng.normal(0, 50, 12).astype(np.float32)
    basis = np.linalg.qr(rng.normal(size=(12, 2)))[0].astype(np.float32)
    eigenvalues = np.array([900.0, 25.0], np.float32)
    triangles = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    empty = _pca(np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 3)))
    data = (struct.pack("<I", 1) + _pca(mean, basis, eigenvalues, triangles) + empty
            + _vector(rng.uniform(0, 1, (4, 2)), "<f8"))
    return data, (mean, basis, eigenvalues, triangles)


def test_a_model_written_to_eos_layout_reads_back(tmp_path, small_model):
    data, (mean, basis, eigenvalues, triangles) = small_model
    (tmp_path / "m.bin").write_bytes(data)
    m = eos_files.read_shape_model(tmp_path / "m.bin")
    np.testing.assert_array_equal(m.mean, mean)
    np.testing.assert_array_equal(m.orthonormal_basis, basis)
    np.testing.assert_array_equal(m.eigenvalues, eigenvalues)
    np.testing.assert_array_equal(m.triangles, triangles)
    np.testing.assert_allclose(m.rescaled_basis, basis * [30.0, 5.0], rtol=1e-6)
    assert m.mean.dtype == m.rescaled_basis.dtype == np.float32 and m.triangles.dtype == np.int32

    shapes = [("smile", np.arange(12, dtype=np.float32)), ("frown", -np.ones(12, np.float32))]
    blob = struct.pack("<Q", 2) + b"".join(struct.pack("<Q", len(n)) + n.encode() + _matrix(d) for n, d in shapes)
    (tmp_path / "b.bin").write_bytes(blob)
    got = eos_files.read_blendshapes(tmp_path / "b.bin")
    assert [n for n, _ in got] == ["smile", "frown"]
    for (_, a), (_, b) in zip(got, shapes):
        np.testing.assert_array_equal(a, b)


def test_every_damaged_copy_is_one_clear_error(tmp_path, small_model):
    data, _ = small_model
    path = tmp_path / "sfm_shape_3448.bin"
    for cut in range(len(data)):  # cut at every byte: never an IndexError or a half-read model
        path.write_bytes(data[:cut])
        with pytest.raises(ModelAssetError, match=str(path)):
            eos_files.read_shape_model(path)
    head = struct.pack("<I", 1) + _matrix(np.zeros(12)) + _matrix(np.zeros((12, 2))) + _matrix(np.ones(2))
    damaged = {
        "version 3": struct.pack("<I", 3) + data[4:],
        "1 bytes left": data + b"\0",
        "has shape (-1, 1)": struct.pack("<Iii", 1, -1, 1) + data[12:],
        "claims 1099511627776 items": head + struct.pack("<Q", 1 << 40) + bytes(len(data)),
        "2 basis vectors but 3 eigenvalues": (struct.pack("<I", 1) + _pca(np.zeros(12), np.zeros((12, 2)), np.ones(3),
                                                                          np.zeros((0, 3))) + data[len(data) // 2:]),
        "triangle vertex out of range": struct.pack("<I", 1) + _pca(np.zeros(12), np.zeros((12, 2)), np.ones(2),
                                                                    [[0, 1, 4]]) + data[len(data) // 2:],
    }
    for why, blob in damaged.items():
        path.write_bytes(blob)
        with pytest.raises(ModelAssetError, match=str(path)) as err:
            eos_files.read_shape_model(path)
        assert why in str(err.value), (why, str(err.value))
    with pytest.raises(ModelAssetError, match="cannot read"):
        eos_files.read_shape_model(tmp_path / "missing.bin")


needs_eos = pytest.mark.skipif(SFM_DIR is None or importlib.util.find_spec("eos") is None,
                               reason="needs the Surrey Face Model and eos-py (CPython <= 3.12) to compare with")


@needs_eos
def test_the_sfm_reads_as_eos_reads_it():
    import eos

    from pathlib import Path

    root = Path(SFM_DIR)
    ours = eos_files.read_shape_model(root / "sfm_shape_3448.bin")
    theirs = eos.morphablemodel.load_model(str(root / "sfm_shape_3448.bin")).get_shape_model()
    np.testing.assert_array_equal(ours.mean, theirs.get_mean())
    np.testing.assert_array_equal(ours.orthonormal_basis, theirs.get_orthonormal_pca_basis())
    np.testing.assert_array_equal(ours.eigenvalues, theirs.get_eigenvalues())
    np.testing.assert_array_equal(ours.triangles, np.asarray(theirs.get_triangle_list()))
    # eos rescales with Eigen's fast float square root: within float32 rounding of the exact one
    np.testing.assert_allclose(ours.rescaled_basis, theirs.get_rescaled_pca_basis(), rtol=3e-7, atol=1e-6)
    assert ours.mean.shape == (10344,) and ours.orthonormal_basis.shape == (10344, 63)
    blend = eos.morphablemodel.load_blendshapes(str(root / "expression_blendshapes_3448.bin"))
    got = eos_files.read_blendshapes(root / "expression_blendshapes_3448.bin")
    assert [n for n, _ in got] == [b.name for b in blend] == ["anger", "disgust", "fear", "happiness", "sadness",
                                                                "surprise"]
    for (_, a), b in zip(got, blend):
        np.testing.assert_array_equal(a, b.deformation)


@needs_eos
def test_depth_maps_are_those_of_the_eos_loaded_model(real_data):
    """The fit and depth map of a real face with the model as eos-py loads it (the loader of
    fasprep <= 0.x) and as fasprep reads it now."""
    import dataclasses

    import cv2
    import eos

    from pathlib import Path

    root = Path(SFM_DIR)
    ours = depth.load_sfm(root)
    shape = eos.morphablemodel.load_model(str(root / "sfm_shape_3448.bin")).get_shape_model()
    blend = eos.morphablemodel.load_blendshapes(str(root / "expression_blendshapes_3448.bin"))
    theirs = dataclasses.replace(
        ours, mean=np.asarray(shape.get_mean(), np.float64).reshape(-1, 3),
        identity=np.asarray(shape.get_rescaled_pca_basis(), np.float64),
        expression=np.stack([np.asarray(b.deformation, np.float64) for b in blend], axis=1),
        triangles=np.asarray(shape.get_triangle_list(), np.int32))
    rgb = cv2.cvtColor(cv2.imread(str(real_data / "images" / "astronaut.png")), cv2.COLOR_BGR2RGB)
    with face.FaceTracker(static_image=True) as tracker:
        lm = tracker.landmarks(rgb)
    p68, box = face.to_ibug68(lm), depth.square_box(lm)
    maps = []
    for model in (ours, theirs):
        fit = depth.fit_3dmm(p68, model)
        maps.append((fit, *depth.render_depth(fit.project(), model.triangles, box)))
    (fit_a, d_a, m_a), (fit_b, d_b, m_b) = maps
    assert np.array_equal(m_a, m_b) and m_a.sum() > 300
    assert np.abs(d_a - d_b).max() < 1e-4
    assert abs(fit_a.rmse_px - fit_b.rmse_px) < 1e-4 * fit_b.rmse_px
