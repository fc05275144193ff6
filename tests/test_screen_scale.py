"""Screening at scale (issue 15): the hierarchical screen, tar-archive libraries, accession
lists, and a real Dask deployment (a scheduler and workers started as separate commands)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from difffit import read_map
from difffit.errors import ConfigError
from difffit.io.fetch import parse_accession
from difffit.io.structures import read_structure
from difffit.screen import ScreenConfig, find_library, screen, write_screen_report
from difffit.screen.confidence import confidence_of_statistic
from difffit.screen.hierarchy import calibrate, calibration_sample, cheap_fit_config, next_full
from difffit.screen.library import read_entry, read_location
from tests.screen_cases import FAST_FIT, make_library

CONFIG = ScreenConfig(fit=FAST_FIT)
HIER = dataclasses.replace(CONFIG, strategy="hierarchical", full_top=2, calibration=3)


def ranking(result):
    return [(c.rank, c.record.name, round(c.record.score, 6)) for c in result.ranked]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale")
    mp, lib = make_library(d)
    return d, mp, lib, read_map(mp), find_library([lib])[0]


@pytest.fixture(scope="module")
def plain(case, tmp_path_factory):
    _, _, _, density, entries = case
    return screen(density, entries, out=tmp_path_factory.mktemp("plain"), config=CONFIG, seed=7)


# ----------------------------------------------------------------------- the hierarchy
def test_calibration_shift_and_bound_known_answer():
    rng = np.random.default_rng(3)
    c = rng.normal(4.0, 1.0, 200)
    f = c + 1.5 + rng.normal(0, 0.2, 200)
    f[:3] += 20.0  # hits far off do not move a robust estimate
    cal = calibrate(c, f, margin=4.0)
    assert cal.shift == pytest.approx(1.5, abs=0.05)
    assert cal.residual_sd == pytest.approx(0.2, abs=0.04)
    assert cal.bound == pytest.approx(cal.max_residual) and cal.bound > 4 * cal.residual_sd
    np.testing.assert_allclose(cal.predict([1.0, 2.0]), [1.0 + cal.shift, 2.0 + cal.shift])
    assert calibrate(np.empty(0), np.empty(0), margin=4.0).n == 0


def _null_library(n: int, seed: int) -> tuple[list[str], dict[str, float], dict[str, float]]:
    """``n`` wrong candidates (Gumbel cheap statistics), two clear hits and one near the edge;
    the full statistic is the cheap one shifted by 0.5, with a residual."""
    rng = np.random.default_rng(seed)
    keys = [f"{i:05d}" for i in range(n)]
    u_cheap = {k: float(v) for k, v in zip(keys, rng.gumbel(4.0, 0.6, n), strict=True)}
    u_cheap[keys[0]] = 25.0  # hits
    u_cheap[keys[1]] = 24.0
    u_cheap[keys[2]] = 9.5  # a candidate near BH's cut
    truth = {k: v + 0.5 + 0.4 * np.sin(i) for i, (k, v) in enumerate(u_cheap.items())}
    return keys, u_cheap, truth


def test_next_full_promotes_what_could_be_significant_and_only_that():
    keys, u_cheap, truth = _null_library(300, seed=4)
    sample = set(calibration_sample(keys[3:], 30, seed=1))
    known = {k: truth[k] for k in sample}
    plan = next_full(u_cheap, known, random_sample=sample, metric="cam", alpha=0.01, margin=4.0)
    assert {"00000", "00001", "00002"} <= set(plan.more)
    assert len(plan.more) < 20  # most of the library keeps its cheap result
    rest = [k for k in u_cheap if k not in known and k not in plan.more]
    assert all(plan.statistic[k] + plan.calibration.bound < plan.u_sig for k in rest)
    assert plan.gap > 0
    # the guarantee: every candidate left at its upper bound at once, none is significant
    upper = {k: plan.statistic[k] + (plan.calibration.bound if k in rest else 0.0) for k in keys}
    conf = confidence_of_statistic(np.array([upper[k] for k in keys]), metric="cam", alpha=0.01)
    assert not any(sig for k, sig in zip(keys, conf.significant, strict=True) if k in rest)
    # a p-value rule (p < alpha) would have sent many more: the cut is BH's, not alpha
    # the random sample depends on the seed and the identities, not on the order
    assert set(calibration_sample(keys[::-1][:-3], 30, seed=1)) == sample


def test_next_full_promotions_do_not_grow_with_the_library():
    """Ten times the wrong candidates, about the same promotions (the full stage is bounded by
    the hits, not by the library's size)."""
    counts = []
    for n in (500, 5000):
        keys, u_cheap, truth = _null_library(n, seed=5)
        sample = set(calibration_sample(keys[3:], 30, seed=2))
        known = {k: truth[k] for k in sample}
        plan = next_full(u_cheap, known, random_sample=sample, metric="cam", alpha=0.01,
                         margin=4.0)  # fmt: skip
        assert {"00000", "00001"} <= set(plan.more)
        counts.append(len(plan.more))
    assert counts[1] <= 2 * counts[0] + 5, counts
    # a p-value rule (upper bound at p < alpha) would grow with the library
    conf = confidence_of_statistic(np.array([plan.statistic[k] for k in keys]), metric="cam")
    upper = [plan.statistic[k] + plan.calibration.bound for k in keys if k not in known]
    assert (conf.null.p_value(np.array(upper)) < 0.01).sum() > 5 * counts[1]


def test_cheap_config_keeps_map_metrics_and_clustering():
    cheap = cheap_fit_config(FAST_FIT)
    assert cheap.prep == FAST_FIT.prep and cheap.quality == FAST_FIT.quality
    assert cheap.cluster.shift_tolerance == FAST_FIT.cluster.shift_tolerance
    assert cheap.cluster.angle_tolerance_deg == FAST_FIT.cluster.angle_tolerance_deg
    assert cheap.cluster.sort_by == FAST_FIT.cluster.sort_by and cheap.search.selection == "ca"
    assert cheap.search.n_starts < FAST_FIT.search.n_starts
    # it keeps its best clusters only (never more than the fit's own limit)
    assert FAST_FIT.cluster.max_clusters == 0 and cheap.cluster.max_clusters == 5
    fewer = FAST_FIT.replace(cluster=FAST_FIT.cluster.replace(max_clusters=2))
    assert cheap_fit_config(fewer).cluster.max_clusters == 2


def test_hierarchical_screen_same_answer_resumes_and_records_stages(case, plain, tmp_path):
    _, mp, _, density, entries = case
    res = screen(density, entries, out=tmp_path, config=HIER, seed=7)
    assert (
        [c.record.name for c in res.significant]
        == ["target"]
        == [c.record.name for c in plain.significant]
    )
    assert res.ranked[0].record.name == "target" and res.ranked[0].search == "full"
    h = res.info["hierarchy"]
    assert h["candidates"] == 11 and h["full"] + h["cheap_only"] == 11 and h["cheap_only"] > 0
    # a fully searched candidate's record is the plain screen's, to the bit
    by = {c.record.sha256: c for c in plain.ranked}
    for c in res.ranked:
        if c.search == "full":
            assert c.record.score == by[c.record.sha256].record.score
            assert c.norm_score == by[c.record.sha256].norm_score
    again = screen(density, entries, out=tmp_path, config=HIER)
    assert again.counts["fitted_now"] == 0 and ranking(again) == ranking(res)
    files = write_screen_report(res, tmp_path, map_path=mp, n_models=1, plot=False)
    rows = (tmp_path / files["candidates"]).read_text().splitlines()
    assert rows[0].split(",").count("search") == 1
    assert {r.split(",")[rows[0].split(",").index("search")] for r in rows[1:]} == {"full", "cheap"}
    # a plain screen cannot resume a hierarchical folder (other run identity)
    with pytest.raises(ConfigError, match="another --out"):
        screen(density, entries, out=tmp_path, config=CONFIG)


# --------------------------------------------------------------------- tar libraries
def test_tar_of_gz_members_is_read_in_place_with_the_files_identity(case, tmp_path):
    _, _, lib, _, entries = case
    shard = tmp_path / "proteome_shard.tar"
    gz = tmp_path / "gz"
    gz.mkdir()
    with tarfile.open(shard, "w") as tf:
        for p in sorted(lib.glob("*.pdb"))[:4]:
            data = gzip.compress(p.read_bytes(), mtime=0)
            (gz / f"{p.stem}.pdb.gz").write_bytes(data)
            tf.add(gz / f"{p.stem}.pdb.gz", arcname=f"AF-{p.stem}-F1-model_v4.pdb.gz")
        info = tarfile.TarInfo("README.txt")  # not a structure: ignored
        info.size = 2
        tf.addfile(info, __import__("io").BytesIO(b"hi"))
    from_tar, _ = find_library([shard])
    from_files, _ = find_library([gz])
    assert [e.sha256 for e in from_tar] == [e.sha256 for e in from_files]
    assert from_tar[0].name.startswith("AF-") and from_tar[0].member
    for e, f in zip(from_tar, from_files, strict=True):
        a, b = read_entry(e), read_structure(f.path)
        np.testing.assert_array_equal(a.coords_xyz, b.coords_xyz)
        np.testing.assert_array_equal(read_location(e.location).coords_xyz, b.coords_xyz)
    # the same archive twice, or its members also as files: each candidate once
    both, n_dup = find_library([shard, gz])
    assert len(both) == 4 and n_dup == 4
    with pytest.raises(ConfigError, match="uncompressed tar"):
        bad = tmp_path / "bad.tar"
        bad.write_bytes(b"not a tar" * 100)
        find_library([bad])


def test_tar_members_take_the_selection_and_plddt_floor(case, tmp_path):
    """A selection (ARCHIVE:RANGES) and --min-plddt apply to an archive's members as to files:
    the same atoms, a new identity, and the reader applies them from the location."""
    _, _, lib, _, _ = case
    p = sorted(lib.glob("*.pdb"))[0]
    shard = tmp_path / "one.tar"
    with tarfile.open(shard, "w") as tf:
        tf.add(p, arcname=p.name)
    whole = read_structure(p)
    chain = whole.chains[0]
    nums = sorted({int(r) for r in whole.residue_numbers[whole.chain_ids == chain]})
    first, last = nums[0], nums[len(nums) // 2]
    sel = f"{chain}:{first}-{last}"
    (from_tar,), _ = find_library([f"{shard}:{sel}"])
    (from_file,), _ = find_library([f"{p}:{sel}"])
    assert from_tar.member and from_tar.selection == from_file.selection
    assert from_tar.sha256 == from_file.sha256 != find_library([shard])[0][0].sha256
    a, b = read_entry(from_tar), read_entry(from_file)
    assert 0 < len(a) < len(whole)
    np.testing.assert_array_equal(a.coords_xyz, b.coords_xyz)
    c = read_location(from_tar.location, selection=from_tar.selection)
    np.testing.assert_array_equal(c.coords_xyz, b.coords_xyz)
    (floored,), _ = find_library([shard], min_plddt=1e6)  # every residue below: none searched
    assert floored.selection and floored.sha256 != from_tar.sha256


def test_uniprot_accession_list_file(tmp_path):
    ids = tmp_path / "proteome.tsv"
    ids.write_text("Entry\tEntry Name\nQ99J21\tX_MOUSE\nP69905\tHBA_HUMAN\n# done\nq99j21\tdup\n")
    got = [str(a) for a in parse_accession(f"uniprot:@{ids}")]
    assert got == ["afdb:Q99J21", "afdb:P69905"]
    with pytest.raises(ConfigError, match="cannot read"):
        parse_accession(f"uniprot:@{tmp_path / 'missing.txt'}")


# --------------------------------------------------------- a real Dask deployment
def _dask_cli() -> list[str]:
    """The ``dask`` command of this environment (``dask scheduler``, ``dask worker``)."""
    return [sys.executable, "-m", "dask"]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("w") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # fmt: skip


def _scheduler(folder: Path) -> tuple[subprocess.Popen, str]:
    sfile = folder / "scheduler.json"
    sfile.unlink(missing_ok=True)
    proc = _start([*_dask_cli(), "scheduler", "--host", "127.0.0.1", "--port", "0",
                   "--no-dashboard", "--scheduler-file", str(sfile)], folder / "scheduler.log")  # fmt: skip
    t0 = time.time()
    while not sfile.exists() or not sfile.read_text().strip():
        if time.time() - t0 > 30 or proc.poll() is not None:
            raise RuntimeError((folder / "scheduler.log").read_text())
        time.sleep(0.1)
    time.sleep(0.1)
    return proc, json.loads(sfile.read_text())["address"]


def _worker(address: str, log: Path) -> subprocess.Popen:
    return _start([*_dask_cli(), "worker", address, "--nthreads", "1", "--no-nanny",
                   "--no-dashboard", "--memory-limit", "0"], log)  # fmt: skip


def _wait_workers(address: str, n: int) -> None:
    import distributed

    with distributed.Client(address, timeout="20s") as c:
        c.wait_for_workers(n, timeout=60)


def _stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def test_dask_scheduler_and_workers_as_separate_commands(case, plain, tmp_path):
    """``dask scheduler`` + 2 ``dask worker`` processes: the local ranking; one worker killed
    mid-run loses nothing; the scheduler killed mid-run, a new one started: the screen resumes."""
    pytest.importorskip("distributed")
    _, _, _, density, entries = case
    procs: list[subprocess.Popen] = []
    try:
        sched, addr = _scheduler(tmp_path)
        w1, w2 = _worker(addr, tmp_path / "w1.log"), _worker(addr, tmp_path / "w2.log")
        procs += [sched, w1, w2]
        _wait_workers(addr, 2)

        def kill_one(ev):  # SIGKILL a worker once 3 candidates are done
            if ev.done == 3 and w1.poll() is None:
                os.killpg(w1.pid, signal.SIGKILL)

        res = screen(density, entries, out=tmp_path / "a", config=CONFIG, seed=7,
                     scheduler=addr, progress=kill_one)  # fmt: skip
        assert w1.poll() is not None  # it was killed during the run
        assert ranking(res) == ranking(plain) and res.counts["failed"] == 0

        # the scheduler dies mid-run: what was finished is kept, a new cluster resumes
        def kill_scheduler(ev):
            if ev.done == 4 and sched.poll() is None:
                os.killpg(sched.pid, signal.SIGKILL)

        with pytest.raises(Exception):  # noqa: B017 - whatever distributed raises on a lost scheduler
            screen(density, entries, out=tmp_path / "b", config=CONFIG, seed=7,
                   scheduler=addr, progress=kill_scheduler)  # fmt: skip
        _stop(*procs)
        sched, addr = _scheduler(tmp_path)
        w3 = _worker(addr, tmp_path / "w3.log")
        procs += [sched, w3]
        _wait_workers(addr, 1)
        again = screen(density, entries, out=tmp_path / "b", config=CONFIG, scheduler=addr)
        assert again.counts["resumed"] >= 4 and again.counts["resumed"] < 11
        assert ranking(again) == ranking(plain)
    finally:
        _stop(*procs)
