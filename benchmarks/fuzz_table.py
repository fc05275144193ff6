"""Print the fuzz table of issue #13: every malformed map and structure of
``tests/fuzz/mutants.py`` through the command line, per class tried / clean error / correct
success / anything else (the last column must be all zeros).

    PYTHONPATH=src python benchmarks/fuzz_table.py [--json OUT.json] [--all]

``--all`` also lists each mutant that ended in anything else, with why. Runs in ~15 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.run import run_mutants, table, write_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="also write one row per mutant here")
    p.add_argument("--all", action="store_true", help="list the anything-else mutants")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="difffit-fuzz-") as tmp:
        rows = run_mutants(Path(tmp) / "fuzz")
    print(table(rows))
    if args.json:
        write_json(rows, args.json)
    bad = [r for r in rows if r["outcome"] == "anything else"]
    if args.all:
        for r in bad:
            print(f"{r['kind']} {r['name']}: exit {r['exit']}: {r['detail']}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
