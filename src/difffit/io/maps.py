"""Reading and writing MRC/CCP4 maps.

Header conventions honoured (MRC2014; each pinned by a test on a real file in ``../shared/data``):

* MAPC/MAPR/MAPS say which axis (1 = X, 2 = Y, 3 = Z) runs along the file's columns, rows and
  sections; the data are transposed to ``[z, y, x]``. NC/NR/NS start values (the header fields
  NXSTART/NYSTART/NZSTART, which belong to columns/rows/sections, not to x/y/z) are permuted the
  same way.
* Voxel size along x, y, z is ``CELLA / (MX, MY, MZ)`` (anisotropic sizes kept).
* Origin (world position of the first voxel): the ORIGIN field when any of its components is
  non-zero, else ``NSTART * voxel size``. This is the rule of ChimeraX and of the EMDB; when both
  are non-zero, ORIGIN wins and a warning says so.
* ``.gz`` and ``.bz2`` files are decompressed transparently.

Written maps are mode 2 (float32), axis order 1 2 3, NSTART = 0, ORIGIN = origin, and read back to
the same :class:`~difffit.density.DensityMap`.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import mrcfile
import numpy as np

from difffit.density.map import DensityMap
from difffit.errors import MapFormatError
from difffit.io.atomic import atomic_path

__all__ = ["MAP_SUFFIXES", "read_map", "write_map"]

log = logging.getLogger(__name__)

MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".mrcs", ".rec")


def _check_suffix(path: Path) -> None:
    name = path.name.lower()
    for comp in (".gz", ".bz2"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    if not name.endswith(MAP_SUFFIXES):
        raise MapFormatError(
            f"{path}: not a map file name (expected one of {', '.join(MAP_SUFFIXES)}, "
            "optionally .gz or .bz2)"
        )


def read_map(path: str | os.PathLike[str]) -> DensityMap:
    """Read an MRC/CCP4 map (also ``.gz``/``.bz2``) into a :class:`DensityMap`.

    Raises
    ------
    MapFormatError
        If the file is missing, unreadable, or its header is inconsistent.
    """
    path = Path(path)
    if not path.exists():
        raise MapFormatError(f"{path}: no such file")
    if path.is_dir():
        raise MapFormatError(f"{path}: is a folder, not a map file")
    _check_suffix(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with mrcfile.open(path, mode="r", permissive=True) as mrc:
                header = mrc.header
                raw = mrc.data
                if raw is None or header is None:
                    raise MapFormatError(f"{path}: not an MRC/CCP4 map (header or data unreadable)")
                raw = np.asarray(raw)
                order = (int(header.mapc), int(header.mapr), int(header.maps))
                nstart_crs = (int(header.nxstart), int(header.nystart), int(header.nzstart))
                cella = np.array(
                    [float(header.cella.x), float(header.cella.y), float(header.cella.z)]
                )
                msize = np.array([int(header.mx), int(header.my), int(header.mz)])
                origin_field = np.array(
                    [float(header.origin.x), float(header.origin.y), float(header.origin.z)]
                )
        except MapFormatError:
            raise
        except (OSError, ValueError, EOFError, TypeError) as exc:
            raise MapFormatError(f"{path}: cannot read as an MRC/CCP4 map ({exc})") from None
    for w in caught:
        log.debug("%s: %s", path, w.message)

    if raw.ndim == 2:
        raw = raw[None, :, :]
    if raw.ndim != 3:
        raise MapFormatError(f"{path}: expected a 3-D volume, got data of shape {raw.shape}")
    if sorted(order) != [1, 2, 3]:
        raise MapFormatError(f"{path}: MAPC/MAPR/MAPS = {order} is not a permutation of 1, 2, 3")
    if not np.issubdtype(raw.dtype, np.number) or np.iscomplexobj(raw):
        raise MapFormatError(f"{path}: unsupported data type {raw.dtype} (need a real-valued map)")
    data_crs = raw.astype(np.float32)  # [section, row, column]
    if not np.all(np.isfinite(data_crs)):
        n_bad = int(np.size(data_crs) - np.count_nonzero(np.isfinite(data_crs)))
        raise MapFormatError(f"{path}: {n_bad} voxels are NaN or infinite")

    # axis_of[file axis c/r/s] = world axis 0/1/2 (x/y/z)
    axis_of = [o - 1 for o in order]
    # data_crs axes are (s, r, c) -> world axes (axis_of[2], axis_of[1], axis_of[0]); we want (z, y, x)
    src_world_axes = [axis_of[2], axis_of[1], axis_of[0]]
    perm = [src_world_axes.index(w) for w in (2, 1, 0)]
    data_zyx = np.ascontiguousarray(np.transpose(data_crs, perm))

    nstart_xyz = np.zeros(3)
    for file_axis, world_axis in enumerate(axis_of):
        nstart_xyz[world_axis] = nstart_crs[file_axis]

    if np.any(msize <= 0) or np.any(cella <= 0):
        raise MapFormatError(
            f"{path}: header has no valid voxel size (CELLA = {cella.tolist()}, "
            f"MX/MY/MZ = {msize.tolist()})"
        )
    voxel = cella / msize
    if np.any(origin_field != 0):
        origin = origin_field
        if np.any(nstart_xyz != 0):
            log.warning(
                "%s: both ORIGIN %s and NSTART %s are set; using ORIGIN (ChimeraX rule)",
                path,
                origin_field.tolist(),
                nstart_xyz.astype(int).tolist(),
            )
    else:
        origin = nstart_xyz * voxel
    try:
        return DensityMap(data_zyx, voxel, origin)
    except ValueError as exc:
        raise MapFormatError(f"{path}: {exc}") from None


def write_map(
    density: DensityMap, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``density`` as an MRC file (mode 2, axis order 1 2 3, origin in ORIGIN).

    A name ending in ``.gz`` is written gzip-compressed. Refuses to overwrite an existing file
    unless ``overwrite`` is true.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise MapFormatError(f"{path}: exists already (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    compression = "gzip" if path.name.lower().endswith(".gz") else None
    with atomic_path(path) as tmp, mrcfile.new(tmp, overwrite=True, compression=compression) as mrc:
        mrc.set_data(np.ascontiguousarray(density.data, dtype=np.float32))
        vs = density.voxel_size_xyz
        mrc.voxel_size = (float(vs[0]), float(vs[1]), float(vs[2]))
        h = mrc.header
        h.nxstart = h.nystart = h.nzstart = 0
        h.origin.x, h.origin.y, h.origin.z = (float(v) for v in density.origin_xyz)
        mrc.update_header_stats()
    return path
