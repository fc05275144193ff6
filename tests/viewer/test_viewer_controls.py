"""The page's controls that the haemoglobin walk-through does not use, in headless Chromium on
synthetic results (no data files): the point-cloud metric menu and legend, the "shown" box, the
level slider, the round menu and the status line of a failed action."""

from __future__ import annotations

import json

import pytest

from tests.viewer.conftest import copy_results
from tests.viewer.test_viewer_browser import IDLE, Page, served

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def toy(browser_context, synthetic_results, tmp_path_factory):
    results = copy_results(synthetic_results, tmp_path_factory.mktemp("toy-view") / "results")
    server = served(results)
    viewer = Page(browser_context, server)
    try:
        yield viewer
    finally:
        viewer.close()
        server.shutdown()


def text(viewer: Page, selector: str) -> str:
    return viewer.page.locator(selector).text_content()


def test_panel_shows_the_session(toy):
    s = toy.idle()
    ws = toy.server.workspace
    session = ws.session()
    assert text(toy, "#results-dir") == session["results_dir"]
    options = toy.page.locator("#round option")
    assert options.count() == 1
    assert options.first.text_content() == f"{session['rounds'][0]['label']} ({s['rows']} clusters)"
    nx, ny, nz = session["map"]["shape_zyx"][::-1]
    assert text(toy, "#working").startswith(
        f"working map: the original map · {nx}×{ny}×{nz} voxels"
    )
    assert toy.page.locator("#metric").input_value() == "score"
    metrics = toy.page.locator("#metric option").all_text_contents()
    assert metrics == session["point_metrics"]


def test_metric_menu_recolours_the_points_and_the_legend(toy):
    ws = toy.server.workspace
    s = toy.idle()
    assert s["molstar"]["points"]["metric"] == "score"
    assert toy.page.locator("#legend").is_visible()
    assert text(toy, "#legend-title") == "fits by score"
    toy.page.select_option("#metric", "density")
    toy.page.wait_for_function(
        "() => { const p = difffitViewer.state().molstar.points; return p && p.metric === 'density'; }"
    )
    info = ws.points(0, "density")
    s = toy.state()
    assert s["molstar"]["points"]["n"] == info["n"] == s["molstar"]["points"]["atoms"]
    assert text(toy, "#legend-title") == "fits by density"
    lo, hi = text(toy, "#legend-min"), text(toy, "#legend-max")
    assert lo.startswith("≤ ")
    # density to 4 significant digits
    assert float(lo[2:]) == pytest.approx(info["min"], rel=1e-3)
    assert float(hi) == pytest.approx(info["max"], rel=1e-3)


def test_shown_box_hides_and_shows_the_points_and_legend(toy):
    toy.idle()
    toy.page.locator("#show-points").uncheck()
    toy.page.wait_for_function("() => difffitViewer.state().molstar.points.hidden")
    assert not toy.page.locator("#legend").is_visible()
    toy.page.locator("#show-points").check()
    toy.page.wait_for_function("() => !difffitViewer.state().molstar.points.hidden")
    assert toy.page.locator("#legend").is_visible()


def test_level_slider_sets_the_box_and_the_map(toy):
    toy.idle()
    lo = float(toy.page.locator("#level-range").get_attribute("min"))
    hi = float(toy.page.locator("#level-range").get_attribute("max"))
    level = lo + 0.37 * (hi - lo)
    toy.page.evaluate(
        """(v) => { const r = document.getElementById('level-range');
                    r.value = v; r.dispatchEvent(new Event('input')); }""",
        level,
    )
    toy.page.wait_for_function(
        "(v) => Math.abs(difffitViewer.state().molstar.map.level - v) < 1e-3 * Math.abs(v) + 1e-9",
        arg=float(toy.page.locator("#level-range").input_value()),
    )
    shown = float(toy.page.locator("#level").input_value())
    assert shown == pytest.approx(toy.state()["level"], rel=1e-4)


def test_a_failed_action_says_why_on_the_status_line(toy):
    toy.page.wait_for_function(IDLE)
    toy.page.route(
        "**/api/save",
        lambda route: route.fulfill(
            status=400,
            content_type="application/json",
            body=json.dumps({"error": "the disk is full (test)"}),
        ),
    )
    try:
        toy.page.click("#btn-save")
        toy.page.wait_for_function(
            "() => difffitViewer.state().status === 'the disk is full (test)'"
        )
        assert "error" in (toy.page.locator("#status").get_attribute("class") or "")
        assert toy.state()["log"][-1] == "error: the disk is full (test)"
    finally:
        toy.page.unroute("**/api/save")
    assert toy.errors == []
