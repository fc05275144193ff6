"""Wall time and peak memory of a child process tree (Linux, no extra dependencies).

Peak memory is taken two ways and the larger one is reported:

* the ``ru_maxrss`` of the child from ``wait4`` — what GNU ``/usr/bin/time -v`` prints as
  "Maximum resident set size": the largest RSS of the child or of any descendant it waited
  for (one process, not a sum);
* the peak, over polls every ``interval`` seconds, of the sum of the proportional set size
  (PSS, ``/proc/PID/smaps_rollup``; RSS where PSS is unreadable) of the child and all its
  descendants. PSS splits shared pages between the processes sharing them, so the sum is the
  memory the tree really holds; it matters for multi-process peers (PowerFit ``-p 2``).
  Polling can miss a spike shorter than ``interval``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunStats", "descendants", "run_measured", "tree_memory_mb"]


@dataclass(frozen=True)
class RunStats:
    """One measured run of a command.

    Attributes
    ----------
    wall_s : float
        Wall-clock seconds from start to exit (s).
    peak_mb : float
        max(peak_tree_pss_mb, max_rss_mb), MB (10^6 bytes).
    peak_tree_pss_mb : float
        Peak of the polled PSS sum over the process tree, MB.
    max_rss_mb : float
        ``ru_maxrss`` of the child (largest single process), MB.
    cpu_s : float
        User + system CPU seconds of the child and the descendants it waited for (s).
    returncode : int
        Exit status; negative = killed by that signal; 124 = timed out (killed by us).
    timed_out : bool
    stdout_path, stderr_path : Path
        Files holding the command's output.
    """

    wall_s: float
    peak_mb: float
    peak_tree_pss_mb: float
    max_rss_mb: float
    cpu_s: float
    returncode: int
    timed_out: bool
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name (field 2) is in parentheses and may contain spaces
        rest = stat[stat.rfind(b")") + 2 :].split()
        kids.setdefault(int(rest[1]), []).append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    """``pid`` and all processes below it (from ``/proc/*/stat``)."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def _process_memory_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory_mb(pid: int) -> float:
    """Sum of PSS (or RSS) of ``pid`` and its descendants now, MB."""
    return sum(_process_memory_kb(p) for p in descendants(pid)) * 1024 / 1e6


def run_measured(
    argv: list[str],
    *,
    log_dir: Path,
    name: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    interval: float = 0.1,
) -> RunStats:
    """Run ``argv`` to completion, measuring wall time and peak memory of its process tree.

    stdout and stderr go to ``log_dir/name.out`` and ``log_dir/name.err``. The child runs in its
    own session; on timeout that whole process group (only it) is killed.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path = log_dir / f"{name}.out"
    err_path = log_dir / f"{name}.err"
    peak_kb_tree = 0.0
    timed_out = False
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            peak_kb_tree = max(peak_kb_tree, tree_memory_mb(proc.pid) * 1e6 / 1024)
            if timeout_s is not None and time.perf_counter() - t0 > timeout_s and not timed_out:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(interval)
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here with wait4; tell Popen so it does not wait again
    max_rss_mb = rusage.ru_maxrss * 1024 / 1e6  # Linux: ru_maxrss in kB
    tree_mb = peak_kb_tree * 1024 / 1e6
    return RunStats(
        wall_s=wall,
        peak_mb=max(tree_mb, max_rss_mb),
        peak_tree_pss_mb=tree_mb,
        max_rss_mb=max_rss_mb,
        cpu_s=rusage.ru_utime + rusage.ru_stime,
        returncode=124 if timed_out else code,
        timed_out=timed_out,
        stdout_path=out_path,
        stderr_path=err_path,
    )
