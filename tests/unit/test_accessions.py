"""Accessions, mirrors and EMDB headers: pure parsing, no network."""

from __future__ import annotations

import pytest

from difffit.errors import ConfigError, FetchError
from difffit.io.fetch import (
    MIRRORS,
    Accession,
    emdb_header,
    parse_accession,
    remote_files,
    resolve_mirror,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("emdb:3488", [Accession("emdb", "3488")]),
        ("EMDB:EMD-3488", [Accession("emdb", "3488")]),
        ("emd:11007", [Accession("emdb", "11007")]),
        ("pdb:5ME2", [Accession("pdb", "5me2")]),
        ("afdb:q99j21", [Accession("afdb", "Q99J21")]),
        ("uniprot:Q99J21, P69905", [Accession("afdb", "Q99J21"), Accession("afdb", "P69905")]),
    ],
)
def test_parse(text, expected):
    assert parse_accession(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [("5me2.pdb", "not an accession"), ("emdb:34", "4-6 digits"), ("pdb:me2x", "PDB ID"),
     ("uniprot:", "not an accession"), ("uniprot:,", "at least one"), ("afdb:Q9-1", "UniProt")],
)  # fmt: skip
def test_parse_errors_are_one_line(text, match):
    with pytest.raises(ConfigError, match=match) as exc:
        parse_accession(text)
    assert "\n" not in str(exc.value)


def test_layouts():
    assert remote_files(Accession("emdb", "3488")) == {
        "map": "structures/EMD-3488/map/emd_3488.map.gz",
        "header": "structures/EMD-3488/header/emd-3488.xml",
    }
    assert remote_files(Accession("pdb", "5me2")) == {
        "model": "data/structures/divided/mmCIF/me/5me2.cif.gz"
    }
    assert set(remote_files(Accession("afdb", "Q99J21"))) == {"model", "pae"}


@pytest.mark.parametrize(
    ("spec", "db", "expected"),
    [
        (None, "pdb", MIRRORS["pdb"]["rcsb"]),
        ("pdbj", "pdb", MIRRORS["pdb"]["pdbj"]),
        ("pdbj", "emdb", MIRRORS["emdb"]["pdbj"]),
        ("rcsb", "afdb", MIRRORS["afdb"]["ebi"]),
        ("http://x.org/m/", "emdb", "http://x.org/m"),
        ("emdb=http://e,pdb=http://p", "pdb", "http://p"),
        ("emdb=http://e", "pdb", MIRRORS["pdb"]["rcsb"]),
    ],
)
def test_mirrors(spec, db, expected, monkeypatch):
    monkeypatch.delenv("DIFFFIT_MIRROR", raising=False)
    assert resolve_mirror(spec, db) == expected


def test_mirror_from_environment_and_bad_specs(monkeypatch):
    monkeypatch.setenv("DIFFFIT_MIRROR", "pdbe")
    assert resolve_mirror(None, "pdb") == MIRRORS["pdb"]["pdbe"]
    with pytest.raises(ConfigError, match="unknown archive"):
        resolve_mirror("sasbdb=http://x", "pdb")
    with pytest.raises(ConfigError, match="give a URL"):
        resolve_mirror("ftp.example.org", "pdb")


def test_emdb_headers_old_and_new(tmp_path):
    v3 = tmp_path / "v3.xml"
    v3.write_text(
        "<emd><map><contour_list><contour primary='false'><level>9</level></contour>"
        "<contour primary='true'><level>0.25</level></contour></contour_list></map>"
        "<x><resolution res_type='BY AUTHOR'>3.4</resolution></x></emd>"
    )
    assert emdb_header(v3) == {"level": 0.25, "resolution": 3.4}
    old = tmp_path / "old.xml"
    old.write_text(
        "<emdEntry><map><contourLevel source='author'>1.5</contourLevel></map>"
        "<processing><reconstruction><resolutionByAuthor>7</resolutionByAuthor></reconstruction>"
        "</processing></emdEntry>"
    )
    assert emdb_header(old) == {"level": 1.5, "resolution": 7.0}
    bad = tmp_path / "bad.xml"
    bad.write_text("<emd><map>")
    with pytest.raises(FetchError, match="not a readable EMDB header"):
        emdb_header(bad)
