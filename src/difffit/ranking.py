"""The one place that decides how fits and clusters are ordered (``ClusterConfig.sort_by``).

``sort_by`` names what "better" means — larger is better for every choice:

* a metric of :data:`difffit.fitting.quality.METRICS` (``"correlation"``, ``"cam"``, ...):
  its value;
* ``"score"``: the search score (mean prepared-map value at the atoms) of the fit, or of a
  cluster's leader fit;
* ``"hits"``: a cluster's number of fits. A single fit is one hit, so fits ranked by hits (to
  choose the cluster leaders) are ordered by their score.

Orders are stable: ties keep their input order, so a table depends only on its inputs.
Pure compute; imports neither the result objects nor the I/O modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from difffit.config import SORT_METRICS
from difffit.errors import ConfigError

__all__ = ["SORT_METRICS", "cluster_sort_key", "rank_order", "sort_key"]


def sort_key(
    sort_by: str,
    *,
    score: Any,
    metrics: Mapping[str, Any],
    hits: Any = None,
) -> Any:
    """The values that rank fits or clusters by ``sort_by``; larger is better.

    Parameters
    ----------
    sort_by
        One of :data:`SORT_METRICS`.
    score : float or (n,) array
        Search score of each fit (of each cluster's leader fit).
    metrics : mapping of metric name -> float or (n,) array
        Only ``metrics[sort_by]`` is read, when ``sort_by`` names a metric.
    hits : int or (n,) array, optional
        Fits per cluster; None when single fits are ranked (then ``"hits"`` ranks by score).

    Returns
    -------
    float or (n,) array
        ``hits``, ``score`` or ``metrics[sort_by]`` itself (not a copy; hits as float).
    """
    if sort_by == "hits":
        return score if hits is None else np.asarray(hits, dtype=np.float64)
    if sort_by == "score":
        return score
    if sort_by not in SORT_METRICS:
        raise ConfigError(f"sort_by must be one of {', '.join(SORT_METRICS)}, got {sort_by!r}")
    return metrics[sort_by]


def rank_order(keys: Any) -> np.ndarray:
    """Indices of ``keys`` (n,) best (largest) first; ties keep index order. (n,) int64."""
    return np.argsort(-np.asarray(keys, dtype=np.float64), kind="stable")


def cluster_sort_key(cluster: Any, sort_by: str, *, score: float | None = None) -> float:
    """:func:`sort_key` of one cluster object (``hits`` and the metrics as attributes, like
    :class:`~difffit.results.ClusterHit`); ``score`` is its leader fit's search score, needed
    only when ``sort_by == "score"``."""
    if sort_by == "score" and score is None:
        raise ConfigError("ranking clusters by score needs the score of their leader fit")
    named = sort_by not in ("hits", "score")
    metrics = {sort_by: getattr(cluster, sort_by)} if named else {}
    return float(sort_key(sort_by, score=score, metrics=metrics, hits=cluster.hits))
