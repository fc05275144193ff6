"""How much a candidate stands out from the library: size-normalised scores, a robust null,
p-values and false-discovery rates (pure compute).

The statistic
-------------
A candidate's score is the correlation ``r`` (``cam`` by default) of its best cluster. Fisher's
transform ``atanh(r)`` of a correlation over ``N`` independent samples has a spread of about
``1 / sqrt(N - 3)``; the samples here are the voxels under the candidate's simulated map, whose
number grows with the candidate's size. A small structure therefore reaches a high best
correlation by chance far more easily than a large one (DomainFit's users filter out domains
under 40-80 residues for this reason). The statistic puts all sizes on one scale::

    u = atanh(r) * sqrt(n_atoms)

(for scores that are not correlations, ``u`` is the score itself). On the DomainFit demo this
removes most of the size trend of the wrong candidates (Spearman correlation with size: -0.16
for ``u``, -0.91 for ``r``, over the 127 wrong candidates against density2.mrc) while the true
hits stand further out. Candidates are ranked by ``u``.

The null model
--------------
Almost every candidate of a library is *not* the protein in the density; their statistics
describe what the density gives to a wrong structure fitted as well as it could be. That
distribution, estimated from the library itself, is the null:

* Each ``u`` is the best of many placements — a maximum — so the null is an extreme-value
  (Gumbel) distribution, whose upper tail is heavier than a normal's: a normal null would call
  the luckiest decoys of a large library significant.
* Its location ``mu`` and scale ``beta`` come from the library's quartiles
  (``beta = IQR / 1.5725``, ``mu = median - 0.3665 beta``, the Gumbel quartiles). Quartiles
  ignore the top quarter of the library, so the hits cannot inflate their own null.
* ``p = P(U >= u) = 1 - exp(-exp(-(u - mu) / beta))``; the p-values of all fitted candidates are
  adjusted with Benjamini-Hochberg (``q``: the false-discovery rate of calling this candidate and
  every better one hits). A candidate is **significant** when ``q < alpha`` (default 0.01).
* ``z = (u - median) / (1.4826 MAD)`` is reported as a plain robust z-score for reading; the
  calls use ``q``.

DomainFit (Bui lab) uses the Fisher transform of the correlation about the mean, centred on the
library mean, normal p-values (``fdrtool``) and Benjamini-Hochberg. The size normalisation and
the extreme-value null are what difffit does differently, for the reasons above.

With fewer than :data:`MIN_LIBRARY` fitted candidates no null is estimated (z, p, q are NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difffit.errors import ConfigError

__all__ = [
    "CORRELATION_METRICS",
    "MIN_LIBRARY",
    "Confidence",
    "NullModel",
    "bh_adjust",
    "confidence_of_statistic",
    "library_confidence",
    "normalised_scores",
]

#: Metrics that are correlation coefficients (Fisher-transformed and size-normalised).
CORRELATION_METRICS = ("correlation", "cam")
#: Fewest fitted candidates for which a null is estimated.
MIN_LIBRARY = 8
_MAD_TO_SD = 1.482602218505602
#: Gumbel quartile constants: Q(p) = mu - beta ln(-ln p).
_GUMBEL_IQR = float(np.log(-np.log(0.25)) - np.log(-np.log(0.75)))  # 1.5725
_GUMBEL_MEDIAN = float(-np.log(np.log(2.0)))  # 0.3665
_R_MAX = 1.0 - 1e-9


def normalised_scores(scores: np.ndarray, n_atoms: np.ndarray, metric: str) -> np.ndarray:
    """The ranking statistic ``u`` (n,): ``atanh(r) sqrt(n_atoms)`` for correlation metrics,
    the score itself otherwise."""
    s = np.asarray(scores, dtype=np.float64)
    if metric not in CORRELATION_METRICS:
        return s.copy()
    n = np.asarray(n_atoms, dtype=np.float64)
    if n.shape != s.shape:
        raise ConfigError("scores and n_atoms must have the same length")
    return np.arctanh(np.clip(s, -_R_MAX, _R_MAX)) * np.sqrt(np.maximum(n, 1.0))


@dataclass(frozen=True)
class NullModel:
    """The library's null distribution of the statistic ``u``.

    Attributes
    ----------
    metric : str
    normalisation : str
        ``"atanh(r) sqrt(atoms)"`` or ``"none"``.
    median, robust_sd : float
        Median and 1.4826 × MAD of ``u`` (for the z-score).
    mu, beta : float
        Location and scale of the Gumbel null, from the quartiles of ``u``.
    n : int
        Candidates it was estimated from.
    """

    metric: str
    normalisation: str
    median: float
    robust_sd: float
    mu: float
    beta: float
    n: int

    def z(self, u: np.ndarray) -> np.ndarray:
        return (np.asarray(u, dtype=np.float64) - self.median) / self.robust_sd

    def p_value(self, u: np.ndarray) -> np.ndarray:
        """Upper-tail probability of the Gumbel null, ``P(U >= u)``."""
        x = (np.asarray(u, dtype=np.float64) - self.mu) / self.beta
        return -np.expm1(-np.exp(-x))

    def u_at(self, p: float) -> float:
        """The statistic whose p-value is ``p`` (the Gumbel upper-tail quantile)."""
        return float(self.mu - self.beta * np.log(-np.log1p(-p)))

    def pdf(self, u: np.ndarray) -> np.ndarray:
        x = (np.asarray(u, dtype=np.float64) - self.mu) / self.beta
        return np.exp(-x - np.exp(-x)) / self.beta


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of ``p`` (n,), in the same order."""
    p = np.asarray(p, dtype=np.float64)
    n = len(p)
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


@dataclass(frozen=True)
class Confidence:
    """Per-candidate statistics, arrays (n,) in the order of the scores given.

    ``z``, ``p`` and ``q`` are NaN and ``null`` is None when the library is too small.
    """

    null: NullModel | None
    u: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray
    alpha: float


def library_confidence(
    scores: np.ndarray, n_atoms: np.ndarray, *, metric: str, alpha: float = 0.01
) -> Confidence:
    """Statistic, robust z-score, Gumbel p-value, BH q-value and call of every fitted candidate.

    Parameters
    ----------
    scores : (n,) float
        Best-cluster score of each fitted candidate.
    n_atoms : (n,) int
        Heavy atoms of each candidate.
    metric
        The score's name; :data:`CORRELATION_METRICS` are size-normalised.
    alpha
        False-discovery rate at which a candidate is called significant.
    """
    return confidence_of_statistic(normalised_scores(scores, n_atoms, metric), metric=metric,
                                   alpha=alpha)  # fmt: skip


def confidence_of_statistic(u: np.ndarray, *, metric: str, alpha: float = 0.01) -> Confidence:
    """:func:`library_confidence` from the statistics ``u`` (n,) themselves (the hierarchical
    screen predicts some of them, :mod:`difffit.screen.hierarchy`)."""
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    u = np.asarray(u, dtype=np.float64)
    n = len(u)
    nan = np.full(n, np.nan)

    def none() -> Confidence:
        return Confidence(None, u, nan, nan.copy(), nan.copy(), np.zeros(n, dtype=bool), alpha)

    if n < MIN_LIBRARY or not np.isfinite(u).all():
        return none()
    q25, median, q75 = np.percentile(u, [25, 50, 75])
    mad = float(np.median(np.abs(u - median)))
    if not (q75 > q25 and mad > 0):  # a quarter of the library or more shares one score
        return none()
    beta = float(q75 - q25) / _GUMBEL_IQR
    null = NullModel(
        metric=metric,
        normalisation="atanh(r) sqrt(atoms)" if metric in CORRELATION_METRICS else "none",
        median=float(median),
        robust_sd=_MAD_TO_SD * mad,
        mu=float(median) - _GUMBEL_MEDIAN * beta,
        beta=beta,
        n=n,
    )
    p = null.p_value(u)
    q = bh_adjust(p)
    return Confidence(null, u, null.z(u), p, q, q < alpha, alpha)
