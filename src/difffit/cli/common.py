"""Argument groups and helpers shared by subcommands.

The flags of config options are not written here: :func:`add_config_options` and
:func:`add_fit_options` generate them from the declarations in the config dataclasses
(:mod:`difffit.config`), and :func:`config_from_args` builds the config back from the parsed
arguments, naming the flag in the message of a bad value. The few options that are not config
fields (``--out``, ``--chains``, ``--seed``, ``--device``, ``--threads``, ``-q`` ...) are
declared once below.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING
from pathlib import Path
from typing import Any, TypeVar

from difffit import validate
from difffit.config import FitConfig, Option, option_fields, section_fields
from difffit.errors import ConfigError
from difffit.progress import Progress

C = TypeVar("C")

Target = argparse.ArgumentParser | argparse._ArgumentGroup


def positive_float(text: str) -> float:
    """argparse type of a number > 0 (for options that are not config fields)."""
    try:
        return validate.positive("value", float(text), allow_inf=True)
    except ValueError:  # float() or validate (ConfigError is a ValueError)
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None


# ------------------------------------------------------------------- options from the configs
def _add_option(target: Target, default: Any, opt: Option) -> None:
    assert opt.flag is not None
    rule = opt.rule
    kw: dict[str, Any] = {"help": opt.help}
    if isinstance(rule, validate.Boolean):
        # a Boolean option is a switch: --no-... (negate=True) for one on by default, --... for
        # one off by default
        if opt.negate != (default is True) or default not in (True, False):
            raise TypeError(
                f"{opt.flag}: a Boolean option on by default is offered as --no-... (negate=True), "
                "one off by default as a plain switch"
            )
        kw["action"] = "store_true"
    else:
        kw["default"] = default
        if opt.metavar:
            kw["metavar"] = opt.metavar
        if isinstance(rule, validate.Choice):
            kw["choices"] = rule.choices
        elif isinstance(rule, validate.Integer):
            kw["type"] = int
        elif isinstance(rule, validate.Number):
            kw["type"] = float
        elif isinstance(rule, validate.Numbers):
            kw["type"] = float_list
        elif isinstance(rule, validate.Symmetry):
            kw["type"] = str
        else:
            raise TypeError(f"{opt.flag}: no command-line form for {rule!r}")
    target.add_argument(opt.flag, **kw)


def add_config_options(target: Target, cls: type) -> None:
    """Add the flags of the options of ``cls`` itself (not of its sections), in field order."""
    for f, opt in option_fields(cls):
        if opt.flag is not None:
            _add_option(target, f.default if f.default is not MISSING else None, opt)


def add_section_options(
    parser: argparse.ArgumentParser, cls: type, *, skip: tuple[type, ...] = ()
) -> None:
    """Add the flags of the sections of ``cls``, one argument group per section group title
    (sections of a class in ``skip`` are left out: they keep their defaults)."""
    groups: dict[str | None, Target] = {}
    for _, sec, title in section_fields(cls):
        if sec in skip:
            continue
        if title not in groups:
            groups[title] = parser.add_argument_group(title) if title else parser
        add_config_options(groups[title], sec)
        add_section_options(parser, sec, skip=skip)


def config_from_args(cls: type[C], args: argparse.Namespace) -> C:
    """The config ``cls`` from parsed arguments (options without a flag keep their default).

    Raises
    ------
    ConfigError
        A bad value, named by its flag (``--refine-steps must be an integer >= 1, got 0``).
    """
    kw: dict[str, Any] = {f.name: config_from_args(sec, args) for f, sec, _ in section_fields(cls)}
    flags = {}
    for f, opt in option_fields(cls):
        if opt.flag is not None and opt.dest is not None:
            if not hasattr(args, opt.dest):  # a section the command does not offer
                continue
            value = getattr(args, opt.dest)
            kw[f.name] = (not value) if opt.negate else value
            flags[f.name] = opt.flag
    try:
        return cls(**kw)
    except ConfigError as exc:
        if exc.option in flags:
            raise exc.renamed(flags[exc.option]) from None
        raise


def add_fit_options(p: argparse.ArgumentParser, *, symmetry: bool = True) -> None:
    """The options of the search, shared by fit, composite and screen (``--symmetry`` only
    where ``symmetry``: fit and composite)."""
    from difffit.config import SymmetryConfig

    add_section_options(p, FitConfig, skip=() if symmetry else (SymmetryConfig,))
    add_run_options(p)


def fit_config_from_args(args: argparse.Namespace) -> FitConfig:
    return config_from_args(FitConfig, args)


# ------------------------------------------------------------- options that are not config fields
def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--seed``, ``--device``, ``--threads``, ``-q`` of the commands that fit."""
    g = p.add_argument_group("run")
    add_seed(g, help="random seed (default: new; recorded in the manifest)")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default %(default)s)")
    g.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_seed(target: Target, *, help: str, default: int | None = None) -> None:
    target.add_argument("--seed", type=int, default=default, help=help)


def add_out(target: Target, *, help: str) -> None:
    target.add_argument("-o", "--out", type=Path, required=True, help=help)


def add_overwrite(target: Target, *, help: str) -> None:
    target.add_argument("--overwrite", action="store_true", help=help)


def add_chains(target: Target, *, help: str) -> None:
    target.add_argument("--chains", help=help)


def chains_from_args(args: argparse.Namespace) -> list[str] | None:
    """The chain IDs of ``--chains A,B`` (None = every chain)."""
    return [c.strip() for c in args.chains.split(",") if c.strip()] if args.chains else None


def add_models(target: Target, *, help: str) -> None:
    """``--models N`` (>= 0, checked by :func:`models_from_args`)."""
    target.add_argument("--models", type=int, default=5, metavar="N", help=help)


def models_from_args(args: argparse.Namespace) -> int:
    return validate.integer("--models", args.models, minimum=0)


def add_top(target: Target) -> None:
    target.add_argument(
        "--top", type=int, default=10, metavar="N", help="rows of the printed table"
    )


class ProgressBar:
    """Turns :class:`~difffit.progress.Progress` events into a tqdm bar on stderr."""

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


def announce_defaults(args: argparse.Namespace, density: Any) -> None:
    """Say what a run will use that the user did not choose: the device, and the resolution
    when ``--resolution`` was not given (2 x the largest voxel size, a warning: the simulated
    map is then sharper or blurrier than the map)."""
    import logging

    from difffit.device import resolve_device

    log = logging.getLogger("difffit")
    device = resolve_device(getattr(args, "device", "auto"))
    threads = getattr(args, "threads", None)
    log.info("device %s%s", device,
             f" ({threads} threads)" if threads and device == "cpu" else "")  # fmt: skip
    if getattr(args, "resolution", None) is None:
        voxel = float(density.voxel_size_xyz.max())
        log.warning("--resolution not given: %.3g Å assumed (2 x the voxel size %.3g Å); give "
                    "the map's resolution (e.g. from its EMDB entry)", 2.0 * voxel, voxel)  # fmt: skip
