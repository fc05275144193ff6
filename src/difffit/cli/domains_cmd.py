"""``difffit domains STRUCTURE --out DIR``: cut a structure into rigid domains."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from difffit.cli.common import positive_float
from difffit.config import DomainConfig

log = logging.getLogger("difffit")

_DEF = DomainConfig()


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "domains",
        help="cut a structure into rigid domains (PAE, pLDDT + contacts, or by hand)",
        description="Cut a structure into rigid domains and write domains.csv, residues.csv and "
        "one file per domain. With --pae: community detection on the PAE graph. Without: for an "
        "AlphaFold model (detected, or --plddt) residues with pLDDT below the cutoff are left "
        "out of the domains (kept in *_unassigned), and the rest is split into compact domains "
        "on the CA contact graph. --domains gives them by hand.",
    )
    p.add_argument("structure", type=Path, help="structure file (.pdb, .cif; .gz allowed)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--pae", type=Path, metavar="JSON", help="AlphaFold PAE file (.json)")
    src.add_argument(
        "--domains",
        metavar="SPEC",
        help='domains by hand: "A:1-150,A:151-397" ("," between domains, "+" joins segments '
        'of one domain: "A:1-29+A:60-121,A:122-159")',
    )
    plddt = p.add_mutually_exclusive_group()
    plddt.add_argument(
        "--plddt",
        dest="use_plddt",
        action="store_const",
        const=True,
        default=None,
        help="read the B column as pLDDT even if the model does not look like AlphaFold's",
    )
    plddt.add_argument(
        "--no-plddt",
        dest="use_plddt",
        action="store_const",
        const=False,
        help="do not leave out low-pLDDT residues, even for an AlphaFold model",
    )
    p.add_argument(
        "--plddt-cutoff",
        type=float,
        default=_DEF.plddt_cutoff,
        metavar="P",
        help="residues with pLDDT below this are in no domain (default %(default)s)",
    )
    p.add_argument(
        "--min-domain",
        type=int,
        default=_DEF.min_domain_residues,
        metavar="N",
        help="smallest domain, residues (default %(default)s)",
    )
    p.add_argument(
        "--pae-cutoff",
        type=positive_float,
        default=_DEF.pae_cutoff,
        metavar="A",
        help="join residue pairs with PAE below this, Å (default %(default)s)",
    )
    p.add_argument(
        "--format", choices=("cif", "pdb"), default="cif", help="file format (default cif)"
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from difffit.domains import split_domains
    from difffit.io import read_structure
    from difffit.io.domains import DOMAINS_CSV, write_domains
    from difffit.io.pae import read_pae

    config = DomainConfig(
        pae_cutoff=args.pae_cutoff,
        min_domain_residues=args.min_domain,
        plddt_cutoff=args.plddt_cutoff,
        use_plddt=args.use_plddt,
    )
    st = read_structure(args.structure)
    pae = read_pae(args.pae) if args.pae else None
    split = split_domains(st, pae=pae, domains=args.domains, config=config)
    write_domains(st, split, args.out, fmt=args.format)
    af = split.alphafold
    print(
        f"{st.name}: {'AlphaFold model' if af.is_alphafold else 'not an AlphaFold model'} ({af.reason})"
    )
    how = {"pae": "PAE graph", "contacts": "CA contact graph", "manual": "given by hand"}
    plural = "domain" if split.n_domains == 1 else "domains"
    print(f"{split.n_domains} {plural} ({how[split.method.value]}):")
    for d in split.domains:
        plddt = f", mean pLDDT {d.mean_plddt:.1f}" if d.mean_plddt is not None else ""
        print(f"  {d.index}: {d.n_residues} residues {d.ranges}{plddt}")
    if split.n_unassigned:
        why = (
            f" ({split.plddt_filtered} with pLDDT < {config.plddt_cutoff:g})"
            if split.plddt_filtered
            else ""
        )
        n = split.n_unassigned
        print(f"  -1: {n} residue{'s' if n != 1 else ''} in no domain{why}, carried along")
    print(f"\n{DOMAINS_CSV}, residues.csv and one file per domain in {args.out}/")
    return 0
