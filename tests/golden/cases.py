"""The golden runs of issue #10: CLI runs at fixed seeds whose tables must stay byte-identical.

``python -m tests.golden.cases OUT`` runs every case into ``OUT/<case>`` and prints the
sha256 of each pinned table; ``tests/golden/checksums.json`` holds the values taken from main
before the reshaping (commit 17a71db). ``tests/test_golden.py`` re-runs them and compares.

A table whose values pass through NumPy's transcendental functions (the screen's statistics:
``arctanh``, the null's ``exp`` and ``log``) cannot be byte-identical across machines: NumPy
picks their SIMD code by the CPU (AVX-512 or not), and the last bits differ. Such a table is
pinned by a reference table instead (``"reference"`` in ``checksums.json``): text and integers
byte for byte, reals to ``"rtol"`` relative or ``"atol"`` absolute (far below any change of
the fits or the statistics).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))
CHECKSUMS = Path(__file__).resolve().parent / "checksums.json"

HB = "ccpem_emd3488_haemoglobin"
HCN4 = "mainmastseg_emd0093_hcn4"
DEMO = "difffit_domainfit_demo"

#: case -> (CLI arguments with {data} and {out}, tables to pin relative to the case folder)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "fit-demo": (
        [
            "fit",
            "{data}/" + DEMO + "/density2.mrc",
            "{data}/" + DEMO + "/subunits_cif/I7MLV6_D3.pdb",
            "--resolution",
            "4",
            "--seed",
            "1",
        ],
        ["clusters.csv", "fits.csv"],
    ),
    "fit-haemoglobin": (
        [
            "fit",
            "{data}/" + HB + "/emd_3488.mrc",
            "{data}/" + HB + "/5me2.pdb",
            "--chains",
            "A",
            "--resolution",
            "3.2",
            "--seed",
            "1",
        ],
        ["clusters.csv", "fits.csv"],
    ),
    "fit-hcn4": (
        [
            "fit",
            "{data}/" + HCN4 + "/MAP_m4A.mrc.gz",
            "{data}/" + HCN4 + "/6gyn.pdb",
            "--chains",
            "A",
            "--resolution",
            "3.4",
            "--seed",
            "1",
        ],
        ["clusters.csv", "fits.csv"],
    ),
    "composite-haemoglobin": (
        [
            "composite",
            "{data}/" + HB + "/emd_3488.mrc",
            "{data}/" + HB + "/5me2.pdb:A",
            "{data}/" + HB + "/5me2.pdb:B",
            "--copies",
            "5me2_A=2",
            "5me2_B=2",
            "--resolution",
            "3.2",
            "--seed",
            "1",
        ],
        ["placements.csv", "round_001/candidates.csv", "round_001/fit/clusters.csv"],
    ),
    "composite-hcn4": (
        [
            "composite",
            "{data}/" + HCN4 + "/MAP_m4A.mrc.gz",
            "{data}/" + HCN4 + "/6gyn.pdb:A",
            "--copies",
            "4",
            "--resolution",
            "3.4",
            "--seed",
            "1",
        ],
        ["placements.csv", "round_001/candidates.csv", "round_001/fit/clusters.csv"],
    ),
    "screen-demo": (
        [
            "screen",
            "{data}/" + DEMO + "/density2.mrc",
            "{data}/" + DEMO + "/subunits_cif",
            "{library}",
            "--resolution",
            "4",
            "--seed",
            "1",
            "--workers",
            "2",
        ],
        ["candidates.csv"],
    ),
}


def split_library(folder: Path) -> Path:
    """Every chain of every large complex, one mmCIF file each (difffit's own splitting)."""
    from difffit.io import read_structure, write_structure
    from difffit.split import split_chains

    folder.mkdir(parents=True, exist_ok=True)
    for f in sorted((DATA / "large_complexes").glob("*.gz")):
        for part in split_chains(read_structure(f)):
            path = folder / f"{part.name}.cif"
            if not path.exists():
                write_structure(part, path)
    return folder


#: Columns of a table that change from run to run by nature (timings), never pinned.
VOLATILE_COLUMNS = ("fit_s", "cpu_s")


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    import csv

    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def pinned_columns(path: Path) -> list[str]:
    """The columns of a table that the pin covers: all but the volatile ones."""
    return [c for c in read_table(path)[0] if c not in VOLATILE_COLUMNS]


def pinned_rows(path: Path, columns: list[str]) -> list[list[str]]:
    """The table's rows restricted to ``columns`` (in that order; paths cut to file names)."""
    head, rows = read_table(path)
    missing = [c for c in columns if c not in head]
    if missing:
        raise AssertionError(f"{path}: pinned columns missing: {missing}")
    idx = [head.index(c) for c in columns]
    k = columns.index("path") if "path" in columns else None
    out = []
    for r in rows:
        row = [r[i] for i in idx]
        if k is not None:
            row[k] = Path(row[k]).name if row[k] else ""
        out.append(row)
    return out


def _csv_text(columns: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


def table_digest(path: Path, columns: list[str]) -> str:
    """sha256 of the table restricted to ``columns`` (in that order; paths cut to file names).

    Columns added later do not change the digest; a changed value, row or row order does.
    """
    return hashlib.sha256(_csv_text(columns, pinned_rows(path, columns)).encode()).hexdigest()


def _is_real(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return any(c in text.lower() for c in ".en")  # 0.5, 1e-09, nan, inf; not an integer


def table_mismatches(
    path: Path, reference: Path, columns: list[str], rtol: float, atol: float = 0.0
) -> list[str]:
    """How the table differs from the pinned ``reference`` (the same columns and rows): text
    and integers byte for byte, reals within ``rtol`` relative or ``atol`` absolute (a value
    near zero, such as a z-score, keeps its absolute error only; NaN equals NaN). Empty when
    it matches."""
    import math

    want_head, want = read_table(reference)
    if want_head != columns:
        return [f"{reference}: its columns are not the pinned ones"]
    got = pinned_rows(path, columns)
    if len(got) != len(want):
        return [f"{len(got)} rows, pinned {len(want)}"]
    bad = []
    for i, (g_row, w_row) in enumerate(zip(got, want, strict=True)):
        for c, g, w in zip(columns, g_row, w_row, strict=True):
            if g == w:
                continue
            if _is_real(g) and _is_real(w):
                a, b = float(g), float(w)
                if (math.isnan(a) and math.isnan(b)) or math.isclose(
                    a, b, rel_tol=rtol, abs_tol=atol
                ):
                    continue
            bad.append(f"row {i + 1} {c}: {g!r}, pinned {w!r}")
    return bad


def run_case(name: str, out: Path, pins: dict | None = None) -> dict[str, dict]:
    """Run one case into ``out/name`` (threads 2); returns {table: {"columns", "sha256"}} over
    the columns of ``pins`` (default: the table's own non-volatile columns), and for a table
    pinned by a reference table (``"reference"``, ``"rtol"``) its ``"mismatches"`` too."""
    from difffit.cli import main

    args, tables = CASES[name]
    folder = out / name
    library = str(split_library(out / "library")) if "{library}" in args else ""
    argv = [a.format(data=DATA, out=out, library=library) for a in args]
    argv += ["--out", str(folder), "-q"]
    if argv[0] != "screen":
        argv += ["--threads", "2"]
    rc = main(argv)
    if rc != 0:
        raise RuntimeError(f"{name}: difffit exited {rc}")
    got = {}
    for t in tables:
        cols = pins[t]["columns"] if pins else pinned_columns(folder / t)
        got[t] = {"columns": cols, "sha256": table_digest(folder / t, cols)}
        if pins and "reference" in pins[t]:
            ref = CHECKSUMS.parent / pins[t]["reference"]
            got[t]["mismatches"] = table_mismatches(
                folder / t, ref, cols, pins[t]["rtol"], pins[t].get("atol", 0.0)
            )
    return got


def write_reference(path: Path, columns: list[str], dest: Path) -> None:
    """Write the pinned columns of a table as a reference table (``table_mismatches``)."""
    dest.write_text(_csv_text(columns, pinned_rows(path, columns)))


def main(argv: list[str]) -> int:
    """Run the cases; print each table's digest, and write the reference tables of those
    pinned by one into ``OUT`` (under their pinned names, to copy beside ``checksums.json``)."""
    out = Path(argv[0])
    names = argv[1:] or list(CASES)
    pins = json.loads(CHECKSUMS.read_text())
    got = {}
    for n in names:
        got[n] = run_case(n, out)
        for t, pin in pins.get(n, {}).items():
            if "reference" in pin:
                dest = out / pin["reference"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                write_reference(out / n / t, pin["columns"], dest)
    print(json.dumps(got, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
