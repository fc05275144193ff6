"""A brute-force Q-score, written from the definition in :mod:`difffit.fitting.qscore` with
plain Python loops, a full distance matrix and SciPy's interpolation: the reference the fast
implementation is tested against."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates

from difffit.fitting.qscore import unit_sphere


def brute_force_q(density, xyz, *, atoms=None, sigma=0.6, per_shell=8, max_radius=2.0, step=0.1):
    """Q-score of ``atoms`` (indices; default all) of the model ``xyz`` (all atoms shadow)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    atoms = range(len(xyz)) if atoms is None else atoms
    data = density.data.astype(np.float64)
    mean = float(density.data.astype(np.float32).mean())
    sphere = unit_sphere()
    radii = np.round(np.arange(0.0, max_radius + 0.5 * step, step), 10)
    out = []
    for a in atoms:
        others = np.delete(xyz, a, axis=0)
        pts, ref = [], []
        for r in radii:
            if r == 0:
                chosen = [xyz[a]] * per_shell
            else:
                cand = xyz[a] + r * sphere
                if len(others):
                    d2 = ((cand[:, None, :] - others[None, :, :]) ** 2).sum(axis=2)
                    usable = list(np.all(d2 >= r * r * (1 - 1e-9), axis=1))
                else:
                    usable = [True] * len(cand)
                idx = [t for t in range(len(cand)) if usable[t]]
                chosen = []
                if idx:
                    pick = [idx[0]]
                    mind = {t: np.inf for t in idx}
                    while len(pick) < min(per_shell, len(idx)):
                        last = cand[pick[-1]]
                        for t in idx:
                            if t in pick:
                                continue
                            mind[t] = min(mind[t], float(((cand[t] - last) ** 2).sum()))
                        rest = [t for t in idx if t not in pick]
                        pick.append(max(rest, key=lambda t: (mind[t], -t)))
                    chosen = [cand[t] for t in pick]
            pts += chosen
            ref += [np.exp(-0.5 * (r / sigma) ** 2)] * len(chosen)
        ijk = density.world_to_grid(np.array(pts))
        n = np.array(density.shape_xyz)
        vals = map_coordinates(data, ijk[:, ::-1].T, order=1, mode="constant", cval=mean)
        inside = np.all((ijk >= 0) & (ijk <= n - 1), axis=1)
        vals = np.where(inside, vals, mean)
        u, v = vals - vals.mean(), np.array(ref) - np.mean(ref)
        den = np.sqrt((u * u).sum() * (v * v).sum())
        out.append((u * v).sum() / den if den > 0 else np.nan)
    return np.array(out)
