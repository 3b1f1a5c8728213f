"""The model's own limits (issue 26): Matryoshka ``dimensions``, ``max_seq_length`` with
the document prompt, and the vector size checked against the manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import clean_env, run_rag, subprocess_env

from ragcli.chunk import chunker_for
from ragcli.config import Settings
from ragcli.embed.spec import EmbedSpec, truncate
from ragcli.errors import IndexStateError, UsageError
from ragcli.index import Index
from ragcli.store import dense
from ragcli.text import index_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
QUERY = "how did the plague spread?"


def tokenizer_only_model(folder: Path, source: str, max_seq_length: int, prompts: dict) -> str:
    """A model folder with the real tokenizer and configs but no weights: enough to chunk."""
    folder.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "vocab.txt"):
        shutil.copy(Path(source) / name, folder / name)
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length})
    )
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))
    return str(folder)


def test_chunks_leave_room_for_the_document_prompt(tmp_path, embed_model_path):
    prompt = "Represent this passage for retrieval: "  # 6 word pieces
    model = tokenizer_only_model(tmp_path / "m", embed_model_path, 64, {"document": prompt})
    assert chunker_for(Settings(embed_model=model, chunk_size=56, chunk_overlap=8))
    with pytest.raises(UsageError, match="use a chunk size of at most 56"):
        chunker_for(Settings(embed_model=model, chunk_size=57, chunk_overlap=8))
    # without the prompt the whole window is the chunk's
    plain = Settings(embed_model=model, chunk_size=62, chunk_overlap=8, document_prompt="")
    assert chunker_for(plain)


def test_a_query_vector_of_another_size_than_the_index_is_one_line(onnx_export_dir):
    from ragcli.embed.onnx import OnnxEncoder

    encoder = OnnxEncoder(onnx_export_dir, "float", expected_dimension=256)
    with pytest.raises(IndexStateError) as caught:
        encoder.encode_query("plague")
    message = str(caught.value)
    assert "\n" not in message
    assert "holds 256-dimensional vectors" in message and "makes 384-dimensional" in message
    assert EmbedSpec(dimensions=256).dimension_of(384) == 256


@pytest.mark.slow
def test_matryoshka_dimensions_cut_and_renormalise_chunks_and_queries(
    tmp_path, monkeypatch, embed_model_path, onnx_export_dir
):
    from sentence_transformers import SentenceTransformer

    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "p"
    (root / "docs").mkdir(parents=True)
    shutil.copy(EXAMPLES / "black_death.md", root / "docs")
    env = subprocess_env(tmp_path)
    done = run_rag(
        ["ingest", "docs", "--embed-backend", "onnx", "--dimensions", "128"], root, env, 300
    )
    assert done.returncode == 0, done.stderr
    index = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    manifest = index.store.manifest
    assert manifest["dimension"] == 128 and manifest["dimensions"] == 128

    store = index.store
    ids = list(range(store.n_chunks))
    chunks = store.chunks(ids)
    vectors = dense.vectors_for(store.dense, np.arange(len(ids), dtype=np.int64))
    reference = SentenceTransformer(embed_model_path, device="cpu")
    full = reference.encode([index_text(chunks[i].title, chunks[i].text) for i in ids])
    assert vectors.shape[1] == 128
    assert np.sum(vectors * truncate(full, 128), axis=1).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    hits = index.search(QUERY, k=3, mode="dense")
    query = truncate(reference.encode([QUERY]), 128)[0]
    want = vectors[[hit.chunk.chunk_id for hit in hits]] @ query
    assert np.abs(np.array([hit.dense for hit in hits]) - want).max() <= 1e-3

    (root / "ragcli.toml").write_text("dimensions = 256\n")
    refused = run_rag(["search", QUERY], root, env)
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1 and "dimensions 128" in refused.stderr

    too_many = run_rag(["ingest", "docs", "--rebuild", "--dimensions", "512"], root, env, 300)
    assert too_many.returncode != 0
    assert too_many.stderr.count("\n") == 1
    assert "more than the embedding model's 384" in too_many.stderr
