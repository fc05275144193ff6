"""``difffit composite MAP STRUCTURE... --out DIR``: place many structures and copies, round by round.

Automatic by default (rounds until the stoichiometry is met or nothing convincing is left);
``--manual`` runs one round and waits for ``--accept RANKS`` (or ``--accept none``). Running
the same command again on the same ``--out`` continues from the last complete round.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from difffit.cli.common import (
    ProgressBar,
    add_config_options,
    add_fit_options,
    add_out,
    announce_defaults,
    config_from_args,
)
from difffit.cli.inputs import (
    add_fetch_options,
    add_selection_options,
    read_inputs,
    resolve_map,
    resolve_structures,
)
from difffit.config import CompositeConfig
from difffit.errors import ConfigError

log = logging.getLogger("difffit")


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
    p.add_argument("map", help="density map (.mrc, .map, .ccp4; .gz allowed) or emdb:ID")
    p.add_argument(
        "structures",
        nargs="+",
        metavar="STRUCTURE",
        help="structure files or pdb:ID / afdb:UNIPROT; FILE:CHAINS takes chains of a file "
        "(e.g. 5me2.pdb:A, pdb:5me2:A), FILE:A:1-150,B residue ranges",
    )
    add_out(p, help="run folder (created or resumed)")
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
    add_config_options(g, CompositeConfig)
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
    add_selection_options(p)
    add_fit_options(p)
    add_fetch_options(p)
    p.set_defaults(run=run)
    return p


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
    return config_from_args(CompositeConfig, args)


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


def _parse_ranks(text: str) -> list[int]:
    if text.strip().lower() == "none":
        return []
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--accept {text}: give cluster ranks like 1,3 or 'none'") from None


def _accept(session, text: str, out: Path) -> int:
    pending = session.folder.pending_round
    if pending is None:
        raise ConfigError(f"{out}: no manual round is waiting (run with --manual first)")
    ranks = _parse_ranks(text)
    known = [h.rank for h in session.fit(pending).clusters]
    bad = [r for r in ranks if r not in known]
    if bad:
        raise ConfigError(f"--accept: no rank {', '.join(map(str, bad))} in round {pending} "
                          f"(ranks 1..{len(known)}; see its candidates.csv)")  # fmt: skip
    rnd = session.accept([(pending, r) for r in ranks])
    print(f"round {rnd.index}: accepted {len(rnd.accepted)} placement(s); working map "
          f"{session.folder.round_dir(rnd.index) / 'working_map.mrc'}")  # fmt: skip
    _print_placements(rnd.state.placements)
    return 0


def _manual(session, args, bar, out: Path) -> int:
    if session.folder.pending_round:
        log.info(
            "round %d was waiting for --accept; fitting it again", session.folder.pending_round
        )
    state, copies = session.state, session.copies
    if not any(copies[s.name] is None or state.copies_placed(s.name) < copies[s.name]
               for s in session.structures):  # fmt: skip
        print("every structure has its copies; nothing to fit")
        return 0
    proposal = session.propose(device=args.device, threads=args.threads, progress=bar)
    bar.close()
    _print_candidates(proposal.candidates)
    fit_dir = session.folder.fit_dir(proposal.index)
    print(f"\nround {proposal.index} is waiting: accept fits with  difffit composite ... --out {out} "
          f"--accept RANK[,RANK...]  (or --accept none); all clusters in "
          f"{fit_dir / 'clusters.csv'}")  # fmt: skip
    return 0


def _placed_text(p) -> str:
    if p.refined is None:
        return f"{p.label} (cam {p.cam:.3f})"
    return f"{p.label} (cam {p.cam:.3f}, refined flexibly {p.refined.cam_after:.3f})"


def _log_round(rnd, folder) -> None:
    from difffit.composite.types import Decision

    z = rnd.zero
    zs = f"; {z.n_voxels_zeroed} voxels zeroed ({z.rule})" if z is not None else ""
    log.info("round %d: placed %s in %.1f s%s", rnd.index,
             ", ".join(_placed_text(p) for p in rnd.accepted) or "nothing",
             rnd.seconds, zs)  # fmt: skip
    counts: dict[str, int] = {}
    for c in rnd.candidates:
        counts[c.decision.value] = counts.get(c.decision.value, 0) + 1
        if c.decision in (Decision.CLASH, Decision.DEFERRED):
            log.debug("  rank %d %s %s: %s", c.rank, c.structure, c.decision, c.reason)
    others = {k: v for k, v in counts.items() if k != Decision.ACCEPT.value}
    if others:
        log.info("  other candidates: %s (%s)", ", ".join(f"{v} {k}" for k, v in others.items()),
                 folder.round_dir(rnd.index) / "candidates.csv")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from difffit.io.locks import hold_folder

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out}: exists and is not a folder")
    with hold_folder(args.out):  # a second run into the same --out is refused, not mixed in
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from difffit.composite.session import RunSession
    from difffit.io import read_map
    from difffit.io.folders import RunFolder

    map_path = resolve_map(args)
    specs = resolve_structures(args, args.structures)
    config = composite_config_from_args(args)
    out: Path = args.out
    structures = read_inputs(args, specs)
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"two structures have the same name ({', '.join(names)}); rename the files"
        )
    copies = parse_copies(args.copies, names)
    group = config.fit.symmetry.group
    if group not in ("auto", "none"):  # a contradiction is known before the map is read
        from difffit.symmetry.apply import check_copies_for_symmetry

        check_copies_for_symmetry(copies, group)
    density = read_map(map_path)
    log.info("map %s: %s", map_path, density)
    announce_defaults(args, density)
    for s in structures:
        c = copies[s.name]
        log.info("structure %s: %d heavy atoms, chains %s, copies %s", s.name, len(s),
                 ",".join(s.chains), "until the bar fails" if c is None else c)  # fmt: skip
    if args.accept and not args.restart and not RunFolder.exists(out):
        raise ConfigError(
            f"--out {out}: no composite run to accept fits for (run with --manual first)"
        )
    session = RunSession.start_or_resume(
        out, density, structures, map_path=map_path, copies=copies, config=config,
        seed=args.seed, restart=args.restart, command="difffit " + shlex.join(sys.argv[1:]),
    )  # fmt: skip
    state = session.state
    if state.symmetry is not None:
        log.info("symmetry: %s; copies %s", state.symmetry.describe(),
                 ", ".join(f"{k} {v}" for k, v in session.copies.items()))  # fmt: skip
    elif group != "none":
        log.info("symmetry: none found in the map (--symmetry %s); compositing without", group)
    if session.resumed:
        log.info("resuming %s after round %d (%d placements)", out, state.rounds_done,
                 len(state.placements))  # fmt: skip
    log.info("contour level %.4g, resolution %.3g Å (fixed for all rounds); seed %d",
             state.level, state.resolution, session.folder.seed)  # fmt: skip

    bar = ProgressBar(disable=args.quiet)
    try:
        if args.accept:
            return _accept(session, args.accept, out)
        if state.finished:
            print(f"{out}: the run is finished ({state.stop_reason}); --restart to run it again")
            _print_placements(state.placements)
            return 0
        if args.manual:
            return _manual(session, args, bar, out)

        def on_round(rnd) -> None:
            bar.close()
            _log_round(rnd, session.folder)

        result = session.run(device=args.device, threads=args.threads, on_round=on_round,
                             progress=bar)  # fmt: skip
    finally:
        bar.close()
    final = result.state
    _print_placements(final.placements)
    print(f"\nstopped: {final.stop_reason}")
    refined = (
        " flexible.csv, flexible_residues.csv,"
        if any(p.refined is not None for p in final.placements)
        else ""
    )
    print(f"results in {out}/ (placements.csv, assembly.cif,{refined} round_NNN/, composite.json)")
    return 0
