"""Inputs of the commands: files, or accessions fetched into the cache (``emdb:3488``,
``pdb:5me2``, ``afdb:Q99J21``, ``uniprot:ID,ID``), optionally with ``:CHAINS`` or residue
ranges (``:A:1-150,B``, :mod:`difffit.selection`) after a structure, and ``--min-plddt``. One
place turns what the user typed into paths, selected structures and the defaults an archive
gives.

An EMDB map brings its authors' recommended contour level and its resolution: they become
``--level`` and ``--resolution`` when those are not given, and the log says so.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from difffit.errors import ConfigError

__all__ = [
    "add_fetch_options",
    "add_selection_options",
    "read_inputs",
    "resolve_map",
    "resolve_structures",
    "split_chains_suffix",
]

log = logging.getLogger("difffit")

_DB_PREFIXES = ("emdb:", "emd:", "pdb:", "afdb:", "uniprot:")


def add_fetch_options(p: argparse.ArgumentParser) -> None:
    """``--mirror`` and ``--cache``: declared once, for every command that takes accessions."""
    from difffit.io.fetch import cache_dir

    g = p.add_argument_group("downloads (for emdb:, pdb:, afdb:, uniprot: inputs)")
    g.add_argument("--mirror", metavar="NAME|URL",
                   help="archive site: ebi, rcsb, pdbe, pdbj, a URL with the archive's layout, or "
                        "emdb=URL,pdb=URL,afdb=URL (default: DIFFFIT_MIRROR, else the main sites)")  # fmt: skip
    g.add_argument("--cache", metavar="DIR", help=f"download cache (default: {cache_dir()})")


def _fetcher(args: argparse.Namespace):
    from difffit.io.fetch import Fetcher

    return Fetcher(mirror=getattr(args, "mirror", None), cache=getattr(args, "cache", None))


def add_selection_options(p: argparse.ArgumentParser) -> None:
    """``--min-plddt`` (declared in :class:`~difffit.config.SelectConfig`), for every command
    that fits structures."""
    from difffit.cli.common import add_config_options
    from difffit.config import SelectConfig

    g = p.add_argument_group("selection (also FILE:CHAINS, FILE:A:1-150,B)")
    add_config_options(g, SelectConfig)


def min_plddt_from_args(args: argparse.Namespace) -> float | None:
    from difffit.cli.common import config_from_args
    from difffit.config import SelectConfig

    return config_from_args(SelectConfig, args).min_plddt


def split_chains_suffix(text: str):
    """``X`` or ``X:SELECTION`` where X is a file or an accession (``pdb:5me2:A,B``,
    ``model.pdb:A:1-150,B``): (X, :class:`~difffit.selection.Selection` or None).

    A path that exists as given is never split.
    """
    from difffit.selection import split_selection

    return split_selection(text)


def resolve_map(args: argparse.Namespace, attr: str = "map") -> Path:
    """The map file of ``args.<attr>``, fetched when it is an ``emdb:`` accession (and then
    ``args.level`` / ``args.resolution`` default to the entry's recommended values)."""
    from difffit.io.fetch import is_accession, parse_accession

    text = str(getattr(args, attr))
    if not is_accession(text):
        return Path(text)
    (acc,) = parse_accession(text)
    if acc.db != "emdb":
        raise ConfigError(f"{text}: a map must be a file or an emdb: accession")
    entry = _fetcher(args).fetch(acc)
    path = entry.files["map"]
    setattr(args, attr, path)
    log.info("%s: %s", acc, path)
    if hasattr(args, "level") and args.level is None and entry.level is not None:
        args.level = entry.level
        log.info("contour level %g: the recommended level of %s (EMDB header)", entry.level, acc)
    if hasattr(args, "resolution") and args.resolution is None and entry.resolution is not None:
        args.resolution = entry.resolution
        log.info("resolution %g Å: from the EMDB header of %s", entry.resolution, acc)
    return path


def resolve_structures(
    args: argparse.Namespace, texts: list[str], *, chains: bool = True,
    accessions_only: bool = False,
):  # fmt: skip
    """Each item as (file, :class:`~difffit.selection.Selection` or None): accessions are
    fetched (``uniprot:`` lists give several files), ``:CHAINS`` / residue-range suffixes are
    split off (unless ``chains`` is False: the item is passed on as written; with
    ``accessions_only`` the suffix of an accession is still split off)."""
    from difffit.io.fetch import is_accession, parse_accession

    out: list = []
    fetcher = None
    for text in texts:
        split = chains or (accessions_only and str(text).lower().startswith(_DB_PREFIXES))
        head, own = split_chains_suffix(str(text)) if split else (str(text), None)
        if not is_accession(head):
            out.append((Path(head), own))
            continue
        fetcher = fetcher or _fetcher(args)
        for acc in parse_accession(head):
            if acc.db == "emdb":
                raise ConfigError(f"{text}: an emdb: accession is a map, not a structure")
            entry = fetcher.fetch(acc, kinds=("model", "pae") if acc.db == "afdb" else None)
            log.info("%s: %s", acc, entry.files["model"])
            out.append((entry.files["model"], own))
    return out


def read_inputs(args: argparse.Namespace, specs, *, chains: list[str] | None = None) -> list:
    """Read the structures of :func:`resolve_structures` with their selections (``chains``,
    from ``--chains``, applies to a file named without one) and ``--min-plddt``, logging what
    the pLDDT floor left out."""
    from difffit.io import read_structure
    from difffit.selection import Selection, select

    floor = min_plddt_from_args(args)
    out = []
    for path, sel in specs:
        if sel is None and chains:
            sel = Selection(tuple((c, ()) for c in chains))
        st = read_structure(path)
        picked = select(st, sel, min_plddt=floor)
        out.append(picked.structure)
        if floor is not None:
            log.info("%s: %d of %d residues have pLDDT (B column) below %g: left out of the "
                     "search", picked.structure.name, picked.n_dropped_plddt,
                     picked.n_residues_before, floor)  # fmt: skip
    return out
