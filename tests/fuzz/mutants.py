"""A deterministic generator of malformed maps and structures (issue #13).

Every mutant is a small file derived from a tiny, valid base (a 12 x 10 x 14 map of Gaussian
blobs, a 40-atom peptide) by one damage of a named class. Each carries what a *correct* success
means: for a map, the data, voxel size and origin the file's header describes (computed here,
independently of the reader, from the MRC2014 rules: ``None`` when the rules say the file must
be refused); for a structure, the heavy-atom coordinates and elements (``None``: must be
refused). ``must_read`` marks mutants a reader must accept (a clean error is then a defect).

Everything is seeded: the same ``map_mutants()`` / ``structure_mutants()`` every run; nothing
needs ``../shared``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

__all__ = ["Mutant", "base_map_bytes", "base_structure", "map_mutants", "structure_mutants"]

HDR = mrcfile.dtypes.HEADER_DTYPE
SHAPE_ZYX = (14, 10, 12)
VOXEL = 2.0


@dataclass(frozen=True)
class Mutant:
    """One damaged file: ``build(folder) -> path`` writes it; ``expect`` is the correct result
    (a map tuple (data_zyx, voxel_xyz, origin_xyz), a structure tuple (coords, elements)) or None
    when the file must be refused."""

    kind: str  # "map" or "structure"
    cls: str
    name: str
    build: Callable[[Path], Path]
    expect: object
    must_read: bool = False


# ---------------------------------------------------------------- maps
def _base_data() -> np.ndarray:
    rng = np.random.default_rng(1303)
    z, y, x = np.indices(SHAPE_ZYX, dtype=np.float64)
    d = np.zeros(SHAPE_ZYX)
    for _ in range(6):
        c = rng.uniform(2, np.array(SHAPE_ZYX) - 3)
        d += np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / 4.0)
    return (d + 0.01 * rng.standard_normal(SHAPE_ZYX)).astype(np.float32)


def _mrc_bytes(data: np.ndarray, voxel=VOXEL, origin=(0.0, 0.0, 0.0), ext: bytes = b"") -> bytes:
    h = np.zeros(1, dtype=HDR)
    nz, ny, nx = data.shape
    h["nx"], h["ny"], h["nz"] = nx, ny, nz
    h["mode"] = {np.float32: 2, np.int8: 0, np.int16: 1, np.uint16: 6, np.float16: 12}[
        data.dtype.type
    ]
    h["mx"], h["my"], h["mz"] = nx, ny, nz
    h["cella"] = (nx * voxel, ny * voxel, nz * voxel)
    h["cellb"] = (90.0, 90.0, 90.0)
    h["mapc"], h["mapr"], h["maps"] = 1, 2, 3
    h["ispg"] = 1
    h["nsymbt"] = len(ext)
    h["nversion"] = 20140
    h["origin"] = origin
    h["map"] = b"MAP "
    h["machst"] = np.frombuffer(b"DD\0\0", dtype=np.uint8)
    h["dmin"], h["dmax"] = data.min(), data.max()
    h["dmean"] = np.float32(np.clip(np.mean(data, dtype=np.float64), -3e38, 3e38))
    return (
        h.tobytes()
        + ext
        + np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
    )


def base_map_bytes() -> bytes:
    """The valid base map (float32, axis order 1 2 3, voxel 2 Å, origin 0)."""
    return _mrc_bytes(_base_data())


def expected_map(raw: bytes):
    """What an uncompressed MRC file of these bytes describes, by the MRC2014 rules (the
    header decoded by mrcfile, everything else here); None when it must be refused."""
    if len(raw) < 1024:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mrcfile.mrcinterpreter.MrcInterpreter(
                io.BytesIO(raw), permissive=True, header_only=True
            )
            h = None if m.header is None else m.header.copy()
    except Exception:  # the header itself is unreadable
        return None
    if h is None:
        return None
    mode, dims, nsym = int(h.mode), [int(h.nx), int(h.ny), int(h.nz)], int(h.nsymbt)
    dt = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16, 12: np.float16}.get(mode)
    if dt is None or min(dims) <= 0 or nsym < 0:
        return None
    n = dims[0] * dims[1] * dims[2]
    itemsize = np.dtype(dt).itemsize
    if len(raw) != 1024 + nsym + n * itemsize:
        return None
    order = ">" if h.mode.dtype.byteorder == ">" else "<"
    data = np.frombuffer(raw, dtype=np.dtype(dt).newbyteorder(order), count=n, offset=1024 + nsym)
    crs = data.astype(np.float32).reshape(dims[2], dims[1], dims[0])
    if not np.all(np.isfinite(crs)) or np.any(np.abs(crs) > 1e12):
        return None
    mapcrs = [int(h.mapc), int(h.mapr), int(h.maps)]
    if sorted(mapcrs) != [1, 2, 3]:
        return None
    # crs axes (s, r, c) hold world axes (maps, mapr, mapc) - 1; want (z, y, x) = (2, 1, 0)
    held = [mapcrs[2] - 1, mapcrs[1] - 1, mapcrs[0] - 1]
    zyx = np.transpose(crs, [held.index(a) for a in (2, 1, 0)])
    cella = np.array([float(h.cella.x), float(h.cella.y), float(h.cella.z)])
    msize = np.array([int(h.mx), int(h.my), int(h.mz)], dtype=np.float64)
    if np.any(msize <= 0) or not np.all(np.isfinite(cella)) or np.any(cella <= 0):
        return None
    voxel = cella / msize
    if np.any(voxel < 0.01) or np.any(voxel > 100.0):
        return None
    ofield = np.array([float(h.origin.x), float(h.origin.y), float(h.origin.z)])
    if not np.all(np.isfinite(ofield)) or np.any(np.abs(ofield) > 1e6):
        return None
    nstart = np.zeros(3)
    for k, a in enumerate(mapcrs):
        nstart[a - 1] = [int(h.nxstart), int(h.nystart), int(h.nzstart)][k]
    origin = ofield if np.any(ofield != 0) else nstart * voxel
    if np.any(np.abs(origin) + voxel * np.array(zyx.shape[::-1]) > 1e6):
        return None
    return zyx, voxel, origin


def _hdr(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw[:1024], dtype=HDR).copy()


def _with(raw: bytes, **fields) -> bytes:
    h = _hdr(raw)
    for k, v in fields.items():
        h[k] = v
    return h.tobytes() + raw[1024:]


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        p = folder / name
        p.write_bytes(data)
        return p

    return build


def map_mutants() -> list[Mutant]:
    """At least 300 damaged maps, seeded (the same list every call)."""
    base = base_map_bytes()
    rng = np.random.default_rng(13)
    out: list[Mutant] = []
    k = [0]

    def add(cls: str, what: str, raw: bytes, *, suffix=".mrc", expect="oracle", must=False,
            data_bytes: bytes | None = None):  # fmt: skip
        k[0] += 1
        name = f"m{k[0]:03d}-{what}{suffix}"
        if expect == "either":  # what the bytes decompress to, if they do
            try:
                raw = (gzip if suffix.endswith(".gz") else bz2).decompress(data_bytes)
                expect = "oracle"
            except Exception:
                expect = None
        exp = expected_map(raw) if expect == "oracle" else expect
        out.append(Mutant("map", cls, name, _file(name, data_bytes if data_bytes is not None
                                                  else raw), exp, must))  # fmt: skip

    nx, ny, nz = SHAPE_ZYX[::-1]
    add("header: MODE", "mode2", _with(base, mode=2), must=True)
    for v in (-1, 0, 1, 3, 4, 5, 6, 7, 9, 12, 16, 101, 2**31 - 1, -(2**31)):
        add("header: MODE", f"mode{v}", _with(base, mode=v))
    for ax, n in zip(("nx", "ny", "nz"), (nx, ny, nz), strict=True):
        for v in (0, -1, 1, n - 1, n + 1, 2 * n, 2**20, 2**31 - 1, -(2**31)):
            add("header: NX/NY/NZ", f"{ax}{v}", _with(base, **{ax: v}))
    add("header: NX/NY/NZ", "swap-nx-ny", _with(base, nx=ny, ny=nx))
    add("header: NX/NY/NZ", "swap-nx-nz", _with(base, nx=nz, nz=nx, mx=nz, mz=nx))
    add("header: NX/NY/NZ", "nx-nz-product", _with(base, nx=nx * nz, nz=1))
    for ax, n in zip(("mx", "my", "mz"), (nx, ny, nz), strict=True):
        for v in (0, -1, 1, 2 * n, 10**4, 2**31 - 1, -(2**31)):
            add("header: MX", f"{ax}{v}", _with(base, **{ax: v}))
    for ax in "xyz":
        for v in (0.0, -1.0, 1e-5, 1e-3, 5.0, 1e5, 1e30, np.nan, np.inf, -np.inf):
            h = _hdr(base)
            h["cella"][ax] = v
            add("header: CELLA", f"cella{ax}{v}", h.tobytes() + base[1024:])
    for c in (1, 2, 3, 0, 4, -1):
        for r in (1, 2, 3, 0):
            for s in (1, 2, 3):
                raw = _with(base, mapc=c, mapr=r, maps=s)
                perm = sorted((c, r, s)) == [1, 2, 3]
                add("header: MAPC/R/S", f"crs{c}{r}{s}", raw, must=perm)
    for ax in ("nxstart", "nystart", "nzstart"):
        for v in (-5, 7, 1000, 10**6, 2**31 - 1, -(2**31)):
            add("header: NXSTART", f"{ax}{v}", _with(base, **{ax: v}))
    add("header: NXSTART", "nstart-and-origin", _with(base, nxstart=3, origin=(1.0, 2.0, 3.0)))
    for ax in "xyz":
        for v in (12.5, -1e5, 1e6 + 1, 1e7, -1e12, 1e38, np.nan, np.inf, -np.inf):
            h = _hdr(base)
            h["origin"][ax] = v
            add("header: ORIGIN", f"origin{ax}{v}", h.tobytes() + base[1024:])
    add("header: ORIGIN", "origin-all-set", _with(base, origin=(10.0, -20.0, 30.5)), must=True)
    for v in (-1, 1, 80, 1024, 2**31 - 1, -(2**31)):
        add("header: NSYMBT", f"nsymbt{v}", _with(base, nsymbt=v))
    for n in (80, 160, 1024):
        ext = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        raw = _mrc_bytes(_base_data(), ext=ext)
        add("header: extended header", f"ext{n}", raw, must=True)
        add("header: extended header", f"ext{n}-nsymbt0", _with(raw, nsymbt=0))
        add(
            "header: extended header", f"ext{n}-exttyp", _with(raw, exttyp=b"\xff\x00ab"), must=True
        )
    # machine stamp / endianness
    d = _base_data()
    big_h = _hdr(base).astype(_hdr(base).dtype.newbyteorder(">"))
    big_h["machst"] = np.frombuffer(b"\x11\x11\0\0", dtype=np.uint8)
    big = big_h.tobytes() + d.astype(">f4").tobytes()
    add("header: machine stamp", "big-endian", big, must=True)
    add("header: machine stamp", "big-header-little-stamp",
        _with(big, machst=np.frombuffer(b"DD\0\0", dtype=np.uint8)))  # fmt: skip
    add("header: machine stamp", "little-header-big-stamp",
        _with(base, machst=np.frombuffer(b"\x11\x11\0\0", dtype=np.uint8)))  # fmt: skip
    add("header: machine stamp", "big-header-big-stamp-little-data",
        big_h.tobytes() + d.astype("<f4").tobytes())  # fmt: skip
    for stamp in (b"\0\0\0\0", b"DA\0\0", b"\xff\xff\xff\xff", b"ABCD"):
        add("header: machine stamp", f"machst-{stamp.hex()}",
            _with(base, machst=np.frombuffer(stamp, dtype=np.uint8)))  # fmt: skip
    for word in (b"MAP\0", b"map ", b"\0\0\0\0", b"XXXX", b"\xff\xfe\xfd\xfc"):
        add("header: MAP word", f"map-{word.hex()}", _with(base, map=word))
    for f, v in (("dmin", np.nan), ("dmax", np.inf), ("dmean", -1e38), ("rms", np.nan),
                 ("nlabl", 999), ("nversion", -7), ("ispg", 9999), ("ispg", -1)):  # fmt: skip
        add("header: statistics/labels", f"{f}{v}", _with(base, **{f: v}), must=True)
    add("header: statistics/labels", "label-binary",
        _with(base, label=np.frombuffer(bytes(range(256)) * 3 + bytes(32), dtype="S80")),
        must=True)  # fmt: skip
    for i in range(60):
        raw = bytearray(base)
        for _ in range(int(rng.integers(1, 4))):
            raw[int(rng.integers(0, 224))] = int(rng.integers(0, 256))
        add("header: random bytes", f"hdr-random{i}", bytes(raw))
    # data size
    for cut in (1, 3, 4, 100, len(base) // 2, len(base) - 1024, len(base) - 1000, len(base) - 1):
        add("data size", f"cut{cut}", base[: len(base) - cut])
    for pad in (1, 3, 4, 1024, len(base) - 1024):
        add("data size", f"pad{pad}", base + bytes(pad))
    for mode in (0, 1, 6, 12):
        add("data size", f"mode{mode}-unconverted", _with(base, mode=mode))
    for dt in (np.int8, np.int16, np.uint16, np.float16):
        q = np.clip(_base_data() * 100, 0, 120).astype(dt)
        add("data values", f"mode-{np.dtype(dt).name}", _mrc_bytes(q), must=True)
    # data values
    for what, f in (
        ("one-nan", lambda a: _put(a, 5, np.nan)),
        ("all-nan", lambda a: np.full_like(a, np.nan)),
        ("one-inf", lambda a: _put(a, 17, np.inf)),
        ("one-neg-inf", lambda a: _put(a, 0, -np.inf)),
        ("last-nan", lambda a: _put(a, a.size - 1, np.nan)),
    ):
        add("data values", what, _with(base)[:1024] + f(_base_data()).tobytes())
    for what, f, must in (
        ("huge-values", lambda a: a * np.float32(1e37), False),
        ("one-huge", lambda a: _put(a, 9, 3e38), False),
        ("large-values", lambda a: a * np.float32(1e9), True),
        ("tiny-values", lambda a: a * np.float32(1e-30), True),
        ("denormal", lambda a: a * np.float32(1e-40), True),
        ("constant-0", lambda a: np.zeros_like(a), False),
        ("constant-1", lambda a: np.ones_like(a), False),
        ("constant-neg", lambda a: np.full_like(a, -5.0), False),
        ("one-voxel", lambda a: _put(np.zeros_like(a), 700, 1.0), True),
        ("inverted", lambda a: -a, True),
        ("offset+1", lambda a: a + np.float32(1), True),
        ("offset+1e3", lambda a: a + np.float32(1e3), True),
        ("offset+1e5", lambda a: a + np.float32(1e5), True),
        ("offset+1e6", lambda a: a + np.float32(1e6), True),
        ("offset+1e7", lambda a: a + np.float32(1e7), True),
        ("offset-1e6", lambda a: a - np.float32(1e6), True),
        ("offset+1e30", lambda a: a + np.float32(1e30), False),
        ("two-values", lambda a: (a > 0.5).astype(np.float32), True),
        ("noise", lambda a: np.random.default_rng(5).standard_normal(a.shape).astype(np.float32), True),
    ):  # fmt: skip
        raw = _mrc_bytes(f(_base_data()).astype(np.float32))
        add("data values", what, raw, must=must)
    for i in range(20):
        raw = bytearray(base)
        for _ in range(int(rng.integers(1, 6))):
            raw[int(rng.integers(1024, len(raw)))] = int(rng.integers(0, 256))
        add("data values", f"data-random{i}", bytes(raw))
    # compression
    gz, b2 = gzip.compress(base, mtime=0), bz2.compress(base)
    add("compression", "gzip", base, suffix=".mrc.gz", must=True, data_bytes=gz)
    add("compression", "bz2", base, suffix=".mrc.bz2", must=True, data_bytes=b2)
    add("compression", "gzip-upper", base, suffix=".MRC.GZ", must=True, data_bytes=gz)
    for frac in (0.0, 0.01, 0.1, 0.5, 0.9, 0.99):
        add("compression", f"gzip-cut{frac}", b"", suffix=".mrc.gz", expect=None,
            data_bytes=gz[: max(1, int(len(gz) * frac))])  # fmt: skip
        add("compression", f"bz2-cut{frac}", b"", suffix=".mrc.bz2", expect=None,
            data_bytes=b2[: max(1, int(len(b2) * frac))])  # fmt: skip
    add("compression", "gzip-cut-8", b"", suffix=".mrc.gz", expect=None, data_bytes=gz[:-8])
    for i in range(8):
        for name, blob, suf in (("gzip", gz, ".mrc.gz"), ("bz2", b2, ".mrc.bz2")):
            raw = bytearray(blob)
            pos = int(rng.integers(10, len(raw) - 10))
            raw[pos] ^= 1 << int(rng.integers(0, 8))
            add("compression", f"{name}-flip{i}", b"", suffix=suf, expect="either",
                data_bytes=bytes(raw))  # fmt: skip
    add("compression", "gzip-of-cut-map", base[:-100], suffix=".mrc.gz", expect=None,
        data_bytes=gzip.compress(base[:-100]))  # fmt: skip
    add("compression", "gzip-of-padded-map", base + bytes(8), suffix=".mrc.gz", expect=None,
        data_bytes=gzip.compress(base + bytes(8)))  # fmt: skip
    add("compression", "double-gzip", b"", suffix=".mrc.gz", expect=None,
        data_bytes=gzip.compress(gz))  # fmt: skip
    add("compression", "plain-named-gz", base, suffix=".mrc.gz")
    add("compression", "plain-named-bz2", base, suffix=".mrc.bz2")
    add("compression", "gzip-named-mrc", b"", suffix=".mrc", expect=None, data_bytes=gz)
    add("compression", "bz2-named-gz", base, suffix=".mrc.gz", data_bytes=b2)
    add("compression", "empty-gz", b"", suffix=".mrc.gz", expect=None, data_bytes=b"")
    add("compression", "gzip-of-nothing", b"", suffix=".mrc.gz", expect=None,
        data_bytes=gzip.compress(b""))  # fmt: skip
    add("compression", "gzip-of-nan-map", b"", suffix=".mrc.gz", expect=None,
        data_bytes=gzip.compress(_mrc_bytes(_put(_base_data(), 3, np.nan))))  # fmt: skip
    # file kinds
    for what, blob in (("empty", b""), ("one-byte", b"\0"), ("1023-bytes", bytes(1023)),
                       ("1024-zeros", bytes(1024)), ("text", b"hello, this is not a map\n" * 60),
                       ("png", b"\x89PNG\r\n\x1a\n" + bytes(2000)),
                       ("header-only", base[:1024])):  # fmt: skip
        add("file kind", what, b"", expect=None, data_bytes=blob)
    for suf in (".txt", ".pdb", "", ".mrc.zip", ".mrc.xz"):
        add("file kind", f"suffix{suf or '-none'}", b"", suffix=suf, expect=None, data_bytes=base)
    for suf in (".map", ".ccp4", ".MRC", ".rec"):
        add("file kind", f"suffix{suf}", base, suffix=suf, must=True)
    out.append(Mutant("map", "file kind", "folder.mrc", _folder("folder.mrc"), None))
    out.append(Mutant("map", "file kind", "fifo.mrc", _fifo("fifo.mrc"), None))
    out.append(Mutant("map", "file kind", "missing.mrc", lambda f: f / "missing.mrc", None))
    out.append(Mutant("map", "file kind", "symlink.mrc", _symlink("symlink.mrc", base),
                      expected_map(base), True))  # fmt: skip
    out.append(Mutant("map", "file kind", "broken-link.mrc", _broken("broken-link.mrc"), None))
    add("file kind", "name with spaces é", base, must=True)
    return out


def _put(a: np.ndarray, i: int, v: float) -> np.ndarray:
    a = a.copy()
    a.flat[i] = v
    return a


def _folder(name: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        (folder / name).mkdir()
        return folder / name

    return build


def _fifo(name: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        os.mkfifo(folder / name)
        return folder / name

    return build


def _symlink(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        (folder / ("target-" + name)).write_bytes(data)
        (folder / name).symlink_to(folder / ("target-" + name))
        return folder / name

    return build


def _broken(name: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        (folder / name).symlink_to(folder / "nowhere")
        return folder / name

    return build


# ---------------------------------------------------------------- structures
_RES = ["ALA", "SER", "GLY", "LEU", "ALA", "SER", "ALA", "GLY", "LEU", "ALA"]
_SIDE = {"ALA": [("CB", "C")], "SER": [("CB", "C"), ("OG", "O")], "GLY": [],
         "LEU": [("CB", "C"), ("CG", "C"), ("CD1", "C"), ("CD2", "C")]}  # fmt: skip


def base_structure() -> list[tuple[str, str, str, int, float, float, float, str]]:
    """The base peptide: (atom name, residue, chain, number, x, y, z, element), ~44 atoms
    inside the base map's box (0..24 x 0..20 x 0..28 Å)."""
    rng = np.random.default_rng(7)
    atoms = []
    for i, res in enumerate(_RES, 1):
        for name, el in [("N", "N"), ("CA", "C"), ("C", "C"), ("O", "O")] + _SIDE[res]:
            t = i + 0.2 * len(atoms) % 1
            x, y, z = 12 + 5 * np.cos(t), 10 + 5 * np.sin(t), 4 + 2 * i
            dx, dy, dz = rng.uniform(-1.2, 1.2, 3)
            atoms.append((name, res, "A", i, round(x + dx, 3), round(y + dy, 3),
                          round(z + dz, 3), el))  # fmt: skip
    return atoms


def _pdb_line(i, name, res, chain, num, x, y, z, el, *, xyz=None, alt=" ", rec="ATOM  "):
    coords = xyz if xyz is not None else f"{x:8.3f}{y:8.3f}{z:8.3f}"
    nm = name if len(name) == 4 else f" {name:<3}"
    return (f"{rec}{i:5d} {nm}{alt}{res:>3} {chain}{num:4d}    {coords}  1.00 20.00"
            f"          {el:>2}\n")  # fmt: skip


def _pdb_text(atoms, **kw) -> str:
    return "".join(_pdb_line(i, *a, **kw) for i, a in enumerate(atoms, 1)) + "END\n"


def _cif_text(atoms, value: str | None = None, axis: int = 0, row: int = 1) -> str:
    rows = []
    for i, (name, res, chain, num, x, y, z, el) in enumerate(atoms, 1):
        xyz = [f"{x:.3f}", f"{y:.3f}", f"{z:.3f}"]
        if value is not None and i == row + 1:
            xyz[axis] = value
        rows.append(f"ATOM {i} {el} {name} . {res} {chain} 1 {num} ? {' '.join(xyz)} 1.0 20.0 "
                    f"{num} {res} {chain} {name} 1")  # fmt: skip
    cols = ("group_PDB id type_symbol label_atom_id label_alt_id label_comp_id label_asym_id "
            "label_entity_id label_seq_id pdbx_PDB_ins_code Cartn_x Cartn_y Cartn_z occupancy "
            "B_iso_or_equiv auth_seq_id auth_comp_id auth_asym_id auth_atom_id "
            "pdbx_PDB_model_num").split()  # fmt: skip
    return ("data_fuzz\nloop_\n" + "".join(f"_atom_site.{c}\n" for c in cols)
            + "\n".join(rows) + "\n")  # fmt: skip


def _expect(atoms):
    return (np.array([a[4:7] for a in atoms], dtype=np.float64), [a[7].upper() for a in atoms])


def structure_mutants() -> list[Mutant]:
    """At least 100 damaged structures, seeded (the same list every call)."""
    atoms = base_structure()
    good = _expect(atoms)
    rng = np.random.default_rng(31)
    out: list[Mutant] = []
    k = [0]

    def add(cls, what, data, suffix=".pdb", expect=None, must=False):
        k[0] += 1
        name = f"s{k[0]:03d}-{what}{suffix}"
        blob = data.encode("utf-8") if isinstance(data, str) else data
        out.append(Mutant("structure", cls, name, _file(name, blob), expect, must))

    add("records", "base", _pdb_text(atoms), expect=good, must=True)
    add("records", "base-cif", _cif_text(atoms), ".cif", expect=good, must=True)
    lines = [_pdb_line(i, *a) for i, a in enumerate(atoms, 1)]
    # PDB coordinates: (text of 8 columns, value it stands for or None)
    texts = [("abcdefgh", None), ("        ", None), (" 1,234.5", None), ("     nan", None),
             ("     inf", None), ("    -inf", None), ("       -", None), ("  1.2.3 ", None),
             ("    0x10", None), ("********", None), (" 1.5e999", None), ("   1e5  ", 1e5),
             ("9999.999", 9999.999), ("   +1.50", 1.5), ("  -0.000", 0.0), ("    12  ", 12.0)]  # fmt: skip
    for t, (text, val) in enumerate(texts):
        for ax in range(3):
            j = (3 * t + ax) % len(atoms)
            ls = list(lines)
            ls[j] = ls[j][: 30 + 8 * ax] + text + ls[j][38 + 8 * ax :]
            exp = None
            if val is not None:
                a = list(atoms[j])
                a[4 + ax] = val
                exp = _expect(atoms[:j] + [tuple(a)] + atoms[j + 1 :])
            add("coordinates (PDB)", f"xyz{ax}-{t}", "".join(ls) + "END\n", expect=exp)
    cif_values = [("?", None), (".", None), ("abc", None), ("1e400", None), ("nan", None),
                  ("inf", None), ("-inf", None), ("1,234", None), ("1e5", 1e5),
                  ("99999999", None), ("'12.5'", 12.5), ("1.5(3)", 1.5), ("+1.5", 1.5)]  # fmt: skip
    for t, (text, val) in enumerate(cif_values):
        for ax in range(3):
            j = (5 * t + ax) % (len(atoms) - 1) + 1
            exp = None
            if val is not None:
                a = list(atoms[j])
                a[4 + ax] = val
                exp = _expect(atoms[:j] + [tuple(a)] + atoms[j + 1 :])
            add("coordinates (mmCIF)", f"cif{ax}-{t}", _cif_text(atoms, text, ax, j), ".cif",
                expect=exp)  # fmt: skip
    # elements
    blank = [a[:7] + ("",) for a in atoms]
    add("elements", "all-blank", _pdb_text(blank), expect=good, must=True)
    add("elements", "all-Xx", _pdb_text([a[:7] + ("Xx",) for a in atoms]), expect=good)
    add("elements", "lowercase", _pdb_text([a[:7] + (a[7].lower(),) for a in atoms]), expect=good)
    mixed = [a if i % 3 else a[:7] + ("",) for i, a in enumerate(atoms)]
    add("elements", "mixed-blank", _pdb_text(mixed), expect=good, must=True)
    mixed = [a if i % 4 else a[:7] + ("Q",) for i, a in enumerate(atoms)]
    add("elements", "mixed-Q", _pdb_text(mixed), expect=good)
    unl = [(f"Q{i}", "UNL") + a[2:7] + ("Xx",) for i, a in enumerate(atoms)]
    add("elements", "nothing-to-guess", _pdb_text(unl))
    add("elements", "digits", _pdb_text([a[:7] + ("12",) for a in atoms]), expect=good)
    add("elements", "cif-Xx", _cif_text([a[:7] + ("Xx",) for a in atoms]).replace(" Xx ", " Xx "),
        ".cif", expect=good)  # fmt: skip
    # records
    for i in range(12):
        j, col = int(rng.integers(0, len(atoms))), int(rng.choice([6, 12, 20, 30, 38, 45, 50, 54]))
        ls = list(lines)
        ls[j] = ls[j][:col] + "\n"
        exp = good if col >= 54 else None
        add("records", f"truncated{i}-col{col}", "".join(ls) + "END\n", expect=exp,
            must=col >= 54)  # fmt: skip
    add("records", "duplicate-atom", "".join(lines[:5] + lines[4:]) + "END\n",
        expect="any")  # fmt: skip
    add("records", "reused-chain", "".join(lines) + "TER\n" + "".join(lines) + "END\n",
        expect=good, must=True)  # fmt: skip
    alt = list(lines)
    alt[3] = _pdb_line(4, *atoms[3], alt="A") + _pdb_line(4, *atoms[3][:4],
                                                          *(v + 1 for v in atoms[3][4:7]),
                                                          atoms[3][7], alt="B")  # fmt: skip
    add("records", "altlocs", "".join(alt) + "END\n", expect=good, must=True)
    add("records", "no-atoms", "HEADER    NOTHING\nREMARK   1 EMPTY\nEND\n")
    water = "".join(_pdb_line(i, "O", "HOH", "W", i, *a[4:7], "O", rec="HETATM")
                    for i, a in enumerate(atoms, 1)) + "END\n"  # fmt: skip
    add("records", "only-waters", water)
    hyd = "".join(_pdb_line(i, "H", a[1], "A", a[3], *a[4:7], "H") for i, a in enumerate(atoms, 1))
    add("records", "only-hydrogens", hyd + "END\n")
    add("records", "one-atom", lines[1] + "END\n", expect=_expect(atoms[1:2]), must=True)
    same = [a[:4] + (5.0, 5.0, 5.0) + a[7:] for a in atoms]
    add("records", "all-at-one-point", _pdb_text(same), expect=_expect(same), must=True)
    add("records", "two-models",
        "MODEL        1\n" + "".join(lines) + "ENDMDL\nMODEL        2\n" + "".join(lines[:3])
        + "ENDMDL\nEND\n", expect=good, must=True)  # fmt: skip
    add("records", "hetatm-ligand", _pdb_text([(f"C{i}", "LIG") + a[2:] for i, a in enumerate(atoms)],
                                              rec="HETATM"), expect=good, must=True)  # fmt: skip
    add("records", "no-END", "".join(lines), expect=good, must=True)
    add("records", "cif-no-atom-site", "data_x\n_cell.length_a 10\n", ".cif")
    add("records", "cif-empty-block", "data_x\n", ".cif")
    add("records", "cif-two-blocks", _cif_text(atoms) + _cif_text(atoms).replace("data_fuzz",
                                                                               "data_b"), ".cif",
        expect="any")  # fmt: skip
    # compression
    plain = _pdb_text(atoms).encode()
    gz = gzip.compress(plain, mtime=0)
    add("compression", "gzip", gz, ".pdb.gz", expect=good, must=True)
    add("compression", "gzip-cif", gzip.compress(_cif_text(atoms).encode(), mtime=0), ".cif.gz",
        expect=good, must=True)  # fmt: skip
    for frac in (0.05, 0.5, 0.95):
        add("compression", f"gzip-cut{frac}", gz[: int(len(gz) * frac)], ".pdb.gz")
    for i in range(3):
        raw = bytearray(gz)
        raw[int(rng.integers(12, len(raw) - 8))] ^= 0x10
        add("compression", f"gzip-flip{i}", bytes(raw), ".pdb.gz", expect="any")
    add("compression", "plain-named-gz", plain, ".pdb.gz")
    add("compression", "bz2", bz2.compress(plain), ".pdb.bz2")
    add("compression", "gzip-named-pdb", gz, ".pdb")
    # encodings
    add("encodings", "crlf", _pdb_text(atoms).replace("\n", "\r\n"), expect=good, must=True)
    add("encodings", "crlf-cif", _cif_text(atoms).replace("\n", "\r\n"), ".cif", expect=good,
        must=True)  # fmt: skip
    add("encodings", "cr-only", _pdb_text(atoms).replace("\n", "\r"), expect="any")
    add("encodings", "bad-utf8-remark", b"REMARK   1 \xff\xfe\xc3\x28\n" + plain, expect=good,
        must=True)  # fmt: skip
    add("encodings", "latin1-remark", "REMARK   1 Müller\n".encode("latin-1") + plain,
        expect=good, must=True)  # fmt: skip
    add("encodings", "bad-utf8-atom-name", plain.replace(b" CB ", b" C\xff ", 1), expect="any")
    add("encodings", "nul-in-remark", b"REMARK   1 \0\0\0\n" + plain, expect=good)
    add("encodings", "nul-in-coordinates", plain.replace(b".", b"\0", 1))
    add("encodings", "nul-bytes-file", bytes(2000))
    add("encodings", "bom", b"\xef\xbb\xbf" + plain, expect=good)
    add("encodings", "utf16", _pdb_text(atoms).encode("utf-16"))
    add("encodings", "tabs-cif", _cif_text(atoms).replace(" ", "\t"), ".cif", expect=good)
    add("encodings", "bad-utf8-cif", _cif_text(atoms).encode().replace(b" ALA ", b" \xffLA ", 1),
        ".cif", expect="any")  # fmt: skip
    # file kinds
    add("file kind", "empty", b"")
    add("file kind", "binary", bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    add("file kind", "a-map", base_map_bytes())
    add("file kind", "text", "this is not a structure\n" * 20)
    add("file kind", "suffix-txt", plain, ".txt")
    add("file kind", "cif-named-pdb", _cif_text(atoms), ".pdb")
    add("file kind", "pdb-named-cif", plain, ".cif")
    out.append(Mutant("structure", "file kind", "folder.pdb", _folder("folder.pdb"), None))
    out.append(Mutant("structure", "file kind", "fifo.pdb", _fifo("fifo.pdb"), None))
    out.append(Mutant("structure", "file kind", "missing.pdb", lambda f: f / "missing.pdb", None))
    return out
