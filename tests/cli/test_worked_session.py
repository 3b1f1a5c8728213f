"""README's "A worked session" is what `rag` really prints (examples/worked_session.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "worked_session.py"


def readme_block() -> str:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import worked_session
    finally:
        sys.path.remove(str(SCRIPT.parent))
    text = worked_session.README.read_text(encoding="utf-8")
    start, end = worked_session.block_span(text)
    return text[start:end]


def test_the_readme_session_shows_no_warnings_and_every_command():
    block = readme_block()
    assert "rag: warning" not in block and "Traceback" not in block
    assert block.count("$ rag ") == 7
    assert "Tesla partnered with two businessmen in 1886" in block  # the matching passage


@pytest.mark.slow
def test_the_readme_session_is_real_output(embed_model_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
