"""``difffit screen``: --help, end to end, SIGKILL and resume, clear errors, the real demo."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from difffit.cli import main
from tests.conftest import data_path
from tests.screen_cases import FAST_ARGS, make_library


def read_candidates(folder):
    with (folder / "candidates.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def ranking(folder):
    return [(r["rank"], r["structure"], r["score"]) for r in read_candidates(folder) if r["rank"]]


def test_screen_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["screen", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--workers", "--scheduler", "--no-prefilter", "--alpha", "--out"):
        assert opt in out


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("screen_cli")
    mp, lib = make_library(d)
    return d, mp, lib


@pytest.fixture(scope="module")
def uninterrupted(case):
    d, mp, lib = case
    out = d / "full"
    argv = ["screen", str(mp), str(lib), "--out", str(out), "--seed", "5", *FAST_ARGS]
    assert main([*argv, "-q", "--threads", "1"]) == 0
    return out


def test_screen_end_to_end(case, uninterrupted, capsys):
    d, mp, lib = case
    out = uninterrupted
    rows = read_candidates(out)
    assert len(rows) == 11 and rows[0]["structure"] == "target" and rows[0]["significant"] == "1"
    assert sum(r["significant"] == "1" for r in rows) == 1
    assert float(rows[0]["cam"]) == float(rows[0]["score"]) and rows[0]["metric"] == "cam"
    assert (out / "scores.png").stat().st_size > 1000
    assert (out / "models" / "rank_001_target.cif").exists()
    man = json.loads((out / "screen.json").read_text())
    assert man["seed"] == 5 and man["significant"] == ["target"] and man["counts"]["done"] == 11
    # run again: nothing fitted, same table; the summary says so
    assert main(["screen", str(mp), str(lib), "--out", str(out), *FAST_ARGS, "-q"]) == 0
    printed = capsys.readouterr().out
    assert "0 now, 11 finished earlier" in printed and "significant at FDR 0.01: target" in printed
    assert read_candidates(out) == rows


def _committed(db):
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return dict(con.execute("SELECT sha256, finished_at FROM candidates").fetchall())
        finally:
            con.close()
    except sqlite3.OperationalError:  # created but no table yet
        return {}


def _children(pid):
    """PIDs of the processes whose parent is ``pid`` (Linux /proc; empty elsewhere)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _start(argv):
    """``difffit`` in a subprocess with Ctrl-C's default action (a background shell ignores it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "difffit", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _wait_for_commits(proc, db, n):
    deadline = time.monotonic() + 300
    while len(_committed(db)) < n:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, f"fewer than {n} candidates committed in 300 s"
        time.sleep(0.05)


def _wait_gone(pids, timeout=20.0):
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def test_sigkill_then_resume_loses_nothing_finished(case, uninterrupted, tmp_path):
    """Kill -9 a screen running on 2 worker processes; its workers go too; rerunning it (in this
    process) recomputes nothing finished and gives the uninterrupted run's ranking."""
    d, mp, lib = case
    out = tmp_path / "killed"
    argv = ["screen", str(mp), str(lib), "--out", str(out), "--seed", "5", *FAST_ARGS, "-q"]
    proc = _start([*argv, "--workers", "2"])
    try:
        _wait_for_commits(proc, out / "screen.sqlite", 2)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    # the orphaned workers notice and exit (they would otherwise finish their fit and hang)
    assert _wait_gone(workers) == []
    before = _committed(out / "screen.sqlite")
    assert 2 <= len(before) < 11, "the run must be killed part-way for this test to mean anything"
    assert not (out / "candidates.csv").exists()

    assert main([*argv, "--threads", "1"]) == 0
    man = json.loads((out / "screen.json").read_text())
    rows = read_candidates(out)
    assert man["counts"]["resumed"] == len(before), (man["counts"], rows)
    assert man["counts"]["done"] == 11, [(r["structure"], r["status"], r["reason"]) for r in rows]
    assert man["counts"]["fitted_now"] == 11 - len(before), man["counts"]
    after = _committed(out / "screen.sqlite")
    assert {k: after[k] for k in before} == before  # finished candidates were not recomputed
    assert ranking(out) == ranking(uninterrupted)


def test_ctrl_c_stops_workers_at_once_and_keeps_finished_candidates(case, tmp_path):
    d, mp, lib = case
    out = tmp_path / "interrupted"
    argv = ["screen", str(mp), str(lib), "--out", str(out), "--seed", "5", *FAST_ARGS, "-q"]
    proc = _start([*argv, "--workers", "2"])
    try:
        _wait_for_commits(proc, out / "screen.sqlite", 1)
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert _wait_gone(workers, timeout=5) == []
    kept = _committed(out / "screen.sqlite")
    assert 1 <= len(kept) < 11


def test_screen_errors_are_one_line(case, uninterrupted, tmp_path, capsys, monkeypatch):
    d, mp, lib = case
    base = ["screen", str(mp), str(lib), *FAST_ARGS, "-q"]

    def err(argv):
        assert main(argv) == 2
        msg = capsys.readouterr().err
        errors = [ln for ln in msg.splitlines() if ln.startswith("difffit: error:")]
        assert len(errors) == 1 and "Traceback" not in msg
        return errors[0]

    assert "another --out" in err([*base, "--out", str(uninterrupted), "--steps", "100"])
    assert "seed" in err([*base, "--out", str(uninterrupted), "--seed", "6"])
    assert "--alpha" in err([*base, "--out", str(tmp_path / "a"), "--alpha", "2"])
    assert "--workers" in err([*base, "--out", str(tmp_path / "b"), "--workers", "0"])
    assert "no such file" in err(
        ["screen", str(mp), str(tmp_path / "nope"), "--out", str(tmp_path / "c")]
    )
    assert "not both" in err(
        [*base, "--out", str(tmp_path / "d"), "--workers", "2", "--scheduler", "tcp://h:1"]
    )
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    assert "pip install 'difffit[dask]'" in err(
        [*base, "--out", str(tmp_path / "e"), "--scheduler", "tcp://h:1"]
    )


def test_report_without_matplotlib(case, uninterrupted, tmp_path, monkeypatch, caplog):
    from difffit import read_map
    from difffit.screen import ScreenConfig, find_library, screen, write_screen_report
    from tests.screen_cases import FAST_FIT

    d, mp, lib = case
    res = screen(
        read_map(mp), find_library([lib])[0], out=uninterrupted, config=ScreenConfig(fit=FAST_FIT)
    )
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    files = write_screen_report(res, tmp_path, n_models=0)
    assert "plot" not in files and not (tmp_path / "scores.png").exists()
    assert "pip install 'difffit[plot]'" in caplog.text


# ------------------------------------------------------------------ the DomainFit demo
@pytest.mark.realdata
@pytest.mark.slow
def test_domainfit_demo_true_hits_rank_first_and_alone_are_significant(tmp_path):
    """density2.mrc against its 3 candidate domains + the 42 large-subunit chains of a ribosome
    (6ZU5, split with difffit.split), with a reduced search (the full library is in docs)."""
    from difffit.io import read_structure, write_structure
    from difffit.split import split_chains

    mp = data_path("difffit_domainfit_demo", "density2.mrc")
    lib = tmp_path / "lib"
    lib.mkdir()
    for p in data_path("difffit_domainfit_demo", "subunits_cif").glob("*.pdb"):
        (lib / p.name).write_bytes(p.read_bytes())
    ribosome = read_structure(data_path("large_complexes", "mmcif_6zu5.cif.gz"))
    for part in split_chains(ribosome):
        if part.chains[0].startswith("L"):
            write_structure(part, lib / f"{part.name}.cif")
    assert len(list(lib.iterdir())) == 3 + 42
    out = tmp_path / "out"
    argv = [
        "screen",
        str(mp),
        str(lib),
        "--out",
        str(out),
        "--seed",
        "1",
        "--resolution",
        "5",
        "--rotations",
        "30",
        "--positions",
        "5",
        "--threads",
        "1",
        "-q",
        "--models",
        "2",
    ]
    assert main(argv) == 0
    rows = read_candidates(out)
    assert {rows[0]["structure"], rows[1]["structure"]} == {"I7M317_D1", "I7MLV6_D3"}
    fitted = [r for r in rows if r["rank"]]
    assert [r["significant"] for r in fitted] == ["1", "1"] + ["0"] * (len(fitted) - 2)
    assert float(rows[0]["cam"]) > 0.5 and float(rows[2]["cam"]) < 0.35
    # the 23S-like rRNA chain is larger than the map box: recorded, not fitted
    assert {r["structure"]: r["status"] for r in rows if not r["rank"]} == {
        "mmcif_6zu5_L50": "skipped"
    }
