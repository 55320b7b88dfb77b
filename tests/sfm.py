"""The Surrey Face Model for the tests: found as fasprep finds it (FASPREP_SFM_DIR, which CI sets,
else the user cache of `fasprep models fetch`). It cannot be committed (non-commercial licence).

Tests of the 3DMM fit itself skip without it; builds use MediaPipe's mesh depth instead, so the
builder is tested on every machine.
"""

from __future__ import annotations

import pytest

from fasprep.errors import ModelAssetError
from fasprep.models import find_sfm


def _find() -> str | None:
    try:
        return str(find_sfm())
    except ModelAssetError:
        return None


SFM_DIR = _find()
#: Depth source of the test builds: the 3DMM fit where the model is installed, else the mesh.
DEPTH_SOURCE = "sfm" if SFM_DIR else "mesh"
MISSING = "the Surrey Face Model is not installed: set FASPREP_SFM_DIR or run `fasprep models fetch`"


def require_sfm() -> str:
    """The model's folder, else skip the calling test with the one reason."""
    if SFM_DIR is None:
        pytest.skip(MISSING)
    return SFM_DIR


def build_cli_args() -> list[str]:
    """The depth options for a `fasprep build` command line of a test."""
    return ["--depth-source", DEPTH_SOURCE] + (["--sfm-dir", SFM_DIR] if SFM_DIR else [])
