"""The golden runs of issue #10: CLI runs at fixed seeds whose tables must stay byte-identical.

``python -m tests.golden.cases OUT`` runs every case into ``OUT/<case>`` and prints the
sha256 of each pinned table; ``tests/golden/checksums.json`` holds the values taken from main
before the reshaping (commit 17a71db). ``tests/test_golden.py`` re-runs them and compares.
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


#: Columns of a table that change from run to run by nature (timings), dropped before hashing.
VOLATILE_COLUMNS = ("fit_s", "cpu_s")


def table_bytes(path: Path) -> bytes:
    """A table's bytes with timing columns dropped and paths cut to their file name."""
    import csv
    import io

    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    head = rows[0]
    keep = [i for i, c in enumerate(head) if c not in VOLATILE_COLUMNS]
    path_col = head.index("path") if "path" in head else -1
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for k, r in enumerate(rows):
        if k and path_col >= 0 and path_col < len(r):
            r = [*r[:path_col], Path(r[path_col]).name if r[path_col] else "", *r[path_col + 1 :]]
        w.writerow([r[i] for i in keep if i < len(r)])
    return buf.getvalue().encode()


def sha256(path: Path) -> str:
    if path.name == "candidates.csv" and "screen" in path.parent.name:
        return hashlib.sha256(table_bytes(path)).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_case(name: str, out: Path) -> dict[str, str]:
    """Run one case into ``out/name`` (threads 2) and return {table: sha256}."""
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
    return {t: sha256(folder / t) for t in tables}


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    names = argv[1:] or list(CASES)
    got = {n: run_case(n, out) for n in names}
    print(json.dumps(got, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
