"""Folder locks: one difffit run writes a results or run folder at a time.

:func:`hold_folder` takes an exclusive ``flock`` on ``FOLDER/.difffit.lock`` (the operating
system releases it when the process dies) and removes the lock file again when released, so a
finished folder holds only its own files. A second run that asks for a folder another process
holds gets a :class:`~difffit.errors.ConfigError` at once (it does not wait). Within one
process the lock is re-entrant: ``fit`` holds its ``--out`` for the whole run and
:func:`~difffit.io.results.save_results` takes the same lock again without blocking.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from difffit.errors import ConfigError

__all__ = ["LOCK_NAME", "FolderLock", "hold_folder"]

#: The lock file inside a held folder (removed when the lock is released).
LOCK_NAME = ".difffit.lock"

_guard = threading.Lock()
#: Folders this process holds: resolved path -> [open lock file, hold count, created folder].
_held: dict[Path, list] = {}


def _open_locked(lock_path: Path, folder: Path) -> TextIO:
    """The lock file, opened and flocked (retried when another process removed it meanwhile)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no protection against two writers
        return open(lock_path, "a+")
    for _ in range(10):
        fh = open(lock_path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ConfigError(
                f"--out {folder}: another difffit run holds this folder now ({LOCK_NAME}); wait "
                "for it to finish or choose another --out"
            ) from None
        try:  # the holder before us may have removed the file after we opened it
            same = os.stat(lock_path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fh
        fh.close()
    raise ConfigError(f"--out {folder}: cannot lock {lock_path} (it keeps changing)")


class FolderLock:
    """A held folder lock (see :func:`hold_folder`); :meth:`release` once."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--out {folder}: exists and is not a folder")
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._key = folder.resolve()
        self._released = False
        with _guard:
            entry = _held.get(self._key)
            if entry is not None:
                entry[1] += 1
                return
            try:
                fh = _open_locked(folder / LOCK_NAME, folder)
            except BaseException:
                if created:
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                raise
            _held[self._key] = [fh, 1, created]

    def release(self) -> None:
        """Drop this hold; the last one removes the lock file (and the folder, when this lock
        created it and it is still empty)."""
        if self._released:
            return
        self._released = True
        with _guard:
            entry = _held[self._key]
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _held[self._key]
            fh, _, created = entry
            with contextlib.suppress(OSError):
                (self._key / LOCK_NAME).unlink()  # while still locked: see _open_locked
            fh.close()
            if created:
                with contextlib.suppress(OSError):
                    self._key.rmdir()  # only when empty: a failed run leaves no empty folder

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def hold_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder`` (created when missing) for the ``with`` block.

    Raises
    ------
    ConfigError
        Another process holds the folder, or ``folder`` exists and is not a folder.
    """
    lock = FolderLock(folder)
    try:
        yield lock.folder
    finally:
        lock.release()
