import numpy as np
import pytest
import torch

from difffit import kernels as K
from difffit.fitting import torch_path as T
from difffit.fitting.optimise import Phase, VolumeSampler, optimise_placements
from difffit.geometry import quat_to_matrix, random_quaternions

ORIGIN = np.array([0.5, -0.5, 1.0])
INV_VS = 1 / np.array([0.9, 1.1, 1.0])


@pytest.fixture
def case(rng):
    vol = rng.random((12, 10, 14))
    xyz = rng.normal(size=(40, 3)) * 3
    q = random_quaternions(7, rng)
    t = rng.uniform(4, 9, size=(7, 3))
    return vol, xyz, q, t


def test_numba_and_torch_kernels_agree(case):
    vol, xyz, q, t = case
    rot = quat_to_matrix(q)
    a = K.score_and_grad(vol, xyz, rot, t, ORIGIN, INV_VS, -0.5)
    b = T.score_and_grad_torch(*(torch.tensor(x) for x in (vol, xyz, rot, t, ORIGIN, INV_VS)), -0.5)
    for x, y in zip(a, b, strict=True):
        assert np.allclose(x, y.numpy(), atol=1e-12)
    a32 = K.score_and_grad(vol.astype(np.float32), xyz, rot, t, ORIGIN, INV_VS, -0.5)
    assert np.allclose(a32[0], a[0], atol=1e-5)


def test_gradcheck_through_quaternions(case):
    vol, xyz, q, t = case
    args = [torch.tensor(x) for x in (vol, ORIGIN, INV_VS)]
    xyz_t = torch.tensor(xyz)

    def f(qq, tt):
        return T.sample_mean(args[0], args[1], args[2], -0.5, xyz_t, T.quat_to_matrix_torch(qq), tt)

    qq = torch.tensor(q, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    assert torch.autograd.gradcheck(f, (qq, tt), eps=1e-6, atol=1e-5)


def test_finite_differences_of_the_numba_gradient(case):
    vol, xyz, q, t = case
    rot = quat_to_matrix(q)
    v, g_t, g_r = K.score_and_grad(vol, xyz, rot, t, ORIGIN, INV_VS, -0.5)
    eps = 1e-6
    t2 = t.copy()
    t2[:, 1] += eps
    assert np.allclose(
        (K.score_and_grad(vol, xyz, rot, t2, ORIGIN, INV_VS, -0.5)[0] - v) / eps,
        g_t[:, 1],
        atol=1e-5,
    )
    r2 = rot.copy()
    r2[:, 2, 0] += eps
    assert np.allclose(
        (K.score_and_grad(vol, xyz, r2, t, ORIGIN, INV_VS, -0.5)[0] - v) / eps,
        g_r[:, 2, 0],
        atol=1e-5,
    )


def test_outside_points_take_outside_value(rng):
    vol = rng.random((5, 5, 5))
    pts = np.array([[-0.1, 2, 2], [2, 2, 4.01], [4, 4, 4], [0, 0, 0]])
    v = K.sample_points(vol, pts, outside=-9.0)
    assert v[0] == -9.0 and v[1] == -9.0
    assert v[2] == pytest.approx(vol[4, 4, 4]) and v[3] == pytest.approx(vol[0, 0, 0])


def test_fused_cpu_optimiser_equals_torch_path(rng):
    """The fused Numba optimiser and the torch (CUDA) path do the same arithmetic."""
    from scipy import ndimage

    vol = ndimage.gaussian_filter(rng.random((24, 26, 28)), 2)
    sampler = VolumeSampler(vol, np.zeros(3), 1 / np.array([1.2, 1.1, 1.3]), -0.5)
    xyz = rng.normal(size=(30, 3)) * 4
    q0 = random_quaternions(12, rng)
    t0 = rng.uniform(10, 20, size=(12, 3))
    phases = [Phase(xyz, 25), Phase(xyz[:10], 10, n_keep=6)]
    a = optimise_placements(sampler, phases, q0, t0, lr_shift=0.3, lr_rotation=0.01, fused=True)
    b = optimise_placements(sampler, phases, q0, t0, lr_shift=0.3, lr_rotation=0.01, fused=False)
    assert np.allclose(a.score, b.score, atol=1e-9)
    assert np.allclose(a.shift, b.shift, atol=1e-7)
    assert np.allclose(np.abs((a.quat_wxyz * b.quat_wxyz).sum(axis=1)), 1, atol=1e-9)
    assert np.array_equal(a.last_phase, b.last_phase)
    assert a.score.max() > 0.5  # it did climb


def test_cpu_path_does_not_import_torch():
    """On a machine without a GPU driver the CPU path never pays for importing torch."""
    import subprocess
    import sys

    from difffit.device import gpu_driver_present

    if gpu_driver_present():
        pytest.skip("a GPU driver is present: 'auto' must import torch to look for CUDA")
    code = (
        "import sys, numpy as np, difffit\n"
        "from tests.synthetic import planted_case, protein_like\n"
        "rng = np.random.default_rng(0); st = protein_like(30, rng); d, _ = planted_case(st, rng)\n"
        "difffit.fit(d, st, seed=1, config=difffit.FitConfig(search=difffit.SearchConfig(n_rotations=5, n_positions=2, oversample=2)))\n"
        "print('torch' in sys.modules)\n"
    )
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


def test_nearest_points_is_the_exhaustive_nearest_first_on_ties(rng):
    from scipy.spatial import cKDTree

    pts = rng.uniform(-20, 20, (500, 3))
    qs = rng.uniform(-25, 25, (7, 3))
    assert np.array_equal(K.nearest_points(pts, qs), cKDTree(pts).query(qs)[1])
    assert np.array_equal(K.nearest_points(qs, pts), cKDTree(qs).query(pts)[1])
    # equally near: the first point
    grid = np.array([[0.0, 0, 0], [2, 0, 0], [1, 5, 0]])
    assert K.nearest_points(grid, np.array([[1.0, 0, 0]])).tolist() == [0]
    with pytest.raises(ValueError):
        K.nearest_points(np.empty((0, 3)), qs)
