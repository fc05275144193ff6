"""Rigid domains of a structure: from a PAE matrix, from pLDDT and contacts, or by hand.

A structure that moved between the model and the map (a subunit in another conformation, an
AlphaFold model with hinged domains) is fitted as a few rigid bodies. This module cuts it into
those bodies and hands them on as a per-atom integer label array, ``(n_atoms,) int64``: domain
index ``0 .. k-1``, or ``-1`` for atoms in no domain (low-confidence or excluded residues that
are carried along with the model but not searched). :func:`domain_labels` gives that array.

The unit of a domain is the *residue* (chain, residue number, insertion code). Polymer residues
(those with a CA or P trace atom) are split; other residues (ligands, ions) follow the domain of
the nearest polymer residue within :attr:`DomainConfig.ligand_distance` Å, else get -1.

Three ways to get domains (:class:`DomainMethod`):

``PAE``
    AlphaFold's predicted aligned error, one row/column per polymer residue. A graph of residues
    with an edge of weight 1/PAE for every pair with PAE < :attr:`DomainConfig.pae_cutoff` (the
    mean of the two directions) is split by networkx's greedy modularity communities, as Tristan
    Croll's ``pae_to_domains`` and ChimeraX's ``alphafold pae ... colorDomains`` do. Communities
    smaller than :attr:`DomainConfig.min_domain_residues` get -1 (no confident partner).
``CONTACTS``
    No PAE. For an AlphaFold model (detected by :func:`detect_alphafold`, or forced with
    :attr:`DomainConfig.use_plddt`) the residues with pLDDT (the B column) below
    :attr:`DomainConfig.plddt_cutoff` get -1. The rest are split into compact domains: a graph
    of residues with an edge for every CA-CA distance d < :attr:`DomainConfig.contact_cutoff`,
    weight exp(-2 (d / cutoff)²), cut by greedy modularity at
    :attr:`DomainConfig.contact_resolution`; then two clean-up rules, applied until nothing
    changes: a run of fewer than :attr:`DomainConfig.min_segment_residues` consecutive residues
    of one domain joins the neighbouring domain (in sequence) it has most contact weight with,
    a domain smaller than :attr:`DomainConfig.min_domain_residues` joins the domain it has
    most contact weight with (or gets -1 when it touches none), and two domains whose contact
    weight is more than :attr:`DomainConfig.max_interface_fraction` of the smaller one's total
    contact weight are merged (they are one compact body, not two rigid ones).
``MANUAL``
    Residue ranges given by hand: ``"A:1-150,A:151-397"``; ``,`` separates domains and ``+``
    joins the segments of one domain (``"A:1-29+A:60-121+A:160-214,A:122-159,A:30-59"``); the
    chain may be left out when the structure has one chain. See :func:`parse_domain_spec`.

Domains found automatically are numbered in the order of their first residue in the file; domains
given by hand keep the order they were given in.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from difffit.config import DomainConfig
from difffit.errors import ConfigError, StructureError
from difffit.structure import Structure

__all__ = [
    "AlphaFoldInfo",
    "Domain",
    "DomainConfig",
    "DomainMethod",
    "DomainSplit",
    "ResidueTable",
    "Segment",
    "detect_alphafold",
    "domain_labels",
    "domain_structure",
    "parse_domain_spec",
    "residue_ranges",
    "residue_table",
    "split_domains",
]


class DomainMethod(enum.Enum):
    """How the domains were found."""

    PAE = "pae"
    CONTACTS = "contacts"
    MANUAL = "manual"


# ---------------------------------------------------------------------------- residues
@dataclass(frozen=True, eq=False)
class ResidueTable:
    """The residues of a structure, in file order.

    Attributes
    ----------
    chains : (m,) array of str
    numbers : (m,) int64 array
    insertion_codes : (m,) array of str
    names : (m,) array of str
        Residue names.
    atom_residue : (n_atoms,) int64 array
        Index of each atom's residue.
    polymer : (m,) bool array
        Residues with a trace atom (CA of amino acids, P of nucleotides).
    trace_xyz : (m, 3) float64 array, Å
        The trace atom (NaN for non-polymer residues).
    centre_xyz : (m, 3) float64 array, Å
        Mean position of each residue's atoms.
    b_mean : (m,) float64 array or None
        Mean B column of each residue's atoms (pLDDT of AlphaFold models).
    """

    chains: np.ndarray
    numbers: np.ndarray
    insertion_codes: np.ndarray
    names: np.ndarray
    atom_residue: np.ndarray
    polymer: np.ndarray
    trace_xyz: np.ndarray
    centre_xyz: np.ndarray
    b_mean: np.ndarray | None

    def __len__(self) -> int:
        return len(self.numbers)

    def label(self, i: int) -> str:
        """``A:123`` (``A:123B`` with an insertion code; ``123`` without a chain ID)."""
        chain = str(self.chains[i])
        num = f"{int(self.numbers[i])}{self.insertion_codes[i]}"
        return f"{chain}:{num}" if chain else num


def residue_table(structure: Structure) -> ResidueTable:
    """The residues of ``structure`` (see :class:`ResidueTable`)."""
    keys = list(
        zip(
            structure.chain_ids.tolist(),
            structure.residue_numbers.tolist(),
            structure.insertion_codes.tolist(),
            strict=True,
        )
    )
    index: dict[tuple[str, int, str], int] = {}
    atom_residue = np.empty(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        atom_residue[i] = index.setdefault(key, len(index))
    m = len(index)
    names = np.empty(m, dtype=object)
    names[atom_residue] = structure.residue_names
    trace = structure.trace_mask()
    trace_xyz = np.full((m, 3), np.nan)
    polymer = np.zeros(m, dtype=bool)
    # the first trace atom of a residue (reversed assignment keeps the first)
    idx = np.flatnonzero(trace)[::-1]
    trace_xyz[atom_residue[idx]] = structure.coords_xyz[idx]
    polymer[atom_residue[idx]] = True
    counts = np.bincount(atom_residue, minlength=m)
    centre = (
        np.stack(
            [
                np.bincount(atom_residue, weights=structure.coords_xyz[:, a], minlength=m)
                for a in range(3)
            ],
            axis=1,
        )
        / counts[:, None]
    )
    b_mean = None
    if structure.b_factors is not None:
        b_mean = np.bincount(atom_residue, weights=structure.b_factors, minlength=m) / counts
    ordered = list(index)
    return ResidueTable(
        chains=np.array([k[0] for k in ordered]),
        numbers=np.array([k[1] for k in ordered], dtype=np.int64),
        insertion_codes=np.array([k[2] for k in ordered]),
        names=names.astype(str),
        atom_residue=atom_residue,
        polymer=polymer,
        trace_xyz=trace_xyz,
        centre_xyz=centre,
        b_mean=b_mean,
    )


# ---------------------------------------------------------------------------- AlphaFold
@dataclass(frozen=True)
class AlphaFoldInfo:
    """Whether a structure looks like an AlphaFold (or other predicted) model, and why.

    Attributes
    ----------
    is_alphafold : bool
    reason : str
        The evidence, in words (``"file name AF-P69441-F1"``, ``"title: ALPHAFOLD ..."``).
    plddt_like : bool
        The B column reads as pLDDT (see :func:`detect_alphafold`).
    """

    is_alphafold: bool
    reason: str
    plddt_like: bool


_AF_NAME = re.compile(r"AF-[A-Z0-9]+-F\d+", re.IGNORECASE)
_PREDICTORS = ("ALPHAFOLD", "COLABFOLD", "ESMFOLD", "ROSETTAFOLD", "OPENFOLD", "BOLTZ")


def detect_alphafold(structure: Structure, table: ResidueTable | None = None) -> AlphaFoldInfo:
    """Look for signs that ``structure`` is a predicted model with pLDDT in the B column.

    Evidence: an AlphaFold DB file name (``AF-<UniProt>-F<n>``) or a predictor's name
    (AlphaFold, ColabFold, ESMFold ...) in the file name, the mmCIF block name, the title (PDB
    TITLE, mmCIF ``_struct.title``, which AlphaFold DB files carry in both formats) or the mmCIF
    ``_software`` records, together with a B column
    within 0-100 that is not all one value (per-atom pLDDT, as AlphaFold 3 writes, is accepted
    then); or, without a hint, a B column that holds one value per residue, all within 0-100,
    with mean >= 50 (crystal B-factors vary within a residue). ``table`` is
    :func:`residue_table` of the structure, when already made.
    """
    b = structure.b_factors
    hints = []
    model = structure.model
    names = [structure.name] + ([structure.source.name] if structure.source else [])
    block_name = getattr(model, "name", None) if model is not None else None
    if block_name:
        names.append(str(block_name))  # the mmCIF data block name (AF-...-F1-model_v4)
    for n in names:
        found = _AF_NAME.search(str(n))
        if found:
            hints.append(f"file name {found.group(0)}")
            break
        if any(p in str(n).upper() for p in _PREDICTORS):
            hints.append(f"file name {n}")
            break
    info = dict(model.info) if model is not None and hasattr(model, "info") else {}
    title = str(info.get("_struct.title", ""))
    if any(p in title.upper() for p in _PREDICTORS):
        hints.append(f"title: {title[:60].strip()}")
    software = [str(sw.name) for sw in getattr(getattr(model, "meta", None), "software", [])]
    for name in software:
        if any(p in name.upper() for p in _PREDICTORS):
            hints.append(f"software: {name}")
    if b is None or len(b) == 0:
        return AlphaFoldInfo(
            False, f"{hints[0]}, but no B column" if hints else "no B column", False
        )
    table = table if table is not None else residue_table(structure)
    b_mean = table.b_mean
    assert b_mean is not None  # the table of a structure with a B column
    within = float(np.abs(b - b_mean[table.atom_residue]).max())
    in_range = float(b.min()) >= 0.0 and float(b.max()) <= 100.0
    distinct = len(np.unique(np.round(b_mean, 2))) > 1
    per_residue = within < 0.01
    rng = f"{b.min():.0f}-{b.max():.0f}"
    if not in_range:
        spread = "B values outside 0-100"
    elif not distinct:
        spread = "all B values equal"
    elif per_residue:
        spread = f"one B value per residue, {rng}"
    else:
        spread = f"B values vary within residues, {rng}"
    if hints:
        ok = in_range and distinct
        return AlphaFoldInfo(ok, f"{hints[0]}; {spread}" if ok else f"{hints[0]}, but {spread}", ok)
    if in_range and distinct and per_residue and float(np.mean(b)) >= 50.0:
        return AlphaFoldInfo(True, f"{spread} (pLDDT-like; no name or title hint)", True)
    return AlphaFoldInfo(False, spread, False)


# ---------------------------------------------------------------------------- domains
@dataclass(frozen=True)
class Segment:
    """Consecutive residues ``start..end`` (residue numbers, inclusive) of one chain."""

    chain: str
    start: int
    end: int

    def __str__(self) -> str:
        rng = f"{self.start}-{self.end}" if self.end != self.start else f"{self.start}"
        return f"{self.chain}:{rng}" if self.chain else rng


@dataclass(frozen=True)
class Domain:
    """One rigid domain.

    Attributes
    ----------
    index : int
        The label of its atoms (0-based).
    segments : tuple of Segment
        Its runs of consecutive residues, in file order.
    n_residues : int
    mean_plddt : float or None
        Mean pLDDT (B column) of its residues, when the B column is pLDDT-like.
    """

    index: int
    segments: tuple[Segment, ...]
    n_residues: int
    mean_plddt: float | None = None

    @property
    def ranges(self) -> str:
        """``A:1-29+A:60-121``: the segments in the syntax of :func:`parse_domain_spec`."""
        return "+".join(str(s) for s in self.segments)

    @property
    def chains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.chain for s in self.segments))


@dataclass(frozen=True, eq=False)
class DomainSplit:
    """The domains of a structure.

    Attributes
    ----------
    structure_name : str
    method : DomainMethod
    domains : tuple of Domain
    residues : ResidueTable
    residue_labels : (m,) int64 array
        Domain of each residue (-1: in no domain).
    labels : (n_atoms,) int64 array
        Domain of each atom (-1: in no domain): what the multi-body fit takes.
    alphafold : AlphaFoldInfo
    plddt_filtered : int
        Polymer residues given -1 for pLDDT below the cutoff.
    """

    structure_name: str
    method: DomainMethod
    domains: tuple[Domain, ...]
    residues: ResidueTable
    residue_labels: np.ndarray
    alphafold: AlphaFoldInfo
    plddt_filtered: int = 0
    labels: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        lab = np.asarray(self.residue_labels, dtype=np.int64).copy()
        lab.setflags(write=False)
        object.__setattr__(self, "residue_labels", lab)
        atoms = lab[self.residues.atom_residue]
        atoms.setflags(write=False)
        object.__setattr__(self, "labels", atoms)

    @property
    def n_domains(self) -> int:
        return len(self.domains)

    @property
    def n_unassigned(self) -> int:
        """Residues in no domain."""
        return int((self.residue_labels < 0).sum())


def domain_labels(
    structure: Structure, domains: DomainSplit | str | Sequence[Sequence[Segment]]
) -> np.ndarray:
    """Per-atom domain labels, ``(n_atoms,) int64``: 0..k-1, -1 for atoms in no domain.

    ``domains`` is a :class:`DomainSplit` of this structure, a spec string for
    :func:`parse_domain_spec`, or a list of domains each given as a list of :class:`Segment`.
    """
    if isinstance(domains, DomainSplit):
        if len(domains.labels) != len(structure):
            raise ConfigError(
                f"the domain split of {domains.structure_name} has {len(domains.labels)} atoms, "
                f"{structure.name} has {len(structure)}: split this structure"
            )
        return np.array(domains.labels, dtype=np.int64)
    table = residue_table(structure)
    segments = parse_domain_spec(domains, structure) if isinstance(domains, str) else domains
    res_labels = _labels_from_segments(table, segments, structure.name)
    return res_labels[table.atom_residue].astype(np.int64)


_SEGMENT = re.compile(r"^(?:(?P<chain>[^:]+):)?(?P<start>-?\d+)(?:-(?P<end>-?\d+))?$")


def parse_domain_spec(spec: str, structure: Structure | None = None) -> list[list[Segment]]:
    """Domains from ``"A:1-150,A:151-397"``: ``,`` between domains, ``+`` between segments.

    A segment is ``CHAIN:START-END`` or ``CHAIN:N`` (one residue); the chain may be left out
    when ``structure`` has a single chain. With ``structure``, every segment must name a chain
    and residues that are there (ConfigError otherwise).
    """
    if not spec or not spec.strip():
        raise ConfigError("--domains is empty: give ranges like A:1-150,A:151-397")
    chains = structure.chains if structure is not None else None
    out: list[list[Segment]] = []
    for d_text in spec.split(","):
        segs = []
        for s_text in d_text.split("+"):
            s_text = s_text.strip()
            m = _SEGMENT.match(s_text)
            if not m:
                raise ConfigError(
                    f"--domains: cannot read {s_text!r} (expected CHAIN:START-END, e.g. A:1-150)"
                )
            chain = m.group("chain")
            start = int(m.group("start"))
            end = int(m.group("end")) if m.group("end") is not None else start
            if end < start:
                raise ConfigError(f"--domains: {s_text!r} ends before it starts")
            if chain is None:
                if structure is not None and chains is not None and len(chains) != 1:
                    raise ConfigError(
                        f"--domains: {s_text!r} needs a chain ({structure.name} has chains "
                        f"{', '.join(chains)}), e.g. {chains[0] or 'A'}:{start}-{end}"
                    )
                chain = chains[0] if chains else ""
            if structure is not None:
                _check_segment(structure, Segment(chain, start, end), s_text)
            segs.append(Segment(chain, start, end))
        out.append(segs)
    return out


def _check_segment(structure: Structure, seg: Segment, text: str) -> None:
    on_chain = structure.chain_ids == seg.chain
    if not on_chain.any():
        raise ConfigError(
            f"--domains: {text!r}: no chain {seg.chain!r} in {structure.name} "
            f"(chains: {', '.join(repr(c) for c in structure.chains)})"
        )
    nums = structure.residue_numbers[on_chain]
    lo, hi = int(nums.min()), int(nums.max())
    if seg.start < lo or seg.end > hi:
        where = f"chain {seg.chain}" if seg.chain else "the chain"
        raise ConfigError(
            f"--domains: {text!r} is outside {where} of {structure.name} (residues {lo}-{hi})"
        )


def _labels_from_segments(
    table: ResidueTable, domains: Sequence[Sequence[Segment]], name: str
) -> np.ndarray:
    labels = np.full(len(table), -1, dtype=np.int64)
    for k, segs in enumerate(domains):
        for seg in segs:
            sel = (table.chains == seg.chain) & (table.numbers >= seg.start)
            sel &= table.numbers <= seg.end
            if not sel.any():
                raise ConfigError(f"--domains: no residues of {name} in {seg}")
            clash = sel & (labels >= 0) & (labels != k)
            if clash.any():
                i = int(np.flatnonzero(clash)[0])
                raise ConfigError(
                    f"--domains: residue {table.label(i)} is in two domains ({labels[i]} and "
                    f"{k}, counted from 0; {seg}): give each residue to one domain"
                )
            labels[sel] = k
    return labels


# ---------------------------------------------------------------------------- splitting
def split_domains(
    structure: Structure,
    *,
    pae: np.ndarray | None = None,
    domains: str | Sequence[Sequence[Segment]] | None = None,
    config: DomainConfig | None = None,
) -> DomainSplit:
    """Cut ``structure`` into rigid domains (see the module docstring for the methods).

    Parameters
    ----------
    structure
        The model (e.g. from :func:`difffit.io.read_structure`, which reads the B column).
    pae : (m, m) float array, Å, optional
        Predicted aligned error over the m polymer residues in file order
        (:func:`difffit.io.pae.read_pae`). Selects the PAE method.
    domains : str or list of lists of Segment, optional
        Domains by hand (:func:`parse_domain_spec`). Selects the manual method.
    config
        Options (:class:`DomainConfig`).

    Raises
    ------
    StructureError
        A PAE matrix whose size is not the number of polymer residues; a structure too short to
        split (fewer than 2 × ``min_domain_residues`` polymer residues to split).
    ConfigError
        Both ``pae`` and ``domains``; ranges outside the chains or overlapping.
    """
    config = config or DomainConfig()
    if pae is not None and domains is not None:
        raise ConfigError("give either a PAE matrix or domains by hand, not both")
    table = residue_table(structure)
    af = detect_alphafold(structure, table)
    use_plddt = af.is_alphafold if config.use_plddt is None else bool(config.use_plddt)
    if use_plddt and table.b_mean is None:
        raise ConfigError(f"{structure.name}: no B column to read pLDDT from")
    plddt = table.b_mean if (use_plddt or af.plddt_like) else None  # reported per domain
    n_filtered = 0
    if domains is not None:
        segs = parse_domain_spec(domains, structure) if isinstance(domains, str) else domains
        labels = _labels_from_segments(table, segs, structure.name)
        method = DomainMethod.MANUAL
    elif pae is not None:
        labels = _split_pae(table, np.asarray(pae, dtype=np.float64), config, structure)
        labels = _attach_ligands(table, labels, config.ligand_distance)
        method = DomainMethod.PAE
    else:
        active = table.polymer.copy()
        if use_plddt and table.b_mean is not None:
            low = active & (table.b_mean < config.plddt_cutoff)
            n_filtered = int(low.sum())
            active &= ~low
        labels = _split_contacts(table, active, config, structure, n_filtered)
        labels = _attach_ligands(table, labels, config.ligand_distance)
        method = DomainMethod.CONTACTS
    if method is not DomainMethod.MANUAL:
        labels = _renumber(labels)
    return DomainSplit(
        structure_name=structure.name,
        method=method,
        domains=_describe(table, labels, plddt),
        residues=table,
        residue_labels=labels,
        alphafold=af,
        plddt_filtered=n_filtered,
    )


def _check_splittable(n: int, config: DomainConfig, structure: Structure, why: str) -> None:
    need = 2 * config.min_domain_residues
    if n < need:
        raise StructureError(
            f"{structure.name}: too short to split into domains ({n} residues{why}; need at "
            f"least {need} = 2 × the minimum domain size {config.min_domain_residues}); give "
            "the domains by hand or fit it whole"
        )


def _split_pae(
    table: ResidueTable, pae: np.ndarray, config: DomainConfig, structure: Structure
) -> np.ndarray:
    import networkx as nx
    from networkx.algorithms.community import greedy_modularity_communities

    poly = np.flatnonzero(table.polymer)
    m = len(poly)
    if pae.ndim != 2 or pae.shape[0] != pae.shape[1]:
        raise StructureError(f"the PAE matrix has shape {pae.shape}: expected a square matrix")
    if pae.shape[0] != m:
        raise StructureError(
            f"the PAE matrix is {pae.shape[0]}×{pae.shape[0]} but {structure.name} has {m} "
            "polymer residues: use the PAE file of this model"
        )
    _check_splittable(m, config, structure, "")
    sym = 0.5 * (pae + pae.T)
    iu, ju = np.nonzero(np.triu(sym < config.pae_cutoff, k=1))
    weights = 1.0 / np.maximum(sym[iu, ju], 1e-3)
    graph = nx.Graph()
    graph.add_nodes_from(range(m))
    graph.add_weighted_edges_from(zip(iu.tolist(), ju.tolist(), weights.tolist(), strict=True))
    communities = greedy_modularity_communities(
        graph, weight="weight", resolution=config.pae_resolution
    )
    labels = np.full(len(table), -1, dtype=np.int64)
    k = 0
    for com in communities:
        if len(com) >= config.min_domain_residues:
            labels[poly[sorted(com)]] = k
            k += 1
    return labels


def _contact_weights(xyz: np.ndarray, cutoff: float):
    """Sparse symmetric (m, m) CA contact weights exp(-2 (d/cutoff)²) for d < cutoff."""
    from scipy.sparse import coo_matrix
    from scipy.spatial import cKDTree

    m = len(xyz)
    pairs = cKDTree(xyz).query_pairs(cutoff, output_type="ndarray")
    if len(pairs) == 0:
        return coo_matrix((m, m)).tocsr()
    d = np.linalg.norm(xyz[pairs[:, 0]] - xyz[pairs[:, 1]], axis=1)
    w = np.exp(-2.0 * (d / cutoff) ** 2)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return coo_matrix((np.concatenate([w, w]), (rows, cols)), shape=(m, m)).tocsr()


def _split_contacts(
    table: ResidueTable,
    active: np.ndarray,
    config: DomainConfig,
    structure: Structure,
    n_filtered: int,
) -> np.ndarray:
    import networkx as nx
    from networkx.algorithms.community import greedy_modularity_communities

    idx = np.flatnonzero(active)
    why = f" with pLDDT >= {config.plddt_cutoff:g}" if n_filtered else ""
    _check_splittable(len(idx), config, structure, why)
    weights = _contact_weights(table.trace_xyz[idx], config.contact_cutoff)
    coo = weights.tocoo()
    upper = coo.row < coo.col
    graph = nx.Graph()
    graph.add_nodes_from(range(len(idx)))
    graph.add_weighted_edges_from(
        zip(coo.row[upper].tolist(), coo.col[upper].tolist(), coo.data[upper].tolist(), strict=True)
    )
    communities = greedy_modularity_communities(
        graph, weight="weight", resolution=config.contact_resolution
    )
    local = np.full(len(idx), -1, dtype=np.int64)
    for k, com in enumerate(communities):
        local[sorted(com)] = k
    # runs are taken along each chain over the active residues
    chain_of = table.chains[idx]
    local = _clean_up(local, weights, chain_of, config)
    labels = np.full(len(table), -1, dtype=np.int64)
    labels[idx] = local
    return labels


def _runs(labels: np.ndarray, chain_of: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the runs of equal labels within each chain (stop exclusive)."""
    runs = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start] or chain_of[i] != chain_of[start]:
            runs.append((start, i))
            start = i
    return runs


def _clean_up(labels: np.ndarray, weights, chain_of: np.ndarray, config: DomainConfig):
    """Short runs join a sequence neighbour; small domains join their best-connected domain;
    domains sharing too much contact weight merge. One change per pass, until none applies."""
    labels = labels.copy()
    for _ in range(2 * len(labels) + 10):  # each pass removes a run or a domain
        changed = False
        # 1. the shortest run shorter than min_segment joins the neighbour it touches most
        runs = [r for r in _runs(labels, chain_of) if labels[r[0]] >= 0]
        short = [r for r in runs if r[1] - r[0] < config.min_segment_residues]
        short.sort(key=lambda r: r[1] - r[0])
        for a, b in short:
            neighbours = set()
            if a > 0 and chain_of[a - 1] == chain_of[a] and labels[a - 1] >= 0:
                neighbours.add(int(labels[a - 1]))
            if b < len(labels) and chain_of[b] == chain_of[a] and labels[b] >= 0:
                neighbours.add(int(labels[b]))
            neighbours.discard(int(labels[a]))
            if not neighbours:
                continue
            touch = np.asarray(weights[a:b].sum(axis=0)).ravel()
            best = max(sorted(neighbours), key=lambda k: touch[labels == k].sum())
            labels[a:b] = best
            changed = True
            break
        if changed:
            continue
        # 2. the smallest domain below min_domain joins the domain it touches most
        ks, sizes = np.unique(labels[labels >= 0], return_counts=True)
        order = np.argsort(sizes, kind="stable")
        for j in order:
            if sizes[j] >= config.min_domain_residues or len(ks) < 2:
                break
            k = ks[j]
            members = labels == k
            touch = np.asarray(weights[np.flatnonzero(members)].sum(axis=0)).ravel()
            scores = {int(o): touch[labels == o].sum() for o in ks if o != k}
            best = max(sorted(scores), key=lambda o: scores[o])
            labels[members] = best if scores[best] > 0 else -1
            changed = True
            break
        if changed:
            continue
        # 3. two domains that share too much of the smaller one's contact weight are one domain
        ks = np.unique(labels[labels >= 0])
        if len(ks) < 2:
            return labels
        onehot = np.stack([labels == k for k in ks], axis=1).astype(np.float64)
        block = onehot.T @ (weights @ onehot)  # (k, k) contact weight between domains
        total = block.sum(axis=1)
        frac = block / np.maximum(np.minimum(total[:, None], total[None, :]), 1e-12)
        np.fill_diagonal(frac, 0.0)
        i, j = (int(x) for x in np.unravel_index(int(np.argmax(frac)), frac.shape))
        if frac[i, j] <= config.max_interface_fraction:
            return labels
        labels[labels == ks[max(i, j)]] = ks[min(i, j)]
    return labels


def _attach_ligands(table: ResidueTable, labels: np.ndarray, distance: float) -> np.ndarray:
    """Non-polymer residues take the label of the nearest labelled trace atom within reach."""
    others = np.flatnonzero(~table.polymer)
    have = np.flatnonzero(table.polymer & (labels >= 0))
    if len(others) == 0 or len(have) == 0 or distance <= 0:
        return labels
    from scipy.spatial import cKDTree

    dist, nearest = cKDTree(table.trace_xyz[have]).query(table.centre_xyz[others])
    near = dist <= distance
    out = labels.copy()
    out[others[near]] = labels[have[nearest[near]]]
    return out


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Domains numbered 0..k-1 in the order of their first residue."""
    out = np.full_like(labels, -1)
    mapping: dict[int, int] = {}
    for i, lab in enumerate(labels.tolist()):
        if lab >= 0:
            out[i] = mapping.setdefault(lab, len(mapping))
    return out


def _describe(table: ResidueTable, labels: np.ndarray, plddt: np.ndarray | None):
    domains = []
    k_max = int(labels.max()) if len(labels) else -1
    for k in range(k_max + 1):
        sel = labels == k
        segs: list[Segment] = []
        prev = -2
        for i in np.flatnonzero(sel):
            chain = str(table.chains[i])
            num = int(table.numbers[i])
            # the next residue in the file, same chain, same or next number (insertion codes)
            contiguous = (
                i == prev + 1 and segs and segs[-1].chain == chain and 0 <= num - segs[-1].end <= 1
            )
            if contiguous:
                segs[-1] = Segment(chain, segs[-1].start, num)
            else:
                segs.append(Segment(chain, num, num))
            prev = int(i)
        mean = float(plddt[sel].mean()) if plddt is not None else None
        domains.append(Domain(k, tuple(segs), int(sel.sum()), mean))
    return tuple(domains)


def residue_ranges(table: ResidueTable, mask: np.ndarray) -> str:
    """The residues in ``mask`` ((m,) bool over ``table``) as ranges, ``A:1-29+A:60-121``."""
    labels = np.where(np.asarray(mask, dtype=bool), 0, -1)
    described = _describe(table, labels, None)
    return described[0].ranges if described else ""


def domain_structure(structure: Structure, split: DomainSplit, index: int) -> Structure:
    """The atoms of domain ``index`` (-1: the atoms in no domain) as a structure of their own.

    The written model (``model``) keeps only the domain's residues, with everything else the
    file had on them (hydrogens, B column, occupancies).
    """
    labels = domain_labels(structure, split)
    mask = labels == index
    suffix = f"_domain{index}" if index >= 0 else "_unassigned"
    sub = structure.subset(mask, name=structure.name + suffix, trim_model=True)
    return sub
