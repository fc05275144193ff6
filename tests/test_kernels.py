import numpy as np
import pytest
import torch

from difffit import kernels as K
from difffit.fitting.optimise import VolumeSampler, quat_to_matrix_torch, sample_mean
from difffit.geometry import quat_to_matrix, random_quaternions


@pytest.fixture
def case(rng):
    vol = rng.random((12, 10, 14))
    xyz = rng.normal(size=(40, 3)) * 3
    q = random_quaternions(7, rng)
    t = rng.uniform(4, 9, size=(7, 3))
    return vol, xyz, q, t


def _args(vol, xyz, q, t, dtype):
    return (
        torch.tensor(vol, dtype=dtype),
        torch.tensor(xyz, dtype=dtype),
        torch.tensor(quat_to_matrix(q), dtype=dtype),
        torch.tensor(t, dtype=dtype),
        torch.tensor([0.5, -0.5, 1.0], dtype=dtype),
        1 / torch.tensor([0.9, 1.1, 1.0], dtype=dtype),
    )


def test_numba_and_torch_kernels_agree(case):
    a = K.score_and_grad(*_args(*case, torch.float64), -0.5)
    b = K.score_and_grad_torch(*_args(*case, torch.float64), -0.5)
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x, y, atol=1e-12)
    a32 = K.score_and_grad(*_args(*case, torch.float32), -0.5)
    assert torch.allclose(a32[0].double(), a[0], atol=1e-5)


def test_gradcheck_through_quaternions(case):
    vol, xyz, q, t = case
    sampler = VolumeSampler(
        torch.tensor(vol), torch.tensor([0.5, -0.5, 1.0], dtype=torch.float64),
        1 / torch.tensor([0.9, 1.1, 1.0], dtype=torch.float64), -0.5,
    )  # fmt: skip
    xyz_t = torch.tensor(xyz)

    def f(qq, tt):
        return sample_mean(sampler, xyz_t, quat_to_matrix_torch(qq), tt)

    qq = torch.tensor(q, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    assert torch.autograd.gradcheck(f, (qq, tt), eps=1e-6, atol=1e-5)


def test_outside_points_take_outside_value(rng):
    vol = rng.random((5, 5, 5))
    pts = np.array([[-0.1, 2, 2], [2, 2, 4.01], [4, 4, 4], [0, 0, 0]])
    v = K.sample_points(vol, pts, outside=-9.0)
    assert v[0] == -9.0 and v[1] == -9.0
    assert v[2] == pytest.approx(vol[4, 4, 4]) and v[3] == pytest.approx(vol[0, 0, 0])


def test_fused_cpu_optimiser_equals_torch_path(rng):
    """The fused Numba optimiser and the torch (CUDA) path do the same arithmetic."""
    from scipy import ndimage

    from difffit.fitting.optimise import Phase, optimise_placements

    vol = ndimage.gaussian_filter(rng.random((24, 26, 28)), 2)
    sampler = VolumeSampler(
        torch.tensor(vol), torch.zeros(3, dtype=torch.float64),
        1 / torch.tensor([1.2, 1.1, 1.3], dtype=torch.float64), -0.5,
    )  # fmt: skip
    xyz = torch.tensor(rng.normal(size=(30, 3)) * 4)
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
