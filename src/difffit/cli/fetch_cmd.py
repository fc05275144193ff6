"""``difffit fetch``: download maps and models by accession into the cache."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from difffit.cli.inputs import add_fetch_options
from difffit.io.fetch import Fetcher, describe, parse_accession

log = logging.getLogger("difffit")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fetch",
        help="download maps and models by accession (emdb:, pdb:, afdb:, uniprot:)",
        description=(
            "Download entries into difffit's cache (DIFFFIT_CACHE, default the user cache "
            "folder) and print where they are. EMDB entries come with their header: the "
            "recommended contour level and the resolution, which fit and composite use as "
            "defaults when given the same emdb: ID. A broken-off download resumes when run again."
        ),
    )
    p.add_argument("ids", nargs="+", metavar="ID",
                   help="emdb:3488, pdb:5me2, afdb:Q99J21 (model + PAE), uniprot:ID[,ID...]")  # fmt: skip
    add_fetch_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of lines")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    accs = [a for t in args.ids for a in parse_accession(t)]
    fetcher = Fetcher(mirror=args.mirror, cache=args.cache)
    entries = []
    for acc in accs:
        e = fetcher.fetch(acc)
        entries.append(describe(e))
        if not args.json:
            got = "cached" if all(e.cached.values()) else "downloaded"
            for kind, path in e.files.items():
                print(f"{acc}  {kind:<7} {path}")
            if e.accession.db == "emdb":
                print(f"{acc}  recommended level {e.level}, resolution {e.resolution} Å ({got})")
    if args.json:
        json.dump(entries, sys.stdout, indent=1)
        print()
    return 0
