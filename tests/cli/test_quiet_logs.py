"""No library DEBUG/INFO log lines reach a user's terminal."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_ingest import subprocess_env

from ragcli.cli.app import quiet_library_logs

REPO = Path(__file__).resolve().parents[2]


def test_a_library_basicconfig_after_the_cli_started_changes_nothing(capsys):
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        quiet_library_logs()
        logging.basicConfig(level=logging.INFO)  # what onnxruntime's quantizer does on import
        logging.getLogger("bm25s").setLevel(logging.DEBUG)
        logging.getLogger("bm25s").debug("Building index from tokens")
        logging.getLogger("bm25s").warning("something worth saying")
    finally:
        logging.getLogger("bm25s").setLevel(logging.NOTSET)
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Building index" not in err
    assert "rag: warning: bm25s: something worth saying" in err


@pytest.mark.slow
def test_onnx_int8_ingest_with_a_fresh_export_prints_no_debug_lines(tmp_path, embed_model_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Steam\n\nSteam engines turned heat into work.\n")
    env = subprocess_env(tmp_path)
    env.update(RAG_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO))  # export anew
    done = subprocess.run(
        [sys.executable, "-c", "from ragcli.cli import main; main()", "ingest", "docs",
         "--embed-backend", "onnx-int8"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 added" in done.stdout
    for level in ("DEBUG", "INFO"):
        assert level not in done.stderr, done.stderr
