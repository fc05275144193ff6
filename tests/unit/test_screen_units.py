"""Screening building blocks: library discovery, seeds, pre-filter, confidence, database."""

from __future__ import annotations

import gzip
import math
import shutil
import sqlite3

import numpy as np
import pytest
from scipy import stats

from difffit.errors import ConfigError, ResultsError
from difffit.io import write_structure
from difffit.screen.confidence import MIN_LIBRARY, bh_adjust, library_confidence
from difffit.screen.library import candidate_seed, file_sha256, find_library
from difffit.screen.prefilter import ATOM_VOLUME, size_check
from difffit.screen.store import ScreenStore
from difffit.screen.task import CandidateRecord
from tests.synthetic import protein_like


# --------------------------------------------------------------------------------- library
@pytest.fixture
def pdb_tree(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "deep").mkdir(parents=True)
    write_structure(protein_like(12, rng), tmp_path / "a" / "x.pdb")
    write_structure(protein_like(14, rng), tmp_path / "a" / "y.pdb")
    write_structure(protein_like(16, rng), tmp_path / "b" / "deep" / "x.pdb")  # same stem as a/x
    raw = (tmp_path / "a" / "y.pdb").read_bytes()
    (tmp_path / "b" / "copy_of_y.pdb").write_bytes(raw)  # byte-identical duplicate
    write_structure(protein_like(18, rng), tmp_path / "b" / "z.pdb")
    with gzip.open(tmp_path / "b" / "w.cif.gz", "wb") as fh:  # a name is enough here
        fh.write(b"data_w\n")
    (tmp_path / "b" / "notes.txt").write_text("not a structure")
    return tmp_path


def test_find_library_folders_files_globs(pdb_tree):
    entries, n_dup = find_library([pdb_tree])
    names = sorted(e.name for e in entries)
    # stems made unique with their folders; the duplicate left out; .txt ignored; .gz found
    assert n_dup == 1
    assert names == sorted(["a/x", "deep/x", "y", "z", "w"])  # a/y.pdb sorts before b/copy_of_y
    assert len({e.sha256 for e in entries}) == len(entries)
    assert all(e.sha256 == file_sha256(e.path) for e in entries)
    # a glob and a file give the same entries, in a deterministic order
    by_glob, _ = find_library([str(pdb_tree / "a" / "*.pdb")])
    assert [e.name for e in by_glob] == ["x", "y"]
    again, _ = find_library([str(pdb_tree / "a" / "*.pdb")])
    assert again == by_glob
    single, _ = find_library([pdb_tree / "b" / "z.pdb"])
    assert [e.name for e in single] == ["z"]


def test_find_library_errors(pdb_tree, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        find_library([tmp_path / "missing"])
    with pytest.raises(ConfigError, match="matches no structure"):
        find_library([str(tmp_path / "*.xyz")])
    with pytest.raises(ConfigError, match="not a structure file"):
        find_library([pdb_tree / "b" / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no structure files"):
        find_library([tmp_path / "empty"])
    with pytest.raises(ConfigError, match="no library"):
        find_library([])


def test_candidate_seed_depends_on_run_seed_and_bytes_only():
    a, b = "ab" * 32, "cd" * 32
    assert candidate_seed(1, a) == candidate_seed(1, a)
    assert candidate_seed(1, a) != candidate_seed(2, a)
    assert candidate_seed(1, a) != candidate_seed(1, b)
    assert 0 <= candidate_seed(7, b) < 2**31


# ------------------------------------------------------------------------------- prefilter
def test_size_check():
    fp, box = 10_000.0, 100_000.0
    ok = size_check(1000, footprint_volume=fp, box_volume=box)
    assert ok.status == "ok" and ok.volume_ratio == pytest.approx(1000 * ATOM_VOLUME / fp)
    # ratio 10 is the default limit: 5,556 atoms x 18 Å³ = 100,008 Å³ > 10 x 10,000
    assert size_check(5000, footprint_volume=fp, box_volume=box).status == "ok"
    f = size_check(5556, footprint_volume=fp, box_volume=1e7)
    assert f.status == "filtered" and "pre-filter" in f.reason
    assert (
        size_check(5556, footprint_volume=fp, box_volume=1e7, max_volume_ratio=None).status == "ok"
    )
    s = size_check(6000, footprint_volume=fp, box_volume=box, max_volume_ratio=None)
    assert s.status == "skipped" and "map box" in s.reason
    with pytest.raises(ConfigError):
        size_check(10, footprint_volume=fp, box_volume=box, max_volume_ratio=0)


# ------------------------------------------------------------------------------ confidence
def test_bh_adjust_matches_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.2])
    q = bh_adjust(p)
    # by hand: sorted p 0.005 0.01 0.03 0.04 0.2 0.5 x n/rank = 0.03 0.03 0.06 0.06 0.24 0.5
    expected = np.array([0.03, 0.06, 0.06, 0.03, 0.5, 0.24])
    np.testing.assert_allclose(q, expected)
    if hasattr(stats, "false_discovery_control"):
        np.testing.assert_allclose(q, stats.false_discovery_control(p, method="bh"))
    assert bh_adjust(np.array([])).shape == (0,)


def _gumbel_library(rng, n, atoms):
    """Best-of-many correlations of wrong candidates: u = atanh(r) sqrt(atoms) ~ Gumbel."""
    u = rng.gumbel(2.0, 0.25, size=n)
    return np.tanh(u / np.sqrt(atoms)), atoms


def test_planted_hits_are_significant_and_null_candidates_are_not():
    rng = np.random.default_rng(0)
    atoms = rng.integers(300, 4000, size=300)
    r, _ = _gumbel_library(rng, 300, atoms)
    hits_r = np.array([0.6, 0.55])
    hits_atoms = np.array([1700, 400])
    conf = library_confidence(np.r_[r, hits_r], np.r_[atoms, hits_atoms], metric="cam")
    assert conf.significant[-2:].all() and not conf.significant[:-2].any()
    # u removes the size trend: small wrong candidates have higher r but not higher u
    small, large = atoms < 800, atoms > 3000
    assert r[small].mean() > 2 * r[large].mean()
    assert abs(conf.u[:-2][small].mean() - conf.u[:-2][large].mean()) < 0.15
    # the null is estimated from the library; the hits do not move it (quartiles)
    alone = library_confidence(r, atoms, metric="cam")
    assert conf.null.mu == pytest.approx(alone.null.mu, abs=0.02)
    assert conf.null.beta == pytest.approx(alone.null.beta, rel=0.05)
    assert conf.null.mu == pytest.approx(2.0, abs=0.05) and conf.null.beta == pytest.approx(
        0.25, rel=0.15
    )
    # statistic and z by their definitions
    assert conf.u[-1] == pytest.approx(np.arctanh(0.55) * np.sqrt(400))
    assert conf.z[-1] == pytest.approx((conf.u[-1] - conf.null.median) / conf.null.robust_sd)
    assert conf.p[-1] == pytest.approx(stats.gumbel_r.sf(conf.u[-1], conf.null.mu, conf.null.beta))


def test_gumbel_null_is_calibrated_where_a_normal_one_is_not():
    calls = 0
    normal_calls = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        atoms = rng.integers(300, 4000, size=150)
        r, _ = _gumbel_library(rng, 150, atoms)
        conf = library_confidence(r, atoms, metric="cam", alpha=0.05)
        calls += int(conf.significant.any())
        # the same library with a normal null (median, MAD) and BH
        p_norm = stats.norm.sf(conf.z)
        normal_calls += int((bh_adjust(p_norm) < 0.05).any())
    # all candidates are null: BH at 0.05 should call something in ~5 % of the libraries (the
    # estimated null adds a little: ~7 % in long simulations); a normal null calls in most
    assert calls <= 8
    assert normal_calls >= 40


def test_small_or_degenerate_library_gives_no_confidence():
    k = MIN_LIBRARY - 1
    few = library_confidence(np.linspace(0.1, 0.9, k), np.full(k, 500), metric="cam")
    assert few.null is None and np.isnan(few.z).all() and not few.significant.any()
    assert np.isfinite(few.u).all()  # the ranking statistic is still there
    flat = library_confidence(np.full(20, 0.3), np.full(20, 500), metric="cam")
    assert flat.null is None
    raw = library_confidence(np.arange(20.0), np.full(20, 500), metric="overlap")
    assert raw.null.normalisation == "none" and raw.null.median == pytest.approx(9.5)
    np.testing.assert_array_equal(raw.u, np.arange(20.0))
    with pytest.raises(ConfigError):
        library_confidence(np.arange(20.0), np.full(20, 500), metric="cam", alpha=1.5)


# -------------------------------------------------------------------------------- database
def _rec(sha: str, status: str = "done", score: float = 0.5) -> CandidateRecord:
    return CandidateRecord(
        sha256=sha,
        name=f"n{sha}",
        path=f"/x/{sha}.pdb",
        status=status,
        n_atoms=10,
        n_residues=2,
        seed=4,
        score=score,
        second_score=math.nan,
        hits=3,
        correlation=0.7,
        cam=score,
        overlap=0.1,
        density=0.2,
        inside=0.5,
        n_clusters=2,
        transform=tuple(float(v) for v in range(12)),
        clusters=({"rank": 1, "cam": score},),
        fit_s=1.5,
        cpu_s=1.2,
        worker="local",
    )


def test_store_round_trip_and_wal(tmp_path):
    with ScreenStore(tmp_path / "out") as st:
        st.begin_run({"seed": 1, "fit_options": {"a": 1}}, "h1")
        st.record(_rec("s1"))
        st.record(
            CandidateRecord(sha256="s2", name="n2", path="/p", status="filtered", reason="big")
        )
        st.record(_rec("s1", score=0.6))  # replaces
        got = st.records()
    assert set(got) == {"s1", "s2"}
    assert got["s1"] == _rec("s1", score=0.6)
    assert (
        got["s2"].status == "filtered" and math.isnan(got["s2"].score) and got["s2"].transform == ()
    )
    con = sqlite3.connect(tmp_path / "out" / "screen.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # a database of the first version-1 layout (no cpu_s) gets the column on opening
    con.execute("ALTER TABLE candidates DROP COLUMN cpu_s")
    con.commit()
    con.close()
    with ScreenStore(tmp_path / "out") as st:
        assert math.isnan(st.records()["s1"].cpu_s)
        st.record(_rec("s3"))
        assert st.records()["s3"].cpu_s == 1.2


def test_store_refuses_another_run_and_a_second_writer(tmp_path, caplog):
    out = tmp_path / "out"
    with ScreenStore(out) as st:
        st.begin_run({"seed": 1, "fit_options": {"search": {"n_rotations": 10}}}, "h1")
        with pytest.raises(ConfigError, match="another difffit screen"):
            ScreenStore(out)
    with ScreenStore(out) as st:
        st.begin_run({"seed": 1, "fit_options": {"search": {"n_rotations": 10}}}, "h1")  # same: ok
        with pytest.raises(ConfigError, match=r"fit_options\.search.*another --out"):
            st.begin_run({"seed": 1, "fit_options": {"search": {"n_rotations": 20}}}, "h2")
        with pytest.raises(ConfigError, match="seed"):
            st.begin_run({"seed": 2, "fit_options": {"search": {"n_rotations": 10}}}, "h3")
    with ScreenStore(out) as st:  # another difffit version: resumed, with a warning
        st.begin_run(
            {"seed": 1, "fit_options": {"search": {"n_rotations": 10}}}, "h1", version="0.0.1"
        )
    assert "mixed" in caplog.text
    shutil.rmtree(out)
    out.mkdir()
    (out / "screen.sqlite").write_text("this is not a database, but long enough to be read" * 40)
    with pytest.raises(ResultsError, match="SQLite database"):
        ScreenStore(out)


def test_null_quantile_inverts_p_value():
    rng = np.random.default_rng(1)
    atoms = rng.integers(300, 3000, size=50)
    r, _ = _gumbel_library(rng, 50, atoms)
    null = library_confidence(r, atoms, metric="cam").null
    for p in (0.5, 1e-3, 1e-8):
        assert null.p_value(np.array([null.u_at(p)]))[0] == pytest.approx(p, rel=1e-6)


def test_worker_count_follows_available_memory(caplog):
    from difffit.screen.executors import available_memory_bytes, plan_workers, worker_memory_bytes
    from difffit.screen.task import WorkerContext
    from tests.screen_cases import FAST_FIT

    ctx = WorkerContext(density=None, map_sha256="x", config=FAST_FIT)  # type: ignore[arg-type]
    big = WorkerContext(
        density=None,
        map_sha256="x",  # type: ignore[arg-type]
        config=FAST_FIT.replace(search=FAST_FIT.search.replace(n_rotations=2400)),
    )
    assert worker_memory_bytes(big) > worker_memory_bytes(ctx) > 300 * 2**20
    per = worker_memory_bytes(ctx)
    assert plan_workers(4, ctx, available=10 * per) == 4
    assert plan_workers(4, ctx, available=int(2.5 * per)) == 2
    assert "using 2" in caplog.text
    assert plan_workers(4, ctx, available=per // 2) == 1
    avail = available_memory_bytes()
    assert avail is None or avail > 0


def test_scores_plot_title_says_when_nothing_was_tested():
    from difffit.screen.confidence import MIN_LIBRARY
    from difffit.screen.plot import significance_title

    untested = significance_title(3, 0, 0.01, None)
    assert "not tested" in untested and "significant at FDR" not in untested
    assert str(MIN_LIBRARY) in untested
    assert significance_title(40, 2, 0.01, object()) == "40 candidates, 2 significant at FDR 0.01"
