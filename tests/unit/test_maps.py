"""Map reading/writing and the map value object on synthetic maps (no files from ../shared)."""

import gzip

import mrcfile
import numpy as np
import pytest
import torch

from difffit.density.map import DensityMap
from difffit.errors import MapFormatError
from difffit.io import read_map, write_map


def test_world_grid_round_trip(rng):
    m = DensityMap(np.zeros((5, 6, 7)), [1.1, 1.2, 1.3], [10.0, -5.0, 2.5])
    p = rng.normal(size=(100, 3)) * 20
    assert np.allclose(m.grid_to_world(m.world_to_grid(p)), p, atol=1e-12)
    assert m.shape_xyz == (7, 6, 5)
    assert np.allclose(m.extent_xyz, [6 * 1.1, 5 * 1.2, 4 * 1.3])


def test_planted_point_sampling_matches_voxel_and_grid_sample(rng):
    data = rng.random((6, 7, 8)).astype(np.float32)
    m = DensityMap(data, [1.5, 1.0, 2.0], [3.0, 4.0, 5.0])
    # voxel [z=2, y=3, x=4] sits at origin + (4*1.5, 3*1.0, 2*2.0)
    p = np.array([[3.0 + 6.0, 4.0 + 3.0, 5.0 + 4.0]])
    assert m.sample(p)[0] == pytest.approx(data[2, 3, 4])
    # agrees with torch grid_sample(align_corners=True): scale (n-1)*voxel, not n*voxel
    pts = m.grid_to_world(rng.uniform(0, 1, size=(50, 3)) * (np.array(m.shape_xyz) - 1))
    ours = m.sample(pts)
    norm = 2 * (pts - m.origin_xyz) / ((np.array(m.shape_xyz) - 1) * m.voxel_size_xyz) - 1
    grid = torch.tensor(norm, dtype=torch.float32).view(1, 1, 1, -1, 3)
    ref = (
        torch.nn.functional.grid_sample(
            torch.tensor(data)[None, None], grid, mode="bilinear", align_corners=True
        )
        .flatten()
        .numpy()
    )
    assert np.allclose(ours, ref, atol=1e-5)
    assert m.sample([[-100.0, 0, 0]], outside=-7.0)[0] == -7.0


def test_map_is_immutable():
    m = DensityMap(np.ones((3, 3, 3)), 1.0)
    with pytest.raises(ValueError):
        m.data[0, 0, 0] = 2
    src = np.ones((3, 3, 3), dtype=np.float32)
    m2 = DensityMap(src, 1.0)
    src[0, 0, 0] = 5  # caller's array is copied, not aliased
    assert m2.data[0, 0, 0] == 1


@pytest.mark.parametrize("suffix", [".mrc", ".map", ".mrc.gz"])
def test_write_read_round_trip(tmp_path, rng, suffix):
    m = DensityMap(rng.normal(size=(4, 5, 6)), [0.9, 1.1, 1.3], [-12.5, 3.25, 100.0])
    path = write_map(m, tmp_path / f"x{suffix}")
    back = read_map(path)
    assert back.shape_zyx == m.shape_zyx
    assert np.allclose(back.data, m.data)
    assert np.allclose(back.voxel_size_xyz, m.voxel_size_xyz, atol=1e-5)
    assert np.allclose(back.origin_xyz, m.origin_xyz, atol=1e-4)
    with pytest.raises(MapFormatError, match="exists"):
        write_map(m, path)


def test_axis_order_and_nstart_are_honoured(tmp_path, rng):
    """A file written with MAPC/MAPR/MAPS = 3 1 2 and NSTART set reads as the same map."""
    m = DensityMap(rng.normal(size=(4, 5, 6)), [1.0, 2.0, 3.0], [0, 0, 0])
    # file columns = z, rows = x, sections = y  -> raw[s=y, r=x, c=z]
    raw = np.ascontiguousarray(np.transpose(m.data, (1, 2, 0)))
    p = tmp_path / "perm.mrc"
    with mrcfile.new(p) as f:
        f.set_data(raw)
        f.header.mapc, f.header.mapr, f.header.maps = 3, 1, 2
        f.header.mx, f.header.my, f.header.mz = 6, 5, 4  # sampling along x, y, z
        f.header.cella = (6 * 1.0, 5 * 2.0, 4 * 3.0)
        # NC/NR/NS start = column (z), row (x), section (y) starts
        f.header.nxstart, f.header.nystart, f.header.nzstart = 7, -2, 3
    back = read_map(p)
    assert back.shape_zyx == m.shape_zyx
    assert np.array_equal(back.data, m.data)
    assert np.allclose(back.voxel_size_xyz, [1, 2, 3])
    assert np.allclose(back.origin_xyz, [-2 * 1.0, 3 * 2.0, 7 * 3.0])


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "cannot read|not an MRC"),
        (b"not a map at all" * 100, "cannot read|not an MRC"),
    ],
)
def test_bad_map_files(tmp_path, content, match):
    p = tmp_path / "bad.mrc"
    p.write_bytes(content)
    with pytest.raises(MapFormatError, match=match):
        read_map(p)


def test_bad_map_names(tmp_path):
    with pytest.raises(MapFormatError, match="no such file"):
        read_map(tmp_path / "missing.mrc")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(MapFormatError, match="not a map file name"):
        read_map(tmp_path / "x.txt")
    with pytest.raises(MapFormatError, match="folder"):
        read_map(tmp_path)


def test_bad_axis_order(tmp_path, rng):
    p = tmp_path / "bad.mrc"
    with mrcfile.new(p) as f:
        f.set_data(rng.random((3, 3, 3)).astype(np.float32))
        f.voxel_size = 1.0
    raw = bytearray(p.read_bytes())
    raw[72:76] = (1).to_bytes(4, "little")  # MAPS (word 19) = 1 duplicates MAPC = 1
    p.write_bytes(bytes(raw))
    with pytest.raises(MapFormatError, match="not a permutation"):
        read_map(p)


def test_truncated_gz(tmp_path, rng):
    m = DensityMap(rng.random((4, 4, 4)), 1.0)
    good = write_map(m, tmp_path / "a.mrc")
    data = gzip.compress(good.read_bytes())[:200]
    p = tmp_path / "b.mrc.gz"
    p.write_bytes(data)
    with pytest.raises(MapFormatError):
        read_map(p)
