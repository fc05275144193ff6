"""Each stage of the fit alone (difffit.fitting.pipeline), on a small planted synthetic case."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from difffit.config import ClusterConfig, FitConfig, QualityConfig, RefineConfig, SearchConfig
from difffit.density.map import DensityMap
from difffit.density.prepare import prepare_map
from difffit.errors import ConfigError, FitError
from difffit.fitting.pipeline import (
    SCREEN_ATOMS,
    ClusterRows,
    Fits,
    Starts,
    StructureClusters,
    check_fits_in_box,
    cluster_fits,
    input_frame,
    make_pool,
    optimise,
    pool_shape,
    prepare_search_map,
    prepare_structure,
    rank_clusters,
    refine_clusters,
    score_placements,
    structure_order,
)
from difffit.fitting.quality import METRICS, default_resolution
from difffit.geometry import RigidTransform, quat_to_matrix
from difffit.structure import ATOM_VOLUME
from tests.synthetic import planted_case, protein_like

CONFIG = FitConfig(quality=QualityConfig(resolution=5.0))
SMALL_SEARCH = SearchConfig(
    n_rotations=4, n_positions=2, oversample=2, screen_steps=3, n_steps=6, keep_fraction=0.5
)


@pytest.fixture(scope="module")
def case():
    """A 40-residue pseudo-protein planted in its simulated map, the map stage and targets."""
    rng = np.random.default_rng(7)
    st = protein_like(40, rng, name="planted")
    density, pose = planted_case(st, rng, resolution=5.0)
    smap = prepare_search_map(density, CONFIG)
    targets = prepare_structure(st, 0, smap, CONFIG)
    q_true = pose.quat_wxyz
    t_true = pose.apply(st.centre_xyz[None])[0]
    return st, density, pose, smap, targets, q_true, t_true


def _fits(q, t, *, corr, score, structure_index=None):
    """A hand-made Fits table with the given poses, correlations and scores."""
    n = len(q)
    metrics = {k: np.zeros(n) for k in METRICS}
    metrics["correlation"] = np.asarray(corr, dtype=float)
    return Fits(
        structure_index=np.zeros(n, dtype=np.int64) if structure_index is None else structure_index,
        rotation_index=np.arange(n),
        position_index=np.zeros(n, dtype=np.int64),
        quat_wxyz=np.asarray(q, dtype=float),
        centre_xyz=np.asarray(t, dtype=float),
        score=np.asarray(score, dtype=float),
        metrics=metrics,
    )


# ---------------------------------------------------------------------- 1. map preparation
def test_prepare_search_map(case):
    _, density, _, smap, _, _, _ = case
    assert smap.resolution == 5.0
    assert smap.source is density
    assert smap.footprint_xyz.shape == (int(smap.prepared.footprint.sum()), 3)
    assert smap.sampler.outside == smap.prepared.config.negative_value
    assert smap.voxel == float(density.voxel_size_xyz.min())
    assert smap.device == "cpu"
    # a prepared map is used as it is; no resolution given: 2 x the largest voxel size
    prepared = prepare_map(density, CONFIG.prep)
    again = prepare_search_map(prepared, FitConfig())
    assert again.prepared is prepared
    assert again.resolution == default_resolution(density) == round(2 * 1.5, 3)


# ------------------------------------------------------------------ 2. structure and starts
def test_prepare_structure(case):
    st, density, _, _, targets, _, _ = case
    assert np.allclose(targets.centre_xyz, st.centre_xyz)
    assert np.allclose(targets.all_xyz.mean(axis=0), 0.0, atol=1e-9)
    assert len(targets.search_xyz) == len(st)  # selection "all"
    assert len(targets.coarse_xyz) == int(st.mask("ca").sum()) == 40
    assert len(targets.screen_xyz) == min(40, SCREEN_ATOMS)
    assert len(targets.probe.values) > 0 and targets.probe.resolution == 5.0


def test_a_structure_larger_than_the_box_is_refused(case):
    st, density, _, _, _, _, _ = case
    check_fits_in_box(st, density)
    tiny = DensityMap(np.zeros((4, 4, 4), dtype=np.float32), 1.5, (0.0, 0.0, 0.0))  # 216 Å³
    with pytest.raises(FitError, match="larger than the whole map box"):
        check_fits_in_box(st, tiny)


def test_structure_order_is_fewest_atoms_first():
    rng = np.random.default_rng(2)
    sts = [protein_like(n, rng, name=f"s{n}") for n in (30, 10, 20, 10)]
    assert structure_order(sts) == [1, 3, 2, 0]


def test_pool_shape():
    plain = SearchConfig(n_rotations=10, n_positions=3, oversample=1, screen_steps=0)
    assert pool_shape(plain, 1e6, 1e3) == (10, 3)
    over = SearchConfig(n_rotations=10, n_positions=3, oversample=4)
    # a footprint half the structure's volume: the placements' positions, 4 x the rotations
    assert pool_shape(over, 0.5e3, 1e3) == (40, 3)
    # as large as the structure: 4 positions (POSITIONS_PER_VOLUME), rotations to fill the pool
    assert pool_shape(over, 1e3, 1e3) == (30, 4)
    # a footprint 100 structures large: as many positions as oversample allows (4 x 3)
    n_rot, n_pos = pool_shape(over, 1e5, 1e3)
    assert n_pos == 12 and n_rot * n_pos >= over.n_starts


def test_make_pool(case):
    _, _, _, smap, targets, _, _ = case
    a = make_pool(targets, smap, SMALL_SEARCH, np.random.default_rng(3))
    b = make_pool(targets, smap, SMALL_SEARCH, np.random.default_rng(3))
    n_rot, n_pos = pool_shape(
        SMALL_SEARCH, smap.prepared.footprint_volume, ATOM_VOLUME * len(targets.structure)
    )
    assert (a.n_rotations, a.n_positions) == (n_rot, n_pos)
    assert a.quat_wxyz.shape == (n_rot * n_pos, 4) and a.centre_xyz.shape == (n_rot * n_pos, 3)
    assert np.allclose(np.linalg.norm(a.quat_wxyz, axis=1), 1.0)
    footprint = {tuple(p) for p in smap.footprint_xyz}
    assert all(tuple(c) in footprint for c in a.centre_xyz)
    assert np.array_equal(a.quat_wxyz, b.quat_wxyz) and np.array_equal(a.centre_xyz, b.centre_xyz)


# ------------------------------------------------------------------------ 3. optimisation
def test_optimise_keeps_the_screened_placements(case):
    _, _, _, smap, targets, q_true, t_true = case
    pool = make_pool(targets, smap, SMALL_SEARCH, np.random.default_rng(4))
    n = len(pool.quat_wxyz)
    # the true pose as the last start: it survives the screening and stays the best
    q0 = pool.quat_wxyz.copy()
    c0 = pool.centre_xyz.copy()
    q0[-1], c0[-1] = q_true, t_true
    starts = Starts(q0, c0, pool.n_rotations, pool.n_positions)
    seen = []
    pl = optimise(smap, targets, starts, SMALL_SEARCH, progress=lambda d, t: seen.append((d, t)))
    assert len(pl.start_index) == SMALL_SEARCH.n_placements
    assert np.all(np.diff(pl.start_index) > 0) and pl.start_index[-1] == n - 1
    assert np.array_equal(pl.rotation_index * pool.n_positions + pl.position_index, pl.start_index)
    assert pl.quat_wxyz.shape == (8, 4) and pl.centre_xyz.shape == (8, 3)
    assert np.all(np.isfinite(pl.score)) and int(np.argmax(pl.score)) == 7
    assert np.linalg.norm(pl.centre_xyz[-1] - t_true) < 1.0
    assert pl.n_evaluations > 0 and seen[-1][0] == seen[-1][1]


# ------------------------------------------------------------------------------ 4. scoring
def test_score_placements(case):
    _, _, _, smap, targets, q_true, t_true = case
    pl = optimise(
        smap,
        targets,
        Starts(np.array([q_true, [1.0, 0, 0, 0]]), np.array([t_true, t_true + 6.0]), 2, 1),
        SearchConfig(n_rotations=2, n_positions=1, oversample=1, screen_steps=0, n_steps=1),
    )
    fits = score_placements(smap, targets, pl)
    assert set(fits.metrics) == set(METRICS) and len(fits) == 2
    assert np.array_equal(fits.structure_index, [0, 0])
    assert fits.metrics["correlation"][0] > 0.95 > fits.metrics["correlation"][1]
    assert fits.metrics["inside"][0] > fits.metrics["inside"][1]
    both = Fits.concatenate([fits, fits])
    assert len(both) == 4 and np.array_equal(both.score, np.tile(fits.score, 2))


# --------------------------------------------------------------------------- 5. clustering
def _two_groups(q_true, t_true):
    """Five fits: three around the true pose, two 10 Å away (the best of those by score)."""
    q = np.tile(q_true, (5, 1))
    t = np.array([t_true, t_true + 10, t_true + [0.5, 0, 0], t_true + [10, 10.5, 10], t_true])
    return q, t


def test_cluster_fits(case):
    _, _, _, smap, targets, q_true, t_true = case
    q, t = _two_groups(q_true, t_true)
    fits = _fits(q, t, corr=[0.5, 0.2, 0.9, 0.1, 0.7], score=[1, 9, 2, 3, 4])
    cl = cluster_fits(smap, targets, fits, ClusterConfig(sort_by="correlation"))
    assert isinstance(cl, StructureClusters) and len(cl) == 2
    assert np.array_equal(cl.leaders, [2, 1])  # best correlation first
    assert [m.tolist() for m in cl.members] == [[0, 2, 4], [1, 3]]
    assert np.array_equal(cl.sizes, [3, 2])
    assert np.array_equal(cl.score, [2, 9])
    # exact metrics (whole probe) of the leaders, not the table's values
    assert cl.metrics["correlation"][0] > 0.9 and cl.metrics["correlation"][1] < 0.5
    by_score = cluster_fits(smap, targets, fits, ClusterConfig(sort_by="score"))
    assert np.array_equal(by_score.leaders, [1, 4])
    by_hits = cluster_fits(smap, targets, fits, ClusterConfig(sort_by="hits"))
    assert np.array_equal(by_hits.leaders, by_score.leaders)  # single fits: by score


def test_cluster_fits_keeps_the_best_max_clusters(case):
    _, _, _, smap, targets, q_true, t_true = case
    q, t = _two_groups(q_true, t_true)
    fits = _fits(q, t, corr=[0.5, 0.2, 0.9, 0.1, 0.7], score=[1, 9, 2, 3, 4])
    every = cluster_fits(smap, targets, fits, ClusterConfig(sort_by="correlation"))
    one = cluster_fits(smap, targets, fits, ClusterConfig(sort_by="correlation", max_clusters=1))
    assert len(every) == 2 and len(one) == 1
    assert np.array_equal(one.leaders, every.leaders[:1]) and np.array_equal(one.sizes, [3])
    assert [m.tolist() for m in one.members] == [[0, 2, 4]]
    for k in METRICS:  # the kept leader is measured as without the limit
        assert one.metrics[k][0] == every.metrics[k][0]
    # the fits of a dropped cluster belong to no cluster of the ranking
    rows = refine_clusters(smap, targets, one, refine=RefineConfig(n_clusters=0),
                           cluster=ClusterConfig(sort_by="correlation"))  # fmt: skip
    assert rank_clusters([rows], 5, "correlation").cluster_rank.tolist() == [1, 0, 1, 0, 1]
    with pytest.raises(ConfigError):
        ClusterConfig(max_clusters=-1)


def test_cluster_fits_reads_only_its_structure(case):
    _, _, _, smap, targets, q_true, t_true = case
    q, t = _two_groups(q_true, t_true)
    fits = _fits(q, t, corr=[0.5] * 5, score=[1] * 5, structure_index=np.array([0, 1, 0, 1, 1]))
    cl = cluster_fits(smap, targets, fits, ClusterConfig())
    assert [m.tolist() for m in cl.members] == [[0, 2]]


# --------------------------------------------------------------------------- 6. refinement
def _clusters(case, offsets, sizes):
    _, _, _, smap, targets, q_true, t_true = case
    n = len(offsets)
    q = np.tile(q_true, (n, 1))
    t = t_true + np.asarray(offsets, dtype=float)
    exact = score_placements(
        smap, targets,
        optimise(smap, targets, Starts(q, t, n, 1), SearchConfig(
            n_rotations=n, n_positions=1, oversample=1, screen_steps=0, n_steps=0)),
    ).metrics  # fmt: skip
    start = np.cumsum([0, *sizes])
    return StructureClusters(
        structure_index=0,
        leaders=start[:-1],
        members=tuple(np.arange(a, b) for a, b in itertools.pairwise(start)),
        sizes=np.asarray(sizes),
        quat_wxyz=q,
        centre_xyz=t,
        score=np.arange(n, dtype=float),
        metrics=exact,
    )


def test_refine_clusters_without_refinement_orders_and_converts(case):
    _, _, _, smap, targets, _, _ = case
    cl = _clusters(case, [[4.0, 0, 0], [0, 0, 0], [0, 8.0, 0]], [1, 2, 5])
    rows = refine_clusters(
        smap, targets, cl, refine=RefineConfig(n_clusters=0), cluster=ClusterConfig()
    )
    assert isinstance(rows, ClusterRows) and len(rows) == 3
    assert rows.fit_id[0] == 1  # the true pose has the best correlation
    assert not rows.refined.any() and np.array_equal(rows.refine_shift, [0, 0, 0])
    assert sorted(rows.hits.tolist()) == [1, 2, 5]
    assert np.array_equal(rows.metrics["correlation"], np.sort(cl.metrics["correlation"])[::-1])
    # the transform maps input coordinates: R (x - c) + t
    x = targets.structure.coords_xyz[:5]
    r = int(np.flatnonzero(rows.fit_id == 0)[0])
    want = (x - targets.centre_xyz) @ quat_to_matrix(cl.quat_wxyz[0]).T + cl.centre_xyz[0]
    assert np.allclose(RigidTransform.from_r_t_flat(rows.transform[r]).apply(x), want)
    by_hits = refine_clusters(
        smap, targets, cl, refine=RefineConfig(n_clusters=0), cluster=ClusterConfig(sort_by="hits")
    )
    assert by_hits.hits.tolist() == [5, 2, 1]


def test_refinement_merges_clusters_that_meet(case):
    _, _, _, smap, targets, _, t_true = case
    cl = _clusters(case, [[2.0, 0, 0], [-2.0, 0, 0]], [3, 4])  # 4 Å apart: two clusters
    rows = refine_clusters(
        smap, targets, cl, refine=RefineConfig(n_clusters=2, n_steps=80), cluster=ClusterConfig()
    )
    assert len(rows) == 1 and rows.hits[0] == 7 and rows.refined[0]
    assert sorted(rows.members[0].tolist()) == list(range(7))
    assert 1.0 < rows.refine_shift[0] < 3.0
    assert rows.metrics["correlation"][0] > max(cl.metrics["correlation"])
    t = RigidTransform.from_r_t_flat(rows.transform[0]).apply(targets.centre_xyz[None])[0]
    assert np.linalg.norm(t - t_true) < 0.5
    assert np.array_equal(cl.centre_xyz[:, 0] - t_true[0], [2.0, -2.0])  # input left as it was


# ------------------------------------------------------------------------------ 7. ranking
def _rows(structure, corr, hits, score, first_fit):
    n = len(corr)
    members, start = [], first_fit
    for h in hits:
        members.append(np.arange(start, start + h))
        start += h
    metrics = {k: np.zeros(n) for k in METRICS}
    metrics["correlation"] = np.asarray(corr, dtype=float)
    return ClusterRows(
        structure_index=np.full(n, structure),
        fit_id=np.array([m[0] for m in members]),
        hits=np.asarray(hits),
        members=tuple(members),
        score=np.asarray(score, dtype=float),
        metrics=metrics,
        transform=np.zeros((n, 12)),
        refined=np.zeros(n, dtype=bool),
        refine_shift=np.zeros(n),
    )


def test_rank_clusters():
    a = _rows(0, corr=[0.9, 0.5], hits=[1, 4], score=[1.0, 3.0], first_fit=0)
    b = _rows(1, corr=[0.7, 0.5], hits=[2, 1], score=[2.0, 3.0], first_fit=5)
    r = rank_clusters([a, b], 8, "correlation")
    assert r.clusters.metrics["correlation"].tolist() == [0.9, 0.7, 0.5, 0.5]
    assert r.clusters.structure_index.tolist() == [0, 1, 0, 1]  # the tie keeps input order
    assert r.cluster_rank.tolist() == [1, 3, 3, 3, 3, 2, 2, 4]
    assert rank_clusters([a, b], 8, "hits").clusters.hits.tolist() == [4, 2, 1, 1]
    by_score = rank_clusters([a, b], 8, "score").clusters
    assert by_score.score.tolist() == [3.0, 3.0, 2.0, 1.0]
    assert by_score.structure_index.tolist() == [0, 1, 1, 0]


def test_input_frame_matches_rigid_transforms(rng):
    rot = quat_to_matrix(rng.normal(size=(3, 4)))
    shift = rng.normal(size=(3, 3)) * 10
    centre = rng.normal(size=3) * 20
    flat = input_frame(centre, rot, shift)
    x = rng.normal(size=(6, 3)) * 5
    for p in range(3):
        got = RigidTransform.from_r_t_flat(flat[p]).apply(x)
        assert np.allclose(got, (x - centre) @ rot[p].T + shift[p])
