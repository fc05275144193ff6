"""``difffit composite MAP STRUCTURE... --out DIR``: place many structures and copies, round by round.

Automatic by default (rounds until the stoichiometry is met or nothing convincing is left);
``--manual`` runs one round and waits for ``--accept RANKS`` (or ``--accept none``). Running
the same command again on the same ``--out`` continues from the last complete round.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import shutil
import sys
from pathlib import Path

from difffit.cli.common import ProgressBar, add_fit_options, fit_config_from_args, positive_float
from difffit.composite import CompositeConfig
from difffit.density.zero import DEFAULT_RULE, RULES
from difffit.errors import ConfigError

log = logging.getLogger("difffit")

_DEF = CompositeConfig()


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "composite",
        help="composite many structures and copies into one map, round by round",
        description="Fit all structures into the map, accept the convincing fits that do not "
        "clash with placed subunits, zero their density, and repeat until every structure has "
        "its copies (--copies) or nothing convincing is left. Writes the working map, the "
        "placements table and the assembled model after every round to --out; running the "
        "same command again continues from the last complete round.",
    )
    p.add_argument("map", type=Path, help="density map (.mrc, .map, .ccp4; .gz allowed)")
    p.add_argument(
        "structures",
        nargs="+",
        metavar="STRUCTURE",
        help="structure files; FILE:CHAINS takes chains of a file (e.g. 5me2.pdb:A)",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="run folder (created or resumed)")
    p.add_argument(
        "--copies",
        nargs="+",
        default=[],
        metavar="NAME=N",
        help="copies to place per structure (name = file stem, _CHAINS appended for "
        "FILE:CHAINS; N alone when there is one structure); default: as many as "
        "pass the confidence bar",
    )
    g = p.add_argument_group("compositing")
    g.add_argument(
        "--rule",
        choices=RULES,
        default=DEFAULT_RULE,
        help="zeroing rule (default %(default)s; see docs/composite.md)",
    )
    g.add_argument(
        "--no-match-resolution",
        action="store_true",
        help="zero with the density simulated at --resolution, not at the matched one",
    )
    g.add_argument(
        "--min-cam",
        type=float,
        default=_DEF.min_cam,
        metavar="R",
        help="smallest cam of an accepted fit (default %(default)s)",
    )
    g.add_argument(
        "--relative-cam",
        type=float,
        default=_DEF.relative_cam,
        metavar="F",
        help="a further copy needs cam >= F x cam of the first copy (default %(default)s)",
    )
    g.add_argument(
        "--clash-distance",
        type=positive_float,
        default=_DEF.clash_distance,
        metavar="Å",
        help="atoms closer than this to placed atoms clash (default %(default)s)",
    )
    g.add_argument(
        "--max-clash",
        type=float,
        default=_DEF.max_clash_fraction,
        metavar="F",
        help="reject fits with more than this fraction of atoms clashing (default %(default)s)",
    )
    g.add_argument(
        "--defer",
        type=float,
        default=_DEF.defer_fraction,
        metavar="F",
        help="fits with cam < F x the round's best wait for the next round, fitted again into "
        "the cleared map (default %(default)s; 0 = accept all that pass)",
    )
    g.add_argument(
        "--max-rounds",
        type=int,
        default=_DEF.max_rounds,
        metavar="N",
        help="stop after N rounds (default %(default)s)",
    )
    g.add_argument(
        "--max-per-round",
        type=int,
        default=_DEF.max_per_round,
        metavar="N",
        help="accept at most N fits per round (default %(default)s = all that pass)",
    )
    g.add_argument(
        "--candidates",
        type=int,
        default=_DEF.candidates_per_structure,
        metavar="N",
        help="clusters per structure examined each round (default %(default)s)",
    )
    g = p.add_argument_group("step by step")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument(
        "--manual", action="store_true", help="run one round and leave acceptance to --accept"
    )
    mode.add_argument(
        "--accept",
        metavar="RANKS",
        help="accept these cluster ranks (comma-separated, or 'none') of the "
        "waiting manual round, zero them and finish the round",
    )
    g.add_argument(
        "--restart",
        action="store_true",
        help="discard the run in --out (its round folders, tables and manifest) and start again",
    )
    add_fit_options(p)
    p.set_defaults(run=run)
    return p


def parse_structure_arg(text: str) -> tuple[Path, list[str] | None]:
    """``FILE`` or ``FILE:CHAINS`` (a path that exists as given is never split)."""
    path = Path(text)
    if path.exists() or ":" not in text:
        return path, None
    file, _, chains = text.rpartition(":")
    ids = [c.strip() for c in chains.split(",") if c.strip()]
    if not file or not ids:
        raise ConfigError(f"{text}: expected FILE or FILE:CHAINS (e.g. 5me2.pdb:A)")
    return Path(file), ids


def parse_copies(items: list[str], names: list[str]) -> dict[str, int | None]:
    copies: dict[str, int | None] = dict.fromkeys(names)
    for item in items:
        name, sep, num = item.rpartition("=")
        if not sep:
            if len(names) != 1:
                raise ConfigError(f"--copies {item}: give NAME=N (structures: {', '.join(names)})")
            name, num = names[0], item
        if name not in copies:
            raise ConfigError(
                f"--copies {item}: no structure named {name!r} (structures: {', '.join(names)})"
            )
        try:
            n = int(num)
        except ValueError:
            raise ConfigError(f"--copies {item}: {num!r} is not a whole number") from None
        if n < 0:
            raise ConfigError(f"--copies {item}: must be >= 0")
        copies[name] = n
    return copies


def composite_config_from_args(args: argparse.Namespace) -> CompositeConfig:
    return CompositeConfig(
        fit=fit_config_from_args(args),
        rule=args.rule,
        match_resolution=not args.no_match_resolution,
        min_cam=args.min_cam,
        relative_cam=args.relative_cam,
        clash_distance=args.clash_distance,
        max_clash_fraction=args.max_clash,
        defer_fraction=args.defer,
        max_rounds=args.max_rounds,
        max_per_round=args.max_per_round,
        candidates_per_structure=args.candidates,
    )


_KEEP_ON_RESUME = ("max_rounds",)


def _check_same_run(man: dict, new: dict, out: Path) -> None:
    """A resumed run must have the inputs and options it was started with."""
    diffs = []
    for key in ("map", "structures", "copies"):
        if man.get(key) != new.get(key):
            diffs.append(key)
    old_cfg = {k: v for k, v in man["config"].items() if k not in _KEEP_ON_RESUME}
    new_cfg = {k: v for k, v in new["config"].items() if k not in _KEEP_ON_RESUME}
    if old_cfg != new_cfg:
        changed = sorted(k for k in set(old_cfg) | set(new_cfg) if old_cfg.get(k) != new_cfg.get(k))
        diffs.append("options (" + ", ".join(changed) + ")")
    if diffs:
        raise ConfigError(
            f"--out {out} holds a composite run with other {', '.join(diffs)}; run the same command "
            "to resume it, or choose another --out, or add --restart to discard it"
        )


def _discard(out: Path) -> None:
    from difffit.io.composite import MANIFEST

    for name in (MANIFEST, "placements.csv", "assembly.cif"):
        (out / name).unlink(missing_ok=True)
    for d in out.glob("round_[0-9][0-9][0-9]"):
        if d.is_dir():
            shutil.rmtree(d)


def _print_placements(placements, stream=None) -> None:
    stream = stream or sys.stdout
    if not placements:
        print("no placements", file=stream)
        return
    head = f"{'placement':<24} {'round':>5} {'chains':>8} {'corr':>6} {'cam':>6} {'rel':>5} {'inside':>6} {'clash':>6}"
    print(head, file=stream)
    print("-" * len(head), file=stream)
    for p in placements:
        print(f"{p.label[:24]:<24} {p.round:>5} {','.join(p.chains)[:8]:>8} {p.correlation:6.3f} "
              f"{p.cam:6.3f} {p.relative_cam:5.2f} {p.inside:6.2f} {p.clash_atoms:>6}", file=stream)  # fmt: skip


def _print_candidates(candidates, stream=None) -> None:
    stream = stream or sys.stdout
    head = (
        f"{'rank':>4}  {'structure':<20} {'corr':>6} {'cam':>6} {'rel':>5} {'clash':>6}  suggestion"
    )
    print(head, file=stream)
    print("-" * len(head), file=stream)
    for c in candidates:
        rel = f"{c.relative_cam:5.2f}" if c.relative_cam == c.relative_cam else "    -"
        print(f"{c.rank:>4}  {c.structure[:20]:<20} {c.hit.correlation:6.3f} {c.hit.cam:6.3f} {rel} "
              f"{c.clash_fraction:6.1%}  {c.decision}: {c.reason}", file=stream)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from difffit.composite import (
        accept_candidates,
        composite,
        evaluate_candidates,
        fit_round,
        initial_state,
    )
    from difffit.io import composite as cio
    from difffit.io import read_map, read_structure
    from difffit.seeding import make_seed

    config = composite_config_from_args(args)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    specs = [parse_structure_arg(s) for s in args.structures]
    structures = [read_structure(path, chains=chains) for path, chains in specs]
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"two structures have the same name ({', '.join(names)}); rename the files"
        )
    copies = parse_copies(args.copies, names)
    density = read_map(args.map)
    log.info("map %s: %s", args.map, density)
    for s in structures:
        c = copies[s.name]
        log.info("structure %s: %d heavy atoms, chains %s, copies %s", s.name, len(s),
                 ",".join(s.chains), "until the bar fails" if c is None else c)  # fmt: skip

    if args.restart and out.exists():
        _discard(out)
    man = cio.read_manifest(out) if out.exists() else None
    if man is None and args.accept:
        raise ConfigError(
            f"--out {out}: no composite run to accept fits for (run with --manual first)"
        )
    if man is None:
        seed = make_seed(args.seed)
        state = initial_state(density, config)
        man = cio.new_manifest(map_path=args.map, structures=structures, copies=copies, config=config,
                               seed=seed, state=state, command="difffit " + shlex.join(sys.argv[1:]))  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        cio.write_json(out / cio.MANIFEST, man)
    else:
        probe = cio.new_manifest(map_path=args.map, structures=structures, copies=copies,
                                 config=config, seed=0, state=initial_state(density, config))  # fmt: skip
        _check_same_run(man, probe, out)
        if args.seed is not None and args.seed != man["seed"]:
            raise ConfigError(
                f"--out {out} was run with --seed {man['seed']}; resume it with that seed or none"
            )
        seed = int(man["seed"])
        man["config"] = probe["config"]  # a new --max-rounds applies
        state = cio.load_state(out, man, args.map)
        log.info(
            "resuming %s after round %d (%d placements)",
            out,
            state.rounds_done,
            len(state.placements),
        )
    log.info("contour level %.4g, resolution %.3g Å (fixed for all rounds); seed %d",
             state.level, state.resolution, seed)  # fmt: skip

    bar = ProgressBar(disable=args.quiet)
    try:
        if args.accept:
            hits = cio.pending_hits(out, man)
            if args.accept.strip().lower() == "none":
                ranks: list[int] = []
            else:
                try:
                    ranks = [int(x) for x in args.accept.split(",") if x.strip()]
                except ValueError:
                    raise ConfigError(
                        f"--accept {args.accept}: give cluster ranks like 1,3 or 'none'"
                    ) from None
            by_rank = {h.rank: h for h in hits}
            bad = [r for r in ranks if r not in by_rank]
            if bad:
                raise ConfigError(f"--accept: no rank {', '.join(map(str, bad))} in round {man['pending_round']} "
                                  f"(ranks 1..{len(hits)}; see its candidates.csv)")  # fmt: skip
            rnd = accept_candidates(state, [by_rank[r] for r in ranks], structures, config=config)
            cio.save_round(out, rnd, structures, man, map_path=args.map, fit_saved=True)
            print(f"round {rnd.index}: accepted {len(rnd.accepted)} placement(s); working map "
                  f"{cio.round_dir(out, rnd.index) / 'working_map.mrc'}")  # fmt: skip
            _print_placements(rnd.state.placements)
            return 0
        if (
            state.finished
            and state.stop_reason.startswith("max_rounds")
            and config.max_rounds > state.rounds_done
        ):
            state = dataclasses.replace(state, finished=False, stop_reason="")
        if state.finished:
            print(f"{out}: the run is finished ({state.stop_reason}); --restart to run it again")
            _print_placements(state.placements)
            return 0
        if args.manual:
            if man.get("pending_round"):
                log.info(
                    "round %d was waiting for --accept; fitting it again", man["pending_round"]
                )
            todo = [s for s in structures
                    if copies[s.name] is None or state.copies_placed(s.name) < copies[s.name]]  # fmt: skip
            if not todo:
                print("every structure has its copies; nothing to fit")
                return 0
            result = fit_round(state, todo, config=config, seed=seed, device=args.device,
                               threads=args.threads, progress=bar)  # fmt: skip
            bar.close()
            cands = evaluate_candidates(result, structures, state, copies=copies, config=config)
            idx = state.rounds_done + 1
            cio.save_pending_round(out, idx, result, cands, structures, man, map_path=args.map)
            _print_candidates(cands)
            print(f"\nround {idx} is waiting: accept fits with  difffit composite ... --out {out} "
                  f"--accept RANK[,RANK...]  (or --accept none); all clusters in "
                  f"{cio.round_dir(out, idx) / 'fit' / 'clusters.csv'}")  # fmt: skip
            return 0

        def on_round(rnd) -> None:
            nonlocal man
            bar.close()
            man = cio.save_round(out, rnd, structures, man, map_path=args.map)
            z = rnd.zero
            zs = f"; {z.n_voxels_zeroed} voxels zeroed ({z.rule})" if z is not None else ""
            log.info("round %d: placed %s in %.1f s%s", rnd.index,
                     ", ".join(f"{p.label} (cam {p.cam:.3f})" for p in rnd.accepted) or "nothing",
                     rnd.seconds, zs)  # fmt: skip
            counts: dict[str, int] = {}
            for c in rnd.candidates:
                counts[c.decision] = counts.get(c.decision, 0) + 1
                if c.decision in ("clash", "deferred"):
                    log.debug("  rank %d %s %s: %s", c.rank, c.structure, c.decision, c.reason)
            others = {k: v for k, v in counts.items() if k != "accept"}
            if others:
                log.info("  other candidates: %s (%s)", ", ".join(f"{v} {k}" for k, v in others.items()),
                         cio.round_dir(out, rnd.index) / "candidates.csv")  # fmt: skip

        result = composite(density, structures, copies=copies, config=config, seed=seed,
                           device=args.device, threads=args.threads, state=state,
                           on_round=on_round, progress=bar)  # fmt: skip
    finally:
        bar.close()
    final = result.state
    if not result.rounds:  # stopped before fitting (e.g. --max-rounds reached on resume)
        man["finished"], man["stop_reason"] = final.finished, final.stop_reason
        cio.write_json(out / cio.MANIFEST, man)
    _print_placements(final.placements)
    print(f"\nstopped: {final.stop_reason}")
    print(f"results in {out}/ (placements.csv, assembly.cif, round_NNN/, composite.json)")
    return 0
