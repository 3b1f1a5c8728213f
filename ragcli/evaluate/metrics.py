"""Evaluation metrics: retrieval (via trec_eval), answers (SQuAD EM/F1), the LLM judge.

Retrieval is scored at the document level. A retriever returns chunks; :func:`doc_ranking`
maps them to their documents (a document ranks where its best, i.e. first, chunk ranks)
and :func:`score_retrieval` scores the document rankings with ``pytrec_eval``, which runs
trec_eval's own C code, so the figures are trec_eval's definitions:

=============  ==========================  ================================================
name           trec_eval measure           meaning
=============  ==========================  ================================================
``hit@k``      ``success_k``               1 if a relevant doc is in the top k, else 0
``recall@k``   ``recall_k``                relevant docs in the top k / all relevant docs
``p@k``        ``P_k``                     relevant docs in the top k / k
``mrr@k``      ``recip_rank`` on top k     1 / rank of the first relevant doc (0 past k)
``mrr``        ``recip_rank``              same, whole ranking
``ndcg@k``     ``ndcg_cut_k``              graded: gain = grade, discount log2(rank + 1)
``ndcg``       ``ndcg``                    same, whole ranking
``map``        ``map``                     mean over relevant docs of precision at its rank
``map@k``      ``map_cut_k``               same, ranking cut at k
=============  ==========================  ================================================

A document is relevant when its grade is >= 1 (trec_eval's default relevance level).
Means are over every judged query (one with at least one relevant document); a judged
query the retriever returned nothing for counts as 0 on every metric.

Answer metrics are SQuAD v1.1's ``evaluate-v1.1.py``: exact match and token F1 after the
official normalisation, the maximum over the gold answers, on a 0-1 scale (the official
script prints them times 100).

The LLM-judged "RAG triad" (context relevance, groundedness, answer relevance) asks any
``generate_fn(system, user) -> str`` for a JSON object ``{"score": 1-5, "reason": "..."}``
per metric; :class:`JudgedScore` keeps the raw 1-5 score and a 0-1 ``score``.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragcli.errors import UsageError
from ragcli.types import Chunk, Hit

DEFAULT_METRICS: tuple[str, ...] = (
    "hit@1",
    "hit@5",
    "hit@10",
    "recall@10",
    "recall@100",
    "mrr@10",
    "ndcg@10",
    "map",
)

# --------------------------------------------------------------------------------------
# retrieval


def doc_ranking(hits: Iterable[Hit]) -> list[tuple[str, float]]:
    """Documents in the order of their best chunk: ``[(doc_id, score), ...]``.

    Hits are taken in rank order (sorted by ``hit.rank``; equal ranks keep their input
    order). A document appears once, at its first chunk's position, with that chunk's
    score.
    """
    ordered = sorted(hits, key=lambda hit: hit.rank)
    seen: set[str] = set()
    ranking: list[tuple[str, float]] = []
    for hit in ordered:
        doc_id = hit.chunk.doc_id
        if doc_id in seen:
            continue
        seen.add(doc_id)
        ranking.append((doc_id, hit.score))
    return ranking


def run_from_hits(hits_by_query: Mapping[str, Iterable[Hit]]) -> dict[str, list[str]]:
    """``{query id: [doc ids ranked]}`` from each query's chunk hits (see doc_ranking)."""
    return {qid: [doc for doc, _ in doc_ranking(hits)] for qid, hits in hits_by_query.items()}


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: ``kind`` (hit, recall, p, mrr, ndcg, map) and cutoff ``k``."""

    kind: str
    k: int | None

    @property
    def name(self) -> str:
        return self.kind if self.k is None else f"{self.kind}@{self.k}"

    @property
    def trec_measure(self) -> str:
        """The pytrec_eval measure to request (mrr is handled by truncating the run)."""
        if self.kind == "mrr":
            return "recip_rank"
        if self.k is None:
            return {"ndcg": "ndcg", "map": "map"}[self.kind]
        base = {"hit": "success", "recall": "recall", "p": "P", "ndcg": "ndcg_cut"}
        return f"{base.get(self.kind, 'map_cut')}.{self.k}"

    @property
    def trec_key(self) -> str:
        """The key pytrec_eval uses for this measure in its results."""
        return self.trec_measure.replace(".", "_")


_ALIASES = {
    "hit": "hit",
    "hits": "hit",
    "success": "hit",
    "recall": "recall",
    "r": "recall",
    "p": "p",
    "precision": "p",
    "mrr": "mrr",
    "rr": "mrr",
    "recip_rank": "mrr",
    "ndcg": "ndcg",
    "map": "map",
}
_NEEDS_K = {"hit", "recall", "p"}


def parse_metric(name: str) -> MetricSpec:
    """``"nDCG@10"`` -> ``MetricSpec("ndcg", 10)``. Unknown names raise UsageError."""
    raw = name.strip().lower()
    base, sep, cut = raw.partition("@")
    kind = _ALIASES.get(base)
    if kind is None:
        known = "hit@k, recall@k, p@k, mrr[@k], ndcg[@k], map[@k]"
        raise UsageError(f"unknown metric {name!r} (known: {known})")
    k: int | None = None
    if sep:
        if not cut.isdigit() or int(cut) < 1:
            raise UsageError(f"metric {name!r}: the cutoff after '@' must be a positive integer")
        k = int(cut)
    elif kind in _NEEDS_K:
        raise UsageError(f"metric {name!r} needs a cutoff, e.g. {kind}@10")
    return MetricSpec(kind, k)


def parse_metrics(spec: str | Sequence[str]) -> list[MetricSpec]:
    """Parse a metric list: ``"hit@1,5,10 ndcg@10,map"`` or a list of names.

    A bare number after a metric adds another cutoff of that metric, so ``hit@1,5,10``
    is hit@1, hit@5 and hit@10. Duplicates are dropped, order kept.
    """
    tokens = re.split(r"[,\s]+", spec) if isinstance(spec, str) else list(spec)
    specs: list[MetricSpec] = []
    last: MetricSpec | None = None
    for token in (t.strip() for t in tokens):
        if not token:
            continue
        if token.isdigit():
            if last is None or last.k is None:
                raise UsageError(f"metric list: {token!r} does not follow a metric@k")
            current = parse_metric(f"{last.kind}@{token}")
        else:
            current = parse_metric(token)
        last = current
        if current not in specs:
            specs.append(current)
    if not specs:
        raise UsageError("no metrics given")
    return specs


@dataclass
class RetrievalScores:
    """Per-query and mean values; metric names as given (``hit@10``, ``ndcg@10``, ...)."""

    metrics: list[str]
    per_query: dict[str, dict[str, float]]
    mean: dict[str, float]
    unjudged: list[str] = field(default_factory=list)  # run queries without relevant docs
    empty: list[str] = field(default_factory=list)  # judged queries with nothing retrieved

    @property
    def n_queries(self) -> int:
        return len(self.per_query)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": list(self.metrics),
            "n_queries": self.n_queries,
            "mean": dict(self.mean),
            "per_query": {qid: dict(values) for qid, values in self.per_query.items()},
            "unjudged": list(self.unjudged),
            "empty": list(self.empty),
        }


def _trec_run(ranked: Sequence[str], k: int | None = None) -> dict[str, float]:
    """Distinct descending scores by rank, so trec_eval keeps the retriever's order.

    trec_eval sorts by score and breaks ties by document id, which would re-order a
    run whose scores tie (or are not monotonic). Duplicate doc ids keep their first rank.
    """
    unique = list(dict.fromkeys(str(doc) for doc in ranked))
    if k is not None:
        unique = unique[:k]
    n = len(unique)
    return {doc: float(n - rank) for rank, doc in enumerate(unique)}


def _metric_specs(metrics: str | Sequence[str] | Sequence[MetricSpec]) -> list[MetricSpec]:
    if isinstance(metrics, str):
        return parse_metrics(metrics)
    return parse_metrics([m.name if isinstance(m, MetricSpec) else m for m in metrics])


def _judged_qrels(qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """The queries with a relevant document; negative grades count as 0, not as negative
    gain in nDCG."""
    judged = {
        str(qid): {str(doc): max(0, int(grade)) for doc, grade in grades.items()}
        for qid, grades in qrels.items()
        if any(int(grade) >= 1 for grade in grades.values())
    }
    if not judged:
        raise UsageError("no query has a relevant document: nothing to evaluate")
    return judged


def _trec_values(
    judged: dict[str, dict[str, int]], run: dict[str, list[str]], specs: list[MetricSpec]
) -> dict[str, dict[str, float]]:
    """``{qid: {metric name: value}}`` from pytrec_eval, missing values as 0."""
    try:
        import pytrec_eval
    except ImportError:  # pragma: no cover - depends on the environment
        raise UsageError(
            "retrieval metrics need pytrec_eval: pip install pytrec-eval-terrier"
        ) from None

    per_query: dict[str, dict[str, float]] = {qid: {} for qid in judged}

    def collect(results: dict[str, dict[str, float]], pairs: list[tuple[str, str]]) -> None:
        for qid in judged:
            values = results.get(qid, {})
            for name, key in pairs:
                per_query[qid][name] = float(values.get(key, 0.0))

    # Every measure except mrr@k runs on the full ranking in one evaluator.
    plain = [s for s in specs if not (s.kind == "mrr" and s.k is not None)]
    if plain:
        evaluator = pytrec_eval.RelevanceEvaluator(judged, {s.trec_measure for s in plain})
        full_run = {qid: _trec_run(docs) for qid, docs in run.items() if qid in judged}
        collect(evaluator.evaluate(full_run), [(s.name, s.trec_key) for s in plain])
    # mrr@k = recip_rank of the run truncated to k (trec_eval has no recip_rank cutoff).
    rr = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"})
    for spec in specs:
        if spec.kind == "mrr" and spec.k is not None:
            cut_run = {qid: _trec_run(d, spec.k) for qid, d in run.items() if qid in judged}
            collect(rr.evaluate(cut_run), [(spec.name, "recip_rank")])
    return per_query


def score_retrieval(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: str | Sequence[str] | Sequence[MetricSpec] = DEFAULT_METRICS,
) -> RetrievalScores:
    """Score ranked document lists against graded judgments with trec_eval.

    ``run`` maps query id to doc ids, best first (its scores are ignored: only the order
    counts); ``qrels`` maps query id to ``{doc id: grade}`` (grade >= 1 = relevant). The
    queries scored are those of ``qrels`` with at least one relevant document; those
    missing from ``run`` or with an empty list score 0. Run queries without judgments are
    listed in ``unjudged`` and not scored.
    """
    specs = _metric_specs(metrics)
    judged = _judged_qrels(qrels)
    run_str = {str(qid): list(docs) for qid, docs in run.items()}
    per_query = _trec_values(judged, run_str, specs)
    names = [s.name for s in specs]
    ordered = {qid: {name: per_query[qid][name] for name in names} for qid in judged}
    n = len(ordered)
    return RetrievalScores(
        metrics=names,
        per_query=ordered,
        mean={name: sum(v[name] for v in ordered.values()) / n for name in names},
        unjudged=[qid for qid in run_str if qid not in judged],
        empty=[qid for qid in judged if not run_str.get(qid)],
    )


# --------------------------------------------------------------------------------------
# answers (SQuAD v1.1)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, drop punctuation, drop a/an/the, fix spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)


def _check_golds(golds: str | Sequence[str]) -> list[str]:
    gold_list = [golds] if isinstance(golds, str) else list(golds)
    if not gold_list:
        raise ValueError("no gold answers to compare with")
    return gold_list


def _f1_one(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer, else 0.0."""
    pred = normalize_answer(prediction)
    return max(float(pred == normalize_answer(gold)) for gold in _check_golds(golds))


def token_f1(prediction: str, golds: str | Sequence[str]) -> float:
    """SQuAD token F1 (bag of normalised tokens), the best over the gold answers.

    As in the official script, F1 is 0 when either side has no tokens left.
    """
    return max(_f1_one(prediction, gold) for gold in _check_golds(golds))


def answer_contains(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 if a normalised gold answer occurs in the normalised prediction (token bounds).

    Not a SQuAD metric: a lenient check for long generated answers, where EM is ~0.
    """
    pred = f" {normalize_answer(prediction)} "
    return max(
        float(bool(g) and f" {g} " in pred)
        for g in (normalize_answer(gold) for gold in _check_golds(golds))
    )


def score_answer(prediction: str, golds: str | Sequence[str]) -> dict[str, float]:
    """``{"em", "f1", "contains"}`` for one prediction against its gold answers."""
    return {
        "em": exact_match(prediction, golds),
        "f1": token_f1(prediction, golds),
        "contains": answer_contains(prediction, golds),
    }


# --------------------------------------------------------------------------------------
# LLM judge (the RAG triad)

JUDGE_SCALE = (1, 5)

JUDGE_SYSTEM = (
    "You are a strict, impartial evaluator of a retrieval-augmented question answering "
    "system. You rate one property at a time on an integer scale from 1 (worst) to 5 "
    "(best). Reply with only a JSON object of the form "
    '{"score": <integer 1-5>, "reason": "<one or two sentences>"} and nothing else.'
)

#: User prompts of the three judged metrics. Placeholders: ``{question}``, ``{contexts}``
#: (numbered passages) and ``{answer}``. Each asks for ``{"score": 1-5, "reason": ...}``;
#: :func:`judge` maps the score to 0-1 as ``(score - 1) / 4``.
judge_prompts: dict[str, str] = {
    # Are the retrieved passages about the question? (retrieval quality, no answer needed)
    "context_relevance": (
        "Rate how relevant the retrieved passages are to the question: do they contain "
        "the information needed to answer it?\n"
        "5 = the passages contain everything needed to answer; "
        "3 = partly relevant or only some of what is needed; "
        "1 = unrelated to the question.\n\n"
        "Question:\n{question}\n\nRetrieved passages:\n{contexts}\n\n"
        'Reply with only {{"score": <1-5>, "reason": "..."}}.'
    ),
    # Is every claim of the answer supported by the passages? (hallucination check)
    "groundedness": (
        "Rate how well the answer is supported by the passages. Judge only against the "
        "passages, not your own knowledge.\n"
        "5 = every claim in the answer is stated in or directly follows from the passages "
        "(an answer that correctly says the passages do not contain the answer also "
        "counts as 5); 3 = some claims are supported, others are not; "
        "1 = the answer is mostly unsupported or contradicts the passages.\n\n"
        "Passages:\n{contexts}\n\nAnswer:\n{answer}\n\n"
        'Reply with only {{"score": <1-5>, "reason": "..."}}.'
    ),
    # Does the answer address the question asked? (usefulness, not correctness)
    "answer_relevance": (
        "Rate how well the answer addresses the question that was asked: it is on topic, "
        "direct and complete, whether or not it is correct.\n"
        "5 = directly and completely answers the question; "
        "3 = partly answers it or is padded with unrelated material; "
        "1 = does not address the question.\n\n"
        "Question:\n{question}\n\nAnswer:\n{answer}\n\n"
        'Reply with only {{"score": <1-5>, "reason": "..."}}.'
    ),
}

JUDGE_METRICS: tuple[str, ...] = tuple(judge_prompts)
_NEEDS_ANSWER = {"groundedness", "answer_relevance"}


@dataclass
class JudgedScore:
    """One judged metric. ``score`` is 0-1 (``(raw - 1) / 4``), None when ``valid`` is False.

    ``raw`` is the judge's 1-5 number; ``error`` says why a reply was not usable;
    ``note`` flags a usable but irregular reply (e.g. no JSON, score read from text).
    """

    metric: str
    score: float | None
    raw: float | None
    reason: str
    valid: bool
    error: str | None = None
    note: str | None = None
    reply: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "score": self.score,
            "raw": self.raw,
            "reason": self.reason,
            "valid": self.valid,
            "error": self.error,
            "note": self.note,
        }


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_SCORE_IN_TEXT = re.compile(
    r"""["']?score["']?\s*[:=]\s*["']?(-?\d+(?:\.\d+)?)(?:\s*/\s*(\d+))?""", re.IGNORECASE
)


def _json_objects(text: str) -> Iterable[dict[str, Any]]:
    """JSON objects in ``text``: fenced blocks first, then any ``{...}`` that decodes."""
    decoder = json.JSONDecoder()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for start in (i for i, ch in enumerate(candidate) if ch == "{"):
            try:
                obj, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                yield obj


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+)\s*)?", value)
        if match and (match.group(2) is None or int(match.group(2)) == JUDGE_SCALE[1]):
            return float(match.group(1))
    return None


def parse_judge_reply(metric: str, reply: str) -> JudgedScore:
    """Read ``{"score": 1-5, "reason": ...}`` from a judge's reply, tolerating noise.

    Accepted: the object inside a code fence or surrounded by other text; the score as
    a number or a string (``"4"``, ``"4/5"``); non-integer scores within 1-5. If no JSON
    object has a score, ``score: N`` in plain text is used (with a ``note``). Invalid,
    with the reason in ``error``: no score found, a score that is not a number, or a
    score outside 1-5 (not clamped: it usually means the judge used another scale).
    """
    lo, hi = JUDGE_SCALE

    def invalid(error: str, raw: float | None = None, reason: str = "") -> JudgedScore:
        return JudgedScore(metric, None, raw, reason, False, error=error, reply=reply)

    text = reply or ""
    obj = next((o for o in _json_objects(text) if "score" in o), None)
    note = None
    reason = ""
    if obj is not None:
        reason = obj.get("reason")
        reason = reason.strip() if isinstance(reason, str) else ""
        number = _to_number(obj["score"])
        if number is None:
            return invalid(f"score is not a number: {json.dumps(obj['score'])}", reason=reason)
    else:
        match = _SCORE_IN_TEXT.search(text)
        if match is None:
            return invalid("no score in the reply" if text.strip() else "empty reply")
        if match.group(2) is not None and int(match.group(2)) != hi:
            return invalid(f"score given out of {match.group(2)}, expected 1-{hi}")
        number = float(match.group(1))
        note = "no JSON object; score read from the text"
        reason = text.strip()
    if not math.isfinite(number):
        return invalid("score is not a finite number", reason=reason)
    if not lo <= number <= hi:
        return invalid(f"score {number:g} outside {lo}-{hi}", raw=number, reason=reason)
    return JudgedScore(
        metric,
        (number - lo) / (hi - lo),
        number,
        reason,
        True,
        note=note,
        reply=reply,
    )


def _context_text(context: str | Hit | Chunk) -> str:
    if isinstance(context, Hit):
        return context.chunk.text
    if isinstance(context, Chunk):
        return context.text
    return str(context)


def format_contexts(
    contexts: Sequence[str | Hit | Chunk], max_chars_per_context: int | None = 4000
) -> str:
    """Numbered passages ``[1] ...`` for the judge prompts; ``(no passages)`` if none."""
    if not contexts:
        return "(no passages)"
    parts = []
    for i, context in enumerate(contexts, start=1):
        text = _context_text(context).strip()
        if max_chars_per_context is not None and len(text) > max_chars_per_context:
            text = text[:max_chars_per_context].rstrip() + " [...]"
        parts.append(f"[{i}] {text}")
    return "\n\n".join(parts)


def judge(
    generate_fn: Callable[[str, str], str],
    question: str,
    contexts: Sequence[str | Hit | Chunk],
    answer: str | None,
    metrics: Sequence[str] = JUDGE_METRICS,
    *,
    max_chars_per_context: int | None = 4000,
) -> dict[str, JudgedScore]:
    """Ask an LLM to rate the RAG triad for one question; one call per metric.

    ``generate_fn(system, user)`` returns the model's text (any backend). ``contexts``
    are passage strings, Hits or Chunks. With ``answer=None`` only the metrics that need
    no answer (context_relevance) are judged. Exceptions from ``generate_fn`` propagate:
    a failing backend should stop an evaluation, not turn into silent zeros.
    """
    unknown = [m for m in metrics if m not in judge_prompts]
    if unknown:
        raise UsageError(f"unknown judge metric {unknown[0]!r} (known: {', '.join(JUDGE_METRICS)})")
    values = {
        "question": question.strip(),
        "contexts": format_contexts(contexts, max_chars_per_context),
        "answer": (answer or "").strip() or "(empty answer)",
    }
    results: dict[str, JudgedScore] = {}
    for metric in metrics:
        if answer is None and metric in _NEEDS_ANSWER:
            continue
        user = judge_prompts[metric].format(**values)
        reply = generate_fn(JUDGE_SYSTEM, user)
        results[metric] = parse_judge_reply(metric, reply if isinstance(reply, str) else "")
    return results


def mean_judged(results: Iterable[Mapping[str, JudgedScore]]) -> dict[str, dict[str, Any]]:
    """Per metric: ``{"mean": 0-1 over valid scores or None, "n_valid", "n_invalid"}``."""
    summary: dict[str, dict[str, Any]] = {}
    for result in results:
        for metric, judged in result.items():
            entry = summary.setdefault(metric, {"total": 0.0, "n_valid": 0, "n_invalid": 0})
            if judged.valid and judged.score is not None:
                entry["total"] += judged.score
                entry["n_valid"] += 1
            else:
                entry["n_invalid"] += 1
    return {
        metric: {
            "mean": entry["total"] / entry["n_valid"] if entry["n_valid"] else None,
            "n_valid": entry["n_valid"],
            "n_invalid": entry["n_invalid"],
        }
        for metric, entry in summary.items()
    }
