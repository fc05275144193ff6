"""The golden pins' table comparison (tests/golden/cases.py): what it lets through, what not."""

from __future__ import annotations

from tests.golden.cases import table_digest, table_mismatches, write_reference

COLUMNS = ["rank", "structure", "cam", "q_value", "path"]


def _table(path, rows):
    head = "rank,structure,cam,q_value,path,fit_s\n"
    path.write_text(head + "".join(",".join(r) + "\n" for r in rows))
    return path


ROWS = [
    ["1", "A", "0.40042054213499400", "1.0470709350660216e-11", "/x/a.cif", "1.5"],
    ["2", "B", "0.3837624589256074", "nan", "/y/b.cif", "1.3"],
]


def test_last_bits_pass_and_real_changes_do_not(tmp_path):
    ref = tmp_path / "ref.csv"
    write_reference(_table(tmp_path / "a.csv", ROWS), COLUMNS, ref)
    # another machine: the last bits of the reals, other folders, other timings
    ulp = [
        ["1", "A", "0.4004205421349941", "1.0470709350660218e-11", "/z/a.cif", "9"],
        ["2", "B", "0.38376245892560745", "nan", "/w/b.cif", "8"],
    ]
    assert table_mismatches(_table(tmp_path / "b.csv", ulp), ref, COLUMNS, 1e-9) == []
    assert table_digest(tmp_path / "b.csv", COLUMNS) != table_digest(tmp_path / "a.csv", COLUMNS)
    moved = [r.copy() for r in ulp]
    moved[0][2] = "0.4004205"  # a changed fit
    moved[1][1] = "C"  # a changed row
    bad = table_mismatches(_table(tmp_path / "c.csv", moved), ref, COLUMNS, 1e-9)
    assert len(bad) == 2 and bad[0].startswith("row 1 cam") and bad[1].startswith("row 2 structure")
    swapped = [ulp[1], ulp[0]]  # another order
    assert table_mismatches(_table(tmp_path / "d.csv", swapped), ref, COLUMNS, 1e-9)
    assert table_mismatches(_table(tmp_path / "e.csv", ulp[:1]), ref, COLUMNS, 1e-9) == [
        "1 rows, pinned 2"
    ]


def test_integers_are_compared_as_text(tmp_path):
    ref = tmp_path / "ref.csv"
    write_reference(_table(tmp_path / "a.csv", ROWS), COLUMNS, ref)
    other = [r.copy() for r in ROWS]
    other[0][0] = "1.0000000001"  # not the integer rank 1
    assert table_mismatches(_table(tmp_path / "b.csv", other), ref, COLUMNS, 1e-9) == [
        "row 1 rank: '1.0000000001', pinned '1'"
    ]
