"""``difffit symmetry MAP [--group G] [--json] [--level L] [--resolution R]``.

Detect the point group of a map (Cn, Dn, T, O, I) by self-correlation, or check a given one;
the last printed line names the group (see docs/symmetry.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from difffit.cli.common import positive_float

if TYPE_CHECKING:
    from difffit.symmetry.helical import HelicalResult


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "symmetry",
        help="detect the point-group symmetry of a map (Cn, Dn, T, O, I)",
        description="Detect the point group of a density map: the self-correlation of the map "
        "with itself rotated by each operator of a group, searched over axes and refined. "
        "A group holds when every operator reaches the threshold (calibrated on real maps, "
        "docs/symmetry.md) and a control rotation does not. Says 'no symmetry' when none "
        "holds. With --group, checks that group instead (exit code 1 when it does not hold).",
    )
    p.add_argument("map", type=Path, help="density map (.mrc, .map; .gz allowed)")
    p.add_argument("--group", metavar="G", help="check this group (C4, D7, T, O, I) instead")
    p.add_argument("--level", type=float, help="contour level (default: automatic, Otsu)")
    p.add_argument(
        "--resolution",
        type=positive_float,
        metavar="Å",
        help="map resolution: the working grid is at least resolution / 2",
    )
    p.add_argument(
        "--max-order",
        type=int,
        default=12,
        metavar="N",
        help="highest n of the n-fold axes searched (default %(default)s)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        metavar="CC",
        help="smallest self-correlation of an operator of an accepted group "
        "(default: the calibrated value, docs/symmetry.md)",
    )
    h = p.add_argument_group("helical symmetry (tried by itself when no point group holds)")
    h.add_argument("--helical", action="store_true", help="search helical symmetry only")
    h.add_argument("--rise", type=positive_float, metavar="Å", help="helical rise hint")
    h.add_argument("--twist", type=float, metavar="DEG", help="helical twist hint (degrees)")
    h.add_argument("--no-helical", action="store_true", help="do not try helical symmetry after C1")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)
    return p


def _vec(v) -> str:
    return "(" + ", ".join(f"{round(float(x), 3) + 0.0:.3f}" for x in v) + ")"


def _summary(chk) -> str:
    """``C4 (4 copies), axis (...), centre (...) Å, min self-correlation 0.98``."""
    axes = chk.axes
    top = axes[0]
    text = f"{chk.group.name} ({chk.group.order} copies), {top[0]}-fold axis {_vec(top[1])}"
    if chk.group.kind == "D":
        two = next(u for o, u in axes if o == 2 and abs(float(u @ top[1])) < 1e-3)
        text += f", 2-fold axis {_vec(two)}"
    return (
        f"{text}, centre {_vec(chk.centre_xyz)} Å, min self-correlation "
        f"{chk.min_correlation:.3f} (threshold {chk.threshold:.2f}; control "
        f"{chk.control_correlation:.3f})"
    )


def _print_check(chk, indent: str = "  ") -> None:
    verdict = "holds" if chk.holds else "does not hold"
    print(
        f"{indent}{chk.group.name:<4} min {chk.min_correlation:.3f}  mean "
        f"{chk.mean_correlation:.3f}  control {chk.control_correlation:.3f}  {verdict}"
    )


def _print_operators(chk) -> None:
    print(f"centre: {_vec(chk.centre_xyz)} Å")
    for order, u in chk.axes[:6]:
        print(f"axis: {order}-fold {_vec(u)}")
    if len(chk.axes) > 6:
        print(f"  ... {len(chk.axes) - 6} more axes")
    print("operators (axis, angle, self-correlation):")
    for o in chk.operators:
        print(f"  {_vec(o.axis_xyz)} {o.angle_deg:7.2f}°  {o.correlation:.3f}")
    print(f"control rotation ({chk.control_description}): {chk.control_correlation:.3f}")


def _helical_line(hel, threshold: float) -> str:
    if not hel.holds:
        return (
            f"symmetry: no helical symmetry: best rise {hel.rise:.2f} Å, twist "
            f"{hel.twist_deg:.2f}°, self-correlation {hel.correlation:.3f} (threshold "
            f"{threshold:.2f}; control {hel.control_correlation:.3f})"
        )
    return (
        f"symmetry: helical, rise {hel.rise:.2f} Å, twist {hel.twist_deg:.2f}° "
        f"({hel.subunits_per_turn:.2f} subunits per turn), axis {_vec(hel.axis_xyz)}, centre "
        f"{_vec(hel.centre_xyz)} Å, self-correlation {hel.correlation:.3f} (threshold "
        f"{threshold:.2f}; control {hel.control_correlation:.3f})"
    )


def run(args: argparse.Namespace) -> int:
    from difffit.errors import ConfigError
    from difffit.io import read_map
    from difffit.symmetry import ACCEPT_CC, check_symmetry, detect_symmetry, parse_group
    from difffit.symmetry.helical import detect_helical

    group = parse_group(args.group) if args.group is not None else None  # bad name: exit 2
    if (args.rise is None) != (args.twist is None):
        raise ConfigError("give both --rise and --twist, or neither")
    helical_only = args.helical or args.rise is not None
    if helical_only and (group is not None or args.no_helical):
        raise ConfigError("--helical/--rise/--twist do not go with --group or --no-helical")
    threshold = ACCEPT_CC if args.threshold is None else args.threshold
    if not 0 < threshold < 1:
        raise ConfigError(f"--threshold must be within (0, 1), got {threshold}")
    density = read_map(args.map)
    opts = {"level": args.level, "resolution": args.resolution, "threshold": threshold}
    if group is not None:
        chk = check_symmetry(density, group, **opts)
        if args.json:
            print(json.dumps(chk.to_dict(), indent=2))
        else:
            print(f"map: {args.map} {density!r}")
            _print_operators(chk)
        if chk.holds:
            print(f"symmetry: {group.name} holds: {_summary(chk)}")
            return 0
        print(
            f"symmetry: the map does not have {group.name}: worst operator self-correlation "
            f"{chk.min_correlation:.3f} < threshold {threshold:.2f} (mean "
            f"{chk.mean_correlation:.3f}, control {chk.control_correlation:.3f})"
        )
        return 1
    if helical_only:
        only = detect_helical(density, rise=args.rise, twist_deg=args.twist, **opts)
        if args.json:
            print(json.dumps(only.to_dict(), indent=2))
        print(_helical_line(only, threshold))
        return 0
    res = detect_symmetry(density, max_order=args.max_order, **opts)
    hel: HelicalResult | None = None
    if res.best is None and not args.no_helical:
        try:
            hel = detect_helical(density, **opts)
        except ConfigError:  # too short or too thin for a filament: no helical answer
            hel = None
    if args.json:
        doc = res.to_dict()
        doc["helical"] = hel.to_dict() if hel is not None else None
        print(json.dumps(doc, indent=2))
    else:
        print(f"map: {args.map} {density!r}")
        cands = ", ".join(f"{k} {_vec(v)}" for k, v in res.centre_candidates_xyz.items())
        print(f"level: {res.level:.4g}; working grid {res.working_voxel:.2f} Å; centres: {cands}")
        print("groups tested (smallest operator self-correlation):")
        for chk in res.candidates:
            _print_check(chk)
        if res.best is not None:
            _print_operators(res.best)
    if res.best is not None:
        print(f"symmetry: {_summary(res.best)}")
    elif hel is not None and hel.holds:
        print(_helical_line(hel, threshold))
    else:
        best = res.candidates[0] if res.candidates else None
        why = (
            f": best candidate {best.group.name} about {_vec(best.axes[0][1])}, "
            f"self-correlation {best.min_correlation:.3f} < threshold {threshold:.2f}"
            if best is not None
            else ""
        )
        if hel is not None:
            why += (
                f"; helical: best rise {hel.rise:.2f} Å, twist {hel.twist_deg:.2f}°, "
                f"self-correlation {hel.correlation:.3f}"
            )
        print(f"symmetry: none (C1, 1 copy){why}")
    return 0
