"""Whole runs in headless Chromium, from synthetic data (no ../shared needed): a composite run
folder and a screen folder open in ``difffit view`` (screenshots in ``artifacts/viewer/``), and
the ``view.mvsj`` of a results folder loads in the Mol* build the viewer uses (issue #14)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from tests.viewer.conftest import copy_results
from tests.viewer.test_viewer_browser import Page, check_model_loaded, served

pytestmark = pytest.mark.browser


def _open(browser_context, folder: Path) -> tuple[Page, object]:
    server = served(folder)
    return Page(browser_context, server), server


def test_composite_folder_in_the_browser(browser_context, composite_run, tmp_path, artifacts):
    root = copy_results(composite_run, tmp_path / "run")
    viewer, server = _open(browser_context, root)
    try:
        s = viewer.idle()
        session = server.workspace.session()
        rounds = viewer.page.locator("#round option")
        assert rounds.count() == len(session["rounds"]) >= 1
        assert s["round"] == session["rounds"][0]["id"] == 1
        # the round's decisions, one line per candidate of candidates.csv
        assert viewer.page.locator("#decisions").is_visible()
        decided = server.workspace.decisions(1)["rows"]
        viewer.page.wait_for_selector("#decisions tr[data-decision]")
        shown = viewer.page.locator("#decisions tr[data-decision]")
        assert shown.count() == len(decided)
        assert [shown.nth(i).get_attribute("data-decision") for i in range(shown.count())] == [
            r["decision"] for r in decided
        ]
        assert "round 1 decisions: " in viewer.page.locator("#decisions").text_content()
        assert "toy.mrc" in viewer.page.locator("#map-name").text_content()
        assert s["molstar"]["map"]["loaded"]
        check_model_loaded(viewer, s["selected"], s["round"])
        assert viewer.external == [] and viewer.errors == []
        viewer.shot(artifacts / "composite_run.png")
    finally:
        viewer.close()
        server.shutdown()


def test_screen_folder_in_the_browser(browser_context, screen_results, tmp_path, artifacts):
    root = copy_results(screen_results, tmp_path / "screen")
    viewer, server = _open(browser_context, root)
    try:
        s = viewer.idle()
        table = server.workspace.clusters(0)
        assert s["rows"] == len(table["rows"]) == 4
        assert "q_value" in s["columns"]
        check_model_loaded(viewer, 1)
        viewer.row(2).click()
        check_model_loaded(viewer, 2)
        assert viewer.external == [] and viewer.errors == []
        viewer.shot(artifacts / "screen_folder.png")
    finally:
        viewer.close()
        server.shutdown()


# ---------------------------------------------------------------------------- MolViewSpec
MVS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>mvs</title>
<script src="molstar.js"></script>
<style>#v { position: absolute; inset: 0; }</style></head>
<body><div id="v"></div><script>
(async () => {
  try {
    const L = molstar.lib;
    const spec = L.plugin.DefaultPluginSpec();
    spec.behaviors = [...spec.behaviors, L.mvs.PluginSpec.Behavior(L.mvs.MolViewSpec)];
    const p = new L.plugin.PluginContext(spec);
    await p.init();
    await p.mountAsync(document.getElementById('v'));
    const url = new URL(new URLSearchParams(location.search).get('mvs'), location.href).href;
    const text = await (await fetch(url)).text();
    await L.mvs.loadMVS(p, L.mvs.MVSData.fromMVSJ(text), { sourceUrl: url, sanityChecks: true });
    const kinds = {};
    p.state.data.cells.forEach(c => {
      if (c.obj) kinds[c.obj.type.name] = (kinds[c.obj.type.name] || 0) + 1;
    });
    const atoms = p.managers.structure.hierarchy.current.structures
      .map(s => s.cell.obj.data.elementCount);
    window.mvsResult = { kinds, atoms, title: document.title };
  } catch (e) {
    window.mvsResult = { error: String(e && e.stack || e) };
  }
})();
</script></body></html>
"""


def _static_server(root: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # no request lines on stderr
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


def test_mvs_view_loads_in_the_viewers_molstar(
    browser_context, synthetic_results, tmp_path, artifacts
):
    """The fit's view.mvsj, served with its folder (and the map beside it, where its relative
    path points), opens in the viewer's own Mol* bundle: the map and the three models."""
    pytest.importorskip("molviewspec")

    from difffit.io.mvs import write_mvs_view
    from difffit.results import read_manifest
    from difffit.viewer import molstar_available

    assert molstar_available()
    static = Path(__file__).resolve().parents[2] / "src/difffit/viewer/static/molstar/molstar.js"
    site = tmp_path / "site"
    results = copy_results(synthetic_results, site / "results")
    man = read_manifest(results)
    map_src = Path(man["map"]["path"])
    shutil.copy(map_src, site / map_src.name)
    models = [(results / m["cif"], f"rank {m['rank']}") for m in man["models"]]
    # the copied folder's view, its map one folder up (as a results folder beside its map)
    write_mvs_view(results / "view.mvsj", site / map_src.name, man["level"], models, title="t")
    shutil.copy(static, site / "molstar.js")
    (site / "mvs.html").write_text(MVS_PAGE)
    httpd, port = _static_server(site)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"http://127.0.0.1:{port}/mvs.html?mvs=results/view.mvsj")
        page.wait_for_function("() => window.mvsResult", timeout=120_000)
        got = page.evaluate("window.mvsResult")
        assert "error" not in got, got["error"]
        assert got["kinds"].get("Volume") == 1, got
        assert got["kinds"].get("Structure", 0) >= 3, got
        n_atoms = [
            sum(1 for line in (results / m["cif"]).read_text().splitlines()
                if line.startswith(("ATOM", "HETATM")))
            for m in man["models"]
        ]  # fmt: skip
        assert sorted(got["atoms"]) == sorted(n_atoms), (got, n_atoms)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "mvs_fit.png"))
        assert errors == []
    finally:
        page.close()
        httpd.shutdown()
        httpd.server_close()
