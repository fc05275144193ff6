"""The one ordering of fits and clusters (difffit.ranking)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from difffit.errors import ConfigError
from difffit.geometry import RigidTransform
from difffit.ranking import cluster_sort_key, rank_order, sort_key
from difffit.results import ClusterHit

SCORE = np.array([3.0, 1.0, 2.0])
METRICS = {"correlation": np.array([0.1, 0.9, 0.5]), "cam": np.array([0.3, 0.2, 0.1])}
HITS = np.array([1, 5, 5])


@pytest.mark.parametrize(
    ("sort_by", "order"),
    [("correlation", [1, 2, 0]), ("cam", [0, 1, 2]), ("score", [0, 2, 1]), ("hits", [1, 2, 0])],
)
def test_clusters_in_order_of_sort_by(sort_by, order):
    key = sort_key(sort_by, score=SCORE, metrics=METRICS, hits=HITS)
    assert rank_order(key).tolist() == order


def test_single_fits_by_hits_are_ranked_by_score():
    assert sort_key("hits", score=SCORE, metrics=METRICS) is SCORE
    assert rank_order(sort_key("hits", score=SCORE, metrics=METRICS)).tolist() == [0, 2, 1]


def test_ties_keep_input_order_and_ints_rank_like_floats():
    assert rank_order([2, 5, 5, 2, 5]).tolist() == [1, 2, 4, 0, 3]
    assert rank_order(np.array([0.0, -0.0, 0.0])).tolist() == [0, 1, 2]


def test_unknown_sort_by_is_refused():
    with pytest.raises(ConfigError, match="sort_by must be one of"):
        sort_key("rmsd", score=SCORE, metrics=METRICS)


def _hit(**kw):
    base = dict(
        rank=1, structure="a", structure_index=0, hits=4, density=0.2, overlap=0.3,
        correlation=0.8, cam=0.6, inside=0.7, transform=RigidTransform.identity(),
        refined=True, fit_id=3,
    )  # fmt: skip
    return ClusterHit(**{**base, **kw})


def test_cluster_objects_rank_by_the_same_rule():
    c = _hit()
    assert cluster_sort_key(c, "hits") == 4.0
    assert cluster_sort_key(c, "cam") == 0.6
    assert cluster_sort_key(c, "score", score=1.5) == 1.5
    assert c.metric("correlation") == 0.8 and c.metric("hits") == 4.0
    with pytest.raises(ConfigError, match="score"):
        c.metric("score")
    duck = SimpleNamespace(hits=2, inside=0.25)
    assert cluster_sort_key(duck, "inside") == 0.25
