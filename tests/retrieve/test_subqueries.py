"""Sub-queries (``searches``): lex is BM25 only, vec is the query embedding, hyde the
passage embedded as a document; fused with the query into one ranking (score fusion by
default, RRF with fusion="rrf"), in the library and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.config import Settings
from ragcli.errors import UsageError
from ragcli.index import Index
from ragcli.retrieve import RRF_K
from ragcli.types import MAX_SUBQUERIES, MAX_SUBQUERY_CHARS, SearchParams, SubQuery

QUESTION = "how did steam engines use pressure to do work?"


@pytest.fixture
def index(examples_project) -> Index:
    return Index(examples_project / ".rag" / "default")


def ids(hits) -> list[int]:
    return [hit.chunk.chunk_id for hit in hits]


def test_lex_alone_ranks_as_bm25_and_loads_no_model(examples_project):
    index = Index(examples_project / ".rag" / "default")
    lex = index.search("", k=5, rerank=False, searches=[("lex", "oxygen combustion")])
    sparse = index.search("oxygen combustion", k=5, rerank=False, mode="sparse")
    assert ids(lex) == ids(sparse)
    assert all(hit.dense is None and hit.sparse is not None for hit in lex)
    assert "query_encoder" not in index.__dict__  # no model was loaded for it


def test_vec_alone_ranks_as_the_dense_mode(index):
    vec = index.search("", k=5, rerank=False, searches=[{"type": "vec", "query": QUESTION}])
    dense = index.search(QUESTION, k=5, rerank=False, mode="dense")
    assert ids(vec) == ids(dense)
    assert [h.dense for h in vec] == pytest.approx([h.dense for h in dense])


def test_lex_and_vec_of_one_text_rank_as_that_text(index):
    # the last holds a code-like name, so both weigh BM25 with name_alpha
    for text in (QUESTION, "Tesla alternating current induction motor", "steam_engine indicator"):
        plain = index.search(text, k=8, rerank=False)
        both = index.search("", k=8, rerank=False, searches=[("lex", text), ("vec", text)])
        assert ids(both) == ids(plain), text
        assert [h.score for h in both] == pytest.approx([h.score for h in plain], abs=1e-6)
        again = index.search(text, k=8, rerank=False, searches=[("lex", text), ("vec", text)])
        assert ids(again) == ids(plain), text


def test_a_lex_sub_query_raises_the_chunks_holding_its_words(index):
    """Score fusion: the chunks that match the query and the sub-query come first."""
    plain = index.search("steam engine", k=3, rerank=False)
    assert "indicator" not in plain[0].chunk.text
    focused = index.search("steam engine", k=3, rerank=False, searches=[("lex", "indicator")])
    assert "indicator" in focused[0].chunk.text
    assert {Path(h.chunk.source).name for h in focused} == {"steam_engine.md"}


def test_rrf_fuses_the_lists_as_a_union(index):
    """Rank fusion: each list's best chunks come in, whatever the other lists say."""
    searches = [("lex", "Rankine"), ("lex", "Tesla")]  # in one file each
    widened = index.search("", k=4, rerank=False, fusion="rrf", searches=searches)
    sources = [Path(h.chunk.source).name for h in widened]
    assert sorted(sources[:2]) == ["nikola_tesla.txt", "steam_engine.md"]  # each list's first


def test_rrf_sums_reciprocal_ranks_over_the_lists(index):
    text = "oxygen"
    lex = index.search("", k=5, rerank=False, searches=[("lex", text)])
    vec = index.search("", k=5, rerank=False, searches=[("vec", text)])
    both = index.search(
        "", k=5, rerank=False, fusion="rrf", searches=[("lex", text), ("vec", text)]
    )
    lex_rank = {cid: r for r, cid in enumerate(ids(index.search(
        "", k=200, rerank=False, searches=[("lex", text)])), 1)}  # fmt: skip
    vec_rank = {cid: r for r, cid in enumerate(ids(index.search(
        "", k=200, rerank=False, searches=[("vec", text)])), 1)}  # fmt: skip
    for hit in both:
        expected = sum(
            1 / (RRF_K + ranks[hit.chunk.chunk_id])
            for ranks in (lex_rank, vec_rank)
            if hit.chunk.chunk_id in ranks
        )
        assert hit.fused == pytest.approx(expected)
    assert set(ids(both)) <= set(lex_rank) | set(vec_rank)
    assert lex and vec


@pytest.fixture(scope="module")
def prompted(tmp_path_factory, examples_project):
    """The examples indexed with a query prompt, so queries and documents embed apart."""
    root = tmp_path_factory.mktemp("prompted")
    shutil.copytree(examples_project / "docs", root / "docs")
    settings = Settings().with_overrides(query_prompt="query: ", document_prompt="")
    index = Index(root / ".rag" / "default", settings=settings)
    index.ingest([root / "docs"])
    return Index(root / ".rag" / "default")


def test_hyde_embeds_the_passage_as_a_document_and_vec_as_a_query(prompted):
    passage = "Oxygen is a chemical element that supports combustion and respiration."
    encoder = prompted.query_encoder
    as_document = np.asarray(encoder.encode([passage]))[0]
    as_query = encoder.encode_query(passage)
    assert float(as_document @ as_query) < 0.999  # the prompt makes them differ
    for kind, vector in (("hyde", as_document), ("vec", as_query)):
        hits = prompted.search("", k=3, rerank=False, searches=[(kind, passage)])
        chunk_ids = np.asarray(ids(hits))
        expected = prompted.store.dense_scores(chunk_ids, vector)
        assert [h.dense for h in hits] == pytest.approx(list(expected), abs=1e-5), kind


@pytest.mark.parametrize(
    ("searches", "message"),
    [
        ([("bm25", "x")], r"searches\[1\]: unknown type 'bm25': choose one of lex, vec, hyde"),
        ([("lex", "x"), ("vec", "  ")], r"searches\[2\] \(vec\): empty query"),
        ([("lex", "x" * (MAX_SUBQUERY_CHARS + 1))], "at most 2000"),
        ([("lex", "x")] * (MAX_SUBQUERIES + 1), "11 sub-queries; at most 10"),
        (["lex"], r"searches\[1\]: give \{type, query\}"),
    ],
)
def test_bad_sub_queries_are_refused_by_name(index, searches, message):
    with pytest.raises(UsageError, match=message):
        index.search("", rerank=False, searches=searches)


def test_no_query_and_no_sub_query_is_refused(index):
    with pytest.raises(UsageError, match="empty query"):
        index.search("  ", rerank=False, searches=[])


def test_min_score_needs_a_dense_text(index):
    with pytest.raises(UsageError, match="--min-score is a cosine"):
        index.search("", rerank=False, min_score=0.2, searches=[("lex", "oxygen")])
    kept = index.search("", rerank=False, min_score=0.2, searches=[("vec", QUESTION)])
    assert kept and all(h.dense >= 0.2 for h in kept)


def test_the_reranker_and_snippets_read_one_text():
    subs = (SubQuery("hyde", "A passage."), SubQuery("lex", "NAME_X"), SubQuery("vec", "why?"))
    params = SearchParams(searches=subs)
    assert params.focus("") == "why?"  # a question reads best to a cross-encoder
    assert params.focus("the query") == "the query"
    assert params.snippet_words("") == "NAME_X why?"  # not the guessed passage
    assert SearchParams(searches=subs[:1]).snippet_words("") == "A passage."


def run_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["search", *args, "--json", "--no-rerank"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_flags_give_the_sub_queries(examples_project, monkeypatch):
    monkeypatch.chdir(examples_project)
    record = run_json("--lex", "oxygen", "--vec", QUESTION, "--lex", "Tesla", "-k", "4")
    assert record["query"] == ""
    assert record["searches"] == [
        {"type": "lex", "query": "oxygen"},
        {"type": "lex", "query": "Tesla"},
        {"type": "vec", "query": QUESTION},
    ]
    index = Index(examples_project / ".rag" / "default")
    expected = index.search(
        "", k=4, rerank=False, searches=[("lex", "oxygen"), ("lex", "Tesla"), ("vec", QUESTION)]
    )
    assert [r["chunk_id"] for r in record["results"]] == ids(expected)
    filtered = run_json("steam", "--lex", "oxygen", "--filter", "docs/oxygen.md", "-k", "3")
    assert {r["source"] for r in filtered["results"]} == {"docs/oxygen.md"}
    assert filtered["query"] == "steam"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a query, '-' to read it from stdin, --lex/--vec/--hyde, or --batch FILE"),
        (["--lex", "x", "--batch", "q.txt"], "--lex, --vec and --hyde belong to one query"),
        (["--hyde", ""], "searches[1] (hyde): empty query"),
    ],
)
def test_cli_refuses_bad_sub_query_use(examples_project, monkeypatch, args, message):
    monkeypatch.chdir(examples_project)
    result = CliRunner().invoke(app, ["search", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
