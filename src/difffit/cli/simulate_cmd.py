"""``difffit simulate STRUCTURE --resolution R [--like MAP | --voxel-size S] --out MAP``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from difffit import validate
from difffit.cli.common import (
    add_chains,
    add_out,
    add_overwrite,
    add_seed,
    chains_from_args,
    positive_float,
)
from difffit.cli.inputs import add_fetch_options, resolve_structures
from difffit.errors import ConfigError

log = logging.getLogger("difffit")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "simulate",
        help="simulate a density map from atoms (molmap-like Gaussians)",
        description="Simulate a density map from a structure: one Gaussian per heavy atom, "
        "weighted by its atomic number, with sigma = 0.225 x resolution (as ChimeraX molmap), "
        "cut off at 3 sigma, normalised to a maximum of 1. On the grid of --like MAP, or on a "
        "new grid of --voxel-size enclosing the atoms.",
    )
    p.add_argument(
        "structure", help="structure file (.pdb, .cif; .gz allowed) or pdb:ID / afdb:UNIPROT"
    )
    p.add_argument(
        "--resolution", type=positive_float, required=True, metavar="Å", help="resolution"
    )
    grid = p.add_mutually_exclusive_group()
    grid.add_argument("--like", type=Path, metavar="MAP", help="simulate on this map's grid")
    grid.add_argument(
        "--voxel-size",
        type=positive_float,
        metavar="Å",
        help="grid spacing of a new grid (default resolution / 3)",
    )
    add_chains(p, help="comma-separated chain IDs to keep")
    p.add_argument(
        "--padding", type=float, metavar="Å", help="margin around the atoms on a new grid"
    )
    p.add_argument(
        "--noise",
        type=float,
        default=0.0,
        metavar="SD",
        help="add Gaussian noise of this standard deviation (map units, max = 1)",
    )
    add_seed(p, default=0, help="seed of the noise (default %(default)s)")
    add_out(p, help="output map (.mrc; .gz allowed)")
    add_overwrite(p, help="replace an existing --out")
    add_fetch_options(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from difffit.density.simulate import simulate_map, simulate_on_grid
    from difffit.io import read_map, read_structure, write_map

    if args.out.exists() and not args.overwrite:
        raise ConfigError(f"{args.out}: exists (choose another name, or --overwrite)")
    validate.positive("--noise", args.noise, allow_zero=True)
    if args.padding is not None:
        validate.positive("--padding", args.padding, allow_zero=True)
    if args.like is not None and args.padding is not None:
        raise ConfigError("--padding applies to a new grid, not to --like")
    chains = chains_from_args(args)
    ((path, own),) = resolve_structures(args, [args.structure], chains=False)
    st = read_structure(path, chains=chains)
    weights = st.atomic_numbers.astype(np.float64)
    if args.like is not None:
        like = read_map(args.like)
        if like.world_to_grid(st.coords_xyz).min() < 0 or np.any(
            like.world_to_grid(st.coords_xyz).max(axis=0) > np.array(like.shape_xyz) - 1
        ):
            log.warning("some atoms of %s lie outside the box of %s", st.name, args.like)
        sim = simulate_on_grid(st.coords_xyz, weights, args.resolution, like)
    else:
        sim = simulate_map(st.coords_xyz, weights, args.resolution, voxel_size=args.voxel_size,
                           padding=args.padding)  # fmt: skip
    if args.noise:
        rng = np.random.default_rng(args.seed)
        sim = sim.with_data(
            sim.data + rng.normal(scale=args.noise, size=sim.shape_zyx).astype(np.float32)
        )
    write_map(sim, args.out, overwrite=args.overwrite)
    print(
        f"simulated {st.name} ({len(st)} heavy atoms) at {args.resolution:g} Å: {sim!r} -> {args.out}"
    )
    return 0
