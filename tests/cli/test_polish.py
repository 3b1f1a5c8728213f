"""The CLI's surface: help text, version, --type values, JSON errors, readable status."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.config import Settings
from ragcli.load import KINDS


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_flags_show_no_type_and_settings_show_their_defaults():
    out = invoke("search", "--help").output
    assert "<bool>" not in out and "<list[" not in out
    assert re.search(r"--json\s+Machine-readable", out)
    assert re.search(r"--top-k\s+-k\s+<int>\s+Number of results\. \[default: 5\]", out)
    assert "[default: hybrid]" in out and f"[default: {Settings.alpha}]" in out
    assert f"[default: {Settings.fusion}]" in out
    assert "[default: cross-encoder/ms-marco-MiniLM-L-6-v2]" in out
    assert "(5)" not in out
    ingest = invoke("ingest", "--help").output
    assert "[default: 200]" in ingest and "Embed with auto (default: onnx-int8-fused" in ingest


def test_version():
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        result = invoke(flag)
        assert result.exit_code == 0
        assert result.stdout == f"rag (ragcli) {version('ragcli')}\n"


@pytest.fixture
def project(examples_project, monkeypatch):
    monkeypatch.chdir(examples_project)
    monkeypatch.setenv("RAG_RERANK", "false")
    return examples_project


def test_an_unknown_type_is_a_usage_error_listing_the_valid_ones(project):
    result = invoke("search", "tesla", "--type", "docs")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("rag: error: --type 'docs': unknown document type; choose from ")
    assert ", ".join(sorted(KINDS)) in line and "md" in line
    assert invoke("search", "tesla", "--type", "MD", "--files").exit_code == 0  # an extension
    assert invoke("search", "tesla", "--type", "image").exit_code != 2  # OCR'd images are a kind


def test_errors_are_json_on_stdout_under_json(project):
    result = invoke("search", "tesla", "-k", "0", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "error": "--top-k: k = 0 is out of range; it must be at least 1"
    }
    assert result.stderr.startswith("rag: error: --top-k")
    plain = invoke("search", "tesla", "-k", "0")
    assert plain.exit_code == 2 and plain.stdout == ""


def test_status_shows_the_settings_readably(project):
    result = invoke("status")
    assert result.exit_code == 0, result.output
    lines = {line[:12].strip(): line[12:] for line in result.stdout.splitlines()}
    assert lines["chunking"] == "200 tokens, 32 overlap"
    assert lines["bm25"] == (
        "lucene k1 0.9 b 0.4, english stemmer, en stopwords, code names whole, heading paths"
    )
    assert lines["search"] == (
        f"k 5  mode hybrid  alpha {Settings.alpha}  name-alpha {Settings.name_alpha}"
        f"  fusion {Settings.fusion}  pool-factor 5  rerank-depth 20"
    )
    assert lines["rerank"].startswith("off (rerank = false)  cross-encoder/ms-marco-MiniLM")
    info = json.loads(invoke("status", "--json").stdout)
    assert info["search"]["k"] == 5 and info["rerank"]["available"] is False
