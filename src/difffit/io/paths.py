"""Checks on input paths shared by every reader: one place decides what a readable file is."""

from __future__ import annotations

import stat
from pathlib import Path

__all__ = ["check_regular_file", "inside", "one_line"]


def check_regular_file(path: Path, error: type[Exception]) -> None:
    """Refuse anything but an existing regular file (FIFOs, devices and sockets would hang).

    Raises ``error`` (a :class:`~difffit.errors.DiffFitError` subclass) with a one-line message.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file (a pipe, device or socket); give a file")


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (parsers embed raw input lines in theirs)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def inside(root: Path, rel: str | Path, what: str, error: type[Exception]) -> Path:
    """``root / rel``, refused unless it stays inside ``root`` (a folder's own JSON may name
    only the folder's own files: a crafted ``../../x`` or ``/etc/x`` must never be read,
    served or deleted).

    Raises ``error`` with a one-line message, and logs the refusal.
    """
    base = Path(root).resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        import logging

        msg = f"{root}: {what} {str(rel)!r} points outside the folder: refused"
        logging.getLogger("difffit").warning("%s", msg)
        raise error(msg + " (a results folder names only its own files)")
    return target
