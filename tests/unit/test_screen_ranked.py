"""The ranking that reads its records from the database (:mod:`difffit.screen.ranked`), the
summaries the screen's bookkeeping reads instead of records, and read-only reading after the
store is closed."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest

from difffit.errors import ResultsError
from difffit.screen.ranked import RankedCandidate, RankedCandidates, StoredRecords
from difffit.screen.store import READ_CHUNK, ScreenStore, Summary, read_records
from difffit.screen.task import STATUSES

from .test_screen_store import VARIANTS, full_record, same_record


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
@pytest.mark.parametrize("status", STATUSES)
def test_summaries_are_the_records_numbers(tmp_path, status, variant):
    rec = full_record("s1", status, **VARIANTS[variant])
    with ScreenStore(tmp_path) as st:
        st.record(rec)
        st.record(full_record("s2", "done"), table="cheap")
        got = st.summaries()
        assert set(got) == {"s1"} and set(st.summaries(table="cheap")) == {"s2"}
        assert st.summaries(["missing"]) == {}
    want = Summary.of(rec)
    for name, a, b in zip(Summary._fields, got["s1"], want, strict=True):
        if isinstance(b, float) and math.isnan(b):
            assert math.isnan(a), name
        else:
            assert a == b and type(a) is type(b), (name, a, b)


def _filled(folder, n: int, table: str = "candidates") -> list[str]:
    shas = [f"{i:064x}" for i in range(n)]
    with ScreenStore(folder) as st:
        for i, s in enumerate(shas):
            st.record(full_record(s, "done", score=i / n, n_atoms=100 + i), table=table)
    return shas


def test_read_records_after_the_store_is_closed_in_chunks(tmp_path):
    shas = _filled(tmp_path, READ_CHUNK + 7)
    got = read_records(tmp_path, shas[::-1] + ["not-there"])
    assert list(got) != [] and set(got) == set(shas)
    with ScreenStore(tmp_path) as st:  # a writer holding the lock does not stop a reader
        same_record(read_records(tmp_path, [shas[3]])[shas[3]], st.records([shas[3]])[shas[3]])
    with pytest.raises(ResultsError, match="database is gone"):
        read_records(tmp_path / "elsewhere", shas[:1])


def _ranking(folder, shas, cheap):
    n = len(shas)
    order = list(range(n))[::-1]  # best first: the highest score was written last
    return RankedCandidates(
        folder,
        [shas[i] for i in order],
        np.array([cheap[i] for i in order]),
        [f"name {i}" for i in order],
        [f"/here/{i}.cif" for i in order],
        u=np.arange(n, dtype=float)[order],
        z=np.full(n, 1.5),
        p=np.full(n, 0.25),
        q=np.full(n, 0.5),
        significant=np.arange(n)[order] >= n - 2,
    )


def test_ranked_candidates_read_like_the_tuple_they_replace(tmp_path):
    n = READ_CHUNK + 30
    shas = _filled(tmp_path, n)
    cheap_shas = _filled(tmp_path, 3, table="cheap")  # the first three: cheap stage only
    cheap = [i < 3 for i in range(n)]
    assert cheap_shas == shas[:3]
    ranked = _ranking(tmp_path, shas, cheap)
    items = list(ranked)  # streams, READ_CHUNK at a time
    assert len(items) == len(ranked) == n
    assert [c.rank for c in items] == list(range(1, n + 1))
    assert all(isinstance(c, RankedCandidate) for c in items)
    assert items[0].record.sha256 == shas[-1] and items[0].norm_score == n - 1
    assert items[0].record.name == f"name {n - 1}"  # this run's names, not the stored ones
    assert items[0].record.path == f"/here/{n - 1}.cif"
    assert [c.search for c in items[-3:]] == ["cheap"] * 3 and items[-4].search == "full"
    assert items[0].significant and items[1].significant and not items[2].significant
    assert ranked[0] == items[0] and ranked[-1] == items[-1] and ranked[n - 1] == items[-1]
    assert ranked[:5] == tuple(items[:5]) and ranked[10:3:-2] == tuple(items[10:3:-2])
    assert ranked.take([7, 2]) == (items[7], items[2])
    assert ranked.sha256s == tuple(c.record.sha256 for c in items)
    with pytest.raises(IndexError):
        ranked[n]
    with pytest.raises(IndexError):
        ranked[-n - 1]
    # a record read back is the stored one but for the name and path given in this run
    stored = read_records(tmp_path, [shas[5]])[shas[5]]
    same_record(ranked[n - 1 - 5].record, dataclasses.replace(stored, name="name 5",
                                                              path="/here/5.cif"))  # fmt: skip
    rest = StoredRecords(tmp_path, shas[:2], np.zeros(2, bool), ["a", "b"], ["pa", "pb"])
    assert [r.name for r in rest] == ["a", "b"] and rest[1].sha256 == shas[1]


def test_the_ranking_holds_no_records(tmp_path):
    """What the ranking of 20,000 candidates holds in memory: a few numbers and references
    each, not records (a record with its clusters is a few kB)."""
    n = 20_000
    shas = [f"{i:064x}" for i in range(n)]
    names = [f"AF-{i:06d}-F1-model_v4" for i in range(n)]
    paths = [f"/lib/shard.tar::{nm}.cif.gz" for nm in names]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ranked = RankedCandidates(
        tmp_path, shas, np.zeros(n, bool), names, paths,
        u=np.zeros(n), z=np.zeros(n), p=np.zeros(n), q=np.zeros(n),
        significant=np.zeros(n, bool),
    )  # fmt: skip
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(ranked) == n
    assert held / n < 100, f"{held / n:.0f} bytes per candidate"
