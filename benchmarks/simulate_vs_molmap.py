"""difffit's simulated maps against ChimeraX ``molmap`` maps of the same models, on the same grids.

For each case ChimeraX (the PyPI library build, headless, through ``../shared/peers``) runs
``molmap #1 R onGrid #2`` and saves the map; ``difffit simulate MODEL --resolution R --like MAP``
simulates on the same grid; the script prints the Pearson correlation of the two maps over the
voxels where either is above 1 % of its maximum (and over the whole box).

    .venv/bin/python benchmarks/simulate_vs_molmap.py [--chimerax-python /tmp/venv-chimerax/bin/python]

ChimeraX is installed by ``../shared/peers/chimerax_fitmap.sh`` (into /tmp/venv-chimerax).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import difffit
from difffit.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PEERS = ROOT.parent / "shared" / "peers"

CASES = [
    ("haemoglobin 5me2 on EMD-3488", DATA / "ccpem_emd3488_haemoglobin/5me2.pdb",
     DATA / "ccpem_emd3488_haemoglobin/emd_3488.mrc", 3.2),
    ("HCN4 6gyn on EMD-0093", DATA / "mainmastseg_emd0093_hcn4/6gyn.pdb",
     DATA / "mainmastseg_emd0093_hcn4/MAP_m4A.mrc.gz", 3.4),
    ("actin 3MFP on EMD-5168 (anisotropic NSTART grid)", DATA / "tempy_actin_emd5168/3MFP.pdb",
     DATA / "tempy_actin_emd5168/emd_5168.map", 6.6),
    ("TRPV1 5778 on EMD-5778", DATA / "riken_segmented_chains/5778_native.pdb",
     DATA / "riken_segmented_chains/mrc_converted/5778.mrc", 3.4),
    ("spike NTD 6vyb on EMD-21457", DATA / "ccpem_emd21457_spike_ntd/6vyb_Ndom.pdb",
     DATA / "ccpem_emd21457_spike_ntd/emd_21457_seg.mrc", 3.2),
]  # fmt: skip

_CHIMERAX = r"""
import sys
sys.path.insert(0, {peers!r})
import chimerax_headless as h
session = h.make_session(quiet=True)
from chimerax.core.commands import run
from chimerax.map_data import save_grid_data
mol = h.open_structure(session, {model!r})
vol = h.open_volume(session, {map!r})
mm = run(session, 'molmap #%s %g onGrid #%s' % (mol.id_string, {res!r}, vol.id_string))
save_grid_data([mm.data], {out!r}, session, format='mrc')
"""


def molmap(chimerax_python: str, model: Path, grid: Path, res: float, out: Path) -> float:
    code = _CHIMERAX.format(
        peers=str(PEERS), model=str(model), map=str(grid), res=res, out=str(out)
    )
    t0 = time.perf_counter()
    proc = subprocess.run([chimerax_python, "-c", code], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"ChimeraX molmap failed on {model}:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    if mask is not None:
        a, b = a[mask], b[mask]
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chimerax-python", default="/tmp/venv-chimerax/bin/python")
    args = ap.parse_args()
    if not Path(args.chimerax_python).exists():
        raise SystemExit(
            f"{args.chimerax_python}: no ChimeraX; run ../shared/peers/chimerax_fitmap.sh once"
        )
    print(
        "| model on grid | resolution | corr (voxels > 1 % of max) | corr (whole box) | molmap s | difffit s |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for label, model, grid, res in CASES:
            if not model.exists() or not grid.exists():
                print(f"| {label} | skipped: data missing | | | | |")
                continue
            if grid.name.endswith(".gz"):  # ChimeraX opens plain MRC only: the same grid, unpacked
                plain = Path(tmp) / grid.name[:-3]
                difffit.write_map(difffit.read_map(grid), plain, overwrite=True)
                grid = plain
            cx_out = Path(tmp) / "molmap.mrc"
            df_out = Path(tmp) / "difffit.mrc"
            t_cx = molmap(args.chimerax_python, model, grid, res, cx_out)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                rc = cli(["simulate", str(model), "--resolution", str(res), "--like", str(grid),
                          "--out", str(df_out), "--overwrite"])  # fmt: skip
            t_df = time.perf_counter() - t0
            if rc:
                raise SystemExit(f"difffit simulate failed on {label}")
            cx = difffit.read_map(cx_out)
            df = difffit.read_map(df_out)
            if not cx.same_grid(df):
                raise SystemExit(f"{label}: molmap grid {cx!r} differs from {df!r}")
            c, d = cx.data, df.data
            mask = (c > 0.01 * c.max()) | (d > 0.01 * d.max())
            print(f"| {label} | {res:g} Å | {correlation(c, d, mask):.6f} | {correlation(c, d):.6f} "
                  f"| {t_cx:.1f} | {t_df:.2f} |")  # fmt: skip
            sys.stdout.flush()


if __name__ == "__main__":
    main()
