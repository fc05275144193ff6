"""Batched gradient optimisation of rigid placements in a density volume.

Every placement ``p`` has a shift ``t_p`` (Å) and a quaternion ``q_p`` (w, x, y, z); its score is
the mean of the volume sampled at ``R(q_p) x_a + t_p`` over the atoms ``x_a`` of the structure
(centred on its mean). All placements are optimised together with Adam (β = 0.9, 0.999), each
independently, maximising its score, in phases (:class:`Phase`).

Two implementations of one algorithm: on the CPU a fused Numba kernel runs all steps of a
placement in one parallel loop (:func:`difffit.kernels.optimise_fused`); on CUDA (or with
``fused=False``) :mod:`difffit.fitting.torch_path` does the same arithmetic with torch. Only the
latter imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from difffit.density.map import DensityMap
from difffit.kernels import optimise_fused

__all__ = ["OptimiseResult", "Phase", "VolumeSampler", "optimise_placements"]

#: Use the fused Numba optimiser on the CPU (False: the torch path everywhere, as on CUDA).
USE_FUSED = True

#: Placement × atom × step samples per call of the fused CPU kernel (a progress report each).
FUSED_CHUNK_SAMPLES = 20_000_000

#: Learning rates are constant for this fraction of a phase's steps, then decay (cosine) ...
DECAY_START = 0.6
#: ... to this fraction of their value at the last step.
DECAY_FLOOR = 0.1


def lr_factor(step: int, n_steps: int) -> float:
    """Learning-rate multiplier at ``step`` of a phase of ``n_steps`` steps."""
    start = int(DECAY_START * n_steps)
    if step < start or n_steps <= start:
        return 1.0
    f = (step - start) / max(n_steps - start, 1)
    return DECAY_FLOOR + (1 - DECAY_FLOOR) * 0.5 * (1 + math.cos(math.pi * f))


@dataclass(frozen=True, eq=False)
class VolumeSampler:
    """A volume with the grid geometry the kernels need, and the device to compute on.

    Attributes
    ----------
    volume : (nz, ny, nx) array (float32, or float64 for tests)
    origin_xyz : (3,) float64 array, Å
    inv_voxel_xyz : (3,) float64 array, 1/Å
    outside : float — value beyond the box
    device : str — "cpu" or "cuda:N"
    """

    volume: np.ndarray
    origin_xyz: np.ndarray
    inv_voxel_xyz: np.ndarray
    outside: float
    device: str = "cpu"

    @classmethod
    def from_map(
        cls, density: DensityMap, *, outside: float, device: str = "cpu", dtype=np.float32
    ):
        return cls(
            np.ascontiguousarray(density.data, dtype=dtype),
            np.asarray(density.origin_xyz, dtype=np.float64),
            1.0 / np.asarray(density.voxel_size_xyz, dtype=np.float64),
            float(outside),
            device,
        )


@dataclass(frozen=True, eq=False)
class Phase:
    """One phase of the optimisation: ``n_steps`` Adam steps sampling with atoms ``xyz``.

    Before the phase, only the best ``n_keep`` placements so far continue (None = all that took
    part in the previous phase).
    """

    xyz: np.ndarray  # (n_atoms, 3), Å, centred frame
    n_steps: int
    n_keep: int | None = None


@dataclass(frozen=True, eq=False)
class OptimiseResult:
    quat_wxyz: np.ndarray  # (P, 4) best pose seen
    shift: np.ndarray  # (P, 3)
    score: np.ndarray  # (P,) best score seen, with the atoms of the last phase taken part in
    last_phase: np.ndarray  # (P,) index of the last phase each placement took part in
    n_evaluations: int  # placement × atom samples taken


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

    Placements left out of a phase keep their best pose so far. Returns, for every placement,
    the best pose it reached. Ties in the selection are broken by placement index, so the
    result depends only on the inputs. ``progress(done, total)`` counts placement-steps.
    ``fused=None`` follows the module switch :data:`USE_FUSED` (used on the CPU only).
    """
    if fused is None:
        fused = USE_FUSED
    use_fused = fused and sampler.device == "cpu"
    n_pl = len(quat_wxyz)
    best_q = np.array(quat_wxyz, dtype=np.float64)
    best_t = np.array(shift, dtype=np.float64)
    best_s = np.full(n_pl, -np.inf)
    last = np.full(n_pl, -1, dtype=np.int64)
    active = np.arange(n_pl)
    sizes, n = [], n_pl
    for phase in phases:
        n = min(n, phase.n_keep) if phase.n_keep is not None else n
        sizes.append(n * phase.n_steps)
    n_total = sum(sizes)
    done = [0]

    def advance(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(done[0], n_total)

    n_eval = 0
    for phase_idx, phase in enumerate(phases):
        if phase.n_keep is not None and phase.n_keep < len(active):
            order = np.argsort(-best_s[active], kind="stable")
            active = np.sort(active[order[: max(1, phase.n_keep)]])
        if phase.n_steps <= 0:
            continue
        xyz = np.ascontiguousarray(phase.xyz, dtype=sampler.volume.dtype)
        if use_fused:
            # chunks of placements: progress reports, and Ctrl-C is seen between chunks
            chunk = max(FUSED_CHUNK_SAMPLES // max(len(xyz) * (phase.n_steps + 1), 1), 64)
            for s0 in range(0, len(active), chunk):
                sel = active[s0 : s0 + chunk]
                bq, bt, bs = optimise_fused(
                    sampler.volume, xyz, best_q[sel], best_t[sel], sampler.origin_xyz,
                    sampler.inv_voxel_xyz, sampler.outside, n_steps=phase.n_steps,
                    lr_shift=lr_shift, lr_rotation=lr_rotation,
                    decay_start=int(DECAY_START * phase.n_steps), decay_floor=DECAY_FLOOR,
                )  # fmt: skip
                best_q[sel], best_t[sel], best_s[sel] = bq, bt, bs
                advance(len(sel) * phase.n_steps)
        else:
            from difffit.fitting import torch_path

            bq, bt, bs = torch_path.run_phase(
                sampler, xyz, best_q[active], best_t[active], n_steps=phase.n_steps,
                lr_shift=lr_shift, lr_rotation=lr_rotation, lr_factor=lr_factor, progress=advance,
            )  # fmt: skip
            best_q[active], best_t[active], best_s[active] = bq, bt, bs
        best_q[active] /= np.linalg.norm(best_q[active], axis=1, keepdims=True)
        last[active] = phase_idx
        n_eval += len(active) * len(xyz) * (phase.n_steps + 1)
    return OptimiseResult(best_q, best_t, best_s, last, n_eval)
