"""Argument groups and helpers shared by subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from difffit.config import (
    SORT_METRICS,
    ClusterConfig,
    FitConfig,
    PrepConfig,
    QualityConfig,
    RefineConfig,
    SearchConfig,
)
from difffit.errors import ConfigError
from difffit.progress import Progress
from difffit.structure import SELECTIONS

_DEF_P = PrepConfig()
_DEF_S = SearchConfig()
_DEF_C = ClusterConfig()
_DEF_R = RefineConfig()
_DEF_Q = QualityConfig()


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None


def add_fit_options(p: argparse.ArgumentParser) -> None:
    """The options of the search, shared by fit, composite and screen."""
    g = p.add_argument_group("map preparation")
    g.add_argument("--level", type=float, help="contour level (default: automatic, Otsu threshold)")
    g.add_argument(
        "--min-island",
        type=int,
        default=_DEF_P.min_island_voxels,
        metavar="VOXELS",
        help="remove density islands smaller than this (default %(default)s)",
    )
    g.add_argument(
        "--smooth",
        type=int,
        default=_DEF_P.n_smooth,
        metavar="N",
        help="number of Gaussian-smoothed copies (default %(default)s)",
    )
    g.add_argument(
        "--smooth-sigma",
        type=positive_float,
        default=_DEF_P.smooth_sigma_voxels,
        metavar="VOXELS",
        help="sigma of each smoothing pass (default %(default)s)",
    )
    g.add_argument(
        "--smooth-kernel",
        type=int,
        default=_DEF_P.smooth_kernel_size,
        metavar="VOXELS",
        help="odd kernel width of each smoothing pass (default %(default)s)",
    )
    g.add_argument(
        "--smooth-weights",
        type=float_list,
        metavar="W0,W1,...",
        help="weights of the sharp copy and each smoothed copy (default all 1)",
    )
    g.add_argument(
        "--negative",
        type=float,
        default=_DEF_P.negative_value,
        metavar="V",
        help="value outside the density footprint (default %(default)s)",
    )
    g = p.add_argument_group("search")
    g.add_argument(
        "--rotations",
        type=int,
        default=_DEF_S.n_rotations,
        metavar="N",
        help="rotations spread over SO(3) (default %(default)s)",
    )
    g.add_argument(
        "--positions",
        type=int,
        default=_DEF_S.n_positions,
        metavar="N",
        help="start positions spread over the footprint (default %(default)s)",
    )
    g.add_argument(
        "--oversample",
        type=int,
        default=_DEF_S.oversample,
        metavar="N",
        help="candidate starts screened per placement (default %(default)s; 1 = plain search)",
    )
    g.add_argument(
        "--screen-steps",
        type=int,
        default=_DEF_S.screen_steps,
        metavar="N",
        help="steps of the screening of candidate starts (default %(default)s)",
    )
    g.add_argument(
        "--steps",
        type=int,
        default=_DEF_S.n_steps,
        metavar="N",
        help="optimisation steps per placement (default %(default)s)",
    )
    g.add_argument(
        "--lr-shift",
        type=positive_float,
        default=_DEF_S.lr_shift,
        metavar="Å",
        help="learning rate of shifts, Å (default %(default)s)",
    )
    g.add_argument(
        "--lr-rotation",
        type=positive_float,
        default=_DEF_S.lr_rotation,
        metavar="LR",
        help="learning rate of quaternions (default %(default)s)",
    )
    g.add_argument(
        "--coarse-fraction",
        type=float,
        default=_DEF_S.coarse_fraction,
        metavar="F",
        help="fraction of steps with CA atoms only (default %(default)s)",
    )
    g.add_argument(
        "--keep-fraction",
        type=float,
        default=_DEF_S.keep_fraction,
        metavar="F",
        help="fraction of placements refined with all atoms (default %(default)s)",
    )
    g.add_argument(
        "--selection",
        choices=SELECTIONS,
        default=_DEF_S.selection,
        help="atoms of the fine phase (default %(default)s)",
    )
    g = p.add_argument_group("scores, clustering, refinement")
    g.add_argument(
        "--resolution",
        type=positive_float,
        metavar="Å",
        help="map resolution for the simulated map (default: 2 x voxel size)",
    )
    g.add_argument(
        "--shift-tolerance",
        type=positive_float,
        default=_DEF_C.shift_tolerance,
        metavar="Å",
        help="cluster shift tolerance (default %(default)s)",
    )
    g.add_argument(
        "--angle-tolerance",
        type=positive_float,
        default=_DEF_C.angle_tolerance_deg,
        metavar="DEG",
        help="cluster angle tolerance (default %(default)s)",
    )
    g.add_argument(
        "--sort-by",
        choices=SORT_METRICS,
        default=_DEF_C.sort_by,
        help="metric that ranks fits and clusters (default %(default)s)",
    )
    g.add_argument(
        "--refine",
        type=int,
        default=_DEF_R.n_clusters,
        metavar="N",
        help="refine the best N clusters per structure (default %(default)s; 0 = off)",
    )
    g.add_argument(
        "--refine-steps",
        type=int,
        default=_DEF_R.n_steps,
        metavar="N",
        help="refinement steps (default %(default)s)",
    )
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, help="random seed (default: new; recorded in the manifest)")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default %(default)s)")
    g.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def fit_config_from_args(args: argparse.Namespace) -> FitConfig:
    if args.level is not None and args.level != args.level:  # NaN
        raise ConfigError("--level must be a number")
    return FitConfig(
        prep=PrepConfig(
            level=args.level,
            min_island_voxels=args.min_island,
            n_smooth=args.smooth,
            smooth_sigma_voxels=args.smooth_sigma,
            smooth_kernel_size=args.smooth_kernel,
            smooth_weights=args.smooth_weights,
            negative_value=args.negative,
        ),
        search=SearchConfig(
            n_rotations=args.rotations,
            n_positions=args.positions,
            oversample=args.oversample,
            screen_steps=args.screen_steps,
            n_steps=args.steps,
            lr_shift=args.lr_shift,
            lr_rotation=args.lr_rotation,
            coarse_fraction=args.coarse_fraction,
            keep_fraction=args.keep_fraction,
            selection=args.selection,
        ),
        quality=QualityConfig(resolution=args.resolution),
        cluster=ClusterConfig(
            shift_tolerance=args.shift_tolerance,
            angle_tolerance_deg=args.angle_tolerance,
            sort_by=args.sort_by,
        ),
        refine=RefineConfig(n_clusters=args.refine, n_steps=args.refine_steps),
    )


class ProgressBar:
    """Turns :class:`~difffit.search.Progress` events into a tqdm bar on stderr."""

    def __init__(self, *, disable: bool = False) -> None:
        self.disable = disable
        self._bar = None
        self._key: tuple[str, str] | None = None

    def __call__(self, ev: Progress) -> None:
        if self.disable or ev.stage not in ("search", "screen"):
            return
        from tqdm import tqdm

        key = (ev.stage, ev.structure)
        if key != self._key:
            self.close()
            self._bar = tqdm(
                total=ev.total, desc=f"{ev.stage} {ev.structure}"[:40], unit=" placement-steps",
                unit_scale=True, mininterval=0.2,
                file=sys.stderr, leave=False, dynamic_ncols=True,
            )  # fmt: skip
            self._key = key
        assert self._bar is not None
        self._bar.update(ev.done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._key = None


def check_out_dir(path: Path, overwrite: bool) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a folder")
    if (path / "manifest.json").exists() and not overwrite:
        raise ConfigError(
            f"--out {path}: holds results already (choose another folder, or --overwrite)"
        )
