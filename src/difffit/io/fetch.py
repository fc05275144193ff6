"""Fetch maps and models by accession: ``emdb:3488``, ``pdb:5me2``, ``afdb:Q99J21``.

The one owner of downloads. Files land in a cache folder (``DIFFFIT_CACHE``, default the
platform's user cache, ``platformdirs.user_cache_dir("difffit")``), one folder per entry, each
file with a ``.sha256`` record of what was downloaded; a cached file whose bytes no longer match
its record is fetched again. An interrupted download leaves ``<file>.part`` and the next fetch
resumes it with an HTTP range request (or starts over where the server ignores ranges).

Archive layouts (the same paths on every mirror of an archive):

============  ===============================================================================
``emdb:N``    ``structures/EMD-N/map/emd_N.map.gz`` and ``structures/EMD-N/header/emd-N.xml``
              (the header gives the authors' recommended contour level and the resolution)
``pdb:ID``    ``data/structures/divided/mmCIF/<id[1:3]>/<id>.cif.gz``
``afdb:UNP``  ``AF-UNP-F1-model_v4.cif`` and ``AF-UNP-F1-predicted_aligned_error_v4.json``
============  ===============================================================================

Mirrors: ``--mirror NAME|URL`` or ``DIFFFIT_MIRROR`` (``NAME``/``URL`` for every archive, or
``emdb=URL,pdb=URL,afdb=URL``); :data:`MIRRORS` lists the named sites. A mirror URL replaces
the archive's base URL and keeps its layout, which is what site mirrors and the test server do.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from difffit.errors import ConfigError, FetchError
from difffit.io.atomic import atomic_write_text

__all__ = [
    "MIRRORS",
    "Accession",
    "FetchedEntry",
    "Fetcher",
    "cache_dir",
    "emdb_header",
    "is_accession",
    "parse_accession",
]

#: Base URLs of each archive's sites (the first is the default).
MIRRORS: dict[str, dict[str, str]] = {
    "emdb": {
        "ebi": "https://ftp.ebi.ac.uk/pub/databases/emdb",
        "rcsb": "https://files.wwpdb.org/pub/emdb",
        "pdbj": "https://ftp.pdbj.org/pub/emdb",
    },
    "pdb": {
        "rcsb": "https://files.wwpdb.org/pub/pdb",
        "pdbe": "https://ftp.ebi.ac.uk/pub/databases/pdb",
        "pdbj": "https://ftp.pdbj.org/pub/pdb",
    },
    "afdb": {"ebi": "https://alphafold.ebi.ac.uk/files"},
}
#: AlphaFold DB file version fetched.
AFDB_VERSION = 4

_PREFIX = re.compile(r"^(emdb|emd|pdb|afdb|uniprot):(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Accession:
    """One archive entry: ``db`` in ``emdb``, ``pdb``, ``afdb`` and its normalised ``id``."""

    db: str
    id: str

    def __str__(self) -> str:
        return f"{self.db}:{self.id}"


def is_accession(text: str) -> bool:
    """Whether ``text`` is written as an accession (``db:ID``) rather than a file name."""
    return bool(_PREFIX.match(str(text))) and not Path(str(text)).exists()


def parse_accession(text: str) -> list[Accession]:
    """The entries named by ``text``: ``emdb:3488`` (also ``EMD-3488``), ``pdb:5me2``,
    ``afdb:Q99J21``, or ``uniprot:Q99J21,P69905`` (their AlphaFold models), or
    ``uniprot:@ids.txt`` (a file listing UniProt accessions: a proteome).

    Raises
    ------
    ConfigError
        When ``text`` is not an accession, or its ID is malformed.
    """
    m = _PREFIX.match(text.strip())
    if not m:
        raise ConfigError(
            f"{text!r} is not an accession: write emdb:NNNN, pdb:XXXX, afdb:UNIPROT or "
            "uniprot:ID[,ID...]"
        )
    db, rest = m.group(1).lower(), m.group(2).strip()
    if db in ("emdb", "emd"):
        num = re.sub(r"^EMD-", "", rest, flags=re.IGNORECASE)
        if not re.fullmatch(r"\d{4,6}", num):
            raise ConfigError(f"{text!r}: an EMDB ID is 4-6 digits (emdb:3488)")
        return [Accession("emdb", num)]
    if db == "pdb":
        if not re.fullmatch(r"[0-9][A-Za-z0-9]{3}", rest):
            raise ConfigError(
                f"{text!r}: a PDB ID is 4 characters starting with a digit (pdb:5me2)"
            )
        return [Accession("pdb", rest.lower())]
    if db == "uniprot" and rest.startswith("@"):  # a file of accessions (a proteome's list)
        ids = _accession_list(rest[1:], text)
    else:
        ids = [p.strip() for p in rest.split(",") if p.strip()] if db == "uniprot" else [rest]
    if not ids:
        raise ConfigError(f"{text!r}: give at least one UniProt accession")
    out = []
    for u in ids:
        if not re.fullmatch(r"[A-Za-z0-9]{6,10}", u):
            raise ConfigError(f"{text!r}: {u!r} is not a UniProt accession (e.g. Q99J21)")
        out.append(Accession("afdb", u.upper()))
    return out


def _accession_list(path: str, text: str) -> list[str]:
    """The accessions of a list file: separated by newlines, spaces or commas; ``#`` starts a
    comment; of a UniProt TSV download the first column is read (its ``Entry`` header line
    skipped)."""
    p = Path(path).expanduser()
    try:
        body = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"{text!r}: cannot read the accession list {p} ({exc.strerror})"
        ) from None
    ids: list[str] = []
    for line in body.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.lower().startswith("entry"):
            continue
        if "\t" in line:  # a UniProt TSV download: the accession is the first column
            line = line.split("\t", 1)[0]
        ids.extend(t for t in re.split(r"[\s,;]+", line) if t)
    if not ids:
        raise ConfigError(f"{text!r}: the accession list {p} is empty")
    return list(dict.fromkeys(i.upper() for i in ids))  # each once, in the order given


def cache_dir() -> Path:
    """The download cache: ``DIFFFIT_CACHE``, else the platform's user cache for difffit."""
    env = os.environ.get("DIFFFIT_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("difffit"))


def resolve_mirror(spec: str | None, db: str) -> str:
    """The base URL for archive ``db`` from a mirror spec (name, URL, or ``db=URL,...``)."""
    spec = spec if spec is not None else os.environ.get("DIFFFIT_MIRROR", "")
    chosen = ""
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        key, eq, value = part.partition("=")
        if eq:
            if key.strip().lower() not in MIRRORS:
                raise ConfigError(
                    f"mirror {part!r}: unknown archive {key!r} (one of {', '.join(MIRRORS)})"
                )
            if key.strip().lower() == db:
                chosen = value.strip()
        else:
            chosen = chosen or part
    if not chosen:
        return next(iter(MIRRORS[db].values()))
    if chosen.lower() in MIRRORS[db]:
        return MIRRORS[db][chosen.lower()]
    if re.match(r"^https?://", chosen):
        return chosen.rstrip("/")
    if any(chosen.lower() in sites for sites in MIRRORS.values()):
        return next(iter(MIRRORS[db].values()))  # a site of another archive only
    raise ConfigError(
        f"mirror {chosen!r}: give a URL (http://… or https://…) or one of "
        f"{', '.join(sorted({n for s in MIRRORS.values() for n in s}))}"
    )


def remote_files(acc: Accession) -> dict[str, str]:
    """``kind -> path`` below the archive's base URL, for each file of the entry."""
    if acc.db == "emdb":
        n = acc.id
        return {
            "map": f"structures/EMD-{n}/map/emd_{n}.map.gz",
            "header": f"structures/EMD-{n}/header/emd-{n}.xml",
        }
    if acc.db == "pdb":
        return {"model": f"data/structures/divided/mmCIF/{acc.id[1:3]}/{acc.id}.cif.gz"}
    if acc.db == "afdb":
        stem = f"AF-{acc.id}-F1"
        return {
            "model": f"{stem}-model_v{AFDB_VERSION}.cif",
            "pae": f"{stem}-predicted_aligned_error_v{AFDB_VERSION}.json",
        }
    raise ConfigError(f"unknown archive {acc.db!r}")


def _text(node: ET.Element | None) -> str | None:
    return node.text.strip() if node is not None and node.text and node.text.strip() else None


def emdb_header(path: str | os.PathLike[str]) -> dict[str, float | None]:
    """The recommended contour level and the resolution (Å) in an EMDB header XML.

    Reads the v3 schema (``map/contour_list/contour[@primary]/level``, ``…/resolution``) and
    the older v1.9 one (``map/contourLevel``, ``processing/reconstruction/resolutionByAuthor``).
    Missing values are None.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FetchError(f"{path}: not a readable EMDB header ({exc})") from None
    level: str | None = None
    contours = root.findall("./map/contour_list/contour")
    primary = [c for c in contours if c.get("primary", "").lower() == "true"] or contours
    if primary:
        level = _text(primary[0].find("level"))
    level = level or _text(root.find("./map/contourLevel"))
    res = None
    for node in root.iter():
        tag = node.tag.rsplit("}", 1)[-1]
        if tag in ("resolution", "resolutionByAuthor") and _text(node):
            res = _text(node)
            break

    def num(v: str | None) -> float | None:
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    return {"level": num(level), "resolution": num(res)}


@dataclass(frozen=True)
class FetchedEntry:
    """What :meth:`Fetcher.fetch` got: local paths by kind, and the header's values."""

    accession: Accession
    files: dict[str, Path]
    level: float | None = None
    resolution: float | None = None
    cached: dict[str, bool] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Fetcher:
    """Downloads entries into the cache.

    Parameters
    ----------
    mirror : str or None
        Mirror spec (see module docs); None = ``DIFFFIT_MIRROR`` or the default sites.
    cache : path or None
        Cache folder; None = :func:`cache_dir`.
    timeout : float
        Seconds to wait for a connection or a read.
    progress : callable(name, done_bytes, total_bytes or None), optional
    """

    def __init__(
        self,
        *,
        mirror: str | None = None,
        cache: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        progress: Callable[[str, int, int | None], None] | None = None,
    ) -> None:
        self.mirror = mirror
        self.cache = Path(cache) if cache is not None else cache_dir()
        self.timeout = float(timeout)
        self.progress = progress
        for db in MIRRORS:
            resolve_mirror(mirror, db)  # fail early on a bad spec

    def url(self, acc: Accession, kind: str) -> str:
        return f"{resolve_mirror(self.mirror, acc.db)}/{remote_files(acc)[kind]}"

    def fetch(self, acc: Accession, kinds: tuple[str, ...] | None = None) -> FetchedEntry:
        """Every file of ``acc`` (or ``kinds`` of them) in the cache; downloads what is missing."""
        files = remote_files(acc)
        folder = self.cache / acc.db / acc.id
        paths: dict[str, Path] = {}
        cached: dict[str, bool] = {}
        for kind, rel in files.items():
            if kinds is not None and kind not in kinds:
                continue
            dest = folder / Path(rel).name
            cached[kind] = self._have(dest)
            if not cached[kind]:
                self._download(self.url(acc, kind), dest)
            paths[kind] = dest
        level = resolution = None
        if "header" in paths:
            h = emdb_header(paths["header"])
            level, resolution = h["level"], h["resolution"]
        return FetchedEntry(acc, paths, level, resolution, cached)

    # ------------------------------------------------------------------ downloads
    @staticmethod
    def _have(dest: Path) -> bool:
        record = dest.with_name(dest.name + ".sha256")
        if not (dest.is_file() and record.is_file()):
            return False
        return record.read_text().split()[0] == _sha256(dest)

    def _download(self, url: str, dest: Path) -> None:
        import httpx

        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with (
                httpx.Client(follow_redirects=True, timeout=self.timeout) as client,
                client.stream("GET", url, headers=headers) as resp,
            ):
                if resp.status_code == 404:
                    raise FetchError(
                        f"{url}: not found (404): check the ID, or try another --mirror"
                    )
                if resp.status_code == 416:  # the part file does not fit the file any more
                    part.unlink(missing_ok=True)
                    raise FetchError(
                        f"{url}: the server refused to resume; run again to start over"
                    )
                if resp.status_code not in (200, 206):
                    raise FetchError(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}")
                append = resp.status_code == 206 and have > 0
                expected = resp.headers.get("Content-Length")
                total = (int(expected) + (have if append else 0)) if expected else None
                done = have if append else 0
                with part.open("ab" if append else "wb") as fh:
                    for chunk in resp.iter_bytes(1 << 16):
                        fh.write(chunk)
                        done += len(chunk)
                        if self.progress is not None:
                            self.progress(dest.name, done, total)
        except httpx.RemoteProtocolError as exc:
            raise FetchError(
                f"{url}: the download broke off ({exc}); {part} keeps what arrived: run again to "
                "resume"
            ) from None
        except (httpx.TransportError, OSError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, httpx.TransportError):
                raise FetchError(f"{dest}: cannot write to the cache ({exc})") from None
            raise FetchError(
                f"cannot download {url} ({type(exc).__name__}: {exc or 'no answer'}); offline? "
                f"files already fetched are used from the cache {self.cache}"
            ) from None
        if total is not None and done < total:
            raise FetchError(
                f"{url}: got {done} of {total} bytes; {part} keeps them: run again to resume"
            )
        if dest.name.endswith(".gz"):
            try:
                with gzip.open(part, "rb") as fh:
                    while fh.read(1 << 20):
                        pass
            except (OSError, EOFError) as exc:
                part.unlink(missing_ok=True)
                raise FetchError(
                    f"{url}: the download is not valid gzip ({exc}); run again"
                ) from None
        os.replace(part, dest)
        atomic_write_text(dest.with_name(dest.name + ".sha256"), f"{_sha256(dest)}  {dest.name}\n")


def fetch_all(texts: list[str], *, fetcher: Fetcher | None = None) -> list[FetchedEntry]:
    """Fetch every entry named in ``texts`` (accessions; see :func:`parse_accession`)."""
    fetcher = fetcher or Fetcher()
    return [fetcher.fetch(acc) for t in texts for acc in parse_accession(t)]


def describe(entry: FetchedEntry) -> Mapping[str, object]:
    """A JSON-ready summary of a fetched entry."""
    return {
        "accession": str(entry.accession),
        "files": {k: str(v) for k, v in entry.files.items()},
        "cached": entry.cached,
        "level": entry.level,
        "resolution": entry.resolution,
    }
