"""The contract of the option declarations: CLI flags, configs and their checks come from one place.

For every option of every subcommand that builds a config (fit, composite, screen): a non-default
value given on the command line arrives in the config and survives ``to_dict``/``from_dict`` (and
JSON); every value out of bounds ends in exit code 2 and one line naming the flag. The flag sets
of every subcommand's ``--help`` are pinned to what they were before the declarations moved.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields

import numpy as np
import pytest

from difffit import validate
from difffit.cli import build_parser, main
from difffit.cli.common import config_from_args
from difffit.config import (
    BaseConfig,
    ClusterConfig,
    CompositeConfig,
    FitConfig,
    PrepConfig,
    SearchConfig,
    option_fields,
    section_fields,
)
from difffit.errors import ConfigError
from difffit.screen import ScreenConfig

# the flags of `difffit CMD --help` on main before the declarations moved into the configs,
# plus the download options every command that takes accessions gained since (issue #14)
FETCH_FLAGS = ["--cache", "--mirror"]
FLEXIBLE_FLAGS = {  # flags added by issue 11 (flexible fitting) and its small-piece rule
    "fit": ["--domains", "--flexible", "--flexible-top", "--pae"],
    "composite": ["--defer-small", "--flexible", "--flexible-rescue"],
    "screen": ["--flexible"],
}
SELECT_FLAGS = ["--min-plddt"]  # fit, composite and screen (issue #14)
SYMMETRY_FLAGS = ["--symmetry"]  # fit and composite (issue 12); not screen
PINNED_FLAGS = {
    "composite": ["--accept", "--angle-tolerance", "--candidates", "--clash-distance",
                  "--coarse-fraction", "--copies", "--defer", "--device", "--help",
                  "--keep-fraction", "--level", "--lr-rotation", "--lr-shift", "--manual",
                  "--max-clash", "--max-per-round", "--max-rounds", "--min-cam", "--min-island",
                  "--negative", "--no-match-resolution", "--out", "--oversample", "--positions",
                  "--quiet", "--refine", "--refine-steps", "--relative-cam", "--resolution",
                  "--restart", "--rotations", "--rule", "--screen-steps", "--seed", "--selection",
                  "--shift-tolerance", "--smooth", "--smooth-kernel", "--smooth-sigma",
                  "--smooth-weights", "--sort-by", "--steps", "--threads", "-h", "-o", "-q"],
    "fit": ["--angle-tolerance", "--chains", "--coarse-fraction", "--device", "--help",
            "--keep-fraction", "--level", "--lr-rotation", "--lr-shift", "--min-island",
            "--models", "--negative", "--out", "--oversample", "--overwrite", "--pdb",
            "--positions", "--quiet", "--refine", "--refine-steps", "--resolution", "--rotations",
            "--screen-steps", "--seed", "--selection", "--shift-tolerance", "--smooth",
            "--smooth-kernel", "--smooth-sigma", "--smooth-weights", "--sort-by", "--steps",
            "--threads", "--top", "-h", "-o", "-q"],
    "screen": ["--alpha", "--angle-tolerance", "--calibration", "--coarse-fraction", "--device",
               "--full-top", "--help", "--keep-fraction", "--level", "--lr-rotation", "--lr-shift",
               "--margin", "--max-volume-ratio", "--min-island", "--models", "--negative",
               "--no-plot", "--no-prefilter", "--out", "--oversample", "--positions", "--quiet",
               "--refine", "--refine-steps", "--resolution", "--rotations", "--scheduler",
               "--screen-steps", "--seed", "--selection", "--shift-tolerance", "--smooth",
               "--smooth-kernel", "--smooth-sigma", "--smooth-weights", "--sort-by", "--steps",
               "--strategy", "--threads", "--top", "--workers", "-h", "-o", "-q"],
    "simulate": ["--chains", "--help", "--like", "--noise", "--out", "--overwrite", "--padding",
                 "--resolution", "--seed", "--voxel-size", "-h", "-o"],
    "split": ["--format", "--help", "--min-coverage", "--out", "--unique", "-h", "-o"],
    "view": ["--help", "--host", "--no-browser", "--port", "-h"],
    "zero": ["--core", "--dominance", "--envelope", "--erode", "--fill", "--fit", "--help",
             "--no-match-resolution", "--out", "--overwrite", "--removed", "--resolution", "--rule",
             "--structure", "-h", "-o"],
}  # fmt: skip

PARSER = build_parser()
SUBPARSERS = PARSER._subparsers._group_actions[0].choices
#: the subcommands that build a config, and the config they build
CONFIG_OF = {"fit": FitConfig, "composite": CompositeConfig, "screen": ScreenConfig}
POSITIONAL = ["in.mrc", "in.pdb", "--out", "no_such_folder"]


def _options(cls, path=()):
    """(path of field names, Option) of every option of ``cls`` and its sections."""
    for f, sec, _ in section_fields(cls):
        yield from _options(sec, (*path, f.name))
    for f, opt in option_fields(cls):
        yield (*path, f.name), opt


def _get(cfg, path):
    for name in path:
        cfg = getattr(cfg, name)
    return cfg


CASES = [
    pytest.param(cmd, path, opt, id=f"{cmd}{opt.flag}")
    for cmd, cls in CONFIG_OF.items()
    for path, opt in _options(cls)
    if opt.flag and opt.flag in SUBPARSERS[cmd]._option_string_actions  # screen: no --symmetry
]


def _parser_default(cmd, opt):
    return SUBPARSERS[cmd]._option_string_actions[opt.flag].default


def _valid_other_value(cmd, opt):
    """A valid value other than the command's default: (argv text or None for a switch, value)."""
    rule, default = opt.rule, _parser_default(cmd, opt)
    if isinstance(rule, validate.Boolean):  # --no-X turns an option off, a plain switch on
        return None, not opt.negate
    if isinstance(rule, validate.Choice):
        v = next(c for c in rule.choices if c != default)
        return v, v
    if isinstance(rule, validate.Integer):
        v = default + 2  # + 2 keeps the kernel width odd
        return str(v), v
    if isinstance(rule, validate.Symmetry):
        return "c4", "C4"
    if isinstance(rule, validate.Numbers):  # one weight per copy, the sharp copy first
        v = tuple(float(i + 1) for i in range(PrepConfig().n_smooth + 1))
        return ",".join(map(repr, v)), v
    if default is None:
        v = rule.low + 1.5 if math.isfinite(rule.low) else 1.5
    elif math.isfinite(rule.high):
        v = (default + rule.high) / 2 if default != rule.high else (default + rule.low) / 2
    elif math.isfinite(rule.low):
        v = default * 2 if default > 0 else default + 1.0
    else:
        v = default - 1.0
    return repr(v), v


def _config(cmd, argv):
    args = PARSER.parse_args([cmd, *POSITIONAL, *argv])
    return config_from_args(CONFIG_OF[cmd], args)


@pytest.mark.parametrize("cmd", sorted(PINNED_FLAGS))
def test_help_lists_the_pinned_flags(cmd, capsys):
    flags = sorted(s for a in SUBPARSERS[cmd]._actions for s in a.option_strings)
    takes_accessions = cmd in ("composite", "fit", "screen", "simulate", "zero")
    flexible = FLEXIBLE_FLAGS.get(cmd, [])
    flexible += SYMMETRY_FLAGS if cmd in ("fit", "composite") else []
    select = SELECT_FLAGS if cmd in CONFIG_OF else []
    assert flags == sorted(
        PINNED_FLAGS[cmd] + (FETCH_FLAGS if takes_accessions else []) + flexible + select
    )
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    shown = capsys.readouterr().out
    assert all(f in shown for f in PINNED_FLAGS[cmd])


@pytest.mark.parametrize("cmd", sorted(CONFIG_OF))
def test_defaults_of_the_command_line_are_the_configs(cmd):
    expected = CONFIG_OF[cmd]()
    if cmd == "fit":  # screen ranks by cam (its config's default), the others by correlation
        assert expected.cluster.sort_by == "correlation"
    assert _config(cmd, []) == expected


@pytest.mark.parametrize(("cmd", "path", "opt"), CASES)
def test_every_option_round_trips_cli_config_dict(cmd, path, opt):
    text, value = _valid_other_value(cmd, opt)
    cfg = _config(cmd, [opt.flag] if text is None else [opt.flag, text])
    assert _get(cfg, path) == value
    assert _get(cfg, path) != _get(CONFIG_OF[cmd](), path)
    cls = CONFIG_OF[cmd]
    assert cls.from_dict(cfg.to_dict()) == cfg
    assert cls.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def _bad_values(opt):
    rule = opt.rule
    if isinstance(rule, validate.Integer):
        if rule.minimum is not None:
            yield str(rule.minimum - 1)
        if rule.maximum is not None:
            yield str(rule.maximum + 1)
    elif isinstance(rule, validate.Number):
        yield "nan"
        if math.isfinite(rule.low):
            yield repr(rule.low if rule.low_open else rule.low - 1.0)
        if math.isfinite(rule.high):
            yield repr(rule.high if rule.high_open else rule.high + 1.0)
        if not rule.allow_inf:
            yield "inf" if math.isinf(rule.high) else "-inf"
    elif isinstance(rule, validate.Numbers):
        yield ",".join(["-1"] * (PrepConfig().n_smooth + 1))
    elif isinstance(rule, validate.Symmetry):
        yield from ("Q7", "D1", "C0", "c4x")


BOUNDS = [
    pytest.param(cmd, [f"{opt.flag}={bad}"], opt.flag, id=f"{cmd}{opt.flag}={bad}")
    for cmd, path, opt in (c.values for c in CASES)
    for bad in _bad_values(opt)
] + [
    pytest.param(cmd, argv, argv[0], id=f"{cmd}{argv[0]}={argv[1]}")
    for cmd, argv in (
        ("fit", ["--models", "-1"]),
        ("screen", ["--models", "-1"]),
        ("screen", ["--workers", "0"]),
        ("fit", ["--smooth-kernel", "4"]),
        ("fit", ["--screen-steps", "0"]),
        ("fit", ["--smooth-weights", "1,2"]),
        ("fit", ["--smooth-weights", ",".join(["0"] * (PrepConfig().n_smooth + 1))]),
    )
]


@pytest.mark.parametrize(("cmd", "argv", "flag"), BOUNDS)
def test_every_bound_violation_exits_2_with_one_line_naming_the_flag(cmd, argv, flag, capsys):
    assert main([cmd, *POSITIONAL, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith((f"difffit: error: {flag} ", f"difffit: error: {flag}: "))


@pytest.mark.parametrize(
    "argv", [["--noise", "-1"], ["--padding", "-1"], ["--padding", "nan"]], ids=str
)
def test_simulate_bound_violations_name_the_flag(argv, capsys):
    assert main(["simulate", "in.pdb", "--resolution", "5", "--out", "no_such.mrc", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"difffit: error: {argv[0]} must be")


def test_options_without_a_flag_keep_their_defaults():
    cfg = _config("fit", ["--resolution", "4"])
    assert cfg.quality.envelope == FitConfig().quality.envelope
    assert cfg.refine.smooth_sigma == FitConfig().refine.smooth_sigma
    assert cfg.cluster.max_clusters == FitConfig().cluster.max_clusters == 0
    flagless = {p for p, o in _options(FitConfig) if not o.flag}
    assert flagless == {
        ("quality", "envelope"),
        ("refine", "smooth_sigma"),
        ("cluster", "max_clusters"),  # the screen's cheap stage sets it
    }


# ------------------------------------------------------------------------ the configs themselves
#: Library-only configs (flexible fitting: not on the command line yet) validate in ``_check``;
#: left out so that the list does not depend on which modules other tests imported.
LIBRARY_ONLY = {"FlexibleConfig", "MultiBodyConfig"}
CONFIG_CLASSES = [c for c in BaseConfig.__subclasses__() if c.__name__ not in LIBRARY_ONLY]


def test_every_config_class_declares_every_field():
    assert {c.__name__ for c in CONFIG_CLASSES} >= {
        "PrepConfig", "SearchConfig", "QualityConfig", "ClusterConfig", "RefineConfig",
        "FitConfig", "CompositeConfig", "ScreenConfig",
    }  # fmt: skip
    for cls in CONFIG_CLASSES:
        declared = {f.name for f, _ in option_fields(cls)} | {
            f.name for f, _, _ in section_fields(cls)
        }
        assert declared == {f.name for f in fields(cls)}, cls.__name__


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_config_round_trips_and_refuses_unknown_keys(cls):
    cfg = cls()
    assert cls.from_dict(cfg.to_dict()) == cfg
    assert cls.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        cls.from_dict({**cfg.to_dict(), "bogus": 1})


@pytest.mark.parametrize(
    ("cls", "kw", "word"),
    [
        (SearchConfig, {"n_steps": -1}, "n_steps"),
        (SearchConfig, {"n_rotations": True}, "n_rotations"),
        (SearchConfig, {"lr_shift": float("inf")}, "lr_shift"),
        (SearchConfig, {"selection": "side chains"}, "selection"),
        (ClusterConfig, {"angle_tolerance_deg": 181}, "angle_tolerance_deg"),
        (PrepConfig, {"level": "high"}, "level"),
        (PrepConfig, {"smooth_weights": (1.0,) * 10 + (float("nan"),)}, "smooth_weights"),
        (CompositeConfig, {"match_resolution": 1}, "match_resolution"),
        (CompositeConfig, {"fit": {}}, "FitConfig"),
        (ScreenConfig, {"alpha": 1.0}, "alpha"),
        (ScreenConfig, {"max_volume_ratio": float("nan")}, "max_volume_ratio"),
    ],
)
def test_bad_values_raise_one_line_config_errors_naming_the_option(cls, kw, word):
    with pytest.raises(ConfigError, match=word) as e:
        cls(**kw)
    assert "\n" not in str(e.value)
    assert e.value.option == next(iter(kw))


def test_config_values_stay_plain_python():
    cfg = SearchConfig(lr_shift=1, n_rotations=np.int64(7), coarse_fraction=np.float32(0.5))
    assert type(cfg.lr_shift) is int  # an int given for a real option is kept (its JSON stays 1)
    assert type(cfg.n_rotations) is int and type(cfg.coarse_fraction) is float
    assert PrepConfig(smooth_weights=[1] * 11).smooth_weights == (1.0,) * 11
    assert ScreenConfig(max_volume_ratio=math.inf).max_volume_ratio == math.inf


def test_renamed_error_names_the_flag():
    e = ConfigError("n_steps must be an integer >= 1, got 0", option="n_steps")
    assert str(e.renamed("--refine-steps")) == "--refine-steps must be an integer >= 1, got 0"
    other = ConfigError("oversample > 1 needs screen_steps > 0", option="screen_steps")
    assert (
        str(other.renamed("--screen-steps"))
        == "--screen-steps: oversample > 1 needs screen_steps > 0"
    )


def test_max_clusters_is_written_only_when_set():
    # added after runs were written: their manifests and screen identities must not change
    d = FitConfig().to_dict()
    assert "max_clusters" not in d["cluster"] and "max_clusters" not in ClusterConfig().to_dict()
    assert FitConfig.from_dict(d) == FitConfig()
    five = FitConfig(cluster=ClusterConfig(max_clusters=5))
    assert five.to_dict()["cluster"]["max_clusters"] == 5
    assert FitConfig.from_dict(five.to_dict()) == five
