"""The `rag eval` runner (ragcli.evaluate.runner): eval indexes, sweeps, question sets, answers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ragcli.config import Settings
from ragcli.errors import UsageError
from ragcli.evaluate import EvalOptions, indexes, run_eval, sweep
from ragcli.evaluate import runner as eval_run
from ragcli.index import Index

DATA = Path(__file__).resolve().parents[1] / "data" / "eval"
TINY = DATA / "tiny_beir"
NO_RERANK = {"rerank": [False]}


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory, embed_model_path) -> Path:
    """One XDG cache for the module, so the tiny eval index is built once. Its ragcli
    folder links to the session's ONNX export, which is not made again."""
    home = tmp_path_factory.mktemp("cache")
    exports = Path(os.environ["RAG_CACHE_DIR"]) / "onnx"
    exports.mkdir(parents=True, exist_ok=True)
    (home / "ragcli").mkdir()
    (home / "ragcli" / "onnx").symlink_to(exports, target_is_directory=True)
    return home


@pytest.fixture
def workdir(tmp_path, cache_home, monkeypatch) -> Path:
    """A working directory with no .rag project above it; eval indexes go to the cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("RAG_CACHE_DIR", str(cache_home / "ragcli"))
    monkeypatch.delenv("RAG_INDEX", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def project(tmp_path_factory, embed_model_path) -> Path:
    """A project with four Markdown files ingested into .rag/default."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(DATA / "project_docs", root / "docs")
    report = Index(root / ".rag" / "default").ingest([root / "docs"])
    assert report.documents == 4
    return root


def _run(**kwargs):
    options = kwargs.pop("options", None) or EvalOptions(sweep=dict(NO_RERANK))
    return run_eval(beir=TINY, options=options, **kwargs)


def test_beir_index_is_built_once_then_reused(workdir, cache_home):
    first = _run(cwd=workdir)
    (info,) = first["indexes"]
    path = Path(info["path"])
    assert path.parent == cache_home / "ragcli" / "eval"
    assert path.name.startswith("tiny_beir-")
    assert info["documents"] == 8
    generations = sorted(p.name for p in path.glob("gen-*"))

    second = _run(cwd=workdir)
    (again,) = second["indexes"]
    assert again["path"] == info["path"]
    assert again["reused"] is True
    assert again["added"] == [] and again["updated"] == []
    assert sorted(p.name for p in path.glob("gen-*")) == generations  # nothing re-ingested
    assert second["rows"][0]["mean"]["ndcg@10"] == first["rows"][0]["mean"]["ndcg@10"]
    assert second["collection"]["n_judged"] == 5
    assert second["skipped"] == {"non_relevant_grades": 1, "queries_without_qrels": 1}


def test_eval_index_goes_under_the_project_rag_folder(tmp_path, monkeypatch, embed_model_path):
    (tmp_path / ".rag").mkdir()
    monkeypatch.chdir(tmp_path)
    report = _run(cwd=tmp_path, options=EvalOptions(sweep={"mode": ["sparse"]}, limit=1))
    assert Path(report["indexes"][0]["path"]).parent == tmp_path / ".rag" / "eval"


def test_eval_root_is_in_the_ragcli_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "rag-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert indexes.eval_root(tmp_path) == tmp_path / "rag-cache" / "eval"
    monkeypatch.delenv("RAG_CACHE_DIR")
    assert indexes.eval_root(tmp_path) == tmp_path / "xdg" / "ragcli" / "eval"


def test_eval_index_dir_depends_on_corpus_and_ingest_settings(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(TINY / "corpus.jsonl", corpus)
    base = indexes.eval_index_dir(corpus, Settings(), tmp_path, "c")
    assert base == indexes.eval_index_dir(corpus, Settings(), tmp_path, "c")
    assert base != indexes.eval_index_dir(corpus, Settings(chunk_size=64), tmp_path, "c")
    assert base != indexes.eval_index_dir(corpus, Settings(chunk_overlap=8), tmp_path, "c")
    assert base != indexes.eval_index_dir(corpus, Settings(embed_model="other"), tmp_path, "c")
    stat = corpus.stat()
    os.utime(corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert base != indexes.eval_index_dir(corpus, Settings(), tmp_path, "c")
    assert indexes.collection_name(Path("/x/scifact/beir")) == "scifact"
    assert indexes.collection_name(Path("/x/my set")) == "my-set"


def test_sweep_has_one_row_per_combination_and_one_best(workdir):
    options = EvalOptions(
        sweep={"mode": ["sparse", "dense", "hybrid"], "alpha": [0.2, 0.8], "rerank": [False]},
        metrics=["ndcg@10", "recall@100", "mrr@10"],
    )
    report = _run(cwd=workdir, options=options)
    rows = report["rows"]
    assert len(rows) == 6
    assert [(r["settings"]["mode"], r["settings"]["alpha"]) for r in rows] == [
        ("sparse", 0.2),
        ("sparse", 0.8),
        ("dense", 0.2),
        ("dense", 0.8),
        ("hybrid", 0.2),
        ("hybrid", 0.8),
    ]
    # alpha does not change a sparse or dense run: computed once, the twin points at it
    assert rows[1]["same_as"] == 0 and rows[3]["same_as"] == 2 and rows[5]["same_as"] is None
    assert sum(r["best"] for r in rows) == 1
    best = rows[report["best"]]
    assert best["best"]
    assert best["mean"]["ndcg@10"] == max(r["mean"]["ndcg@10"] for r in rows)
    assert report["varied"] == ["mode", "alpha"]
    assert report["metrics"] == ["ndcg@10", "recall@100", "mrr@10"]
    # per-query results say which question failed and what was retrieved
    for row in rows:
        assert set(row["per_query"]) == {"a", "b", "c", "d", "e"}
        assert all(len(q["top"]) <= eval_run.TOP_KEPT for q in row["per_query"].values())
        assert row["fetch_chunks"] == 100 * 2
    # each question is embedded once, in one batch, for all the dense and hybrid rows
    vectors = report["query_vectors"]
    assert vectors == {"embedded": 5, "reused": 3 * 5, "one_by_one": 0}


def test_cached_query_vectors_give_the_same_results(workdir):
    sweep = {"mode": ["dense", "hybrid"], "rerank": [False]}
    cached = _run(cwd=workdir, options=EvalOptions(sweep=sweep))
    plain = _run(cwd=workdir, options=EvalOptions(sweep=sweep, cache_query_vectors=False))
    assert plain["query_vectors"] is None
    for a, b in zip(cached["rows"], plain["rows"], strict=True):
        assert [q["top"] for q in a["per_query"].values()] == [
            q["top"] for q in b["per_query"].values()
        ]


def test_chunk_size_sweep_builds_one_index_per_value(workdir):
    options = EvalOptions(sweep={"chunk_size": [64, 128], "mode": ["sparse"]}, limit=2)
    report = _run(cwd=workdir, options=options)
    paths = [i["path"] for i in report["indexes"]]
    assert len(set(paths)) == 2
    assert [i["chunk_size"] for i in report["indexes"]] == [64, 128]
    assert [r["settings"]["chunk_size"] for r in report["rows"]] == [64, 128]
    assert report["skipped"]["beyond_limit"] == 3


def test_answers_with_the_extractive_fallback(workdir):
    options = EvalOptions(sweep={"mode": ["sparse"]}, answers=True, answer_k=2)
    report = _run(cwd=workdir, options=options)
    assert report["answer_metrics"] == ["em", "f1", "contains"]
    assert report["answerer"] == "extractive"
    (row,) = report["rows"]
    assert row["n_answered"] == 5
    assert 0.0 <= row["mean"]["f1"] <= 1.0 and row["mean"]["contains"] > 0.5
    assert "waggle dance" in row["per_query"]["a"]["answer"]
    assert set(row["per_query"]["a"]) >= {"answer", "em", "f1", "ndcg@10"}


def test_llm_answers_and_judged_triad(workdir, monkeypatch):
    calls = []

    class FakeLLM:
        def __init__(self, name, settings):
            self.backend = type("B", (), {"describe": lambda self: "fake (m)"})()

        def answer(self, question, hits):
            return "Alexander Fleming" if "penicillin" in question else "no idea"

        def generate(self, system, user):
            calls.append(user)
            return '{"score": 5, "reason": "fine"}'

    monkeypatch.setattr(eval_run, "_LLM", FakeLLM)
    options = EvalOptions(sweep={"mode": ["sparse"]}, llm="fake", sort_by="f1")
    report = _run(cwd=workdir, options=options)
    (row,) = report["rows"]
    assert report["answerer"] == "fake (m)"
    assert row["mean"]["em"] == pytest.approx(0.2)
    assert row["mean"]["groundedness"] == 1.0
    assert len(calls) == 5 * 3
    assert report["sort_by"] == "f1"


def test_question_set_against_the_located_index(project, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    options = EvalOptions(sweep={"mode": ["sparse", "hybrid"], "rerank": [False]})
    report = run_eval(DATA / "project_questions.jsonl", options=options, cwd=project)
    assert report["collection"]["kind"] == "questions"
    assert report["indexes"][0]["path"] == str(project / ".rag" / "default")
    assert report["collection"]["n_judged"] == 4
    # relevant ids are source paths: every question finds its file first
    for row in report["rows"]:
        assert row["mean"]["hit@1"] == 1.0
        assert row["per_query"]["nile"]["top"][0] == "docs/rivers.md"
    # the one unknown id (line 5; the id defaults to the line number) is dropped, reported
    assert report["skipped"]["unknown_doc_ids"] == 1
    assert report["skipped"]["blank_lines"] == 1
    (problem,) = report["problems"]
    assert problem["line"] == 5 and "docs/missing.md" in problem["message"]
    assert problem["file"].endswith("project_questions.jsonl")


def test_question_set_with_only_unknown_ids_is_a_usage_error(project):
    with pytest.raises(UsageError, match=r"unknown_ids\.jsonl:1: relevant id 'rivers'"):
        run_eval(DATA / "bad" / "unknown_ids.jsonl", cwd=project)


def test_chunk_size_sweep_needs_beir(project):
    options = EvalOptions(sweep={"chunk_size": [64, 128]})
    with pytest.raises(UsageError, match="--chunk-size sweeps need --beir"):
        run_eval(DATA / "project_questions.jsonl", options=options, cwd=project)


@pytest.mark.parametrize(
    ("option", "text", "expected"),
    [
        ("alpha", "0, 0.5,1", [0.0, 0.5, 1.0]),
        ("rerank", "on,off", [True, False]),
        ("mode", "Sparse,dense,sparse", ["sparse", "dense"]),
        ("k", "10,100", [10, 100]),
        ("fusion", "rrf", ["rrf"]),
    ],
)
def test_parse_values(option, text, expected):
    assert sweep.parse_values(option, text) == expected


@pytest.mark.parametrize(
    ("option", "text", "message"),
    [
        ("alpha", "0,1.5", "between 0 and 1"),
        ("alpha", "x", "not a number"),
        ("k", "0", "--top-k: k = 0 is out of range; it must be at least 1"),
        ("pool_factor", "1,0", "--pool-factor: pool_factor = 0 is out of range"),
        ("chunk_size", "0", "--chunk-size: chunk_size = 0 is out of range"),
        ("rerank", "maybe", "on or off"),
        ("mode", "fuzzy", "unknown mode"),
        ("alpha", "0,,1", "empty value"),
        ("model", "x", "cannot sweep"),
    ],
)
def test_parse_values_rejects(option, text, message):
    with pytest.raises(UsageError, match=message):
        sweep.parse_values(option, text)


def test_default_k_covers_the_largest_cutoff():
    assert eval_run.default_k(["ndcg@10", "map"]) == 100
    assert eval_run.default_k(["recall@1000"]) == 1000


def test_judged_triad_through_the_real_ollama_client(workdir, monkeypatch):
    """Answers and judge verdicts come from a loopback server speaking Ollama's /api/chat."""
    from llm_servers import ollama_server, ollama_stream

    verdict = '```json\n{"score": 4, "reason": "every claim is in source [1]"}\n```'
    with ollama_server(default=ollama_stream([verdict])) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        options = EvalOptions(sweep={"mode": ["sparse"], "rerank": [False]}, llm="ollama", limit=2)
        report = _run(cwd=workdir, options=options)
        chats = [r.json for r in server.posts() if r.path == "/api/chat"]
    (row,) = report["rows"]
    assert report["answerer"].startswith("ollama")
    # per question: one answer, then context relevance, groundedness, answer relevance
    assert len(chats) == 2 * 4
    judge_prompts = [c for c in chats if '"score"' in c["messages"][0]["content"]]
    assert len(judge_prompts) == 2 * 3
    for metric in ("context_relevance", "groundedness", "answer_relevance"):
        assert row["mean"][metric] == pytest.approx(0.75)  # 4 on the 1-5 scale
    query = next(iter(row["per_query"].values()))
    assert query["judged"]["groundedness"]["reason"] == "every claim is in source [1]"


def test_llm_answers_use_the_prompt_template_and_the_answer_cache(workdir, monkeypatch, tmp_path):
    """Answers are asked as `rag ask` asks them: the template applies and a repeated run
    is answered from the index's answer cache (the judge is asked again)."""
    from llm_servers import ollama_server, ollama_stream

    template = tmp_path / "template.txt"
    template.write_text("EVAL TEMPLATE\n{sources}\n\nQuestion: {question}\n", encoding="utf-8")
    verdict = '{"score": 5, "reason": "fine"}'
    overrides = {"prompt_template": str(template)}
    options = EvalOptions(sweep={"mode": ["sparse"], "rerank": [False]}, llm="ollama", limit=1)
    with ollama_server(default=ollama_stream([verdict])) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        first = _run(cwd=workdir, options=options, settings_overrides=overrides)
        again = _run(cwd=workdir, options=options, settings_overrides=overrides)
        chats = [r.json for r in server.posts() if r.path == "/api/chat"]
    asked = [c for c in chats if any("EVAL TEMPLATE" in m["content"] for m in c["messages"])]
    assert len(asked) == 1
    assert len(chats) == 1 + 2 * 3
    (row,) = again["rows"]
    assert row["per_query"]["a"]["answer"] == first["rows"][0]["per_query"]["a"]["answer"]
