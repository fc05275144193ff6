"""Synthetic screening cases: a density simulated from one pseudo-protein, and a library of it
plus decoys of other shapes and sizes (no files from ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from difffit.config import ClusterConfig, FitConfig, QualityConfig, RefineConfig, SearchConfig
from difffit.io import write_map, write_structure
from tests.synthetic import planted_case, protein_like

#: A small search: enough to find a 60-residue pseudo-protein in its simulated map.
FAST_FIT = FitConfig(
    search=SearchConfig(n_rotations=24, n_positions=4, oversample=4, n_steps=120),
    quality=QualityConfig(resolution=5.0),
    cluster=ClusterConfig(sort_by="cam"),
    refine=RefineConfig(n_clusters=3, n_steps=60),
)
FAST_ARGS = [
    "--rotations",
    "24",
    "--positions",
    "4",
    "--oversample",
    "4",
    "--steps",
    "120",
    "--refine",
    "3",
    "--refine-steps",
    "60",
    "--resolution",
    "5",
]

DECOY_SIZES = (45, 50, 55, 60, 65, 70, 80, 90, 100, 120)


def make_library(
    folder: Path, *, n_decoys: int = len(DECOY_SIZES), seed: int = 5
) -> tuple[Path, Path]:
    """Write ``density.mrc`` (the planted ``target``) and ``library/`` (target + decoys).

    Returns the map path and the library folder.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lib = folder / "library"
    lib.mkdir(exist_ok=True)
    target = protein_like(60, rng, name="target")
    density, _ = planted_case(target, rng, resolution=5.0, voxel=1.5, margin=10.0, noise=0.02)
    mp = write_map(density, folder / "density.mrc")
    write_structure(target, lib / "target.pdb")
    for i, n in enumerate(DECOY_SIZES[:n_decoys]):
        write_structure(protein_like(n, rng, name=f"decoy{i:02d}"), lib / f"decoy{i:02d}.pdb")
    return mp, lib
