"""Contract suites for the MRC/CCP4 reader and writer (mrcfile style: one suite, every variant).

* write -> read round trips over every file name the writer knows (.mrc, .map, .ccp4, .gz),
  for isotropic and anisotropic grids and any origin;
* the header conventions of :mod:`difffit.io.maps` over every variant: the six MAPC/MAPR/MAPS
  orders, NC/NR/NS start against ORIGIN, sampling (MX/MY/MZ) apart from the grid size, every
  real data mode, gzip and bzip2;
* property-based: any consistent header reads as the map it describes, and a damaged header
  gives a :class:`MapFormatError` (never another exception).

Files are written here with mrcfile directly, field by field, so that the reader is checked
against the MRC2014 definitions rather than against difffit's own writer.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import tempfile
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from difffit.density.map import DensityMap
from difffit.errors import MapFormatError
from difffit.io import read_map, write_map

AXIS_ORDERS = list(itertools.permutations((1, 2, 3)))


def write_raw_mrc(
    path: Path,
    data_zyx: np.ndarray,
    voxel_xyz,
    *,
    order=(1, 2, 3),
    nstart_xyz=(0, 0, 0),
    origin_xyz=(0.0, 0.0, 0.0),
    sampling_factor=(1, 1, 1),
    compression: str | None = None,
) -> Path:
    """An MRC file of ``data_zyx`` stored with the file axes ``order`` (MAPC, MAPR, MAPS).

    ``nstart_xyz`` and ``origin_xyz`` are given per world axis and written to the fields of the
    file axes that carry them; MX/MY/MZ = grid size × ``sampling_factor`` and CELLA =
    voxel size × MX/MY/MZ.
    """
    axis_of = [o - 1 for o in order]  # file axis c, r, s -> world axis x=0, y=1, z=2
    # array axis of world axis w in [z, y, x] is 2 - w; the file's data is [s, r, c]
    raw = np.ascontiguousarray(
        np.transpose(data_zyx, [2 - axis_of[2], 2 - axis_of[1], 2 - axis_of[0]])
    )
    shape_xyz = np.array(data_zyx.shape[::-1])
    m_xyz = shape_xyz * np.asarray(sampling_factor)
    with mrcfile.new(path, compression=compression) as f:
        f.set_data(raw)
        h = f.header
        h.mapc, h.mapr, h.maps = order
        h.mx, h.my, h.mz = (int(v) for v in m_xyz)
        h.cella = tuple(float(v) for v in np.asarray(voxel_xyz, dtype=np.float64) * m_xyz)
        h.nxstart, h.nystart, h.nzstart = (int(nstart_xyz[a]) for a in axis_of)
        h.origin.x, h.origin.y, h.origin.z = (float(v) for v in origin_xyz)
    return path


def expected_origin(nstart_xyz, origin_xyz, voxel_xyz) -> np.ndarray:
    """The documented rule: ORIGIN when any component is non-zero, else NSTART × voxel size."""
    origin = np.asarray(origin_xyz, dtype=np.float64)
    if np.any(origin != 0):
        return origin
    return np.asarray(nstart_xyz, dtype=np.float64) * np.asarray(voxel_xyz, dtype=np.float64)


def f32(v) -> np.ndarray:
    """Values as the float32 header fields store them."""
    return np.asarray(v, dtype=np.float32).astype(np.float64)


# ------------------------------------------------------------------ write -> read round trips
WRITE_NAMES = ["x.mrc", "x.map", "x.ccp4", "x.mrc.gz", "x.map.gz", "X.MRC"]
GRIDS = {
    "isotropic": ((4, 5, 6), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    "anisotropic": ((3, 7, 2), (0.9, 1.1, 1.3), (-12.5, 3.25, 100.0)),
    "minimal": ((2, 2, 2), (2.5, 2.5, 2.5), (1e4, -1e4, 0.5)),
    "fine": ((6, 4, 5), (0.3, 0.45, 0.6), (-0.125, 0.0, 7.0)),
}


@pytest.mark.parametrize("grid", list(GRIDS), ids=list(GRIDS))
@pytest.mark.parametrize("name", WRITE_NAMES)
def test_write_read_round_trip(tmp_path, rng, name, grid):
    shape, voxel, origin = GRIDS[grid]
    m = DensityMap(rng.normal(size=shape), voxel, origin)
    path = write_map(m, tmp_path / name)
    assert path == tmp_path / name
    is_gz = path.read_bytes()[:2] == b"\x1f\x8b"
    assert is_gz == name.lower().endswith(".gz")
    back = read_map(path)
    assert back.shape_zyx == m.shape_zyx
    assert np.array_equal(back.data, m.data)  # float32 in, float32 out: exact
    assert np.allclose(back.voxel_size_xyz, m.voxel_size_xyz, rtol=1e-6)
    assert np.allclose(back.origin_xyz, f32(m.origin_xyz), rtol=1e-7, atol=0)
    # the same world point samples the same value
    p = m.grid_to_world(np.array([[0.5, 0.5, 0.5]]) * (np.array(m.shape_xyz) - 1))
    assert back.sample(p)[0] == pytest.approx(m.sample(p)[0], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", ["x.mrc", "x.mrc.gz"])
def test_write_refuses_then_overwrites(tmp_path, rng, name):
    a = DensityMap(rng.normal(size=(3, 3, 3)), 1.0)
    b = DensityMap(rng.normal(size=(4, 3, 2)), 2.0, (1.0, 2.0, 3.0))
    path = write_map(a, tmp_path / name)
    with pytest.raises(MapFormatError, match="exists"):
        write_map(b, path)
    assert np.array_equal(read_map(path).data, a.data)
    write_map(b, path, overwrite=True)
    assert np.array_equal(read_map(path).data, b.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left


def test_written_header_is_the_documented_one(tmp_path, rng):
    """Mode 2, axis order 1 2 3, NSTART 0, ORIGIN = origin, CELLA = voxel × grid size."""
    m = DensityMap(rng.normal(size=(3, 4, 5)), (0.5, 1.0, 2.0), (10.0, 20.0, 30.0))
    path = write_map(m, tmp_path / "h.mrc")
    with mrcfile.open(path) as f:
        h = f.header
        assert int(h.mode) == 2
        assert (int(h.mapc), int(h.mapr), int(h.maps)) == (1, 2, 3)
        assert (int(h.nxstart), int(h.nystart), int(h.nzstart)) == (0, 0, 0)
        assert (int(h.mx), int(h.my), int(h.mz)) == (5, 4, 3)
        assert np.allclose([h.cella.x, h.cella.y, h.cella.z], [2.5, 4.0, 6.0])
        assert np.allclose([h.origin.x, h.origin.y, h.origin.z], [10.0, 20.0, 30.0])


# ------------------------------------------------------------------ header conventions
PLACEMENTS = {
    "neither": ((0, 0, 0), (0.0, 0.0, 0.0)),
    "nstart": ((7, -2, 3), (0.0, 0.0, 0.0)),
    "origin": ((0, 0, 0), (-4.5, 11.0, 2.25)),
    "both": ((7, -2, 3), (-4.5, 11.0, 2.25)),  # ORIGIN wins, with a warning
    "origin-one-axis": ((5, 5, 5), (0.0, 0.0, -3.0)),  # any non-zero component selects ORIGIN
}


@pytest.mark.parametrize("placement", list(PLACEMENTS), ids=list(PLACEMENTS))
@pytest.mark.parametrize("order", AXIS_ORDERS, ids=lambda o: "".join(map(str, o)))
def test_axis_order_and_placement(tmp_path, rng, order, placement, caplog):
    nstart, origin = PLACEMENTS[placement]
    voxel = (1.0, 2.0, 3.0)
    data = rng.normal(size=(4, 5, 6)).astype(np.float32)  # nz, ny, nx all different
    path = write_raw_mrc(
        tmp_path / "m.mrc", data, voxel, order=order, nstart_xyz=nstart, origin_xyz=origin
    )
    with caplog.at_level(logging.WARNING, logger="difffit.io.maps"):
        back = read_map(path)
    assert back.shape_zyx == (4, 5, 6)
    assert np.array_equal(back.data, data)
    assert np.allclose(back.voxel_size_xyz, voxel)
    assert np.allclose(back.origin_xyz, expected_origin(nstart, origin, voxel))
    warned = "using ORIGIN" in caplog.text
    assert warned == (np.any(np.array(nstart) != 0) and np.any(np.array(origin) != 0))


@pytest.mark.parametrize("order", AXIS_ORDERS, ids=lambda o: "".join(map(str, o)))
@pytest.mark.parametrize("factor", [(1, 1, 1), (2, 1, 1), (1, 3, 2)])
def test_voxel_size_is_cell_over_sampling_not_grid_size(tmp_path, rng, order, factor):
    """Voxel = CELLA / (MX, MY, MZ) per world axis, whatever NX/NY/NZ and the axis order."""
    voxel = (0.7, 1.1, 1.9)
    data = rng.normal(size=(3, 4, 5)).astype(np.float32)
    path = write_raw_mrc(tmp_path / "s.mrc", data, voxel, order=order, sampling_factor=factor)
    back = read_map(path)
    assert np.allclose(back.voxel_size_xyz, voxel, rtol=1e-6)
    assert np.array_equal(back.data, data)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float16, np.float32])
def test_every_real_mode_reads_as_float32(tmp_path, rng, dtype):
    values = rng.integers(-100, 100, size=(3, 4, 5))
    if dtype == np.uint16:
        values = values + 100
    data = values.astype(dtype)
    back = read_map(write_raw_mrc(tmp_path / "d.mrc", data, (1.0, 1.0, 1.0)))
    assert back.data.dtype == np.float32
    assert np.array_equal(back.data, data.astype(np.float32))


@pytest.mark.parametrize(
    ("compression", "name"), [(None, "c.map"), ("gzip", "c.map.gz"), ("bzip2", "c.mrc.bz2")]
)
@pytest.mark.parametrize("order", [(1, 2, 3), (3, 1, 2)], ids=["123", "312"])
def test_compression_is_transparent(tmp_path, rng, compression, name, order):
    data = rng.normal(size=(3, 4, 5)).astype(np.float32)
    path = write_raw_mrc(
        tmp_path / name, data, (0.5, 0.6, 0.7), order=order, nstart_xyz=(1, 2, 3),
        compression=compression,
    )  # fmt: skip
    back = read_map(path)
    assert np.array_equal(back.data, data)
    assert np.allclose(back.origin_xyz, np.array([1, 2, 3]) * [0.5, 0.6, 0.7])


# ------------------------------------------------------------------ damaged files
def _damaged(tmp_path: Path, rng, how: str) -> Path:
    data = rng.normal(size=(3, 4, 5)).astype(np.float32)
    if how == "complex":
        data = data.astype(np.complex64)
    if how == "one-voxel-thick":
        data = data[:1]
    path = write_raw_mrc(tmp_path / "bad.mrc", data, (1.0, 1.0, 1.0))
    if how == "nan":  # patched in the file: mrcfile refuses to write NaN without a warning
        raw = bytearray(path.read_bytes())
        at = 1024 + 4 * ((1 * 4 + 2) * 5 + 3)  # voxel [1, 2, 3] after the 1024-byte header
        raw[at : at + 4] = np.float32(np.nan).tobytes()
        path.write_bytes(bytes(raw))
    if how in ("zero-cell", "zero-sampling", "axis-repeated"):
        with mrcfile.open(path, mode="r+", permissive=True) as f:
            if how == "zero-cell":
                f.header.cella = (0.0, 4.0, 3.0)
            elif how == "zero-sampling":
                f.header.my = 0
            else:
                f.header.maps = 1
    return path


@pytest.mark.parametrize(
    ("how", "match"),
    [
        ("complex", "unsupported data type"),
        ("nan", "NaN or infinite"),
        ("zero-cell", "no valid voxel size"),
        ("zero-sampling", "no valid voxel size"),
        ("axis-repeated", "not a permutation"),
        ("one-voxel-thick", "at least 2 voxels"),
    ],
)
def test_damaged_header_or_data_is_a_map_format_error(tmp_path, rng, how, match):
    path = _damaged(tmp_path, rng, how)
    with pytest.raises(MapFormatError, match=match) as err:
        read_map(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_gzip_is_a_map_format_error(tmp_path, rng):
    good = write_map(DensityMap(rng.random((4, 4, 4)), 1.0), tmp_path / "a.mrc")
    p = tmp_path / "b.mrc.gz"
    p.write_bytes(gzip.compress(good.read_bytes())[:300])
    with pytest.raises(MapFormatError, match=r"cannot read|damaged compressed data"):
        read_map(p)


# ------------------------------------------------------------------ properties
voxel_sizes = hs.floats(0.2, 6.0, allow_nan=False).map(lambda v: float(np.float32(v)))
origins = hs.one_of(
    hs.just(0.0), hs.floats(-500.0, 500.0, allow_nan=False).map(lambda v: float(np.float32(v)))
)


@given(
    shape=hs.tuples(*[hs.integers(2, 5)] * 3),
    order=hs.sampled_from(AXIS_ORDERS),
    voxel=hs.tuples(voxel_sizes, voxel_sizes, voxel_sizes),
    nstart=hs.tuples(*[hs.integers(-300, 300)] * 3),
    origin=hs.tuples(origins, origins, origins),
    seed=hs.integers(0, 2**32 - 1),
)
def test_any_consistent_header_reads_as_the_map_it_describes(
    shape, order, voxel, nstart, origin, seed
):
    data = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_raw_mrc(
            Path(tmp) / "p.mrc", data, voxel, order=order, nstart_xyz=nstart, origin_xyz=origin
        )
        back = read_map(path)
    assert np.array_equal(back.data, data)
    assert np.allclose(back.voxel_size_xyz, voxel, rtol=1e-5)
    assert np.allclose(
        back.origin_xyz, expected_origin(nstart, origin, back.voxel_size_xyz), rtol=1e-6, atol=1e-6
    )
    # voxel data[k, j, i] sits at origin + voxel * (i, j, k)
    k, j, i = (n - 1 for n in shape)
    corner = back.origin_xyz + back.voxel_size_xyz * [i, j, k]
    assert back.sample(corner[None])[0] == pytest.approx(float(data[k, j, i]), abs=1e-5)


#: Header words (4 bytes each, little-endian int32 or float32) that say how to read the data:
#: NX NY NZ MODE, NXSTART NYSTART NZSTART, MX MY MZ, CELLA, MAPC MAPR MAPS, ORIGIN.
HEADER_WORDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 17, 18, 49, 50, 51]


@settings(max_examples=150)
@given(
    word=hs.sampled_from(HEADER_WORDS),
    value=hs.one_of(
        hs.integers(-(2**31), 2**31 - 1).map(lambda v: int(v).to_bytes(4, "little", signed=True)),
        hs.floats(width=32, allow_nan=True, allow_infinity=True).map(
            lambda v: np.float32(v).tobytes()
        ),
    ),
)
def test_a_damaged_header_word_reads_or_raises_map_format_error(word, value):
    """One header word overwritten with anything: a map, or MapFormatError, never a crash."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_raw_mrc(Path(tmp) / "w.mrc", rng.random((3, 4, 5)).astype(np.float32), 1.0)
        raw = bytearray(path.read_bytes())
        raw[4 * word : 4 * word + 4] = value
        path.write_bytes(bytes(raw))
        try:
            m = read_map(path)
        except MapFormatError as exc:
            assert str(path) in str(exc)
            return
    assert isinstance(m, DensityMap)
    assert np.all(np.isfinite(m.data))
    assert np.all(m.voxel_size_xyz > 0) and np.all(np.isfinite(m.origin_xyz))
