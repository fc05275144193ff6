"""A verdict on every cluster of a fit: how far it stands out, and a plain label.

**z-score.** Each cluster's cam (correlation about the mean with the simulated map, in
[-1, 1]) is Fisher-transformed, ``f = atanh(cam)``, and standardised against the run's own
clusters: ``z = (f - mean(f)) / sd(f)``. Most clusters of a global search are placements into
wrong density, so the run's own distribution is its null, as in PowerFit and DomainFit.

**Label** (:class:`Verdict`), by :class:`VerdictRule`:

* ``convincing``: ``cam >= convincing_cam`` and ``z >= convincing_z``;
* ``ambiguous``: not convincing, but ``cam >= ambiguous_cam``;
* ``no convincing fit``: the rest.

The defaults were calibrated on real data (``benchmarks/verdict_calibration.py``; figures in
``docs/verdict.md``): the top clusters of the eight dev cases that are known to be right have
cam 0.38-0.68 and z 4.9-15.7, the top clusters of I7LV70_D1 and of the 340 AlphaFold decoys of
``domainfit_tardigrade_decoys`` fitted into density2 have cam at most 0.13 (z up to 4.1, so z
alone does not separate them). The bars sit in the gap with margins on both sides.

Pure compute: no file I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from difffit.errors import ConfigError

__all__ = ["DEFAULT_RULE", "Verdict", "VerdictRule", "cluster_z_scores", "verdicts"]


class Verdict(str, Enum):
    """The label of a cluster (its value is what tables show)."""

    CONVINCING = "convincing"
    AMBIGUOUS = "ambiguous"
    NO_CONVINCING_FIT = "no convincing fit"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class VerdictRule:
    """Bars of the labels (cam is unitless, in [-1, 1]; z in standard deviations)."""

    convincing_cam: float = 0.25
    convincing_z: float = 3.0
    ambiguous_cam: float = 0.15

    def __post_init__(self) -> None:
        for name in ("convincing_cam", "ambiguous_cam"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and -1.0 <= v <= 1.0):
                raise ConfigError(f"{name} must be a number in [-1, 1], got {v!r}")
        if not (isinstance(self.convincing_z, (int, float)) and math.isfinite(self.convincing_z)):
            raise ConfigError(f"convincing_z must be a finite number, got {self.convincing_z!r}")
        if self.ambiguous_cam > self.convincing_cam:
            raise ConfigError(
                f"ambiguous_cam {self.ambiguous_cam} must not exceed convincing_cam "
                f"{self.convincing_cam}"
            )


DEFAULT_RULE = VerdictRule()


def cluster_z_scores(cam: np.ndarray) -> np.ndarray:
    """Fisher-z of each cluster's cam against all clusters of the run.

    Parameters
    ----------
    cam : (n,) float array

    Returns
    -------
    (n,) float array
        NaN for every cluster when the run has fewer than 3 clusters or they all score the
        same (no distribution to compare with).
    """
    cam = np.asarray(cam, dtype=np.float64).reshape(-1)
    f = np.arctanh(np.clip(cam, -0.999, 0.999))
    ok = np.isfinite(f)
    if ok.sum() < 3:
        return np.full(cam.shape, np.nan)
    sd = float(f[ok].std())
    if sd == 0.0:
        return np.full(cam.shape, np.nan)
    return (f - float(f[ok].mean())) / sd


def verdicts(
    cam: np.ndarray, *, rule: VerdictRule = DEFAULT_RULE
) -> tuple[np.ndarray, list[Verdict]]:
    """z-scores and labels of a run's clusters (see the module notes).

    A cluster whose z is undefined (a run of fewer than 3 clusters) is judged on cam alone.

    Returns
    -------
    z : (n,) float array
    labels : list of Verdict
    """
    cam = np.asarray(cam, dtype=np.float64).reshape(-1)
    z = cluster_z_scores(cam)
    labels = []
    for c, zz in zip(cam, z, strict=True):
        if c >= rule.convincing_cam and (not math.isfinite(zz) or zz >= rule.convincing_z):
            labels.append(Verdict.CONVINCING)
        elif c >= rule.ambiguous_cam:
            labels.append(Verdict.AMBIGUOUS)
        else:
            labels.append(Verdict.NO_CONVINCING_FIT)
    return z, labels
