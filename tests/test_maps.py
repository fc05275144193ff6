import gzip

import mrcfile
import numpy as np
import pytest
import torch

from difffit.density.map import DensityMap
from difffit.errors import MapFormatError
from difffit.io import read_map, read_structure, write_map
from tests.conftest import data_path


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


def test_three_header_conventions_same_density_at_atoms():
    """EMD-21457 segment written with ORIGIN, with NSTART, and with origin 0 (+ shifted model)."""
    pairs = [
        ("emd_21457_seg.mrc", "6vyb_Ndom.pdb"),
        ("emd_21457_seg_nstart.mrc", "6vyb_Ndom.pdb"),
        ("emd_21457_seg_orig0.mrc", "6vyb_Ndom_shifted.pdb"),
    ]
    values = []
    for m, s in pairs:
        mp = read_map(data_path("ccpem_emd21457_spike_ntd", m))
        st = read_structure(data_path("ccpem_emd21457_spike_ntd", s))
        values.append(mp.sample(st.coords_xyz))
    assert values[0].mean() > 0.3  # the model sits in the density
    assert np.allclose(values[0], values[1], atol=1e-4)
    assert np.allclose(values[0], values[2], atol=1e-4)
    # the first two maps differ only by header convention
    a = read_map(data_path("ccpem_emd21457_spike_ntd", "emd_21457_seg.mrc"))
    b = read_map(data_path("ccpem_emd21457_spike_ntd", "emd_21457_seg_nstart.mrc"))
    assert np.allclose(a.origin_xyz, b.origin_xyz)


def test_anisotropic_permuted_real_file_and_compression():
    plain = read_map(data_path("io_test_maps_mrcfile", "EMD-3001.map"))
    gz = read_map(data_path("io_test_maps_mrcfile", "emd_3001.map.gz"))
    assert np.allclose(plain.voxel_size_xyz, [0.448, 0.393, 0.459], atol=1e-3)
    assert np.array_equal(plain.data, gz.data)
    with mrcfile.open(data_path("io_test_maps_mrcfile", "EMD-3001.map"), permissive=True) as f:
        raw = np.asarray(f.data)
        assert (int(f.header.mapc), int(f.header.mapr), int(f.header.maps)) == (3, 1, 2)
    # columns are z, rows are x, sections are y
    assert np.array_equal(plain.data, np.transpose(raw, (2, 0, 1)))
    assert plain.shape_xyz == (43, 25, 73)
    # NC/NR/NS start (0, -21, -12) -> z 0, x -21, y -12
    vs = plain.voxel_size_xyz
    assert np.allclose(plain.origin_xyz, [-21 * vs[0], -12 * vs[1], 0.0], atol=1e-6)
    bz = read_map(data_path("io_test_maps_mrcfile", "EMD-3197.map.bz2"))
    assert np.array_equal(bz.data, read_map(data_path("io_test_maps_mrcfile", "EMD-3197.map")).data)


def test_nstart_maps_place_models():
    """1997.map / emd_5168.map use NSTART = -50 with ORIGIN 0: the actin model must sit in it."""
    mp = read_map(data_path("tempy_actin_emd5168", "emd_5168.map"))
    assert np.allclose(mp.origin_xyz, -50 * mp.voxel_size_xyz)
    st = read_structure(data_path("tempy_actin_emd5168", "3MFP.pdb"))
    z_in = (mp.sample(st.coords_xyz).mean() - mp.data.mean()) / mp.data.std()
    z_off = (mp.sample(st.coords_xyz + [10, 0, 0]).mean() - mp.data.mean()) / mp.data.std()
    assert z_in > 2.0 > 0.5 > z_off


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
