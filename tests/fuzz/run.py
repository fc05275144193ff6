"""Run every mutant through the command line and classify what happened (issue #13).

Maps go through a tiny ``difffit fit`` (against the valid base peptide), structures through
``difffit simulate``; both in-process via :func:`difffit.cli.main`. Outcomes:

* ``clean error``: exit 2, the last stderr line is the only ``difffit: error:`` line, and it names
  the file (or the reader accepted the file correctly and the workflow refused the map for what
  it is: a constant map has no automatic level), no traceback;
* ``correct success``: exit 0 and the reader's result is the mutant's expected one (see
  :mod:`tests.fuzz.mutants`; ``"any"`` = no single right reading, any finite one is correct);
* ``anything else``: everything else (exit 70, a traceback, a success with a wrong answer or of
  a file that must be refused, an error for a file that must be read, a hang).
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
from collections import Counter
from pathlib import Path

import numpy as np

from difffit.cli import main
from difffit.errors import DiffFitError
from difffit.io.maps import read_map
from difffit.io.structures import read_structure
from tests.fuzz.mutants import Mutant, _pdb_text, base_structure, map_mutants, structure_mutants

__all__ = ["OUTCOMES", "run_mutants", "table"]

OUTCOMES = ("clean error", "correct success", "anything else")
FIT = ["--rotations", "2", "--positions", "1", "--oversample", "1", "--screen-steps", "1",
       "--steps", "2", "--smooth", "0", "--refine", "0", "--models", "0", "--resolution", "8",
       "--min-island", "1", "--threads", "1", "-q", "--seed", "1"]  # fmt: skip
SIMULATE = ["--resolution", "8", "--voxel-size", "4"]


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def _read_matches(m: Mutant, path: Path) -> tuple[bool, str]:
    """Whether the reader's result of ``path`` is the mutant's expected one."""
    if m.expect is None:
        return False, "read, but must be refused"
    try:
        got = read_map(path) if m.kind == "map" else read_structure(path)
    except DiffFitError as exc:
        return False, f"CLI read it but the reader refuses it: {exc}"
    if m.expect == "any":
        ok = np.all(np.isfinite(got.data if m.kind == "map" else got.coords_xyz))
        return bool(ok), "" if ok else "non-finite values"
    if m.kind == "map":
        data, voxel, origin = m.expect
        if got.shape_zyx != data.shape or not np.array_equal(got.data, data):
            return False, f"data differ (shape {got.shape_zyx} vs {data.shape})"
        if not np.allclose(got.voxel_size_xyz, voxel, rtol=1e-5):
            return False, f"voxel {got.voxel_size_xyz} vs {voxel}"
        if not np.allclose(got.origin_xyz, origin, rtol=1e-5, atol=1e-3):
            return False, f"origin {got.origin_xyz} vs {origin}"
        return True, ""
    coords, elements = m.expect
    if len(got) != len(coords):
        return False, f"{len(got)} atoms, expected {len(coords)}"
    if not np.allclose(got.coords_xyz, coords, atol=1e-3):
        return False, "coordinates differ"
    if [str(e) for e in got.elements] != elements:
        return False, f"elements {list(got.elements)[:6]} ..."
    return True, ""


def _classify(m: Mutant, path: Path, code: int, err: str) -> tuple[str, str]:
    if "Traceback" in err:
        return "anything else", "traceback"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code == 0:
        ok, why = _read_matches(m, path)
        return ("correct success", "") if ok else ("anything else", why)
    if code == 2:
        errors = [ln for ln in lines if ln.startswith("difffit: error:")]
        if len(errors) != 1 or lines[-1] != errors[0]:
            return "anything else", f"not one error line: {lines[-3:]}"
        if m.must_read:
            return "anything else", f"must read: {errors[0]}"
        if str(path) not in errors[0]:
            ok, why = (False, "") if m.expect is None else _read_matches(m, path)
            if not ok:
                return "anything else", f"error does not name the file: {errors[0]}"
        return "clean error", errors[0]
    return "anything else", f"exit {code}: {lines[-1:] if lines else ''}"


def run_mutants(folder: Path, mutants: list[Mutant] | None = None) -> list[dict]:
    """Run each mutant (all map and structure mutants by default) in ``folder``; one row per
    mutant: kind, class, name, exit code, outcome, detail."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if mutants is None:
        mutants = map_mutants() + structure_mutants()
    pdb = folder / "base-peptide.pdb"
    pdb.write_text(_pdb_text(base_structure()))
    rows = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i, m in enumerate(mutants):
            sub = folder / f"{i:04d}"
            sub.mkdir()
            path = m.build(sub)
            if m.kind == "map":
                argv = ["fit", str(path), str(pdb), "--out", str(sub / "out"), *FIT]
            else:
                argv = ["simulate", str(path), *SIMULATE, "-o", str(sub / "sim.mrc")]
            out, err = io.StringIO(), io.StringIO()
            signal.alarm(30)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = main(argv)
            except _Hang:
                code, err = -1, io.StringIO("hang (over 30 s)")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                signal.alarm(0)
            outcome, detail = _classify(m, path, code, err.getvalue())
            rows.append({"kind": m.kind, "class": m.cls, "name": m.name, "exit": code,
                         "outcome": outcome, "detail": detail})  # fmt: skip
    finally:
        signal.signal(signal.SIGALRM, old)
    return rows


def table(rows: list[dict]) -> str:
    """The per-class table: tried / clean error / correct success / anything else."""
    classes = list(dict.fromkeys((r["kind"], r["class"]) for r in rows))
    count = Counter((r["kind"], r["class"], r["outcome"]) for r in rows)
    head = f"{'kind':<10} {'class':<28} {'tried':>5} {'clean error':>11} {'correct':>8} {'else':>5}"
    lines = [head, "-" * len(head)]
    for kind, cls in classes:
        n = [count[(kind, cls, o)] for o in OUTCOMES]
        lines.append(f"{kind:<10} {cls:<28} {sum(n):>5} {n[0]:>11} {n[1]:>8} {n[2]:>5}")
    tot = [sum(1 for r in rows if r["outcome"] == o) for o in OUTCOMES]
    lines.append(f"{'total':<39} {len(rows):>5} {tot[0]:>11} {tot[1]:>8} {tot[2]:>5}")
    return "\n".join(lines)


def write_json(rows: list[dict], path: Path) -> None:
    Path(path).write_text(json.dumps(rows, indent=1))
