"""kernels.threads(n): the thread counts are set for a block and restored after it."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numba
import pytest

from difffit import kernels


class _FakeTorch(SimpleNamespace):
    """Stands in for torch (only its thread count is touched), without importing it."""

    def __init__(self, n: int) -> None:
        super().__init__(n=n)

    def get_num_threads(self) -> int:
        return self.n

    def set_num_threads(self, n: int) -> None:
        self.n = n


@pytest.fixture
def numba_one_thread():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2 to see a change")
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def test_threads_are_restored_after_the_block(numba_one_thread, monkeypatch):
    torch = _FakeTorch(7)
    monkeypatch.setitem(sys.modules, "torch", torch)
    with kernels.threads(2) as n:
        assert n == 2 and numba.get_num_threads() == 2 and torch.n == 2
    assert numba.get_num_threads() == 1
    assert torch.n == 7
    with kernels.threads(None) as n:  # all cores, at most numba's pool
        assert 1 <= n <= numba.config.NUMBA_NUM_THREADS and torch.n == n
    assert numba.get_num_threads() == 1 and torch.n == 7


def test_threads_are_restored_on_error(numba_one_thread, monkeypatch):
    torch = _FakeTorch(5)
    monkeypatch.setitem(sys.modules, "torch", torch)
    with pytest.raises(RuntimeError, match="boom"), kernels.threads(2):
        assert numba.get_num_threads() == 2 and torch.n == 2
        raise RuntimeError("boom")
    assert numba.get_num_threads() == 1
    assert torch.n == 5


def test_torch_imported_inside_the_block_is_left_alone(numba_one_thread, monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    torch = _FakeTorch(3)
    with kernels.threads(2):
        monkeypatch.setitem(sys.modules, "torch", torch)
    assert torch.n == 3 and numba.get_num_threads() == 1
