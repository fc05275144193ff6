"""Synthetic structures and maps for known-answer tests (no files from ../shared needed)."""

from __future__ import annotations

import numpy as np

from difffit.density.map import DensityMap
from difffit.density.simulate import simulate_on_grid
from difffit.geometry import RigidTransform, random_quaternions
from difffit.structure import Structure

_RES = ["ALA", "LEU", "GLY", "SER", "VAL", "GLU", "LYS", "PHE", "ASP", "THR"]


def protein_like(
    n_residues: int, rng: np.random.Generator, *, name: str = "synthetic"
) -> Structure:
    """A compact, asymmetric pseudo-protein: a self-avoiding CA walk (3.8 Å steps) inside a
    sphere, with N, C, O and a CB-like atom per residue. Not a real fold, but dense and without
    symmetry, which is what a known-answer fitting test needs."""
    radius = 2.2 * n_residues ** (1 / 3) + 4.0
    ca = [np.zeros(3)]
    while len(ca) < n_residues:
        for _ in range(200):
            step = rng.normal(size=3)
            step *= 3.8 / np.linalg.norm(step)
            p = ca[-1] + step
            if np.linalg.norm(p) < radius and all(np.linalg.norm(p - q) > 4.2 for q in ca[-60:-2]):
                ca.append(p)
                break
        else:
            ca.append(ca[-1] + rng.normal(size=3) * 2.0)
    ca = np.array(ca)
    xyz, names, elems, znum, resn, resi = [], [], [], [], [], []
    for i, c in enumerate(ca):
        prev = ca[i - 1] if i else c - np.array([3.8, 0, 0])
        nxt = ca[i + 1] if i + 1 < len(ca) else c + np.array([3.8, 0, 0])
        u = (nxt - prev) / (np.linalg.norm(nxt - prev) + 1e-9)
        side = np.cross(u, rng.normal(size=3))
        side /= np.linalg.norm(side) + 1e-9
        atoms = [
            ("N", "N", 7, c - 1.2 * u + 0.3 * side),
            ("CA", "C", 6, c),
            ("C", "C", 6, c + 1.3 * u + 0.2 * side),
            ("O", "O", 8, c + 1.6 * u + 1.1 * side),
            ("CB", "C", 6, c - 1.4 * side + 0.5 * u),
        ]
        for an, el, z, p in atoms:
            xyz.append(p)
            names.append(an)
            elems.append(el)
            znum.append(z)
            resn.append(_RES[i % len(_RES)])
            resi.append(i + 1)
    n = len(xyz)
    return Structure(
        name=name,
        coords_xyz=np.array(xyz) + 30.0,
        elements=np.array(elems),
        atomic_numbers=np.array(znum),
        atom_names=np.array(names),
        residue_names=np.array(resn),
        chain_ids=np.array(["A"] * n),
        residue_numbers=np.array(resi),
        insertion_codes=np.array([""] * n),
    )


def planted_case(
    structure: Structure,
    rng: np.random.Generator,
    *,
    resolution: float = 5.0,
    voxel: float = 1.5,
    margin: float = 8.0,
    noise: float = 0.0,
) -> tuple[DensityMap, RigidTransform]:
    """A map simulated from ``structure`` placed at a random pose, and that pose."""
    q = random_quaternions(1, rng)[0]
    c = structure.centre_xyz
    moved0 = (structure.coords_xyz - c) @ RigidTransform.from_quat(q, np.zeros(3)).rotation.T
    lo = moved0.min(axis=0) - margin
    hi = moved0.max(axis=0) + margin
    origin = np.array([11.3, -7.1, 4.9])  # arbitrary, non-zero
    shift = origin - lo + rng.uniform(0, 2, size=3)
    shape_xyz = np.ceil((hi - lo + 4) / voxel).astype(int) + 1
    pose = RigidTransform.from_quat(q, shift).compose(RigidTransform(np.eye(3), -c))
    grid = DensityMap(np.zeros(shape_xyz[::-1], dtype=np.float32), voxel, origin)
    sim = simulate_on_grid(
        pose.apply(structure.coords_xyz), structure.atomic_numbers, resolution, grid
    )
    data = sim.data
    if noise:
        data = data + rng.normal(scale=noise, size=data.shape).astype(np.float32)
    return sim.with_data(data), pose
