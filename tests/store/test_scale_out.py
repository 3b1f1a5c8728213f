"""End to end on the scale-out parts: the whole CLI against a Milvus Lite store gives what
it gives on the local store, and `rag ingest --engine ray` stores the local encoder's
vectors. Real Milvus Lite (started by pymilvus from a local path), real local Ray."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import clean_env, one_model_load, topic_text, write_files
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.config import Settings
from ragcli.index import Index
from ragcli.types import SearchFilter

pytestmark = pytest.mark.slow  # Milvus Lite and Ray

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
QUERIES = [
    "When did the Black Death reach Europe?",
    "Which rockets did the Apollo program use?",
    "alternating current induction motor",
    "Who founded the Yuan dynasty?",
    "How do plants make oxygen?",
]


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


def rag(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def twin(tmp_path_factory, embed_model_path):
    """The example corpus ingested twice: into a local index and into Milvus Lite."""
    root = tmp_path_factory.mktemp("twin")
    shutil.copytree(EXAMPLES, root / "docs")
    local = Index(root / ".rag" / "default")
    local.ingest([root / "docs"])
    uri = f"milvus-lite:{root / 'milvus.db'}"
    remote = Index.locate(store=uri, cwd=root)
    remote.ingest([root / "docs"])
    return root, uri, local, remote


def ids(hits) -> list[int]:
    return [hit.chunk.chunk_id for hit in hits]


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_milvus_gives_the_local_results(twin, mode):
    _, _, local, remote = twin
    for query in QUERIES:
        want = local.search(query, k=10, mode=mode, rerank=False)
        got = remote.search(query, k=10, mode=mode, rerank=False)
        assert ids(got) == ids(want), query
        score = "dense" if mode == "dense" else "sparse"
        assert [getattr(h, score) for h in got] == pytest.approx(
            [getattr(h, score) for h in want], rel=1e-4, abs=1e-5
        )
        assert [h.chunk.location for h in got] == [h.chunk.location for h in want]


@pytest.mark.parametrize(
    ("fusion", "alpha"), [("minmax", 0.7), ("minmax", 0.3), ("rrf", 0.5), ("adaptive", 0.75)]
)
def test_hybrid_fusion_means_the_same_on_both_stores(twin, fusion, alpha):
    _, _, local, remote = twin
    for query in QUERIES:
        want = local.search(query, k=8, alpha=alpha, fusion=fusion, rerank=False)
        got = remote.search(query, k=8, alpha=alpha, fusion=fusion, rerank=False)
        assert ids(got) == ids(want), query
        assert [h.fused for h in got] == pytest.approx([h.fused for h in want], abs=1e-5)


def test_filters_work_on_milvus(twin):
    _, _, local, remote = twin
    only = SearchFilter(paths=["docs/black_death.md"])
    got = remote.search("the plague", k=5, rerank=False, filters=only)
    assert got and {hit.chunk.source for hit in got} == {"docs/black_death.md"}
    # the same chunks; their order may differ: the linear fusion scales BM25 by the query's
    # idf on a local store and by its best score on Milvus, which gives no idf back
    assert set(ids(got)) == set(ids(local.search("the plague", k=5, rerank=False, filters=only)))
    assert remote.search("the plague", rerank=False, filters=SearchFilter(kinds=["pdf"])) == []


def test_cli_search_and_status_on_a_milvus_store(twin, monkeypatch):
    root, uri, local, _ = twin
    monkeypatch.chdir(root)
    result = rag("search", QUERIES[0], "--store", uri, "--no-rerank", "--json", "-k", "3")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    results = record["results"] if isinstance(record, dict) else record
    assert len(results) == 3
    assert results[0]["source"] == "docs/black_death.md"
    want = local.search(QUERIES[0], k=3, rerank=False)
    assert [r["chunk_id"] for r in results] == ids(want)

    # the same store from the environment, as a team would set it once
    status = rag("status", "--json", env={"RAG_STORE": uri})
    assert status.exit_code == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["counts"] == local.status()["counts"]
    assert info["store"] == "milvus-lite"
    assert "milvus" in info["index"]


def test_incremental_update_and_delete_on_milvus(tmp_path, monkeypatch, embed_model_path):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root / "docs", {f"{w}.txt": topic_text(w) for w in ("volcano", "honeybee")})
    monkeypatch.chdir(root)
    uri = f"milvus-lite:{tmp_path / 'm.db'}"

    first = rag("ingest", "docs", "--store", uri, "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["counts"]["added"] == 2

    again = json.loads(rag("ingest", "docs", "--store", uri, "--json").stdout)
    assert again["counts"]["unchanged"] == 2 and again["chunks_added"] == 0

    time.sleep(0.01)
    (root / "docs" / "honeybee.txt").write_text(topic_text("glacier"))
    (root / "docs" / "volcano.txt").unlink()
    write_files(root / "docs", {"violin.txt": topic_text("violin")})
    report = json.loads(rag("ingest", "docs", "--store", uri, "--json").stdout)
    assert report["counts"] == {
        "added": 1,
        "updated": 1,
        "removed": 1,
        "unchanged": 0,
        "skipped": 0,
    }
    index = Index.locate(store=uri, cwd=root)
    assert index.status()["counts"]["files"] == 2
    sources = [h.chunk.source for h in index.search("caldera basalt", mode="sparse")]
    assert "docs/volcano.txt" not in sources
    assert [h.chunk.source for h in index.search("moraines", mode="sparse")] == [
        "docs/honeybee.txt"
    ]
    assert [h.chunk.source for h in index.search("waggle dance", mode="sparse")] == []


def test_milvus_index_says_when_its_folder_moved_on(tmp_path, monkeypatch, embed_model_path):
    """Freshness on Milvus: the folders stat-ed against the file records the collection
    keeps, as for the local store."""
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root / "docs", {f"{w}.txt": topic_text(w) for w in ("volcano", "honeybee")})
    monkeypatch.chdir(root)
    uri = f"milvus-lite:{tmp_path / 'm.db'}"
    assert rag("ingest", "docs", "--store", uri).exit_code == 0
    current = json.loads(rag("status", "--store", uri, "--json").stdout)["freshness"]
    assert current["checked"] is True and current["stale"] is False

    time.sleep(0.01)
    (root / "docs" / "honeybee.txt").write_text(topic_text("glacier"))
    (root / "docs" / "volcano.txt").unlink()
    write_files(root / "docs", {"violin.txt": topic_text("violin")})
    behind = json.loads(rag("status", "--store", uri, "--json").stdout)["freshness"]
    assert (behind["changed"], behind["appeared"], behind["vanished"]) == (1, 1, 1)
    assert sorted(behind["examples"]) == [
        "docs/honeybee.txt (changed)",
        "docs/violin.txt (new)",
        "docs/volcano.txt (deleted)",
    ]
    searched = rag("search", "moraines", "--store", uri, "--mode", "sparse", "--json")
    assert json.loads(searched.stdout)["freshness"]["stale"] is True


def test_milvus_refuses_other_settings_and_rebuilds(tmp_path, monkeypatch, embed_model_path):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root / "docs", {"violin.txt": topic_text("violin")})
    monkeypatch.chdir(root)
    uri = f"milvus-lite:{tmp_path / 'm.db'}"
    assert rag("ingest", "docs", "--store", uri).exit_code == 0
    refused = rag("ingest", "docs", "--store", uri, "--chunk-size", "64")
    assert refused.exit_code != 0
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "different settings" in refused.stderr and "Traceback" not in refused.stderr
    rebuilt = rag("ingest", "docs", "--store", uri, "--chunk-size", "64", "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["counts"]["added"] == 1


def test_unreachable_milvus_is_one_line(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_MILVUS_TOKEN", "root:s3cret-token")
    started = time.monotonic()
    result = rag("search", "anything", "--store", "milvus://127.0.0.1:1", "--no-rerank")
    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rag: error: "), result.stderr
    assert "127.0.0.1:1" in lines[0]
    assert "s3cret" not in result.stderr + result.stdout


def test_bad_store_uri_is_a_usage_error(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    result = rag("search", "anything", "--store", "postgres://db/x")
    assert result.exit_code == 2
    assert "postgres://db/x" in result.stderr and "Traceback" not in result.stderr


def test_ray_engine_ingest_stores_the_local_vectors(tmp_path, monkeypatch, embed_model_path):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(
        root / "docs", {f"{w}.txt": topic_text(w) for w in ("volcano", "honeybee", "violin")}
    )
    shutil.copy(EXAMPLES / "nikola_tesla.txt", root / "docs" / "tesla.txt")
    monkeypatch.chdir(root)
    # Ray workers embed with torch (the auto backend resolves to it under Ray), so the
    # local index to match is a torch one
    local = Index(root / ".rag" / "local", settings=Settings(embed_backend="torch"))
    local.ingest([root / "docs"])
    result = rag("ingest", "docs", "--name", "viaray", "--engine", "ray", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["chunks"] == local.status()["counts"]["chunks"]
    remote = Index(root / ".rag" / "viaray")
    a, b = local.store, remote.store
    assert "embed_variant" not in b.manifest  # float vectors, as the local torch ones
    chunk_ids = np.arange(a.n_chunks, dtype=np.int64)
    from ragcli.store import dense

    difference = np.abs(
        dense.vectors_for(a.dense, chunk_ids) - dense.vectors_for(b.dense, chunk_ids)
    )
    assert difference.max() <= 1e-5
