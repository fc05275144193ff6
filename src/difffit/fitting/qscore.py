"""Q-score: how resolvable each atom is in a map (Pintilie et al., Nature Methods 2020).

For every heavy atom, the map is sampled on spherical shells of radius ``r = 0, 0.1, …, 2.0`` Å
around it, ``points_per_shell`` points per shell; the samples are compared with a reference
Gaussian ``A exp(-r² / 2σ²) + B`` (σ = 0.6 Å) by the correlation about the mean (Pearson's r)
over all the atom's samples. The atom's Q-score is that correlation: about 1 where the map has
an isolated, atom-shaped peak at the atom, about 0 where it has no relation to the atom. Since
Pearson's r does not change under ``v -> A v + B`` (A > 0), the reference's height and offset
(MapQ: ``A = mean + 10 sd − B``, ``B = mean − sd`` of the map) do not change Q.

Definitions used here (the paper's, made precise):

* Shell points are taken from ``N_TEST_POINTS`` (128) points spread evenly on the sphere
  (a Fibonacci lattice, scaled by ``r``). A point is usable only when it is at least as close to
  its own atom as to every other heavy atom of the model (so that each sample is "dominated" by
  that atom). Of the usable points, ``points_per_shell`` are chosen spread out by farthest-point
  sampling, starting from the usable point of lowest index; a shell with fewer usable points
  contributes all it has. The shell ``r = 0`` contributes the atom's own position
  ``points_per_shell`` times (every shell carries the same weight).
* Map values come from trilinear interpolation (voxel centres as grid points, as everywhere in
  difffit); a point outside the box takes the map's mean.
* An atom whose samples are all equal (e.g. the whole neighbourhood outside the map) has an
  undefined correlation: its Q-score is NaN, and it is left out of the means.

Pure compute: no file I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy.spatial import cKDTree

from difffit.density.map import DensityMap
from difffit.errors import ConfigError
from difffit.kernels import sample_points

__all__ = [
    "N_TEST_POINTS",
    "QScores",
    "q_scores",
    "shell_points",
    "unit_sphere",
]

#: Candidate points per shell on the unit sphere, before the usable ones are chosen.
N_TEST_POINTS = 128


def unit_sphere(n: int = N_TEST_POINTS) -> np.ndarray:
    """``(n, 3)`` points spread evenly on the unit sphere (Fibonacci lattice), deterministic."""
    k = np.arange(n, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    rho = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    phi = math.pi * (3.0 - math.sqrt(5.0)) * k
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


@njit(cache=True, parallel=True)
def _nb_shell_points(
    xyz, nbr_start, nbr_index, radii, sphere, per_shell, out, count
):  # pragma: no cover - compiled
    n_atoms = xyz.shape[0]
    n_test = sphere.shape[0]
    for a in prange(n_atoms):
        usable = np.empty(n_test, dtype=np.bool_)
        cand = np.empty((n_test, 3))
        mind = np.empty(n_test)
        for s in range(radii.shape[0]):
            r = radii[s]
            if r == 0.0:
                for k in range(per_shell):
                    out[a, s, k, 0] = xyz[a, 0]
                    out[a, s, k, 1] = xyz[a, 1]
                    out[a, s, k, 2] = xyz[a, 2]
                count[a, s] = per_shell
                continue
            r2 = r * r
            n_ok = 0
            for t in range(n_test):
                px = xyz[a, 0] + r * sphere[t, 0]
                py = xyz[a, 1] + r * sphere[t, 1]
                pz = xyz[a, 2] + r * sphere[t, 2]
                cand[t, 0] = px
                cand[t, 1] = py
                cand[t, 2] = pz
                ok = True
                for q in range(nbr_start[a], nbr_start[a + 1]):
                    b = nbr_index[q]
                    dx = px - xyz[b, 0]
                    dy = py - xyz[b, 1]
                    dz = pz - xyz[b, 2]
                    if dx * dx + dy * dy + dz * dz < r2 * (1.0 - 1e-9):
                        ok = False
                        break
                usable[t] = ok
                if ok:
                    n_ok += 1
            # farthest-point sampling among the usable points, from the lowest index
            n_take = min(per_shell, n_ok)
            for t in range(n_test):
                mind[t] = np.inf
            last = -1
            for t in range(n_test):
                if usable[t]:
                    last = t
                    break
            for k in range(n_take):
                out[a, s, k, 0] = cand[last, 0]
                out[a, s, k, 1] = cand[last, 1]
                out[a, s, k, 2] = cand[last, 2]
                usable[last] = False
                best = -1.0
                nxt = -1
                for t in range(n_test):
                    if usable[t]:
                        dx = cand[t, 0] - cand[last, 0]
                        dy = cand[t, 1] - cand[last, 1]
                        dz = cand[t, 2] - cand[last, 2]
                        d = dx * dx + dy * dy + dz * dz
                        if d < mind[t]:
                            mind[t] = d
                        if mind[t] > best:
                            best = mind[t]
                            nxt = t
                last = nxt
            count[a, s] = n_take


def _neighbours(xyz: np.ndarray, within: float) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the other atoms within ``within`` Å of each atom."""
    tree = cKDTree(xyz)
    pairs = tree.query_pairs(within, output_type="ndarray")
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else np.zeros((0, 2), np.int64)
    order = np.lexsort((both[:, 1], both[:, 0]))
    both = both[order]
    start = np.zeros(len(xyz) + 1, dtype=np.int64)
    np.add.at(start, both[:, 0] + 1, 1)
    return np.cumsum(start), np.ascontiguousarray(both[:, 1], dtype=np.int64)


def shell_points(
    xyz: np.ndarray,
    *,
    radii: np.ndarray,
    points_per_shell: int,
    n_test_points: int = N_TEST_POINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """The sampling points of every atom's shells.

    Parameters
    ----------
    xyz : (n, 3) float array, Å
        Heavy atoms of the model.
    radii : (s,) float array, Å
    points_per_shell : int

    Returns
    -------
    points : (n, s, points_per_shell, 3) float array, Å
        Unused slots (shells with fewer usable points) are NaN.
    count : (n, s) int array
        Usable points of each shell.
    """
    xyz = np.ascontiguousarray(xyz, dtype=np.float64)
    radii = np.ascontiguousarray(radii, dtype=np.float64)
    start, index = _neighbours(xyz, 2.0 * float(radii.max()) + 1e-6)
    out = np.full((len(xyz), len(radii), points_per_shell, 3), np.nan)
    count = np.zeros((len(xyz), len(radii)), dtype=np.int64)
    _nb_shell_points(xyz, start, index, radii, unit_sphere(n_test_points), points_per_shell,
                     out, count)  # fmt: skip
    return out, count


@dataclass(frozen=True, eq=False)
class QScores:
    """Q-scores of a model in a map.

    Attributes
    ----------
    atom : (n_atoms,) float array
        Q-score of each heavy atom (NaN where undefined).
    residue : (n_residues,) float array
        Mean over the atoms of each residue (``residue_index`` gives each atom's residue).
    residue_index : (n_atoms,) int array
        Index into ``residue`` of each atom's residue, residues in order of first appearance.
    mean : float
        Mean over the atoms with a defined Q-score: the model's Q-score.
    sigma : float
        Width of the reference Gaussian, Å.
    """

    atom: np.ndarray
    residue: np.ndarray
    residue_index: np.ndarray
    mean: float
    sigma: float


def _pearson_rows(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of u against v, over the entries where w is true."""
    n = w.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        um = np.where(w, u, 0.0).sum(axis=1) / n
        vm = np.where(w, v, 0.0).sum(axis=1) / n
        du = np.where(w, u - um[:, None], 0.0)
        dv = np.where(w, v - vm[:, None], 0.0)
        num = (du * dv).sum(axis=1)
        den = np.sqrt((du * du).sum(axis=1) * (dv * dv).sum(axis=1))
        r = num / den
    r[~np.isfinite(r)] = np.nan
    return r


def q_scores(
    density: DensityMap,
    xyz: np.ndarray,
    *,
    residue_index: np.ndarray | None = None,
    sigma: float = 0.6,
    points_per_shell: int = 8,
    max_radius: float = 2.0,
    step: float = 0.1,
    chunk_atoms: int = 4096,
) -> QScores:
    """Q-score of every heavy atom at ``xyz`` (map coordinates, Å) in ``density``.

    Parameters
    ----------
    density : DensityMap
    xyz : (n, 3) float array, Å
        Heavy atoms of the placed model (hydrogens would shadow their heavy atoms' shells).
    residue_index : (n,) int array, optional
        Residue of each atom (any integers; residues are numbered by first appearance). None =
        each atom its own residue.
    sigma, points_per_shell, max_radius, step
        The paper's parameters (0.6 Å, 8, 2.0 Å, 0.1 Å).
    chunk_atoms : int
        Atoms sampled per batch (bounds memory).

    Returns
    -------
    QScores
    """
    for name, v in (("sigma", sigma), ("max_radius", max_radius), ("step", step)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ConfigError(f"Q-score {name} must be a positive number of Å, got {v!r}")
    if not isinstance(points_per_shell, int) or points_per_shell < 1:
        raise ConfigError(
            f"Q-score points_per_shell must be an integer >= 1, got {points_per_shell!r}"
        )
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    if not len(xyz):
        raise ConfigError("Q-score of an empty model: give at least one atom")
    if not np.isfinite(xyz).all():
        raise ConfigError("Q-score: atom coordinates must be finite")
    radii = np.round(np.arange(0.0, max_radius + 0.5 * step, step), 10)
    ref = np.exp(-0.5 * (radii / sigma) ** 2)
    data = np.ascontiguousarray(density.data, dtype=np.float32)
    outside = float(data.mean())
    points, count = shell_points(xyz, radii=radii, points_per_shell=points_per_shell)
    slot_used = np.arange(points_per_shell)[None, None, :] < count[:, :, None]
    atom_q = np.empty(len(xyz))
    for lo in range(0, len(xyz), chunk_atoms):
        hi = min(lo + chunk_atoms, len(xyz))
        p = points[lo:hi].reshape(-1, 3)
        used = slot_used[lo:hi].reshape(hi - lo, -1)
        ijk = density.world_to_grid(np.where(np.isnan(p), 0.0, p))
        vals = sample_points(data, np.ascontiguousarray(ijk, dtype=np.float64), outside)
        u = vals.reshape(hi - lo, -1).astype(np.float64)
        ref_v = np.broadcast_to(np.repeat(ref, points_per_shell)[None, :], u.shape)
        atom_q[lo:hi] = _pearson_rows(u, ref_v, used)
    if residue_index is None:
        residue_index = np.arange(len(xyz))
    residue_index = np.asarray(residue_index)
    if residue_index.shape != (len(xyz),):
        raise ConfigError(
            f"residue_index has shape {residue_index.shape}, expected ({len(xyz)},) (one per atom)"
        )
    _, first, inverse = np.unique(residue_index, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # residues in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    res_of_atom = rank[inverse]
    ok = np.isfinite(atom_q)
    sums = np.bincount(res_of_atom[ok], weights=atom_q[ok], minlength=len(order))
    counts = np.bincount(res_of_atom[ok], minlength=len(order))
    with np.errstate(invalid="ignore", divide="ignore"):
        residue_q = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    mean = float(atom_q[ok].mean()) if ok.any() else math.nan
    return QScores(atom_q, residue_q, res_of_atom, mean, float(sigma))
