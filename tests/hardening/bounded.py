"""Running `rag` on hostile input under the issue-25 ceilings: each command ends within
``SECONDS`` (a bound on a hang, not a speed target) and its process peaks under
``PEAK_MIB`` of resident memory, read in the child itself (VmHWM, and ru_maxrss of any
process it started) so the parent's memory is never counted."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SECONDS = 10.0
PEAK_MIB = 1024

# Runs `rag` with argv[2:], then writes its peak resident MiB to argv[1].
_CHILD = """
import atexit, resource, sys
out = sys.argv[1]
sys.argv = ["rag", *sys.argv[2:]]

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
    seconds: float

    def lines(self) -> list[str]:
        return self.stderr.splitlines()


def run_bounded(args: list[str], cwd: Path, env: dict[str, str]) -> Bounded:
    """`rag *args`; fails the test if it outlives ``SECONDS`` or peaks over ``PEAK_MIB``."""
    peak_file = Path(cwd) / ".peak-rss"
    peak_file.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(peak_file), *args], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=SECONDS)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AssertionError(f"rag {' '.join(args)[:200]} ran past {SECONDS:.0f} s") from None
    seconds = time.monotonic() - started
    peak = int(peak_file.read_text())
    peak_file.unlink()
    assert "Traceback" not in done.stderr, done.stderr
    assert peak < PEAK_MIB, f"peak RSS {peak} MiB"
    return Bounded(done.returncode, done.stdout, done.stderr, peak, seconds)
