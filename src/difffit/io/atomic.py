"""Atomic file writes: the one place that writes a file beside its target and renames it.

Every writer of difffit goes through :func:`atomic_path` (or the helpers built on it), so a
reader never sees a half-written file and an interrupted write leaves the old file (or none)
and no ``.part`` file behind. A full disk (``ENOSPC``, ``EDQUOT``) ends the write with a
:class:`DiskFullError` naming the file and the mount point it is on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from difffit.errors import DiffFitError

__all__ = [
    "PART_SUFFIX",
    "DiskFullError",
    "atomic_copy",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "disk_full_error",
]

#: Suffix of a file being written (before the file's own suffix when ``keep_suffix``).
PART_SUFFIX = ".part"


#: The errno values of a full disk or an exhausted quota.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(DiffFitError):
    """No space is left on the device a file is written to (exit 2, one line)."""


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point of the file system ``path`` (or its nearest existing parent) is on."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    dev = p.stat().st_dev
    while p != p.parent and p.parent.stat().st_dev == dev:
        p = p.parent
    return p


def disk_full_error(path: str | os.PathLike[str]) -> DiskFullError:
    """The one-line error of a write of ``path`` that found its device full."""
    try:
        where = str(mount_point(path))
    except OSError:
        where = "the device"
    return DiskFullError(
        f"no space left on {where} writing {path}; free some space there (or write elsewhere) "
        "and run the same command again"
    )


def part_path(path: Path, *, keep_suffix: bool = False) -> Path:
    """The temporary name of ``path`` while it is written: ``name.part`` (or ``stem.part.ext``
    when ``keep_suffix``, for writers that choose a format by extension)."""
    if keep_suffix and path.suffix:
        return path.with_name(path.stem + PART_SUFFIX + path.suffix)
    return path.with_name(path.name + PART_SUFFIX)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On any error (including KeyboardInterrupt) the temporary file is removed and the target
    is left as it was; a full disk raises :class:`DiskFullError` (naming ``path``).

    Example
    -------
    >>> with atomic_path(out) as tmp:       # doctest: +SKIP
    ...     tmp.write_text(text)
    """
    path = Path(path)
    tmp = part_path(path, keep_suffix=keep_suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            raise disk_full_error(path) from None
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy ``src`` to ``dst`` atomically; returns ``dst``."""
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst
