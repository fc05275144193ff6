"""``difffit --help`` loads no compute library (numpy, numba, torch, gemmi, scipy): every
subcommand builds its options from light modules and imports the heavy code in ``run``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("numpy", "numba", "torch", "gemmi", "scipy")

PROBE = """
import runpy, sys
sys.argv = ["difffit", *sys.argv[1:]]
try:
    runpy.run_module("difffit", run_name="__main__")
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("LOADED:" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["screen", "--help"]])
def test_help_imports_no_compute_library(argv):
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert "usage: difffit" in proc.stdout
    loaded = proc.stderr.strip().rpartition("LOADED:")[2]
    assert loaded == "", f"difffit {' '.join(argv)} imported {loaded}"


def test_lazy_package_names_resolve():
    import difffit

    for name in difffit.__all__:
        assert getattr(difffit, name) is not None
    with pytest.raises(AttributeError):
        difffit.no_such_name  # noqa: B018
