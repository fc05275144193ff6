"""A verdict on every cluster of a fit: how far it stands out, and a plain label.

**z-score.** Each cluster's cam (correlation about the mean with the simulated map, in
[-1, 1]) is Fisher-transformed, ``f = atanh(cam)``, and standardised against the run's own
clusters: ``z = (f - mean(f)) / sd(f)``. Most clusters of a global search are placements into
wrong density, so the run's own distribution is its null, as in PowerFit and DomainFit.

**Label** (:class:`Verdict`), by :class:`VerdictRule`:

* ``convincing``: ``cam >= convincing_cam`` and ``z >= convincing_z`` (a fit that explains
  its density well and stands out), or ``z >= strong_z`` and ``cam >= strong_z_cam`` (a fit
  that stands out very far from everything else the search found, in a map whose density is
  poorly explained by any single model, e.g. a segmented piece at low contrast);
* ``ambiguous``: not convincing, but ``cam >= ambiguous_cam``;
* ``no convincing fit``: the rest.

The defaults were calibrated on real data (``benchmarks/verdict_calibration.py``; figures in
``docs/verdict.md``). The top clusters of 14 cases known to be right (the benchmark's five, the
two DomainFit domains into density2, the five riken segmented chains, the spike NTD) have cam
0.24-0.83 and z 2.8-15.7; the top clusters of I7LV70_D1 and the 340 AlphaFold decoys of
``domainfit_tardigrade_decoys`` fitted into density2 have cam at most 0.145 (and z up to 4.6,
so z alone does not separate them). Chain A of haemoglobin fitted into the density of the
homologous chain B (cam 0.26, z 7.3) comes out ambiguous.

Pure compute: no file I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from difffit.errors import ConfigError
from difffit.results import ClusterHit

__all__ = [
    "DEFAULT_RULE",
    "Verdict",
    "VerdictRule",
    "annotate_clusters",
    "cluster_z_scores",
    "verdicts",
]


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

    convincing_cam: float = 0.30
    convincing_z: float = 2.5
    strong_z: float = 8.0
    strong_z_cam: float = 0.20
    ambiguous_cam: float = 0.15

    def __post_init__(self) -> None:
        for name in ("convincing_cam", "ambiguous_cam", "strong_z_cam"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and -1.0 <= v <= 1.0):
                raise ConfigError(f"{name} must be a number in [-1, 1], got {v!r}")
        for name in ("convincing_z", "strong_z"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise ConfigError(f"{name} must be a finite number, got {v!r}")
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
        no_z = not math.isfinite(zz)
        if (c >= rule.convincing_cam and (no_z or zz >= rule.convincing_z)) or (
            not no_z and zz >= rule.strong_z and c >= rule.strong_z_cam
        ):
            labels.append(Verdict.CONVINCING)
        elif c >= rule.ambiguous_cam:
            labels.append(Verdict.AMBIGUOUS)
        else:
            labels.append(Verdict.NO_CONVINCING_FIT)
    return z, labels


def annotate_clusters(
    clusters: Sequence[ClusterHit],
    centres_xyz: Mapping[str, np.ndarray],
    *,
    rule: VerdictRule = DEFAULT_RULE,
) -> tuple[ClusterHit, ...]:
    """The clusters with their z, verdict, centre and distance/angle to the best cluster of
    their structure filled in (ranks and order unchanged).

    Parameters
    ----------
    clusters : sequence of ClusterHit
        Best first.
    centres_xyz : mapping structure name -> (3,) array, Å
        Centre of each structure's heavy atoms in its input frame.
    """
    out = list(clusters)
    by_structure: dict[str, list[int]] = {}
    for i, c in enumerate(out):
        by_structure.setdefault(c.structure, []).append(i)
    for name, idx in by_structure.items():
        z, labels = verdicts(np.array([out[i].cam for i in idx]), rule=rule)
        centre = np.asarray(centres_xyz[name], dtype=np.float64)
        best = out[idx[0]].transform
        best_centre = best.apply(centre[None])[0]
        for j, i in enumerate(idx):
            c = out[i]
            placed = c.transform.apply(centre[None])[0]
            rel = c.transform.rotation @ best.rotation.T
            angle = math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(rel)) - 1) / 2))))
            out[i] = dataclasses.replace(
                c, z=float(z[j]), verdict=labels[j].value,
                centre_xyz=(float(placed[0]), float(placed[1]), float(placed[2])),
                distance_to_rank1=float(np.linalg.norm(placed - best_centre)),
                angle_to_rank1=angle,
            )  # fmt: skip
    return tuple(out)
