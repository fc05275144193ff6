"""Inputs of the commands: files, or accessions fetched into the cache (``emdb:3488``,
``pdb:5me2``, ``afdb:Q99J21``, ``uniprot:ID,ID``), optionally with ``:CHAINS`` after a
structure. One place turns what the user typed into paths and the defaults an archive gives.

An EMDB map brings its authors' recommended contour level and its resolution: they become
``--level`` and ``--resolution`` when those are not given, and the log says so.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from difffit.errors import ConfigError

__all__ = ["add_fetch_options", "resolve_map", "resolve_structures", "split_chains_suffix"]

log = logging.getLogger("difffit")


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


def split_chains_suffix(text: str) -> tuple[str, list[str] | None]:
    """``X`` or ``X:CHAINS`` where X is a file or an accession (``pdb:5me2:A,B``).

    A path that exists as given is never split.
    """
    from difffit.io.fetch import is_accession

    if Path(text).exists():
        return text, None
    head, sep, tail = text.rpartition(":")
    whole_is_accession = is_accession(text) and not is_accession(head)
    if not sep or whole_is_accession:
        return text, None
    ids = [c.strip() for c in tail.split(",") if c.strip()]
    if not head or not ids:
        raise ConfigError(f"{text}: expected FILE, FILE:CHAINS or an accession (e.g. 5me2.pdb:A)")
    return head, ids


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
    args: argparse.Namespace, texts: list[str], *, chains: bool = True
) -> list[tuple[Path, list[str] | None]]:
    """Each item as (file, chains or None): accessions are fetched (``uniprot:`` lists give
    several files), ``:CHAINS`` suffixes are split off (unless ``chains`` is False: a library
    item such as a glob pattern is passed on as written)."""
    from difffit.io.fetch import is_accession, parse_accession

    out: list[tuple[Path, list[str] | None]] = []
    fetcher = None
    for text in texts:
        head, own = split_chains_suffix(str(text)) if chains else (str(text), None)
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
