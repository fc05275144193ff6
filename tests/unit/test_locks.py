"""Folder locks (difffit.io.locks): one run per folder, re-entrant within a process."""

import subprocess
import sys
import textwrap

import pytest

from difffit.errors import ConfigError
from difffit.io.locks import LOCK_NAME, hold_folder


def _holder(folder):
    """A child process holding ``folder`` until its stdin closes."""
    code = textwrap.dedent(
        f"""
        import sys
        from difffit.io.locks import hold_folder
        with hold_folder({str(folder)!r}):
            print("held", flush=True)
            sys.stdin.read()
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert p.stdout.readline().strip() == "held"
    return p


def test_another_process_holding_the_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    p = _holder(out)
    try:
        with pytest.raises(ConfigError, match="another difffit run holds this folder") as e:
            with hold_folder(out):
                pass
        assert str(out) in str(e.value) and "\n" not in str(e.value)
    finally:
        p.communicate("")
    with hold_folder(out):  # released when the holder ends
        assert (out / LOCK_NAME).exists()
    assert not (out / LOCK_NAME).exists()


def test_reentrant_and_leaves_no_file(tmp_path):
    out = tmp_path / "new"
    with hold_folder(out):
        with hold_folder(out):
            assert (out / LOCK_NAME).exists()
        assert (out / LOCK_NAME).exists()
        (out / "result.txt").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["result.txt"]


def test_a_created_folder_left_empty_is_removed(tmp_path):
    out = tmp_path / "empty"
    with pytest.raises(RuntimeError):
        with hold_folder(out):
            raise RuntimeError("the run failed")
    assert not out.exists()


def test_a_file_is_not_a_folder(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        with hold_folder(f):
            pass
