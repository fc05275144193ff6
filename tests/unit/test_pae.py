"""PAE files: the three JSON layouts and clear errors on anything else."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from difffit.errors import StructureError
from difffit.io.pae import pae_from_json, read_pae

MAT = np.array([[0.0, 1.5, 20.0], [2.5, 0.0, 19.0], [21.0, 18.0, 0.0]])


def _pairs(mat):
    m = len(mat)
    i, j = np.meshgrid(np.arange(1, m + 1), np.arange(1, m + 1), indexing="ij")
    return {
        "residue1": i.ravel().tolist(),
        "residue2": j.ravel().tolist(),
        "distance": mat.ravel().tolist(),
        "max_predicted_aligned_error": 31.75,
    }


@pytest.mark.parametrize(
    "doc",
    [
        [{"predicted_aligned_error": MAT.tolist(), "max_predicted_aligned_error": 31.75}],
        {"predicted_aligned_error": MAT.tolist()},
        {"pae": MAT.tolist(), "plddt": [90, 90, 90]},
        [_pairs(MAT)],
    ],
    ids=["afdb-list", "afdb-dict", "colabfold", "afdb-old-pairs"],
)
def test_layouts_give_the_matrix(doc, tmp_path):
    assert np.array_equal(pae_from_json(doc), MAT)
    path = tmp_path / "pae.json"
    path.write_text(json.dumps(doc))
    assert np.array_equal(read_pae(path), MAT)


def test_gzip_and_pairs_in_any_order(tmp_path):
    doc = _pairs(MAT)
    order = np.random.default_rng(0).permutation(9)
    doc = {k: (np.array(v)[order].tolist() if isinstance(v, list) else v) for k, v in doc.items()}
    path = tmp_path / "pae.json.gz"
    path.write_bytes(gzip.compress(json.dumps([doc]).encode()))
    assert np.array_equal(read_pae(path), MAT)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"predicted_aligned_error": [[1, 2, 3]]}, "square"),
        ({"plddt": [1, 2]}, "no PAE matrix"),
        ([{"pae": [[0]]}, {"pae": [[0]]}], "list of 2"),
        ({"residue1": [1, 1, 2], "residue2": [1, 2, 1], "distance": [0, 1, 2]}, "square of"),
        ({"residue1": [1, 1], "residue2": [1], "distance": [0, 1]}, "same number"),
        ({"residue1": [1, 1, 1, 1], "residue2": [1, 1, 2, 2], "distance": [0, 1, 2, 3]}, "cover"),
        ({"pae": [[0, -1], [1, 0]]}, "negative"),
        ({"pae": [["a", 1], [1, 0]]}, "numbers"),
        ("text", "JSON object"),
    ],
)
def test_bad_documents(doc, match):
    with pytest.raises(StructureError, match=match):
        pae_from_json(doc)


def test_bad_files(tmp_path):
    with pytest.raises(StructureError, match="no such PAE file"):
        read_pae(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StructureError, match=r"bad\.json: not a JSON PAE file"):
        read_pae(bad)
    odd = tmp_path / "odd.json"
    odd.write_text('{"x": 1}')
    with pytest.raises(StructureError, match=r"odd\.json: no PAE matrix"):
        read_pae(odd)
