"""Compile and cache the Numba kernels: ``python -m difffit.warmup`` (run by scripts/setup).

The kernels are ``@njit(cache=True)``: the first process that calls one compiles it (tens of
seconds) and writes the machine code next to the module, and later processes load it. This runs
a tiny synthetic fit (a 30-residue helix in its own simulated map) and the Q-score, which call
every cached kernel with the argument types a real fit uses, so that the user's first
``difffit fit`` is as fast as the second.
"""

from __future__ import annotations

import time

__all__ = ["warm_up"]


def _helix_pdb(n_residues: int = 30) -> str:
    import math

    lines = []
    serial = 1
    for i in range(n_residues):
        for name, element, radius, dz, dphi in (
            ("N", "N", 1.55, -0.9, -0.45),
            ("CA", "C", 2.3, 0.0, 0.0),
            ("C", "C", 1.6, 0.9, 0.45),
            ("O", "O", 2.4, 1.3, 0.8),
        ):
            phi = math.radians(100.0 * i) + dphi
            x, y, z = radius * math.cos(phi), radius * math.sin(phi), 1.5 * i + dz
            lines.append(
                f"ATOM  {serial:5d} {name:<4s} ALA A{i + 1:4d}    "
                f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00 90.00          {element:>2s}"
            )
            serial += 1
    return "\n".join([*lines, "END", ""])


def warm_up() -> float:
    """Run the tiny fit and Q-score; returns the seconds it took."""
    import tempfile
    from pathlib import Path

    from difffit.config import FitConfig, QualityConfig, SearchConfig
    from difffit.density.simulate import simulate_map
    from difffit.fitting.qscore import q_scores
    from difffit.io.structures import read_structure
    from difffit.search import fit

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="difffit-warmup-") as tmp:
        path = Path(tmp) / "helix.pdb"
        path.write_text(_helix_pdb())
        structure = read_structure(path)
    density = simulate_map(structure.coords_xyz, structure.atomic_numbers, 5.0, voxel_size=1.5)
    config = FitConfig(
        search=SearchConfig(n_rotations=4, n_positions=2, screen_steps=2, n_steps=2),
        quality=QualityConfig(resolution=5.0),
    )
    fit(density, structure, config=config, device="cpu", seed=1, threads=1)
    q_scores(density, structure.coords_xyz)
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"[setup] Numba kernels compiled and cached in {warm_up():.0f} s")
