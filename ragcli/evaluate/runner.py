"""The ``rag eval`` runner: a question set against an index, over a grid of settings.

    from ragcli.evaluate import EvalOptions, run_eval
    report = run_eval(beir="data/scifact/beir", options=EvalOptions(
        sweep={"mode": ["sparse", "dense", "hybrid"]}))
    print(report["best"], report["rows"][report["best"]]["mean"]["ndcg@10"])

Two inputs (see :mod:`ragcli.evaluate.datasets`):

* a BEIR folder (``beir=``): its ``corpus.jsonl`` is ingested into an eval index of its
  own (:mod:`ragcli.evaluate.indexes`), reused while the corpus and the ingest settings
  are unchanged. A ``chunk_size`` sweep gets one index per value.
* a JSONL question set (``questions=``) against an existing index (the located
  ``.rag`` index unless ``index=`` is given). Its relevant ids may be document ids or
  source paths: a hit matches on either ``chunk.doc_id`` or ``chunk.source``. Any other
  id is read as a file path, resolved against the question file's folder, then the
  ingested folders, then the one indexed file whose path ends with it
  (``Target.source_of``), and replaced by that file's source. Questions may carry a
  ``kind``: each row is also scored per kind (``by_kind``).

Retrieval is scored per document (:func:`ragcli.evaluate.metrics.score_retrieval`): each
search fetches ``k * chunk_factor`` chunks (``chunk_factor`` = the index's chunks per
document, rounded up, between 2 and 5), which :func:`ragcli.evaluate.metrics.doc_ranking`
folds into a ranking of documents cut at ``k`` (default: 100, or the largest metric
cutoff if higher). Every combination of the swept options
(:func:`ragcli.evaluate.sweep.expand_grid`) is one row of the report; the best row is
the one with the highest ``sort_by`` mean. Query vectors are embedded once, in batches,
and reused by every row.

With ``answers=True`` each question with gold answers gets an answer from its top
``answer_k`` chunks, scored with SQuAD EM/F1 (:func:`ragcli.evaluate.metrics.score_answer`):
the extractive short-answer baseline by default, or an LLM backend (``llm=``), asked the
way ``rag ask`` asks it (the prompt template and the index's answer cache apply), which
also has the RAG triad judged by the same model (:func:`ragcli.evaluate.metrics.judge`).

The report (:func:`run_eval`) is a plain JSON-ready dict::

    {"collection": {kind, name, path, split, n_docs, n_questions, n_judged, n_answers},
     "indexes": [{path, chunk_size, reused, added, documents, chunks, seconds, ...}],
     "metrics": [...], "answer_metrics": [...], "sort_by": "ndcg@10",
     "sweep": {option: [values]}, "varied": [options with > 1 value],
     "rows": [{"settings": {chunk_size, mode, k, pool_factor, fusion, alpha, rerank},
               "fetch_chunks": int, "reranked": bool, "mean": {metric: value}, "n_queries": int,
               "by_kind": {kind: {"n_queries": int, "mean": {metric: value or None}}},
               "empty": [qids], "per_query": {qid: {metric: value, "top": [doc ids],
               "answer": str, "em"/"f1"/"contains"/judged metrics}},
               "same_as": row number or None, "timings": {search_s, answer_s, ...},
               "best": bool}],
     "best": row number, "kinds": [question kinds, first seen first; [] if none],
     "questions": {qid: {question, relevant, answers, kind}},
     "skipped": {reason: count}, "problems": [{file, line, message}],
     "timings": {load_s, index_s, encode_queries_s, rows_s, total_s},
     "query_vectors": {embedded, reused, one_by_one} or None}
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli.config import Settings
from ragcli.errors import UsageError
from ragcli.evaluate.datasets import (
    BeirCollection,
    Problem,
    Question,
    QuestionSet,
    read_beir,
    read_questions,
)
from ragcli.evaluate.indexes import (
    QueryVectorCache,
    Target,
    beir_targets,
    collection_name,
    located_target,
)
from ragcli.evaluate.metrics import (
    DEFAULT_METRICS,
    JUDGE_METRICS,
    doc_ranking,
    judge,
    mean_judged,
    parse_metric,
    parse_metrics,
    score_answer,
    score_retrieval,
)
from ragcli.evaluate.sweep import SWEEP_KEYS, best_row, expand_grid, ordered_sweep
from ragcli.types import SearchParams

DEFAULT_K = 100
TOP_KEPT = 10  # retrieved doc ids kept per query in the report
ANSWER_METRICS: tuple[str, ...] = ("em", "f1", "contains")
#: The swept options that are search parameters (chunk_size is an ingest setting).
SEARCH_KEYS: tuple[str, ...] = tuple(key for key in SWEEP_KEYS if key != "chunk_size")

#: ``progress(done, total)`` after each question of each row.
Progress = Callable[[int, int], None]
EvalSet = QuestionSet | BeirCollection


# --------------------------------------------------------------------------------------
# options


@dataclass
class EvalOptions:
    """What to measure. ``sweep`` maps option names (:data:`SWEEP_KEYS`) to value lists;
    options not swept take the index settings' value (``k``: see :func:`default_k`)."""

    metrics: Sequence[str] = DEFAULT_METRICS
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    sort_by: str | None = None  # default: ndcg@10 if measured, else the first metric
    answers: bool = False
    llm: str | None = None  # backend name for answers + judged triad; None = extractive
    answer_k: int = 5  # chunks the answerer sees
    limit: int | None = None  # evaluate only the first N questions
    cache_query_vectors: bool = True


def default_k(metrics: Sequence[str]) -> int:
    """Documents retrieved per question when ``k`` is not given: 100 or the largest cutoff."""
    cutoffs = [spec.k for spec in parse_metrics(list(metrics)) if spec.k is not None]
    return max([DEFAULT_K, *cutoffs])


def check_sources(
    questions: str | Path | None,
    beir: str | Path | None,
    *,
    index: Any = None,
    name: str | None = None,
    store: str | None = None,
) -> None:
    """Exactly one of a question file and a BEIR folder; a BEIR folder brings its own index."""
    if questions is None and beir is None:
        raise UsageError("give a JSONL question file or --beir FOLDER")
    if questions is not None and beir is not None:
        raise UsageError("give either a question file or --beir, not both")
    if beir is not None and (index or name or store):
        raise UsageError(
            "--beir builds its own index; --index/--name/--store are for question files"
        )


def _check_options(options: EvalOptions) -> None:
    if options.llm and not options.answers:
        options.answers = True
    if options.answer_k < 1:
        raise UsageError(f"answer k must be at least 1, got {options.answer_k}")
    if options.limit is not None and options.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {options.limit}")


# --------------------------------------------------------------------------------------
# question sets against a user index


def _question_lines(path: Path) -> dict[str, int]:
    """``{question id: line}`` of a JSONL question file already validated by read_questions."""
    lines: dict[str, int] = {}
    with path.open("r", encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            raw = json.loads(line).get("id")
            lines[str(lineno) if raw is None else str(raw).strip()] = lineno
    return lines


def _check_relevant_ids(
    qset: QuestionSet, target: Target, skipped: dict[str, int], problems: list[Problem]
) -> None:
    """Name each relevant id the way the index does (see ``Target.source_of``): a document
    id or source as it is; a path (relative to the question file's folder, to an ingested
    folder, or the ending of one indexed file's path) as the source of that file. Ids
    that name nothing indexed are dropped and reported."""
    lines = _question_lines(qset.path)
    question_dir = qset.path.resolve().parent
    had_relevance = qset.has_relevance
    for question in qset.questions:
        resolved: dict[str, int] = {}
        for doc, grade in question.relevant.items():
            source = target.source_of(doc, question_dir)
            if source is not None:
                resolved[source] = max(grade, resolved.get(source, 0))
                continue
            skipped["unknown_doc_ids"] = skipped.get("unknown_doc_ids", 0) + 1
            problems.append(
                Problem(
                    str(qset.path),
                    lines.get(question.id, 0),
                    f"relevant id {doc!r} of question {question.id!r} is not a document id "
                    "or source in the index, nor the path of an indexed file relative to "
                    f"{question_dir} or to an ingested folder",
                )
            )
        question.relevant = resolved
    if had_relevance and not qset.has_relevance:
        example = next(iter(sorted(target.sources or target.doc_ids)), None)
        hint = f" (the index has ids like {example!r})" if example else " (the index is empty)"
        raise UsageError(
            f"{problems[0]}; no relevant id of any question is in the index "
            f"{target.index.location}{hint}"
        )


# --------------------------------------------------------------------------------------
# answers


def extractive_answer(question: str, hits: Sequence[Any]) -> str:
    """The extractive baseline's short answer from the top chunks (one sentence).

    Not the extractive backend of ``rag ask``, which quotes several sentences with their
    citation markers: EM/F1 need a short answer."""
    from ragcli.generate.extractive import extract_answer

    return extract_answer(question, list(hits))


class _LLM:
    """An LLM backend as an answerer and as a judge's ``generate_fn(system, user)``.

    Answers go through ``rag ask``'s generation path (:func:`ragcli.answer.answer_from_hits`)
    on the index the row runs against (``index``, set by the runner), so the prompt
    template and that index's answer cache apply. Judge prompts are sent as they are."""

    def __init__(self, name: str, settings: Settings):
        from ragcli.generate import make_backend

        self.backend = make_backend(settings, name)
        self.settings = settings
        self._index: Any = None
        self._template: str | None = None
        self._cache: Any = None

    @property
    def index(self) -> Any:
        return self._index

    @index.setter
    def index(self, index: Any) -> None:
        from ragcli.answer import llm_cache, resolve_template

        self._index = index
        self._template = resolve_template(self.settings, getattr(index, "base_dir", None))
        self._cache = llm_cache(index)

    def answer(self, question: str, hits: Sequence[Any]) -> str:
        from ragcli.answer import answer_from_hits, make_prompt, run_prompt

        if not hits:  # answer_from_hits refuses an empty context; the model still answers
            prompt = make_prompt(question, [], self.settings, template=self._template)
            return run_prompt(self.backend, prompt, self._cache).text
        result = answer_from_hits(
            self._index,
            question,
            list(hits),
            self.settings,
            backend=self.backend,
            cache=self._cache,
            template=self._template,
        )
        return result.text

    def generate(self, system: str, user: str) -> str:
        from ragcli.prompt import Prompt

        return self.backend.generate(Prompt(question="", system=system, user=user, sources=[])).text


def _answerer(options: EvalOptions, settings: Settings) -> _LLM | None:
    """The LLM that answers and judges, or None for extractive answers."""
    if options.answers and options.llm and options.llm.strip().lower() != "extractive":
        return _LLM(options.llm, settings)
    return None


# --------------------------------------------------------------------------------------
# rows


class _Counter:
    """Questions done over all rows, reported to ``progress(done, total)``."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress = progress
        self.total = total
        self.done = 0

    def add(self, n: int = 1) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total)


@dataclass
class RowContext:
    """What every row of a run shares: the judgments, the metrics and the answerer."""

    qrels: dict[str, dict[str, int]]
    metrics: list[str]
    options: EvalOptions
    llm: _LLM | None = None
    match_sources: bool = False  # relevant ids may be source paths (question sets)
    counter: _Counter | None = None


def _resolve(setting: dict[str, Any], settings: Settings, k_default: int) -> dict[str, Any]:
    """A grid point with every option filled in: the setting's value unless swept."""
    defaults = dataclasses.replace(settings.search_params(), k=k_default)
    return {
        "chunk_size": setting.get("chunk_size", settings.chunk_size),
        **{key: setting.get(key, getattr(defaults, key)) for key in SEARCH_KEYS},
    }


def _effective_key(resolved: dict[str, Any]) -> tuple:
    """Settings that give the same results share a key (alpha/fusion only matter in hybrid)."""
    hybrid = resolved["mode"] == "hybrid"
    return (
        resolved["chunk_size"],
        resolved["mode"],
        resolved["k"],
        resolved["pool_factor"],
        resolved["fusion"] if hybrid else None,
        resolved["alpha"] if hybrid else None,  # rrf weights the sides by alpha too
        resolved["rerank"],
    )


def _doc_run(question: Question, hits: Sequence[Any], k: int, match_sources: bool) -> list[str]:
    """The question's document ranking, cut at k; ids matched to its relevant ids."""
    if not match_sources:
        return [doc for doc, _ in doc_ranking(hits)][:k]
    ranked: list[str] = []
    seen: set[str] = set()
    for hit in sorted(hits, key=lambda h: h.rank):
        key = hit.chunk.doc_id
        if key not in question.relevant and hit.chunk.source in question.relevant:
            key = hit.chunk.source
        if key not in seen:
            seen.add(key)
            ranked.append(key)
            if len(ranked) >= k:
                break
    return ranked


@dataclass
class _RowTally:
    """What a row collects while its questions run."""

    run: dict[str, list[str]] = field(default_factory=dict)
    per_query: dict[str, dict[str, Any]] = field(default_factory=dict)
    answer_scores: list[dict[str, float]] = field(default_factory=list)
    judged: list[dict[str, Any]] = field(default_factory=list)
    reranked: bool = False
    search_s: float = 0.0
    answer_s: float = 0.0
    judge_s: float = 0.0


def _answer_question(
    question: Question, hits: list[Any], context: RowContext, tally: _RowTally
) -> dict[str, Any]:
    """Answer from the top chunks and score it (and, with an LLM, judge it)."""
    top = hits[: context.options.answer_k]
    llm = context.llm
    tick = time.perf_counter()
    answer = llm.answer(question.text, top) if llm else extractive_answer(question.text, top)
    tally.answer_s += time.perf_counter() - tick
    scores = score_answer(answer, question.answers)
    tally.answer_scores.append(scores)
    entry: dict[str, Any] = {"answer": answer, **scores}
    if llm is not None:
        tick = time.perf_counter()
        result = judge(llm.generate, question.text, top, answer)
        tally.judge_s += time.perf_counter() - tick
        tally.judged.append(result)
        entry["judged"] = {m: j.to_dict() for m, j in result.items()}
        entry.update({m: j.score for m, j in result.items()})
    return entry


def _run_question(
    index: Any,
    question: Question,
    params: SearchParams,
    k: int,
    context: RowContext,
    tally: _RowTally,
) -> None:
    tick = time.perf_counter()
    hits = index.search(question.text, params=params)
    tally.search_s += time.perf_counter() - tick
    tally.reranked = tally.reranked or any(hit.rerank is not None for hit in hits)
    ranked = _doc_run(question, hits, k, context.match_sources)
    entry: dict[str, Any] = {"top": ranked[:TOP_KEPT]}
    if question.relevant:
        tally.run[question.id] = ranked
    if context.options.answers and question.answers:
        entry.update(_answer_question(question, hits, context, tally))
    tally.per_query[question.id] = entry


def _row_means(context: RowContext, tally: _RowTally) -> tuple[dict[str, float | None], list]:
    """The row's mean of every metric, and its judged queries with nothing retrieved."""
    mean: dict[str, float | None] = {}
    empty: list[str] = []
    if context.metrics and context.qrels:
        scores = score_retrieval(tally.run, context.qrels, context.metrics)
        mean.update(scores.mean)
        empty = scores.empty
        for qid, values in scores.per_query.items():
            tally.per_query.setdefault(qid, {}).update(values)
    if tally.answer_scores:
        for name in ANSWER_METRICS:
            mean[name] = sum(s[name] for s in tally.answer_scores) / len(tally.answer_scores)
    if tally.judged:
        for metric, summary in mean_judged(tally.judged).items():
            mean[metric] = summary["mean"]
    return mean, empty


NO_KIND = "(no kind)"


def question_kinds(questions: Sequence[Question]) -> list[str]:
    """The kinds of the questions, in order of first appearance; [] when none has one
    (questions without a kind are grouped under :data:`NO_KIND` when others have one)."""
    kinds = [q.kind or NO_KIND for q in questions]
    return list(dict.fromkeys(kinds)) if any(q.kind for q in questions) else []


def kind_means(
    questions: Sequence[Question], per_query: dict[str, dict[str, Any]], metrics: list[str]
) -> dict[str, dict[str, Any]]:
    """``{kind: {"n_queries": scored questions, "mean": {metric: value or None}}}``: each
    metric's mean over the questions of that kind it was measured on; {} without kinds."""
    out: dict[str, dict[str, Any]] = {}
    for kind in question_kinds(questions):
        values = [per_query.get(q.id, {}) for q in questions if (q.kind or NO_KIND) == kind]
        mean: dict[str, float | None] = {}
        for metric in metrics:
            scored = [v[metric] for v in values if isinstance(v.get(metric), (int, float))]
            mean[metric] = sum(scored) / len(scored) if scored else None
        scored_any = [v for v in values if any(m in v for m in metrics)]
        out[kind] = {"n_queries": len(scored_any), "mean": mean}
    return out


def run_row(
    target: Target, questions: list[Question], resolved: dict[str, Any], context: RowContext
) -> dict[str, Any]:
    """One row of the report: every question searched with the ``resolved`` settings."""
    index = target.index
    fetch = resolved["k"] * target.chunk_factor
    searched = {key: resolved[key] for key in SEARCH_KEYS} | {"k": fetch}
    params = dataclasses.replace(index.settings.search_params(), **searched)
    if context.llm is not None:
        context.llm.index = index
    tally = _RowTally()
    for question in questions:
        _run_question(index, question, params, resolved["k"], context, tally)
        if context.counter:
            context.counter.add()
    mean, empty = _row_means(context, tally)
    n = len(questions)
    return {
        "settings": resolved,
        "fetch_chunks": fetch,
        "reranked": tally.reranked,  # False with rerank on: the cross-encoder was unavailable
        "mean": mean,
        "by_kind": kind_means(questions, tally.per_query, list(mean)),
        "n_queries": len(tally.run),
        "n_answered": len(tally.answer_scores),
        "empty": empty,
        "per_query": tally.per_query,
        "same_as": None,
        "timings": {
            "search_s": round(tally.search_s, 3),
            "ms_per_query": round(1000 * tally.search_s / n, 2) if n else None,
            "answer_s": round(tally.answer_s, 3),
            "judge_s": round(tally.judge_s, 3),
        },
        "best": False,
    }


# --------------------------------------------------------------------------------------
# the run


@dataclass
class _Run:
    """One evaluation as it is prepared: the questions, the indexes, what is measured."""

    qset: EvalSet
    options: EvalOptions
    sweep: dict[str, list[Any]]
    skipped: dict[str, int]
    problems: list[Problem]
    targets: dict[int | None, Target] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    match_sources: bool = False
    metrics: list[str] = field(default_factory=list)
    answer_metrics: list[str] = field(default_factory=list)
    llm: _LLM | None = None
    sort_by: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def judged(self) -> list[Question]:
        return [q for q in self.qset.questions if q.relevant]

    @property
    def with_answers(self) -> list[Question]:
        return [q for q in self.qset.questions if q.answers]

    def runnable(self) -> list[Question]:
        """The questions each row runs: the judged ones, plus those with answers."""
        if not self.options.answers:
            return self.judged
        return _union(self.judged, self.with_answers)

    def target(self, resolved: dict[str, Any]) -> Target:
        beir = isinstance(self.qset, BeirCollection)
        return self.targets[resolved["chunk_size"] if beir else None]


def _union(a: list[Question], b: list[Question]) -> list[Question]:
    ids = {q.id for q in a} | {q.id for q in b}
    seen: list[Question] = []
    for q in [*a, *b]:
        if q.id in ids:
            ids.discard(q.id)
            seen.append(q)
    return seen


def _where(qset: EvalSet) -> str:
    return str(qset.path) if isinstance(qset, QuestionSet) else str(qset.folder)


def _sort_metric(asked: str | None, metrics: list[str], answer_metrics: list[str]) -> str:
    known = metrics + answer_metrics
    if asked:
        name = asked.strip().lower()
        if name not in known:
            with contextlib.suppress(UsageError):
                name = parse_metric(name).name
        if name not in known:
            raise UsageError(f"--sort-by {asked!r} is not a measured metric ({', '.join(known)})")
        return name
    if "ndcg@10" in metrics:
        return "ndcg@10"
    if metrics:
        return metrics[0]
    return "f1"


def _load_questions(
    questions: str | Path | None,
    beir: str | Path | None,
    split: str,
    options: EvalOptions,
    sweep: dict[str, list[Any]],
) -> _Run:
    if beir is not None:
        qset: EvalSet = read_beir(Path(beir), split)
    else:
        qset = read_questions(Path(questions))  # type: ignore[arg-type]
    run = _Run(qset, options, sweep, dict(qset.skipped), list(qset.problems))
    if options.limit is not None and options.limit < len(qset.questions):
        run.skipped["beyond_limit"] = len(qset.questions) - options.limit
        qset.questions = qset.questions[: options.limit]
    return run


def _open_targets(
    run: _Run,
    overrides: dict[str, Any],
    cwd: Path,
    where: dict[str, Any],
    ingest_progress: Any,
    warn: Callable[[str], None],
) -> None:
    if isinstance(run.qset, BeirCollection):
        run.targets, run.settings = beir_targets(
            run.qset, run.sweep, overrides, cwd, ingest_progress
        )
    else:
        run.targets, run.settings = located_target(run.sweep, overrides, cwd, where)
        run.match_sources = True
    for target in run.targets.values():
        target.scan()
        target.index.warn = warn


def _choose_measures(run: _Run, metric_names: list[str]) -> None:
    """What the rows measure, given which questions have judgments and gold answers."""
    options = run.options
    if options.answers and not run.with_answers:
        raise UsageError(
            f"{_where(run.qset)}: no question has gold answers ('answers'), needed for --answers"
        )
    if not run.judged and not options.answers:
        raise UsageError(
            f"{_where(run.qset)}: no question has relevance judgments ('relevant'); "
            "add them or use --answers"
        )
    run.metrics = metric_names if run.judged else []
    if options.answers:
        run.answer_metrics = list(ANSWER_METRICS)
        run.llm = _answerer(options, run.settings)
        if run.llm is not None:
            run.answer_metrics += list(JUDGE_METRICS)
    run.sort_by = _sort_metric(options.sort_by, run.metrics, run.answer_metrics)


def _grid(
    run: _Run, points: list[dict[str, Any]], cutoff: int, warn: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Every combination, resolved and checked before any search runs."""
    from ragcli.retrieve import validate

    k_default = default_k(run.metrics or ["ndcg@10"])
    rows = [_resolve(setting, run.settings, k_default) for setting in points]
    for resolved in rows:
        validate(resolved["mode"], resolved["fusion"], resolved["alpha"])
        if run.metrics and resolved["k"] < cutoff:
            warn(
                f"k={resolved['k']} is below the largest metric cutoff ({cutoff}): "
                "those metrics see only the top k documents"
            )
    return rows


def _share_query_vectors(run: _Run, grid: list[dict[str, Any]]) -> QueryVectorCache | None:
    """One query-vector cache for every index, primed in one batch when a row is dense."""
    if not run.options.cache_query_vectors:
        return None
    first = next(iter(run.targets.values())).index
    cache = QueryVectorCache(first.query_encoder)
    for target in run.targets.values():
        target.index.query_encoder = cache
    if any(r["mode"] in ("dense", "hybrid") for r in grid):
        cache.prime([q.text for q in run.qset.questions])
    return cache


def _run_rows(
    run: _Run, grid: list[dict[str, Any]], progress: Progress | None
) -> list[dict[str, Any]]:
    """A row per grid point; a point that gives the same results as an earlier one
    copies that row (``same_as``) instead of searching again."""
    questions = run.runnable()
    counter = _Counter(progress, len(grid) * len(questions))
    context = RowContext(
        qrels={q.id: dict(q.relevant) for q in run.judged},
        metrics=run.metrics,
        options=run.options,
        llm=run.llm,
        match_sources=run.match_sources,
        counter=counter,
    )
    rows: list[dict[str, Any]] = []
    done_keys: dict[tuple, int] = {}
    for number, resolved in enumerate(grid):
        key = _effective_key(resolved)
        if key in done_keys:
            same = rows[done_keys[key]]
            rows.append({**same, "settings": resolved, "same_as": done_keys[key], "best": False})
            counter.add(len(questions))
            continue
        done_keys[key] = number
        rows.append(run_row(run.target(resolved), questions, resolved, context))
    return rows


def _mark_best(rows: list[dict[str, Any]], sort_by: str) -> int | None:
    if not rows:
        return None
    scored = [dict(row["mean"], _n=n) for n, row in enumerate(rows)]
    best = best_row(scored, sort_by)["_n"]
    rows[best]["best"] = True
    return best


def _collection_info(run: _Run) -> dict[str, Any]:
    qset = run.qset
    info: dict[str, Any] = {
        "n_questions": len(qset.questions),
        "n_judged": len(run.judged),
        "n_with_answers": len(run.with_answers),
    }
    if isinstance(qset, BeirCollection):
        info.update(
            kind="beir",
            name=collection_name(qset.folder),
            path=str(qset.folder),
            split=qset.split,
            n_docs=qset.n_docs,
            n_queries_in_file=qset.n_queries,
            n_relevant_pairs=qset.n_relevant_pairs,
        )
    else:
        info.update(kind="questions", name=qset.path.stem, path=str(qset.path), split=None)
    return info


def _report(
    run: _Run, rows: list[dict[str, Any]], best: int | None, cache: QueryVectorCache | None
) -> dict[str, Any]:
    answerer = None
    if run.options.answers:
        answerer = run.llm.backend.describe() if run.llm else "extractive"
    return {
        "collection": _collection_info(run),
        "indexes": [target.info() for target in run.targets.values()],
        "metrics": run.metrics,
        "answer_metrics": run.answer_metrics,
        "answerer": answerer,
        "sort_by": run.sort_by,
        "sweep": run.sweep,
        "varied": [key for key, values in run.sweep.items() if len(values) > 1],
        "rows": rows,
        "best": best,
        "kinds": question_kinds(run.runnable()),
        "questions": {q.id: q.to_dict() for q in run.qset.questions},
        "skipped": run.skipped,
        "problems": [p.to_dict() for p in run.problems],
        "timings": {key: round(value, 3) for key, value in run.timings.items()},
        "query_vectors": cache.describe() if cache else None,
    }


def run_eval(
    questions: str | Path | None = None,
    *,
    beir: str | Path | None = None,
    split: str = "test",
    index: str | os.PathLike | None = None,
    name: str | None = None,
    store: str | None = None,
    options: EvalOptions | None = None,
    settings_overrides: dict[str, Any] | None = None,
    cwd: Path | None = None,
    progress: Progress | None = None,
    ingest_progress: Any = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate and return the report, a JSON-ready dict (its shape: the module docstring).

    ``questions`` is a JSONL file evaluated against the index named by
    ``index``/``name``/``store`` (located like ``rag search`` does); ``beir`` a BEIR
    folder with its own eval index.
    ``settings_overrides`` (embed_model, chunk_size, chunk_overlap, ...) apply to the
    settings of the run. Errors: UsageError for bad input, RagError otherwise.
    """
    options = options or EvalOptions()
    warn = warn or (lambda message: None)
    started = time.perf_counter()
    check_sources(questions, beir)
    _check_options(options)
    specs = parse_metrics(list(options.metrics))
    sweep = ordered_sweep(options.sweep)
    points = expand_grid(sweep)
    cwd = (cwd or Path.cwd()).resolve()
    overrides = {k: v for k, v in (settings_overrides or {}).items() if v is not None}

    tick = time.perf_counter()
    run = _load_questions(questions, beir, split, options, sweep)
    run.timings["load_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    where = {"index": index, "name": name, "store": store}
    _open_targets(run, overrides, cwd, where, ingest_progress, warn)
    run.timings["index_s"] = time.perf_counter() - tick
    if isinstance(run.qset, QuestionSet):
        _check_relevant_ids(run.qset, run.targets[None], run.skipped, run.problems)
    _choose_measures(run, [spec.name for spec in specs])
    cutoff = max((s.k for s in specs if s.k is not None), default=0)
    grid = _grid(run, points, cutoff, warn)

    tick = time.perf_counter()
    cache = _share_query_vectors(run, grid)
    run.timings["encode_queries_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    rows = _run_rows(run, grid, progress)
    run.timings["rows_s"] = time.perf_counter() - tick
    best = _mark_best(rows, run.sort_by)
    run.timings["total_s"] = time.perf_counter() - started
    return _report(run, rows, best, cache)
