"""How difffit's time grows — with atoms, placements, steps and map size — and how fast its
sampling kernel is against limits measured on this machine.

::

    .venv/bin/python benchmarks/scaling.py --out bench-out/scaling [--reps 3] [--quick]
        [--only atoms,placements,steps,map,kernel]

Sweeps (each point one ``difffit.fit`` in this process after a warm-up fit; median of --reps):

atoms       GroEL 1oel chain A into 1997.map, the chain cut after its first k residues
            (~500 … 3847 heavy atoms), default settings
placements  the demo (I7MLV6_D3 into density2.mrc), ``n_rotations`` × 10 positions
steps       the demo, ``n_steps`` (the coarse/fine split keeps its fractions)
map         the demo map resampled finer (scipy zoom, voxel / f) and padded with zeros into a
            larger box (content unchanged, box grows); contour level fixed to the original
            map's automatic level

Kernel micro-benchmark: ``difffit.kernels.score_and_grad`` (value + gradient at every atom of
every placement: the search's hot loop) on 1000 random placements, in points (placement × atom)
per second, against two limits measured here with Numba on the same threads:

* ``gather``: the same points, same map, only the 8 corner loads of each point's cell and
  their sum — no weights, no gradient: an upper bound for any trilinear sampler with this
  access pattern;
* ``stream``: sequential read bandwidth (GB/s) of a 512 MB array, and the points/s it would
  allow if every point had to fetch its 8 corners (32 bytes) from memory.

Also the fused optimiser (``difffit.kernels.optimise_fused``: all Adam steps of every placement
in one kernel, value + gradient + update), with learning rates 0 so that it samples the same
points at every step. Both on the small demo map (fits in cache) and on HCN4's prepared 220³ map
(cropped by the preparation; does not fit in L2).
Writes ``OUT/scaling.csv``, ``OUT/scaling.txt``, ``OUT/scaling.png``, ``OUT/kernel.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cases import data_dir, get_case, model_input

COLUMNS = (
    "sweep", "x", "atoms", "placements", "steps", "map_shape_zyx", "map_voxels", "reps",
    "total_s", "prepare_map_s", "search_s", "metrics_s", "cluster_s", "refine_s", "samples",
    "samples_per_s",
)  # fmt: skip


# ------------------------------------------------------------------------------- the sweeps
def timed_fit(
    density, structure, config, *, reps: int, seed: int = 1, threads: int | None = None
) -> dict:
    """Median timings of ``reps`` fits (s) and the sampling rate of the search."""
    import difffit

    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        res = difffit.fit(
            density, structure, config=config, device="cpu", seed=seed, threads=threads
        )
        wall = time.perf_counter() - t0
        runs.append((wall, res.info))
    med = lambda xs: statistics.median(xs)  # noqa: E731
    tim = [info.get("timings_s", {}) for _, info in runs]
    out = {
        "total_s": med([w for w, _ in runs]),
        "samples": runs[0][1].get("samples"),
        "samples_per_s": med([info.get("samples_per_second") or 0.0 for _, info in runs]),
    }
    for k in ("prepare_map", "search", "metrics", "cluster", "refine"):
        out[f"{k}_s"] = med([t.get(k, float("nan")) for t in tim])
    return out


def _truncated(structure_path: Path, n_residues: int, out: Path) -> Path:
    import gemmi

    st = gemmi.read_structure(str(structure_path))
    ch = st[0][0]
    for i in reversed(range(n_residues, len(ch))):
        del ch[i]
    st.write_pdb(str(out), gemmi.PdbWriteOptions(minimal=True))
    return out


def _config(*, n_rotations: int = 100, n_steps: int | None = None, quick: bool = False):
    import difffit

    s = difffit.SearchConfig()
    kw = {"n_rotations": n_rotations}
    if n_steps is not None:
        kw["n_steps"] = n_steps
    if quick:
        kw.setdefault("n_steps", 20)
        kw["oversample"] = 2
        kw["screen_steps"] = 5
    return difffit.FitConfig(search=s.replace(**kw))


def sweep_atoms(out: Path, reps: int, quick: bool) -> list[dict]:
    import difffit

    case = get_case("groel")
    model = model_input(case, out)
    density = difffit.read_map(case.map_path)
    cfg = _config(n_rotations=10 if quick else 100, quick=quick)
    cfg = cfg.replace(quality=cfg.quality.replace(resolution=case.resolution))
    rows = []
    for n_res in (60, 130, 260, 524) if not quick else (60, 130):
        path = _truncated(model, n_res, out / f"groel_first{n_res}.pdb")
        st = difffit.read_structure(path)
        t = timed_fit(density, st, cfg, reps=reps)
        rows.append(_row("atoms", len(st), st, density, cfg, reps, t))
    return rows


def _demo():
    import difffit

    case = get_case("demo")
    density = difffit.read_map(case.map_path)
    st = difffit.read_structure(case.model_path)
    return case, density, st


def sweep_placements(out: Path, reps: int, quick: bool) -> list[dict]:
    case, density, st = _demo()
    rows = []
    for n_rot in (25, 50, 100, 200) if not quick else (5, 10):
        cfg = _config(n_rotations=n_rot, quick=quick)
        cfg = cfg.replace(quality=cfg.quality.replace(resolution=case.resolution))
        t = timed_fit(density, st, cfg, reps=reps)
        rows.append(_row("placements", cfg.search.n_placements, st, density, cfg, reps, t))
    return rows


def sweep_steps(out: Path, reps: int, quick: bool) -> list[dict]:
    case, density, st = _demo()
    rows = []
    for n_steps in (50, 100, 200, 400) if not quick else (10, 20):
        cfg = _config(n_rotations=10 if quick else 100, n_steps=n_steps, quick=quick)
        cfg = cfg.replace(quality=cfg.quality.replace(resolution=case.resolution))
        t = timed_fit(density, st, cfg, reps=reps)
        rows.append(_row("steps", n_steps, st, density, cfg, reps, t))
    return rows


def resampled(density, factor: float):
    """The map on a grid ``factor`` × finer (same extent and origin; trilinear zoom)."""
    from scipy.ndimage import zoom

    import difffit

    data = zoom(np.asarray(density.data, dtype=np.float32), factor, order=1)
    vs = (
        np.asarray(density.voxel_size_xyz)
        * (np.array(density.shape_xyz) - 1)
        / (np.array(data.shape[::-1]) - 1)
    )
    return difffit.DensityMap(data.astype(np.float32), vs, np.asarray(density.origin_xyz))


def padded(density, shape: int):
    """The map centred in a zero-filled cube of ``shape`` voxels (same voxel size)."""
    import difffit

    d = np.asarray(density.data)
    big = np.zeros((shape,) * 3, dtype=np.float32)
    off = [(shape - n) // 2 for n in d.shape]
    big[
        off[0] : off[0] + d.shape[0], off[1] : off[1] + d.shape[1], off[2] : off[2] + d.shape[2]
    ] = d
    origin = np.asarray(density.origin_xyz) - np.array(off[::-1]) * np.asarray(
        density.voxel_size_xyz
    )
    return difffit.DensityMap(big, np.asarray(density.voxel_size_xyz), origin)


def sweep_map(out: Path, reps: int, quick: bool) -> list[dict]:
    import difffit

    case, density, st = _demo()
    cfg = _config(n_rotations=10 if quick else 100, quick=quick)
    # the contour level of the original map, fixed: the automatic level of a padded map would
    # change with the number of zero voxels, and the footprint with it
    level = difffit.prepare_map(density, cfg.prep).level
    cfg = cfg.replace(
        quality=cfg.quality.replace(resolution=case.resolution), prep=cfg.prep.replace(level=level)
    )
    rows = []
    for f in (1.0, 1.5, 2.0, 3.0) if not quick else (1.0, 1.5):
        d = density if f == 1.0 else resampled(density, f)
        t = timed_fit(d, st, cfg, reps=reps)
        rows.append(_row("map_resampled", f, st, d, cfg, reps, t))
    for n in (64, 128, 192, 256) if not quick else (64,):
        d = padded(density, n)
        t = timed_fit(d, st, cfg, reps=reps)
        rows.append(_row("map_padded", n, st, d, cfg, reps, t))
    return rows


def _row(sweep, x, st, density, cfg, reps, t) -> dict:
    return {
        "sweep": sweep,
        "x": x,
        "atoms": len(st),
        "placements": cfg.search.n_placements,
        "steps": cfg.search.n_steps,
        "map_shape_zyx": "x".join(str(n) for n in density.shape_zyx),
        "map_voxels": int(np.prod(density.shape_zyx)),
        "reps": reps,
        **t,
    }


# ------------------------------------------------------------------ kernel and machine limits
def _gather_kernels():
    from numba import njit, prange

    @njit(parallel=True, fastmath=True, cache=False)
    def gather8(vol, xyz, rot, shift, origin, inv_vs, n_pass, out):  # pragma: no cover - compiled
        # the least work a trilinear sampler must do per point: map the point to the grid,
        # skip it when it is outside the box (like the real kernels), else load its cell's 8
        # corners (flat indices) and add them; no weights, no gradient
        nz, ny, nx = vol.shape
        flat = vol.reshape(-1)
        sxy = nx * ny
        for p in prange(rot.shape[0]):
            a00 = rot[p, 0, 0] * inv_vs[0]
            a01 = rot[p, 0, 1] * inv_vs[0]
            a02 = rot[p, 0, 2] * inv_vs[0]
            a10 = rot[p, 1, 0] * inv_vs[1]
            a11 = rot[p, 1, 1] * inv_vs[1]
            a12 = rot[p, 1, 2] * inv_vs[1]
            a20 = rot[p, 2, 0] * inv_vs[2]
            a21 = rot[p, 2, 1] * inv_vs[2]
            a22 = rot[p, 2, 2] * inv_vs[2]
            b0 = (shift[p, 0] - origin[0]) * inv_vs[0]
            b1 = (shift[p, 1] - origin[1]) * inv_vs[1]
            b2 = (shift[p, 2] - origin[2]) * inv_vs[2]
            acc = np.float32(0.0)
            n_in = 0
            for _ in range(n_pass):
                for a in range(xyz.shape[0]):
                    x = xyz[a, 0]
                    y = xyz[a, 1]
                    z = xyz[a, 2]
                    fi = a00 * x + a01 * y + a02 * z + b0
                    fj = a10 * x + a11 * y + a12 * z + b1
                    fk = a20 * x + a21 * y + a22 * z + b2
                    if fi < 0 or fj < 0 or fk < 0 or fi >= nx - 1 or fj >= ny - 1 or fk >= nz - 1:
                        continue
                    n_in += 1
                    c = (int(fk) * ny + int(fj)) * nx + int(fi)
                    acc += (flat[c] + flat[c + 1] + flat[c + nx] + flat[c + nx + 1] + flat[c + sxy]
                            + flat[c + sxy + 1] + flat[c + sxy + nx] + flat[c + sxy + nx + 1])  # fmt: skip
            out[p, 0] = acc
            out[p, 1] = n_in

    @njit(parallel=True, fastmath=True, cache=False)
    def stream_sum(a):  # pragma: no cover - compiled
        s = 0.0
        for i in prange(a.shape[0]):
            s += a[i]
        return s

    return gather8, stream_sum


def _best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def kernel_bench(out: Path, quick: bool, threads: int | None = None) -> dict:
    """Points/s of difffit's score_and_grad vs the 8-corner gather and stream limits."""
    import numba
    import torch

    import difffit
    from difffit.geometry import matrix_to_quat, quat_to_matrix, random_quaternions
    from difffit.kernels import score_and_grad, set_num_threads

    try:  # the fused optimiser (all Adam steps in one kernel), where the core has it
        from difffit.kernels import optimise_fused
    except ImportError:
        optimise_fused = None
    n_steps = 20

    n_threads = set_num_threads(threads)
    gather8, stream_sum = _gather_kernels()
    rng = np.random.default_rng(1)
    results: dict = {"threads": n_threads, "numba_threads": numba.get_num_threads(), "maps": []}
    repeat = 3 if quick else 7

    big = np.ones((32 if quick else 512) * 2**20 // 4, dtype=np.float32)
    stream_sum(big[:1024])
    t = _best_of(lambda: stream_sum(big), repeat)
    results["stream_GBps"] = big.nbytes / t / 1e9
    results["stream_points_per_s_at_32B"] = big.nbytes / t / 32

    cases = [("demo", get_case("demo"))] + ([] if quick else [("hcn4", get_case("hcn4"))])
    for label, case in cases:
        density = difffit.read_map(case.map_path)
        st = difffit.read_structure(model_input(case, out))
        prepared = difffit.prepare_map(density, difffit.PrepConfig())
        tgt = prepared.target
        vol = np.array(tgt.data, dtype=np.float32, order="C")  # a writable copy
        xyz = (st.coords_xyz - st.centre_xyz).astype(np.float32)
        n_pl = 100 if quick else 1000
        rot = quat_to_matrix(random_quaternions(n_pl, rng)).astype(np.float32)
        fp = np.argwhere(prepared.footprint)[rng.integers(0, int(prepared.footprint.sum()), n_pl)]
        shift = tgt.grid_to_world(fp[:, ::-1].astype(np.float64)).astype(np.float32)
        origin = np.asarray(tgt.origin_xyz, dtype=np.float32)
        inv_vs = (1.0 / np.asarray(tgt.voxel_size_xyz)).astype(np.float32)
        points = n_pl * len(xyz)

        tv, tx, tr, ts = (torch.from_numpy(a) for a in (vol, xyz, rot, shift))
        to, ti = torch.from_numpy(origin), torch.from_numpy(inv_vs)
        score_and_grad(tv, tx, tr, ts, to, ti, -0.5)
        t_kernel = _best_of(lambda: score_and_grad(tv, tx, tr, ts, to, ti, -0.5), repeat)  # noqa: B023
        res = np.empty((n_pl, 2), dtype=np.float32)
        gather8(vol, xyz, rot, shift, origin, inv_vs, 1, res)
        inside = float(res[:, 1].sum()) / points
        # as many passes per call as the fused optimiser makes (n_steps + 1): launch costs amortised
        t_gather = _best_of(
            lambda: gather8(vol, xyz, rot, shift, origin, inv_vs, n_steps + 1, res),  # noqa: B023
            repeat,
        ) / (n_steps + 1)
        row = {
            "map": label,
            "shape_zyx": list(vol.shape),
            "map_MB": vol.nbytes / 1e6,
            "atoms": len(xyz),
            "placements": n_pl,
            "kernel_points_per_s": points / t_kernel,
            "gather_points_per_s": points / t_gather,
            "kernel_fraction_of_gather": t_gather / t_kernel,
            "points_inside_box": inside,
        }
        # the search's hot loop on main: all Adam steps of every placement in one fused kernel,
        # with learning rates 0 so that every step samples the same points as the limit kernel
        # (a moving pose changes how many atoms fall outside the box, which are cheap)
        if optimise_fused is not None:
            quat = matrix_to_quat(rot.astype(np.float64))

            def fused(quat=quat, shift=shift, vol=vol, xyz=xyz, origin=origin, inv_vs=inv_vs):
                optimise_fused(
                    vol, xyz, quat, shift.astype(np.float64), origin, inv_vs, -0.5,
                    n_steps=n_steps, lr_shift=0.0, lr_rotation=0.0, decay_start=12, decay_floor=0.1,
                )  # fmt: skip

            fused()
            t_fused = _best_of(fused, max(2, repeat // 2))
            pts = points * (n_steps + 1)  # evaluated before every step and after the last
            row["fused_points_per_s"] = pts / t_fused
            row["fused_fraction_of_gather"] = (pts / t_fused) / row["gather_points_per_s"]
        results["maps"].append(row)
    (out / "kernel.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


# -------------------------------------------------------------------------------- reporting
def format_rows(rows: list[dict]) -> str:
    head = f"{'sweep':<14} {'x':>6} {'atoms':>6} {'placem.':>7} {'steps':>5} {'map zyx':>12} {'total s':>8} {'prep s':>7} {'search s':>8} {'metrics':>7} {'refine':>7} {'Mpts/s':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['sweep']:<14} {r['x']:>6g} {r['atoms']:>6} {r['placements']:>7} {r['steps']:>5} "
            f"{r['map_shape_zyx']:>12} {r['total_s']:8.2f} {r['prepare_map_s']:7.2f} {r['search_s']:8.2f} "
            f"{r['metrics_s']:7.2f} {r['refine_s']:7.2f} {r['samples_per_s'] / 1e6:7.1f}"
        )
    return "\n".join(lines)


def format_kernel(k: dict) -> str:
    lines = [
        f"threads {k['threads']}; stream read {k['stream_GBps']:.1f} GB/s "
        f"(= {k['stream_points_per_s_at_32B'] / 1e6:.0f} M points/s if each point read 32 B from memory)"
    ]
    for m in k["maps"]:
        lines.append(
            f"{m['map']:<5} map {'x'.join(map(str, m['shape_zyx']))} ({m['map_MB']:.1f} MB), {m['atoms']} atoms x "
            f"{m['placements']} placements: score_and_grad {m['kernel_points_per_s'] / 1e6:.1f} M points/s, "
            f"8-corner gather limit {m['gather_points_per_s'] / 1e6:.1f} M points/s "
            f"(kernel at {100 * m['kernel_fraction_of_gather']:.0f} % of it)"
            + (
                f"; fused optimiser {m['fused_points_per_s'] / 1e6:.1f} M points/s "
                f"({100 * m['fused_fraction_of_gather']:.0f} % of the gather limit)"
                if "fused_points_per_s" in m
                else ""
            )
        )
    return "\n".join(lines)


def write_plot(rows: list[dict], kernel: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("atoms", "heavy atoms (GroEL chain A, truncated)"),
        ("placements", "placements (demo)"),
        ("steps", "Adam steps per placement (demo)"),
        ("map_resampled", "map voxels (demo resampled finer)"),
        ("map_padded", "map voxels (demo padded with zeros)"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    for ax, (sweep, label) in zip(axes.flat, panels, strict=False):
        rs = [r for r in rows if r["sweep"] == sweep]
        if not rs:
            ax.set_visible(False)
            continue
        xs = [r["map_voxels"] if sweep.startswith("map") else r["x"] for r in rs]
        for key, lab in (("total_s", "total"), ("search_s", "search"), ("prepare_map_s", "map prep"),
                         ("metrics_s", "metrics"), ("refine_s", "refine")):  # fmt: skip
            ax.plot(xs, [r[key] for r in rs], "o-", label=lab)
        ax.set_xlabel(label)
        ax.set_ylabel("seconds")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes.flat[5]
    if kernel and kernel.get("maps"):
        labels = [m["map"] for m in kernel["maps"]]
        x = np.arange(len(labels))
        bars = [
            ("kernel_points_per_s", "score_and_grad (1 pass)"),
            ("fused_points_per_s", "fused optimiser"),
            ("gather_points_per_s", "8-corner gather limit"),
        ]
        w = 0.8 / len(bars)
        for j, (key, lab) in enumerate(bars):
            ax.bar(x + (j - 1) * w, [m.get(key, 0.0) / 1e6 for m in kernel["maps"]], w, label=lab)
        ax.axhline(
            kernel["stream_points_per_s_at_32B"] / 1e6,
            color="k",
            ls="--",
            label="stream limit (32 B/point)",
        )
        ax.set_xticks(x, labels)
        ax.set_ylabel("M points / s")
        ax.legend(fontsize=7)
    else:
        ax.set_visible(False)
    fig.suptitle("difffit scaling (2-core CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("bench-out/scaling"))
    p.add_argument(
        "--reps", type=int, default=1, help="fits per point (median; default %(default)s)"
    )
    p.add_argument(
        "--only",
        default="atoms,placements,steps,map,kernel",
        help="parts to run (default %(default)s)",
    )
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny settings: checks that the script runs, times mean nothing",
    )
    a = p.parse_args(argv)
    if not data_dir().exists():
        p.error(f"real data folder {data_dir()} not found (set DIFFFIT_DATA)")
    a.out.mkdir(parents=True, exist_ok=True)
    parts = [s for s in a.only.split(",") if s]

    import difffit

    _case, density, st = _demo()  # warm-up: JIT compilation and caches
    difffit.fit(
        density, st, config=_config(n_rotations=4, n_steps=10, quick=True), device="cpu", seed=1
    )

    rows: list[dict] = []
    sweeps = {
        "atoms": sweep_atoms,
        "placements": sweep_placements,
        "steps": sweep_steps,
        "map": sweep_map,
    }
    for name in parts:
        if name in sweeps:
            t0 = time.perf_counter()
            rows += sweeps[name](a.out, a.reps, a.quick)
            print(f"[scaling] {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    kernel = kernel_bench(a.out, a.quick, a.threads) if "kernel" in parts else None
    text = format_rows(rows) if rows else ""
    if kernel:
        text += ("\n\n" if text else "") + format_kernel(kernel)
    print(text)
    (a.out / "scaling.txt").write_text(text + "\n")
    with (a.out / "scaling.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    write_plot(rows, kernel, a.out / "scaling.png")
    print(f"[scaling] wrote {a.out / 'scaling.csv'}, {a.out / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
