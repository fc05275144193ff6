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

What is checked before a map is trusted (each a :class:`~difffit.errors.MapFormatError` naming
the file and the problem):

* the path is a regular file (a FIFO or device would block or never end);
* the header's MODE, NX x NY x NZ and extended-header size (NSYMBT) account for the file's
  size exactly: a file larger or smaller than its header says (a MODE changed without converting
  the data, a corrupt NSYMBT) is refused before any data are read;
* voxel sizes lie in [:data:`MIN_VOXEL`, :data:`MAX_VOXEL`] Å and every origin component within
  ±:data:`MAX_COORDINATE` Å (float32 keeps 0.1 Å steps there); every voxel is finite and within
  ±:data:`MAX_VALUE` (larger values overflow the float32 sums of the fit).

Written maps are mode 2 (float32), axis order 1 2 3, NSTART = 0, ORIGIN = origin, and read back to
the same :class:`~difffit.density.DensityMap`.
"""

from __future__ import annotations

import logging
import os
import warnings
import zlib
from pathlib import Path

import mrcfile
import numpy as np

from difffit.density.map import DensityMap
from difffit.errors import MapFormatError
from difffit.io.atomic import atomic_path
from difffit.io.paths import check_regular_file, one_line

__all__ = ["MAP_SUFFIXES", "read_map", "write_map"]

log = logging.getLogger(__name__)

MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".mrcs", ".rec")
#: Smallest and largest voxel size accepted, Å (cryo-EM and X-ray maps: ~0.2 to ~20 Å).
MIN_VOXEL = 0.01
MAX_VOXEL = 100.0
#: Largest |origin| accepted, Å: float32 still resolves 0.1 Å steps up to ~1e6 Å.
MAX_COORDINATE = 1.0e6
#: Largest |voxel value| accepted: squares and sums of ~1e9 voxels must stay finite in float32
#: (real maps hold values of order 1 to 1e4; beyond this the data are garbage).
MAX_VALUE = 1.0e12
#: mrcfile warnings that mean the data block does not match the header.
_SIZE_WARNINGS = ("larger than expected", "could only read", "smaller than expected")


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
    check_regular_file(path, MapFormatError)
    _check_suffix(path)
    _check_data_size(path)
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
        except (zlib.error, EOFError) as exc:
            raise MapFormatError(f"{path}: damaged compressed data ({one_line(exc)})") from None
        except (OSError, ValueError, TypeError, MemoryError) as exc:
            raise MapFormatError(
                f"{path}: cannot read as an MRC/CCP4 map ({one_line(exc)})"
            ) from None
    for w in caught:
        msg = str(w.message)
        if any(k in msg for k in _SIZE_WARNINGS):
            raise MapFormatError(f"{path}: the data do not match the header ({msg})")
        log.debug("%s: %s", path, msg)

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
    peak = float(np.max(np.abs(data_crs))) if data_crs.size else 0.0
    if peak > MAX_VALUE:
        raise MapFormatError(
            f"{path}: voxel values reach {peak:.3g}, beyond ±{MAX_VALUE:g}: the data are "
            "damaged (or rescale the map)"
        )

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
    if not np.all(np.isfinite(voxel)) or np.any(voxel < MIN_VOXEL) or np.any(voxel > MAX_VOXEL):
        raise MapFormatError(
            f"{path}: voxel size {np.round(voxel, 6).tolist()} Å is outside [{MIN_VOXEL:g}, "
            f"{MAX_VOXEL:g}] Å (CELLA = {cella.tolist()}, MX/MY/MZ = {msize.tolist()}): the "
            "header is damaged; fix CELLA"
        )
    if not np.all(np.isfinite(origin_field)) or np.any(np.abs(origin_field) > MAX_COORDINATE):
        raise MapFormatError(
            f"{path}: ORIGIN {origin_field.tolist()} is beyond ±{MAX_COORDINATE:g} Å: the header "
            "is damaged; fix ORIGIN"
        )
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
    if np.any(np.abs(origin) + voxel * np.array(data_zyx.shape[::-1]) > MAX_COORDINATE):
        raise MapFormatError(
            f"{path}: the map reaches beyond ±{MAX_COORDINATE:g} Å (origin {origin.tolist()} Å, "
            f"NSTART {nstart_xyz.astype(int).tolist()}): the header is damaged"
        )
    try:
        return DensityMap(data_zyx, voxel, origin)
    except ValueError as exc:
        raise MapFormatError(f"{path}: {exc}") from None


def _check_data_size(path: Path) -> None:
    """The file size of an uncompressed map must be what its header says (checked before any
    data are read, so that a damaged header cannot make us allocate gigabytes)."""
    name = path.name.lower()
    if name.endswith((".gz", ".bz2")):
        return  # checked after decompression, from mrcfile's own size warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, mode="r", permissive=True, header_only=True) as mrc:
                h = mrc.header
                if h is None:
                    raise MapFormatError(f"{path}: not an MRC/CCP4 map (no readable header)")
                mode = int(h.mode)
                dims = [int(h.nx), int(h.ny), int(h.nz)]
                nsymbt = int(h.nsymbt)
    except MapFormatError:
        raise
    except (OSError, ValueError, EOFError, TypeError) as exc:
        raise MapFormatError(f"{path}: cannot read as an MRC/CCP4 map ({one_line(exc)})") from None
    if min(dims) <= 0:
        raise MapFormatError(f"{path}: header says NX/NY/NZ = {dims}: no data")
    try:
        itemsize = np.dtype(mrcfile.utils.dtype_from_mode(mode)).itemsize
    except ValueError:
        raise MapFormatError(
            f"{path}: not an MRC/CCP4 map (unknown MODE {mode}; need 0, 1, 2, 6 or 12)"
        ) from None
    n = dims[0] * dims[1] * dims[2]
    expect = 1024 + max(nsymbt, 0) + n * itemsize
    size = path.stat().st_size
    if size != expect:
        raise MapFormatError(
            f"{path}: the file has {size} bytes but its header (MODE {mode}, {dims[0]} x "
            f"{dims[1]} x {dims[2]} voxels, {nsymbt}-byte extended header) says {expect}: the "
            "data were changed without updating the header, or the file is damaged or cut short"
        )


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
