"""Map header conventions pinned on the real files in ../shared/data (ORIGIN vs NSTART, a
permuted anisotropic map, .gz/.bz2): the synthetic contract suites are in tests/unit/."""

import mrcfile
import numpy as np
import pytest

from difffit.io import read_map, read_structure
from tests.conftest import data_path

pytestmark = pytest.mark.realdata


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
