"""Long-lived readers follow ``CURRENT`` (issue 16, defect 8).

A Python ``Index`` and a `rag chat` ``ChatSession`` stay open while another process runs
two ingests, which deletes the generation they first read. Their next search and their
next answer come from the generation ``CURRENT`` names, never from the deleted one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_ingest import live_name, run_rag, subprocess_env, write_files

from ragcli.answer.chat import ChatSession
from ragcli.config import Settings
from ragcli.index import Index

QUESTION = "What is the password of the caldera gate?"


def caldera(word: str) -> dict[str, str]:
    return {
        "volcano.txt": f"Volcano notes.\n\nThe password of the caldera gate is {word}.\n",
        "violin.txt": "Violin notes.\n\nThe violin has four strings tuned in fifths.\n",
    }


def ingest_elsewhere(project: Path, env: dict[str, str], word: str) -> None:
    """`rag ingest` in another process, after the file now says ``word``."""
    write_files(project / "docs", caldera(word))
    done = run_rag(["ingest", "docs"], project, env, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow  # two `rag ingest` processes
def test_index_and_chat_answer_from_the_generation_current_names(tmp_path, embed_model_path):
    project = tmp_path / "project"
    env = subprocess_env(tmp_path)
    ingest_elsewhere(project, env, "obsidian")
    index_dir = project / ".rag" / "default"
    settings = Settings(mode="sparse", rerank=False, llm="extractive", k=1)
    index = Index(index_dir, settings=settings)
    chat = ChatSession(index, cache=False, new=True, history_file=tmp_path / "history.jsonl")
    assert "obsidian" in chat.turn(QUESTION).text
    first = index.fresh_store().generation_dir

    ingest_elsewhere(project, env, "pumice")
    ingest_elsewhere(project, env, "basalt")
    assert not first.exists()  # the generation both readers had open is gone from disk

    [hit] = index.search(QUESTION)
    assert "basalt" in hit.chunk.text
    result = chat.turn(QUESTION)
    assert "basalt" in result.text and "obsidian" not in result.text
    texts = " ".join(hit.chunk.text for hit in result.hits)
    assert "basalt" in texts and "obsidian" not in texts and "pumice" not in texts
    assert index.fresh_store().generation_dir.name == live_name(index_dir)
    assert index.status()["generation"] == 3
