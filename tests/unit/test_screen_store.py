"""Round trips of the screen database (``screen.sqlite``, :class:`ScreenStore`).

Whatever a candidate's record holds (every status, missing metrics as NaN, no transform,
clusters as JSON, any text), it reads back equal: from the same connection, after reopening
the folder, and filtered by SHA-256. The run identity (``meta``) reads back as written.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from difffit.errors import ResultsError
from difffit.results import TRANSFORM_COLUMNS
from difffit.screen.store import DB_FORMAT, DB_VERSION, ScreenStore
from difffit.screen.task import STATUSES, CandidateRecord


def same_record(a: CandidateRecord, b: CandidateRecord) -> None:
    """Field-by-field equality with NaN equal to NaN (dataclass == compares NaN unequal)."""
    for f in dataclasses.fields(CandidateRecord):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), f.name
        elif f.name == "clusters":
            # JSON: the same text (NaN written as NaN, tuples as lists)
            assert json.dumps(list(x)) == json.dumps(list(y)), f.name
        else:
            assert x == y and type(x) is type(y), (f.name, x, y)


def full_record(sha: str, status: str, **kw) -> CandidateRecord:
    base = dict(
        sha256=sha,
        name=f"cand {sha}",
        path=f"/lib/{sha}.cif.gz",
        status=status,
        reason="" if status == "done" else f"why {status}",
        n_atoms=1234,
        n_residues=150,
        seed=2**40 + 7,
        score=0.61,
        second_score=0.42,
        hits=17,
        correlation=0.83,
        cam=0.61,
        overlap=512.5,
        density=1.25,
        inside=0.97,
        n_clusters=4,
        transform=tuple(0.5 * v - 3.0 for v in range(12)),
        clusters=({"rank": 1, "cam": 0.61, "transform": [1.0, 0.0]}, {"rank": 2, "cam": 0.42}),
        fit_s=12.5,
        cpu_s=20.25,
        worker="tcp://127.0.0.1:4000",
    )
    base.update(kw)
    return CandidateRecord(**base)


VARIANTS = {
    "full": {},
    "no-metrics": dict(
        score=math.nan,
        second_score=math.nan,
        correlation=math.nan,
        cam=math.nan,
        overlap=math.nan,
        density=math.nan,
        inside=math.nan,
        cpu_s=math.nan,
        hits=0,
        n_clusters=0,
        transform=(),
        clusters=(),
    ),
    "one-cluster": dict(second_score=math.nan, n_clusters=1, clusters=({"rank": 1},)),
    "text": dict(name="Ünïcode 名前 'quoted' \"x\"", reason="line; DROP TABLE meta; --"),
    "zeros": dict(score=0.0, fit_s=0.0, seed=0, n_atoms=0, n_residues=0),
    "negative": dict(score=-1.5, second_score=-2.0, overlap=-0.0),
}


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
@pytest.mark.parametrize("status", STATUSES)
def test_every_record_reads_back_equal(tmp_path, status, variant):
    rec = full_record("s1", status, **VARIANTS[variant])
    other = full_record("s2", "done")
    with ScreenStore(tmp_path) as st:
        st.record(rec)
        st.record(other)
        same_record(st.records()["s1"], rec)
        assert st.count() == 2
    with ScreenStore(tmp_path) as st:  # reopened: the same rows
        got = st.records()
        assert set(got) == {"s1", "s2"}
        same_record(got["s1"], rec)
        same_record(got["s2"], other)
        assert set(st.records(["s2", "missing"])) == {"s2"}
        assert st.records([]) == {}


def test_a_record_replaces_the_older_one_of_its_file(tmp_path):
    with ScreenStore(tmp_path) as st:
        st.record(full_record("s1", "failed", reason="MemoryError"))
        st.record(full_record("s1", "done", score=0.9))
        assert st.count() == 1
        assert st.records()["s1"].status == "done" and st.records()["s1"].score == 0.9


def test_transform_columns_are_named_in_the_table(tmp_path):
    rec = full_record("s1", "done")
    with ScreenStore(tmp_path) as st:
        st.record(rec)
    con = sqlite3.connect(tmp_path / ScreenStore.FILE)
    try:
        row = con.execute(
            f"SELECT {', '.join(TRANSFORM_COLUMNS)}, clusters FROM candidates"
        ).fetchone()
    finally:
        con.close()
    assert tuple(row[:12]) == rec.transform
    assert json.loads(row[12]) == json.loads(json.dumps(list(rec.clusters)))


@pytest.mark.parametrize(
    "run",
    [
        {},
        {"seed": 1},
        {"seed": 3, "map": {"sha256": "ab", "shape_zyx": [4, 5, 6]}, "fit": {"a": [1, 2.5]}},
        {"name": "Ünïcode", "nested": {"deeper": {"x": None, "y": True}}},
    ],
)
def test_run_identity_round_trip(tmp_path, run):
    with ScreenStore(tmp_path) as st:
        assert st.stored_run() is None
        st.begin_run(run, "hash-1", version="9.9")
    with ScreenStore(tmp_path) as st:
        meta = st.meta()
        assert st.stored_run() == run
        st.begin_run(run, "hash-1", version="9.9")  # the same run: resumes silently
    assert meta["format"] == DB_FORMAT
    assert meta["format_version"] == str(DB_VERSION)
    assert meta["run_hash"] == "hash-1"
    assert meta["difffit_version"] == "9.9"


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format", "something-else", "not a difffit screen database"),
        ("format_version", str(DB_VERSION + 1), "newer than this difffit reads"),
    ],
)
def test_foreign_or_newer_databases_are_refused(tmp_path, key, value, match):
    with ScreenStore(tmp_path) as st:
        st.begin_run({"seed": 1}, "h")
    con = sqlite3.connect(tmp_path / ScreenStore.FILE)
    con.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    con.commit()
    con.close()
    with ScreenStore(tmp_path) as st, pytest.raises(ResultsError, match=match):
        st.stored_run()


def test_close_twice_and_reopen(tmp_path):
    st = ScreenStore(tmp_path)
    st.record(full_record("s1", "skipped"))
    st.close()
    st.close()  # closing again does nothing
    with ScreenStore(tmp_path) as again:  # the lock was released
        assert again.count() == 1


# ------------------------------------------------------------------ properties
texts = hs.text(hs.characters(exclude_categories=["Cs"]), max_size=30)
reals = hs.one_of(hs.just(math.nan), hs.floats(allow_nan=False))
ints = hs.integers(-(2**63), 2**63 - 1)
cluster_dicts = hs.dictionaries(
    hs.text("abcdefgh_", min_size=1, max_size=8),
    hs.one_of(hs.integers(-(2**31), 2**31), hs.floats(allow_nan=False, allow_infinity=False)),
    max_size=4,
)


@settings(max_examples=20)  # each example opens a database and fsyncs a record
@given(
    sha=hs.text("0123456789abcdef", min_size=1, max_size=64),
    name=texts,
    path=texts,
    status=hs.sampled_from(STATUSES),
    reason=texts,
    counts=hs.tuples(ints, ints, ints, ints, ints),
    metrics=hs.tuples(*[reals] * 9),
    transform=hs.one_of(hs.just(()), hs.tuples(*[hs.floats(-1e6, 1e6)] * 12)),
    clusters=hs.lists(cluster_dicts, max_size=3).map(tuple),
    worker=texts,
)
def test_any_record_round_trips(
    sha, name, path, status, reason, counts, metrics, transform, clusters, worker
):
    n_atoms, n_residues, seed, hits, n_clusters = counts
    score, second, corr, cam, overlap, density, inside, fit_s, cpu_s = metrics
    rec = CandidateRecord(
        sha256=sha,
        name=name,
        path=path,
        status=status,
        reason=reason,
        n_atoms=n_atoms,
        n_residues=n_residues,
        seed=seed,
        score=score,
        second_score=second,
        hits=hits,
        correlation=corr,
        cam=cam,
        overlap=overlap,
        density=density,
        inside=inside,
        n_clusters=n_clusters,
        transform=transform,
        clusters=clusters,
        fit_s=fit_s,
        cpu_s=cpu_s,
        worker=worker,
    )
    with tempfile.TemporaryDirectory() as tmp, ScreenStore(tmp) as st:
        st.record(rec)
        same_record(st.records()[sha], rec)
