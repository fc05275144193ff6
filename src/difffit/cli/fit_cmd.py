"""``difffit fit MAP STRUCTURE [STRUCTURE...] --out DIR``."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from difffit.cli.common import (
    ProgressBar,
    add_chains,
    add_fit_options,
    add_models,
    add_out,
    add_overwrite,
    add_top,
    announce_defaults,
    chains_from_args,
    check_out_dir,
    fit_config_from_args,
    models_from_args,
)
from difffit.cli.inputs import (
    add_fetch_options,
    add_selection_options,
    read_inputs,
    resolve_map,
    resolve_structures,
)
from difffit.errors import ConfigError

log = logging.getLogger("difffit")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fit",
        help="fit structures into a map (global search, clustering, refinement)",
        description="Fit one or more structures into a density map and write ranked, clustered, "
        "refined placements to --out.",
    )
    p.add_argument("map", help="density map (.mrc, .map, .ccp4; .gz allowed) or emdb:ID")
    p.add_argument(
        "structures",
        nargs="+",
        metavar="STRUCTURE",
        help="structure files (.pdb, .cif; .gz allowed) or pdb:ID / afdb:UNIPROT, each "
        "optionally with :CHAINS (5me2.pdb:A,C) or residue ranges (model.pdb:A:1-150,B)",
    )
    add_out(p, help="results folder")
    add_chains(p, help="comma-separated chain IDs to keep from every structure")
    add_models(p, help="write the top N fitted models (default %(default)s)")
    p.add_argument("--pdb", action="store_true", help="also write fitted models as PDB")
    add_top(p)
    add_overwrite(p, help="replace results in --out")
    add_selection_options(p)
    add_fit_options(p)
    add_fetch_options(p)
    _add_flexible_options(p)
    p.set_defaults(run=run)
    return p


def _add_flexible_options(p: argparse.ArgumentParser) -> None:
    from difffit.cli.common import add_config_options
    from difffit.config import FlexFitConfig

    g = p.add_argument_group("flexible (docs/flexible.md)")
    g.add_argument("--flexible", action="store_true",
                   help="refine the best clusters flexibly (domains, then residues)")  # fmt: skip
    g.add_argument("--domains", metavar="SPEC",
                   help='domains by hand, "A:1-150,A:151-397" (default: PAE or automatic)')  # fmt: skip
    g.add_argument("--pae", type=Path, metavar="FILE", help="AlphaFold PAE JSON for the domains")
    add_config_options(g, FlexFitConfig)


def _run_flexible(args, density, structures, result, out) -> None:
    from difffit.cli.common import config_from_args
    from difffit.config import FlexFitConfig
    from difffit.flexfit import fit_flexible
    from difffit.io.flexible import write_flexible

    pae = None
    if args.pae is not None:
        from difffit.io.pae import read_pae

        pae = read_pae(args.pae)
    cfg = config_from_args(FlexFitConfig, args)
    fits = []
    for s in structures:
        fits += fit_flexible(density, s, result, config=cfg, domains=args.domains, pae=pae,
                             device=args.device, threads=args.threads)  # fmt: skip
    rigid = {c.rank: c.transform for c in result.clusters}
    write_flexible(out, fits, structures=structures, rigid_transforms=rigid)
    print("\nflexible refinement (CA RMSD moved from the rigid pose; geometry input -> after):")
    for f in fits:
        sc, g0, g1 = f.scores, f.scores.geometry_input, f.scores.geometry_after
        print(f"  rank {f.rank} {f.structure}: {f.split.n_domains} domains, moved "
              f"{sc.ca_rmsd_moved:.2f} Å, correlation {sc.correlation_before:.3f} -> "
              f"{sc.correlation_after:.3f}, cam {sc.cam_before:.3f} -> {sc.cam_after:.3f}, "
              f"CA-CA outliers {g0.ca_ca_outliers} -> {g1.ca_ca_outliers}, C-N outliers "
              f"{g0.peptide_outliers} -> {g1.peptide_outliers}, clashes {g0.clashes} -> "
              f"{g1.clashes}")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from difffit.io.locks import hold_folder

    check_out_dir(Path(args.out), args.overwrite)
    with hold_folder(args.out):  # a second run into the same --out is refused, not mixed in
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from difffit.io import read_map
    from difffit.io.results import save_results
    from difffit.search import fit

    check_out_dir(Path(args.out), args.overwrite)
    map_path = resolve_map(args)
    inputs = resolve_structures(args, args.structures)
    config = fit_config_from_args(args)
    n_models = models_from_args(args)
    density = read_map(map_path)
    structures = read_inputs(args, inputs, chains=chains_from_args(args))
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"two structures have the same name ({', '.join(names)}); rename the files"
        )
    log.info("map %s: %s", args.map, density)
    announce_defaults(args, density)
    for s in structures:
        log.info("structure %s: %d heavy atoms, %d residues, chains %s", s.name, len(s),
                 s.n_residues, ",".join(s.chains))  # fmt: skip
    bar = ProgressBar(disable=args.quiet)
    try:
        result = fit(density, structures, config=config, device=args.device, seed=args.seed,
                     threads=args.threads, progress=bar)  # fmt: skip
    finally:
        bar.close()
    prep = result.info["preparation"]
    log.info("contour level %.4g (%s); %d voxels in the footprint; %d islands removed",
             result.level, prep["level_rule"], prep["footprint_voxels"], prep["islands_removed"])  # fmt: skip
    log.info("resolution %.3g Å (%s); seed %d; %d placements in %.2f s",
             result.resolution, result.info["resolution_rule"], result.seed,
             result.info["n_placements"], result.info["timings_s"]["total"])  # fmt: skip
    out = save_results(result, args.out, structures=structures, map_path=map_path,
                       n_models=n_models, write_pdb=args.pdb,
                       command="difffit " + shlex.join(sys.argv[1:]), overwrite=args.overwrite)  # fmt: skip
    print(result.summary_table(args.top))
    if args.flexible:
        _run_flexible(args, density, structures, result, out)
    elif args.domains or args.pae:
        log.warning("--domains / --pae do nothing without --flexible")
    print(
        f"\nresults in {out}/ (clusters.csv, fits.csv, models/, manifest.json, open_in_chimerax.cxc)"
    )
    return 0
