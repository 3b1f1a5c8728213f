"""A small project indexed with a stand-in encoder (no model), shared by the documents and
serve tests: sparse searches need no model, so a `rag` subprocess can repeat them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers_ingest import clean_env, subprocess_env, write_files

from ragcli.config import load_settings
from ragcli.ingest import ingest
from ragcli.store.local import LocalWriter


class HashEncoder:
    """Unit vectors seeded by the text: the same text always embeds the same."""

    dimension = 8

    def encode(self, texts, progress=None):
        rows = []
        for text in texts:
            seed = int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little")
            rows.append(np.random.default_rng(seed).standard_normal(8))
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


LONG_LINES = 400  # enough for several chunks


def long_text() -> str:
    return "".join(f"line {n} of the long notes mentions walrus{n}\n" for n in range(1, 401))


def project_files() -> dict[str, str]:
    records = [
        {"_id": "rec-a", "title": "Alpha", "text": "The aardvark digs burrows at night."},
        {"_id": "rec-b", "title": "Beta", "text": "The bittern booms across the marsh."},
    ]
    return {
        "docs/guide.md": "# Guide\n\nInstall with pip.\n\n## Usage\n\nRun the quokka command.\n",
        "docs/long.txt": long_text(),
        "src/tool.py": "def main():\n    return 'pangolin'\n",
        "data/corpus.jsonl": "".join(json.dumps(r) + "\n" for r in records),
    }


def build_project(root: Path, extra: dict[str, str] | None = None) -> Path:
    """``root`` with the files above (and ``extra``) ingested into ``root/.rag/default``."""
    write_files(root, {**project_files(), **(extra or {})})
    reindex(root)
    return root


def reindex(root: Path, folders=("docs", "src", "data")) -> None:
    paths = [root / folder for folder in folders if (root / folder).exists()]
    ingest(
        LocalWriter(root / ".rag" / "default"),
        paths,
        load_settings(root),
        base_dir=root,
        encoder=HashEncoder(),
    )


def sparse_env(monkeypatch) -> None:
    """Searches that need no model: BM25 only, no reranker (a subprocess inherits it)."""
    monkeypatch.setenv("RAG_MODE", "sparse")
    monkeypatch.setenv("RAG_RERANK", "false")
    monkeypatch.setenv("RAG_LLM", "extractive")


def tools_for(root: Path, replicas: int = 1):
    from ragcli.index import Index
    from ragcli.serve.resident import Resident
    from ragcli.serve.tools import Tools

    return Tools(Resident(lambda: Index(root / ".rag" / "default"), replicas))


def subprocess_project(tmp_path: Path, monkeypatch) -> tuple[Path, dict[str, str]]:
    """The project of ``build_project`` and the environment a `rag` subprocess serving
    it gets: sparse search, no reranking, the extractive answerer, its own cache."""
    clean_env(monkeypatch, tmp_path)
    root = build_project(tmp_path / "project")
    env = subprocess_env(tmp_path)
    env.update(RAG_MODE="sparse", RAG_RERANK="false", RAG_LLM="extractive",
               RAG_CACHE_DIR=str(tmp_path / "cache"))  # fmt: skip
    return root, env


def wait_healthy(url: str, headers: dict | None = None, timeout: float = 90, server=None) -> None:
    """Until ``GET url/health`` answers 200; ``AssertionError`` after ``timeout`` seconds,
    or as soon as ``server`` (the ``Popen`` of the server) has ended."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert server is None or server.poll() is None, f"the server at {url} ended"
        assert time.monotonic() < deadline, f"{url} never became healthy"
        time.sleep(0.2)
