"""``difffit report``: one self-contained HTML page per fit, composite and screen folder
(synthetic data, no ../shared), rendered in headless Chromium from a file:// URL."""

from __future__ import annotations

import re

import pytest

from difffit.cli import main
from tests.viewer.conftest import copy_results

KINDS = ("fit", "composite", "screen")


@pytest.fixture
def folders(synthetic_results, composite_run, screen_results, tmp_path):
    return {
        "fit": copy_results(synthetic_results, tmp_path / "fit"),
        "composite": copy_results(composite_run, tmp_path / "composite"),
        "screen": copy_results(screen_results, tmp_path / "screen"),
    }


def _page(folder, capsys):
    assert main(["report", str(folder)]) == 0
    assert "report.html" in capsys.readouterr().out
    return (folder / "report.html").read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_report_is_self_contained(kind, folders, capsys):
    text = _page(folders[kind], capsys)
    assert f'data-kind="{kind}"' in text
    # nothing to fetch: no scripts, links, images or URLs
    assert not re.search(r"<(script|link|img|iframe)\b", text)
    assert not re.search(r"(src|href)=", text) and "http" not in text.replace("http-equiv", "")
    # score distribution, hits, z (a composite has no z; the 4-candidate screen no null)
    assert text.count('class="plot"') == {"fit": 3, "composite": 2, "screen": 2}[kind]
    assert ("z by rank" in text) == (kind != "composite")
    assert "<polyline" in text and 'class="map"' in text and "toy.mrc" in text


def test_report_of_a_folder_that_is_none(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a difffit fit, composite or screen folder" in err[0]


@pytest.mark.browser
def test_report_pages_render_in_chromium(browser_context, folders, capsys, artifacts):
    page = browser_context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        for kind in KINDS:
            folder = folders[kind]
            _page(folder, capsys)
            url = (folder / "report.html").as_uri()
            requests.clear()
            page.goto(url)
            assert requests == [url]  # the page alone: nothing else is loaded
            rows = page.locator("table").first.locator("tbody tr").count()
            assert rows >= 1
            box = page.locator("svg.view3d").bounding_box()
            assert box and box["width"] > 400 and box["height"] > 300
            n_traces = page.locator("svg.view3d polyline").count()
            assert n_traces >= 1
            page.screenshot(path=str(artifacts / f"report_{kind}.png"), full_page=True)
        assert errors == []
    finally:
        page.close()
