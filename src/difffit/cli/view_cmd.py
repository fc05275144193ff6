"""``difffit view RESULTS_DIR [--port P] [--no-browser]``: the web viewer."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import webbrowser
from pathlib import Path

from difffit.errors import ConfigError

log = logging.getLogger("difffit")

DEFAULT_PORT = 8765


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "view",
        help="inspect, compare, save and zero fits in the web browser",
        description="Serve a results folder to the web browser on this machine: the map, the "
        "clusters' fitted models and every placement in 3D (Mol*), a sortable table of clusters, "
        "and actions (save a model, zero it out of the working map, undo, fit again). The URL "
        "carries a secret token; keep it to yourself.",
    )
    p.add_argument("results", type=Path, metavar="RESULTS_DIR", help="a difffit results folder")
    p.add_argument(
        "--port",
        type=int,
        metavar="P",
        help=f"port (default {DEFAULT_PORT}, or a free one when that is taken)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default %(default)s: this machine only)",
    )
    p.add_argument("--no-browser", action="store_true", help="print the URL, open no browser")
    p.set_defaults(run=run)
    return p


def _open_browser(url: str, port: int) -> None:
    # on a Linux machine without a display, webbrowser would fall back to a text browser that
    # takes over the terminal: print the URL only
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        log.info("no display here: open the URL in a browser (from another machine: "
                 "ssh -L %d:127.0.0.1:%d THIS_MACHINE)", port, port)  # fmt: skip
        return
    try:
        webbrowser.open(url)
    except webbrowser.Error:
        log.info("no browser could be opened: open the URL above")


def run(args: argparse.Namespace) -> int:
    from difffit.viewer import ViewerServer, Workspace, molstar_available

    if args.port is not None and not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}")
    if not molstar_available():
        raise ConfigError(
            "the web viewer's Mol* files are missing: run scripts/build-viewer (needs npm) "
            "in the difffit source folder"
        )
    ws = Workspace(args.results)
    ws.prepare_display()
    info = ws.display_info()
    log.info("map %s: %s voxels (shown at %s), level %.4g",
             ws.working_map_path(), "x".join(map(str, info["shape_zyx"][::-1])),
             "x".join(map(str, info["display_shape_zyx"][::-1])), ws.level)  # fmt: skip
    try:
        server = ViewerServer(
            ws, host=args.host, port=DEFAULT_PORT if args.port is None else args.port
        )
    except OSError as exc:
        if args.port is None and exc.errno == errno.EADDRINUSE:
            server = ViewerServer(ws, host=args.host, port=0)
        else:
            raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "listening on %s: other machines can reach the viewer (the token still guards it)",
            args.host,
        )
    print(f"difffit view: serving {ws.root}\n\n    {server.url}\n\n(Ctrl+C to stop)", flush=True)
    if not args.no_browser:
        _open_browser(server.url, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("difffit view: stopped")
    finally:
        server.shutdown()
    return 0
