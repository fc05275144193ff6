"""Damaged or hostile map files end in one clear MapFormatError (issue #13): each case here
was read silently, hung, or ended as an internal error before."""

from __future__ import annotations

import gzip
import os

import mrcfile
import numpy as np
import pytest

from difffit.errors import MapFormatError
from difffit.io.maps import read_map


def _map(path, shape=(6, 7, 8), voxel=2.0, **header):
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.random.default_rng(0).random(shape, dtype=np.float32))
        m.voxel_size = voxel
        for k, v in header.items():
            obj, _, field = k.partition("__")
            if field:
                setattr(getattr(m.header, obj), field, v)
            else:
                setattr(m.header, k, v)
    return path


def _set(path, **header):
    with mrcfile.open(path, "r+", permissive=True) as m:
        for k, v in header.items():
            obj, _, field = k.partition("__")
            if field:
                setattr(getattr(m.header, obj), field, v)
            else:
                setattr(m.header, k, v)


def _error(path) -> str:
    with pytest.raises(MapFormatError) as exc:
        read_map(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_a_good_map_still_reads(tmp_path):
    m = read_map(_map(tmp_path / "ok.mrc"))
    assert m.shape_zyx == (6, 7, 8)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.mrc"
    os.mkfifo(fifo)
    assert "not a regular file" in _error(fifo)


@pytest.mark.parametrize("mode", [0, 1, 6])
def test_mode_changed_without_converting_the_data(tmp_path, mode):
    p = _map(tmp_path / "m.mrc")
    _set(p, mode=mode)
    assert "bytes but its header" in _error(p)


def test_file_cut_short(tmp_path):
    p = _map(tmp_path / "cut.mrc")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 100])
    assert "cut short" in _error(p)


def test_huge_extended_header_claim_is_not_a_memory_error(tmp_path):
    p = _map(tmp_path / "ext.mrc")
    _set(p, nsymbt=2_000_000_000)
    assert "extended header" in _error(p)


@pytest.mark.parametrize(
    ("cella", "match"), [(1e4 * 8, "voxel size"), (3e38, "voxel size"), (1e-6, "voxel size")]
)
def test_absurd_voxel_sizes(tmp_path, cella, match):
    p = _map(tmp_path / "v.mrc")
    _set(p, cella__x=cella)
    assert match in _error(p)


@pytest.mark.parametrize("value", [3e38, -2e6])
def test_absurd_origins(tmp_path, value):
    p = _map(tmp_path / "o.mrc")
    _set(p, origin__y=value)
    assert "ORIGIN" in _error(p)


def test_absurd_nstart(tmp_path):
    p = _map(tmp_path / "n.mrc")
    _set(p, nxstart=2_000_000_000)
    assert "beyond" in _error(p)


def test_corrupt_gzip_stream(tmp_path):
    raw = _map(tmp_path / "g.mrc").read_bytes()
    z = bytearray(gzip.compress(raw))
    z[len(z) // 2 : len(z) // 2 + 40] = b"\x00" * 40
    p = tmp_path / "g.mrc.gz"
    p.write_bytes(bytes(z))
    msg = _error(p)
    assert "damaged" in msg or "cannot read" in msg


def test_gzip_of_a_mode_changed_map(tmp_path):
    p = _map(tmp_path / "gm.mrc")
    _set(p, mode=0)
    gz = tmp_path / "gm.mrc.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert "do not match the header" in _error(gz)
