"""benchmarks/known_items.py: which names become queries, which files are relevant, the
configurations it compares, and one run on a small folder."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from ragcli.config import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "known_items.py"


def _load():
    spec = importlib.util.spec_from_file_location("known_items", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["known_items"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ki = _load()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see app.config.from_prefixed_env.", {"app.config.from_prefixed_env": "dotted"}),
        ("set SESSION_COOKIE_NAME first", {"SESSION_COOKIE_NAME": "constant"}),
        ("call make_response()", {"make_response": "snake"}),
        ("a FlaskTask and a jsonResponse", {"FlaskTask": "camel", "jsonResponse": "camel"}),
        ("the NPY201 rule; python3", {"NPY201": "digits", "python3": "digits"}),
        ("run with --no-reload or --host", {"--no-reload": "flag"}),  # --host: 4 letters
        ("edit pyproject.toml", {"pyproject.toml": "filename"}),
        ("in docs_src/cors/tutorial001.py", {"docs_src/cors/tutorial001.py": "path"}),
        ("colour cae6f6, hash 3f2a9b1c", {}),  # hex runs are not names
        ("plain English words only, nothing else", {}),
        ("see https://example.com/some_path/page.html", {}),  # URLs left out
        ("short a_b", {}),  # under six characters
    ],
)
def test_names_in(text, expected):
    assert ki.names_in(text) == expected


def test_occurrence_is_exact_on_word_and_hyphen_boundaries():
    assert ki.occurs_in("dtype.fields", "use np.dtype.fields here")
    assert not ki.occurs_in("dtype.fields", "use my_dtype.fields here")
    assert ki.occurs_in("--color", "pass --color.")
    assert not ki.occurs_in("--color", "pass --color-mode")
    assert not ki.occurs_in("make_response", "make_response_twice")
    assert not ki.occurs_in("Make_Response", "make_response")  # case counts


def _file(source: str, raw: str, indexed: str | None = None):
    return ki.CorpusFile(source, f"/corpus/{source}", raw, raw if indexed is None else indexed)


def test_queries_keep_rare_indexed_names_and_their_files():
    files = [
        _file("a.md", "common_name and rare_name_one; see helper.py"),
        _file("b.md", "common_name again, rare_name_one too"),
        _file("c.md", "common_name, hidden_name", indexed="common_name only"),
        _file("d.md", "common_name and ONLY_IN_D"),
        _file("helper.py", "def helper(): pass"),
    ]
    queries, sampling = ki.known_item_queries(files, n=10, seed=1, max_files=3)
    by_text = {q.text: q for q in queries}
    assert set(by_text) == {"rare_name_one", "ONLY_IN_D", "helper.py"}
    assert by_text["rare_name_one"].relevant == {"a.md", "b.md"}
    assert by_text["ONLY_IN_D"].kind == "constant"
    assert by_text["helper.py"].relevant == {"a.md", "helper.py"}  # and the file it names
    # common_name is in 4 files, hidden_name only in raw text the index does not hold
    assert sampling.rejected == {"not in the indexed text": 1}
    assert sampling.candidates["snake"] == 2  # common_name was never a candidate


def test_sampling_is_seeded_and_takes_kinds_in_turn():
    text = " ".join(f"name_{i:03d}_x NAME_{i:03d}_Y" for i in range(40))
    files = [_file("a.md", text)]
    first, _ = ki.known_item_queries(files, n=10, seed=7)
    again, _ = ki.known_item_queries(files, n=10, seed=7)
    other, _ = ki.known_item_queries(files, n=10, seed=8)
    assert [q.text for q in first] == [q.text for q in again]
    assert [q.text for q in first] != [q.text for q in other]
    assert [q.kind for q in first] == ["constant", "snake"] * 5


def test_configs_override_settings_and_search_params():
    settings = Settings()
    plain = ki.parse_config("sparse")
    assert plain.name == "sparse" and plain.params(settings, 5).mode == "sparse"
    assert plain.params(settings, 5).rerank is False  # reranking off unless asked
    fused = ki.parse_config("hybrid:fusion=rrf,alpha=0.5")
    params = fused.params(settings, 10)
    assert (fused.name, params.mode, params.fusion, params.alpha, params.k) == (
        "hybrid:fusion=rrf,alpha=0.5",
        "hybrid",
        "rrf",
        0.5,
        10,
    )
    named = ki.parse_config("wide:mode=hybrid,pool_factor=20,rerank=on")
    assert named.name == "wide"
    assert named.params(settings, 1).pool_factor == 20
    assert named.params(settings, 1).rerank is True
    with pytest.raises(SystemExit, match="unknown key"):
        ki.parse_config("x:fusoin=rrf")
    with pytest.raises(SystemExit, match="not key=value"):
        ki.parse_config("x:rrf")


def test_score_rolls_hits_up_into_files():
    assert ki.score(["a", "b", "c"], {"b"}, 5) == {"hit@1": 0.0, "hit@5": 1.0, "mrr": 0.5}
    assert ki.score(["a"], {"a"}, 1) == {"hit@1": 1.0, "hit@5": None, "mrr": 1.0}
    assert ki.score([], {"a"}, 10) == {"hit@1": 0.0, "hit@5": 0.0, "mrr": 0.0}


def test_run_on_a_small_folder(tmp_path, embed_model_path, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    topics = {
        "glaciers": "The FROBNICATE_LIMIT setting says how far a glacier slides.",
        "volcanoes": "Set magma_chamber_depth to the depth of the molten rock.",
        "bees": "Bees keep honey in combs; see hive_keeper.py for the tool.",
        "rivers": "The run_river_model function with --river-flow traces water.",
    }
    for name, text in topics.items():
        (folder / f"{name}.md").write_text(f"# {name}\n\n{text}\n", encoding="utf-8")
    (folder / "questions.jsonl").write_text(
        json.dumps({"question": "NOT_A_QUERY_NAME", "relevant": ["bees.md"], "kind": "x"}) + "\n"
    )
    out = tmp_path / "report.json"
    saved = tmp_path / "queries.jsonl"
    args = [str(folder), "--work", str(tmp_path / "work"), "--k", "1,5"]
    assert ki.main([*args, "--json", str(out), "--save-queries", str(saved)]) == 0
    report = json.loads(out.read_text())
    texts = {q["query"] for q in report["queries"]}
    assert texts == {
        "FROBNICATE_LIMIT",
        "magma_chamber_depth",
        "hive_keeper.py",
        "run_river_model",
        "--river-flow",
    }
    assert not (folder / ".rag").exists()  # indexed in the copy
    sparse = [r for r in report["results"] if r["config"] == "sparse"]
    assert [r["k"] for r in sparse] == [1, 5]
    assert all(r["n"] == 5 for r in report["results"])
    assert sparse[1]["hit@5"] == 1.0  # each name is in one file: BM25 finds it
    assert "by_kind" in sparse[0] and "missed_at_1" in sparse[0]
    # the saved queries are a rag eval question file, paths relative to it
    first = json.loads(saved.read_text().splitlines()[0])
    assert set(first) == {"id", "question", "relevant", "kind"}
    assert all(p.startswith("work/") for p in first["relevant"])
    # the same index again, queries from the saved question file, reported per kind
    index = tmp_path / "work" / ".rag" / "default"
    assert ki.main(["--index", str(index), "--questions", str(saved), "--k", "5"]) == 0
    printed = capsys.readouterr().out
    assert "hit@1 by kind" in printed and "constant" in printed


def test_headings_are_queries_when_asked():
    files = [
        _file("a.md", "text", indexed="text"),
        _file("b.md", "text"),
        _file("c.md", "text"),
    ]
    files[0].headings = {"Deploying to Production", "Setup"}
    files[1].headings = {"deploying  to production", "Error Handlers"}
    files[2].headings = {"Error Handlers", "Debug Mode"}
    queries, _ = ki.known_item_queries(files, n=10, seed=3, max_files=1, headings=True)
    # one word is too short; the two shared ones are in more than --max-files files
    assert {(q.text, q.kind) for q in queries} == {("Debug Mode", "heading")}
    queries, _ = ki.known_item_queries(files, n=10, seed=3, max_files=2, headings=True)
    by_text = {q.text: q.relevant for q in queries}
    assert by_text["Deploying to Production"] == {"a.md", "b.md"}  # compared without case
    assert by_text["Error Handlers"] == {"b.md", "c.md"}
    assert ki.known_item_queries(files, n=10, seed=3, max_files=2)[0] == []  # not by default


def _report(hits: dict[str, bool], index: str = "x") -> dict:
    return {
        "index": index,
        "queries": [{"id": i, "query": f"q_{i}"} for i in hits],
        "results": [
            {
                "config": "sparse",
                "k": 5,
                "hit@1": sum(hits.values()) / len(hits),
                "missed_at_1": [i for i, hit in hits.items() if not hit],
            }
        ],
    }


def test_compare_with_a_baseline_names_the_queries_won_and_lost():
    before = _report({"a": True, "b": False, "c": False})
    after = _report({"a": False, "b": True, "c": True})
    text = ki.compare(after, before)
    (line,) = [row for row in text.splitlines() if row.startswith("sparse")]
    assert line.split()[:4] == ["sparse", "5", "0.333", "0.667"]
    assert "won 2: q_b, q_c" in line and "lost 1: q_a" in line
    other = _report({"z": True})
    assert "not the same queries" in ki.compare(after, other)


def test_prefix_agreement_needs_the_same_chunks_and_scores():
    def row(k, hits):
        return {"config": "hybrid", "k": k, "hits": hits}

    big = row(10, {"a": [(1, 2.0), (2, 1.0)], "b": [(3, 2.0), (4, 1.0)], "c": [(5, 1.0)]})
    small = row(1, {"a": [(1, 2.0)], "b": [(4, 2.0)], "c": [(5, 1.5)]})  # b: other chunk
    results = [small, big]  # c: same chunk, another score
    ki.prefix_agreement(results)
    assert small["prefix"] == 0.6667 and small["same_scores"] == 0.3333
    assert big["prefix"] is None and big["same_scores"] is None
    assert "hits" not in small and "hits" not in big
