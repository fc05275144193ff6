"""The ``difffit`` command line: a thin layer over the public API.

Each subcommand is a module with ``add_parser(subparsers)`` and ``run(args) -> int``. Errors a
user can fix (:class:`~difffit.errors.DiffFitError`) end in one line on stderr and exit code 2;
an interrupted run exits with 130.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from difffit._version import __version__
from difffit.errors import DiffFitError

__all__ = ["main"]

log = logging.getLogger("difffit")


def _subcommands():
    from difffit.cli import fit_cmd

    mods = [fit_cmd]
    for name in (
        "simulate_cmd",
        "zero_cmd",
        "split_cmd",
        "domains_cmd",
        "composite_cmd",
        "screen_cmd",
        "view_cmd",
        "report_cmd",
        "fetch_cmd",
        "symmetry_cmd",
    ):
        try:
            mods.append(__import__(f"difffit.cli.{name}", fromlist=["run"]))
        except ModuleNotFoundError as exc:
            if exc.name != f"difffit.cli.{name}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difffit",
        description="Fit atomic structures into cryo-EM density maps.",
    )
    parser.add_argument("--version", action="version", version=f"difffit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _subcommands():
        mod.add_parser(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("difffit: %(message)s"))
    root = logging.getLogger("difffit")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.run(args) or 0)
    except DiffFitError as exc:
        print(f"difffit: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from difffit.io.atomic import DISK_FULL_ERRNOS, disk_full_error

        if exc.errno not in DISK_FULL_ERRNOS:  # a full disk outside atomic writes (mkdir, ...)
            return _internal(args, exc)
        print(f"difffit: error: {disk_full_error(exc.filename or '?')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("difffit: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            "difffit: error: out of memory (try fewer placements, --threads 1, or a smaller map)",
            file=sys.stderr,
        )
        return 3
    except Exception as exc:  # an internal error: one line unless --debug
        if _is_sqlite_full(exc):
            print("difffit: error: no space left on the device of the results database "
                  f"({exc}); free some space and run the same command again", file=sys.stderr)  # fmt: skip
            return 2
        return _internal(args, exc)


def _is_sqlite_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full" (the screen's store)."""
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def _internal(args: argparse.Namespace, exc: BaseException) -> int:
    if args.debug:
        raise exc
    print(
        f"difffit: internal error: {type(exc).__name__}: {exc} "
        "(run with --debug for the traceback, and please report it)",
        file=sys.stderr,
    )
    return 70
