"""A true domain with an AlphaFold low-confidence tail, built from the real data.

I7M317_D1 (a true hit of the DomainFit demo in density2) gets residues 103-182 of the
tardigrade AlphaFold model A0A1D1ULI0 (the first 80-residue stretch with pLDDT < 50 among the
decoys of ``domainfit_tardigrade_decoys``, in file order) grafted onto its C terminus: the
tail's first CA 3.8 Å beyond the domain's last CA, on the line from the domain's centre, the
tail rotated to point away from the domain. Residues numbered on from the domain's last one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import data_path

TAIL_SOURCE = ("domainfit_tardigrade_decoys", "A0A1D1ULI0.pdb.gz")
TAIL_START = 102  # 0-based index of the tail's first residue in the source chain
TAIL_LENGTH = 80


def _rotation_onto(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The rotation taking unit vector v onto unit vector w (Rodrigues)."""
    ax = np.cross(v, w)
    s, c = np.linalg.norm(ax), float(v @ w)
    if s < 1e-9:
        return np.eye(3)
    k = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    return np.eye(3) + k + k @ k * ((1 - c) / (s * s))


def grafted_tail(path: Path) -> Path:
    """Write I7M317_D1 + the 80-residue low-pLDDT tail to ``path`` (PDB); skips without data."""
    import gemmi

    src = gemmi.read_structure(str(data_path(*TAIL_SOURCE)))[0][0]
    tail = [src[TAIL_START + k] for k in range(TAIL_LENGTH)]
    assert max(r[0].b_iso for r in tail) < 50.0
    dom = gemmi.read_structure(
        str(data_path("difffit_domainfit_demo", "subunits_cif", "I7M317_D1.pdb"))
    )
    ch = dom[0][0]
    last = ch[len(ch) - 1]
    ca_last = np.array(last["CA"][0].pos.tolist())
    centre = np.mean([a.pos.tolist() for r in ch for a in r], axis=0)
    out_dir = (ca_last - centre) / np.linalg.norm(ca_last - centre)
    t_xyz = np.array([a.pos.tolist() for r in tail for a in r])
    first_ca = np.array(tail[0]["CA"][0].pos.tolist())
    v = t_xyz.mean(axis=0) - first_ca
    rot = _rotation_onto(v / np.linalg.norm(v), out_dir)
    target = ca_last + 3.8 * out_dir
    num = last.seqid.num
    for k, r in enumerate(tail):
        res = gemmi.Residue()
        res.name = r.name
        res.seqid = gemmi.SeqId(num + 1 + k, " ")
        res.entity_type = gemmi.EntityType.Polymer
        res.het_flag = "A"
        for a in r:
            atom = gemmi.Atom()
            atom.name, atom.element, atom.b_iso, atom.occ = a.name, a.element, a.b_iso, 1.0
            atom.pos = gemmi.Position(*(rot @ (np.array(a.pos.tolist()) - first_ca) + target))
            res.add_atom(atom)
        ch.add_residue(res)
    dom.setup_entities()
    dom.write_pdb(str(path))
    return path
