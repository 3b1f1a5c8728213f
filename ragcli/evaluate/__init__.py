"""Evaluation: question sets and BEIR folders in, retrieval and answer quality out.

* :mod:`~ragcli.evaluate.datasets`: JSONL question sets and BEIR folders (``read_beir``).
* :mod:`~ragcli.evaluate.metrics`: trec_eval figures via pytrec_eval
  (``score_retrieval``), SQuAD EM/F1 (``score_answer``), the LLM-judged RAG triad.
* :mod:`~ragcli.evaluate.sweep`: the options a sweep varies, the grid, the best row.
* :mod:`~ragcli.evaluate.indexes`: the eval index of a BEIR corpus, built once and
  reused; the indexes a run searches.
* :mod:`~ragcli.evaluate.runner`: ``run_eval``, which runs the questions over the grid
  and returns the report.
* :mod:`~ragcli.evaluate.report`: the report as a text table or an HTML page.
"""

from ragcli.evaluate.datasets import (
    BeirCollection,
    Problem,
    Question,
    QuestionSet,
    available_splits,
    read_beir,
    read_eval_set,
    read_questions,
)
from ragcli.evaluate.indexes import (
    QueryVectorCache,
    Target,
    collection_name,
    eval_index_dir,
    eval_root,
    prepare_beir_index,
)
from ragcli.evaluate.metrics import (
    DEFAULT_METRICS,
    JUDGE_METRICS,
    JUDGE_SYSTEM,
    JudgedScore,
    MetricSpec,
    RetrievalScores,
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
from ragcli.evaluate.report import plain_table, render_html
from ragcli.evaluate.runner import (
    EvalOptions,
    RowContext,
    check_sources,
    default_k,
    run_eval,
    run_row,
)
from ragcli.evaluate.sweep import (
    SWEEP_KEYS,
    best_row,
    expand_grid,
    parse_values,
    sweep_from_flags,
)

__all__ = [
    "DEFAULT_METRICS",
    "JUDGE_METRICS",
    "JUDGE_SYSTEM",
    "SWEEP_KEYS",
    "BeirCollection",
    "EvalOptions",
    "JudgedScore",
    "MetricSpec",
    "Problem",
    "QueryVectorCache",
    "Question",
    "QuestionSet",
    "RetrievalScores",
    "RowContext",
    "Target",
    "answer_contains",
    "available_splits",
    "best_row",
    "check_sources",
    "collection_name",
    "default_k",
    "doc_ranking",
    "eval_index_dir",
    "eval_root",
    "exact_match",
    "expand_grid",
    "judge",
    "judge_prompts",
    "mean_judged",
    "normalize_answer",
    "parse_judge_reply",
    "parse_metric",
    "parse_metrics",
    "parse_values",
    "prepare_beir_index",
    "plain_table",
    "read_beir",
    "read_eval_set",
    "read_questions",
    "render_html",
    "run_eval",
    "run_from_hits",
    "run_row",
    "score_answer",
    "score_retrieval",
    "sweep_from_flags",
    "token_f1",
]
