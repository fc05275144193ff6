"""The viewer over a ``composite --flexible`` run: the placed cluster's model is the refined one,
with each residue's shift in the B column, and the page colours it by shift."""

from __future__ import annotations

import numpy as np
import pytest

from difffit.io.composite import attach_refined, read_placements, read_refined
from difffit.viewer import ViewerServer, Workspace
from tests.viewer.conftest import copy_results
from tests.viewer.test_viewer_browser import Page, cif_atoms


def _refined(root):
    (p,) = attach_refined(read_placements(root / "placements.csv"), read_refined(root))
    assert p.refined is not None
    return p


def test_workspace_serves_the_refined_model_with_shifts(flexible_run, tmp_path):
    import gemmi

    root = copy_results(flexible_run, tmp_path / "run")
    ws = Workspace(root)
    p = _refined(root)
    text, name = ws.model_cif(p.round, p.rank)
    assert name.endswith("_flexible.cif")
    st = gemmi.make_structure_from_block(gemmi.cif.read_string(text).sole_block())
    b = {(ch.name, r.seqid.num): r[0].b_iso for ch in st[0] for r in ch}
    want = {(c, n): s for (c, n, _), s in zip(p.refined.residues, p.refined.shifts, strict=True)}
    assert b.keys() == want.keys()
    np.testing.assert_allclose([b[k] for k in want], list(want.values()), atol=0.01)
    structure = ws._run.structure(p.structure)
    np.testing.assert_allclose(cif_atoms(text), p.coords(structure), atol=1e-3)
    assert ws.shift_max(p.round, p.rank) == pytest.approx(float(p.refined.shifts.max()))
    other = next(h.rank for h in ws.round(p.round).result.clusters if h.rank != p.rank)
    assert ws.shift_max(p.round, other) is None


def test_page_colours_the_refined_model_by_shift(browser_context, flexible_run, tmp_path):
    root = copy_results(flexible_run, tmp_path / "run")
    server = ViewerServer(Workspace(root)).start()
    viewer = Page(browser_context, server)
    try:
        p = _refined(root)
        s = viewer.idle()
        models = [
            m for m in s["molstar"]["models"] if m["round"] == p.round and m["rank"] == p.rank
        ]
        assert len(models) == 1, s["molstar"]["models"]
        m = models[0]
        assert m["coloring"] == "shift"
        assert m["shiftMax"] == pytest.approx(float(p.refined.shifts.max()), abs=1e-3)
        assert viewer.errors == []
    finally:
        viewer.close()
        server.shutdown()
