"""Running `rag` on hostile input under the issue-25 ceilings: each command uses under
``SECONDS`` of CPU (a bound on a hang, not a speed target; CPU rather than wall time, so
that six agents sharing two cores do not fail it, with ``WALL_SECONDS`` killing a
process that waits forever) and its process peaks under ``PEAK_MIB`` of resident memory,
read in the child itself (VmHWM, and ru_maxrss of any process it started) so the
parent's memory is never counted."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SECONDS = 10.0
WALL_SECONDS = 120.0
PEAK_MIB = 1024

# Runs `rag` with argv[3:] after the Python code in argv[2] (a test's setup, "" for
# none), then writes its peak resident MiB to argv[1].
_CHILD = """
import atexit, resource, sys
out = sys.argv[1]
exec(sys.argv[2])
sys.argv = ["rag", *sys.argv[3:]]

def record():
    hwm = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) // 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    with open(out, "w") as handle:
        handle.write(str(max(hwm, children)))

atexit.register(record)
from ragcli.cli import main
main()
"""


@dataclass
class Bounded:
    returncode: int
    stdout: str
    stderr: str
    peak_mib: int
    seconds: float  # wall

    def lines(self) -> list[str]:
        return self.stderr.splitlines()


def run_bounded(args: list[str], cwd: Path, env: dict[str, str], prelude: str = "") -> Bounded:
    """`rag *args`; fails the test past ``SECONDS`` of CPU or ``PEAK_MIB`` of memory."""
    peak_file = Path(cwd) / ".peak-rss"
    peak_file.unlink(missing_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(peak_file), prelude, *args],
                                 cwd=cwd, env=env, stdout=out, stderr=err)  # fmt: skip
        timer = threading.Timer(WALL_SECONDS, child.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    seconds = time.monotonic() - started
    cpu = usage.ru_utime + usage.ru_stime
    command = f"rag {' '.join(args)[:200]}"
    assert child.returncode != -9, f"{command} ran past {WALL_SECONDS:.0f} s"
    assert cpu < SECONDS, f"{command} used {cpu:.1f} s of CPU"
    peak = int(peak_file.read_text())
    peak_file.unlink()
    assert "Traceback" not in stderr, stderr
    assert peak < PEAK_MIB, f"peak RSS {peak} MiB"
    return Bounded(child.returncode, stdout, stderr, peak, seconds)
