"""Shared fixtures: seeded generators, the real-data folder, small synthetic cases."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))


def data_path(*parts: str) -> Path:
    """A file under the shared real-data folder; skips the test when it is not there."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (set DIFFFIT_DATA to ../shared/data)")
    return p


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        pytest.skip(f"real data folder not available: {DATA} (set DIFFFIT_DATA)")
    return DATA
