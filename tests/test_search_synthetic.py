"""Known-answer tests: a structure planted at a seeded random pose, its map simulated, fitted."""

import numpy as np
import pytest

from difffit import FitConfig, QualityConfig, SearchConfig, fit
from difffit.errors import ConfigError, FitError
from difffit.geometry import angle_between_deg
from tests.synthetic import planted_case, protein_like

SMALL = FitConfig(
    search=SearchConfig(n_rotations=40, n_positions=5, oversample=5),
    quality=QualityConfig(resolution=5.0),
)


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_pose_is_top_cluster(seed):
    rng = np.random.default_rng(seed)
    st = protein_like(100, rng)
    density, pose = planted_case(st, rng, resolution=5.0, noise=0.05)
    result = fit(density, st, seed=seed, config=FitConfig(quality=QualityConfig(resolution=5.0)))
    top = result.clusters[0]
    centre = st.centre_xyz[None]
    assert np.linalg.norm(top.transform.apply(centre) - pose.apply(centre)) < 1.0
    assert angle_between_deg(top.transform.rotation, pose.rotation) < 3.0
    assert top.hits >= 10
    assert top.correlation > 0.9


def test_same_seed_same_table():
    rng = np.random.default_rng(3)
    st = protein_like(60, rng)
    density, _ = planted_case(st, rng)
    a = fit(density, st, seed=7, config=SMALL)
    b = fit(density, st, seed=7, config=SMALL)
    c = fit(density, st, seed=8, config=SMALL)
    rows = lambda r: [x.row() for x in r.clusters]  # noqa: E731
    assert rows(a) == rows(b)
    assert np.array_equal(a.fits["score"], b.fits["score"])
    assert not np.array_equal(a.fits["score"], c.fits["score"])
    assert a.seed == 7


def test_several_structures_one_table():
    rng = np.random.default_rng(4)
    st = protein_like(60, rng, name="right")
    other = protein_like(60, np.random.default_rng(99), name="wrong")
    density, _ = planted_case(st, rng)
    r = fit(density, [other, st], seed=1, config=SMALL)
    assert r.clusters[0].structure == "right"
    assert {c.structure for c in r.clusters} == {"right", "wrong"}
    assert [c.rank for c in r.clusters] == list(range(1, len(r.clusters) + 1))
    assert len(r.fits["fit_id"]) == 2 * SMALL.search.n_placements
    # every fit belongs to a ranked cluster, and the hits add up
    assert r.fits["cluster_rank"].min() >= 1
    assert sum(c.hits for c in r.clusters) == len(r.fits["fit_id"])


def test_bad_options_and_inputs():
    rng = np.random.default_rng(5)
    st = protein_like(40, rng)
    density, _ = planted_case(st, rng)
    with pytest.raises(ConfigError):
        SearchConfig(n_rotations=0)
    with pytest.raises(ConfigError, match="screen_steps"):
        SearchConfig(oversample=4, screen_steps=0)
    with pytest.raises(ConfigError, match="seed"):
        fit(density, st, seed=-1)
    with pytest.raises(ConfigError, match="device"):
        fit(density, st, device="tpu")
    with pytest.raises(ConfigError, match="unique"):
        fit(density, [st, st], config=SMALL)
    tiny = density.with_data(density.data)  # same map, a structure far too big for it
    big = protein_like(1500, rng)
    with pytest.raises(FitError, match="larger than the whole map box"):
        fit(tiny, big, config=SMALL)


def test_torch_path_finds_the_same_top_cluster(monkeypatch):
    """The torch implementation (the one CUDA runs) gives the same answer as the fused CPU kernel."""
    from difffit.fitting import optimise

    rng = np.random.default_rng(21)
    st = protein_like(60, rng)
    density, pose = planted_case(st, rng)
    fused = fit(density, st, seed=2, config=SMALL, device="cpu")
    monkeypatch.setattr(optimise, "USE_FUSED", False)
    torch_path = fit(density, st, seed=2, config=SMALL, device="cpu")
    a, b = fused.clusters[0], torch_path.clusters[0]
    ca = st.coords_xyz[st.mask("ca")]
    assert np.sqrt(((a.transform.apply(ca) - b.transform.apply(ca)) ** 2).sum(axis=1).mean()) < 0.5
    assert np.sqrt(((a.transform.apply(ca) - pose.apply(ca)) ** 2).sum(axis=1).mean()) < 1.0
    assert abs(a.hits - b.hits) <= max(3, 0.1 * a.hits)


_CHILD = """
import hashlib, sys
import numpy as np
from tests.synthetic import planted_case, protein_like
import difffit
rng = np.random.default_rng(3)
st = protein_like(50, rng)
density, _ = planted_case(st, rng)
cfg = difffit.FitConfig(search=difffit.SearchConfig(n_rotations=12, n_positions=4, oversample=3))
r = difffit.fit(density, st, seed=5, config=cfg, threads=int(sys.argv[1]))
print(hashlib.sha256(r.fits["score"].tobytes() + r.fits["correlation"].tobytes()).hexdigest())
"""


def test_same_seed_same_result_in_every_process(tmp_path):
    """Bit-identical fits from a freshly compiled kernel, a cached one, 1 or 2 threads."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    root = Path(__file__).resolve().parents[1]
    runs = [
        subprocess.run(
            [sys.executable, "-c", _CHILD, str(t)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for t in (2, 2, 1)
    ]
    assert runs[0] == runs[1] == runs[2], runs


def test_fit_restores_the_thread_count():
    """fit(threads=n) changes the threads for the call only, also when the fit fails."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2 to see a change")
    rng = np.random.default_rng(6)
    st = protein_like(40, rng)
    density, _ = planted_case(st, rng)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        tiny = SearchConfig(n_rotations=4, n_positions=2, oversample=1, screen_steps=0, n_steps=5)
        r = fit(density, st, seed=1, threads=2, config=FitConfig(search=tiny))
        assert r.info["threads"] == 2 and numba.get_num_threads() == 1
        with pytest.raises(FitError, match="larger than the whole map box"):
            fit(density, protein_like(1500, rng), threads=2, config=FitConfig(search=tiny))
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)
