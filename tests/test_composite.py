"""Compositing (difffit.composite, difffit.io.folders): known answers on a synthetic complex."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from difffit import (
    ClusterHit,
    DensityMap,
    FitConfig,
    FitResult,
    QualityConfig,
    RefineConfig,
    RigidTransform,
    SearchConfig,
    simulate_on_grid,
)
from difffit.composite import (
    CompositeConfig,
    CompositeState,
    Decision,
    accept_round,
    assembly_chain_ids,
    clash_counts,
    composite,
    evaluate_candidates,
    round_seed,
)
from difffit.errors import ConfigError
from difffit.geometry import random_quaternions, rmsd
from tests.synthetic import protein_like

#: A small, quick search that still finds the planted poses of the synthetic complex.
QUICK_SEARCH = SearchConfig(
    n_rotations=20, n_positions=6, oversample=2, screen_steps=20, n_steps=100
)
QUICK_FIT = FitConfig(
    search=QUICK_SEARCH,
    quality=QualityConfig(resolution=6.0),
    refine=RefineConfig(n_clusters=4, n_steps=60),
)


def synthetic_complex(seed: int = 7):
    """Two copies of ``p``, one of ``q`` and a decoy blob (no structure explains it), 6 Å map.

    Returns (map, p, q, {"p": [pose, pose], "q": [pose]}).
    """
    rng = np.random.default_rng(seed)
    p = protein_like(45, rng, name="p")
    q = protein_like(35, rng, name="q")
    centres = [np.array([0.0, 0, 0]), np.array([27.0, 0, 0]), np.array([13.0, 24, 0])]
    poses = []
    for st, c in zip([p, p, q], centres, strict=True):
        r = RigidTransform.from_quat(random_quaternions(1, rng)[0], np.zeros(3)).rotation
        poses.append(RigidTransform(r, c - r @ st.centre_xyz))
    xyz = [tr.apply(st.coords_xyz) for st, tr in zip([p, p, q], poses, strict=True)]
    decoy = np.array([-2.0, 24.0, 2.0]) + rng.normal(scale=3.0, size=(120, 3))
    xyz = np.concatenate([*xyz, decoy])
    w = np.full(len(xyz), 6.0)
    lo, hi = xyz.min(0) - 10, xyz.max(0) + 10
    shape = np.ceil((hi - lo) / 2.0).astype(int) + 1
    grid = DensityMap(np.zeros(shape[::-1], np.float32), 2.0, lo)
    m = simulate_on_grid(xyz, w, 6.0, grid)
    m = m.with_data(m.data + rng.normal(scale=0.02, size=m.shape_zyx).astype(np.float32))
    return m, p, q, {"p": poses[:2], "q": poses[2:]}


def pose_error(structure, placed: RigidTransform, truths) -> float:
    """All-atom RMSD (Å) of a placement to the nearest planted copy."""
    x = placed.apply(structure.coords_xyz)
    return min(rmsd(x, t.apply(structure.coords_xyz)) for t in truths)


# ---------------------------------------------------------------------------- small parts
def test_assembly_chain_ids_keep_free_ids_and_stay_unique():
    assert assembly_chain_ids(["A"], set()) == ["A"]
    assert assembly_chain_ids(["A"], {"A"}) == ["B"]
    assert assembly_chain_ids(["A", "B"], {"A", "B", "C"}) == ["D", "E"]
    assert assembly_chain_ids(["A"], {"A"}, reserved={"B"}) == ["C"]  # B kept for its own chain
    used: set[str] = set()
    for _ in range(70):
        used.update(assembly_chain_ids(["A"], used))
    assert len(used) == 70 and "AA" in used  # A-Z, a-z, 0-9, then two characters


def test_clash_counts_known_geometry():
    cand = np.array([[0.0, 0, 0], [10, 0, 0], [20, 0, 0]])
    near = np.array([[0.5, 0, 0], [10, 1.9, 0]])  # two atoms within 2 Å
    far = np.array([[50.0, 0, 0]])
    touching = np.array([[20, 2.5, 0]])
    np.testing.assert_array_equal(
        clash_counts(cand, [near, far, touching], distance=2.0), [2, 0, 0]
    )
    np.testing.assert_array_equal(clash_counts(cand, [touching], distance=3.0), [1])
    assert clash_counts(cand, [], distance=2.0).shape == (0,)


def test_composite_config_validation_and_round_trip():
    cfg = CompositeConfig(fit=QUICK_FIT, rule="plain", min_cam=0.2, max_rounds=3)
    assert CompositeConfig.from_dict(cfg.to_dict()) == cfg
    for kw, word in (({"rule": "all"}, "rule"), ({"min_cam": 2.0}, "min_cam"),
                     ({"relative_cam": -0.1}, "relative_cam"), ({"clash_distance": 0}, "clash_distance"),
                     ({"max_clash_fraction": 1.5}, "max_clash_fraction"), ({"max_rounds": 0}, "max_rounds"),
                     ({"fit": {}}, "FitConfig")):  # fmt: skip
        with pytest.raises(ConfigError, match=word):
            CompositeConfig(**kw)
    with pytest.raises(ConfigError, match="unknown"):
        CompositeConfig.from_dict({"bogus": 1})


def test_round_seed_is_deterministic_and_differs_per_round():
    assert round_seed(5, 1) == round_seed(5, 1)
    assert len({round_seed(5, k) for k in range(1, 6)}) == 5


def _hit(rank, structure, cam, transform) -> ClusterHit:
    return ClusterHit(rank=rank, structure=structure, structure_index=0, hits=1, density=0.5,
                      overlap=0.1, correlation=cam + 0.3, cam=cam, inside=0.8,
                      transform=transform, refined=True, fit_id=rank)  # fmt: skip


def test_evaluate_candidates_bar_clash_and_copies(rng):
    p = protein_like(30, rng, name="p")
    q = protein_like(30, rng, name="q")
    shift = lambda x: RigidTransform(np.eye(3), np.array([x, 0.0, 0.0]))  # noqa: E731
    hits = (
        _hit(1, "p", 0.80, shift(0)),      # first copy of p: accept (reference cam 0.80)
        _hit(2, "p", 0.70, shift(0.5)),    # on top of the first: clash
        _hit(3, "p", 0.60, shift(60)),     # 0.75 x reference: accept
        _hit(4, "p", 0.40, shift(120)),    # 0.5 x reference < relative_cam 0.6: below bar
        _hit(5, "q", 0.20, shift(180)),    # cam < min_cam 0.3: below bar
        _hit(6, "q", 0.50, shift(240)),    # accept
        _hit(7, "q", 0.50, shift(300)),    # q has its 1 copy: copies placed
    )  # fmt: skip
    result = FitResult(clusters=hits, fits={}, structures=(), level=0.1, resolution=6.0, seed=1,
                       config=FitConfig(), info={})  # fmt: skip
    state = CompositeState(0, DensityMap(np.zeros((4, 4, 4)), 1.0), (), 0.1, 6.0)
    cfg = CompositeConfig(min_cam=0.3, relative_cam=0.6, defer_fraction=0.0)
    cands = evaluate_candidates(result, [p, q], state, copies={"q": 1}, config=cfg)
    assert [c.decision for c in cands] == [
        "accept", "clash", "accept", "below bar", "below bar", "accept", "copies placed",
    ]  # fmt: skip
    assert cands[1].clash_fraction > 0.5 and "p#" in cands[1].clash_with
    assert cands[2].relative_cam == pytest.approx(0.75)
    assert math.isnan(cands[0].relative_cam)
    assert "relative_cam" in cands[3].reason and "min_cam" in cands[4].reason
    # deferral: candidates under 0.8 x the best accepted cam (0.80) wait for the next round
    deferred = evaluate_candidates(result, [p, q], state, copies={"q": 1},
                                   config=dataclasses.replace(cfg, defer_fraction=0.8))  # fmt: skip
    assert [c.decision for c in deferred] == [
        "accept", "clash", "deferred", "below bar", "below bar", "deferred", "deferred",
    ]  # fmt: skip
    assert "defer_fraction" in deferred[2].reason
    # ... unless nothing else would be accepted: then the round takes what passes
    lone = FitResult(clusters=(hits[5],), fits={}, structures=(), level=0.1, resolution=6.0,
                     seed=1, config=FitConfig(), info={})  # fmt: skip
    assert [c.decision for c in evaluate_candidates(lone, [p, q], state)] == ["accept"]
    # at most one per round
    one = evaluate_candidates(
        result, [p, q], state, config=dataclasses.replace(cfg, max_per_round=1)
    )
    assert [c.decision for c in one][:3] == ["accept", "clash", "round full"]
    # placing the accepted ones: chain IDs, copy numbers, the reference cam of later rounds
    chosen = [c for c in cands if c.decision is Decision.ACCEPT]
    grid = DensityMap(np.zeros((8, 8, 8)), 1.0)
    rnd = accept_round(dataclasses.replace(state, working=grid), chosen, [p, q], config=cfg)
    labels = [pl.label for pl in rnd.state.placements]
    assert labels == ["p#1", "p#2", "q#1"]
    assert [pl.chains for pl in rnd.state.placements] == [("A",), ("B",), ("C",)]
    assert rnd.state.reference_cam("p") == pytest.approx(0.80) and rnd.state.rounds_done == 1
    with pytest.raises(ConfigError, match="not among"):
        evaluate_candidates(result, [p, q], state, copies={"r": 1})


# ---------------------------------------------------------------------------- the workflow
@pytest.fixture(scope="module")
def complex_run():
    m, p, q, truth = synthetic_complex()
    rounds = []
    res = composite(m, [p, q], config=CompositeConfig(fit=QUICK_FIT), seed=3, threads=2,
                    on_round=rounds.append)  # fmt: skip
    return m, p, q, truth, res, rounds


def test_composite_places_every_copy_and_stops_by_itself(complex_run):
    m, p, q, truth, res, rounds = complex_run
    by = {"p": p, "q": q}
    placed = sorted(pl.structure for pl in res.placements)
    assert placed == ["p", "p", "q"], res.stop_reason
    for pl in res.placements:
        assert pose_error(by[pl.structure], pl.transform, truth[pl.structure]) < 1.0, pl
    # the two copies of p are the two planted ones, not one twice
    e = [[rmsd(pl.transform.apply(p.coords_xyz), t.apply(p.coords_xyz)) for t in truth["p"]]
         for pl in res.placements if pl.structure == "p"]  # fmt: skip
    assert sorted(int(np.argmin(r)) for r in e) == [0, 1]
    # it stopped because the next candidate (the decoy blob) failed the confidence bar
    assert res.state.finished and res.stop_reason.startswith("nothing convincing left")
    assert "below bar" in res.stop_reason
    assert len(rounds) == len(res.rounds) >= 2 and rounds[-1].accepted == ()
    # no clashes among placements; chain IDs unique; the map was zeroed where they sit
    assert all(pl.clash_atoms == 0 for pl in res.placements)
    ids = [c for pl in res.placements for c in pl.chains]
    assert len(set(ids)) == len(ids)
    work = res.state.working
    for pl in res.placements:
        xyz = pl.transform.apply(by[pl.structure].coords_xyz)
        assert work.sample(xyz).mean() < 0.2 * m.sample(xyz).mean()


def test_composite_with_copies_stops_at_the_stoichiometry(complex_run):
    m, p, q, _, _, _ = complex_run
    res = composite(m, [p, q], copies={"p": 1, "q": 0}, config=CompositeConfig(fit=QUICK_FIT),
                    seed=3, threads=2)  # fmt: skip
    assert [pl.structure for pl in res.placements] == ["p"]
    assert res.stop_reason.startswith("stoichiometry met")
    assert len(res.rounds) == 1


def test_composite_resumes_from_a_state(complex_run):
    m, p, q, _, full, rounds = complex_run
    after_one = rounds[0].state
    res = composite(m, [p, q], config=CompositeConfig(fit=QUICK_FIT), seed=3, threads=2,
                    state=dataclasses.replace(after_one, finished=False, stop_reason=""))  # fmt: skip
    assert res.rounds[0].index == 2
    assert [pl.label for pl in res.placements] == [pl.label for pl in full.placements]
    with pytest.raises(ConfigError, match="another grid"):
        composite(DensityMap(np.zeros((5, 5, 5)), 1.0), [p, q], state=after_one)


def test_composite_rejects_bad_inputs(complex_run):
    m, p, q, *_ = complex_run
    with pytest.raises(ConfigError, match="copies"):
        composite(m, [p, q], copies={"p": -1})
    with pytest.raises(ConfigError, match="unique"):
        composite(m, [p, p])
    with pytest.raises(ConfigError, match="no structures"):
        composite(m, [])


# ---------------------------------------------------------------------------- files
def test_round_files_round_trip(complex_run, tmp_path):
    import gemmi

    from difffit.io.folders import RunFolder

    _, p, q, _, res, rounds = complex_run
    st0 = rounds[0].state
    run = RunFolder.create(tmp_path, map_path=tmp_path / "map.mrc", structures=[p, q],
                           copies={"p": None, "q": None}, config=CompositeConfig(fit=QUICK_FIT),
                           seed=3, level=st0.level, resolution=st0.resolution)  # fmt: skip
    for rnd in rounds:
        run.save_round(rnd, [p, q])
    assert run.rounds_done == len(rounds) and run.finished
    again = RunFolder.open(tmp_path)
    assert again.stop_reason == res.stop_reason and again.rounds == run.rounds
    assert [r.sources for r in again.rounds] == [
        tuple((r.index, pl.rank) for pl in r.accepted) for r in rounds
    ]
    state = again.load_state()
    assert state.rounds_done == len(rounds)
    np.testing.assert_array_equal(state.working.data, res.state.working.data)
    for a, b in zip(state.placements, res.placements, strict=True):
        assert (a.structure, a.copy, a.round, a.chains) == (b.structure, b.copy, b.round, b.chains)
        np.testing.assert_allclose(a.transform.to_r_t_flat(), b.transform.to_r_t_flat(), atol=1e-12)
    # the assembly: one chain per placement, unique IDs, atoms where the transforms put them
    asm = gemmi.read_structure(str(tmp_path / "assembly.cif"))
    chains = {ch.name: ch for ch in asm[0]}
    assert sorted(chains) == sorted(c for pl in res.placements for c in pl.chains)
    for pl in res.placements:
        st = p if pl.structure == "p" else q
        got = np.array([a.pos.tolist() for r in chains[pl.chains[0]] for a in r])
        np.testing.assert_allclose(got, pl.transform.apply(st.coords_xyz), atol=2e-3)
    for k in range(1, len(rounds) + 1):
        d = run.round_dir(k)
        assert (d / "working_map.mrc").exists() and (d / "candidates.csv").exists()
        assert (d / "fit" / "clusters.csv").exists()


def test_small_pieces_wait_and_refined_candidates_are_judged_on_their_model(rng):
    from difffit.composite.types import RefinedCopy, residue_index
    from difffit.fitting.restraints import GeometryReport

    big = protein_like(60, rng, name="big")
    small = protein_like(10, rng, name="small")  # < 0.25 x the atoms of big
    shift = lambda x: RigidTransform(np.eye(3), np.array([x, 0.0, 0.0]))  # noqa: E731
    hits = (_hit(1, "big", 0.80, shift(0)), _hit(2, "small", 0.79, shift(100)),
            _hit(3, "big", 0.40, shift(200)))  # fmt: skip
    result = FitResult(clusters=hits, fits={}, structures=(), level=0.1, resolution=6.0, seed=1,
                       config=FitConfig(), info={})  # fmt: skip
    state = CompositeState(0, DensityMap(np.zeros((4, 4, 4)), 1.0), (), 0.1, 6.0)
    cfg = CompositeConfig(min_cam=0.3, relative_cam=0.6)
    cands = evaluate_candidates(result, [big, small], state, config=cfg)
    assert [c.decision for c in cands] == ["accept", "deferred", "below bar"]
    assert "defer_small" in cands[1].reason
    off = evaluate_candidates(result, [big, small], state,
                              config=dataclasses.replace(cfg, defer_small=0.0))  # fmt: skip
    assert [c.decision for c in off][:2] == ["accept", "accept"]
    # rank 3 refined (a copy in another conformation): judged on its refined cam and model
    keys, _ = residue_index(big)
    motions = np.zeros((len(keys), 3, 4))
    motions[:, :, :3] = np.eye(3)
    motions[:, :, 3] = [200.0, 0.0, 0.0]
    g = GeometryReport(n_ca_ca=59, ca_ca_outliers=0, n_peptide=59, peptide_outliers=0, clashes=0)
    rc = RefinedCopy(residues=keys, motions=motions, shifts=np.zeros(len(keys)), domains=("A",),
                     cam_before=0.40, cam_after=0.75, correlation_before=0.6,
                     correlation_after=0.8, ca_rmsd_moved=0.0, geometry_input=g,
                     geometry_after=g)  # fmt: skip
    judged = evaluate_candidates(result, [big, small], state, config=cfg, refined={3: rc})
    assert judged[2].decision is Decision.ACCEPT and "refined flexibly" in judged[2].reason
    assert judged[2].relative_cam == pytest.approx(0.75 / 0.80)
    # accepted with config.flexible and the proposal's refined copy: the refined model is placed
    from difffit.composite.types import Proposal

    prop = Proposal(1, result, judged, 0.0, {3: rc})
    grid = DensityMap(np.zeros((8, 8, 8)), 1.0)
    rnd = accept_round(dataclasses.replace(state, working=grid), [judged[2]], [big, small],
                       config=dataclasses.replace(cfg, flexible=True), proposal=prop)  # fmt: skip
    (pl,) = rnd.state.placements
    assert pl.refined is rc
    np.testing.assert_allclose(pl.coords(big), big.coords_xyz + [200.0, 0.0, 0.0])
