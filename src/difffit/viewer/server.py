"""The viewer's local HTTP server (Python standard library only).

Security model (as Jupyter's): the server binds to 127.0.0.1 by default; every request must
carry the session's random token (``?token=…`` in the URL, or the ``X-DiffFit-Token`` header);
requests whose ``Host`` header is not exactly this server's address (one header, ``name`` or
``name:port``, ``[v6]`` or ``[v6]:port``) are refused (DNS rebinding); actions are ``POST``
requests with a JSON body. The server never maps a URL path to a file outside its own static
folder: results are served through the API, whose parameters are round numbers, ranks and
structure names, never paths (and the folder layer refuses any path in a results folder's JSON
that leads outside the folder).

Robustness: every connection has a socket timeout (:data:`SOCKET_TIMEOUT`: a body shorter than
its Content-Length, or an idle keep-alive connection, is closed after it); at most
:data:`MAX_CONNECTIONS` connections are served at once (more get 503); the listen backlog is
:data:`LISTEN_BACKLOG`. Every numeric request field has bounds (:data:`FIELD_BOUNDS`); a bad
request gets 400 with a one-line message, never 500.

API (all answers JSON unless said otherwise)::

    GET  /?token=T                      the page
    GET  /static/…                      the page's assets (Mol* included)
    GET  /api/session                   results folder, rounds, level, working map facts, jobs
    GET  /api/clusters?round=N          the cluster table of a round
    GET  /api/map?v=V[&max=N]           the working map for display (MRC bytes, edges <= N)
    GET  /api/model?round=N&rank=K      a cluster's fitted model (mmCIF; &download=1 to save;
                                        a refined one: shift in B, X-DiffFit-Shift-Max header;
                                        &mates=1: its symmetry mates, a --symmetry round)
    GET  /api/points?round=N&metric=M[&n=P]  the placements' structure centres (mmCIF
                                        pseudo-atoms), the best P by M (default 2000)
    GET  /api/decisions?round=N         a composite round's candidates.csv: decision, reason
    GET  /api/jobs/J                    progress of a "fit again" job
    POST /api/save   {round, rank}      write the model to RESULTS_DIR/saved/
    POST /api/zero   {round, rank}      zero the fitted structure out of the working map
    POST /api/undo   {}                 undo the last zeroing
    POST /api/fit    {structures, n_rotations?, n_positions?, seed?}   fit again, in a thread
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import mimetypes
import re
import secrets
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from difffit.errors import ConfigError, DiffFitError
from difffit.viewer.workspace import POINT_DEFAULT_MAX, Workspace

__all__ = ["STATIC_DIR", "ViewerServer", "molstar_available"]

log = logging.getLogger("difffit.viewer")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MOLSTAR_DIR = STATIC_DIR / "molstar"
MAX_BODY = 64 * 1024
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
#: Seconds a connection may stay silent (idle keep-alive, or a body that never arrives).
SOCKET_TIMEOUT = 10.0
#: Connections served at once; more are answered 503 at once.
MAX_CONNECTIONS = 400
#: Pending connections the kernel queues for ``accept``.
LISTEN_BACKLOG = 256
#: Inclusive bounds of every integer request field.
FIELD_BOUNDS = {
    "round": (0, 100_000),
    "rank": (1, 10_000_000),
    "max": (8, 4096),
    "n": (1, 10_000_000),
    "download": (0, 1),
    "n_rotations": (1, 100_000),
    "n_positions": (1, 10_000),
    "seed": (0, 2**31 - 1),
}
#: Largest search a "fit again" may start (rotations x positions).
MAX_PLACEMENTS = 1_000_000
_PORT = re.compile(r"^[0-9]{1,5}$")

_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self' data: blob:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)


def molstar_available() -> bool:
    """Whether the Mol* bundle and the page's script have been built (``scripts/build-viewer``)."""
    return (MOLSTAR_DIR / "molstar.js").is_file() and (STATIC_DIR / "app.js").is_file()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG
    viewer: ViewerServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class ViewerServer:
    """Serve a :class:`~difffit.viewer.workspace.Workspace` to a browser.

    Parameters
    ----------
    workspace : Workspace
    host : str
        Address to bind (default 127.0.0.1, this machine only).
    port : int
        Port (0 = any free port).
    token : str, optional
        The secret every request must carry (default: a fresh random one).
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        if token is not None and len(token) < 16:
            raise ConfigError("the token must have at least 16 characters")
        self.workspace = workspace
        self.token = token or secrets.token_urlsafe(24)
        self.httpd = _HTTPServer((host, port), _Handler)
        self.httpd.viewer = self
        self.host = host
        self.port = int(self.httpd.server_address[1])
        names = {*LOCAL_NAMES, host.strip("[]").lower()}
        self.allowed_hosts = frozenset(names)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address, token included."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={self.token}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ViewerServer:
        """Serve in a background thread (for tests and notebooks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="difffit-view", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ checks
    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a Host (or Origin netloc) is exactly this server: ``name[:port]``."""
        if not host_header:
            return False
        h = host_header.strip().lower()
        if h.startswith("["):
            name, sep, rest = h[1:].partition("]")
            if not sep:
                return False
            if rest and not rest.startswith(":"):
                return False  # e.g. [::1]junk:PORT
            port = rest[1:] if rest else ""
            if rest and not port:
                return False
        else:
            if h.count(":") > 1:
                return False
            name, sep, port = h.partition(":")
            if sep and not port:
                return False
        if port and (not _PORT.match(port) or int(port) != self.port):
            return False
        return name in self.allowed_hosts

    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.token.encode())


class _Handler(BaseHTTPRequestHandler):
    server_version = "difffit-view"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ replies
    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    # ------------------------------------------------------------------ dispatch
    def _guard(self) -> tuple[str, dict[str, list[str]]] | None:
        viewer = self.server.viewer
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or not viewer.host_allowed(hosts[0]):
            self._error(HTTPStatus.FORBIDDEN, "forbidden: foreign Host header")
            return None
        origin = self.headers.get("Origin")
        if origin and origin != "null" and not viewer.host_allowed(urlsplit(origin).netloc):
            self._error(HTTPStatus.FORBIDDEN, "forbidden: foreign Origin")
            return None
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        token = self.headers.get("X-DiffFit-Token") or next(iter(query.get("token") or []), None)
        if not viewer.token_ok(token):
            self._error(
                HTTPStatus.FORBIDDEN,
                "forbidden: missing or wrong token (open the URL difffit view printed)",
            )
            return None
        return parts.path, query

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _refuse(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"method {self.command} not allowed")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _dispatch(self, method: str) -> None:
        guarded = self._guard()
        if guarded is None:
            return
        path, query = guarded
        try:
            if method == "GET":
                self._get(path, query)
            else:
                self._post(path)
        except DiffFitError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:
            log.error("internal error on %s %s:\n%s", method, path, traceback.format_exc())
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}: {exc}"
            )

    # ------------------------------------------------------------------ GET
    def _get(self, path: str, query: dict[str, list[str]]) -> None:
        ws = self.server.viewer.workspace
        if path in ("/", "/index.html"):
            return self._index()
        if path.startswith("/static/"):
            return self._static(path[len("/static/") :])
        if path == "/api/session":
            return self._json(ws.session())
        if path == "/api/clusters":
            return self._json(ws.clusters(_int(query, "round", 0)))
        if path == "/api/map":
            data, info = ws.display_map(_int(query, "max", None))
            return self._send(200, data, "application/octet-stream",
                              {"X-DiffFit-Map-Version": str(info["version"])})  # fmt: skip
        if path == "/api/model":
            rid, rank = _int(query, "round", 0), _int(query, "rank")
            mates = bool(_int(query, "mates", 0))
            text, name = (ws.mates_cif if mates else ws.model_cif)(rid, rank)
            headers = {}
            shift = None if mates else ws.shift_max(rid, rank)
            if shift is not None:  # a refined model: residues coloured by shift (B column)
                headers["X-DiffFit-Shift-Max"] = f"{shift:.3f}"
            if _int(query, "download", 0):
                headers["Content-Disposition"] = f'attachment; filename="{name}"'
            return self._send(200, text.encode(), "chemical/x-mmcif; charset=utf-8", headers)
        if path == "/api/points":
            metric = (query.get("metric") or ["score"])[0]
            n = _int(query, "n", POINT_DEFAULT_MAX)
            return self._json(ws.points(_int(query, "round", 0), metric, n))
        if path == "/api/decisions":
            return self._json(ws.decisions(_int(query, "round", 0)))
        if path.startswith("/api/jobs/"):
            try:
                job_id = int(path.rsplit("/", 1)[1])
            except ValueError:
                raise ConfigError(f"bad job id in {path}") from None
            return self._json(ws.job(job_id))
        self._error(HTTPStatus.NOT_FOUND, f"not found: {path}")

    def _index(self) -> None:
        page = (STATIC_DIR / "index.html").read_text()
        page = page.replace("__TOKEN__", self.server.viewer.token)
        self._send(200, page.encode(), "text/html; charset=utf-8",
                   {"Content-Security-Policy": _CSP})  # fmt: skip

    def _static(self, rel: str) -> None:
        try:
            rel = unquote(rel, errors="strict")
        except UnicodeDecodeError:
            return self._error(HTTPStatus.NOT_FOUND, "not found: bad static path")
        if "\x00" in rel or "\\" in rel:
            return self._error(HTTPStatus.NOT_FOUND, "not found: bad static path")
        target = (STATIC_DIR / rel).resolve()
        if (
            not target.is_relative_to(STATIC_DIR)
            or not target.is_file()
            or target.name.startswith(".")
        ):
            return self._error(HTTPStatus.NOT_FOUND, f"not found: /static/{rel}")
        if target.parent == MOLSTAR_DIR and not molstar_available():
            return self._error(HTTPStatus.NOT_FOUND, "Mol* is not built: run scripts/build-viewer")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        self._send(200, target.read_bytes(), ctype, {"Cache-Control": "private, max-age=3600"})

    # ------------------------------------------------------------------ POST
    def _body(self) -> dict[str, Any]:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ConfigError("actions need a JSON body (Content-Type: application/json)")
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ConfigError("bad Content-Length") from None
        if n > MAX_BODY:
            raise ConfigError(f"request body too large ({n} bytes)")
        if n < 0:
            raise ConfigError("bad Content-Length")
        raw = self.rfile.read(n) if n else b"{}"
        if len(raw) < n:
            raise ConfigError(f"the body ended after {len(raw)} of {n} bytes")
        try:
            data = json.loads(raw.decode("utf-8") or "{}", parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise ConfigError("the body is not UTF-8") from None
        except ValueError as exc:  # JSONDecodeError, too many digits, NaN/Infinity
            raise ConfigError(
                f"the body is not valid JSON ({' '.join(str(exc).split())})"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError("the body must be a JSON object")
        return data

    def _post(self, path: str) -> None:
        ws = self.server.viewer.workspace
        body = self._body()
        if path == "/api/save":
            return self._json(ws.save_model(_body_int(body, "round", 0), _body_int(body, "rank")))
        if path == "/api/zero":
            return self._json(ws.zero(_body_int(body, "round", 0), _body_int(body, "rank")))
        if path == "/api/undo":
            return self._json(ws.undo())
        if path == "/api/fit":
            names = body.get("structures")
            if not isinstance(names, list) or not all(isinstance(s, str) for s in names):
                raise ConfigError("structures must be a list of structure names")
            n_rot = _body_int(body, "n_rotations", None)
            n_pos = _body_int(body, "n_positions", None)
            if n_rot and n_pos and n_rot * n_pos > MAX_PLACEMENTS:
                raise ConfigError(
                    f"n_rotations x n_positions = {n_rot * n_pos} is more than the viewer starts "
                    f"({MAX_PLACEMENTS}); run difffit fit for a search that large"
                )
            job = ws.start_fit(names, n_rotations=n_rot, n_positions=n_pos,
                               seed=_body_int(body, "seed", None))  # fmt: skip
            return self._json(job.public(), HTTPStatus.ACCEPTED)
        self._error(HTTPStatus.NOT_FOUND, f"not found: {path}")


_MISSING = object()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _bounded(name: str, value: int, what: str) -> int:
    lo, hi = FIELD_BOUNDS.get(name, (-(2**63), 2**63 - 1))
    if not lo <= value <= hi:
        raise ConfigError(f"{what} {name} must be in [{lo}, {hi}], got {value}")
    return value


def _int(query: dict[str, list[str]], name: str, default: Any = _MISSING) -> int:
    values = query.get(name)
    if not values or values[0] == "":
        if default is _MISSING:
            raise ConfigError(f"missing parameter {name}")
        return default
    text = values[0]
    if len(text) > 12 or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ConfigError(f"parameter {name} must be an integer, got {text[:20]!r}")
    return _bounded(name, int(text), "parameter")


def _body_int(body: dict[str, Any], name: str, default: Any = _MISSING) -> Any:
    v = body.get(name)
    if v is None or v == "":
        if default is _MISSING:
            raise ConfigError(f"missing field {name}")
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConfigError(f"field {name} must be an integer, got {str(v)[:20]!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"field {name} must be an integer, got {v!r}")
    if isinstance(v, str) and (len(v) > 12 or not re.fullmatch(r"[+-]?[0-9]+", v.strip())):
        raise ConfigError(f"field {name} must be an integer, got {v[:20]!r}")
    try:
        iv = int(v)
    except (ValueError, OverflowError):
        raise ConfigError(f"field {name} must be an integer, got {str(v)[:20]!r}") from None
    if isinstance(v, float) and v != iv:
        raise ConfigError(f"field {name} must be an integer, got {v!r}")
    return _bounded(name, iv, "field")
