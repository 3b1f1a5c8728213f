"""README's "A worked session", from real runs of `rag` on examples/docs.

    python examples/worked_session.py          # run the commands, rewrite the README block
    python examples/worked_session.py --check  # exit 1 (with a diff) when README differs

The commands run in a temporary project holding a copy of examples/docs, offline, with no
language model configured (no API key; nothing answering on Ollama's default port, as on
most machines) and no user settings. Ingest times differ from run to run, so --check
compares them as "(N s in all)". tests/cli/test_worked_session.py runs the check.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
HEADING = "## A worked session"

COMMANDS = [
    ["ingest", "examples/docs"],
    ["ingest", "examples/docs"],
    ["search", "Who did Tesla partner with in 1886?", "-k", "3"],
    ["ask", "How many people died of the plague in Paris in 1466?"],
    ["search", "Apollo program funding", "--type", "html", "-k", "2"],
    ["search", "moon landing", "--files"],
    ["search", "Apollo", "-k", "0", "--json"],
]
_SECONDS = re.compile(r"\(\d+(\.\d+)? s in all(, \d+ s of it preparing the embedding model)?\)")


def environment(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RAG_") or key == "RAG_CACHE_DIR"
    }
    for key in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "OLLAMA_HOST"):
        env.pop(key, None)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        XDG_CONFIG_HOME=str(home / "config"),
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",  # stdout and stderr interleaved as a terminal shows them
        COLUMNS="100",
        NO_COLOR="1",
    )
    return env


def run_session() -> str:
    """The transcript: each command after ``$ ``, then its output (stdout and stderr)."""
    rag = [sys.executable, "-c", "from ragcli.cli import main; main()"]
    with tempfile.TemporaryDirectory(prefix="rag-worked-session-") as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "examples" / "docs", project / "examples" / "docs")
        env = environment(project)
        parts = []
        for args in COMMANDS:
            done = subprocess.run(
                [*rag, *args],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=600,
            )
            shown = "$ rag " + shlex.join(args)
            if done.returncode:
                shown += f"    # exit {done.returncode}"
            parts.append(f"{shown}\n{done.stdout.rstrip()}\n")
    return "\n".join(parts)


def block_span(text: str) -> tuple[int, int]:
    """Where the transcript sits in README: inside the first ``` block after HEADING."""
    heading = text.index(HEADING)
    opening = text.index("\n```\n", heading) + len("\n```\n")
    closing = text.index("\n```\n", opening)
    return opening, closing + 1


def comparable(text: str) -> str:
    return _SECONDS.sub("(N s in all)", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not rewrite")
    check = parser.parse_args().check
    readme = README.read_text(encoding="utf-8")
    start, end = block_span(readme)
    transcript = run_session()
    if not check:
        README.write_text(readme[:start] + transcript + readme[end:], encoding="utf-8")
        return 0
    old, new = comparable(readme[start:end]), comparable(transcript)
    if old == new:
        return 0
    diff = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "README.md", "real output", lineterm=""
    )
    sys.stdout.write("\n".join(diff) + "\n")
    sys.stdout.write("README.md's worked session is out of date: run examples/worked_session.py\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
