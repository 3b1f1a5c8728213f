"""What a person sees while `rag ingest` runs in a real terminal (tmux), frame by frame.

    python benchmarks/ingest_terminal.py FOLDER [--first-run] [--every 1.0] [--width 110]

Copies nothing: runs `rag ingest FOLDER` in a fresh project folder (a temporary one,
so no .rag lands in FOLDER's tree) inside a detached tmux session, captures the pane
(`tmux capture-pane -p`) every ``--every`` seconds, and prints each distinct frame with
its time. ``--first-run`` gives the run an empty ragcli cache (``RAG_CACHE_DIR``), so it
prepares the embedding model as a first run on a new machine does. Exit 1 when the
ingest failed or did not finish within ``--timeout``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def capture(session: str, history: bool = False) -> str:
    """The pane as shown; with ``history`` its scrollback too (the last frame)."""
    command = ["tmux", "capture-pane", "-p", "-t", session] + (["-S", "-"] if history else [])
    result = subprocess.run(command, capture_output=True, text=True)
    return "\n".join(line.rstrip() for line in result.stdout.rstrip("\n").splitlines())


def run(
    folder: Path, first_run: bool, every: float, width: int, timeout: float
) -> tuple[list, int]:
    """``([(seconds, frame), ...], exit code)``: the distinct frames and the ingest's code."""
    work = Path(tempfile.mkdtemp(prefix="rag-terminal-"))
    session = f"rag-terminal-{os.getpid()}"
    done = work / "exit-code"
    # The tmux server may have been started by another process: its environment is not
    # this one, so what the run needs is passed on the command line.
    passed = ("HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_OFFLINE", "RAG_CACHE_DIR")
    env = {key: os.environ[key] for key in passed if key in os.environ}
    env.update(PYTHONPATH=str(REPO), RAG_RERANK="false", COLUMNS=str(width), LINES="12")
    if first_run:
        env["RAG_CACHE_DIR"] = str(work / "cache")
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    rag = shlex.quote(str(Path(sys.executable).parent / "rag"))
    command = (
        f"cd {shlex.quote(str(work))} && env {exports} {rag} ingest {shlex.quote(str(folder))}; "
        f"echo $? > {shlex.quote(str(done))}; sleep 30"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", "12", command],
        check=True,
    )
    frames: list[tuple[float, str]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            frame = capture(session)
            if frame and (not frames or frames[-1][1] != frame):
                frames.append((time.monotonic() - started, frame))
            if done.exists():
                time.sleep(0.3)
                frame = capture(session, history=True)
                if frames[-1][1] != frame:
                    frames.append((time.monotonic() - started, frame))
                return frames, int(done.read_text().strip() or 1)
            time.sleep(every)
        return frames, 1
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--first-run", action="store_true")
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--width", type=int, default=110)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    frames, code = run(args.folder.resolve(), args.first_run, args.every, args.width, args.timeout)
    for seconds, frame in frames:
        print(f"--- {seconds:6.1f} s ---")
        print(frame)
    return code


if __name__ == "__main__":
    sys.exit(main())
