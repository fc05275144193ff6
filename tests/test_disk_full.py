"""A full disk while writing ends with exit 2 and one line naming the file and the device,
leaves no ``.part`` file, and the same command runs again once there is space."""

import errno
import os
import shutil
import subprocess

import numpy as np
import pytest

from difffit.cli import main
from difffit.io import write_map, write_structure
from tests.synthetic import planted_case, protein_like

FAST = ["--rotations", "30", "--positions", "4", "--oversample", "4", "--resolution", "5", "-q",
        "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("full")
    rng = np.random.default_rng(11)
    st = protein_like(60, rng, name="toy")
    density, _ = planted_case(st, rng, resolution=5.0)
    return write_map(density, d / "toy.mrc"), write_structure(st, d / "toy.pdb")


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (we run as root in CI; skipped where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({r.stderr.strip() or 'not root'})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt):
    """Fill ``mnt`` to the last byte; returns the filler (delete it to free the space)."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def _parts(folder):
    return [p for p in folder.rglob("*") if ".part" in p.name]


def _errors(err):
    return [ln for ln in err.splitlines() if "error" in ln]


def _check_one_line(err, mnt):
    lines = _errors(err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"difffit: error: no space left on {mnt} writing {mnt}/"), err


def test_fit_on_a_full_disk_then_again(case, small_disk, capsys):
    mp, sp = case
    out = small_disk / "res"
    out.mkdir()
    filler = _fill(small_disk)
    code = main(["fit", str(mp), str(sp), "--out", str(out), "--seed", "1", *FAST])
    assert code == 2
    _check_one_line(capsys.readouterr().err, small_disk)
    assert _parts(small_disk) == []
    filler.unlink()
    assert main(["fit", str(mp), str(sp), "--out", str(out), "--seed", "1", *FAST]) == 0
    assert (out / "manifest.json").is_file()


def test_composite_on_a_full_disk_resumes(case, small_disk, capsys):
    mp, sp = case
    out = small_disk / "run"
    args = ["composite", str(mp), str(sp), "--out", str(out), "--seed", "1", *FAST]
    assert main([*args, "--max-rounds", "1"]) == 0
    capsys.readouterr()
    filler = _fill(small_disk)
    assert main([*args, "--max-rounds", "2"]) == 2
    _check_one_line(capsys.readouterr().err, small_disk)
    assert _parts(small_disk) == []
    filler.unlink()
    assert main([*args, "--max-rounds", "2"]) == 0
    assert "resuming" in capsys.readouterr().err


def test_a_writer_raising_enospc(case, tmp_path, capsys, monkeypatch):
    """Without a small disk: the models' writer finds the disk full."""
    import difffit.io.structures as structures

    real = structures.atomic_write_bytes

    def full(path, data):
        from difffit.io.atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    monkeypatch.setattr(structures, "atomic_write_bytes", full)
    mp, sp = case
    out = tmp_path / "res"
    assert main(["fit", str(mp), str(sp), "--out", str(out), "--seed", "1", *FAST]) == 2
    err = "\n".join(_errors(capsys.readouterr().err))
    assert len(err.splitlines()) == 1 and "no space left on /" in err and "rank_001" in err
    assert _parts(out) == [] and not (out / "manifest.json").exists()
    monkeypatch.setattr(structures, "atomic_write_bytes", real)
    assert main(["fit", str(mp), str(sp), "--out", str(out), "--seed", "1", *FAST]) == 0
    assert shutil.disk_usage(out).free > 0


def test_screen_on_a_full_disk_resumes(small_disk, tmp_path, capsys):
    from tests.screen_cases import FAST_ARGS, make_library

    mp, lib = make_library(tmp_path / "lib")
    out = small_disk / "screen"
    argv = ["screen", str(mp), str(lib), "--out", str(out), "--seed", "5", *FAST_ARGS, "-q",
            "--threads", "1", "--workers", "1"]  # fmt: skip
    filler = _fill(small_disk)
    assert main(argv) == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("difffit: error: no space left on"), err
    assert _parts(small_disk) == []
    filler.unlink()
    assert main(argv) == 0
    assert (out / "candidates.csv").is_file()
