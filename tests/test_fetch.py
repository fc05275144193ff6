"""Fetching by accession against a local archive server on 127.0.0.1 that serves real files of
../shared/data in the archives' layouts: downloads, the cache, checksums, redirects, 404,
broken-off downloads and their resume, gzip checks, offline errors, and the CLI."""

from __future__ import annotations

import gzip

import pytest

from difffit.cli import main as cli
from difffit.errors import FetchError
from difffit.io.fetch import Accession, Fetcher
from tests.archive_server import HB_LEVEL, HB_RESOLUTION, ArchiveServer, archive_files
from tests.conftest import DATA

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def files():
    if not DATA.exists():
        pytest.skip(f"real data folder not available: {DATA} (set DIFFFIT_DATA)")
    return archive_files(DATA)


@pytest.fixture
def server(files):
    with ArchiveServer(dict(files)) as s:
        yield s


def test_emdb_entry_with_header_then_cached(server, tmp_path, files):
    f = Fetcher(mirror=server.mirror(), cache=tmp_path)
    e = f.fetch(Accession("emdb", "3488"))
    assert e.level == HB_LEVEL and e.resolution == HB_RESOLUTION
    assert e.files["map"].read_bytes() == files["/emdb/structures/EMD-3488/map/emd_3488.map.gz"]
    assert e.cached == {"map": False, "header": False}
    n = len(server.requests)
    again = f.fetch(Accession("emdb", "3488"))
    assert again.cached == {"map": True, "header": True} and len(server.requests) == n


def test_real_v1_header_of_emd_1997(server, tmp_path):
    e = Fetcher(mirror=server.mirror(), cache=tmp_path).fetch(Accession("emdb", "1997"))
    assert (e.level, e.resolution) == (1.0, 7.0)


def test_damaged_cache_file_is_fetched_again(server, tmp_path, files):
    f = Fetcher(mirror=server.mirror(), cache=tmp_path)
    path = f.fetch(Accession("pdb", "5me2")).files["model"]
    path.write_bytes(b"garbage")
    e = f.fetch(Accession("pdb", "5me2"))
    assert e.cached == {"model": False}
    assert path.read_bytes() == files["/pdb/data/structures/divided/mmCIF/me/5me2.cif.gz"]


def test_redirects_are_followed(server, tmp_path):
    e = Fetcher(mirror=server.mirror("/redirect"), cache=tmp_path).fetch(
        Accession("afdb", "A0A1D1UD02")
    )
    assert set(e.files) == {"model", "pae"}


def test_not_found_is_one_line(server, tmp_path):
    with pytest.raises(FetchError, match=r"not found \(404\)") as exc:
        Fetcher(mirror=server.mirror(), cache=tmp_path).fetch(Accession("pdb", "1abc"))
    assert "\n" not in str(exc.value)
    assert not list(tmp_path.rglob("*.part"))


def test_broken_off_download_resumes(server, tmp_path, files):
    acc = Accession("emdb", "3488")
    with pytest.raises(FetchError, match="run again to resume"):
        Fetcher(mirror=server.mirror("/truncated"), cache=tmp_path).fetch(acc, kinds=("map",))
    part = next(tmp_path.rglob("*.part"))
    got = part.stat().st_size
    assert 0 < got < len(files["/emdb/structures/EMD-3488/map/emd_3488.map.gz"])
    e = Fetcher(mirror=server.mirror(), cache=tmp_path).fetch(acc, kinds=("map",))
    assert server.requests[-1] == ("/emdb/structures/EMD-3488/map/emd_3488.map.gz", f"bytes={got}-")
    assert e.files["map"].read_bytes() == files["/emdb/structures/EMD-3488/map/emd_3488.map.gz"]
    assert not part.exists()


def test_server_ignoring_ranges_restarts_cleanly(server, tmp_path, files):
    acc = Accession("emdb", "3488")
    with pytest.raises(FetchError):
        Fetcher(mirror=server.mirror("/truncated"), cache=tmp_path).fetch(acc, kinds=("map",))
    e = Fetcher(mirror=server.mirror("/norange"), cache=tmp_path).fetch(acc, kinds=("map",))
    with gzip.open(e.files["map"]) as fh:
        assert len(fh.read()) > 1_000_000


def test_bad_gzip_is_refused(server, tmp_path):
    server.files["/pdb/data/structures/divided/mmCIF/zz/9zzz.cif.gz"] = b"\x1f\x8b not gzip"
    with pytest.raises(FetchError, match="not valid gzip"):
        Fetcher(mirror=server.mirror(), cache=tmp_path).fetch(Accession("pdb", "9zzz"))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_offline_names_the_url_and_the_cache(tmp_path):
    f = Fetcher(mirror="http://127.0.0.1:9", cache=tmp_path, timeout=2)
    with pytest.raises(
        FetchError, match=r"cannot download http://127\.0\.0\.1:9/.*offline.*cache"
    ) as exc:
        f.fetch(Accession("pdb", "5me2"))
    assert "\n" not in str(exc.value) and str(tmp_path) in str(exc.value)


def test_cli_fetch(server, tmp_path, capsys):
    rc = cli(
        ["fetch", "emdb:3488", "pdb:5me2", "--mirror", server.mirror(), "--cache", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert f"emdb:3488  recommended level {HB_LEVEL}, resolution {HB_RESOLUTION} Å" in out
    assert "pdb:5me2  model" in out
    rc = cli(["fetch", "pdb:1abc", "--mirror", server.mirror(), "--cache", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "not found" in err


FAST = ["--rotations", "6", "--positions", "3", "--steps", "30", "--refine", "2", "-q"]


def test_fit_by_accession_takes_level_and_resolution_from_emdb(server, tmp_path, capsys):
    from difffit.io.results import load_results

    out = tmp_path / "out"
    argv = ["fit", "emdb:3488", "pdb:5me2", "--chains", "A", "--mirror", server.mirror(),
            "--cache", str(tmp_path / "cache"), "--out", str(out), "--seed", "1", *FAST]  # fmt: skip
    assert cli(argv) == 0
    log = capsys.readouterr().err
    r = load_results(out)
    assert r.level == pytest.approx(HB_LEVEL)
    assert r.resolution == pytest.approx(HB_RESOLUTION)
    assert f"contour level {HB_LEVEL:g}: the recommended level of emdb:3488" in log
    assert f"resolution {HB_RESOLUTION:g} Å: from the EMDB header of emdb:3488" in log
    assert [s.name for s in r.structures] == ["5me2_A"]


def test_given_level_wins_and_chains_suffix_on_accessions(server, tmp_path):
    from difffit.io.results import load_results

    out = tmp_path / "out"
    argv = ["fit", "emdb:3488", "pdb:5me2:B", "--level", "0.2", "--mirror", server.mirror(),
            "--cache", str(tmp_path / "cache"), "--out", str(out), "--seed", "1", *FAST]  # fmt: skip
    assert cli(argv) == 0
    r = load_results(out)
    assert r.level == pytest.approx(0.2) and r.resolution == pytest.approx(HB_RESOLUTION)
    assert [s.name for s in r.structures] == ["5me2_B"]


def test_accession_errors_are_one_line(server, tmp_path, capsys):
    base = ["--mirror", server.mirror(), "--cache", str(tmp_path), "--out", str(tmp_path / "o")]
    for argv in (["fit", "pdb:5me2", "pdb:5me2", *base], ["fit", "emdb:3488", "emdb:3488", *base],
                 ["fit", "emdb:9999", "pdb:5me2", *base]):  # fmt: skip
        assert cli(argv) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if ": error:" in line]
        assert len(errors) == 1 and errors[0].startswith("difffit: error:"), err
        assert "internal error" not in err
