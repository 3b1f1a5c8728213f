"""Query and document prompts as the model defines them (issue 26).

The model is the packaged all-MiniLM-L6-v2 copied to a folder whose
``config_sentence_transformers.json`` gives it e5-style prompts; sentence-transformers'
own ``encode_document`` / ``encode_query`` on that folder are the reference every path
(torch, ONNX, int8, the worker pool, Ray's batch function, ``rag ingest`` / ``rag
search``) must match.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import clean_env, run_rag, subprocess_env

from ragcli.config import Settings
from ragcli.embed.spec import NO_SPEC, EmbedSpec, model_prompts, truncate
from ragcli.errors import IndexStateError, UsageError
from ragcli.index import Index
from ragcli.store import dense
from ragcli.text import index_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
PROMPTS = {"query": "query: ", "document": "passage: "}
QUERY = "who led the Apollo moon landings?"


def prompted_model(folder: Path, source: str, config: dict) -> str:
    shutil.copytree(source, folder)
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    return str(folder)


@pytest.fixture(scope="module")
def model(tmp_path_factory, embed_model_path) -> str:
    folder = tmp_path_factory.mktemp("models") / "prompted-minilm"
    return prompted_model(folder, embed_model_path, {"prompts": PROMPTS})


@pytest.fixture(scope="module")
def reference(model):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model, device="cpu")


def docs_project(root: Path) -> Path:
    (root / "docs").mkdir(parents=True)
    for name in ("apollo_program.html", "black_death.md", "nikola_tesla.txt"):
        shutil.copy(EXAMPLES / name, root / "docs" / name)
    return root


def stored(index: Index) -> tuple[np.ndarray, list[str]]:
    """The index's vectors and the texts they were embedded from, by chunk id."""
    store = index.store
    ids = list(range(store.n_chunks))
    chunks = store.chunks(ids)
    texts = [index_text(chunks[i].title, chunks[i].text) for i in ids]
    return dense.vectors_for(store.dense, np.arange(len(ids), dtype=np.int64)), texts


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


# ----------------------------------------------------------------------------- fast
def write_config(folder: Path, config: dict) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    return str(folder)


def test_model_prompts_are_chosen_as_sentence_transformers_chooses_them(tmp_path):
    e5 = write_config(tmp_path / "e5", {"prompts": {"query": "query: ", "passage": "passage: "}})
    assert model_prompts(e5) == ("query: ", "passage: ")
    # bge: a query instruction only, documents bare
    bge = write_config(tmp_path / "bge", {"prompts": {"query": "Represent this: "}})
    assert model_prompts(bge) == ("Represent this: ", "")
    # the default prompt applies where no task prompt is named; "corpus" counts as documents
    named = {
        "prompts": {"retrieval": "task: ", "corpus": "doc: "},
        "default_prompt_name": "retrieval",
    }
    assert model_prompts(write_config(tmp_path / "named", named)) == ("task: ", "doc: ")
    assert model_prompts(write_config(tmp_path / "bare", {"__version__": {}})) == ("", "")
    assert model_prompts(str(tmp_path / "nowhere")) == ("", "")
    assert model_prompts("nomic-embed-text") == ("", "")  # a served model's name


def test_spec_truncates_renormalises_and_records_only_what_is_set():
    vectors = np.array([[3.0, 4.0, 12.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    cut = EmbedSpec(dimensions=2).finish(vectors)
    np.testing.assert_allclose(cut, [[0.6, 0.8], [1.0, 0.0]], rtol=1e-6)
    assert truncate(vectors, 3).shape == (2, 3)
    assert NO_SPEC.manifest_fields() == {}
    spec = EmbedSpec("q: ", "", 256)
    assert spec.manifest_fields() == {"query_prompt": "q: ", "dimensions": 256}
    assert EmbedSpec.from_manifest(spec.manifest_fields()) == spec
    assert EmbedSpec.from_json(spec.to_json()) == spec
    with pytest.raises(UsageError, match="more than the embedding model's 384"):
        EmbedSpec(dimensions=512).dimension_of(384)


def test_manifest_records_the_models_prompts_and_a_plain_model_none(tmp_path, embed_model_path):
    from ragcli.ingest import expected_manifest

    folder = write_config(tmp_path / "m", {"prompts": PROMPTS})
    manifest = expected_manifest(Settings(embed_model=folder))
    assert manifest["query_prompt"] == "query: " and manifest["document_prompt"] == "passage: "
    explicit = expected_manifest(Settings(embed_model=folder, query_prompt="", dimensions=128))
    assert "query_prompt" not in explicit and explicit["dimensions"] == 128
    plain = expected_manifest(Settings(embed_model=embed_model_path))
    assert not {"query_prompt", "document_prompt", "dimensions"} & set(plain)


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "least"), [("torch", 0.999), ("onnx", 0.999), ("onnx-int8", 0.95)]
)
def test_ingest_and_search_embed_as_encode_document_and_encode_query(
    tmp_path, monkeypatch, model, reference, backend, least
):
    clean_env(monkeypatch, tmp_path)
    root = docs_project(tmp_path / "p")
    settings = Settings(embed_model=model, embed_backend=backend, rerank=False, embed_workers=1)
    index = Index(root / ".rag" / "default", settings=settings)
    index.ingest([root / "docs"])
    assert index.store.manifest["query_prompt"] == "query: "
    assert index.store.manifest["document_prompt"] == "passage: "

    vectors, texts = stored(index)
    expected = reference.encode_document(texts, normalize_embeddings=True)
    assert cosines(vectors, expected).min() >= least

    searcher = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    hits = searcher.search(QUERY, k=5, mode="dense")
    query = reference.encode_query(QUERY, normalize_embeddings=True)
    if backend == "torch":  # the index's queries go to ONNX once exported: torch's own too
        from ragcli.embed import torch_encoder

        own = torch_encoder(index.store.manifest, Settings()).encode_query(QUERY)
        assert float(own @ query) >= 0.999
    got = np.array([hit.dense for hit in hits])
    want = vectors[[hit.chunk.chunk_id for hit in hits]] @ query
    bare = vectors[[hit.chunk.chunk_id for hit in hits]] @ reference.encode(QUERY, prompt="")
    if least > 0.99:
        assert np.abs(got - want).max() <= 1e-3
        assert np.abs(got - bare).max() > 3e-3  # the query prompt is what makes them match
    else:  # int8: each score near the reference, and nearer than without the prompt
        assert np.abs(got - want).max() <= 0.02
        assert np.abs(got - want).mean() < np.abs(got - bare).mean() / 2


@pytest.mark.slow
def test_worker_pool_embeds_with_the_document_prompt(model, reference):
    from ragcli.embed import onnx_cache_dir, onnx_or_torch
    from ragcli.embed.pool import EncoderPool

    spec = EmbedSpec(*model_prompts(model))
    encoder = onnx_or_torch(model, onnx_cache_dir(model), variant="int8", spec=spec)
    texts = [f"Document {i} is about {word}." for i, word in enumerate(["tea", "rain", "maps"])]
    with EncoderPool(encoder, 2, min_texts=0) as pool:
        pooled = pool.encode(texts * 20)
        assert pool.started
    np.testing.assert_array_equal(pooled, encoder.encode(texts * 20))  # as in this process
    expected = reference.encode_document(texts * 20, normalize_embeddings=True)
    assert cosines(pooled, expected).min() >= 0.95


@pytest.mark.slow
def test_ray_batch_function_embeds_with_the_prompt(model, reference):
    from ragcli.embed.ray import EmbedBatch

    texts = ["Tea is grown on hillsides.", "Rain fell all night."]
    batch = {"row": np.arange(2), "text": np.array(texts, dtype=object)}
    got = EmbedBatch(model, 8, prompt="passage: ")(batch)["vector"]
    expected = reference.encode_document(texts, normalize_embeddings=True)
    assert cosines(got, expected).min() >= 0.999


@pytest.mark.slow
def test_rag_ingest_and_search_with_the_default_backend_and_workers(tmp_path, model, reference):
    """The CLI end to end: the default backend (fused int8) in two worker processes
    (over 256 chunks), then ``rag search`` in a new process."""
    root = docs_project(tmp_path / "p")
    records = [
        {"_id": f"r{i}", "text": f"Record {i} notes that {i} is {i % 7} mod 7."} for i in range(300)
    ]
    (root / "docs" / "records.jsonl").write_text("\n".join(map(json.dumps, records)) + "\n")
    env = subprocess_env(tmp_path)
    done = run_rag(
        ["ingest", "docs", "--embed-model", model, "--embed-workers", "2", "--json"], root, env, 600
    )
    assert done.returncode == 0, done.stderr
    index = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    assert index.store.manifest["embed_variant"] == "int8-fused"
    vectors, texts = stored(index)
    assert len(texts) > 256
    expected = reference.encode_document(texts, normalize_embeddings=True)
    assert cosines(vectors, expected).min() >= 0.95

    found = run_rag(["search", QUERY, "--mode", "dense", "--json", "-k", "5"], root, env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["results"]
    query = reference.encode_query(QUERY, normalize_embeddings=True)
    for hit in hits:
        assert abs(hit["scores"]["dense"] - float(vectors[hit["chunk_id"]] @ query)) <= 0.05


@pytest.mark.slow
def test_an_index_of_a_prompted_model_refuses_queries_without_its_prompt(
    tmp_path, monkeypatch, model
):
    clean_env(monkeypatch, tmp_path)
    root = docs_project(tmp_path / "p")
    settings = Settings(embed_model=model, embed_backend="onnx", rerank=False)
    Index(root / ".rag" / "default", settings=settings).ingest([root / "docs"])

    # a setting asking for no query prompt
    (root / "ragcli.toml").write_text('query_prompt = ""\n')
    env = subprocess_env(tmp_path)
    refused = run_rag(["search", QUERY, "--mode", "dense"], root, env)
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("rag: error:")
    assert "query prompt" in refused.stderr or "query_prompt" in refused.stderr
    assert "Traceback" not in refused.stderr
    (root / "ragcli.toml").unlink()

    # an encoder without the prompt handed to the query path
    from ragcli.embed.sentence_transformer import SentenceTransformerEncoder

    index = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    index.__dict__["encoder"] = SentenceTransformerEncoder(model, spec=NO_SPEC)
    with pytest.raises(IndexStateError, match="query_prompt 'query: '"):
        index.search(QUERY, mode="dense")

    # ingest asking for other prompts than the index's
    other = Settings(embed_model=model, document_prompt="", rerank=False)
    with pytest.raises(IndexStateError, match="document_prompt"):
        Index(root / ".rag" / "default", settings=other).ingest([root / "docs"])


@pytest.mark.slow
def test_an_index_built_without_prompts_keeps_working_as_built(
    tmp_path, monkeypatch, model, reference
):
    """An index whose manifest has no prompts (built before they were read, or with
    prompts turned off) is extended and queried without them, though its model has some."""
    clean_env(monkeypatch, tmp_path)
    root = docs_project(tmp_path / "p")
    off = Settings(
        embed_model=model, embed_backend="onnx", query_prompt="", document_prompt="", rerank=False
    )
    Index(root / ".rag" / "default", settings=off).ingest([root / "docs"])

    (root / "docs" / "tea.md").write_text("# Tea\n\nTea is grown on misty hillsides.\n")
    index = Index(root / ".rag" / "default", settings=Settings(embed_model=model, rerank=False))
    report = index.ingest([root / "docs"])
    assert report.added == ["docs/tea.md"]
    assert "query_prompt" not in index.store.manifest
    vectors, texts = stored(index)
    bare = reference.encode(texts, prompt="", normalize_embeddings=True)
    assert cosines(vectors, bare).min() >= 0.999

    hits = index.search(QUERY, k=3, mode="dense")
    query = reference.encode(QUERY, prompt="", normalize_embeddings=True)
    want = vectors[[hit.chunk.chunk_id for hit in hits]] @ query
    assert np.abs(np.array([hit.dense for hit in hits]) - want).max() <= 1e-3


@pytest.mark.slow
def test_eval_embeds_its_questions_in_a_batch_with_the_query_prompt(model, reference):
    """``rag eval`` embeds all questions at once (QueryVectorCache.prime): as queries."""
    from ragcli.embed import onnx_cache_dir, onnx_or_torch
    from ragcli.evaluate.indexes import QueryVectorCache

    spec = EmbedSpec(*model_prompts(model))
    cache = QueryVectorCache(onnx_or_torch(model, onnx_cache_dir(model), spec=spec))
    questions = [QUERY, "what is the black death?"]
    assert cache.prime(questions) == 2
    expected = reference.encode_query(questions, normalize_embeddings=True)
    got = np.array([cache.encode_query(q) for q in questions])
    assert cosines(got, expected).min() >= 0.999
    assert cache.describe()["one_by_one"] == 0


@pytest.mark.slow
def test_rag_eval_beir_with_embed_model_builds_a_prompted_index(tmp_path, model):
    """Trying a model is one command: its eval index records and applies its prompts."""
    from ragcli.config import cache_dir

    beir = Path(__file__).resolve().parents[1] / "data" / "eval" / "tiny_beir"
    env = subprocess_env(tmp_path)
    args = ["eval", "--beir", str(beir), "--embed-model", model, "--mode", "dense"]
    done = run_rag([*args, "--no-rerank", "--json"], tmp_path, env, 600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["collection"]["name"] == "tiny_beir"
    built = [
        Index(folder, settings=Settings()).store.manifest
        for folder in (cache_dir() / "eval").glob("tiny_beir-*")
        if (folder / "CURRENT").exists()
    ]
    ours = [m for m in built if m.get("embed_model") == model]
    assert len(ours) == 1
    assert ours[0]["query_prompt"] == "query: " and ours[0]["document_prompt"] == "passage: "
