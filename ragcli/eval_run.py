"""The ``rag eval`` runner: a question set against an index, over a grid of settings.

    from ragcli.eval_run import EvalOptions, run_eval
    report = run_eval(beir="data/scifact/beir", options=EvalOptions(
        sweep={"mode": ["sparse", "dense", "hybrid"]}))
    print(report["best"], report["rows"][report["best"]]["mean"]["ndcg@10"])

Two inputs (see :mod:`ragcli.qsets`):

* a BEIR folder (``beir=``): its ``corpus.jsonl`` is ingested into an index of its own,
  ``<eval root>/<collection>-<hash>/``, where the eval root is ``.rag/eval/`` of the
  project found from the working directory, else ``$XDG_CACHE_HOME/ragcli/eval/``, and
  the hash covers the corpus path, size and mtime and the ingest settings (model, chunk
  size and overlap, BM25 parameters). Re-running reuses it: an unchanged corpus is a
  no-op for the incremental ingest. A ``chunk_size`` sweep gets one index per value.
* a JSONL question set (``questions=``) against an existing index (the located
  ``.rag`` index unless ``index=`` is given). Its relevant ids may be document ids or
  source paths: a hit matches on either ``chunk.doc_id`` or ``chunk.source``.

Retrieval is scored per document (:func:`ragcli.evaluate.score_retrieval`): each search
fetches ``k * chunk_factor`` chunks (``chunk_factor`` = the index's chunks per document,
rounded up, between 2 and 5), which :func:`ragcli.evaluate.doc_ranking` folds into a
ranking of documents cut at ``k`` (default: 100, or the largest metric cutoff if
higher). Every combination of the swept options (:func:`ragcli.evaluate.expand_grid`)
is one row of the report; the best row is the one with the highest ``sort_by`` mean.
Query vectors are embedded once, in batches, and reused by every row.

With ``answers=True`` each question with gold answers gets an answer from its top
``answer_k`` chunks, scored with SQuAD EM/F1 (:func:`ragcli.evaluate.score_answer`):
the extractive baseline by default, or an LLM backend (``llm=``), which also has the
RAG triad judged by the same model (:func:`ragcli.evaluate.judge`).

The report is a plain JSON-ready dict (shape in :func:`run_eval`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli import evaluate
from ragcli.config import Settings, load_settings
from ragcli.errors import RagError, UsageError
from ragcli.qsets import BeirCollection, Problem, Question, QuestionSet, read_beir, read_questions

#: Options that can be swept, in the order the grid varies them (last fastest).
SWEEP_KEYS: tuple[str, ...] = (
    "chunk_size",
    "mode",
    "k",
    "pool_factor",
    "fusion",
    "alpha",
    "rerank",
)
DEFAULT_K = 100
MIN_CHUNK_FACTOR = 2
MAX_CHUNK_FACTOR = 5
TOP_KEPT = 10  # retrieved doc ids kept per query in the report

#: ``progress(done, total)`` after each question of each row.
Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------------------
# options


@dataclass
class EvalOptions:
    """What to measure. ``sweep`` maps option names (:data:`SWEEP_KEYS`) to value lists;
    options not swept take the index settings' value (``k``: see :func:`default_k`)."""

    metrics: Sequence[str] = evaluate.DEFAULT_METRICS
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    sort_by: str | None = None  # default: ndcg@10 if measured, else the first metric
    answers: bool = False
    llm: str | None = None  # backend name for answers + judged triad; None = extractive
    answer_k: int = 5  # chunks the answerer sees
    limit: int | None = None  # evaluate only the first N questions
    cache_query_vectors: bool = True


_BOOL_WORDS = {
    "on": True,
    "true": True,
    "yes": True,
    "1": True,
    "off": False,
    "false": False,
    "no": False,
    "0": False,
}


def parse_values(option: str, text: str) -> list[Any]:
    """A comma list for one sweep option, typed: ``parse_values("alpha", "0,0.5")``."""
    if option not in SWEEP_KEYS:
        raise UsageError(f"cannot sweep {option!r} (can sweep: {', '.join(SWEEP_KEYS)})")
    flag = "--" + option.replace("_", "-")
    parts = [part.strip() for part in str(text).split(",")]
    if not any(parts):
        raise UsageError(f"{flag}: no values")
    values: list[Any] = []
    for part in parts:
        if not part:
            raise UsageError(f"{flag}: empty value in {text!r}")
        try:
            if option == "alpha":
                value: Any = float(part)
                if not 0.0 <= value <= 1.0:
                    raise UsageError(f"{flag}: alpha must be between 0 and 1, got {part}")
            elif option in ("k", "pool_factor", "chunk_size"):
                value = int(part)
                if value < 1:
                    raise UsageError(f"{flag}: must be a positive integer, got {part}")
            elif option == "rerank":
                if part.lower() not in _BOOL_WORDS:
                    raise UsageError(f"{flag}: expected on or off, got {part!r}")
                value = _BOOL_WORDS[part.lower()]
            else:
                value = part.lower()
        except ValueError:
            kind = "a number" if option == "alpha" else "an integer"
            raise UsageError(f"{flag}: {part!r} is not {kind}") from None
        if value not in values:
            values.append(value)
    if option in ("mode", "fusion"):
        from ragcli import retrieve

        known = retrieve.MODES if option == "mode" else retrieve.FUSIONS
        for value in values:
            if value not in known:
                raise UsageError(
                    f"{flag}: unknown {option} {value!r} (choose from {', '.join(known)})"
                )
    return values


def default_k(metrics: Sequence[str]) -> int:
    """Documents retrieved per question when ``k`` is not given: 100 or the largest cutoff."""
    cutoffs = [spec.k for spec in evaluate.parse_metrics(list(metrics)) if spec.k is not None]
    return max([DEFAULT_K, *cutoffs])


# --------------------------------------------------------------------------------------
# eval indexes for BEIR corpora


def eval_root(cwd: Path | None = None) -> Path:
    """``.rag/eval`` of the project found from ``cwd``, else the user cache folder."""
    from ragcli.index import find_rag_dir

    rag_dir = find_rag_dir((cwd or Path.cwd()).resolve())
    if rag_dir is not None:
        return rag_dir / "eval"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ragcli" / "eval"


def collection_name(folder: Path) -> str:
    """``scifact`` for ``.../scifact/beir``, else the folder's own name."""
    folder = folder.resolve()
    name = (
        folder.parent.name if folder.name.lower() == "beir" and folder.parent.name else folder.name
    )
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-.")
    return cleaned or "collection"


def eval_index_dir(corpus_path: Path, settings: Settings, root: Path, name: str) -> Path:
    """``root/<name>-<hash>``: the hash covers the corpus file and the ingest settings."""
    from ragcli.ingest import expected_manifest

    corpus_path = corpus_path.resolve()
    stat = corpus_path.stat()
    key = json.dumps(
        {
            "corpus": str(corpus_path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "ingest": expected_manifest(settings),
        },
        sort_keys=True,
    )
    return root / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class QueryVectorCache:
    """Wraps an Encoder so each distinct query is embedded once (``prime`` in batches).

    The dense query vector does not depend on alpha, fusion, k or reranking, so a sweep
    embeds its questions once instead of once per row. Everything else is delegated.
    """

    def __init__(self, encoder: Any):
        self._inner = encoder
        self._vectors: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode_query(self, text: str) -> Any:
        vector = self._vectors.get(text)
        if vector is None:
            self.misses += 1
            vector = self._inner.encode_query(text)
            self._vectors[text] = vector
        else:
            self.hits += 1
        return vector

    def prime(self, texts: Sequence[str]) -> int:
        """Embed the texts not cached yet in one batched call; returns how many."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            vectors = self._inner.encode(missing)
            for text, vector in zip(missing, vectors, strict=True):
                self._vectors[text] = vector
        return len(missing)


@dataclass
class Target:
    """One index the questions run against (one per swept chunk size)."""

    index: Any  # ragcli.index.Index
    chunk_size: int | None
    built: dict[str, Any] | None = None  # ingest summary for eval indexes
    chunk_factor: int = MIN_CHUNK_FACTOR
    doc_ids: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)


def prepare_beir_index(
    collection: BeirCollection,
    settings: Settings,
    root: Path,
    progress: Any = None,
) -> Target:
    """The eval index of a BEIR corpus, built or brought up to date (usually a no-op)."""
    from ragcli.index import Index

    path = eval_index_dir(
        collection.corpus_path, settings, root, collection_name(collection.folder)
    )
    index = Index(path, settings=settings, base_dir=collection.corpus_path.parent.resolve())
    existed = index.exists()
    started = time.perf_counter()
    report = index.ingest([collection.corpus_path], progress=progress)
    seconds = time.perf_counter() - started
    corpus_name = collection.corpus_path.name
    for skip in report.skipped:
        raise UsageError(f"{collection.corpus_path}: cannot index {skip['path']}: {skip['reason']}")
    if report.documents == 0:
        raise UsageError(f"{collection.corpus_path}: no documents were indexed")
    built = {
        "path": str(path),
        "reused": existed and not (report.added or report.updated or report.removed),
        "added": list(report.added),
        "updated": list(report.updated),
        "unchanged": list(report.unchanged),
        "generation": report.generation,
        "documents": report.documents,
        "chunks": report.chunks,
        "seconds": round(seconds, 3),
        "corpus": corpus_name,
    }
    return Target(index=index, chunk_size=settings.chunk_size, built=built)


def _finish_target(target: Target) -> None:
    store = target.index.store
    for doc in store.documents():
        target.doc_ids.add(doc.doc_id)
        target.sources.add(doc.source)
    counts = store.counts()
    if counts["documents"]:
        ratio = math.ceil(counts["chunks"] / counts["documents"])
        target.chunk_factor = max(MIN_CHUNK_FACTOR, min(MAX_CHUNK_FACTOR, ratio))


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
    """Drop relevant ids that are neither a doc id nor a source of the index."""
    lines = _question_lines(qset.path)
    had_relevance = qset.has_relevance
    for question in qset.questions:
        unknown = [
            doc
            for doc in question.relevant
            if doc not in target.doc_ids and doc not in target.sources
        ]
        for doc in unknown:
            del question.relevant[doc]
            skipped["unknown_doc_ids"] = skipped.get("unknown_doc_ids", 0) + 1
            problems.append(
                Problem(
                    str(qset.path),
                    lines.get(question.id, 0),
                    f"relevant id {doc!r} of question {question.id!r} is not a document id "
                    "or source in the index",
                )
            )
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
    """The extractive baseline's short answer from the top chunks (one sentence)."""
    from ragcli.generate.extractive import extract_answer

    return extract_answer(question, list(hits))


class _LLM:
    """An LLM backend as an answerer and as a judge's ``generate_fn(system, user)``."""

    def __init__(self, name: str, settings: Settings):
        from ragcli.generate import make_backend

        self.backend = make_backend(settings, name)
        self.settings = settings

    def answer(self, question: str, hits: Sequence[Any]) -> str:
        from ragcli.prompt import build_prompt

        prompt = build_prompt(question, list(hits), self.settings.max_context_tokens)
        return self.backend.generate(prompt).text

    def generate(self, system: str, user: str) -> str:
        from ragcli.prompt import Prompt

        return self.backend.generate(Prompt(question="", system=system, user=user, sources=[])).text


# --------------------------------------------------------------------------------------
# the run


def _resolve(setting: dict[str, Any], settings: Settings, k_default: int) -> dict[str, Any]:
    return {
        "chunk_size": setting.get("chunk_size", settings.chunk_size),
        "mode": setting.get("mode", settings.mode),
        "k": setting.get("k", k_default),
        "pool_factor": setting.get("pool_factor", settings.pool_factor),
        "fusion": setting.get("fusion", settings.fusion),
        "alpha": setting.get("alpha", settings.alpha),
        "rerank": setting.get("rerank", settings.rerank),
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
        return [doc for doc, _ in evaluate.doc_ranking(hits)][:k]
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
    """Evaluate and return the report (a JSON-ready dict)::

        {"collection": {kind, name, path, split, n_docs, n_questions, n_judged, n_answers},
         "indexes": [{path, chunk_size, reused, added, documents, chunks, seconds, ...}],
         "metrics": [...], "answer_metrics": [...], "sort_by": "ndcg@10",
         "sweep": {option: [values]}, "varied": [options with > 1 value],
         "rows": [{"settings": {chunk_size, mode, k, pool_factor, fusion, alpha, rerank},
                   "fetch_chunks": int, "reranked": bool, "mean": {metric: value}, "n_queries": int,
                   "empty": [qids], "per_query": {qid: {metric: value, "top": [doc ids],
                   "answer": str, "em"/"f1"/"contains"/judged metrics}},
                   "same_as": row number or None, "timings": {search_s, answer_s, ...},
                   "best": bool}],
         "best": row number, "questions": {qid: {question, relevant, answers}},
         "skipped": {reason: count}, "problems": [{file, line, message}],
         "timings": {load_s, index_s, encode_queries_s, rows_s, total_s},
         "query_vectors": {cached, embedded, reused}}

    ``questions`` is a JSONL file evaluated against the index named by
    ``index``/``name``/``store`` (located like ``rag search`` does); ``beir`` a BEIR
    folder with its own eval index.
    ``settings_overrides`` (embed_model, chunk_size, chunk_overlap, ...) apply to the
    settings of the run. Errors: UsageError for bad input, RagError otherwise.
    """
    from ragcli.index import Index

    options = options or EvalOptions()
    warn = warn or (lambda message: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if (questions is None) == (beir is None):
        raise UsageError("give a JSONL question file or --beir FOLDER (one of them)")
    if options.llm and not options.answers:
        options.answers = True
    if options.answer_k < 1:
        raise UsageError(f"answer k must be at least 1, got {options.answer_k}")
    if options.limit is not None and options.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {options.limit}")
    specs = evaluate.parse_metrics(list(options.metrics))
    metric_names = [spec.name for spec in specs]
    sweep = {key: list(values) for key, values in options.sweep.items() if values}
    for key in sweep:
        if key not in SWEEP_KEYS:
            raise UsageError(f"cannot sweep {key!r} (can sweep: {', '.join(SWEEP_KEYS)})")
    sweep = {key: sweep[key] for key in SWEEP_KEYS if key in sweep}
    grid = evaluate.expand_grid(sweep)
    cwd = (cwd or Path.cwd()).resolve()
    overrides = {k: v for k, v in (settings_overrides or {}).items() if v is not None}

    # 1. the questions ---------------------------------------------------------------
    tick = time.perf_counter()
    if beir is not None:
        qset: QuestionSet | BeirCollection = read_beir(Path(beir), split)
    else:
        qset = read_questions(Path(questions))  # type: ignore[arg-type]
    skipped = dict(qset.skipped)
    problems = list(qset.problems)
    if options.limit is not None and options.limit < len(qset.questions):
        skipped["beyond_limit"] = len(qset.questions) - options.limit
        qset.questions = qset.questions[: options.limit]
    timings["load_s"] = time.perf_counter() - tick

    # 2. the indexes ------------------------------------------------------------------
    tick = time.perf_counter()
    targets: dict[int | None, Target] = {}
    if isinstance(qset, BeirCollection):
        project = eval_root(cwd)
        project_dir = project.parent.parent if project.parent.name == ".rag" else cwd
        base = load_settings(project_dir).with_overrides(**overrides)
        root = project
        for size in sweep.get("chunk_size", [base.chunk_size]):
            settings = base.with_overrides(chunk_size=size)
            if settings.chunk_overlap >= settings.chunk_size:
                settings = settings.with_overrides(chunk_overlap=settings.chunk_size // 4)
            targets[size] = prepare_beir_index(qset, settings, root, ingest_progress)
        base_settings = base
        match_sources = False
    else:
        if "chunk_size" in sweep:
            raise UsageError(
                "--chunk-size sweeps need --beir (a question set runs against an existing index)"
            )
        idx = Index.locate(index=index, name=name, cwd=cwd, store=store)
        if not idx.exists():
            raise RagError(f"{idx.location}: the index is empty (run `rag ingest PATH` first)")
        idx.settings = idx.settings.with_overrides(**overrides)
        targets[None] = Target(index=idx, chunk_size=None)
        base_settings = idx.settings
        match_sources = True
    for target in targets.values():
        _finish_target(target)
        target.index.warn = warn
    timings["index_s"] = time.perf_counter() - tick

    if isinstance(qset, QuestionSet):
        _check_relevant_ids(qset, targets[None], skipped, problems)

    judged = [q for q in qset.questions if q.relevant]
    with_answers = [q for q in qset.questions if q.answers]
    if options.answers and not with_answers:
        raise UsageError(
            f"{_where(qset)}: no question has gold answers ('answers'), needed for --answers"
        )
    if not judged and not options.answers:
        raise UsageError(
            f"{_where(qset)}: no question has relevance judgments ('relevant'); "
            "add them or use --answers"
        )
    if not judged:
        metric_names = []
    qrels = {q.id: dict(q.relevant) for q in judged}
    k_default = default_k(metric_names or ["ndcg@10"])
    answer_metrics: list[str] = []
    llm = None
    if options.answers:
        answer_metrics = ["em", "f1", "contains"]
        if options.llm and options.llm.strip().lower() != "extractive":
            llm = _LLM(options.llm, base_settings)
            answer_metrics += list(evaluate.JUDGE_METRICS)
    sort_by = _sort_metric(options.sort_by, metric_names, answer_metrics)

    # every combination is checked before any search runs
    resolved_rows = [_resolve(setting, base_settings, k_default) for setting in grid]
    from ragcli import retrieve

    for resolved in resolved_rows:
        retrieve.validate(resolved["mode"], resolved["fusion"], resolved["alpha"])
        cutoff = max((s.k for s in specs if s.k is not None), default=0)
        if metric_names and resolved["k"] < cutoff:
            warn(
                f"k={resolved['k']} is below the largest metric cutoff ({cutoff}): "
                "those metrics see only the top k documents"
            )

    # 3. query vectors, once --------------------------------------------------------
    tick = time.perf_counter()
    cache: QueryVectorCache | None = None
    needs_dense = any(r["mode"] in ("dense", "hybrid") for r in resolved_rows)
    if options.cache_query_vectors:
        first = next(iter(targets.values())).index
        cache = QueryVectorCache(first.query_encoder)
        for target in targets.values():
            target.index.query_encoder = cache
        if needs_dense:
            cache.prime([q.text for q in qset.questions])
    timings["encode_queries_s"] = time.perf_counter() - tick

    # 4. rows -------------------------------------------------------------------------
    tick = time.perf_counter()
    rows: list[dict[str, Any]] = []
    done_keys: dict[tuple, int] = {}
    runnable = judged if not options.answers else _union(judged, with_answers)
    total = len(resolved_rows) * len(runnable)
    done = 0
    for number, resolved in enumerate(resolved_rows):
        key = _effective_key(resolved)
        if key in done_keys:
            same = rows[done_keys[key]]
            rows.append({**same, "settings": resolved, "same_as": done_keys[key], "best": False})
            done += len(runnable)
            if progress:
                progress(done, total)
            continue
        done_keys[key] = number
        target = targets[resolved["chunk_size"] if isinstance(qset, BeirCollection) else None]
        row, done = _run_row(
            target,
            runnable,
            resolved,
            qrels,
            metric_names,
            options,
            llm,
            match_sources,
            progress,
            done,
            total,
        )
        rows.append(row)
    timings["rows_s"] = time.perf_counter() - tick

    best = None
    scored_rows = [dict(row["mean"], _n=n) for n, row in enumerate(rows)]
    if rows:
        best = evaluate.best_row(scored_rows, sort_by)["_n"]
        rows[best]["best"] = True
    timings["total_s"] = time.perf_counter() - started

    return {
        "collection": _collection_info(qset, judged, with_answers),
        "indexes": [_index_info(target) for target in targets.values()],
        "metrics": metric_names,
        "answer_metrics": answer_metrics,
        "answerer": (llm.backend.describe() if llm else "extractive") if options.answers else None,
        "sort_by": sort_by,
        "sweep": sweep,
        "varied": [key for key, values in sweep.items() if len(values) > 1],
        "rows": rows,
        "best": best,
        "questions": {q.id: q.to_dict() for q in qset.questions},
        "skipped": skipped,
        "problems": [p.to_dict() for p in problems],
        "timings": {key: round(value, 3) for key, value in timings.items()},
        "query_vectors": (
            {"embedded": len(cache._vectors), "reused": cache.hits, "one_by_one": cache.misses}
            if cache
            else None
        ),
    }


def _union(a: list[Question], b: list[Question]) -> list[Question]:
    ids = {q.id for q in a} | {q.id for q in b}
    seen: list[Question] = []
    for q in [*a, *b]:
        if q.id in ids:
            ids.discard(q.id)
            seen.append(q)
    return seen


def _where(qset: QuestionSet | BeirCollection) -> str:
    return str(qset.path) if isinstance(qset, QuestionSet) else str(qset.folder)


def _sort_metric(asked: str | None, metrics: list[str], answer_metrics: list[str]) -> str:
    known = metrics + answer_metrics
    if asked:
        name = asked.strip().lower()
        if name not in known:
            with contextlib.suppress(UsageError):
                name = evaluate.parse_metric(name).name
        if name not in known:
            raise UsageError(f"--sort-by {asked!r} is not a measured metric ({', '.join(known)})")
        return name
    if "ndcg@10" in metrics:
        return "ndcg@10"
    if metrics:
        return metrics[0]
    return "f1"


def _run_row(
    target: Target,
    questions: list[Question],
    resolved: dict[str, Any],
    qrels: dict[str, dict[str, int]],
    metric_names: list[str],
    options: EvalOptions,
    llm: _LLM | None,
    match_sources: bool,
    progress: Progress | None,
    done: int,
    total: int,
) -> tuple[dict[str, Any], int]:
    index = target.index
    k = resolved["k"]
    fetch = k * target.chunk_factor
    run: dict[str, list[str]] = {}
    per_query: dict[str, dict[str, Any]] = {}
    search_s = answer_s = judge_s = 0.0
    answer_scores: list[dict[str, float]] = []
    judged_results: list[dict[str, Any]] = []
    reranked = False
    for question in questions:
        tick = time.perf_counter()
        hits = index.search(
            question.text,
            k=fetch,
            mode=resolved["mode"],
            alpha=resolved["alpha"],
            fusion=resolved["fusion"],
            pool_factor=resolved["pool_factor"],
            rerank=resolved["rerank"],
        )
        search_s += time.perf_counter() - tick
        reranked = reranked or any(hit.rerank is not None for hit in hits)
        ranked = _doc_run(question, hits, k, match_sources)
        entry: dict[str, Any] = {"top": ranked[:TOP_KEPT]}
        if question.relevant:
            run[question.id] = ranked
        if options.answers and question.answers:
            context = hits[: options.answer_k]
            tick = time.perf_counter()
            answer = (
                llm.answer(question.text, context)
                if llm
                else extractive_answer(question.text, context)
            )
            answer_s += time.perf_counter() - tick
            scores = evaluate.score_answer(answer, question.answers)
            answer_scores.append(scores)
            entry["answer"] = answer
            entry.update(scores)
            if llm is not None:
                tick = time.perf_counter()
                result = evaluate.judge(llm.generate, question.text, context, answer)
                judge_s += time.perf_counter() - tick
                judged_results.append(result)
                entry["judged"] = {m: j.to_dict() for m, j in result.items()}
                entry.update({m: j.score for m, j in result.items()})
        per_query[question.id] = entry
        done += 1
        if progress:
            progress(done, total)

    mean: dict[str, float | None] = {}
    empty: list[str] = []
    if metric_names and qrels:
        scores = evaluate.score_retrieval(run, qrels, metric_names)
        mean.update(scores.mean)
        empty = scores.empty
        for qid, values in scores.per_query.items():
            per_query.setdefault(qid, {}).update(values)
    if answer_scores:
        for name in ("em", "f1", "contains"):
            mean[name] = sum(s[name] for s in answer_scores) / len(answer_scores)
    if judged_results:
        for metric, summary in evaluate.mean_judged(judged_results).items():
            mean[metric] = summary["mean"]
    n = len(questions)
    row = {
        "settings": resolved,
        "fetch_chunks": fetch,
        "reranked": reranked,  # False with rerank on means the cross-encoder was unavailable
        "mean": mean,
        "n_queries": len(run),
        "n_answered": len(answer_scores),
        "empty": empty,
        "per_query": per_query,
        "same_as": None,
        "timings": {
            "search_s": round(search_s, 3),
            "ms_per_query": round(1000 * search_s / n, 2) if n else None,
            "answer_s": round(answer_s, 3),
            "judge_s": round(judge_s, 3),
        },
        "best": False,
    }
    return row, done


def _collection_info(
    qset: QuestionSet | BeirCollection, judged: list[Question], with_answers: list[Question]
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "n_questions": len(qset.questions),
        "n_judged": len(judged),
        "n_with_answers": len(with_answers),
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


def _index_info(target: Target) -> dict[str, Any]:
    info = {"path": target.index.location, "chunk_size": target.chunk_size}
    info["chunk_factor"] = target.chunk_factor
    if target.built:
        info.update(target.built)
    else:
        info["reused"] = True
    return info
