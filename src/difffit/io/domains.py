"""Writing a domain split: ``domains.csv``, ``residues.csv`` and one structure file per domain.

``domains.csv`` (one row per domain, then one row ``-1`` for the residues in no domain when
there are any):

=========== =================================================================================
domain      the label of the domain's atoms (0-based; -1: in no domain, carried along)
chains      chain IDs of the domain, ``;``-separated
ranges      residue ranges, ``A:1-29+A:60-121`` (the syntax of ``difffit domains --domains``)
residues    number of residues
mean_plddt  mean pLDDT (B column) of its residues; empty when the B column is not pLDDT
file        the domain's structure file, in the same folder
=========== =================================================================================

``residues.csv``: chain, residue (number), icode, name, domain, plddt (one row per residue).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from difffit.domains import DomainSplit, domain_structure, residue_ranges
from difffit.errors import ConfigError
from difffit.io.atomic import atomic_write_text
from difffit.io.structures import write_structure
from difffit.structure import Structure

__all__ = ["DOMAINS_CSV", "RESIDUES_CSV", "write_domains"]

DOMAINS_CSV = "domains.csv"
RESIDUES_CSV = "residues.csv"


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_domains(
    structure: Structure,
    split: DomainSplit,
    out: str | os.PathLike[str],
    *,
    fmt: str = "cif",
) -> list[Path]:
    """Write the tables and one ``<name>_domain<k>.<fmt>`` file per domain into ``out``.

    The residues in no domain go to ``<name>_unassigned.<fmt>``. Returns the structure files
    written, domains first.
    """
    if fmt not in ("cif", "pdb"):
        raise ConfigError(f"format {fmt!r} is not cif or pdb")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    table = split.residues
    plddt = table.b_mean if any(d.mean_plddt is not None for d in split.domains) else None
    rows = []
    files = []
    for dom in split.domains:
        path = out / f"{structure.name}_domain{dom.index}.{fmt}"
        write_structure(domain_structure(structure, split, dom.index), path)
        files.append(path)
        rows.append({
            "domain": dom.index, "chains": ";".join(dom.chains), "ranges": dom.ranges,
            "residues": dom.n_residues,
            "mean_plddt": "" if dom.mean_plddt is None else f"{dom.mean_plddt:.1f}",
            "file": path.name,
        })  # fmt: skip
    unassigned = split.residue_labels < 0
    if unassigned.any():
        path = out / f"{structure.name}_unassigned.{fmt}"
        write_structure(domain_structure(structure, split, -1), path)
        files.append(path)
        chains = dict.fromkeys(str(c) for c in table.chains[unassigned])
        rows.append({
            "domain": -1, "chains": ";".join(chains),
            "ranges": residue_ranges(table, unassigned),
            "residues": int(unassigned.sum()),
            "mean_plddt": "" if plddt is None else f"{plddt[unassigned].mean():.1f}",
            "file": path.name,
        })  # fmt: skip
    if rows:
        atomic_write_text(out / DOMAINS_CSV, _csv_text(rows))
    res_rows = [
        {
            "chain": str(table.chains[i]), "residue": int(table.numbers[i]),
            "icode": str(table.insertion_codes[i]), "name": str(table.names[i]),
            "domain": int(split.residue_labels[i]),
            "plddt": "" if plddt is None else f"{plddt[i]:.2f}",
        }
        for i in range(len(table))
    ]  # fmt: skip
    atomic_write_text(out / RESIDUES_CSV, _csv_text(res_rows))
    return files
