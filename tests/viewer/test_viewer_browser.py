"""End to end in a real headless Chromium (Playwright): the page on real results.

What Mol* has loaded is read back through ``window.difffitViewer.state()``, which reads Mol*'s
own state tree (structures' atom counts and bounding boxes, the map's isovalue, the camera).
Screenshots go to ``artifacts/viewer/``; the page-load timings of the 220³ HCN4 map go to
``artifacts/viewer/load_times.json`` (reported, not asserted).
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from pathlib import Path

import gemmi
import numpy as np
import pytest

import difffit
from difffit.results import read_clusters_csv, read_manifest
from difffit.viewer import ViewerServer, Workspace
from tests.conftest import data_path
from tests.viewer.conftest import copy_results, make_results, small_config

pytestmark = pytest.mark.browser

READY = "() => window.difffitViewer && (difffitViewer.state().ready || difffitViewer.state().error)"
IDLE = "() => difffitViewer.state().idle"


class Page:
    """A page of the viewer, with the requests it made that left this server."""

    def __init__(self, context, server: ViewerServer, *, timeout_ms: int = 180_000):
        self.server = server
        self.page = context.new_page()
        self.page.set_default_timeout(timeout_ms)
        self.external: list[str] = []
        self.errors: list[str] = []
        base = f"http://127.0.0.1:{server.port}/"
        self.page.on(
            "request",
            lambda r: (
                None if r.url.startswith((base, "data:", "blob:")) else self.external.append(r.url)
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        t0 = time.perf_counter()
        self.page.goto(server.url)
        self.page.wait_for_function(READY)
        self.load_s = time.perf_counter() - t0
        s = self.state()
        assert s["error"] is None, s["error"]

    def state(self) -> dict:
        return self.page.evaluate("difffitViewer.state()")

    def idle(self) -> dict:
        self.page.wait_for_function(IDLE)
        return self.state()

    def row(self, rank: int):
        return self.page.locator(f'#clusters tbody tr[data-rank="{rank}"]')

    def header(self, column: str):
        return self.page.locator(f'#clusters thead th[data-col="{column}"]')

    def shot(self, path: Path) -> Path:
        self.page.wait_for_timeout(300)  # let the camera animation end
        self.page.screenshot(path=str(path))
        return path

    def close(self):
        self.page.close()


def served(results: Path) -> ViewerServer:
    return ViewerServer(Workspace(results)).start()


def cif_atoms(text: str) -> np.ndarray:
    st = gemmi.make_structure_from_block(gemmi.cif.read_string(text).sole_block())
    return np.array([a.pos.tolist() for ch in st[0] for r in ch for a in r])


def check_model_loaded(viewer: Page, rank: int, round_id: int = 0) -> dict:
    """The model of (round, rank) is in Mol*: its atom count and bounding box are the served
    model's, and the camera looks at it."""
    s = viewer.idle()
    models = [m for m in s["molstar"]["models"] if m["rank"] == rank and m["round"] == round_id]
    assert len(models) == 1, s["molstar"]["models"]
    m = models[0]
    text, _ = viewer.server.workspace.model_cif(round_id, rank)
    xyz = cif_atoms(text)
    assert m["atoms"] == len(xyz)
    # Mol*'s bounding box is the box of the atoms' van der Waals spheres (radius <= 2 Å)
    lo, hi = np.array(m["box"][0]), np.array(m["box"][1])
    pad_lo, pad_hi = xyz.min(axis=0) - lo, hi - xyz.max(axis=0)
    assert np.all((pad_lo > 1.0) & (pad_lo < 2.0)) and np.all((pad_hi > 1.0) & (pad_hi < 2.0)), (
        pad_lo,
        pad_hi,
    )
    return m


# ---------------------------------------------------------------------------- haemoglobin
@pytest.fixture(scope="module")
def hb(browser_context, hb_results, tmp_path_factory):
    results = copy_results(hb_results, tmp_path_factory.mktemp("hb-view") / "results")
    server = served(results)
    viewer = Page(browser_context, server)
    try:
        yield viewer
    finally:
        viewer.close()
        server.workspace.wait_jobs()
        server.shutdown()


def test_page_loads_map_points_and_model(hb, artifacts):
    s = hb.idle()
    ws = hb.server.workspace
    man = read_manifest(ws.root)
    rows = read_clusters_csv(ws.root / "clusters.csv")
    assert s["rows"] == len(rows) and s["order"][:3] == [1, 2, 3]
    assert s["selected"] == 1
    mol = s["molstar"]
    # the map: an isosurface at the results' level on the full 100³ grid
    assert mol["map"]["loaded"] and not mol["map"]["hidden"]
    assert mol["map"]["level"] == pytest.approx(man["level"])
    # the map is cropped to its density; on a software renderer the page asks for a coarser one
    sizes = ws.session()["map"]["display_max_voxels"]
    shown = ws.display_info(sizes[s["quality"]])["display_shape_zyx"]
    assert mol["map"]["grid"] == shown[::-1]  # x, y, z
    assert shown == {"high": [70, 85, 81], "low": [35, 43, 41]}[s["quality"]]
    # the point cloud: one pseudo-atom per placement of fits.csv
    assert mol["points"]["atoms"] == man["n_fits"] == len(read_clusters_csv(ws.root / "fits.csv"))
    # the selected fit's model, its atoms where the transform puts them, and the camera on it
    m = check_model_loaded(hb, 1)
    assert m["selected"] and m["color"] == "#ff7f0e"
    centre = (np.array(m["box"][0]) + np.array(m["box"][1])) / 2
    assert np.linalg.norm(np.array(mol["camera"]["target"]) - centre) < 5.0
    # the table shows the columns of clusters.csv
    assert s["columns"] == [
        "rank",
        "structure",
        "hits",
        "density",
        "overlap",
        "correlation",
        "cam",
        "inside",
        "verdict",
        "z",
        "refined",
        "centre_x",
        "centre_y",
        "centre_z",
    ]
    # offline: every request went to this server
    assert hb.external == []
    assert hb.errors == []
    hb.shot(artifacts / "haemoglobin.png")


def test_sort_by_correlation_and_keyboard(hb):
    rows = {r["rank"]: r for r in read_clusters_csv(hb.server.workspace.root / "clusters.csv")}
    hb.header("correlation").click()
    s = hb.state()
    assert s["sort"] == {"key": "correlation", "dir": -1}
    corr = [rows[r]["correlation"] for r in s["order"]]
    assert corr == sorted(corr, reverse=True)
    # the table on the page is in that order too
    ranks = [
        int(x)
        for x in hb.page.locator("#clusters tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.rank)"
        )
    ]
    assert ranks == s["order"]
    hb.header("correlation").click()
    s = hb.state()
    assert s["sort"]["dir"] == 1 and [rows[r]["correlation"] for r in s["order"]] == sorted(corr)
    hb.header("correlation").click()
    s = hb.state()
    # click a row, then move with the keyboard
    second, third = s["order"][1], s["order"][2]
    hb.row(second).click()
    check_model_loaded(hb, second)
    hb.page.keyboard.press("ArrowDown")
    assert hb.state()["selected"] == third
    check_model_loaded(hb, third)
    hb.page.keyboard.press("ArrowUp")
    hb.page.keyboard.press("ArrowUp")
    s = hb.idle()
    assert s["selected"] == s["order"][0]
    check_model_loaded(hb, s["order"][0])
    # only the selected model stays loaded (no leak while moving)
    assert len(s["molstar"]["models"]) == 1


def test_compare_two_rows(hb, artifacts):
    s = hb.state()
    a, b = s["order"][2], s["order"][3]
    hb.row(a).locator("input[type=checkbox]").click()
    hb.row(b).locator("input[type=checkbox]").click()
    s = hb.idle()
    assert s["compare"] == [a, b]
    models = {m["rank"]: m for m in s["molstar"]["models"]}
    assert set(models) == {s["selected"], a, b}
    assert len({m["color"] for m in models.values()}) == 3
    for r in (a, b):
        check_model_loaded(hb, r)
    # the camera refits to the three models: it looks at the centre of their joint box
    hb.page.wait_for_timeout(600)  # the camera's animation
    s = hb.state()
    boxes = [np.array(m["box"]) for m in s["molstar"]["models"]]
    lo = np.min([b_[0] for b_ in boxes], axis=0)
    hi = np.max([b_[1] for b_ in boxes], axis=0)
    target = np.array(s["molstar"]["camera"]["target"])
    sel = next(np.array(m["box"]) for m in s["molstar"]["models"] if m["selected"])
    d_joint = np.linalg.norm(target - (lo + hi) / 2)
    d_sel = np.linalg.norm(target - sel.mean(axis=0))
    # (measured: 3.1 Å from the joint centre, 13.8 Å from the selection's, box diagonal 98 Å)
    assert d_joint < 0.15 * np.linalg.norm(hi - lo) + 2.0 and d_joint < d_sel
    hb.shot(artifacts / "haemoglobin_compare.png")
    # space toggles the selected row; "Clear compare" unticks all
    hb.page.keyboard.press("Space")
    assert hb.idle()["compare"] == [a, b, s["selected"]]
    hb.page.click("#btn-clear")
    s = hb.idle()
    assert s["compare"] == [] and len(s["molstar"]["models"]) == 1


PROJECT = """([x, y, z]) => {
    const c = difffitViewer.plugin.canvas3d;
    const v = [0, 0, 0, 0];
    c.camera.project(v, [x, y, z]);
    const canvas = c.webgl.gl.canvas;
    const r = canvas.getBoundingClientRect();
    const sx = r.width / canvas.width, sy = r.height / canvas.height;
    return [r.left + v[0] * sx, r.top + r.height - v[1] * sy, r.width, r.height, r.left, r.top];
}"""


def test_click_on_a_point_selects_its_cluster(hb):
    """Clicking a placement in the 3D point cloud selects the cluster it belongs to."""
    ws = hb.server.workspace
    man = read_manifest(ws.root)
    fits = read_clusters_csv(ws.root / "fits.csv")
    centre = np.array(man["structures"][0]["centre_xyz"])
    selected = hb.state()["selected"]
    # through the page's API first
    other = next(f for f in fits if f["cluster_rank"] not in (selected, ""))
    assert hb.page.evaluate(f"difffitViewer.selectFit({other['fit_id']})") == other["cluster_rank"]
    assert hb.idle()["selected"] == other["cluster_rank"]
    # then with the mouse: hide the map, show the whole scene, click the point that lies
    # farthest (on screen) from the loaded model, in another cluster
    hb.page.select_option("#map-style", "hidden")
    hb.page.click("#btn-reset")
    hb.page.wait_for_timeout(500)
    s = hb.idle()
    current = s["selected"]
    m = s["molstar"]["models"][0]
    mc = (np.array(m["box"][0]) + np.array(m["box"][1])) / 2
    mx, my, *_ = hb.page.evaluate(PROJECT, mc.tolist())
    best, best_d = None, -1.0
    for f in fits:
        if f["cluster_rank"] in (current, ""):
            continue
        p = f["transform"].apply(centre[None])[0]
        x, y, w, h, left, top = hb.page.evaluate(PROJECT, p.tolist())
        if not (left + 20 < x < left + w - 20 and top + 20 < y < top + h - 20):
            continue
        d = (x - mx) ** 2 + (y - my) ** 2
        if d > best_d:
            best, best_d, best_xy = f, d, (x, y)
    assert best is not None
    hb.page.mouse.move(*best_xy)
    hb.page.wait_for_timeout(300)
    hb.page.mouse.click(*best_xy)
    hb.page.wait_for_function(f"() => difffitViewer.state().selected === {best['cluster_rank']}")
    check_model_loaded(hb, best["cluster_rank"])
    hb.page.select_option("#map-style", "surface")
    hb.page.wait_for_function("() => !difffitViewer.state().molstar.map.hidden")


def test_model_style(hb):
    rank = hb.state()["selected"]
    hb.page.select_option("#model-style", "ball-and-stick")
    hb.page.wait_for_function(
        "() => { const s = difffitViewer.state(); return s.idle && s.molstar.models.every(m => m.style === 'ball-and-stick'); }"
    )
    m = check_model_loaded(hb, rank)
    assert m["style"] == "ball-and-stick"
    hb.page.select_option("#model-style", "cartoon")
    hb.page.wait_for_function(
        "() => { const s = difffitViewer.state(); return s.idle && s.molstar.models.every(m => m.style === 'cartoon'); }"
    )


def test_level_control_changes_the_isosurface(hb):
    level = hb.state()["level"]
    hb.page.fill("#level", f"{level * 2:.6g}")
    hb.page.press("#level", "Enter")
    hb.page.wait_for_function(
        f"() => Math.abs(difffitViewer.state().molstar.map.level - {level * 2}) < 1e-4"
    )
    hb.page.evaluate(f"difffitViewer.setLevel({level})")
    assert hb.state()["molstar"]["map"]["level"] == pytest.approx(level, rel=1e-5)


def test_save_model(hb):
    ws = hb.server.workspace
    rank = hb.state()["selected"]
    with hb.page.expect_download() as dl:
        hb.page.click("#btn-save")
    name = f"r00_rank_{rank:03d}_5me2_A.cif"
    assert dl.value.suggested_filename == name
    downloaded = Path(dl.value.path()).read_text()
    saved = ws.root / "saved" / name
    assert saved.exists() and saved.read_text() == downloaded
    assert len(cif_atoms(downloaded)) == hb.state()["molstar"]["models"][0]["atoms"]


def test_accept_zero_and_undo(hb, artifacts):
    ws = hb.server.workspace
    level = ws.level
    original = difffit.read_map(read_manifest(ws.root)["map"]["path"])
    hb.page.keyboard.press("Home")  # (no effect: the selection stays)
    rank = hb.state()["selected"]
    hb.page.click("#btn-zero")
    hb.page.wait_for_function("() => difffitViewer.state().molstar.map.version === 1")
    work = ws.root / "round_001" / "working_map.mrc"  # the zeroing completes round 1
    assert work.exists()
    zeroed = difffit.read_map(work)
    n0, n1 = int((original.data > level).sum()), int((zeroed.data > level).sum())
    assert n1 < n0
    s = hb.idle()
    assert s["history"][0]["rank"] == rank and s["history"][0]["n_above_after"] == n1
    assert s["molstar"]["map"]["loaded"] and s["molstar"]["map"]["level"] == pytest.approx(level)
    assert "voxels above the level" in s["status"]
    hb.shot(artifacts / "haemoglobin_zeroed.png")
    hb.page.click("#btn-undo")
    hb.page.wait_for_function("() => difffitViewer.state().molstar.map.version === 2")
    assert not work.exists() and hb.state()["history"] == []
    # zero again: the working map for the next test's fit
    hb.page.click("#btn-zero")
    hb.page.wait_for_function("() => difffitViewer.state().molstar.map.version === 3")
    assert work.exists()


def test_fit_again_into_the_working_map(hb, artifacts):
    ws = hb.server.workspace
    hb.page.click("#fit-again summary")
    hb.page.fill("#fit-rotations", "8")
    hb.page.fill("#fit-positions", "3")
    hb.page.fill("#fit-seed", "2")
    hb.page.click("#btn-fit")
    hb.page.wait_for_function(
        "() => difffitViewer.state().job && difffitViewer.state().job.state !== 'queued'"
    )
    hb.page.wait_for_function(
        "() => { const s = difffitViewer.state(); return s.job && (s.job.state === 'failed' || (s.job.state === 'done' && s.round === 2 && s.idle)); }",
        timeout=600_000,
    )
    s = hb.idle()
    assert s["job"]["state"] == "done", s["job"]["message"]
    # round 1 was the zeroing (no fit of its own): the fit is round 2, into round 1's map
    assert s["rounds"] == [0, 2] and s["round"] == 2
    man = read_manifest(ws.root / "round_002" / "fit")
    assert man["map"]["path"] == str(ws.root / "round_001" / "working_map.mrc")
    assert man["options"]["search"]["n_rotations"] == 8 and man["seed"] == 2
    assert s["rows"] == man["n_clusters"] > 0
    hb.page.wait_for_function(
        "() => difffitViewer.state().molstar.points && difffitViewer.state().molstar.points.round === 2"
    )
    assert hb.state()["molstar"]["points"]["atoms"] == 8 * 3
    check_model_loaded(hb, s["selected"], round_id=2)
    hb.shot(artifacts / "haemoglobin_round1.png")


def test_requests_without_token_are_refused(hb):
    port = hb.server.port
    r = hb.page.request.get(f"http://127.0.0.1:{port}/api/session")
    assert r.status == 403
    r = hb.page.request.post(
        f"http://127.0.0.1:{port}/api/undo", data="{}", headers={"Content-Type": "application/json"}
    )
    assert r.status == 403
    other = hb.page.context.new_page()
    try:
        resp = other.goto(f"http://127.0.0.1:{port}/")
        assert resp.status == 403
        resp = other.goto(f"http://localhost:{port}/?token=wrong-token-wrong-token")
        assert resp.status == 403
    finally:
        other.close()
    # and with the token from outside the browser
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/session?token={hb.server.token}"
    ) as r:
        assert r.status == 200


# ---------------------------------------------------------------------------- DomainFit demo
def test_domainfit_demo(browser_context, domainfit_results, tmp_path, artifacts):
    results = copy_results(domainfit_results, tmp_path / "results")
    server = served(results)
    viewer = Page(browser_context, server)
    try:
        s = viewer.idle()
        assert viewer.external == [] and viewer.errors == []
        rows = read_clusters_csv(results / "clusters.csv")
        assert s["rows"] == len(rows)
        mol = s["molstar"]
        assert mol["points"]["atoms"] == 3 * 12 * 4
        check_model_loaded(viewer, 1)
        viewer.shot(artifacts / "domainfit.png")
        # compare the best cluster of each of the other two domains with the selection
        viewer.header("correlation").click()
        s = viewer.state()
        first = {r["rank"]: r["structure"] for r in rows}
        picks, seen = [], {first[s["selected"]]}
        for rank in s["order"]:
            if first[rank] not in seen:
                picks.append(rank)
                seen.add(first[rank])
        for rank in picks:
            viewer.row(rank).locator("input[type=checkbox]").click()
        s = viewer.idle()
        assert s["compare"] == picks and len(picks) == 2
        loaded = {m["rank"]: m for m in s["molstar"]["models"]}
        assert set(loaded) == {s["selected"], *picks}
        assert len({m["color"] for m in loaded.values()}) == 3
        for rank in picks:
            check_model_loaded(viewer, rank)
        viewer.shot(artifacts / "domainfit_compare.png")
    finally:
        viewer.close()
        server.shutdown()


# ---------------------------------------------------------------------------- a 220³ map
@pytest.fixture(scope="module")
def hcn4_results(tmp_path_factory):
    """HCN4 chain A in the 220³ EMD-0093 map (a tiny search: only the map's size matters)."""
    m = data_path("mainmastseg_emd0093_hcn4", "MAP_m4A.mrc.gz")
    s = data_path("mainmastseg_emd0093_hcn4", "6gyn.pdb")
    st = difffit.read_structure(s, chains=["A"])
    d = tmp_path_factory.mktemp("viewer-hcn4")
    return make_results(d / "results", m, [st], small_config(3.4, n_rotations=10, n_positions=4))


def test_large_map_load_time(browser_context, hcn4_results, artifacts):
    """Page load for a 220³ map (cropped to its density, 111 x 111 x 94, and halved on a
    software renderer); the times are written, not asserted.

    "ready" is the page's own clock (``performance.now()``, from the start of the navigation)
    when the map, the selected model and the point cloud have been drawn."""
    t0 = time.perf_counter()
    ws = Workspace(hcn4_results)
    ws.prepare_display()
    prepare_s = time.perf_counter() - t0
    info = ws.display_info()
    assert info["shape_zyx"] == [220, 220, 220]
    # cropped to the density (+5 Å): 94 x 111 x 111 voxels, at full resolution; halved on a
    # software renderer
    assert info["display_cropped_zyx"] == [94, 111, 111]
    assert info["display_shape_zyx"] == [94, 111, 111] and info["display_factor"] == 1
    low = ws.display_info(ws.display_max_voxels_software)
    assert low["display_shape_zyx"] == [47, 56, 56] and low["display_factor"] == 2
    server = ViewerServer(ws).start()
    loads, timings = [], []
    try:
        for i in range(3):
            viewer = Page(browser_context, server)
            s = viewer.idle()
            loads.append(viewer.load_s)
            timings.append(s["timings"])
            want = {"high": [111, 111, 94], "low": [56, 56, 47]}[s["quality"]]
            assert s["molstar"]["map"]["grid"] == want
            assert viewer.external == []
            if i == 0:
                check_model_loaded(viewer, 1)
                viewer.shot(artifacts / "hcn4.png")
            viewer.close()
    finally:
        server.shutdown()
    report = {
        "map": "EMD-0093 HCN4 MAP_m4A.mrc.gz, 220^3 voxels, cropped to its density: 111x111x94, "
        "shown at 56x56x47 on a software renderer",
        "server_prepare_s": round(prepare_s, 3),
        "page_ready_s": [t["ready"] / 1000 for t in timings],
        "page_ready_median_s": statistics.median(t["ready"] for t in timings) / 1000,
        "playwright_goto_to_ready_s": [round(x, 3) for x in loads],
        "page_timings_ms": timings,
        "renderer": s.get("renderer"),
        "quality": s.get("quality"),
    }
    (artifacts / "load_times.json").write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"\nHCN4 220³ page ready: median {report['page_ready_median_s']} s of {report['page_ready_s']}"
    )


# ---------------------------------------------------------------------------- symmetry mates
def test_symmetric_fit_shows_the_mates_of_the_selection(browser_context, tmp_path, artifacts):
    """A fit --symmetry of a synthetic C3 trimer: the selected cluster's two mates are shown."""
    from difffit.io.maps import write_map
    from difffit.io.structures import write_structure
    from tests.test_symmetry_use import assembly_case

    density, mono, _, _ = assembly_case("C3", 3)
    mp, sp = tmp_path / "c3.mrc", tmp_path / "mono.pdb"
    write_map(density, mp)
    write_structure(mono, sp)
    from difffit.cli import main

    out = tmp_path / "fit"
    assert main(["fit", str(mp), str(sp), "--symmetry", "auto", "--resolution", "6",
                 "--rotations", "20", "--positions", "6", "--oversample", "2", "--screen-steps",
                 "20", "--steps", "80", "--refine", "3", "--seed", "2", "-q", "--models", "1",
                 "--out", str(out)]) == 0  # fmt: skip
    server = served(out)
    viewer = Page(browser_context, server)
    try:
        s = viewer.idle()
        assert viewer.errors == [] and s["selected"] == 1
        mates = s["molstar"]["mates"]
        text, _ = server.workspace.mates_cif(0, 1)
        assert mates is not None and mates["key"] and mates["atoms"] == len(cif_atoms(text))
        assert mates["atoms"] == 2 * len(mono)
        assert viewer.header("copies").count() == 1 and viewer.header("mate_clash").count() == 1
        viewer.shot(artifacts / "symmetry_mates.png")
    finally:
        viewer.close()
        server.shutdown()
