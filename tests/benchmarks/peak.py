"""A whole process's time and peak memory, measured apart from the benchmark's own process.

Linux gives a process, when it execs, the peak RSS of the memory it had before (for a child,
the copy of its parent's it was forked or spawned with): a command started straight from pytest
reports at least pytest's size as its own peak, through wait4 and getrusage alike (pytest holds
hundreds of MiB after some benchmarks; a command measured after them reported 1,589 MiB for a
scan that peaks at about 70). So each command is started by a small launcher, a Python started
with -I -S that imports nothing more (its floor, launcher_floor_kib: what a command that
allocates nothing reports through it, about 8 MiB), which waits for it and hands back its own
exit code, CPU time and peak RSS. For time alone, a benchmark times its command directly: the
launcher's start (about 15 ms) is in `wall`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LAUNCHER = """import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), b"%d %r %d" % (os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime,
                                        usage.ru_maxrss))
"""


@dataclass(frozen=True)
class Measured:
    wall: float
    """Seconds, the launcher's start included (about 15 ms)."""
    cpu: float
    """User and system seconds of the command and the children it waited for."""
    peak_mib: float
    """The command's peak RSS (at least the launcher's floor, launcher_floor_kib)."""
    returncode: int


def measured(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
             timeout: float = 3600, **popen: Any) -> Measured:
    """Run `args` (its output to /dev/null unless `popen` says otherwise) and measure it; past
    `timeout`, it and its launcher are killed and TimeoutExpired raised."""
    read, write = os.pipe()
    try:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write), *args], cwd=cwd,
                                env=dict(env) if env is not None else None, pass_fds=(write,), start_new_session=True,
                                **{"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen})
        os.close(write)
        write = -1
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - start
        report = os.read(read, 256).split()
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    assert proc.returncode == 0 and len(report) == 3, (args, proc.returncode, report)
    code, cpu, peak = int(report[0]), float(report[1]), int(report[2])
    return Measured(wall, cpu, peak / 1024, code)


def launcher_floor_kib() -> int:
    """The peak RSS a command that allocates nothing (`true`) reports through the launcher."""
    return round(measured(["true"]).peak_mib * 1024)
