"""Atomic file writes: the one place that writes a file beside its target and renames it.

Every writer of difffit goes through :func:`atomic_path` (or the helpers built on it), so a
reader never sees a half-written file and an interrupted write leaves the old file (or none)
and no ``.part`` file behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PART_SUFFIX", "atomic_copy", "atomic_path", "atomic_write_bytes", "atomic_write_text"]

#: Suffix of a file being written (before the file's own suffix when ``keep_suffix``).
PART_SUFFIX = ".part"


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
    is left as it was.

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
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
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
