"""Start-up cost: what `rag --help` and a cold `rag search` import, typer's coercion
short-cut (ragcli.cli.app) agrees with typer, and the background encoder warm-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main
from helpers_ingest import clean_env, write_files

from ragcli.cli import app
from ragcli.cli.app import _NOT_PLAIN, _plain_value
from ragcli.config import load_settings
from ragcli.index import Index
from ragcli.ingest import ingest
from ragcli.store.local import LocalWriter

HEAVY = (
    "numpy", "pydantic", "faiss", "onnxruntime", "bm25s", "torch", "sentence_transformers",
    "mcp", "starlette", "uvicorn",
)  # fmt: skip


def modules_after(argv: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run the CLI in a fresh interpreter; which HEAVY modules it imported, and exit code."""
    code = (
        "import atexit, json, sys\n"
        f"heavy = {HEAVY!r}\n"
        "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps(\n"
        "    sorted(m for m in heavy if m in sys.modules)) + '\\n'))\n"
        f"sys.argv = ['rag', *{argv!r}]\n"
        "from ragcli.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("MODULES ")][-1]
    return {"modules": json.loads(line[len("MODULES ") :]), "code": done.returncode, **vars(done)}


@pytest.mark.slow  # a fresh interpreter
def test_help_imports_nothing_heavy():
    result = modules_after(["--help"])
    assert result["code"] == 0
    assert result["modules"] == []
    assert "search" in result["stdout"]


@pytest.fixture
def hash_index(tmp_path, monkeypatch) -> Path:
    """A small index made with a stand-in encoder (no model), for sparse searches."""
    clean_env(monkeypatch, tmp_path)
    project = tmp_path / "project"
    write_files(project, {f"n/t{n}.md": f"# T{n}\n\nword{n} shared text.\n" for n in range(5)})

    class Encoder:
        dimension = 8

        def encode(self, texts, progress=None):
            rng = np.random.default_rng(len(texts))
            vectors = rng.standard_normal((len(texts), 8)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    index_dir = project / ".rag" / "default"
    ingest(
        LocalWriter(index_dir),
        [project / "n"],
        load_settings(project),
        base_dir=project,
        encoder=Encoder(),
    )
    return index_dir


@pytest.mark.slow  # a fresh interpreter
def test_default_rerank_without_the_model_imports_no_torch(hash_index):
    # the cross-encoder is not on this machine (the test cache is empty): the search must
    # not try to load it, which would import torch and sentence-transformers
    result = modules_after(
        ["search", "word3", "--mode", "sparse", "--json"], env={"RAG_INDEX": str(hash_index)}
    )
    assert result["code"] == 0, result["stderr"]
    assert json.loads(result["stdout"])["reranked"] is False
    assert result["modules"] == ["numpy"]
    assert "rag:" not in result["stderr"]  # no warning either


@pytest.mark.slow  # a fresh interpreter
def test_sparse_search_loads_neither_the_encoder_nor_faiss_nor_bm25s_nor_pydantic(hash_index):
    result = modules_after(
        ["search", "word3", "--mode", "sparse", "--json", "--no-rerank"],
        env={"RAG_INDEX": str(hash_index)},
    )
    assert result["code"] == 0, result["stderr"]
    assert json.loads(result["stdout"])["results"][0]["source"] == "n/t3.md"
    assert result["modules"] == ["numpy"]  # the BM25 sidecar is read with numpy alone


def _commands():
    group = typer.main.get_command(app)
    yield "", group
    yield from group.commands.items()


CANDIDATES = [None, (), [], True, False, "text", "", "3", 3, 0.5, b"bytes", ("a", "b")]


def test_pass_through_agrees_with_typers_coercion():
    """For every parameter of every command, a value the short-cut passes through is
    exactly what typer's own coercion makes of it."""
    checked = 0
    for _name, command in _commands():
        ctx = command.make_context("rag", [], resilient_parsing=True)
        for param in command.params:
            for value in CANDIDATES:
                plain = _plain_value(param, value)
                if plain is _NOT_PLAIN:
                    continue
                runtime = param.get_runtime_param()
                if param.type_descriptor.annotation is bool and isinstance(value, bool):
                    expected = value  # typer skips coercion for these too
                else:
                    expected = runtime.coerce(value, param=param, ctx=ctx)
                assert plain == expected and type(plain) is type(expected), (param.name, value)
                checked += 1
    assert checked > 50


def test_values_that_need_coercion_still_get_it(hash_index):
    idx = Index(hash_index)
    assert idx.exists()
    result = modules_after(
        ["search", "word1", "--mode", "sparse", "-k", "2", "--alpha", "0.5", "--json"],
        env={"RAG_INDEX": str(hash_index)},
    )
    assert result["code"] == 0, result["stderr"]
    record = json.loads(result["stdout"])
    assert record["k"] == 2 and isinstance(record["k"], int)
    bad = modules_after(["search", "word1", "-k", "many"], env={"RAG_INDEX": str(hash_index)})
    assert bad["code"] == 2 and "valid integer" in bad["stderr"]
    missing = modules_after(["ingest"])
    assert missing["code"] == 2 and "Missing argument" in missing["stderr"]


class FailingEncoder:
    """Its session cannot be created: the warm-up thread fails, the search must raise."""

    loads = 0

    def load(self):
        FailingEncoder.loads += 1
        raise RuntimeError("no session")

    def encode_query(self, text):
        self.load()


def test_a_failing_background_load_raises_in_the_searching_thread(hash_index):
    idx = Index(hash_index)
    idx.__dict__["query_encoder"] = FailingEncoder()
    with pytest.raises(RuntimeError, match="no session"):
        idx.search("word2", k=2, mode="hybrid", rerank=False)
    assert FailingEncoder.loads == 2  # once in the background, once in the caller
    assert idx.search("word2", k=2, mode="sparse", rerank=False)[0].chunk.source == "n/t2.md"


@pytest.mark.slow  # a fresh interpreter
def test_search_exits_quickly_with_the_same_codes_and_output(hash_index):
    """`rag search` ends without interpreter teardown: atexit handlers (the MODULES line
    comes from one) still run, exit codes and output are unchanged."""
    env = {"RAG_INDEX": str(hash_index)}
    none = modules_after(["search", "zzzqx", "--mode", "sparse", "--no-rerank"], env=env)
    assert none["code"] == 1 and "no results" in none["stderr"]
    found = modules_after(["search", "word4", "--mode", "sparse", "--no-rerank"], env=env)
    assert found["code"] == 0 and "n/t4.md" in found["stdout"]
    usage = modules_after(["search"], env=env)
    assert usage["code"] == 2 and "give a query" in usage["stderr"]


@pytest.mark.slow  # a fresh interpreter
def test_help_exits_quickly_with_the_same_output():
    assert modules_after([])["code"] == 2  # no_args_is_help
    for argv in (["--help"], ["search", "-h"], ["ingest", "--help"]):
        result = modules_after(argv)
        assert result["code"] == 0 and "Usage: rag" in result["stdout"]
    assert modules_after(["ingest"])["code"] == 2
