"""difffit.memory: glibc's mmap threshold fixed (the screen's main process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from difffit.memory import fix_mmap_threshold

_PROBE = """
import numpy as np
from difffit.memory import fix_mmap_threshold
if {fixed}:
    assert fix_mmap_threshold()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
base = rss()
keep = []
for i in range(20):  # large blocks freed one after the other, small ones kept between them
    big = np.ones(3_700_000 - 10_000 * i)
    keep.append(np.ones(100))
    del big
print(rss() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only")
def test_large_freed_blocks_go_back_to_the_system():
    def grown(fixed: bool) -> int:
        out = subprocess.run([sys.executable, "-c", _PROBE.format(fixed=fixed)], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        return int(out.split()[-1])

    # the dynamic threshold keeps the large blocks' memory in the heap; a fixed one does not
    assert grown(True) < grown(False) - 20_000  # kB


def test_fix_mmap_threshold_says_whether_it_could():
    assert fix_mmap_threshold() in (True, False)
    if sys.platform.startswith("linux"):
        assert fix_mmap_threshold() is True
