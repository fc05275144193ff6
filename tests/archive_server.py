"""A local stand-in for the archives (EMDB, wwPDB, AlphaFold DB) on 127.0.0.1, serving real
files of ../shared/data in the archives' URL layouts, for the fetch tests.

Prefixes change the behaviour of any path: ``/redirect/...`` answers 302 to the plain path;
``/truncated/...`` announces the whole length but sends half and closes; ``/norange/...``
ignores Range requests. Range requests get 206 otherwise. Unknown paths get 404.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gemmi
import numpy as np

#: The header served for EMD-3488 (v3 schema); the archive's own header is not in ../shared.
HB_LEVEL = 0.12
HB_RESOLUTION = 3.2
EMDB_V3_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<emd emdb_id="EMD-{n}" version="3.0.2.0">
  <map format="CCP4" size_kbytes="4000">
    <file>emd_{n}.map.gz</file>
    <contour_list><contour primary="true"><level>{level}</level><source>AUTHOR</source></contour></contour_list>
  </map>
  <structure_determination_list><structure_determination>
    <singleparticle_processing><final_reconstruction>
      <resolution res_type="BY AUTHOR" units="Å">{res}</resolution>
    </final_reconstruction></singleparticle_processing>
  </structure_determination></structure_determination_list>
</emd>
"""


def _cif_of(path: Path) -> bytes:
    st = gemmi.read_structure(str(path))
    st.setup_entities()
    return st.make_mmcif_document().as_string().encode()


def archive_files(data: Path) -> dict[str, bytes]:
    """URL path -> bytes, built from the real files under ``data``."""
    hb = data / "ccpem_emd3488_haemoglobin"
    groel = data / "powerfit_emd1997_groel"
    afdb_model = data / "domainfit_tardigrade_decoys" / "A0A1D1UD02.pdb.gz"
    files = {
        "/emdb/structures/EMD-3488/map/emd_3488.map.gz": gzip.compress(
            (hb / "emd_3488.mrc").read_bytes(), mtime=0
        ),
        "/emdb/structures/EMD-3488/header/emd-3488.xml": EMDB_V3_HEADER.format(
            n=3488, level=HB_LEVEL, res=HB_RESOLUTION
        ).encode(),
        "/emdb/structures/EMD-1997/map/emd_1997.map.gz": gzip.compress(
            (groel / "1997.map").read_bytes(), mtime=0
        ),
        "/emdb/structures/EMD-1997/header/emd-1997.xml": (groel / "header_1997.xml").read_bytes(),
        "/pdb/data/structures/divided/mmCIF/me/5me2.cif.gz": gzip.compress(
            _cif_of(hb / "5me2.pdb"), mtime=0
        ),
    }
    st = gemmi.read_structure(str(afdb_model))
    n_res = sum(len(ch) for ch in st[0])
    pae = np.full((n_res, n_res), 20.0)
    np.fill_diagonal(pae, 0.5)
    files["/afdb/AF-A0A1D1UD02-F1-model_v4.cif"] = _cif_of(afdb_model)
    files["/afdb/AF-A0A1D1UD02-F1-predicted_aligned_error_v4.json"] = json.dumps(
        [{"predicted_aligned_error": pae.round(2).tolist(), "max_predicted_aligned_error": 31.75}]
    ).encode()
    return files


class ArchiveServer:
    """Serve ``files`` on 127.0.0.1 (a free port) in a thread; use as a context manager."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                server.requests.append((path, self.headers.get("Range")))
                mode = ""
                for m in ("/redirect", "/truncated", "/norange"):
                    if path.startswith(m + "/"):
                        mode, path = m[1:], path[len(m) :]
                        break
                body = server.files.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and mode != "norange" and rng.startswith("bytes="):
                    start = int(rng[6:].split("-", 1)[0] or 0)
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                if mode == "truncated":
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def mirror(self, prefix: str = "") -> str:
        """A ``--mirror`` spec pointing every archive at this server (behind ``prefix``)."""
        base = self.url + prefix
        return f"emdb={base}/emdb,pdb={base}/pdb,afdb={base}/afdb"

    def __enter__(self) -> ArchiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
