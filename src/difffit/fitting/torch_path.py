"""The torch implementation of the search kernels and optimiser (the CUDA path).

Same arithmetic as the fused Numba kernels of :mod:`difffit.kernels` (the tests run both on the
CPU and compare them): trilinear values and gradients by vectorised gathers, the gradient with
respect to the quaternion by autograd through :func:`quat_to_matrix_torch`, and
``torch.optim.Adam`` on every placement. Only this module imports torch, and only when a CUDA
device is used (or the fused CPU kernel is switched off).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from difffit.kernels import score_and_grad as score_and_grad_numpy

__all__ = [
    "memory_budget_bytes",
    "quat_to_matrix_torch",
    "run_phase",
    "sample_mean",
    "score_and_grad",
    "score_and_grad_torch",
]

#: Bytes of temporaries per placement × atom sample (coordinates, 8 corner indices and values,
#: weights, gradients; order of magnitude, float32).
TORCH_BYTES_PER_SAMPLE = 160


def memory_budget_bytes(device: torch.device) -> int:
    """Memory the torch path may use for temporaries: half the free GPU memory, or 1 GiB."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free // 2)
    return 1 << 30


def quat_to_matrix_torch(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of quaternions (..., 4) (w, x, y, z), normalised here."""
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape((*q.shape[:-1], 3, 3))  # fmt: skip


def _torch_trilinear(vol: torch.Tensor, ijk: torch.Tensor, outside: float, *, grad: bool):
    """Values (and grid-unit gradients) of ``vol`` [z, y, x] at grid points ``ijk`` (..., 3)."""
    nz, ny, nx = vol.shape
    fi, fj, fk = ijk.unbind(-1)
    inside = (fi >= 0) & (fj >= 0) & (fk >= 0) & (fi <= nx - 1) & (fj <= ny - 1) & (fk <= nz - 1)
    i0 = fi.clamp(0, nx - 1).floor().clamp(max=nx - 2)
    j0 = fj.clamp(0, ny - 1).floor().clamp(max=ny - 2)
    k0 = fk.clamp(0, nz - 1).floor().clamp(max=nz - 2)
    dx = (fi - i0).clamp(0, 1)
    dy = (fj - j0).clamp(0, 1)
    dz = (fk - k0).clamp(0, 1)
    i0l, j0l, k0l = i0.long(), j0.long(), k0.long()
    flat = vol.reshape(-1)
    base = (k0l * ny + j0l) * nx + i0l

    def at(dk: int, dj: int, di: int) -> torch.Tensor:
        return flat[base + (dk * ny + dj) * nx + di]

    v000, v001, v010, v011 = at(0, 0, 0), at(0, 0, 1), at(0, 1, 0), at(0, 1, 1)
    v100, v101, v110, v111 = at(1, 0, 0), at(1, 0, 1), at(1, 1, 0), at(1, 1, 1)
    e00, e01, e10, e11 = v001 - v000, v011 - v010, v101 - v100, v111 - v110
    c00, c01, c10, c11 = v000 + dx * e00, v010 + dx * e01, v100 + dx * e10, v110 + dx * e11
    c0 = c00 + dy * (c01 - c00)
    c1 = c10 + dy * (c11 - c10)
    val = torch.where(inside, c0 + dz * (c1 - c0), torch.full_like(c0, outside))
    if not grad:
        return val, None
    ex0 = e00 + dy * (e01 - e00)
    ex1 = e10 + dy * (e11 - e10)
    di = ex0 + dz * (ex1 - ex0)
    dj = (c01 - c00) + dz * ((c11 - c10) - (c01 - c00))
    dk = c1 - c0
    g = torch.stack([di, dj, dk], dim=-1) * inside.unsqueeze(-1)
    return val, g


def _torch_grid(xyz, rot, shift, origin, inv_vs):
    pts = torch.einsum("pij,aj->pai", rot, xyz) + shift[:, None, :]
    return (pts - origin) * inv_vs


def score_and_grad(
    volume: torch.Tensor,
    xyz: torch.Tensor,
    rot: torch.Tensor,
    shift: torch.Tensor,
    origin_xyz: torch.Tensor,
    inv_voxel_xyz: torch.Tensor,
    outside: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`difffit.kernels.score_and_grad` on torch tensors (the Numba kernel on the CPU).

    Same arguments and returns as the NumPy version, as tensors on one device: ``value``
    (n_placements,), ``grad_shift`` (n_placements, 3) and ``grad_rot`` (n_placements, 3, 3).
    """
    if volume.device.type == "cpu":
        out = score_and_grad_numpy(
            volume.numpy(), xyz.detach().numpy(), rot.detach().numpy(), shift.detach().numpy(),
            origin_xyz.numpy(), inv_voxel_xyz.numpy(), outside,
        )  # fmt: skip
        score, g_rot, g_shift = (torch.from_numpy(a) for a in out)
        return score, g_rot, g_shift
    return score_and_grad_torch(volume, xyz, rot, shift, origin_xyz, inv_voxel_xyz, outside)


def score_and_grad_torch(volume, xyz, rot, shift, origin_xyz, inv_voxel_xyz, outside):
    """The torch implementation of :func:`score_and_grad` (any device).

    Placements are processed in chunks sized so that the temporaries stay within
    :func:`memory_budget_bytes`.
    """
    n_pl, n_at = rot.shape[0], xyz.shape[0]
    chunk = max(
        1, int(memory_budget_bytes(volume.device) // (TORCH_BYTES_PER_SAMPLE * max(n_at, 1)))
    )
    vals, gts, grs = [], [], []
    for s in range(0, n_pl, chunk):
        r, t = rot[s : s + chunk].detach(), shift[s : s + chunk].detach()
        ijk = _torch_grid(xyz, r, t, origin_xyz, inv_voxel_xyz)
        v, g = _torch_trilinear(volume, ijk, outside, grad=True)
        g = g * inv_voxel_xyz  # world units
        vals.append(v.mean(dim=1))
        gts.append(g.mean(dim=1))
        grs.append(torch.einsum("pai,aj->pij", g, xyz) / n_at)
    return torch.cat(vals), torch.cat(gts), torch.cat(grs)


class _SampleMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rot, shift, volume, origin, inv_vs, outside, xyz):
        val, g_t, g_r = score_and_grad(volume, xyz, rot, shift, origin, inv_vs, outside)
        ctx.save_for_backward(g_t, g_r)
        return val

    @staticmethod
    def backward(ctx, grad_out):
        g_t, g_r = ctx.saved_tensors
        return grad_out[:, None, None] * g_r, grad_out[:, None] * g_t, None, None, None, None, None


def sample_mean(volume, origin, inv_vs, outside, xyz, rot, shift):
    """Differentiable mean volume value at ``rot @ xyz + shift`` per placement (n_placements,)."""
    return _SampleMean.apply(rot, shift, volume, origin, inv_vs, outside, xyz)


def run_phase(
    sampler,
    xyz: np.ndarray,
    quat_wxyz: np.ndarray,
    shift: np.ndarray,
    *,
    n_steps: int,
    lr_shift: float,
    lr_rotation: float,
    lr_factor: Callable[[int, int], float],
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adam on every placement for ``n_steps`` steps on ``sampler.device``.

    Returns the best (quaternions, shifts, scores) seen, evaluated before every step and after
    the last, as NumPy float64 arrays.
    """
    dev = torch.device(sampler.device)
    vol = torch.tensor(sampler.volume, device=dev).contiguous()
    dt = vol.dtype
    origin = torch.tensor(sampler.origin_xyz, dtype=dt, device=dev)
    inv_vs = torch.tensor(sampler.inv_voxel_xyz, dtype=dt, device=dev)
    xyz_t = torch.tensor(np.asarray(xyz), dtype=dt, device=dev)
    q = torch.tensor(quat_wxyz, dtype=dt, device=dev, requires_grad=True)
    t = torch.tensor(shift, dtype=dt, device=dev, requires_grad=True)
    opt = torch.optim.Adam([{"params": [t], "lr": lr_shift}, {"params": [q], "lr": lr_rotation}])
    best = torch.full((len(quat_wxyz),), -torch.inf, dtype=dt, device=dev)
    best_q = q.detach().clone()
    best_t = t.detach().clone()
    for step in range(n_steps + 1):
        val = sample_mean(vol, origin, inv_vs, sampler.outside, xyz_t, quat_to_matrix_torch(q), t)
        with torch.no_grad():
            better = val > best
            best = torch.where(better, val, best)
            best_q[better] = q.detach()[better]
            best_t[better] = t.detach()[better]
        if step == n_steps:
            break
        f = lr_factor(step, n_steps)
        opt.param_groups[0]["lr"] = lr_shift * f
        opt.param_groups[1]["lr"] = lr_rotation * f
        opt.zero_grad(set_to_none=True)
        (-val.sum()).backward()
        opt.step()
        if progress is not None:
            progress(len(quat_wxyz))
    return (
        best_q.cpu().double().numpy(),
        best_t.cpu().double().numpy(),
        best.cpu().double().numpy(),
    )
