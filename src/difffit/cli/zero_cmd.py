"""``difffit zero MAP (--fit RESULTS#RANK | --structure FITTED.cif) --out MAP``.

Zero the density that accepted fits explain; the input map is never overwritten, and
``--removed`` writes what was taken away (``out + removed = input``: the undo).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from difffit.cli.common import add_out, add_overwrite, positive_float
from difffit.cli.inputs import add_fetch_options, resolve_map
from difffit.config import DEFAULT_RULE, RULES, ZERO_DEFAULTS
from difffit.errors import ConfigError

log = logging.getLogger("difffit")


def add_parser(sub) -> argparse.ArgumentParser:
    # the defaults are zero_density's own (declared once, in difffit.config)
    defaults = ZERO_DEFAULTS
    p = sub.add_parser(
        "zero",
        help="zero the density explained by fitted structures (writes a new map)",
        description="Zero the density explained by accepted fits, sparing the density of "
        "neighbours (rule 'dominant' by default; see docs/composite.md). The input map is "
        "never overwritten.",
    )
    p.add_argument("map", help="density map (.mrc, .map, .ccp4; .gz allowed) or emdb:ID")
    p.add_argument(
        "--fit",
        action="append",
        default=[],
        metavar="RESULTS#RANK",
        help="a cluster of a difffit results folder, e.g. out/#1 or out#1 (repeatable)",
    )
    p.add_argument(
        "--structure",
        action="append",
        default=[],
        type=Path,
        metavar="FITTED",
        help="a structure file already placed in the map (repeatable)",
    )
    add_out(p, help="the zeroed map (.mrc; .gz allowed)")
    p.add_argument(
        "--removed",
        type=Path,
        metavar="MAP",
        help="also write the removed density (out + removed = the input map)",
    )
    p.add_argument(
        "--resolution",
        type=positive_float,
        metavar="Å",
        help="resolution of the simulated density (default: the results folder's, "
        "else 2 x voxel size)",
    )
    p.add_argument(
        "--rule", choices=RULES, default=DEFAULT_RULE, help="zeroing rule (default %(default)s)"
    )
    p.add_argument(
        "--no-match-resolution",
        action="store_true",
        help="simulate at --resolution, not at the resolution that matches the map best",
    )
    p.add_argument(
        "--envelope",
        type=float,
        default=defaults["envelope"],
        metavar="F",
        help="envelope: simulated density >= F x its peak (default %(default)s)",
    )
    p.add_argument(
        "--core",
        type=float,
        default=defaults["core"],
        metavar="F",
        help="dominant: always zero where simulated >= F x peak (default %(default)s)",
    )
    p.add_argument(
        "--dominance",
        type=float,
        default=defaults["dominance"],
        metavar="F",
        help="dominant: zero a rim voxel where the prediction is >= F x the map (default %(default)s)",
    )
    p.add_argument(
        "--erode",
        type=int,
        default=defaults["erode_voxels"],
        metavar="VOXELS",
        help="shrunk: voxels to erode the envelope by (default %(default)s)",
    )
    p.add_argument(
        "--fill",
        type=float,
        default=defaults["fill"],
        help="value of zeroed voxels (default %(default)s)",
    )
    add_overwrite(p, help="replace an existing --out / --removed")
    add_fetch_options(p)
    p.set_defaults(run=run)
    return p


def parse_fit_ref(text: str) -> tuple[Path, int]:
    """``RESULTS#RANK`` -> (folder, rank)."""
    folder, sep, rank = text.rpartition("#")
    if not sep or not folder:
        raise ConfigError(f"--fit {text}: expected RESULTS#RANK, e.g. out#1")
    try:
        r = int(rank)
    except ValueError:
        raise ConfigError(f"--fit {text}: rank {rank!r} is not a whole number") from None
    if r < 1:
        raise ConfigError(f"--fit {text}: ranks start at 1")
    return Path(folder), r


def load_fit(text: str):
    """The structure and transform of cluster RANK of a results folder, and its resolution."""
    from difffit.io.results import load_results
    from difffit.selection import read_selected

    folder, rank = parse_fit_ref(text)
    result = load_results(folder)
    hit = next((c for c in result.clusters if c.rank == rank), None)
    if hit is None:
        raise ConfigError(f"--fit {text}: no rank {rank} in {folder / 'clusters.csv'}")
    info = next((s for s in result.structures if s.name == hit.structure), None)
    if info is None or not info.source:
        raise ConfigError(
            f"--fit {text}: the manifest does not say where structure {hit.structure} was read from"
        )
    st = read_selected(info.source, chains=info.chains, selection=info.selection,
                       name=hit.structure)  # fmt: skip
    return st, hit.transform, result.resolution


def run(args: argparse.Namespace) -> int:
    from difffit.density.placed import zero_placements
    from difffit.fitting.quality import default_resolution
    from difffit.geometry import RigidTransform
    from difffit.io import read_map, read_structure, write_map

    if not args.fit and not args.structure:
        raise ConfigError("give the fits to zero: --fit RESULTS#RANK or --structure FITTED.cif")
    map_path = resolve_map(args)
    src = map_path.resolve()
    for target in (args.out, args.removed):
        if target is not None and target.resolve() == src:
            raise ConfigError(
                f"{target}: is the input map; difffit never overwrites it — choose another name"
            )
    for target in (args.out, args.removed):
        if target is not None and target.exists() and not args.overwrite:
            raise ConfigError(f"{target}: exists (choose another name, or --overwrite)")
    density = read_map(map_path)
    placed = []
    resolutions = []
    for ref in args.fit:
        st, tr, res = load_fit(ref)
        placed.append((st, tr))
        resolutions.append(res)
        log.info("fit %s: %s", ref, st.name)
    for path in args.structure:
        placed.append((read_structure(path), RigidTransform.identity()))
    resolution = args.resolution or (resolutions[0] if resolutions else default_resolution(density))
    z = zero_placements(
        density, placed, resolution=resolution, rule=args.rule,
        match_resolution=not args.no_match_resolution, envelope=args.envelope, core=args.core,
        dominance=args.dominance, erode_voxels=args.erode, fill=args.fill,
    )  # fmt: skip
    write_map(z.map, args.out, overwrite=args.overwrite)
    if args.removed:
        write_map(z.removed, args.removed, overwrite=args.overwrite)
    print(
        f"{z.n_voxels_zeroed} voxels zeroed ({z.rule}; simulated at "
        f"{z.options['simulated_resolution']:.3g} Å), {z.n_voxels_spared} spared in the envelope "
        f"of {z.n_voxels_envelope}; wrote {args.out}"
        + (f" and {args.removed}" if args.removed else "")
    )
    return 0
