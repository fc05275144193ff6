"""MolViewSpec views (``view.mvsj``) of fit, composite and screen results (issue #14): written
with the molviewspec package, valid by its own schema, paths relative to the folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from difffit.cli import main
from difffit.io import write_map, write_structure
from tests.screen_cases import FAST_ARGS, make_library
from tests.synthetic import planted_case, protein_like

mvs = pytest.importorskip("molviewspec")


def _downloads(node):
    """(url, parse format) of every download node of an MVS tree."""
    out = []
    if node.get("kind") == "download":
        fmt = node["children"][0]["params"]["format"]
        out.append((node["params"]["url"], fmt))
    for c in node.get("children", []):
        out += _downloads(c)
    return out


def _check_view(folder: Path, n_models: int, level: float) -> list[tuple[str, str]]:
    text = (folder / "view.mvsj").read_text()
    state = mvs.State.model_validate_json(text)  # the package's own schema
    mvs.validate_state_tree(text)  # the tree: node kinds, their params (raises)
    assert state.root.kind == "root"
    tree = json.loads(text)
    got = _downloads(tree["root"])
    maps = [u for u, f in got if f == "map"]
    models = [u for u, f in got if f in ("mmcif", "pdb")]
    assert len(maps) == 1 and len(models) == n_models
    for u, _ in got:  # relative, and each names a file that is there
        assert not Path(u).is_absolute() and (folder / u).resolve().is_file(), u
    iso = [n for n in _walk(tree["root"]) if n.get("kind") == "volume_representation"]
    assert iso and iso[0]["params"]["absolute_isovalue"] == pytest.approx(level)
    return got


def _walk(node):
    yield node
    for c in node.get("children", []):
        yield from _walk(c)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("mvs")
    rng = np.random.default_rng(3)
    st = protein_like(50, rng, name="toy")
    density, _ = planted_case(st, rng, resolution=5.0)
    return d, write_map(density, d / "toy.mrc"), write_structure(st, d / "toy.pdb")


FAST = ["--rotations", "30", "--positions", "4", "--oversample", "4", "--resolution", "5", "-q"]


def test_fit_view(toy, tmp_path):
    d, mp, sp = toy
    out = tmp_path / "fit"
    assert main(["fit", str(mp), str(sp), "--out", str(out), "--seed", "1", "--models", "3",
                 *FAST]) == 0  # fmt: skip
    man = json.loads((out / "manifest.json").read_text())
    assert man["files"]["molviewspec"] == "view.mvsj"
    got = _check_view(out, 3, man["level"])
    assert got[1] == ("models/" + Path(man["models"][0]["cif"]).name, "mmcif")
    # a copied folder still names its models (the map, outside, by a relative path)
    text = (out / "view.mvsj").read_text()
    assert str(tmp_path) not in text


def test_composite_view(toy, tmp_path):
    d, mp, sp = toy
    out = tmp_path / "comp"
    assert main(["composite", str(mp), str(sp), "--out", str(out), "--seed", "1",
                 "--max-rounds", "1", *FAST]) == 0  # fmt: skip
    man = json.loads((out / "composite.json").read_text())
    got = _check_view(out, 1, man["level"])
    assert got[1] == ("assembly.cif", "mmcif")


def test_screen_view(tmp_path):
    mp, lib = make_library(tmp_path / "case")
    out = tmp_path / "screen"
    assert main(["screen", str(mp), str(lib), "--out", str(out), "--seed", "1", "--models", "2",
                 "-q", "--no-plot", *FAST_ARGS]) == 0  # fmt: skip
    man = json.loads((out / "screen.json").read_text())
    assert man["files"]["molviewspec"] == "view.mvsj"
    _check_view(out, 2, man["level"])
