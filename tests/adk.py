"""Adenylate kinase (../shared/data/mdanalysis_adk) for the flexible-fitting tests.

The CHARMM-style PDBs have no element column; atom names such as HG1 or CD1 would be read as
Hg or Cd by a name-based guess. Here the heavy atoms are read with gemmi and their element is
taken from the first letter of the atom name (all standard residues: C, N, O, S).
"""

from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np

from difffit.structure import Structure

#: Textbook domains of E. coli adenylate kinase (residue ranges, inclusive).
ADK_DOMAINS = {
    "CORE": ((1, 29), (60, 121), (160, 214)),
    "LID": ((122, 159),),
    "NMP": ((30, 59),),
}

_Z = {"C": 6, "N": 7, "O": 8, "S": 16}


def read_adk(path: Path, name: str) -> Structure:
    st = gemmi.read_structure(str(path))
    xyz, names, resn, resi, elems = [], [], [], [], []
    for ch in st[0]:
        for res in ch:
            for at in res:
                if at.name.startswith("H"):
                    continue
                el = at.name[0]
                xyz.append(at.pos.tolist())
                names.append(at.name)
                resn.append(res.name)
                resi.append(res.seqid.num)
                elems.append(el)
    n = len(xyz)
    return Structure(
        name=name,
        coords_xyz=np.array(xyz),
        elements=np.array(elems),
        atomic_numbers=np.array([_Z[e] for e in elems]),
        atom_names=np.array(names),
        residue_names=np.array(resn),
        chain_ids=np.array(["A"] * n),
        residue_numbers=np.array(resi),
        insertion_codes=np.array([""] * n),
        source=path,
    )


def adk_labels(structure: Structure) -> np.ndarray:
    """Per-atom domain labels: 0 = CORE, 1 = LID, 2 = NMP."""
    labels = np.full(len(structure), -1, dtype=np.int64)
    for k, ranges in enumerate(ADK_DOMAINS.values()):
        for lo, hi in ranges:
            labels[(structure.residue_numbers >= lo) & (structure.residue_numbers <= hi)] = k
    return labels


def open_into_closed_5a(tmp_path: Path) -> tuple[Path, Path, Structure, Structure]:
    """The CLI case of the flexible tests: ADK closed simulated at 5 Å with noise (seed 7) and
    the open model, written in ``tmp_path``; returns (map, model, closed, open)."""
    from difffit.density.simulate import simulate_map
    from difffit.io import write_map, write_structure
    from tests.conftest import data_path

    closed = read_adk(data_path("mdanalysis_adk", "adk_closed.pdb"), "closed")
    open_ = read_adk(data_path("mdanalysis_adk", "adk_open.pdb"), "open")
    sim = simulate_map(closed.coords_xyz, closed.atomic_numbers.astype(np.float64), 5.0,
                       voxel_size=5.0 / 3, padding=10.0)  # fmt: skip
    rng = np.random.default_rng(7)
    noisy = sim.with_data(sim.data + rng.normal(scale=0.05, size=sim.data.shape).astype(np.float32))
    map_path = write_map(noisy, tmp_path / "closed_5A.mrc")
    model_path = write_structure(open_, tmp_path / "adk_open.pdb")
    return map_path, model_path, closed, open_
