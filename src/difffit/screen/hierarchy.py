"""The hierarchical screen: a cheap search of every candidate, the full search only where the
answer could depend on it (pure compute).

Why it is safe
--------------
Almost every candidate of a large library is a wrong structure, and a wrong structure's best
score is far below what the library's null calls significant. The cheap stage (CA atoms only,
:data:`CHEAP_SEARCH`: 400 placements instead of 10,000 starts, a few steps, one refined cluster)
costs ~1/15 of the full search and predicts the full search's statistic well enough to tell
which candidates cannot be significant:

1. Every candidate gets the cheap search: its statistic ``u_cheap``
   (:func:`~difffit.screen.confidence.normalised_scores` of the cheap score).
2. The full search (the plain screen's own fit, same seed: the same record) runs for the best
   ``full_top`` candidates by ``u_cheap`` and for a seeded random sample of ``calibration``
   others.
3. From the random sample, the shift ``d = median(u_full - u_cheap)`` and the robust spread
   ``s`` of the residuals (1.4826 MAD) are estimated (:func:`calibrate`). A cheap-only
   candidate's statistic is its prediction ``u_cheap + d``.
4. The library's null (:func:`~difffit.screen.confidence.library_confidence`, from every
   candidate's full or predicted statistic) gives p-values. Each cheap-only candidate is put at
   its upper bound ``u_cheap + d + max(margin s, largest residual of the random sample)`` and
   the Benjamini-Hochberg q-values of this optimistic library are computed: raising any
   statistic only lowers every q-value, so a candidate whose optimistic q is not below
   ``alpha`` cannot be significant whatever its full search gives. Every cheap-only candidate
   whose optimistic q is below ``alpha`` gets the full search, and so does every cheap-only
   candidate whose prediction ranks among the best ``full_top``; steps 3-4 are repeated until
   no candidate is left that could still be significant and the best ``full_top`` of the
   ranking are all fully searched (:func:`next_full`).

Why BH's cut and not the p-value ``alpha``: a q-value is never below its p-value, so ``p <
alpha`` is also a safe rule, but the share of wrong candidates within ``margin`` spreads of
``p = alpha`` is a fixed fraction of the library (19 promoted of the 472 of the throughput
benchmark, over 605 of a 10,000-candidate one), and the full stage then grows with it. BH's cut for
``k`` discoveries is ``p = alpha k / N``: with a handful of true hits the promotions stay a
handful whatever ``N``. ``u_sig`` is the statistic a further candidate would need (BH's cut
for one more discovery); the gap is measured to it.

So a candidate that is not searched fully has a predicted statistic at least ``margin`` residual
spreads (default 4) below anything significant. ``info["hierarchy"]`` of the result reports the
stages, the calibration and the gap; ``benchmarks/screen_throughput.py`` measures the recall of
the plain screen's significant set (100 % on the dev cases).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from difffit.config import FitConfig, RefineConfig, SearchConfig
from difffit.screen.confidence import MIN_LIBRARY, bh_adjust, confidence_of_statistic

__all__ = [
    "CHEAP_SEARCH",
    "Calibration",
    "calibrate",
    "calibration_sample",
    "cheap_fit_config",
    "next_full",
]

#: The cheap stage's search: 20 rotations x 5 positions x 4 starts screened, CA atoms only.
CHEAP_SEARCH: dict[str, int | str] = dict(
    n_rotations=20, n_positions=5, oversample=4, screen_steps=15, n_steps=60, selection="ca"
)
#: The cheap stage refines its best cluster only, briefly.
CHEAP_REFINE: dict[str, int] = dict(n_clusters=1, n_steps=50)
#: The cheap stage keeps (and measures with the whole probe) its best 5 clusters: a screen's
#: record keeps 5, and its statistic is the best one's (most of its ~80 placements would
#: otherwise be clusters of their own, measured exactly: a quarter of its time).
CHEAP_MAX_CLUSTERS = 5


def cheap_fit_config(fit: FitConfig) -> FitConfig:
    """The cheap stage's fit options: ``fit`` with the cheap search, refinement and number of
    clusters kept, never more than ``fit``'s own (the map's preparation, the quality metrics
    and the clustering tolerances stay those of ``fit``)."""

    def least(mine: dict, theirs: dict) -> dict:
        return {k: (min(v, theirs[k]) if isinstance(v, int) else v) for k, v in mine.items()}

    s, r = fit.search.to_dict(), fit.refine.to_dict()
    search = SearchConfig(**{**s, **least(CHEAP_SEARCH, s)})
    refine = RefineConfig(**{**r, **least(CHEAP_REFINE, r)})
    mine = fit.cluster.max_clusters
    kept = CHEAP_MAX_CLUSTERS if mine == 0 else min(mine, CHEAP_MAX_CLUSTERS)
    return fit.replace(search=search, refine=refine, cluster=fit.cluster.replace(max_clusters=kept))


def calibration_sample(shas: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` of the candidates ``shas`` chosen at random, seeded by the run's seed and each
    candidate's identity alone (the same choice whatever the library's order or a resume)."""

    def key(sha: str) -> str:
        return hashlib.sha256(f"{int(seed)}:{sha}".encode()).hexdigest()

    return sorted(shas, key=key)[: max(0, int(n))]


@dataclass(frozen=True)
class Calibration:
    """``u_full ≈ u_cheap + shift``, with the robust spread of the residuals.

    Estimated from the random calibration sample alone (the other fully searched candidates
    were chosen by their cheap statistic, the null's quartiles lie in the bulk that the sample
    represents). ``max_residual`` is the sample's largest residual; ``bound`` the margin added
    to a prediction for the upper bound of a cheap-only candidate.
    """

    shift: float
    residual_sd: float
    max_residual: float
    bound: float
    n: int

    def predict(self, u_cheap: np.ndarray) -> np.ndarray:
        return np.asarray(u_cheap, dtype=np.float64) + self.shift


def calibrate(u_cheap: np.ndarray, u_full: np.ndarray, *, margin: float) -> Calibration:
    """The shift and residual spread from the random calibration sample (arrays (n,)).

    Why a shift and not a fitted line: a regression line predicts each candidate's expected
    full statistic, but the predictions then spread less than the statistics themselves (by
    the correlation), and a null estimated from them would be too narrow — anti-conservative.
    A shift keeps the cheap statistics' spread, which is slightly wider than the full ones'
    (the cheap search is noisier): the null comes out a little wide (conservative), and the
    best candidates of the cheap stage are predicted a little high (promoted more readily).
    On the DomainFit demo library (463 candidates, 200 random samples of 32): null median
    5.24 ± 0.11 (full search: 5.27), scale 0.75 ± 0.02 (0.67); a fitted line gives 0.57 ± 0.08.
    """
    c = np.asarray(u_cheap, dtype=np.float64)
    f = np.asarray(u_full, dtype=np.float64)
    if len(c) == 0:
        return Calibration(0.0, 0.0, 0.0, 0.0, 0)
    d = f - c
    shift = float(np.median(d))
    resid = d - shift
    sd = float(1.482602218505602 * np.median(np.abs(resid)))
    max_res = float(resid.max())
    return Calibration(shift, sd, max_res, max(margin * sd, max_res, 0.0), int(len(c)))


@dataclass(frozen=True)
class Plan:
    """One round of the hierarchy: who goes on to the full search, and why the others do not.

    ``statistic`` maps every candidate to its full statistic or its prediction; ``u_sig`` is
    the smallest statistic that could be significant (NaN without a null: then everyone goes
    on); ``gap`` the least margin, over the cheap-only candidates, between ``u_sig`` and their
    upper bound (in statistic units).
    """

    more: tuple[str, ...]
    statistic: dict[str, float]
    calibration: Calibration
    u_sig: float
    gap: float


def next_full(
    u_cheap: Mapping[str, float],
    u_full: Mapping[str, float],
    *,
    random_sample: set[str],
    metric: str,
    alpha: float,
    margin: float,
    top: int = 0,
) -> Plan:
    """The candidates still to search fully, given the cheap statistics of every candidate and
    the full statistics found so far (both keyed by candidate identity): those that could be
    significant, and those whose prediction ranks among the best ``top`` (so that the best
    ``top`` of the final ranking are all fully searched)."""
    sample = [s for s in u_cheap if s in u_full and s in random_sample]
    cal = calibrate(
        np.array([u_cheap[s] for s in sample]), np.array([u_full[s] for s in sample]),
        margin=margin,
    )  # fmt: skip
    keys = list(u_cheap)
    pred = cal.predict(np.array([u_cheap[s] for s in keys]))
    stat = {
        s: (float(u_full[s]) if s in u_full else float(p)) for s, p in zip(keys, pred, strict=True)
    }
    cheap_only = [s for s in keys if s not in u_full]
    conf = confidence_of_statistic(np.array([stat[s] for s in keys]), metric=metric, alpha=alpha)
    if conf.null is None or len(keys) < MIN_LIBRARY:
        return Plan(tuple(cheap_only), stat, cal, float("nan"), float("nan"))
    # the optimistic library: every cheap-only candidate at its upper bound. Raising a
    # candidate's statistic only lowers the BH q-values of all (more candidates at or above
    # each p), so a candidate not significant here is not significant whatever its full search
    # gives (within the bound).
    upper = {s: stat[s] + cal.bound for s in cheap_only}
    optimistic = np.array([upper.get(s, stat[s]) for s in keys])
    q_opt = bh_adjust(conf.null.p_value(optimistic))
    could = {s for s, q in zip(keys, q_opt, strict=True) if q < alpha}
    # the least statistic a further candidate would need: BH's cut for one more discovery
    n_could = len(could)
    u_sig = conf.null.u_at(min(alpha * (n_could + 1) / len(keys), alpha))
    best = set(sorted(keys, key=lambda s: -stat[s])[:top]) if top else set()
    more = tuple(
        sorted((s for s in cheap_only if s in could or s in best), key=lambda s: -upper[s])
    )
    left = set(cheap_only) - set(more)
    rest = [u_sig - upper[s] for s in left]
    return Plan(more, stat, cal, float(u_sig), float(min(rest)) if rest else float("nan"))
