"""Batched gradient optimisation of rigid placements in a density volume.

Every placement ``p`` has a shift ``t_p`` (Å) and a quaternion ``q_p`` (w, x, y, z); its score is
the mean of the volume sampled at ``R(q_p) x_a + t_p`` over the atoms ``x_a`` of the structure
(centred on its mean). All placements are optimised together with Adam, minimising minus the
score. The sampling kernel computes the score and its gradients with respect to ``R`` and ``t``
in one pass (:func:`difffit.kernels.score_and_grad`); autograd carries ``dR`` back to ``q``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from difffit.kernels import optimise_fused, score_and_grad

__all__ = [
    "OptimiseResult",
    "Phase",
    "VolumeSampler",
    "optimise_placements",
    "quat_to_matrix_torch",
]


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
    ).reshape(q.shape[:-1] + (3, 3))  # fmt: skip


@dataclass(frozen=True, eq=False)
class VolumeSampler:
    """A volume on a device, with the grid geometry the kernels need."""

    volume: torch.Tensor  # (nz, ny, nx)
    origin_xyz: torch.Tensor  # (3,)
    inv_voxel_xyz: torch.Tensor  # (3,)
    outside: float

    @classmethod
    def from_map(cls, density, *, outside: float, device: torch.device, dtype=torch.float32):
        return cls(
            torch.tensor(np.asarray(density.data), dtype=dtype, device=device).contiguous(),
            torch.tensor(np.asarray(density.origin_xyz), dtype=dtype, device=device),
            torch.tensor(1.0 / np.asarray(density.voxel_size_xyz), dtype=dtype, device=device),
            float(outside),
        )


class _SampleMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rot, shift, sampler: VolumeSampler, xyz):
        val, g_t, g_r = score_and_grad(
            sampler.volume,
            xyz,
            rot,
            shift,
            sampler.origin_xyz,
            sampler.inv_voxel_xyz,
            sampler.outside,
        )
        ctx.save_for_backward(g_t, g_r)
        return val

    @staticmethod
    def backward(ctx, grad_out):
        g_t, g_r = ctx.saved_tensors
        return grad_out[:, None, None] * g_r, grad_out[:, None] * g_t, None, None


def sample_mean(sampler: VolumeSampler, xyz: torch.Tensor, rot: torch.Tensor, shift: torch.Tensor):
    """Differentiable mean volume value at ``rot @ xyz + shift`` per placement (n_placements,)."""
    return _SampleMean.apply(rot, shift, sampler, xyz)


@dataclass(frozen=True)
class Phase:
    """One phase of the optimisation: ``n_steps`` Adam steps sampling with atoms ``xyz``.

    Before the phase, only the best ``n_keep`` placements so far continue (None = all that took
    part in the previous phase).
    """

    xyz: torch.Tensor
    n_steps: int
    n_keep: int | None = None


@dataclass(frozen=True, eq=False)
class OptimiseResult:
    quat_wxyz: np.ndarray  # (P, 4) best pose seen
    shift: np.ndarray  # (P, 3)
    score: np.ndarray  # (P,) best score seen, with the atoms of the last phase taken part in
    last_phase: np.ndarray  # (P,) index of the last phase each placement took part in
    n_evaluations: int  # placement × atom samples taken


#: Use the fused Numba optimiser on the CPU (False: the torch path everywhere, as on CUDA).
USE_FUSED = True

#: Placement × atom × step samples per call of the fused CPU kernel (a progress report each).
FUSED_CHUNK_SAMPLES = 20_000_000

#: Learning rates are constant for this fraction of a phase's steps, then decay (cosine) ...
DECAY_START = 0.6
#: ... to this fraction of their value at the last step.
DECAY_FLOOR = 0.1


def _lr_factor(step: int, n_steps: int) -> float:
    start = int(DECAY_START * n_steps)
    if step < start or n_steps <= start:
        return 1.0
    f = (step - start) / max(n_steps - start, 1)
    return DECAY_FLOOR + (1 - DECAY_FLOOR) * 0.5 * (1 + math.cos(math.pi * f))


def optimise_placements(
    sampler: VolumeSampler,
    phases: list[Phase],
    quat_wxyz: np.ndarray,
    shift: np.ndarray,
    *,
    lr_shift: float,
    lr_rotation: float,
    progress: Callable[[int, int], None] | None = None,
    fused: bool | None = None,
) -> OptimiseResult:
    """Adam on every placement, phase after phase (see :class:`Phase`).

    On the CPU each phase runs in one fused Numba kernel (:func:`difffit.kernels.optimise_fused`:
    all steps of a placement inside one parallel loop, no per-step overhead); elsewhere (CUDA),
    or with ``fused=False``, the steps are torch operations with the same arithmetic.
    ``fused=None`` follows the module switch :data:`USE_FUSED`.

    Placements left out of a phase keep their best pose so far. Returns, for every placement,
    the best pose it reached. Ties in the selection are broken by placement index, so the
    result depends only on the inputs.
    """
    dev, dt = sampler.volume.device, sampler.volume.dtype
    if fused is None:
        fused = USE_FUSED
    n_pl = len(quat_wxyz)
    best_q = np.array(quat_wxyz, dtype=np.float64)
    best_t = np.array(shift, dtype=np.float64)
    best_s = np.full(n_pl, -np.inf)
    last = np.full(n_pl, -1, dtype=np.int64)
    active = np.arange(n_pl)
    # progress counts placement-steps; the sizes of later phases are known only once they start
    sizes, n = [], n_pl
    for phase in phases:
        n = min(n, phase.n_keep) if phase.n_keep is not None else n
        sizes.append(n * phase.n_steps)
    n_total = sum(sizes)
    done = 0
    n_eval = 0
    for phase_idx, phase in enumerate(phases):
        if phase.n_keep is not None and phase.n_keep < len(active):
            order = np.argsort(-best_s[active], kind="stable")
            active = np.sort(active[order[: max(1, phase.n_keep)]])
        if phase.n_steps <= 0:
            continue
        if dev.type == "cpu" and fused:
            # chunks of placements: progress reports, and Ctrl-C is seen between chunks
            chunk = max(FUSED_CHUNK_SAMPLES // max(len(phase.xyz) * (phase.n_steps + 1), 1), 64)
            for s0 in range(0, len(active), chunk):
                sel = active[s0 : s0 + chunk]
                bq, bt, bs = optimise_fused(
                    sampler.volume.numpy(), phase.xyz.numpy(), best_q[sel], best_t[sel],
                    sampler.origin_xyz.double().numpy(), sampler.inv_voxel_xyz.double().numpy(),
                    sampler.outside, n_steps=phase.n_steps, lr_shift=lr_shift,
                    lr_rotation=lr_rotation, decay_start=int(DECAY_START * phase.n_steps),
                    decay_floor=DECAY_FLOOR,
                )  # fmt: skip
                bq /= np.linalg.norm(bq, axis=1, keepdims=True)
                best_q[sel], best_t[sel], best_s[sel] = bq, bt, bs
                done += len(sel) * phase.n_steps
                if progress is not None:
                    progress(done, n_total)
            last[active] = phase_idx
            n_eval += len(active) * len(phase.xyz) * (phase.n_steps + 1)
            continue
        q = torch.tensor(best_q[active], dtype=dt, device=dev, requires_grad=True)
        t = torch.tensor(best_t[active], dtype=dt, device=dev, requires_grad=True)
        opt = torch.optim.Adam(
            [{"params": [t], "lr": lr_shift}, {"params": [q], "lr": lr_rotation}]
        )
        phase_best = torch.full((len(active),), -torch.inf, dtype=dt, device=dev)
        phase_q = q.detach().clone()
        phase_t = t.detach().clone()
        for step in range(phase.n_steps + 1):
            rot = quat_to_matrix_torch(q)
            val = sample_mean(sampler, phase.xyz, rot, t)
            n_eval += len(active) * len(phase.xyz)
            with torch.no_grad():
                better = val > phase_best
                phase_best = torch.where(better, val, phase_best)
                phase_q[better] = q.detach()[better]
                phase_t[better] = t.detach()[better]
            if step == phase.n_steps:
                break
            f = _lr_factor(step, phase.n_steps)
            opt.param_groups[0]["lr"] = lr_shift * f
            opt.param_groups[1]["lr"] = lr_rotation * f
            opt.zero_grad(set_to_none=True)
            (-val.sum()).backward()
            opt.step()
            done += len(active)
            if progress is not None:
                progress(done, n_total)
        pq = phase_q.cpu().double().numpy()
        pq /= np.linalg.norm(pq, axis=1, keepdims=True)
        best_q[active] = pq
        best_t[active] = phase_t.cpu().double().numpy()
        best_s[active] = phase_best.cpu().double().numpy()
        last[active] = phase_idx
    return OptimiseResult(best_q, best_t, best_s, last, n_eval)
