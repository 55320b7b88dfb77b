"""Shared fixtures: the real test data kept in tests/data (see tests/data/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """tests/data: real faces, videos and PPG recordings, each with its source and licence."""
    return DATA
