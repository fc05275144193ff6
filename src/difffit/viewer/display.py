"""What the web viewer shows, computed from results: display-sized maps, point clouds.

Pure compute and text formatting (no files, no HTTP): the server in :mod:`difffit.viewer.server`
serves what these functions return.

Conventions: world coordinates (x, y, z) in Å; maps are :class:`~difffit.density.map.DensityMap`
(``data`` indexed [z, y, x], ``origin_xyz`` = centre of voxel [0, 0, 0]).
"""

from __future__ import annotations

import math

import numpy as np

from difffit.density.map import DensityMap

__all__ = [
    "DISPLAY_MAX_VOXELS",
    "DISPLAY_MAX_VOXELS_SOFTWARE",
    "crop_threshold",
    "crop_to_density",
    "display_factor",
    "downsample_for_display",
    "fit_centres_xyz",
    "n_voxels_above",
    "points_mmcif",
    "transforms_flat",
]

#: The largest grid edge the viewer sends to the browser; larger maps are block-averaged.
DISPLAY_MAX_VOXELS = 128
#: The same for a browser that renders in software (SwiftShader, llvmpipe), where the
#: isosurface's triangles are most of the cost of each frame.
DISPLAY_MAX_VOXELS_SOFTWARE = 80


def crop_threshold(density: DensityMap, level: float) -> float:
    """The value below which the viewer may crop a map away: half the contour level, or the
    map's mean + 1 standard deviation when that is lower (density below it is noise at any
    sensible contour level)."""
    d = density.data
    return float(min(0.5 * level, float(d.mean()) + float(d.std())))


def crop_to_density(density: DensityMap, threshold: float, *, margin: float = 5.0) -> DensityMap:
    """The smallest box of the map holding every voxel above ``threshold``, plus ``margin`` Å.

    Every kept voxel keeps its world position (the origin moves with the box). The map itself
    when no voxel is above the threshold or nothing would be cut.

    Parameters
    ----------
    density : DensityMap
    threshold : float
        Map units.
    margin : float, Å
        Added on every side (clipped to the map).

    Returns
    -------
    DensityMap
    """
    above = density.data > threshold
    if not above.any():
        return density
    pad = np.ceil(margin / density.voxel_size_xyz[::-1]).astype(int)  # z, y, x
    lo, hi = [], []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(above.any(axis=other))
        lo.append(max(0, int(hit[0]) - int(pad[axis])))
        hi.append(min(above.shape[axis], int(hit[-1]) + 1 + int(pad[axis])))
    if lo == [0, 0, 0] and hi == list(above.shape):
        return density
    data = density.data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    origin = density.origin_xyz + np.array(lo[::-1]) * density.voxel_size_xyz
    return DensityMap(data, density.voxel_size_xyz, origin)


def display_factor(shape_zyx: tuple[int, ...], max_voxels: int = DISPLAY_MAX_VOXELS) -> int:
    """The integer block size that brings every edge of ``shape_zyx`` to ``<= max_voxels``."""
    if max_voxels < 2:
        raise ValueError(f"max_voxels must be >= 2, got {max_voxels}")
    return max(1, max(math.ceil(n / max_voxels) for n in shape_zyx))


def downsample_for_display(
    density: DensityMap, max_voxels: int = DISPLAY_MAX_VOXELS
) -> tuple[DensityMap, int]:
    """Block-average a map so that no edge exceeds ``max_voxels`` voxels.

    Each output voxel is the mean of an ``f × f × f`` block of input voxels (the last, partial
    block of an axis averages the voxels it has), so values stay in map units and a contour level
    keeps its meaning (the surface is a little smoother). The output grid is placed exactly: its
    voxel [0, 0, 0] is at the centre of the first block, and its voxel size is ``f`` times the
    input's.

    Parameters
    ----------
    density : DensityMap
        The map, shape (nz, ny, nx).
    max_voxels : int
        The largest edge of the result.

    Returns
    -------
    (DensityMap, int)
        The display map (the input itself when no edge is too long) and the factor ``f``.
    """
    f = display_factor(density.shape_zyx, max_voxels)
    if f == 1:
        return density, 1
    data = density.data
    nz, ny, nx = data.shape
    pz, py, px = (-nz) % f, (-ny) % f, (-nx) % f
    padded = np.pad(data.astype(np.float64), ((0, pz), (0, py), (0, px)))
    weight = np.pad(np.ones(data.shape), ((0, pz), (0, py), (0, px)))
    shape = (padded.shape[0] // f, f, padded.shape[1] // f, f, padded.shape[2] // f, f)
    sums = padded.reshape(shape).sum(axis=(1, 3, 5))
    counts = weight.reshape(shape).sum(axis=(1, 3, 5))
    out = (sums / counts).astype(np.float32)
    # the first block covers input voxels 0..f-1 (or fewer): its centre in input grid units
    first_centre = np.array([(min(f, n) - 1) / 2.0 for n in (nx, ny, nz)])
    origin = density.origin_xyz + first_centre * density.voxel_size_xyz
    return DensityMap(out, density.voxel_size_xyz * f, origin), f


def n_voxels_above(density: DensityMap, level: float) -> int:
    """How many voxels of the map are above ``level`` (map units)."""
    return int(np.count_nonzero(density.data > level))


def fit_centres_xyz(transforms_flat: np.ndarray, centre_xyz: np.ndarray) -> np.ndarray:
    """Where each placement puts a structure's centre.

    Parameters
    ----------
    transforms_flat : (n, 12) array
        Rows ``r11 … r33, t1 t2 t3`` (input coordinates → map, x' = R x + t, Å).
    centre_xyz : (3,) array, Å
        The structure's centre in its input frame.

    Returns
    -------
    (n, 3) array, Å
    """
    t = np.asarray(transforms_flat, dtype=np.float64).reshape(-1, 12)
    rot = t[:, :9].reshape(-1, 3, 3)
    return rot @ np.asarray(centre_xyz, dtype=np.float64) + t[:, 9:]


def _cif_token(text: str) -> str:
    """A value as an mmCIF token (quoted when it needs to be)."""
    s = str(text)
    if s == "" or any(c.isspace() for c in s) or s[0] in "_#$'\"[];":
        return "'" + s.replace("'", "") + "'"
    return s


def points_mmcif(
    centres_xyz: np.ndarray,
    values: np.ndarray,
    *,
    group: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    name: str = "difffit_fits",
    low_percentile: float = 0.0,
) -> tuple[str, float, float]:
    """A point cloud as an mmCIF of pseudo-atoms, one per point, for Mol*.

    Each point is a one-atom residue ``FIT`` numbered by its id, in chain ``group`` (e.g. the
    structure index as a letter). Its B-factor is ``values`` scaled to 0 (lowest) … 100
    (highest), so that a B-factor colour scale with domain [0, 100] colours points by value.
    With ``low_percentile`` > 0 the scale starts at that percentile of the values (those below
    get 0): a few placements that drifted far out of the map then do not squeeze the colours
    of all the others.

    Parameters
    ----------
    centres_xyz : (n, 3) array, Å
    values : (n,) array
        The score of each point (non-finite values get the lowest colour).
    group : (n,) array of str, optional
        Chain name of each point (default ``"A"``).
    ids : (n,) array of int, optional
        Residue number of each point (default 0 … n-1).
    name : str
        The data block name.
    low_percentile : float
        Percentile (0 … 100) of the finite values where the scale starts.

    Returns
    -------
    (str, float, float)
        The mmCIF text and the value range (low, max) mapped to 0 … 100.
    """
    xyz = np.asarray(centres_xyz, dtype=np.float64).reshape(-1, 3)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(v) != len(xyz):
        raise ValueError(f"{len(xyz)} points but {len(v)} values")
    finite = np.isfinite(v)
    if not 0.0 <= low_percentile <= 100.0:
        raise ValueError(f"low_percentile must be in [0, 100], got {low_percentile}")
    lo = float(np.percentile(v[finite], low_percentile)) if finite.any() else 0.0
    hi = float(v[finite].max()) if finite.any() else 1.0
    span = hi - lo if hi > lo else 1.0
    b = np.where(finite, np.clip((v - lo) / span, 0.0, 1.0) * 100.0, 0.0)
    n = len(xyz)
    group = np.full(n, "A") if group is None else np.asarray(group).astype(str)
    ids = np.arange(n) if ids is None else np.asarray(ids).astype(int)
    lines = [
        f"data_{_cif_token(name)}",
        "#",
        "loop_",
        "_atom_site.group_PDB",
        "_atom_site.id",
        "_atom_site.type_symbol",
        "_atom_site.label_atom_id",
        "_atom_site.label_alt_id",
        "_atom_site.label_comp_id",
        "_atom_site.label_asym_id",
        "_atom_site.label_entity_id",
        "_atom_site.label_seq_id",
        "_atom_site.pdbx_PDB_ins_code",
        "_atom_site.auth_seq_id",
        "_atom_site.auth_comp_id",
        "_atom_site.auth_asym_id",
        "_atom_site.auth_atom_id",
        "_atom_site.Cartn_x",
        "_atom_site.Cartn_y",
        "_atom_site.Cartn_z",
        "_atom_site.occupancy",
        "_atom_site.B_iso_or_equiv",
        "_atom_site.pdbx_PDB_model_num",
    ]
    for i in range(n):
        g = _cif_token(group[i])
        x, y, z = xyz[i]
        lines.append(
            f"HETATM {i + 1} C C . FIT {g} 1 {ids[i]} ? {ids[i]} FIT {g} C "
            f"{x:.3f} {y:.3f} {z:.3f} 1.00 {b[i]:.2f} 1"
        )
    lines.append("#")
    return "\n".join(lines) + "\n", lo, hi


def transforms_flat(rows: list[dict], columns: tuple[str, ...]) -> np.ndarray:
    """The (n, 12) transform columns of parsed CSV rows."""
    return np.array([[float(r[c]) for c in columns] for r in rows], dtype=np.float64).reshape(
        -1, 12
    )
