"""Shared fixtures: seeded generators, the real-data folder, small synthetic cases."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))
#: The demo's data (scripts/fetch-demo-data: EMD-3488 and 5ME2 from the ccpem-utils wheel on
#: PyPI), there on a fresh machine without ../shared once scripts/demo or scripts/test ran.
DEMO = Path(os.environ.get("DIFFFIT_DEMO_DATA", ROOT / "demo-data"))


def data_path(*parts: str) -> Path:
    """A file under the shared real-data folder; skips the test when it is not there."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (set DIFFFIT_DATA to ../shared/data)")
    return p


def haemoglobin_path(name: str) -> Path:
    """``emd_3488.mrc`` or ``5me2.pdb``: from the shared data folder, else from the demo's data
    (the same files of the same wheel); skips when neither is there."""
    for p in (DATA / "ccpem_emd3488_haemoglobin" / name, DEMO / name):
        if p.is_file():
            return p
    pytest.skip(f"{name}: neither {DATA} nor the demo data {DEMO} holds it (run "
                "scripts/fetch-demo-data, or set DIFFFIT_DATA)")  # fmt: skip


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        pytest.skip(f"real data folder not available: {DATA} (set DIFFFIT_DATA)")
    return DATA
