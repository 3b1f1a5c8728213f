"""Served embeddings, ``embed_backend = ollama | openai`` (issue 26), against loopback
servers speaking each wire protocol (tests/embed_servers.py), driven through the real
clients: httpx for Ollama, the openai SDK for OpenAI."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from embed_servers import DIMENSION, EmbeddingServer, embed, error
from helpers_ingest import TOPICS, clean_env, run_rag, subprocess_env, topic_text

import ragcli.embed.served as served
from ragcli.config import Settings
from ragcli.embed.served import ServedEncoder, default_base_url, display_url
from ragcli.embed.spec import EmbedSpec
from ragcli.errors import IndexStateError, RagError
from ragcli.index import Index
from ragcli.store import dense
from ragcli.text import index_text

KINDS = ["ollama", "openai"]
KEY = "sk-test-7f3a9c1e5b2d4e6f"
MODEL = "fake-embed"


def normalised(texts: list[str], dimension: int = DIMENSION) -> np.ndarray:
    vectors = np.array([embed(t, dimension) for t in texts], dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def base_url(server: EmbeddingServer) -> str:
    return server.url + ("/v1" if server.kind == "openai" else "")


def project(root: Path) -> Path:
    (root / "docs").mkdir(parents=True)
    for word in TOPICS:
        (root / "docs" / f"{word}.md").write_text(topic_text(word))
    return root


def stored(index: Index) -> tuple[np.ndarray, list[str]]:
    store = index.store
    ids = list(range(store.n_chunks))
    chunks = store.chunks(ids)
    texts = [index_text(chunks[i].title, chunks[i].text) for i in ids]
    return dense.vectors_for(store.dense, np.arange(len(ids), dtype=np.int64)), texts


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(served, "BACKOFF", 0.01)


# ------------------------------------------------------------------------ in process
def test_urls_are_shown_without_credentials_and_defaults_follow_the_usual_variables(
    monkeypatch,
):
    assert display_url("https://user:pw@example.com:8443/v1/?key=abc") == (
        "https://example.com:8443/v1"
    )
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert default_base_url("ollama") == "http://127.0.0.1:11434"
    assert default_base_url("openai") == "https://api.openai.com/v1"
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    assert default_base_url("ollama") == "http://gpu-box:11434"


@pytest.mark.parametrize("kind", KINDS)
def test_a_429_is_retried_after_the_servers_wait(kind):
    with EmbeddingServer(kind) as server:
        server.push(error(kind, 429, "slow down", retry_after=0.2))
        encoder = ServedEncoder(kind, MODEL, base_url(server))
        started = time.perf_counter()
        vectors = encoder.encode(["the volcano glows"])
        assert time.perf_counter() - started >= 0.2
    assert len(server.posts()) == 2
    np.testing.assert_allclose(vectors, normalised(["the volcano glows"]), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_batches_keep_order_split_on_413_and_stay_within_the_concurrency(kind):
    texts = [f"text {i} about {word}" for i in range(40) for word in ["tea"]]
    with EmbeddingServer(kind) as server:
        server.push(error(kind, 413, "request too large"))
        encoder = ServedEncoder(kind, MODEL, base_url(server), batch_size=8, concurrency=2)
        in_flight, most = [0], [0]
        changed = threading.Condition()
        answer = server.answer

        def slow_answer(path, record):  # the server's work, counted while it runs
            with changed:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
                changed.notify_all()
                # hold each request until a second one is in (or 1 s): on a busy machine
                # the client's threads would otherwise seldom overlap at all
                changed.wait_for(lambda: in_flight[0] >= 2, timeout=1.0)
            time.sleep(0.05)
            try:
                return answer(path, record)
            finally:
                with changed:
                    in_flight[0] -= 1

        server.answer = slow_answer
        vectors = encoder.encode(texts)
    np.testing.assert_allclose(vectors, normalised(texts), atol=1e-6)
    sizes = sorted(len(r.json["input"]) for r in server.posts())
    assert max(sizes) <= 8 and sizes.count(4) == 2  # the refused batch went in two halves
    assert most[0] == 2


@pytest.mark.parametrize("kind", KINDS)
def test_prompts_and_dimensions_apply_to_served_vectors(kind):
    spec = EmbedSpec("search_query: ", "search_document: ", dimensions=16)
    with EmbeddingServer(kind) as server:
        encoder = ServedEncoder(kind, MODEL, base_url(server), spec=spec)
        documents = encoder.encode(["glacier valley"])
        query = encoder.encode_query("glacier")
    assert server.inputs() == ["search_document: glacier valley", "search_query: glacier"]
    full = normalised(["search_document: glacier valley"])[:, :16]
    np.testing.assert_allclose(documents, full / np.linalg.norm(full), atol=1e-6)
    assert documents.shape == (1, 16) and query.shape == (16,)


def test_a_server_that_is_not_there_fails_at_once_naming_it():
    from llm_servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RagError, match=rf"embedding server {url} \(ollama\).*cannot connect"):
        ServedEncoder("ollama", MODEL, url).encode(["x"])


# ------------------------------------------------------------------------- the CLI
@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_rag_ingest_and_search_through_the_server_never_showing_the_key(tmp_path, kind):
    root = project(tmp_path / "p")
    (root / "ragcli.toml").write_text(
        'query_prompt = "search_query: "\ndocument_prompt = "search_document: "\n'
    )
    env = {**subprocess_env(tmp_path), "RAG_EMBED_API_KEY": KEY}
    with EmbeddingServer(kind, echo_key=True) as server:
        url = base_url(server)
        args = ["ingest", "docs", "--embed-backend", kind, "--embed-model", MODEL]
        done = run_rag([*args, "--embed-base-url", url, "--json"], root, env)
        assert done.returncode == 0, done.stderr
        (root / "ragcli.toml").unlink()  # queries take the prompt from the index
        found = run_rag(["search", "volcano", "--mode", "dense", "--json"], root, env)
        assert found.returncode == 0, found.stderr
        status = run_rag(["status"], root, env)
    assert json.loads(found.stdout)["results"][0]["source"] == "docs/volcano.md"
    assert server.inputs()[-1] == "search_query: volcano"
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.posts())
    assert f"server {display_url(url)}" in status.stdout and kind in status.stdout

    index = Index(root / ".rag" / "default", settings=Settings())
    manifest = index.store.manifest
    assert manifest["embed_variant"] == kind and manifest["embed_model"] == MODEL
    assert manifest["dimension"] == DIMENSION and manifest["embed_base_url"] == url
    vectors, texts = stored(index)
    expected = normalised(["search_document: " + t for t in texts])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    for output in (done, found, status):
        assert KEY not in output.stdout + output.stderr
    for path in (root / ".rag").rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_500_three_times_is_one_error_line_naming_the_server(tmp_path, kind):
    root = project(tmp_path / "p")
    env = subprocess_env(tmp_path)
    with EmbeddingServer(kind) as server:
        server.push(*[error(kind, 500, "model runner crashed")] * 3)
        args = ["ingest", "docs", "--embed-backend", kind, "--embed-model", MODEL]
        failed = run_rag([*args, "--embed-base-url", base_url(server)], root, env)
    assert failed.returncode != 0
    assert failed.stderr == (
        f"rag: error: embedding server {base_url(server)} ({kind}), model {MODEL}: "
        "HTTP 500 after 3 attempts: model runner crashed\n"
    )
    assert len(server.posts()) == 3
    assert not (root / ".rag" / "default" / "CURRENT").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_key_the_server_echoes_in_an_error_is_not_printed(tmp_path, kind):
    root = project(tmp_path / "p")
    env = {**subprocess_env(tmp_path), "RAG_EMBED_API_KEY": KEY, "OPENAI_API_KEY": KEY + "x"}
    with EmbeddingServer(kind) as server:
        server.push(error(kind, 401, f"Incorrect API key provided: {KEY}"))
        args = ["ingest", "docs", "--embed-backend", kind, "--embed-model", MODEL]
        failed = run_rag([*args, "--embed-base-url", base_url(server)], root, env)
    assert failed.returncode != 0 and len(server.posts()) == 1  # a 401 is not retried
    assert failed.stderr.count("\n") == 1
    assert "HTTP 401: Incorrect API key provided: ***" in failed.stderr
    assert KEY not in failed.stdout + failed.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_server_answering_another_dimension_is_one_error_line(tmp_path, kind):
    root = project(tmp_path / "p")
    env = subprocess_env(tmp_path)
    with EmbeddingServer(kind) as server:
        args = ["ingest", "docs", "--embed-backend", kind, "--embed-model", MODEL]
        assert run_rag([*args, "--embed-base-url", base_url(server)], root, env).returncode == 0
    with EmbeddingServer(kind, dimension=32) as other:  # the model changed behind its name
        env["RAG_EMBED_BASE_URL"] = base_url(other)
        found = run_rag(["search", "volcano", "--mode", "dense"], root, env)
        (root / "docs" / "tea.md").write_text("# Tea\n\nTea grows on hillsides.\n")
        ingested = run_rag(["ingest", "docs", "--embed-model", MODEL], root, env)
    for failed in (found, ingested):
        assert failed.returncode != 0
        assert failed.stderr.count("\n") == 1, failed.stderr
        assert f"embedding server {base_url(other)} ({kind})" in failed.stderr
        assert "holds 48-dimensional vectors" in failed.stderr and "makes 32-" in failed.stderr


# -------------------------------------------------------- resume and incremental ingest
class FailingFrom(EmbeddingServer):
    """Answers ``good`` requests, then 500 to every one."""

    def __init__(self, kind: str, good: int):
        super().__init__(kind)
        self.good = good

    def answer(self, path, record):
        if len(self.posts()) > self.good:
            return error(self.kind, 500, "out of memory")
        return super().answer(path, record)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_an_interrupted_ingest_resumes_and_a_later_one_sends_only_new_chunks(
    tmp_path, monkeypatch, no_backoff, kind
):
    from ragcli.ingest.run import BATCH_CHUNKS

    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "p"
    (root / "docs").mkdir(parents=True)
    count = BATCH_CHUNKS + 100  # two checkpointed parts
    records = [{"_id": f"r{i}", "text": f"Record {i} of the ledger."} for i in range(count)]
    (root / "docs" / "ledger.jsonl").write_text("\n".join(map(json.dumps, records)) + "\n")
    requests_per_part = BATCH_CHUNKS // 64
    with FailingFrom(kind, good=requests_per_part) as server:
        settings = Settings(embed_backend=kind, embed_model=MODEL, embed_base_url=base_url(server))
        index = Index(root / ".rag" / "default", settings=settings)
        with pytest.raises(RagError, match="HTTP 500 after 3 attempts"):
            index.ingest([root / "docs"])
    with EmbeddingServer(kind) as server:
        settings = Settings(embed_backend=kind, embed_model=MODEL, embed_base_url=base_url(server))
        index = Index(root / ".rag" / "default", settings=settings)
        report = index.ingest([root / "docs"])
        assert report.chunks == count
        # the first part came from disk; the server is asked its dimension once, to check
        # the saved vectors against it before they are reused (issue 25)
        sent = [text for text in server.inputs() if text != "dimension"]
        assert len(sent) == count - BATCH_CHUNKS
        vectors, texts = stored(index)
        np.testing.assert_allclose(vectors, normalised(texts), atol=1e-5)

        (root / "docs" / "note.md").write_text("# Note\n\nA short note on tea.\n")
        before = len(server.inputs())
        # backend auto and no address: both from the index, which keeps recording the address
        again = Index(root / ".rag" / "default", settings=Settings(embed_model=MODEL))
        assert again.ingest([root / "docs"]).added == ["docs/note.md"]
        assert len(server.inputs()) - before == 1
        hits = again.search("tea note", k=1, mode="dense", rerank=False)
        assert hits[0].chunk.source == "docs/note.md"


def test_served_indexes_refuse_a_query_prompt_they_were_not_built_with(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    root = project(tmp_path / "p")
    with EmbeddingServer("ollama") as server:
        settings = Settings(
            embed_backend="ollama", embed_model=MODEL, embed_base_url=server.url, rerank=False
        )
        Index(root / ".rag" / "default", settings=settings).ingest([root / "docs"])
        other = Settings(query_prompt="query: ", embed_base_url=server.url, rerank=False)
        with pytest.raises(IndexStateError, match="query_prompt ''"):
            Index(root / ".rag" / "default", settings=other).search("volcano", mode="dense")


@pytest.mark.parametrize("kind", KINDS)
def test_the_key_comes_from_rag_embed_api_key_or_the_backends_own_variable(kind, monkeypatch):
    monkeypatch.delenv("RAG_EMBED_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with EmbeddingServer(kind) as server:
        ServedEncoder(kind, MODEL, base_url(server)).encode(["tea"])
        monkeypatch.setenv("RAG_EMBED_API_KEY", KEY + "-rag")
        ServedEncoder(kind, MODEL, base_url(server)).encode(["tea"])
    sent = [r.headers.get("authorization") for r in server.posts()]
    # OPENAI_API_KEY is OpenAI's; Ollama gets no key unless RAG_EMBED_API_KEY gives one
    first = f"Bearer {KEY}" if kind == "openai" else None
    assert sent == [first, f"Bearer {KEY}-rag"]
