"""The viewer's local HTTP server (Python standard library only).

Security model (as Jupyter's): the server binds to 127.0.0.1 by default; every request must
carry the session's random token (``?token=…`` in the URL, or the ``X-DiffFit-Token`` header);
requests whose ``Host`` header is not this server's address are refused (DNS rebinding); actions
are ``POST`` requests with a JSON body. The server never maps a URL path to a file outside its
own static folder: results are served through the API, whose parameters are round numbers,
ranks and structure names, never paths.

API (all answers JSON unless said otherwise)::

    GET  /?token=T                      the page
    GET  /static/…                      the page's assets (Mol* included)
    GET  /api/session                   results folder, rounds, level, working map facts, jobs
    GET  /api/clusters?round=N          the cluster table of a round
    GET  /api/map?v=V[&max=N]           the working map for display (MRC bytes, edges <= N)
    GET  /api/model?round=N&rank=K      a cluster's fitted model (mmCIF; &download=1 to save)
    GET  /api/points?round=N&metric=M   every placement's structure centre (mmCIF pseudo-atoms)
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
import mimetypes
import secrets
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from difffit.errors import ConfigError, DiffFitError
from difffit.viewer.workspace import Workspace

__all__ = ["STATIC_DIR", "ViewerServer", "molstar_available"]

log = logging.getLogger("difffit.viewer")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MOLSTAR_DIR = STATIC_DIR / "molstar"
MAX_BODY = 64 * 1024
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")

_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self' data: blob:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)


def molstar_available() -> bool:
    """Whether the Mol* bundle the page needs has been built (``scripts/build-viewer``)."""
    return (MOLSTAR_DIR / "molstar.js").is_file()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    viewer: ViewerServer


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
        if not host_header:
            return False
        h = host_header.strip().lower()
        if h.startswith("["):
            name, _, rest = h[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        else:
            name, _, port = h.partition(":")
        if port and port != str(self.port):
            return False
        return name in self.allowed_hosts

    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.token.encode())


class _Handler(BaseHTTPRequestHandler):
    server_version = "difffit-view"
    sys_version = ""
    protocol_version = "HTTP/1.1"
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
        if not viewer.host_allowed(self.headers.get("Host")):
            self._error(HTTPStatus.FORBIDDEN, "forbidden: foreign Host header")
            return None
        origin = self.headers.get("Origin")
        if origin and origin != "null" and not viewer.host_allowed(urlsplit(origin).netloc):
            self._error(HTTPStatus.FORBIDDEN, "forbidden: foreign Origin")
            return None
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        token = self.headers.get("X-DiffFit-Token") or (query.get("token") or [None])[0]
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
        except (BrokenPipeError, ConnectionResetError):
            pass
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
            text, name = ws.model_cif(_int(query, "round", 0), _int(query, "rank"))
            headers = {}
            if _int(query, "download", 0):
                headers["Content-Disposition"] = f'attachment; filename="{name}"'
            return self._send(200, text.encode(), "chemical/x-mmcif; charset=utf-8", headers)
        if path == "/api/points":
            metric = (query.get("metric") or ["score"])[0]
            return self._json(ws.points(_int(query, "round", 0), metric))
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
        rel = unquote(rel)
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
        raw = self.rfile.read(n) if n else b"{}"
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the body is not JSON ({exc})") from None
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
            job = ws.start_fit(
                names,
                n_rotations=_body_int(body, "n_rotations", None),
                n_positions=_body_int(body, "n_positions", None),
                seed=_body_int(body, "seed", None),
            )
            return self._json(job.public(), HTTPStatus.ACCEPTED)
        self._error(HTTPStatus.NOT_FOUND, f"not found: {path}")


_MISSING = object()


def _int(query: dict[str, list[str]], name: str, default: Any = _MISSING) -> int:
    values = query.get(name)
    if not values or values[0] == "":
        if default is _MISSING:
            raise ConfigError(f"missing parameter {name}")
        return default
    try:
        return int(values[0])
    except ValueError:
        raise ConfigError(f"parameter {name} must be an integer, got {values[0]!r}") from None


def _body_int(body: dict[str, Any], name: str, default: Any = _MISSING) -> Any:
    v = body.get(name)
    if v is None or v == "":
        if default is _MISSING:
            raise ConfigError(f"missing field {name}")
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConfigError(f"field {name} must be an integer, got {v!r}")
    try:
        iv = int(v)
    except ValueError:
        raise ConfigError(f"field {name} must be an integer, got {v!r}") from None
    if isinstance(v, float) and v != iv:
        raise ConfigError(f"field {name} must be an integer, got {v!r}")
    return iv
