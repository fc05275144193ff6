"""The screen's results database: an SQLite file that never loses a finished candidate.

``screen.sqlite`` in the output folder holds

``meta``
    key/value rows: ``format`` (``difffit-screen``), ``format_version``, ``run_hash`` and
    ``run`` (JSON: map identity, fit options, seed) — the identity of the screen.
``candidates``
    one row per candidate, keyed by the SHA-256 of its file: status, reason, size, seed, the
    best cluster's metrics and transform, the best clusters as JSON, timings.

Every record is written in its own transaction as soon as the candidate finishes (WAL journal,
``synchronous=FULL``): a process killed at any moment loses only the candidates in flight. A
lock file (``screen.lock``, ``flock``) keeps two screens from writing the same database at once;
the operating system releases it when the process dies.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from difffit._version import __version__
from difffit.errors import ConfigError, ResultsError
from difffit.io.atomic import disk_full_error
from difffit.results import TRANSFORM_COLUMNS
from difffit.screen.task import CandidateRecord

__all__ = [
    "DB_FORMAT",
    "DB_VERSION",
    "FINAL_STATUSES",
    "TABLES",
    "ScreenStore",
    "Summary",
    "read_records",
]

DB_FORMAT = "difffit-screen"
DB_VERSION = 1
#: Statuses that resume does not recompute (``filtered`` is re-decided on every run, ``failed``
#: is retried).
FINAL_STATUSES = ("done", "skipped")

log = logging.getLogger(__name__)

_NUMERIC = (
    "score",
    "second_score",
    "correlation",
    "cam",
    "overlap",
    "density",
    "inside",
    "fit_s",
    "cpu_s",
)
_COLUMNS = f"""(
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    n_atoms INTEGER, n_residues INTEGER, seed INTEGER,
    score REAL, second_score REAL, hits INTEGER,
    correlation REAL, cam REAL, overlap REAL, density REAL, inside REAL,
    n_clusters INTEGER,
    {", ".join(f"{c} REAL" for c in TRANSFORM_COLUMNS)},
    clusters TEXT NOT NULL DEFAULT '[]',
    fit_s REAL, cpu_s REAL, worker TEXT, finished_at TEXT
)"""
#: ``candidates``: the final record of each candidate; ``cheap``: the cheap stage of a
#: hierarchical screen (:mod:`difffit.screen.hierarchy`), same columns.
TABLES = ("candidates", "cheap")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    + "".join(f"CREATE TABLE IF NOT EXISTS {t} {_COLUMNS};\n" for t in TABLES)
)


def _db_value(v: float) -> float | None:
    return None if (v is None or (isinstance(v, float) and math.isnan(v))) else v


class ScreenStore:
    """The database of one screen (open with :meth:`open`, close with :meth:`close`).

    Parameters
    ----------
    folder
        The screen's output folder (created when missing).
    """

    FILE = "screen.sqlite"
    LOCK = "screen.lock"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"--out {self.folder}: exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / self.FILE
        self._lock_fh: TextIO | None = self._take_lock()
        try:
            self._con = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.executescript(_SCHEMA)
            self._add_missing_columns()
        except sqlite3.DatabaseError as exc:
            self._release_lock()
            if _disk_full(exc):
                raise disk_full_error(self.path) from None
            raise ResultsError(
                f"{self.path}: not a usable SQLite database ({exc}); use another --out"
            ) from None

    def _add_missing_columns(self) -> None:
        """Columns added to format version 1 after its first databases were written."""
        for table in TABLES:
            have = {row[1] for row in self._con.execute(f"PRAGMA table_info({table})")}
            for name in ("cpu_s",):
                if name not in have:
                    self._con.execute(f"ALTER TABLE {table} ADD COLUMN {name} REAL")

    # ------------------------------------------------------------------ locking
    def _take_lock(self) -> TextIO:
        fh = open(self.folder / self.LOCK, "a+")  # held for the store's lifetime
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no protection against two writers
            return fh
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ConfigError(
                f"--out {self.folder}: another difffit screen is writing there now; wait for it "
                "or choose another --out"
            ) from None
        return fh

    def _release_lock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing releases the flock
            self._lock_fh = None

    def close(self) -> None:
        if getattr(self, "_con", None) is not None:
            self._con.close()
            del self._con  # a closed store has no connection; closing again does nothing
        self._release_lock()

    def __enter__(self) -> ScreenStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -------------------------------------------------------------- run identity
    def meta(self) -> dict[str, str]:
        return dict(self._con.execute("SELECT key, value FROM meta").fetchall())

    def stored_run(self) -> dict[str, Any] | None:
        """The run description stored by an earlier screen in this folder (None when new)."""
        meta = self.meta()
        if not meta:
            return None
        if meta.get("format") != DB_FORMAT:
            raise ResultsError(
                f"{self.path}: not a difffit screen database (format {meta.get('format')!r})"
            )
        if int(meta.get("format_version", "0")) > DB_VERSION:
            raise ResultsError(
                f"{self.path}: database version {meta['format_version']} is newer than this difffit "
                f"reads ({DB_VERSION}); upgrade difffit or use another --out"
            )
        return json.loads(meta["run"])

    def begin_run(self, run: dict[str, Any], run_hash: str, *, version: str = __version__) -> None:
        """Record the run's identity, or check it against the stored one.

        A screen resumed by another difffit version goes on (a long screen must survive an
        upgrade) with a warning: the two versions' fits may differ slightly.

        Raises
        ------
        ConfigError
            The folder holds a screen of another map, other options or another seed.
        """
        stored = self.stored_run()
        if stored is None:
            with self._con:
                self._con.execute("BEGIN")
                rows = {
                    "difffit_version": version,
                    "format": DB_FORMAT,
                    "format_version": str(DB_VERSION),
                    "run_hash": run_hash,
                    "run": json.dumps(run, sort_keys=True),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
                self._con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows.items())
            return
        meta = self.meta()
        if meta.get("run_hash") == run_hash:
            if meta.get("difffit_version", version) != version:
                log.warning(
                    "%s was started by difffit %s, this is %s: results of both versions are "
                    "mixed (start a new --out for a clean comparison)",
                    self.path, meta["difffit_version"], version,
                )  # fmt: skip
            return
        differ = _differences(stored, run)
        raise ConfigError(
            f"--out {self.folder} holds a screen with a different {', '.join(differ) or 'setup'}; "
            "resuming would mix incompatible results: use another --out (or the same map, options "
            "and --seed as before)"
        )

    # ---------------------------------------------------------------- records
    def record(self, rec: CandidateRecord, *, table: str = "candidates") -> None:
        """Store one candidate's outcome in its own transaction (replacing an older row);
        ``table`` is one of :data:`TABLES`."""
        _check_table(table)
        t = list(rec.transform) if rec.transform else [None] * len(TRANSFORM_COLUMNS)
        values = {
            "sha256": rec.sha256,
            "name": rec.name,
            "path": rec.path,
            "status": rec.status,
            "reason": rec.reason,
            "n_atoms": rec.n_atoms,
            "n_residues": rec.n_residues,
            "seed": rec.seed,
            "hits": rec.hits,
            "n_clusters": rec.n_clusters,
            **{k: _db_value(getattr(rec, k)) for k in _NUMERIC},
            **dict(zip(TRANSFORM_COLUMNS, t, strict=True)),
            "clusters": json.dumps(list(rec.clusters)),
            "worker": rec.worker,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        try:
            with self._con:
                self._con.execute("BEGIN IMMEDIATE")
                self._con.execute(
                    f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})",
                    list(values.values()),
                )
        except sqlite3.DatabaseError as exc:
            if _disk_full(exc):  # the transaction is rolled back: the candidate is refitted
                raise disk_full_error(self.path) from None
            raise

    def records(
        self, sha256s: Iterable[str] | None = None, *, table: str = "candidates"
    ) -> dict[str, CandidateRecord]:
        """Stored records by SHA-256 (only those named, when given) of ``table``."""
        _check_table(table)
        cur = self._con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        want = set(sha256s) if sha256s is not None else None
        out: dict[str, CandidateRecord] = {}
        for row in cur:  # row by row: the whole table is never held as rows
            rec = _row_record(names, row)
            if want is None or rec.sha256 in want:
                out[rec.sha256] = rec
        return out

    def summaries(
        self, sha256s: Iterable[str] | None = None, *, table: str = "candidates"
    ) -> dict[str, Summary]:
        """The few numbers of each stored record that a screen's bookkeeping and ranking need
        (:class:`Summary`, by SHA-256; only those named, when given): a proteome's records are
        never all in memory at once."""
        _check_table(table)
        return _summaries(self._con, sha256s, table)

    def count(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])


class Summary(NamedTuple):
    """What ranking and counting need of a record (the rest stays in the database)."""

    status: str
    score: float
    n_atoms: int
    n_residues: int
    fit_s: float
    cpu_s: float

    @classmethod
    def of(cls, rec: CandidateRecord) -> Summary:
        """The summary of a record (as :meth:`ScreenStore.summaries` reads it back)."""
        return cls(rec.status, float(rec.score), int(rec.n_atoms), int(rec.n_residues),
                   float(rec.fit_s), float(rec.cpu_s))  # fmt: skip


_SUMMARY_SQL = "SELECT sha256, status, score, n_atoms, n_residues, fit_s, cpu_s FROM {table}"


def _summaries(
    con: sqlite3.Connection, sha256s: Iterable[str] | None, table: str
) -> dict[str, Summary]:
    want = set(sha256s) if sha256s is not None else None
    out: dict[str, Summary] = {}
    for sha, status, score, n_atoms, n_res, fit_s, cpu_s in con.execute(
        _SUMMARY_SQL.format(table=table)
    ):
        if want is not None and sha not in want:
            continue
        out[sha] = Summary(
            status,
            math.nan if score is None else float(score),
            int(n_atoms or 0),
            int(n_res or 0),
            float(fit_s or 0.0),
            math.nan if cpu_s is None else float(cpu_s),
        )
    return out


def _row_record(names: list[str], row: tuple) -> CandidateRecord:
    r = dict(zip(names, row, strict=True))
    tr = [r.pop(c) for c in TRANSFORM_COLUMNS]
    r.pop("finished_at")
    for k in _NUMERIC:
        r[k] = math.nan if r[k] is None else float(r[k])
    return CandidateRecord(
        **{
            **r,
            "transform": tuple(tr) if tr[0] is not None else (),
            "clusters": tuple(json.loads(r["clusters"])),
        }
    )


#: Records read per query by :func:`read_records` (under SQLite's limit of bound variables).
READ_CHUNK = 500


def read_records(
    folder: str | os.PathLike[str], sha256s: Sequence[str], *, table: str = "candidates"
) -> dict[str, CandidateRecord]:
    """The stored records of ``sha256s`` in a screen folder's database, read-only (no lock: a
    finished screen's result reads its records from here when asked for them)."""
    _check_table(table)
    path = Path(folder) / ScreenStore.FILE
    if not path.is_file():
        raise ResultsError(f"{path}: the screen database is gone; run the screen again")
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    try:
        out: dict[str, CandidateRecord] = {}
        shas = list(sha256s)
        for k in range(0, len(shas), READ_CHUNK):
            part = shas[k : k + READ_CHUNK]
            cur = con.execute(
                f"SELECT * FROM {table} WHERE sha256 IN ({', '.join('?' for _ in part)})", part
            )
            names = [d[0] for d in cur.description]
            for row in cur:
                rec = _row_record(names, row)
                out[rec.sha256] = rec
        return out
    finally:
        con.close()


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}, got {table!r}")


def _disk_full(exc: sqlite3.DatabaseError) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full")."""
    full = getattr(sqlite3, "SQLITE_FULL", 13)  # the constant is in sqlite3 from Python 3.11
    return getattr(exc, "sqlite_errorcode", None) == full or "is full" in str(exc)


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Top-level keys (and fit option sections) whose values differ."""
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) == b.get(k):
            continue
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            sub = [f"{k}.{s}" for s in _differences(a[k], b[k])]
            out.extend(sub or [k])
        else:
            out.append(k)
    return out
