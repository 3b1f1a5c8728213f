"""Evaluation metrics and sweeps (ragcli.evaluate.metrics, .sweep): trec_eval figures,
SQuAD EM/F1, judge parsing, sweeps."""

from __future__ import annotations

import json
import math

import pytest

from ragcli.errors import UsageError
from ragcli.evaluate.metrics import (
    DEFAULT_METRICS,
    JUDGE_SYSTEM,
    MetricSpec,
    answer_contains,
    doc_ranking,
    exact_match,
    judge,
    judge_prompts,
    mean_judged,
    normalize_answer,
    parse_judge_reply,
    parse_metric,
    parse_metrics,
    run_from_hits,
    score_answer,
    score_retrieval,
    token_f1,
)
from ragcli.evaluate.sweep import best_row, expand_grid
from ragcli.types import Chunk, Hit, Location


def hit(rank: int, doc_id: str, score: float, text: str = "") -> Hit:
    chunk = Chunk(
        doc_id=doc_id,
        source=doc_id,
        title=doc_id,
        text=text or f"text of {doc_id}",
        location=Location(),
        start=0,
        end=10,
        ordinal=0,
    )
    return Hit(rank=rank, score=score, chunk=chunk)


# ---------------------------------------------------------------------------------------
# chunks -> documents


def test_doc_ranking_best_chunk_and_dedupe() -> None:
    hits = [
        hit(3, "b", 0.5),
        hit(1, "a", 0.9),
        hit(2, "b", 0.7),  # b's best chunk
        hit(4, "a", 0.4),  # a again: dropped
        hit(5, "c", 0.1),
    ]
    assert doc_ranking(hits) == [("a", 0.9), ("b", 0.7), ("c", 0.1)]
    assert doc_ranking([]) == []
    assert run_from_hits({"q1": hits, "q2": []}) == {"q1": ["a", "b", "c"], "q2": []}


# ---------------------------------------------------------------------------------------
# retrieval metrics against trec_eval's definitions, worked by hand
#
# q1: qrels d1=2, d2=1, d4=1 (3 relevant), d3=0 (judged, not relevant)
#     run   d3, d1, d5, d2, d6          relevant at ranks 2 (grade 2) and 4 (grade 1)
#     success@1 = 0, success@5 = 1
#     P@3 = 1/3, P@5 = 2/5;  recall@3 = 1/3, recall@5 = 2/3
#     RR = 1/2; RR on the top 1 = 0; RR on the top 3 = 1/2
#     AP = (1/2 + 2/4) / 3 = 1/3                       (d4 never retrieved: adds 0)
#     nDCG@3: DCG  = 0/log2(2) + 2/log2(3) + 0/log2(4)          = 2/log2(3)
#             IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4)          = 2.5 + 1/log2(3)
# q2: qrels e1=1, e2=3;  run e2, x, e1                relevant at ranks 1 (grade 3), 3 (grade 1)
#     success@1 = 1; P@3 = 2/3; recall@3 = 1; RR = 1
#     AP = (1/1 + 2/3) / 2 = 5/6
#     nDCG@3: DCG = 3 + 0 + 1/log2(4) = 3.5;  IDCG = 3 + 1/log2(3)
# q3: qrels f1=1; not in the run at all -> 0 on everything, still counted in the means
# q4: in the run, no qrels -> not scored, listed as unjudged

QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0, "d4": 1},
    "q2": {"e1": 1, "e2": 3},
    "q3": {"f1": 1},
}
RUN = {
    "q1": ["d3", "d1", "d5", "d2", "d6"],
    "q2": ["e2", "x", "e1"],
    "q4": ["d1"],
}
LOG2_3 = math.log2(3)
EXPECTED = {
    "q1": {
        "hit@1": 0.0,
        "hit@5": 1.0,
        "p@3": 1 / 3,
        "p@5": 2 / 5,
        "recall@3": 1 / 3,
        "recall@5": 2 / 3,
        "mrr": 1 / 2,
        "mrr@1": 0.0,
        "mrr@3": 1 / 2,
        "map": 1 / 3,
        "ndcg@3": (2 / LOG2_3) / (2.5 + 1 / LOG2_3),
    },
    "q2": {
        "hit@1": 1.0,
        "hit@5": 1.0,
        "p@3": 2 / 3,
        "p@5": 2 / 5,
        "recall@3": 1.0,
        "recall@5": 1.0,
        "mrr": 1.0,
        "mrr@1": 1.0,
        "mrr@3": 1.0,
        "map": 5 / 6,
        "ndcg@3": 3.5 / (3 + 1 / LOG2_3),
    },
}
METRICS = list(EXPECTED["q1"])


def test_score_retrieval_matches_hand_computed_trec_eval_values() -> None:
    scores = score_retrieval(RUN, QRELS, METRICS)
    assert scores.metrics == METRICS
    assert set(scores.per_query) == {"q1", "q2", "q3"}
    for qid in ("q1", "q2"):
        for name, value in EXPECTED[qid].items():
            assert scores.per_query[qid][name] == pytest.approx(value, abs=1e-4), (qid, name)
    assert scores.per_query["q3"] == dict.fromkeys(METRICS, 0.0)
    assert scores.unjudged == ["q4"] and scores.empty == ["q3"]
    # means are over all 3 judged queries, q3's zeros included: MAP = (1/3 + 5/6 + 0) / 3
    assert scores.mean["map"] == pytest.approx(7 / 18, abs=1e-4)
    assert scores.mean["hit@1"] == pytest.approx(1 / 3)
    assert scores.mean["recall@5"] == pytest.approx((2 / 3 + 1) / 3, abs=1e-4)
    assert scores.n_queries == 3
    assert json.loads(json.dumps(scores.to_dict()))["n_queries"] == 3


def test_score_retrieval_keeps_the_retrievers_order_despite_ids() -> None:
    # With tied scores trec_eval would sort by doc id descending ("b" before "a") and put
    # the relevant doc first. The run's own order must be scored: "b" is at rank 2.
    scores = score_retrieval({"q": ["a", "b"]}, {"q": {"b": 1}}, ["mrr", "mrr@1", "hit@1"])
    assert scores.per_query["q"] == {"mrr": 0.5, "mrr@1": 0.0, "hit@1": 0.0}
    # duplicates in the run keep their first position
    dup = score_retrieval({"q": ["a", "a", "b"]}, {"q": {"b": 1}}, ["mrr"])
    assert dup.per_query["q"]["mrr"] == 0.5


def test_score_retrieval_empty_list_and_defaults() -> None:
    scores = score_retrieval({"q1": [], "q2": ["x"]}, {"q1": {"a": 1}, "q2": {"x": 1}})
    assert scores.metrics == list(DEFAULT_METRICS)
    assert scores.per_query["q1"] == dict.fromkeys(DEFAULT_METRICS, 0.0)
    assert scores.per_query["q2"]["ndcg@10"] == 1.0
    assert scores.mean["hit@1"] == 0.5
    with pytest.raises(UsageError, match="nothing to evaluate"):
        score_retrieval({"q": ["a"]}, {"q": {"a": 0}})


def test_parse_metrics() -> None:
    assert parse_metric("nDCG@10") == MetricSpec("ndcg", 10)
    assert parse_metric("success@5").name == "hit@5"
    assert parse_metric("map").trec_measure == "map"
    assert parse_metric("map@5").trec_key == "map_cut_5"
    assert parse_metric("recall@100").trec_key == "recall_100"
    specs = parse_metrics("hit@1,5,10 ndcg@10,map,hit@5")
    assert [s.name for s in specs] == ["hit@1", "hit@5", "hit@10", "ndcg@10", "map"]
    for bad, message in [
        ("bleu", "unknown metric"),
        ("recall", "needs a cutoff"),
        ("hit@0", "positive integer"),
        ("5", "does not follow"),
        ("", "no metrics"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_metrics(bad)


# ---------------------------------------------------------------------------------------
# SQuAD v1.1 answer metrics


def test_normalize_answer_official_rules() -> None:
    assert normalize_answer("  The Quick,  brown FOX! ") == "quick brown fox"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("U.S.A.") == "usa"  # punctuation removed, not replaced
    assert normalize_answer("theory") == "theory"  # articles only as whole words


def test_exact_match_and_f1_hand_checked() -> None:
    assert exact_match("The Eiffel Tower.", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["eiffel tower"]) == 0.0
    # pred tokens: cat sat on mat (4); gold: cat on mat (3); common 3
    # P = 3/4, R = 3/3 -> F1 = 2 * 3/4 * 1 / (3/4 + 1) = 6/7
    assert token_f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    # repeated tokens count with multiplicity: pred "paris paris" vs gold "paris"
    # common = 1, P = 1/2, R = 1 -> F1 = 2/3
    assert token_f1("paris paris", ["paris"]) == pytest.approx(2 / 3)
    # max over gold answers: second gold gives P = 1, R = 1/2 -> 2/3; first gives 0
    assert token_f1("Denver", ["Broncos", "Denver Broncos"]) == pytest.approx(2 / 3)
    assert exact_match("Denver Broncos", ["Broncos", "the Denver Broncos"]) == 1.0
    # only articles/punctuation left: EM compares "" with "", F1 is 0 (official behaviour)
    assert exact_match("the", ["a"]) == 1.0 and token_f1("the", ["a"]) == 0.0
    assert answer_contains("It was built in 1889 by Eiffel.", ["1889"]) == 1.0
    assert answer_contains("It was built in 18890.", ["1889"]) == 0.0
    assert score_answer("Denver Broncos", ["Denver Broncos"]) == {
        "em": 1.0,
        "f1": 1.0,
        "contains": 1.0,
    }
    with pytest.raises(ValueError, match="no gold answers"):
        exact_match("x", [])


# ---------------------------------------------------------------------------------------
# LLM judge


@pytest.mark.parametrize(
    ("reply", "raw", "reason"),
    [
        ('{"score": 5, "reason": "All supported."}', 5.0, "All supported."),
        ('```json\n{"score": 3, "reason": "partly"}\n```', 3.0, "partly"),
        ('Sure! Here is my rating:\n{"reason": "ok", "score": "4"}\nThanks.', 4.0, "ok"),
        ('{"score": "2/5", "reason": "weak"}', 2.0, "weak"),
        ('{"score": 4.5, "reason": "nearly"}', 4.5, "nearly"),
        ('{"note": {"x": 1}} then {"score": 1, "reason": "off topic"}', 1.0, "off topic"),
    ],
)
def test_parse_judge_reply_valid(reply: str, raw: float, reason: str) -> None:
    result = parse_judge_reply("groundedness", reply)
    assert result.valid and result.error is None and result.note is None
    assert result.raw == raw
    assert result.score == pytest.approx((raw - 1) / 4)
    assert result.reason == reason
    assert result.reply == reply


def test_parse_judge_reply_plain_text_fallback() -> None:
    result = parse_judge_reply("answer_relevance", "Score: 4\nThe answer is on topic.")
    assert result.valid and result.raw == 4.0 and result.score == 0.75
    assert result.note is not None and "no JSON" in result.note


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ('{"score": 7, "reason": "great"}', "score 7 outside 1-5"),
        ('{"score": 0.8, "reason": "0-1 scale"}', "score 0.8 outside 1-5"),
        ('{"score": "high", "reason": "?"}', 'score is not a number: "high"'),
        ('{"score": true}', "score is not a number: true"),
        ('{"score": "8/10"}', 'score is not a number: "8/10"'),
        ("Score: 8/10", "score given out of 10, expected 1-5"),
        ("I think it is good.", "no score in the reply"),
        ("", "empty reply"),
    ],
)
def test_parse_judge_reply_invalid(reply: str, error: str) -> None:
    result = parse_judge_reply("context_relevance", reply)
    assert not result.valid and result.score is None
    assert result.error == error


def test_judge_prompts_and_calls() -> None:
    calls: list[tuple[str, str]] = []
    replies = iter(['{"score": 5, "reason": "r1"}', '```{"score": 2}```', "nonsense"])

    def fake_llm(system: str, user: str) -> str:
        calls.append((system, user))
        return next(replies)

    contexts = ["Cats sleep 16 hours.", hit(1, "dogs.md", 0.3, text="Dogs bark.")]
    results = judge(fake_llm, "How long do cats sleep?", contexts, "About 16 hours.")
    assert list(results) == ["context_relevance", "groundedness", "answer_relevance"]
    assert all(system == JUDGE_SYSTEM for system, _ in calls)
    relevance_prompt, grounded_prompt, answer_prompt = (user for _, user in calls)
    assert "How long do cats sleep?" in relevance_prompt
    assert "[1] Cats sleep 16 hours." in relevance_prompt and "[2] Dogs bark." in relevance_prompt
    assert "About 16 hours." not in relevance_prompt  # context relevance ignores the answer
    assert "[1] Cats sleep 16 hours." in grounded_prompt and "About 16 hours." in grounded_prompt
    assert "About 16 hours." in answer_prompt and "Cats sleep" not in answer_prompt
    assert results["context_relevance"].score == 1.0
    assert results["groundedness"].score == 0.25 and results["groundedness"].reason == ""
    assert not results["answer_relevance"].valid
    no_score = parse_judge_reply("groundedness", "4")  # a bare number is not read as a score
    summary = mean_judged([results, {"groundedness": no_score}])
    assert summary["context_relevance"] == {"mean": 1.0, "n_valid": 1, "n_invalid": 0}
    assert summary["groundedness"] == {"mean": 0.25, "n_valid": 1, "n_invalid": 1}
    assert summary["answer_relevance"] == {"mean": None, "n_valid": 0, "n_invalid": 1}


def test_judge_without_answer_and_unknown_metric() -> None:
    prompts: list[str] = []

    def fake_llm(system: str, user: str) -> str:
        prompts.append(user)
        return '{"score": 3, "reason": "meh"}'

    results = judge(fake_llm, "q?", [], None)
    assert list(results) == ["context_relevance"]
    assert "(no passages)" in prompts[0]
    with pytest.raises(UsageError, match="unknown judge metric"):
        judge(fake_llm, "q?", [], "a", metrics=["faithfulness"])
    # every prompt asks for the same JSON shape on the documented scale
    for text in judge_prompts.values():
        assert '{"score": <1-5>, "reason": "..."}' in text.format(
            question="q", contexts="c", answer="a"
        )


# ---------------------------------------------------------------------------------------
# sweeps


def test_expand_grid_order() -> None:
    grid = expand_grid({"mode": ["dense", "hybrid"], "alpha": [0.3, 0.7], "k": [5]})
    assert grid == [
        {"mode": "dense", "alpha": 0.3, "k": 5},
        {"mode": "dense", "alpha": 0.7, "k": 5},
        {"mode": "hybrid", "alpha": 0.3, "k": 5},
        {"mode": "hybrid", "alpha": 0.7, "k": 5},
    ]
    assert expand_grid({}) == [{}]
    with pytest.raises(UsageError, match="no values"):
        expand_grid({"alpha": []})
    with pytest.raises(UsageError, match="expected a list"):
        expand_grid({"mode": "dense"})


def test_best_row() -> None:
    rows = [
        {"alpha": 0.3, "ndcg@10": 0.61},
        {"alpha": 0.5, "ndcg@10": 0.70},
        {"alpha": 0.7, "ndcg@10": 0.70},  # tie: the first one wins
        {"alpha": 0.9, "ndcg@10": float("nan")},
        {"alpha": 1.0},
    ]
    assert best_row(rows, "ndcg@10")["alpha"] == 0.5
    assert best_row(rows, "ndcg@10", higher_is_better=False)["alpha"] == 0.3
    with pytest.raises(UsageError, match="no sweep result"):
        best_row(rows, "map")
