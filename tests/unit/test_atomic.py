"""The one atomic-write helper: the target appears whole or not at all, no .part is left."""

from __future__ import annotations

import pytest

from difffit.io.atomic import atomic_copy, atomic_path, atomic_write_text, part_path


def test_write_replaces_and_leaves_no_part(tmp_path):
    out = tmp_path / "a.json"
    out.write_text("old")
    atomic_write_text(out, "new")
    assert out.read_text() == "new"
    assert list(tmp_path.iterdir()) == [out]


def test_error_keeps_old_file_and_removes_part(tmp_path):
    out = tmp_path / "a.csv"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert out.read_text() == "old"
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize(
    ("name", "keep", "expected"),
    [("m.mrc", False, "m.mrc.part"), ("s.png", True, "s.part.png"), ("x", True, "x.part")],
)
def test_part_names(tmp_path, name, keep, expected):
    assert part_path(tmp_path / name, keep_suffix=keep).name == expected


def test_copy(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("abc")
    assert atomic_copy(src, tmp_path / "dst.txt").read_text() == "abc"


def test_a_full_disk_is_a_one_line_error_naming_file_and_device(tmp_path):
    import errno

    from difffit.io.atomic import DiskFullError, atomic_path

    target = tmp_path / "out.csv"
    with pytest.raises(DiskFullError) as e:
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    msg = str(e.value)
    assert msg.startswith("no space left on /") and f"writing {target}" in msg
    assert "\n" not in msg
    assert list(tmp_path.iterdir()) == []  # no .part, no target
