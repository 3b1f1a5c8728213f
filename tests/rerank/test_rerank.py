"""Reranking plumbing with a small cross-encoder the test builds, saves and loads by path."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ragcli.index import Index
from ragcli.rerank import Reranker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory, embed_model_path) -> str:
    """A 2-layer BERT sequence classifier with random (seeded) weights, saved to disk.

    Its scores mean nothing, which is the point: whatever it says, the results must come
    back in its order. The tokenizer is MiniLM's, so the vocabulary is real.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
        initializer_range=0.5,  # spread the random scores so they rarely tie
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(embed_model_path).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def index(tmp_path_factory, embed_model_path) -> Index:
    root = tmp_path_factory.mktemp("rerank-project")
    shutil.copytree(EXAMPLES, root / "docs")
    idx = Index(root / ".rag" / "default")
    idx.ingest([root / "docs"])
    return idx


def test_reranker_scores_pairs(tiny_cross_encoder):
    scores = Reranker(tiny_cross_encoder).score("a query", ["first passage", "second passage"])
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert scores[0] != scores[1]


def test_search_returns_hits_in_the_cross_encoders_order(index, tiny_cross_encoder):
    query = "steam engine efficiency"
    fused = index.search(query, k=8, rerank=False)
    reranked = index.search(
        query, k=8, rerank=True, rerank_model=tiny_cross_encoder, rerank_depth=8
    )
    assert all(hit.rerank is not None for hit in reranked)
    assert [hit.score for hit in reranked] == sorted((h.rerank for h in reranked), reverse=True)
    assert {h.chunk.chunk_id for h in reranked} == {h.chunk.chunk_id for h in fused}
    assert [h.chunk.chunk_id for h in reranked] != [h.chunk.chunk_id for h in fused]
    # the fused score is kept next to the rerank score
    assert all(hit.fused is not None for hit in reranked)
    # independent check: the model's own scores give the same order
    from ragcli.text import index_text

    own = Reranker(tiny_cross_encoder).score(
        query, [index_text(h.chunk.title, h.chunk.text) for h in fused]
    )
    expected = [cid for _, cid in sorted(zip(-own, [h.chunk.chunk_id for h in fused], strict=True))]
    assert [h.chunk.chunk_id for h in reranked] == expected


def test_rerank_depth_limits_what_is_rescored(index, tiny_cross_encoder):
    hits = index.search("oxygen", k=6, rerank=True, rerank_model=tiny_cross_encoder, rerank_depth=3)
    # depth is raised to k so every returned hit was rescored
    assert all(hit.rerank is not None for hit in hits)


def test_unloadable_reranker_warns_once_and_search_still_works(index):
    messages: list[str] = []
    index.warn = messages.append
    for _ in range(2):
        hits = index.search("oxygen", k=2, rerank=True, rerank_model="no-such-org/no-such-model")
        assert len(hits) == 2 and all(hit.rerank is None for hit in hits)
    assert len(messages) == 1
    assert "cannot load reranker 'no-such-org/no-such-model'" in messages[0]
    assert "not reranked" in messages[0]


# Availability: the default reranks only with a model already on this machine ----------
ABSENT = "cross-encoder/not-on-this-machine"


def counting_loader(calls: list[str]):
    def load(name: str) -> Reranker:
        calls.append(name)
        return Reranker(name)

    return load


def fake_hub_cache(root: Path, repo_id: str, model_folder: str) -> Path:
    """``model_folder`` laid out as huggingface_hub caches a download of ``repo_id``."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(model_folder, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    return root


def test_a_model_in_the_hub_cache_is_found_as_huggingface_hub_finds_it(
    tmp_path, monkeypatch, tiny_cross_encoder
):
    from huggingface_hub import try_to_load_from_cache

    from ragcli.weights import local_model

    cache = fake_hub_cache(tmp_path / "hub", "tiny-org/tiny-ce", tiny_cross_encoder)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    found = local_model("tiny-org/tiny-ce")
    assert found.available and "Hugging Face cache" in found.where
    assert isinstance(try_to_load_from_cache("tiny-org/tiny-ce", "config.json", cache), str)
    # and it really loads from there, offline
    scores = Reranker("tiny-org/tiny-ce").score("q", ["a passage"])
    assert scores.shape == (1,)
    missing = local_model("tiny-org/other")
    assert not missing.available and missing.where == "not in the Hugging Face cache"
    assert try_to_load_from_cache("tiny-org/other", "config.json", cache) is None


def test_default_rerank_never_loads_an_absent_model(tmp_path, monkeypatch):
    from ragcli.rerank import Rerankers

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    calls: list[str] = []
    rerankers = Rerankers(pytest.fail, load=counting_loader(calls))
    assert rerankers.rerank(ABSENT, explicit=False) is None
    assert rerankers.rerank(ABSENT, explicit=False) is None
    assert calls == []


def test_default_rerank_uses_a_local_model(tiny_cross_encoder):
    from ragcli.rerank import Rerankers

    calls: list[str] = []
    rerankers = Rerankers(pytest.fail, load=counting_loader(calls))
    step = rerankers.rerank(tiny_cross_encoder, explicit=False)
    assert step is not None and calls == []  # loaded at first use, not before
    step("a query", [])  # no hits: nothing to score, the model still loads once
    assert calls in ([], [tiny_cross_encoder])


def test_explicit_rerank_tries_and_says_so_when_it_cannot(tmp_path, monkeypatch):
    from ragcli.rerank import Rerankers

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    calls: list[str] = []
    warnings: list[str] = []
    rerankers = Rerankers(warnings.append, load=counting_loader(calls))
    step = rerankers.rerank(ABSENT, explicit=True)
    assert step is not None
    step("q", [])
    step("q", [])
    assert calls == [ABSENT]  # tried once, remembered
    assert len(warnings) == 1 and "not reranked" in warnings[0]


def test_index_default_search_skips_an_absent_reranker_quietly_and_status_says_so(index):
    messages: list[str] = []
    idx = Index(index.path)
    idx.settings = idx.settings.with_overrides(rerank_model=ABSENT)
    idx.warn = messages.append
    hits = idx.search("oxygen", k=3)
    assert len(hits) == 3 and all(hit.rerank is None for hit in hits)
    assert messages == []
    assert idx.status()["rerank"] == {
        "model": ABSENT,
        "available": False,
        "where": "not in the Hugging Face cache",
        "use": "off: not on this machine (--rerank fetches it)",
    }


def test_index_default_search_reranks_with_a_local_model(index, tiny_cross_encoder):
    idx = Index(index.path)
    idx.settings = idx.settings.with_overrides(rerank_model=tiny_cross_encoder)
    hits = idx.search("oxygen", k=3)
    assert all(hit.rerank is not None for hit in hits)
    assert idx.status()["rerank"]["use"] == "on"
