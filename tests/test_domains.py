"""Known-answer domain splits on real structures, and the ``difffit domains`` command."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from difffit.cli import main
from difffit.domains import DomainMethod, domain_labels, split_domains
from difffit.io import read_structure
from tests.conftest import data_path

#: The textbook domains of adenylate kinase (E. coli, 214 residues).
ADK_TEXTBOOK = {"CORE": "1-29+60-121+160-214", "LID": "122-159", "NMP": "30-59"}


def adk_agreement(residue_labels: np.ndarray) -> float:
    """Fraction of the 214 residues in the domain matched to their textbook domain (one to one,
    the matching that maximises the overlap)."""
    truth = np.zeros(214, dtype=int)
    truth[121:159] = 1  # LID
    truth[29:59] = 2  # NMP
    found = sorted(set(residue_labels.tolist()) - {-1})
    overlap = np.array(
        [[np.sum((residue_labels == k) & (truth == t)) for t in range(3)] for k in found]
    )
    rows, cols = linear_sum_assignment(-overlap)
    return float(overlap[rows, cols].sum() / 214)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("state", "least"),
    # measured with the default DomainConfig: open 0.953, closed 0.888 (see docs/domains.md)
    [("open", 0.95), ("closed", 0.88)],
)
def test_adk_splits_into_core_lid_nmp(state, least):
    st = read_structure(data_path("mdanalysis_adk", f"adk_{state}.pdb"))
    split = split_domains(st)
    assert split.method is DomainMethod.CONTACTS
    assert not split.alphafold.is_alphafold
    assert split.n_domains == 3 and split.n_unassigned == 0
    assert adk_agreement(split.residue_labels) >= least
    lid = [d for d in split.domains if d.ranges.startswith("12")]
    assert len(lid) == 1 and lid[0].n_residues >= 30  # LID 122-159 found in both states
    textbook = split_domains(st, domains=",".join(ADK_TEXTBOOK.values()))
    assert adk_agreement(textbook.residue_labels) == 1.0


@pytest.mark.realdata
def test_alphafold_model_low_plddt_left_out():
    # RNA helicase: two RecA-like domains; termini and loops below pLDDT 70
    st = read_structure(data_path("domainfit_tardigrade_decoys", "A0A1D1UDR6.pdb.gz"))
    split = split_domains(st)
    assert split.alphafold.is_alphafold and "ALPHAFOLD" in split.alphafold.reason
    plddt = split.residues.b_mean
    assert split.plddt_filtered == int((plddt < 70).sum()) > 50
    assert (split.residue_labels[plddt < 70] == -1).all()
    assert (split.residue_labels[plddt >= 70] >= 0).mean() > 0.95
    assert split.n_domains == 2
    first, second = split.domains
    assert first.segments[-1].end < 300 < second.segments[0].start  # the cut at ~297-301
    labels = domain_labels(st, split)
    assert labels.shape == (len(st),) and labels.dtype == np.int64
    assert set(np.unique(labels)) == {-1, 0, 1}


def test_help():
    with pytest.raises(SystemExit) as exc:
        main(["domains", "--help"])
    assert exc.value.code == 0


@pytest.mark.realdata
def test_cli_adk_by_hand_and_automatic(tmp_path, capsys):
    pdb = data_path("mdanalysis_adk", "adk_open.pdb")
    out = tmp_path / "hand"
    spec = ",".join(ADK_TEXTBOOK.values())
    assert main(["domains", str(pdb), "--out", str(out), "--domains", spec]) == 0
    rows = list(csv.DictReader((out / "domains.csv").read_text().splitlines()))
    assert [r["ranges"] for r in rows] == list(ADK_TEXTBOOK.values())
    assert [int(r["residues"]) for r in rows] == [146, 38, 30]
    core = read_structure(out / rows[0]["file"])
    assert core.n_residues == 146 and set(core.elements) == {"C", "N", "O", "S"}
    res = list(csv.DictReader((out / "residues.csv").read_text().splitlines()))
    assert len(res) == 214 and res[121]["domain"] == "1"
    assert main(["domains", str(pdb), "--out", str(tmp_path / "auto"), "--format", "pdb"]) == 0
    text = capsys.readouterr().out
    assert "not an AlphaFold model" in text and "3 domains (CA contact graph)" in text
    assert len(list((tmp_path / "auto").glob("adk_open_domain*.pdb"))) == 3


@pytest.mark.realdata
def test_cli_alphafold_with_pae(tmp_path, capsys):
    pdb = data_path("domainfit_tardigrade_decoys", "A0A1D1V8F2.pdb.gz")  # 153 residues
    st = read_structure(pdb)
    m = st.n_residues
    pae = np.full((m, m), 25.0)
    pae[:80, :80] = 3.0
    pae[80:, 80:] = 3.0
    pae_path = tmp_path / "pae.json"
    pae_path.write_text(json.dumps([{"predicted_aligned_error": pae.round(2).tolist()}]))
    out = tmp_path / "out"
    assert main(["domains", str(pdb), "--out", str(out), "--pae", str(pae_path)]) == 0
    text = capsys.readouterr().out
    assert "AlphaFold model" in text and "2 domains (PAE graph)" in text
    rows = list(csv.DictReader((out / "domains.csv").read_text().splitlines()))
    assert [r["ranges"] for r in rows] == ["A:1-80", f"A:81-{m}"]
    assert float(rows[0]["mean_plddt"]) > 0


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--domains", "1-150,151-300"],
            "'151-300' is outside the chain of adk_open (residues 1-214)",
        ),
        (["--pae", "PAE"], "the PAE matrix is 10×10 but adk_open has 214 polymer residues"),
        (["--min-domain", "120"], "too short to split into domains (214 residues"),
        (["--domains", "1-100", "--pae", "PAE"], "not allowed with argument"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, extra, message):
    pdb = data_path("mdanalysis_adk", "adk_open.pdb")
    pae_path = tmp_path / "pae.json"
    pae_path.write_text(json.dumps({"pae": np.zeros((10, 10)).tolist()}))
    extra = [str(pae_path) if x == "PAE" else x for x in extra]
    try:
        code = main(["domains", str(pdb), "--out", str(tmp_path / "o"), *extra])
    except SystemExit as exc:  # argparse: mutually exclusive options
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    if "not allowed" not in message:
        assert len(err) == 1 and err[0].startswith("difffit: error: ")
