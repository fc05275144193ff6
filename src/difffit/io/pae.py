"""Reading predicted aligned error (PAE) files of AlphaFold models.

Layouts read (JSON, optionally ``.json.gz``):

- AlphaFold DB, current: ``[{"predicted_aligned_error": [[...], ...],
  "max_predicted_aligned_error": 31.75}]``, or the same dict bare;
- AlphaFold DB, old: ``[{"residue1": [1, 1, ...], "residue2": [1, 2, ...],
  "distance": [...], "max_predicted_aligned_error": ...}]`` (1-based residue indices, one entry
  per pair);
- ColabFold / AlphaFold 3 style: a dict with a ``"pae"`` matrix.

The matrix is returned as an ``(m, m)`` float64 array in Å, row i = the aligned residue i, in the
order of the model's residues. Checking it against a structure's residues is
:func:`difffit.domains.split_domains`'s job.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np

from difffit.errors import StructureError

__all__ = ["pae_from_json", "read_pae"]


def read_pae(path: str | os.PathLike[str]) -> np.ndarray:
    """The PAE matrix ``(m, m)`` (Å) of a PAE JSON file (see the module docstring).

    Raises
    ------
    StructureError
        Missing file, not JSON, or no PAE matrix in a known layout.
    """
    path = Path(path)
    if not path.exists():
        raise StructureError(f"{path}: no such PAE file")
    if path.is_dir():
        raise StructureError(f"{path}: is a folder, not a PAE file")
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rt") as fh:
                doc = json.load(fh)
        else:
            with path.open() as fh:
                doc = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StructureError(f"{path}: not a JSON PAE file ({exc})") from None
    try:
        return pae_from_json(doc)
    except StructureError as exc:
        raise StructureError(f"{path}: {exc}") from None


def pae_from_json(doc) -> np.ndarray:
    """The PAE matrix of an already parsed PAE JSON document."""
    if isinstance(doc, list):
        if len(doc) != 1 or not isinstance(doc[0], dict):
            raise StructureError(
                f"a list of {len(doc)} entries: expected one dict with the PAE of one model"
            )
        doc = doc[0]
    if not isinstance(doc, dict):
        raise StructureError("no PAE: expected a JSON object or a list holding one")
    for key in ("predicted_aligned_error", "pae"):
        if key in doc:
            return _check_matrix(_as_matrix(doc[key], key))
    if {"residue1", "residue2", "distance"} <= set(doc):
        return _check_matrix(_from_pairs(doc["residue1"], doc["residue2"], doc["distance"]))
    keys = ", ".join(sorted(map(str, doc))[:6]) or "none"
    raise StructureError(
        f"no PAE matrix (keys: {keys}); expected 'predicted_aligned_error', 'pae', or "
        "'residue1'/'residue2'/'distance'"
    )


def _as_matrix(value, key: str) -> np.ndarray:
    try:
        mat = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise StructureError(f"'{key}' is not a matrix of numbers") from None
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or mat.shape[0] == 0:
        raise StructureError(f"'{key}' has shape {mat.shape}: expected a square matrix")
    return mat


def _from_pairs(res1, res2, dist) -> np.ndarray:
    try:
        i = np.asarray(res1, dtype=np.int64)
        j = np.asarray(res2, dtype=np.int64)
        d = np.asarray(dist, dtype=np.float64)
    except (TypeError, ValueError):
        raise StructureError("'residue1', 'residue2' and 'distance' must be numbers") from None
    if not (i.ndim == j.ndim == d.ndim == 1 and len(i) == len(j) == len(d)):
        raise StructureError(
            f"'residue1', 'residue2' and 'distance' have {len(i)}, {len(j)}, {len(d)} entries: "
            "expected the same number"
        )
    m = int(round(np.sqrt(len(d))))
    if m == 0 or m * m != len(d):
        raise StructureError(f"{len(d)} PAE entries is not the square of a residue count")
    if i.min() < 1 or j.min() < 1 or i.max() > m or j.max() > m:
        raise StructureError(f"residue indices outside 1-{m} in 'residue1'/'residue2'")
    mat = np.full((m, m), np.nan)
    mat[i - 1, j - 1] = d
    if np.isnan(mat).any():
        raise StructureError("'residue1'/'residue2' do not cover every pair of residues")
    return mat


def _check_matrix(mat: np.ndarray) -> np.ndarray:
    if not np.isfinite(mat).all():
        raise StructureError("the PAE matrix has non-finite values")
    if (mat < 0).any():
        raise StructureError("the PAE matrix has negative values")
    return mat
