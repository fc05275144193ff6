"""The candidate library of a screen: which files, under which names, with which identity.

A library is given as files, folders (searched recursively) and glob patterns of PDB/mmCIF
files (``.gz`` allowed), and tar archives of them (``.tar``, as the AlphaFold DB's proteome
shards: ``.cif.gz``/``.pdb.gz`` members), read in place without unpacking (each member is read
at its offset when it is fitted). Every candidate is identified by the SHA-256 of its file's
bytes (a tar member's bytes: the same identity as the file unpacked): the
identity does not depend on the file's name, its place in the list or the order in which
candidates are fitted, so it keys the results database (resume) and the candidate's seed.
Files with identical bytes are one candidate (the first name is kept).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from difffit.errors import ConfigError
from difffit.io.structures import STRUCTURE_SUFFIXES
from difffit.structure import Structure

__all__ = [
    "LibraryEntry",
    "candidate_seed",
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
        Hex SHA-256 of the file's bytes: the candidate's identity.
    """

    name: str
    path: Path
    sha256: str
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


#: Separates an archive's path from a member's name in a candidate's location.
MEMBER_SEP = "::"
TAR_SUFFIXES = (".tar",)


def is_tar_file(path: Path) -> bool:
    return path.name.lower().endswith(TAR_SUFFIXES)


def read_entry(entry: LibraryEntry, *, name: str | None = None) -> Structure:
    """The candidate's structure (:func:`difffit.io.read_structure`, or of its bytes in the
    archive)."""
    from difffit.io.structures import read_structure, read_structure_data

    if not entry.member:
        return read_structure(entry.path, name=name or entry.name)
    return read_structure_data(entry.read_bytes(), entry.location, name=name or entry.name)


def read_location(location: str, *, name: str | None = None) -> Structure:
    """The structure at a candidate's :attr:`LibraryEntry.location` (a file or a tar member)."""
    from difffit.errors import StructureError
    from difffit.io.structures import read_structure, read_structure_data

    archive, sep, member = location.partition(MEMBER_SEP)
    if not sep or not is_tar_file(Path(archive)):
        return read_structure(location, name=name)
    import tarfile

    try:
        with tarfile.open(archive, "r:") as tf:
            fh = tf.extractfile(member)
            if fh is None:
                raise KeyError(member)
            data = fh.read()
    except (OSError, KeyError, tarfile.TarError) as exc:
        raise StructureError(f"{location}: cannot read the archive member ({exc})") from None
    return read_structure_data(data, location, name=name)


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


def find_library(items: Sequence[str | os.PathLike[str]]) -> tuple[list[LibraryEntry], int]:
    """The candidates named by files, folders and glob patterns, in a deterministic order.

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
    paths: dict[Path, Path] = {}
    for item in items:
        for p in _expand(item):
            paths.setdefault(p.resolve(), p)
    ordered = sorted(paths.values(), key=lambda q: str(q.resolve()))
    # (file, member, offset, size, sha256): a tar archive stands for its members, in order
    found: list[tuple[Path, str, int, int, str]] = []
    for p in ordered:
        if is_tar_file(p):
            found.extend((p, m, off, size, h) for m, off, size, h in _tar_members(p))
        else:
            found.append((p, "", -1, -1, file_sha256(p)))
    seen: set[str] = set()
    kept: list[tuple[Path, str, int, int, str]] = []
    for f in found:
        if f[4] not in seen:
            seen.add(f[4])
            kept.append(f)
    # names from the files' paths; a member's from the archive's folder and its own path
    names = _unique_names([p.resolve().parent / p.name / m if m else p for p, m, *_ in kept])
    entries = [
        LibraryEntry(name=n, path=p, sha256=h, member=m, offset=off, size=size)
        for n, (p, m, off, size, h) in zip(names, kept, strict=True)
    ]
    return entries, len(found) - len(kept)


def candidate_seed(run_seed: int, sha256: str) -> int:
    """The seed of one candidate's fit: a function of the run's seed and the candidate's bytes.

    Independent of the candidate's name, position in the library and the worker that fits it,
    so that resumed, parallel and distributed runs give the same fits.
    """
    words = [int(sha256[i : i + 8], 16) for i in range(0, 32, 8)]
    ss = np.random.SeedSequence([int(run_seed), *words])
    return int(ss.generate_state(1, dtype=np.uint32)[0] % (2**31))
