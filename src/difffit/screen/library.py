"""The candidate library of a screen: which files, under which names, with which identity.

A library is given as files, folders (searched recursively) and glob patterns of PDB/mmCIF
files (``.gz`` allowed), and tar archives of them (``.tar``, as the AlphaFold DB's proteome
shards: ``.cif.gz``/``.pdb.gz`` members), read in place without unpacking (each member is read
at its offset when it is fitted). Every candidate is identified by the SHA-256 of its file's
bytes (a tar member's bytes: the same identity as the file unpacked): the
identity does not depend on the file's name, its place in the list or the order in which
candidates are fitted, so it keys the results database (resume) and the candidate's seed.
Files with identical bytes are one candidate (the first name is kept).

A file may carry a selection (``FILE:CHAINS``, ``FILE:A:1-150,B``, :mod:`difffit.selection`),
and ``min_plddt`` applies a pLDDT floor to every candidate: a selected candidate's identity is
the SHA-256 of its file's hash and its selection text, and its name gets the selection's suffix.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from difffit.errors import ConfigError
from difffit.io.structures import STRUCTURE_SUFFIXES
from difffit.structure import Structure

__all__ = [
    "LibraryEntry",
    "candidate_seed",
    "domain_library",
    "file_sha256",
    "find_library",
    "read_entry",
    "read_location",
]

_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class LibraryEntry:
    """One candidate structure file.

    Attributes
    ----------
    name : str
        Unique display name in this library (the file stem; the parent folders are prepended
        when two files share a stem).
    path : Path
    sha256 : str
        Hex SHA-256 of the file's bytes (with its selection, when it has one): the candidate's
        identity.
    selection : str or None
        Chains / residue ranges and pLDDT floor to read it with
        (:func:`difffit.selection.read_selected`); None = the whole file.
    """

    name: str
    path: Path
    sha256: str
    selection: str | None = None
    #: A tar archive's member (``path`` is the archive), with its data's offset and size.
    member: str = ""
    offset: int = -1
    size: int = -1

    @property
    def location(self) -> str:
        """Where the candidate is: the file, or ``ARCHIVE.tar::MEMBER``."""
        return f"{self.path}{MEMBER_SEP}{self.member}" if self.member else str(self.path)

    @property
    def nbytes(self) -> int:
        """Size of the candidate's file (bytes)."""
        return self.size if self.member else self.path.stat().st_size

    def read_bytes(self) -> bytes:
        if not self.member:
            return self.path.read_bytes()
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            return fh.read(self.size)

    def read(self) -> Structure:
        """The candidate's structure (its selection applied)."""
        return read_entry(self)


#: Separates an archive's path from a member's name in a candidate's location.
MEMBER_SEP = "::"
TAR_SUFFIXES = (".tar",)


def is_tar_file(path: Path) -> bool:
    return path.name.lower().endswith(TAR_SUFFIXES)


def read_entry(entry: LibraryEntry, *, name: str | None = None) -> Structure:
    """The candidate's structure (:func:`difffit.selection.read_selected`, or of its bytes in
    the archive), its selection applied."""
    from difffit.io.structures import read_structure_data
    from difffit.selection import apply_selection_text, read_selected

    name = name or entry.name
    if not entry.member:
        return read_selected(entry.path, selection=entry.selection, name=name)
    st = read_structure_data(entry.read_bytes(), entry.location, name=name)
    return apply_selection_text(st, entry.selection, name=name)


def read_location(
    location: str, *, name: str | None = None, selection: str | None = None
) -> Structure:
    """The structure at a candidate's :attr:`LibraryEntry.location` (a file or a tar member),
    its recorded ``selection`` applied."""
    from difffit.errors import StructureError
    from difffit.io.structures import read_structure_data
    from difffit.selection import apply_selection_text, read_selected

    archive, sep, member = location.partition(MEMBER_SEP)
    if not sep or not is_tar_file(Path(archive)):
        return read_selected(location, selection=selection, name=name)
    import tarfile

    try:
        with tarfile.open(archive, "r:") as tf:
            fh = tf.extractfile(member)
            if fh is None:
                raise KeyError(member)
            data = fh.read()
    except (OSError, KeyError, tarfile.TarError) as exc:
        raise StructureError(f"{location}: cannot read the archive member ({exc})") from None
    return apply_selection_text(
        read_structure_data(data, location, name=name), selection, name=name
    )


def _tar_members(path: Path) -> list[tuple[str, int, int, str]]:
    """(member, data offset, size, sha256) of the structure files of an uncompressed tar
    archive, in archive order, read in one pass (the member list is not kept)."""
    import tarfile

    out = []
    try:
        with tarfile.open(path, "r:") as tf:
            while (ti := tf.next()) is not None:
                # a proteome shard's headers are not kept in memory (TarFile keeps every one)
                tf.members.clear()  # type: ignore[attr-defined]
                if not ti.isfile() or not is_structure_file(Path(ti.name)):
                    continue
                fh = tf.extractfile(ti)
                assert fh is not None
                h = hashlib.sha256()
                while block := fh.read(1 << 20):
                    h.update(block)
                out.append((ti.name, ti.offset_data, ti.size, h.hexdigest()))
    except tarfile.ReadError as exc:
        raise ConfigError(
            f"library archive {path}: not an uncompressed tar archive ({exc}); a compressed "
            "one (.tar.gz) must be decompressed first (gunzip; its members may stay .gz)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"library archive {path}: cannot read ({exc})") from None
    if not out:
        raise ConfigError(
            f"library archive {path}: no structure files (.pdb, .cif, optionally .gz)"
        )
    return out


def is_structure_file(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(STRUCTURE_SUFFIXES)


def _stem(path: Path) -> str:
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    for suffix in STRUCTURE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def file_sha256(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _expand(item: str | os.PathLike[str]) -> list[Path]:
    p = Path(item)
    if p.is_dir():
        found = [
            q for q in p.rglob("*") if q.is_file() and (is_structure_file(q) or is_tar_file(q))
        ]
        if not found:
            raise ConfigError(
                f"library folder {p}: no structure files (.pdb, .cif, optionally .gz)"
            )
        return sorted(found)
    if p.is_file():
        if not (is_structure_file(p) or is_tar_file(p)):
            raise ConfigError(
                f"library file {p}: not a structure file (.pdb, .ent, .cif, .mmcif, optionally "
                ".gz) nor a tar archive of them"
            )
        return [p]
    text = str(item)
    if _GLOB_CHARS.search(text):
        found = sorted(Path(q) for q in glob.glob(text, recursive=True))
        found = [q for q in found if q.is_file() and (is_structure_file(q) or is_tar_file(q))]
        if not found:
            raise ConfigError(f"library pattern {text!r} matches no structure files")
        return found
    raise ConfigError(f"library {text}: no such file, folder or glob pattern")


def _unique_names(paths: list[Path]) -> list[str]:
    """File stems, made unique by prepending as many parent folders as needed."""
    resolved = [p.resolve() for p in paths]
    depth = [0] * len(paths)

    def name(i: int) -> str:
        parts = (
            resolved[i].parent.parts[len(resolved[i].parent.parts) - depth[i] :] if depth[i] else ()
        )
        return "/".join([*parts, _stem(resolved[i])])

    for _ in range(64):
        names = [name(i) for i in range(len(paths))]
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            groups.setdefault(n, []).append(i)
        clash = [i for g in groups.values() if len(g) > 1 for i in g]
        if not clash:
            return names
        grown = False
        for i in clash:
            if depth[i] < len(resolved[i].parent.parts):
                depth[i] += 1
                grown = True
        if not grown:
            break
    # identical paths cannot reach here (deduplicated); fall back to numbering
    names = [name(i) for i in range(len(paths))]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}~{seen[n]}")
    return out


def find_library(
    items: Sequence[str | os.PathLike[str]], *, min_plddt: float | None = None
) -> tuple[list[LibraryEntry], int]:
    """The candidates named by files (optionally ``FILE:SELECTION``), folders and glob patterns,
    in a deterministic order; ``min_plddt`` leaves low-pLDDT residues of every candidate out.

    Returns
    -------
    entries : list of LibraryEntry
        Sorted by path; files with the same bytes as an earlier one are left out.
    n_duplicates : int
        How many files were left out as byte-identical duplicates.

    Raises
    ------
    ConfigError
        An item that names nothing, or an empty library.
    """
    if not items:
        raise ConfigError("no library given: name structure files, folders or glob patterns")
    from difffit.selection import split_selection

    paths: dict[tuple[Path, str], tuple[Path, Any]] = {}
    for item in items:
        sel = None
        if not Path(item).exists():
            head, sel = split_selection(str(item))
            item = head
        for p in _expand(item):
            paths.setdefault((p.resolve(), str(sel or "")), (p, sel))
    ordered_keys = sorted(paths, key=lambda k: (str(k[0]), k[1]))
    # (file, member, offset, size, identity, selection, its text): a tar archive stands for its
    # members, in order
    found: list[tuple[Path, str, int, int, str, Any, str | None]] = []
    for key in ordered_keys:
        p, sel = paths[key]
        text = _selection_text(sel, min_plddt)
        if is_tar_file(p):
            found.extend((p, m, off, size, _identity(h, text), sel, text)
                         for m, off, size, h in _tar_members(p))  # fmt: skip
        else:
            found.append((p, "", -1, -1, _identity(file_sha256(p), text), sel, text))
    seen: set[str] = set()
    kept: list[tuple[Path, str, int, int, str, Any, str | None]] = []
    for f in found:
        if f[4] not in seen:
            seen.add(f[4])
            kept.append(f)
    # names from the files' paths (a member's from the archive's folder and its own path); a
    # file named twice with other selections keeps its name, with the selection's suffix
    keys = [(f[0].resolve(), f[1]) for f in kept]
    distinct: dict[tuple[Path, str], Path] = {}
    for key, (p, m, *_) in zip(keys, kept, strict=True):
        distinct.setdefault(key, p.resolve().parent / p.name / m if m else p)
    name_of = dict(zip(distinct, _unique_names(list(distinct.values())), strict=True))
    entries = [
        LibraryEntry(name=name_of[key] + (sel.suffix() if sel is not None else ""), path=p,
                     sha256=h, selection=text, member=m, offset=off, size=size)
        for key, (p, m, off, size, h, sel, text) in zip(keys, kept, strict=True)
    ]  # fmt: skip
    return entries, len(found) - len(kept)


def _selection_text(sel: Any, min_plddt: float | None) -> str | None:
    """The full text of a candidate's selection (its chains too), or None."""
    if sel is None and min_plddt is None:
        return None
    floor = f";plddt>={float(min_plddt)!r}" if min_plddt is not None else ""
    return (str(sel) if sel is not None else "") + floor


def _identity(file_hash: str, selection: str | None) -> str:
    if not selection:
        return file_hash
    return hashlib.sha256(f"{file_hash}\n{selection}".encode()).hexdigest()


def domain_library(
    entries: Sequence[LibraryEntry], folder: str | os.PathLike[str]
) -> tuple[list[LibraryEntry], list[tuple[str, str]]]:
    """Split every candidate into its rigid domains (``screen --flexible``, as DomainFit does).

    Each candidate is read and split automatically (:func:`difffit.domains.split_domains`: PAE
    is not read here; pLDDT for AlphaFold models, else compact regions of the CA contact
    graph). A candidate with two or more domains is replaced by one candidate per domain,
    named ``<name>_D1``, ``<name>_D2``, ... in the order of the split, written as mmCIF to
    ``folder/<name>_D<k>.cif`` (residues in no domain, e.g. pLDDT < 70, are left out); a
    candidate that cannot be split (one domain, too short) stays whole.

    Returns
    -------
    entries : list of LibraryEntry
        The domain candidates (and the whole ones), in the library's order.
    report : list of (name, how)
        Per input candidate: its domains' residue ranges, or why it stayed whole.
    """
    from difffit.domains import domain_structure, split_domains
    from difffit.errors import StructureError
    from difffit.io.structures import write_structure

    folder = Path(folder)
    out: list[LibraryEntry] = []
    report: list[tuple[str, str]] = []
    for e in entries:
        st = read_entry(e)
        try:
            split = split_domains(st)
        except StructureError as exc:
            out.append(e)
            report.append((e.name, f"whole ({exc})"))
            continue
        if split.n_domains < 2:
            out.append(e)
            report.append((e.name, "whole (one domain)"))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(split.n_domains):
            name = f"{e.name}_D{k + 1}"
            path = folder / (name.replace("/", "__") + ".cif")
            dom = domain_structure(st, split, k)
            write_structure(dom.model if dom.model is not None else dom, path)
            out.append(LibraryEntry(name=name, path=path, sha256=file_sha256(path)))
        report.append(
            (e.name, ", ".join(f"D{k + 1} {d.ranges}" for k, d in enumerate(split.domains)))
        )
    return out, report


def candidate_seed(run_seed: int, sha256: str) -> int:
    """The seed of one candidate's fit: a function of the run's seed and the candidate's bytes.

    Independent of the candidate's name, position in the library and the worker that fits it,
    so that resumed, parallel and distributed runs give the same fits.
    """
    words = [int(sha256[i : i + 8], 16) for i in range(0, 32, 8)]
    ss = np.random.SeedSequence([int(run_seed), *words])
    return int(ss.generate_state(1, dtype=np.uint32)[0] % (2**31))
