"""Fixtures of the web viewer's tests: small results folders (made once per session), a live
server over a private copy of them, and a headless Chromium driven by Playwright.

The browser tests use Debian's ``/usr/bin/chromium`` (``scripts/install-browser``) and the Mol*
bundle (``scripts/build-viewer``); they skip with the reason when either is missing, and fail
instead when ``DIFFFIT_REQUIRE_BROWSER=1`` (set it on CI machines that have both).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import difffit
from difffit.config import ClusterConfig, FitConfig, QualityConfig, RefineConfig, SearchConfig
from difffit.io import write_structure
from difffit.io.results import save_results
from tests.conftest import ROOT, data_path, haemoglobin_path
from tests.synthetic import planted_case, protein_like

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts" / "viewer"


def small_config(resolution: float, *, n_rotations: int = 20, n_positions: int = 5) -> FitConfig:
    """A quick search: the viewer's tests need results, not the best fit."""
    return FitConfig(
        search=SearchConfig(
            n_rotations=n_rotations, n_positions=n_positions, oversample=3, n_steps=80
        ),
        quality=QualityConfig(resolution=resolution),
        cluster=ClusterConfig(),
        refine=RefineConfig(n_clusters=3, n_steps=40),
    )


def make_results(
    folder: Path, map_path: Path, structures, config: FitConfig, seed: int = 1
) -> Path:
    density = difffit.read_map(map_path)
    result = difffit.fit(density, structures, config=config, seed=seed)
    return save_results(result, folder, structures=structures, map_path=map_path, n_models=3)


def _toy_map(d: Path, seed: int):
    """A planted 50-residue toy structure and its simulated 5 Å map written in ``d``."""
    rng = np.random.default_rng(seed)
    st = protein_like(50, rng, name="toy")
    density, _ = planted_case(st, rng, resolution=5.0)
    return st, difffit.write_map(density, d / "toy.mrc")


def _toy_composite(d: Path, *extra: str) -> Path:
    """``difffit composite`` of the toy (seed 11) into its map: a tiny two-round search."""
    from difffit.cli import main

    st, map_path = _toy_map(d, 11)
    st_path = write_structure(st, d / "toy.pdb")
    out = d / "run"
    rc = main([
        "composite", str(map_path), str(st_path), "-o", str(out), "--rotations", "12",
        "--positions", "4", "--oversample", "3", "--steps", "60", "--refine", "2",
        "--refine-steps", "20", "--max-rounds", "2", "--seed", "3", "--threads", "1",
        "--resolution", "5", *extra,
    ])  # fmt: skip
    assert rc in (0, None)
    return out


@pytest.fixture(scope="session")
def synthetic_results(tmp_path_factory) -> Path:
    """A planted toy structure in its simulated map: results that need no data files."""
    d = tmp_path_factory.mktemp("viewer-synthetic")
    st, map_path = _toy_map(d, 7)
    st_path = write_structure(st, d / "toy.pdb")
    st = difffit.read_structure(st_path)
    return make_results(
        d / "results", map_path, [st], small_config(5.0, n_rotations=12, n_positions=4)
    )


@pytest.fixture(scope="session")
def hb_results(tmp_path_factory) -> Path:
    """Haemoglobin chain A in EMD-3488 (100³ voxels), a small search; from ../shared or, on a
    fresh machine, from the demo's data (the same files)."""
    m, s = haemoglobin_path("emd_3488.mrc"), haemoglobin_path("5me2.pdb")  # or the demo's
    st = difffit.read_structure(s, chains=["A"])
    d = tmp_path_factory.mktemp("viewer-hb")
    return make_results(d / "results", m, [st], small_config(3.2))


@pytest.fixture(scope="session")
def domainfit_results(tmp_path_factory) -> Path:
    """The DomainFit demo: three domains (two true, one decoy) in density2.mrc."""
    m = data_path("difffit_domainfit_demo", "density2.mrc")
    names = ("I7MLV6_D3.pdb", "I7M317_D1.pdb", "I7LV70_D1.pdb")
    sts = [
        difffit.read_structure(data_path("difffit_domainfit_demo", "subunits_cif", n))
        for n in names
    ]
    d = tmp_path_factory.mktemp("viewer-domainfit")
    return make_results(d / "results", m, sts, small_config(5.0, n_rotations=12, n_positions=4))


def copy_results(src: Path, dest: Path) -> Path:
    """A private copy of a results folder (the viewer writes into it)."""
    shutil.copytree(src, dest)
    return dest


# ---------------------------------------------------------------------------- the browser
def _require(reason: str):
    if os.environ.get("DIFFFIT_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_context():
    """A headless Chromium (fresh profile) for the whole session."""
    from difffit.viewer import molstar_available

    if not CHROMIUM.exists():
        _require(f"{CHROMIUM} not installed: run scripts/install-browser")
    if not molstar_available():
        _require("the viewer's Mol* bundle is not built: run scripts/build-viewer")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("the playwright Python package is missing: pip install -e .[dev]")
    with tempfile.TemporaryDirectory(prefix="difffit-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 850},
            accept_downloads=True,
        )
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def composite_run(tmp_path_factory) -> Path:
    """A two-round composite run of one toy structure in its simulated map (``difffit
    composite``, a tiny search): a run folder with candidates.csv in each round."""
    return _toy_composite(tmp_path_factory.mktemp("viewer-composite"))


@pytest.fixture(scope="session")
def flexible_run(tmp_path_factory) -> Path:
    """The run of :func:`composite_run` with ``--flexible``: its placed copy is refined."""
    return _toy_composite(tmp_path_factory.mktemp("viewer-flexible"), "--flexible", "-q")


@pytest.fixture(scope="session")
def screen_results(tmp_path_factory) -> Path:
    """A screen of a four-candidate library (the planted toy and three decoys) against the
    toy's simulated map (``difffit screen``, a tiny search, two models written)."""
    from difffit.cli import main

    d = tmp_path_factory.mktemp("viewer-screen")
    st, map_path = _toy_map(d, 13)
    lib = d / "library"
    lib.mkdir()
    write_structure(st, lib / "toy.pdb")
    for i, n in enumerate((40, 55, 45)):
        write_structure(protein_like(n, np.random.default_rng(100 + i), name=f"decoy{i}"),
                        lib / f"decoy{i}.pdb")  # fmt: skip
    out = d / "screen"
    rc = main([
        "screen", str(map_path), str(lib), "-o", str(out), "--rotations", "8", "--positions",
        "3", "--oversample", "2", "--steps", "30", "--refine", "1", "--refine-steps", "10",
        "--models", "2", "--no-plot", "--no-prefilter", "--seed", "5", "--resolution", "5",
        "--threads", "1",
    ])  # fmt: skip
    assert rc in (0, None)
    return out
