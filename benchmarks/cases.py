"""The benchmark cases: real maps and models from ``../shared/data`` and how a fit is judged.

Every tool gets the same model file: the case's chain(s) written by :func:`model_input` with
protein/nucleic heavy atoms only (no hydrogens, waters, ligands or alternative conformations),
in the coordinates of the source file. Reference poses (``benchmarks/reference/<case>.json``)
map those coordinates into the map frame; a fit is correct when its top solution is within
3 Å (centroid of CA atoms) and 6° of one of them (see :mod:`benchmarks.judge`).

ChimeraX needs a contour level (its search keeps placements with ≥ 10 % of atoms inside the
contour and draws positions in the contour's bounding box): ``cx_level`` is difffit's automatic
level (Otsu threshold of the map, what difffit uses by default), rounded, so that both see the
same contour; the demo keeps 1.0, the level of ``peers/README.md`` and of its reference pose.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CASES",
    "Case",
    "ca_coords",
    "data_dir",
    "get_case",
    "map_input",
    "model_input",
    "reference_poses",
]

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def data_dir() -> Path:
    """The shared real-data folder (env ``DIFFFIT_DATA``, default ``../shared/data``)."""
    return Path(os.environ.get("DIFFFIT_DATA", ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Case:
    """One fitting case.

    Attributes
    ----------
    name : str
        Short id used on the command line and in tables.
    title : str
    map, model : str
        Paths relative to :func:`data_dir`.
    chains : tuple of str or None
        Chains of ``model`` to fit (None = all).
    resolution : float
        Map resolution, Å: difffit ``--resolution``, ChimeraX map mode ``resolution``, PowerFit.
    cx_level : float
        Contour level given to ChimeraX (map units).
    correctness : str
        How the reference poses were obtained (one line, shown in NOTES.md).
    """

    name: str
    title: str
    map: str
    model: str
    chains: tuple[str, ...] | None
    resolution: float
    cx_level: float
    correctness: str

    @property
    def map_path(self) -> Path:
        return data_dir() / self.map

    @property
    def model_path(self) -> Path:
        return data_dir() / self.model

    @property
    def reference_path(self) -> Path:
        return REFERENCE_DIR / f"{self.name}.json"

    def available(self) -> bool:
        return self.map_path.exists() and self.model_path.exists()


CASES: tuple[Case, ...] = (
    Case(
        name="demo",
        title="DomainFit demo: I7MLV6_D3 into density2.mrc",
        map="difffit_domainfit_demo/density2.mrc",
        model="difffit_domainfit_demo/subunits_cif/I7MLV6_D3.pdb",
        chains=None,
        resolution=5.0,
        cx_level=1.0,
        correctness="reference_poses.json of the demo (ChimeraX search 1000 best, agrees with PowerFit and DiffFit)",
    ),
    Case(
        name="demo_m317",
        title="DomainFit demo: I7M317_D1 into density2.mrc",
        map="difffit_domainfit_demo/density2.mrc",
        model="difffit_domainfit_demo/subunits_cif/I7M317_D1.pdb",
        chains=None,
        resolution=5.0,
        cx_level=1.0,
        correctness="reference_poses.json of the demo (ChimeraX search 1000 best, agrees with PowerFit and DiffFit)",
    ),
    Case(
        name="haemoglobin",
        title="Haemoglobin 5me2 chain A into EMD-3488 (emd_3488.mrc)",
        map="ccpem_emd3488_haemoglobin/emd_3488.mrc",
        model="ccpem_emd3488_haemoglobin/5me2.pdb",
        chains=("A",),
        resolution=3.2,
        cx_level=0.1,
        correctness="deposited chain A, or chain A superposed on chain C (the other alpha chain)",
    ),
    Case(
        name="hcn4",
        title="HCN4 6gyn chain A into EMD-0093 (MAP_m4A.mrc.gz, 220^3)",
        map="mainmastseg_emd0093_hcn4/MAP_m4A.mrc.gz",
        model="mainmastseg_emd0093_hcn4/6gyn.pdb",
        chains=("A",),
        resolution=3.4,
        cx_level=0.57,
        correctness="deposited chain A, or chain A superposed on chain B, C or D (C4 tetramer)",
    ),
    Case(
        name="actin",
        title="Actin 3MFP into EMD-5168 (emd_5168.map, filament crop)",
        map="tempy_actin_emd5168/emd_5168.map",
        model="tempy_actin_emd5168/3MFP.pdb",
        chains=None,
        resolution=6.6,
        cx_level=6.5,
        correctness="deposited pose, or a copy moved by the filament's helical operator "
        "(derived from peer/difffit solutions, see reference/actin.json)",
    ),
    Case(
        name="groel",
        title="GroEL 1oel chain A into EMD-1997 (1997.map, 14-mer)",
        map="powerfit_emd1997_groel/1997.map",
        model="powerfit_emd1997_groel/1oel.pdb",
        chains=("A",),
        resolution=7.0,
        cx_level=0.6,
        correctness="peer consensus pose of chain A and its 13 symmetry mates "
        "(1oel's 7 chains x its 2 BIOMT operators), see reference/groel.json",
    ),
)

#: The cases the issue asks for (the second demo domain is optional).
DEFAULT_CASES = ("demo", "haemoglobin", "hcn4", "actin", "groel")


def get_case(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(f"unknown case {name!r}; known: {', '.join(c.name for c in CASES)}")


def model_input(case: Case, work_dir: Path) -> Path:
    """Write the case's model as every tool will read it; returns the path (PDB format).

    The case's chains, first model, heavy atoms of polymer residues only, first alternative
    conformation, coordinates unchanged. Written once per ``work_dir``.
    """
    import gemmi

    out = work_dir / "inputs" / f"{case.name}.pdb"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    st = gemmi.read_structure(str(case.model_path))
    st.setup_entities()
    while len(st) > 1:
        del st[1]
    st.remove_alternative_conformations()
    st.remove_hydrogens()
    st.remove_ligands_and_waters()
    if case.chains is not None:
        model = st[0]
        for i in reversed(range(len(model))):
            if model[i].name not in case.chains:
                del model[i]
    st.remove_empty_chains()
    if sum(1 for _ in st[0].all()) == 0:
        raise RuntimeError(f"{case.model_path}: no atoms left for chains {case.chains}")
    tmp = out.with_suffix(".part")
    st.write_pdb(str(tmp), gemmi.PdbWriteOptions(minimal=True))
    tmp.replace(out)
    return out


def map_input(case: Case, work_dir: Path) -> Path:
    """The map file every tool reads: the data file, or a decompressed copy of a ``.gz`` map.

    ChimeraX's reader does not take ``.mrc.gz``; all tools get the same decompressed file (in
    ``work_dir/inputs``, written once) so that they read the same bytes.
    """
    if case.map_path.suffix != ".gz":
        return case.map_path
    import gzip
    import shutil

    out = work_dir / "inputs" / case.map_path.name[: -len(".gz")]
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        with gzip.open(case.map_path, "rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(out)
    return out


def ca_coords(model: Path) -> np.ndarray:
    """(n, 3) CA (protein) or P (nucleic) coordinates of a model file, Å."""
    import gemmi

    st = gemmi.read_structure(str(model))
    xyz = [
        a.pos.tolist()
        for ch in st[0]
        for res in ch
        for a in res
        if a.name in ("CA", "P") and a.altloc in ("\0", "A")
    ]
    if not xyz:
        raise RuntimeError(f"{model}: no CA/P atoms")
    return np.asarray(xyz, dtype=np.float64)


def reference_poses(case: Case) -> list[tuple[str, np.ndarray]]:
    """The case's equally correct reference poses: (label, (3, 4) array) pairs."""
    if not case.reference_path.exists():
        raise FileNotFoundError(
            f"{case.reference_path}: no reference poses for case {case.name!r} "
            "(make them with benchmarks/make_references.py)"
        )
    doc = json.loads(case.reference_path.read_text())
    return [
        (p["label"], np.asarray(p["matrix_3x4"], dtype=np.float64).reshape(3, 4))
        for p in doc["poses"]
    ]
