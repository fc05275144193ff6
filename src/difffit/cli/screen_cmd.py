"""``difffit screen MAP LIBRARY... --out DIR``: which library structure is the density?"""

from __future__ import annotations

import argparse
import logging
import math
import shlex
import sys
from typing import Any, ClassVar

from difffit import validate
from difffit.cli.common import (
    add_config_options,
    add_fit_options,
    add_models,
    add_out,
    add_top,
    announce_defaults,
    config_from_args,
    models_from_args,
)
from difffit.cli.inputs import (
    add_fetch_options,
    add_selection_options,
    min_plddt_from_args,
    resolve_map,
    resolve_structures,
)
from difffit.progress import Progress

log = logging.getLogger("difffit")


def add_parser(sub) -> argparse.ArgumentParser:
    from difffit.config import ScreenConfig

    p = sub.add_parser(
        "screen",
        help="identify a density by fitting every structure of a library (resumable)",
        description="Fit every candidate of a structure library into a density, rank the "
        "candidates by their best cluster and say how far each stands out from the library "
        "(robust z-score, p-value, Benjamini-Hochberg q-value). Results go into an SQLite "
        "database in --out as each candidate finishes: running the same command again resumes.",
    )
    p.add_argument("map", help="the density (.mrc, .map, .ccp4; .gz allowed) or emdb:ID")
    p.add_argument(
        "library",
        nargs="+",
        metavar="LIBRARY",
        help="structure files, folders (searched recursively), quoted glob patterns "
        "(.pdb, .cif; .gz allowed), or accessions: pdb:ID, afdb:UNIPROT, uniprot:ID,ID,...; "
        "a file or accession may carry :CHAINS or residue ranges (FILE:A:1-150,B)",
    )
    add_out(p, help="output folder (created; an earlier screen there is resumed)")
    g = p.add_argument_group("screen")
    g.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="local worker processes, one CPU thread each unless --threads "
        "(default %(default)s: fit in this process with all cores)",
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="fit on a Dask distributed cluster (e.g. tcp://host:8786); needs "
        "'difffit[dask]' here and on the workers",
    )
    g.add_argument(
        "--flexible",
        action="store_true",
        help="split every candidate into its rigid domains first and screen each domain as a "
        "candidate <name>_D1, <name>_D2, ... (as DomainFit does; domain files in OUT/domains/)",
    )
    add_config_options(g, ScreenConfig)
    add_models(g, help="write the fitted models of the best N candidates (default %(default)s)")
    g.add_argument("--no-plot", action="store_true", help="do not write scores.png")
    add_top(g)
    add_selection_options(p)
    add_fit_options(p, symmetry=False)
    add_fetch_options(p)
    # a screen ranks by the correlation about the mean (see docs/screen.md)
    p.set_defaults(run=run, sort_by="cam")
    return p


class CandidateBar:
    """A tqdm bar of candidates done / total with candidates/min and an ETA (resumed candidates
    count as done). A hierarchical screen shows its cheap stage (``candidates``) and then its
    full searches (``full``, whose total grows as candidates are promoted)."""

    STAGES: ClassVar[dict[str, str]] = {"candidates": "screen", "full": "full search"}

    def __init__(self, *, disable: bool = False) -> None:
        self.disable = disable
        self._bar: Any = None
        self._stage = ""
        self._t0 = 0.0
        self._done0 = 0

    def __call__(self, ev: Progress) -> None:
        if self.disable or ev.stage not in self.STAGES:
            return
        import time

        if self._bar is None or ev.stage != self._stage:
            from tqdm import tqdm

            self.close()
            self._stage, self._t0, self._done0 = ev.stage, time.perf_counter(), ev.done
            self._bar = tqdm(
                total=ev.total,
                initial=ev.done,
                desc=self.STAGES[ev.stage],
                unit="cand",
                file=sys.stderr,
                dynamic_ncols=True,
                smoothing=0.1,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
            )
        self._bar.total = ev.total
        if ev.done >= self._bar.n:
            self._bar.update(ev.done - self._bar.n)
        else:
            self._bar.n = ev.done
        elapsed = time.perf_counter() - self._t0
        rate = 60.0 * (ev.done - self._done0) / elapsed if elapsed > 0 else 0.0
        post = f"{rate:.0f} cand/min" if rate > 0 else ""
        if ev.structure:
            post += f" {ev.structure[-24:]}"
        self._bar.set_postfix_str(post.strip(), refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run(args: argparse.Namespace) -> int:
    from difffit.io import read_map
    from difffit.memory import fix_mmap_threshold
    from difffit.screen import ScreenConfig, find_library, screen, write_screen_report
    from difffit.screen.confidence import MIN_LIBRARY

    # this process reads every candidate: large freed blocks go back at once (difffit.memory)
    fix_mmap_threshold()
    config = config_from_args(ScreenConfig, args)
    n_models = models_from_args(args)
    validate.integer("--workers", args.workers, minimum=1)
    map_path = resolve_map(args)
    items = [
        str(p) + (f":{sel}" if sel is not None else "")
        for p, sel in resolve_structures(args, args.library, chains=False, accessions_only=True)
    ]
    density = read_map(map_path)
    library, n_dup = find_library(items, min_plddt=min_plddt_from_args(args))
    if args.min_plddt is not None:
        log.info("--min-plddt %g: residues with a lower B column (pLDDT) are left out of every "
                 "candidate's search", args.min_plddt)  # fmt: skip
    log.info("map %s: %s", map_path, density)
    announce_defaults(args, density)
    log.info(
        "library: %d candidates%s",
        len(library),
        f" ({n_dup} byte-identical duplicates left out)" if n_dup else "",
    )
    if args.flexible:
        from pathlib import Path

        from difffit.screen.library import domain_library

        library, report = domain_library(library, Path(args.out) / "domains")
        for name, how in report:
            log.info("  %s: %s", name, how)
        log.info("--flexible: %d domain candidates", len(library))
    bar = CandidateBar(disable=args.quiet)
    try:
        result = screen(
            density,
            library,
            out=args.out,
            config=config,
            seed=args.seed,
            device=args.device,
            workers=args.workers,
            scheduler=args.scheduler,
            threads=args.threads,
            progress=bar,
        )
    finally:
        bar.close()
    files = write_screen_report(
        result,
        args.out,
        map_path=map_path,
        n_models=n_models,
        plot=not args.no_plot,
        command="difffit " + shlex.join(sys.argv[1:]),
    )
    c, info = result.counts, result.info
    log.info(
        "contour level %.4g (%s); density volume %.0f Å³; seed %d",
        result.level,
        info["level_rule"],
        result.footprint_volume,
        result.seed,
    )
    print(result.summary_table(args.top))
    print()
    print(
        f"{c['total']} candidates: {c['done']} fitted ({c['fitted_now']} now, "
        f"{c['resumed']} finished earlier), {c['filtered']} left out by the size pre-filter, "
        f"{c['skipped']} cannot be fitted, {c['failed']} failed"
    )
    if c["failed"]:
        print(
            "failed candidates are retried when the same command is run again (see candidates.csv)"
        )
    if info["candidates_per_minute"]:
        print(
            f"{info['candidates_per_minute']:.1f} candidates/min ({info['executor']}), "
            f"median fit {info['median_fit_s']:.2f} s; {info['wall_s']:.0f} s in all"
        )
    hier = info.get("hierarchy")
    if hier:
        print(
            f"hierarchical: cheap search of {hier['candidates']} candidates, full search of "
            f"{hier['full']} ({hier['full_top']} best, {hier['calibration_sample']} to calibrate, "
            f"{hier['promoted']} promoted in {hier['rounds']} rounds); the others stand at least "
            f"{hier['calibration']['bound']:.2f} (margin) + {hier['least_gap']:.2f} below the "
            "least significant statistic"
        )
    null = result.null
    if null is None:
        print(
            f"confidence: n/a (fewer than {MIN_LIBRARY} fitted candidates: no library null to "
            "compare with)"
        )
    else:
        sig = [r.record.name for r in result.significant]
        print(
            f"null ({null.normalisation} of {null.metric}, Gumbel from the quartiles of "
            f"{null.n} candidates): median {null.median:.3g}, robust sd {null.robust_sd:.3g}; "
            f"significant at FDR {result.config.alpha:g}: {', '.join(sig) if sig else 'none'}"
        )
        if (
            result.ranked
            and not result.ranked[0].significant
            and not math.isnan(result.ranked[0].q)
        ):
            print("no candidate stands out from the library: the density is probably none of them")
    print(
        f"\nresults in {args.out}/ ({', '.join(v for k, v in files.items() if k != 'manifest')}, "
        "screen.json)"
    )
    return 0
