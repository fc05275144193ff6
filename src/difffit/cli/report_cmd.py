"""``difffit report RESULTS [-o FILE]``: one self-contained HTML page of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML page of a fit, composite or screen folder",
        description="Write report.html: the results table, plots (score distribution, hits, "
        "z) and a static 3D view of the map and the top models, in one file with no external "
        "resource, to open from disk (no server) or send to a collaborator.",
    )
    p.add_argument("results", type=Path, metavar="RESULTS",
                   help="a fit results folder, a composite run folder or a screen folder")  # fmt: skip
    p.add_argument("-o", "--out", type=Path, metavar="FILE",
                   help="the page to write (default: RESULTS/report.html)")  # fmt: skip
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from difffit.io.atomic import atomic_write_text
    from difffit.report import gather_report, render_report

    data = gather_report(args.results)
    out = args.out if args.out is not None else Path(args.results) / "report.html"
    atomic_write_text(out, render_report(data))
    print(f"{data.title}: {out} (self-contained; open it from disk)")
    return 0
