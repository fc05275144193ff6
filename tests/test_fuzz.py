"""The fuzz suite of issue #13: every malformed map and structure of :mod:`tests.fuzz.mutants`
through the command line ends in a clean one-line error or a correct result, never in an
internal error, a traceback or a wrong answer (``python benchmarks/fuzz_table.py`` prints the
table)."""

from __future__ import annotations

import collections

import pytest

from tests.fuzz.mutants import map_mutants, structure_mutants
from tests.fuzz.run import run_mutants, table, write_json


def test_the_generator_is_deterministic_and_big_enough():
    maps, structures = map_mutants(), structure_mutants()
    assert len(maps) >= 300 and len(structures) >= 100
    assert [m.name for m in maps] == [m.name for m in map_mutants()]
    names = [m.name for m in maps + structures]
    assert len(set(names)) == len(names)
    classes = collections.Counter(m.cls for m in maps + structures)
    assert len(classes) >= 20
    # the suite is no trivially-refused pile: plenty of mutants have a correct reading
    assert sum(m.expect is not None for m in maps) >= 100


@pytest.mark.slow
def test_no_mutant_ends_in_anything_else(tmp_path):
    rows = run_mutants(tmp_path / "fuzz")
    write_json(rows, tmp_path / "fuzz.json")
    print("\n" + table(rows))
    bad = [f"{r['name']}: exit {r['exit']}: {r['detail']}" for r in rows if r["outcome"] ==
           "anything else"]  # fmt: skip
    assert not bad, "\n".join(bad)
    assert all(r["exit"] != 70 for r in rows)
    got = collections.Counter(r["outcome"] for r in rows)
    assert got["clean error"] >= 200 and got["correct success"] >= 100
