"""Options of every difffit step, as frozen dataclasses validated once at construction.

Every option that is accepted does something; a bad value raises :class:`~difffit.errors.ConfigError`
naming the option. Lengths are in Å, angles in degrees, counts are ``n_*``.

**Each option is declared once**, in its dataclass field: :func:`option` keeps its default, its
bounds (a rule of :mod:`difffit.validate`) and how the command line offers it (flag, help,
metavar) in the field's metadata. :class:`BaseConfig` checks every field against its rule at
construction (subclasses add the checks that tie options together in ``_check``), and
``difffit.cli.common`` builds the argparse options and the config from the same metadata.
Sub-configs are fields made with :func:`section`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import Field, asdict, dataclass, field, fields, replace
from typing import Any

from difffit.errors import ConfigError
from difffit.validate import Boolean, Choice, Integer, Number, Numbers, Symmetry

#: Zeroing rules of :func:`difffit.density.zero.zero_density` (defined here, with no numpy
#: import, so that the command line can build its options without loading the compute code).
RULES = ("dominant", "plain", "shrunk", "subtract")
DEFAULT_RULE = "dominant"
#: The other defaults of :func:`difffit.density.zero.zero_density` (``difffit zero`` shows them).
ZERO_DEFAULTS = {"envelope": 0.05, "core": 0.3, "dominance": 0.5, "erode_voxels": 1, "fill": 0.0}

#: Atom selections: "all" heavy atoms (waters excluded), "backbone", "ca" (one atom per residue).
SELECTIONS = ("all", "backbone", "ca")

#: How a screen searches its candidates (:class:`ScreenConfig` ``strategy``).
SCREEN_STRATEGIES = ("full", "hierarchical")
#: The screen pre-filter's default limit on candidate volume / density volume.
DEFAULT_MAX_VOLUME_RATIO = 10.0

__all__ = [
    "BaseConfig",
    "ClusterConfig",
    "CompositeConfig",
    "DomainConfig",
    "FitConfig",
    "Option",
    "PrepConfig",
    "QualityConfig",
    "RefineConfig",
    "ScreenConfig",
    "SearchConfig",
    "SelectConfig",
    "SymmetryConfig",
    "option",
    "option_fields",
    "section",
    "section_fields",
]

SORT_METRICS = ("correlation", "cam", "overlap", "density", "inside", "hits", "score")

Rule = Integer | Number | Choice | Boolean | Numbers | Symmetry


@dataclass(frozen=True)
class Option:
    """The declaration of one option, kept in its dataclass field's metadata.

    Attributes
    ----------
    rule : Integer, Number, Choice, Boolean or Numbers
        The bounds of the value (:mod:`difffit.validate`).
    flag : str or None
        Command-line flag (``"--min-island"``); None = not offered on the command line.
    help : str
        Help text of the flag (``%(default)s`` is the field's default).
    metavar : str or None
        Placeholder of the value in the help (argparse's default when None).
    negate : bool
        A :class:`Boolean` offered as a switch ``--no-...`` that sets the option to False.
    """

    rule: Rule
    flag: str | None = None
    help: str = ""
    metavar: str | None = None
    negate: bool = False

    @property
    def dest(self) -> str | None:
        """The argparse destination of the flag (``--min-island`` -> ``min_island``)."""
        return self.flag.lstrip("-").replace("-", "_") if self.flag else None


def option(
    default: Any,
    rule: Rule,
    *,
    flag: str | None = None,
    help: str = "",
    metavar: str | None = None,
    negate: bool = False,
) -> Any:
    """A dataclass field declaring an option (see :class:`Option`)."""
    opt = Option(rule=rule, flag=flag, help=help, metavar=metavar, negate=negate)
    return field(default=default, metadata={"option": opt})


def section(cls: type, *, group: str | None = None) -> dict[str, Any]:
    """The metadata of a dataclass field holding a sub-config of type ``cls``.

    ``group`` titles the command-line option group of its flags::

        prep: PrepConfig = field(default_factory=PrepConfig, metadata=section(PrepConfig))
    """
    return {"section": cls, "group": group}


def option_fields(cls: type) -> Iterator[tuple[Field, Option]]:
    """The fields of a config class that are options, with their declarations, in order."""
    for f in fields(cls):
        if "option" in f.metadata:
            yield f, f.metadata["option"]


def section_fields(cls: type) -> Iterator[tuple[Field, type, str | None]]:
    """The sub-config fields of a config class: (field, its class, its group title)."""
    for f in fields(cls):
        if "section" in f.metadata:
            yield f, f.metadata["section"], f.metadata["group"]


class BaseConfig:
    """Validation from the field declarations, and dict round trips.

    Subclasses are frozen, keyword-only dataclasses whose fields come from :func:`option` or
    :func:`section`; they put checks that involve several options in ``_check``.
    """

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f, cls, _ in section_fields(type(self)):
            if not isinstance(getattr(self, f.name), cls):
                raise ConfigError(f"{name}.{f.name} must be a {cls.__name__}", option=f.name)
        for f, opt in option_fields(type(self)):
            value = getattr(self, f.name)
            checked = opt.rule.check(f.name, value)
            # keep a Python int given for a real-valued option as it is (its JSON stays "1");
            # NumPy scalars become Python numbers, sequences tuples
            if not (type(value) is int and isinstance(opt.rule, Number)):
                object.__setattr__(self, f.name, checked)
        self._check()

    def _check(self) -> None:
        """Checks that involve several options (none by default)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} options: {', '.join(sorted(unknown))}")
        sections: dict[str, Any] = {f.name: sec for f, sec, _ in section_fields(cls)}
        kw = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in d:
                v = d[f.name]
                if f.name in sections and isinstance(v, dict):
                    v = sections[f.name].from_dict(v)
                kw[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)

    def replace(self, **changes: Any):
        return replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True, kw_only=True)
class PrepConfig(BaseConfig):
    """Map preparation (paper §4.1).

    Attributes
    ----------
    level : float or None
        Contour level in the map's units; None = automatic (Otsu's threshold of the voxel
        histogram, reported to the user).
    min_island_voxels : int
        Connected pieces of the footprint (26-connected) smaller than this are removed.
    n_smooth : int
        Number of increasingly smoothed copies (each one Gaussian pass over the previous).
    smooth_sigma_voxels : float
        Standard deviation of each Gaussian pass, in voxels.
    smooth_kernel_size : int
        Odd width of the Gaussian kernel, in voxels (the filter is truncated there).
    smooth_weights : tuple of float or None
        Weight of the sharp copy followed by one weight per smoothed copy (n_smooth + 1 values);
        None = all 1.
    negative_value : float
        Value given to voxels outside each copy's footprint (and beyond the box), <= 0.
    """

    level: float | None = option(
        None, Number(optional=True), flag="--level",
        help="contour level (default: automatic, Otsu threshold)",
    )  # fmt: skip
    min_island_voxels: int = option(
        20, Integer(minimum=0), flag="--min-island", metavar="VOXELS",
        help="remove density islands smaller than this (default %(default)s)",
    )  # fmt: skip
    n_smooth: int = option(
        10, Integer(minimum=0), flag="--smooth", metavar="N",
        help="number of Gaussian-smoothed copies (default %(default)s)",
    )  # fmt: skip
    smooth_sigma_voxels: float = option(
        1.0, Number(0.0, low_open=True), flag="--smooth-sigma", metavar="VOXELS",
        help="sigma of each smoothing pass (default %(default)s)",
    )  # fmt: skip
    smooth_kernel_size: int = option(
        5, Integer(minimum=1), flag="--smooth-kernel", metavar="VOXELS",
        help="odd kernel width of each smoothing pass (default %(default)s)",
    )  # fmt: skip
    smooth_weights: tuple[float, ...] | None = option(
        None, Numbers(low=0.0, optional=True), flag="--smooth-weights", metavar="W0,W1,...",
        help="weights of the sharp copy and each smoothed copy (default all 1)",
    )  # fmt: skip
    negative_value: float = option(
        -0.5, Number(high=0.0), flag="--negative", metavar="V",
        help="value outside the density footprint (default %(default)s)",
    )  # fmt: skip

    def _check(self) -> None:
        if self.smooth_kernel_size % 2 != 1:
            raise ConfigError(
                f"smooth_kernel_size must be odd, got {self.smooth_kernel_size}",
                option="smooth_kernel_size",
            )
        w = self.smooth_weights
        if w is not None:
            if len(w) != self.n_smooth + 1:
                raise ConfigError(
                    f"smooth_weights needs n_smooth + 1 = {self.n_smooth + 1} values "
                    f"(sharp copy first), got {len(w)}",
                    option="smooth_weights",
                )
            if sum(w) <= 0:
                raise ConfigError(
                    "smooth_weights must be >= 0 with a positive sum", option="smooth_weights"
                )

    @property
    def weights(self) -> tuple[float, ...]:
        return self.smooth_weights or (1.0,) * (self.n_smooth + 1)


@dataclass(frozen=True, kw_only=True)
class SearchConfig(BaseConfig):
    """The global search (paper §4.2): starts × batched Adam, coarse to fine.

    The search optimises ``n_rotations × n_positions`` placements (reported, clustered and
    counted as hits). Each placement is the best of a pool of ``oversample`` candidate starts
    (``oversample`` × as many rotations, same positions), screened by ``screen_steps`` Adam steps
    with the coarse atoms; ``oversample = 1`` and ``screen_steps = 0`` give the paper's plain
    search. The placements then take ``n_steps`` steps: the first ``coarse_fraction`` of them
    with the coarse atoms (CA/P), the rest with the ``selection`` atoms for the best
    ``keep_fraction`` of placements (the others keep their coarse pose).

    Attributes
    ----------
    n_rotations, n_positions : int
        Rotations spread over SO(3) × positions spread over the footprint = placements.
    oversample : int
        Candidate starts screened per placement.
    screen_steps : int
        Adam steps of the screening of candidate starts.
    n_steps : int
        Adam steps of every placement after screening.
    lr_shift : float
        Adam learning rate of the shift, Å per step.
    lr_rotation : float
        Adam learning rate of the quaternion components (≈ radians / 2 per step).
    selection : str
        Atoms of the fine phase: "all" heavy atoms, "backbone" or "ca".
    coarse_fraction : float
        Fraction of ``n_steps`` done with the coarse atoms.
    keep_fraction : float
        Fraction of placements that go on to the fine phase.
    """

    n_rotations: int = option(
        100, Integer(minimum=1), flag="--rotations", metavar="N",
        help="rotations spread over SO(3) (default %(default)s)",
    )  # fmt: skip
    n_positions: int = option(
        10, Integer(minimum=1), flag="--positions", metavar="N",
        help="start positions spread over the footprint (default %(default)s)",
    )  # fmt: skip
    oversample: int = option(
        10, Integer(minimum=1), flag="--oversample", metavar="N",
        help="candidate starts screened per placement (default %(default)s; 1 = plain search)",
    )  # fmt: skip
    screen_steps: int = option(
        30, Integer(minimum=0), flag="--screen-steps", metavar="N",
        help="steps of the screening of candidate starts (default %(default)s)",
    )  # fmt: skip
    n_steps: int = option(
        150, Integer(minimum=0), flag="--steps", metavar="N",
        help="optimisation steps per placement (default %(default)s)",
    )  # fmt: skip
    lr_shift: float = option(
        0.5, Number(0.0, low_open=True), flag="--lr-shift", metavar="Å",
        help="learning rate of shifts, Å (default %(default)s)",
    )  # fmt: skip
    lr_rotation: float = option(
        0.01, Number(0.0, low_open=True), flag="--lr-rotation", metavar="LR",
        help="learning rate of quaternions (default %(default)s)",
    )  # fmt: skip
    selection: str = option(
        "all", Choice(SELECTIONS), flag="--selection",
        help="atoms of the fine phase (default %(default)s)",
    )  # fmt: skip
    coarse_fraction: float = option(
        0.6, Number(0.0, 1.0), flag="--coarse-fraction", metavar="F",
        help="fraction of steps with CA atoms only (default %(default)s)",
    )  # fmt: skip
    keep_fraction: float = option(
        0.1, Number(0.0, 1.0, low_open=True), flag="--keep-fraction", metavar="F",
        help="fraction of placements refined with all atoms (default %(default)s)",
    )  # fmt: skip

    def _check(self) -> None:
        if self.oversample > 1 and self.screen_steps == 0:
            raise ConfigError(
                "oversample > 1 needs screen_steps > 0 to choose among the starts",
                option="screen_steps",
            )

    @property
    def n_placements(self) -> int:
        return self.n_rotations * self.n_positions

    @property
    def n_starts(self) -> int:
        return self.n_placements * self.oversample


@dataclass(frozen=True, kw_only=True)
class QualityConfig(BaseConfig):
    """Fit-quality metrics against a map simulated from the structure.

    Attributes
    ----------
    resolution : float or None
        Resolution (Å) of the simulated map; None = 2 × the largest voxel size (reported).
    envelope : float
        Simulated-map points at or above this fraction of its maximum are compared.
    """

    resolution: float | None = option(
        None, Number(0.0, low_open=True, optional=True), flag="--resolution", metavar="Å",
        help="map resolution for the simulated map (default: 2 x voxel size)",
    )  # fmt: skip
    envelope: float = option(0.1, Number(0.0, 1.0, low_open=True, high_open=True))


@dataclass(frozen=True, kw_only=True)
class ClusterConfig(BaseConfig):
    """Clustering of final poses (paper §4.3).

    Attributes
    ----------
    shift_tolerance : float
        Å between structure centres for two fits to share a cluster.
    angle_tolerance_deg : float
        Degrees between orientations for two fits to share a cluster.
    sort_by : str
        Metric that orders fits (the cluster representative is the best by it) and clusters.
    max_clusters : int
        Keep only the best this many clusters of each structure (0 = all), chosen by their
        leaders' metrics on the probe's subsample; only they are measured with the whole probe
        and ranked, and the fits of the others have ``cluster_rank`` 0. Hits are counted as
        without the limit. The screen's cheap stage keeps 5 (it ranks a candidate by its best
        cluster).
    """

    shift_tolerance: float = option(
        3.0, Number(0.0, low_open=True), flag="--shift-tolerance", metavar="Å",
        help="cluster shift tolerance (default %(default)s)",
    )  # fmt: skip
    angle_tolerance_deg: float = option(
        6.0, Number(0.0, 180.0, low_open=True), flag="--angle-tolerance", metavar="DEG",
        help="cluster angle tolerance (default %(default)s)",
    )  # fmt: skip
    sort_by: str = option(
        "correlation", Choice(SORT_METRICS), flag="--sort-by",
        help="metric that ranks fits and clusters (default %(default)s)",
    )  # fmt: skip
    max_clusters: int = option(0, Integer(minimum=0))

    def to_dict(self) -> dict[str, Any]:
        """The options as plain data; ``max_clusters`` only when set (added later: manifests
        and run identities without it stay as they were, and their runs resume)."""
        d = asdict(self)
        if self.max_clusters == 0:
            del d["max_clusters"]
        return d


@dataclass(frozen=True, kw_only=True)
class RefineConfig(BaseConfig):
    """Local refinement of cluster representatives (replaces ChimeraX ``fitmap``).

    Attributes
    ----------
    n_clusters : int
        Refine the best this many clusters per structure (0 = no refinement).
    n_steps : int
        Optimiser steps.
    smooth_sigma : float
        Gaussian σ (Å) applied to the raw map for refinement (0 = none).
    """

    n_clusters: int = option(
        10, Integer(minimum=0), flag="--refine", metavar="N",
        help="refine the best N clusters per structure (default %(default)s; 0 = off)",
    )  # fmt: skip
    n_steps: int = option(
        150, Integer(minimum=1), flag="--refine-steps", metavar="N",
        help="refinement steps (default %(default)s)",
    )  # fmt: skip
    smooth_sigma: float = option(0.0, Number(0.0))


@dataclass(frozen=True, kw_only=True)
class SymmetryConfig(BaseConfig):
    """Symmetry of the map (docs/symmetry.md).

    Attributes
    ----------
    group : str
        ``"none"`` (ignore symmetry), ``"auto"`` (detect the point group of the map,
        :func:`difffit.symmetry.detect_symmetry`; no symmetry found = none) or a point group
        (``"C4"``, ``"D7"``, ``"T"``, ``"O"``, ``"I"``) that the map must have
        (:func:`difffit.symmetry.check_symmetry`; an error names the self-correlation when it
        does not). ``fit``: each placement is scored with its symmetry mates (a placement that
        overlaps its own mates ranks after those that do not) and symmetry-equivalent clusters
        are one solution with a ``copies`` count. ``composite``: one copy and its refined mates
        are placed in one round, and each structure's copies default to the group's order.
    """

    group: str = option(
        "none", Symmetry(), flag="--symmetry", metavar="auto|none|GROUP",
        help="symmetry of the map: none (default), auto (detect it) or a point group (C4, D7, "
        "T, O, I); see docs/symmetry.md",
    )  # fmt: skip

    @property
    def enabled(self) -> bool:
        return self.group != "none"


@dataclass(frozen=True, kw_only=True)
class FitConfig(BaseConfig):
    """All options of :func:`difffit.fit`."""

    prep: PrepConfig = field(
        default_factory=PrepConfig, metadata=section(PrepConfig, group="map preparation")
    )
    search: SearchConfig = field(
        default_factory=SearchConfig, metadata=section(SearchConfig, group="search")
    )
    quality: QualityConfig = field(
        default_factory=QualityConfig,
        metadata=section(QualityConfig, group="scores, clustering, refinement"),
    )
    cluster: ClusterConfig = field(
        default_factory=ClusterConfig,
        metadata=section(ClusterConfig, group="scores, clustering, refinement"),
    )
    refine: RefineConfig = field(
        default_factory=RefineConfig,
        metadata=section(RefineConfig, group="scores, clustering, refinement"),
    )
    symmetry: SymmetryConfig = field(
        default_factory=SymmetryConfig, metadata=section(SymmetryConfig, group="symmetry")
    )

    def to_dict(self) -> dict[str, Any]:
        """The options as plain data; ``symmetry`` only when it is on (the manifests of runs
        without symmetry stay as they were), ``cluster.max_clusters`` only when set."""
        d = asdict(self)
        if not self.symmetry.enabled:
            del d["symmetry"]
        d["cluster"] = self.cluster.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        parts: dict[str, Any] = {
            "prep": PrepConfig,
            "search": SearchConfig,
            "quality": QualityConfig,
            "cluster": ClusterConfig,
            "refine": RefineConfig,
            "symmetry": SymmetryConfig,
        }
        unknown = set(d) - set(parts)
        if unknown:
            raise ConfigError(f"unknown FitConfig sections: {', '.join(sorted(unknown))}")
        return cls(**{k: parts[k].from_dict(v) for k, v in d.items()})


@dataclass(frozen=True, kw_only=True)
class CompositeConfig(BaseConfig):
    """Options of :func:`difffit.composite.composite` (lengths in Å).

    Attributes
    ----------
    fit : FitConfig
        Options of every round's fit. A contour level left automatic is set in the first round
        (Otsu threshold of the original map) and kept; so is the resolution.
    rule : str
        Zeroing rule (:data:`difffit.density.zero.RULES`).
    match_resolution : bool
        Zero with the density simulated at the matched resolution
        (:func:`difffit.composite.matched_resolution`).
    min_cam : float
        Smallest cam (correlation about the mean) of an accepted candidate.
    relative_cam : float
        A further copy of a structure needs ``cam >= relative_cam × cam`` of its first copy.
    clash_distance : float
        Heavy atoms closer than this (Å) to a placed subunit's heavy atoms clash.
    max_clash_fraction : float
        A candidate with more than this fraction of its heavy atoms clashing is rejected.
    defer_fraction : float
        A candidate that passes, but with a cam under this fraction of the best cam accepted in
        its round, waits for the next round (fitted again into the map cleared of the surer
        placements); 0 = accept every candidate that passes.
    max_rounds : int
        Stop after this many rounds.
    max_per_round : int
        Accept at most this many placements per round (0 = every candidate that passes).
    candidates_per_structure : int
        Clusters of each structure examined per round, best first.
    defer_small : float
        A candidate whose structure has fewer than this fraction of the heavy atoms of the
        largest structure accepted in the same round waits for the next round (small pieces
        are placed once the large density is explained); 0 = off.
    flexible : bool
        Refine every accepted copy flexibly (domains, then residues) before its density is
        zeroed; a further copy that fails the relative bar rigidly is refined and judged again
        (``docs/composite.md``).
    flexible_rescue : int
        With ``flexible``: per structure and round, the best this-many candidates that fail
        only the relative bar are refined and judged again.
    """

    fit: FitConfig = field(default_factory=FitConfig, metadata=section(FitConfig))
    rule: str = option(
        DEFAULT_RULE, Choice(RULES), flag="--rule",
        help="zeroing rule (default %(default)s; see docs/composite.md)",
    )  # fmt: skip
    match_resolution: bool = option(
        True, Boolean(), flag="--no-match-resolution", negate=True,
        help="zero with the density simulated at --resolution, not at the matched one",
    )  # fmt: skip
    min_cam: float = option(
        0.3, Number(-1.0, 1.0), flag="--min-cam", metavar="R",
        help="smallest cam of an accepted fit (default %(default)s)",
    )  # fmt: skip
    relative_cam: float = option(
        0.6, Number(0.0, 1.0), flag="--relative-cam", metavar="F",
        help="a further copy needs cam >= F x cam of the first copy (default %(default)s)",
    )  # fmt: skip
    clash_distance: float = option(
        2.0, Number(0.0, low_open=True), flag="--clash-distance", metavar="Å",
        help="atoms closer than this to placed atoms clash (default %(default)s)",
    )  # fmt: skip
    max_clash_fraction: float = option(
        0.05, Number(0.0, 1.0), flag="--max-clash", metavar="F",
        help="reject fits with more than this fraction of atoms clashing (default %(default)s)",
    )  # fmt: skip
    defer_fraction: float = option(
        0.8, Number(0.0, 1.0), flag="--defer", metavar="F",
        help="fits with cam < F x the round's best wait for the next round, fitted again into "
        "the cleared map (default %(default)s; 0 = accept all that pass)",
    )  # fmt: skip
    max_rounds: int = option(
        20, Integer(minimum=1), flag="--max-rounds", metavar="N",
        help="stop after N rounds (default %(default)s)",
    )  # fmt: skip
    max_per_round: int = option(
        0, Integer(minimum=0), flag="--max-per-round", metavar="N",
        help="accept at most N fits per round (default %(default)s = all that pass)",
    )  # fmt: skip
    candidates_per_structure: int = option(
        10, Integer(minimum=1), flag="--candidates", metavar="N",
        help="clusters per structure examined each round (default %(default)s)",
    )  # fmt: skip
    defer_small: float = option(
        0.25, Number(0.0, 1.0), flag="--defer-small", metavar="F",
        help="structures with fewer than F x the atoms of the largest one accepted in a round "
        "wait for the next round (default %(default)s; 0 = off)",
    )  # fmt: skip
    flexible: bool = option(
        False, Boolean(), flag="--flexible",
        help="refine every accepted copy flexibly (domains, then residues) before zeroing its "
        "density; further copies failing the relative bar are refined and judged again",
    )  # fmt: skip
    flexible_rescue: int = option(
        2, Integer(minimum=0), flag="--flexible-rescue", metavar="N",
        help="with --flexible: refine and judge again the best N candidates per structure and "
        "round that fail only the relative bar (default %(default)s)",
    )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fit"}
        # options added after format 2 are written only when changed: folders of earlier runs
        # (which lack them) resume, and the manifest of a run with the defaults is as before
        for name, default in _LATER_OPTIONS.items():
            if d[name] == default:
                del d[name]
        d["fit"] = self.fit.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompositeConfig:
        d = dict(d)
        fit_cfg = FitConfig.from_dict(d.pop("fit", {}))
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown CompositeConfig options: {', '.join(sorted(unknown))}")
        return cls(fit=fit_cfg, **d)


#: CompositeConfig options newer than the run-folder format, with their defaults.
_LATER_OPTIONS: dict[str, Any] = {"defer_small": 0.25, "flexible": False, "flexible_rescue": 2}


@dataclass(frozen=True)
class DomainConfig:
    """Options of :func:`difffit.domains.split_domains`.

    Attributes
    ----------
    pae_cutoff : float, Å
        Residue pairs with PAE below this are joined (weight 1/PAE).
    pae_resolution : float
        Resolution of the modularity of the PAE graph (smaller: fewer, larger domains).
    min_domain_residues : int
        Smallest domain (residues). PAE: smaller communities get -1; contacts: they are merged.
    plddt_cutoff : float
        Residues of an AlphaFold model with pLDDT below this get -1 (contacts method).
    use_plddt : bool or None
        Read the B column as pLDDT: None detects AlphaFold models (:func:`detect_alphafold`).
    contact_cutoff : float, Å
        CA-CA distance of an edge of the contact graph.
    contact_resolution : float
        Resolution of the modularity of the contact graph.
    min_segment_residues : int
        Shortest run of consecutive residues kept in one domain (contacts method).
    max_interface_fraction : float
        Two domains are merged when their contact weight is more than this fraction of the
        smaller one's total contact weight (contacts method).
    ligand_distance : float, Å
        A non-polymer residue takes the domain of the nearest trace atom within this distance.
    """

    pae_cutoff: float = 5.0
    pae_resolution: float = 1.0
    min_domain_residues: int = 20
    plddt_cutoff: float = 70.0
    use_plddt: bool | None = None
    contact_cutoff: float = 9.0
    contact_resolution: float = 0.4
    min_segment_residues: int = 15
    max_interface_fraction: float = 0.15
    ligand_distance: float = 8.0

    def __post_init__(self) -> None:
        for name in ("pae_cutoff", "pae_resolution", "contact_cutoff", "contact_resolution"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_domain_residues", "min_segment_residues"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.max_interface_fraction <= 1:
            raise ConfigError(
                f"max_interface_fraction must be within (0, 1], got {self.max_interface_fraction}"
            )
        if not 0 <= self.plddt_cutoff <= 100:
            raise ConfigError(f"plddt_cutoff must be within 0-100, got {self.plddt_cutoff}")
        if not self.ligand_distance >= 0:
            raise ConfigError(f"ligand_distance must be >= 0, got {self.ligand_distance}")


@dataclass(frozen=True, kw_only=True)
class SelectConfig(BaseConfig):
    """Which residues of each structure are searched (:mod:`difffit.selection`), for fit,
    composite and screen alike. Chains and residue ranges are written after the file name
    (``FILE:A:1-150,B``).

    Attributes
    ----------
    min_plddt : float or None
        Leave the residues whose B column (an AlphaFold model's pLDDT, 0-100) is below this
        out of the search and the scores; they stay in the written models, moved with the rest.
    """

    min_plddt: float | None = option(
        None, Number(0.0, 100.0, optional=True), flag="--min-plddt", metavar="X",
        help="leave residues with a B column (AlphaFold pLDDT) below X out of the search; they "
        "stay in the written models, moved with the rest (AlphaFold: 70 = confident)",
    )  # fmt: skip


def default_screen_fit_config() -> FitConfig:
    """The fit options of a screen: the defaults of :func:`difffit.fit`, ranked by ``cam``."""
    return FitConfig(cluster=ClusterConfig(sort_by="cam"))


@dataclass(frozen=True, kw_only=True)
class ScreenConfig(BaseConfig):
    """Options of :func:`difffit.screen.screen`.

    Attributes
    ----------
    fit : FitConfig
        Options of every candidate's fit. ``fit.cluster.sort_by`` is the score that ranks the
        clusters of a candidate and the candidates of the library (default ``cam``, the
        correlation about the mean, which unlike the plain correlation does not reward small
        structures sitting in the densest part of the map).
    prefilter : bool
        Leave out candidates much larger than the density (:mod:`difffit.screen.prefilter`).
    max_volume_ratio : float
        The pre-filter's limit on candidate volume / density volume (> 0; inf = no limit).
    alpha : float
        False-discovery rate at which a candidate is called significant.
    strategy : str
        ``"full"``: the full search for every candidate; ``"hierarchical"``: a cheap search for
        every candidate and the full one only where it could matter
        (:mod:`difffit.screen.hierarchy`).
    full_top : int
        Hierarchical: the best this many candidates of the cheap stage get the full search, and
        promotion goes on until the best this many of the final ranking are all fully searched
        (their statistics are the plain screen's).
    calibration : int
        Hierarchical: a random sample of this many other candidates gets the full search too,
        to calibrate the cheap statistic against the full one.
    margin : float
        Hierarchical: a candidate keeps its cheap result only when its predicted statistic is
        this many robust residual spreads below anything significant.
    """

    fit: FitConfig = field(default_factory=default_screen_fit_config, metadata=section(FitConfig))
    prefilter: bool = option(
        True, Boolean(), flag="--no-prefilter", negate=True,
        help="fit every candidate, however much larger than the density",
    )  # fmt: skip
    max_volume_ratio: float = option(
        DEFAULT_MAX_VOLUME_RATIO, Number(0.0, low_open=True, allow_inf=True),
        flag="--max-volume-ratio", metavar="R",
        help="pre-filter: leave out candidates with a volume above R x the density's volume at "
        "the contour level (default %(default)s)",
    )  # fmt: skip
    alpha: float = option(
        0.01, Number(0.0, 1.0, low_open=True, high_open=True), flag="--alpha", metavar="Q",
        help="false-discovery rate at which a candidate is called significant "
        "(default %(default)s)",
    )  # fmt: skip
    strategy: str = option(
        "full", Choice(SCREEN_STRATEGIES), flag="--strategy",
        help="full: the full search for every candidate; hierarchical: a cheap search for "
        "every candidate, the full one only for those that could be significant "
        "(default %(default)s)",
    )  # fmt: skip
    full_top: int = option(
        50, Integer(minimum=0), flag="--full-top", metavar="N",
        help="hierarchical: the best N candidates (of the cheap stage, then of the ranking) "
        "get the full search (default %(default)s)",
    )  # fmt: skip
    calibration: int = option(
        24, Integer(minimum=3), flag="--calibration", metavar="N",
        help="hierarchical: N random other candidates get the full search to calibrate the "
        "cheap stage (default %(default)s)",
    )  # fmt: skip
    margin: float = option(
        4.0, Number(0.0), flag="--margin", metavar="SD",
        help="hierarchical: safety margin, in robust spreads of the cheap-to-full residual, "
        "below the least significant statistic (default %(default)s)",
    )  # fmt: skip

    def _check(self) -> None:
        if self.fit.symmetry.enabled:
            raise ConfigError(
                "a screen fits candidates without symmetry (fit.symmetry must be none; use "
                "difffit fit --symmetry on the hits)",
                option="symmetry",
            )

    @property
    def metric(self) -> str:
        return self.fit.cluster.sort_by

    @property
    def hierarchical(self) -> bool:
        return self.strategy == "hierarchical"


@dataclass(frozen=True, kw_only=True)
class FlexFitConfig(BaseConfig):
    """Options of ``fit --flexible``."""

    n_top: int = option(
        3, Integer(minimum=1), flag="--flexible-top", metavar="N",
        help="refine the best N clusters of each structure flexibly (default %(default)s)",
    )  # fmt: skip
