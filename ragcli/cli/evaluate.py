"""`rag eval`: retrieval (and answer) quality on a question set, over a grid of settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import (
    TARGET,
    Bundle,
    EmbedModelOpt,
    Flags,
    JsonOpt,
    OldEmbedModelOpt,
    embed_model_flag,
    uses,
)
from ragcli.errors import RagError, UsageError

MAX_PROBLEMS_SHOWN = 5


def _sweep_option(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, show_default=False)


QuestionsArg = Annotated[
    Path | None,
    typer.Argument(
        help="JSONL question set ({question, relevant, answers}) run against the index.",
        show_default=False,
    ),
]
BeirOpt = Annotated[
    Path | None,
    typer.Option(
        "--beir",
        help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/): evaluated on its own "
        "cached index.",
        show_default=False,
    ),
]
SplitOpt = Annotated[str, typer.Option("--split", help="BEIR qrels split.")]
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        help="Retrieval metrics, e.g. 'ndcg@10,recall@100,hit@1,5,10,mrr@10,map'.",
        show_default=False,
    ),
]
NoRerankOpt = Annotated[bool, typer.Option("--no-rerank", help="Same as --rerank off.")]
ChunkOverlapOpt = Annotated[
    int | None,
    typer.Option("--chunk-overlap", help="Chunk overlap for eval indexes.", show_default=False),
]
SortByOpt = Annotated[
    str | None,
    typer.Option("--sort-by", help="Metric that picks the best row (default ndcg@10)."),
]
AnswersOpt = Annotated[
    bool,
    typer.Option("--answers", help="Also answer each question and score EM/F1."),
]
LlmOpt = Annotated[
    str | None,
    typer.Option(
        "--llm",
        help="Answer with this LLM backend and judge the RAG triad with it "
        "(default: extractive answers, no judge).",
        show_default=False,
    ),
]
AnswerKOpt = Annotated[int, typer.Option("--answer-k", help="Chunks the answerer sees.")]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", help="Only the first N questions.", show_default=False),
]
ReportOpt = Annotated[
    Path | None,
    typer.Option("--report", help="Write an HTML report (chart + table) to this file."),
]
SweepModeOpt = Annotated[
    str | None, _sweep_option("Retrieval mode(s): sparse,dense,hybrid.", "--mode")
]
SweepAlphaOpt = Annotated[
    str | None, _sweep_option("Dense weight(s) in hybrid, e.g. 0,0.25,0.5,0.75,1.", "--alpha")
]
SweepKOpt = Annotated[
    str | None,
    _sweep_option("Documents retrieved per question (default 100).", "-k", "--top-k"),
]
SweepPoolFactorOpt = Annotated[
    str | None, _sweep_option("Candidates per side = pool factor * k.", "--pool-factor")
]
SweepFusionOpt = Annotated[
    str | None, _sweep_option("Fusion: linear,adaptive,minmax,zscore,dbsf,rrf.", "--fusion")
]
SweepRerankOpt = Annotated[
    str | None, _sweep_option("Cross-encoder reranking: on, off or on,off.", "--rerank")
]
SweepChunkSizeOpt = Annotated[
    str | None,
    _sweep_option("Chunk size(s) in tokens (--beir: one eval index each).", "--chunk-size"),
]

SWEEP = Bundle(
    "sweep",
    (
        ("mode", SweepModeOpt, None),
        ("alpha", SweepAlphaOpt, None),
        ("k", SweepKOpt, None),
        ("pool_factor", SweepPoolFactorOpt, None),
        ("fusion", SweepFusionOpt, None),
        ("rerank", SweepRerankOpt, None),
        ("chunk_size", SweepChunkSizeOpt, None),
    ),
)


@app.command("eval")
@handles_errors
@uses(SWEEP, TARGET)
def eval_command(
    questions: QuestionsArg = None,
    beir: BeirOpt = None,
    split: SplitOpt = "test",
    metrics: MetricsOpt = None,
    no_rerank: NoRerankOpt = False,
    chunk_overlap: ChunkOverlapOpt = None,
    embed_model: EmbedModelOpt = None,
    model: OldEmbedModelOpt = None,
    sort_by: SortByOpt = None,
    answers: AnswersOpt = False,
    llm: LlmOpt = None,
    answer_k: AnswerKOpt = 5,
    limit: LimitOpt = None,
    report: ReportOpt = None,
    json_out: JsonOpt = False,
    *,
    sweep: Flags,
    target: Flags,
) -> None:
    """Measure retrieval quality (nDCG, recall, MRR, ...) and compare settings side by side.

    Exit code 0 when it ran, 2 on bad usage or bad input files, 1 on other failures.
    """
    from ragcli.cli import render
    from ragcli.evaluate import EvalOptions, check_sources, run_eval, sweep_from_flags

    check_sources(questions, beir, **target)
    options = EvalOptions(
        sweep=sweep_from_flags(sweep, no_rerank),
        sort_by=sort_by,
        answers=answers or bool(llm),
        llm=llm,
        answer_k=answer_k,
        limit=limit,
    )
    if metrics is not None:
        options.metrics = _metric_names(metrics)
    if report is not None and report.is_dir():
        raise UsageError(f"{report}: is a folder; --report takes an .html file name")

    with _Progress() as progress, render.ingest_progress() as ingest_progress:
        result = run_eval(
            questions,
            beir=beir,
            split=split,
            **target,
            options=options,
            settings_overrides={
                "embed_model": embed_model_flag(embed_model, model),
                "chunk_overlap": chunk_overlap,
            },
            progress=progress,
            ingest_progress=ingest_progress,
            warn=render.warn,
        )
    _show_problems(result)
    if report is not None:
        _write_report(report, result)
    _show(result, json_out)
    if report is not None and not json_out:
        sys.stderr.write(f"rag: report written to {report}\n")


def _metric_names(spec: str) -> list[str]:
    from ragcli.evaluate import parse_metrics

    return [metric.name for metric in parse_metrics(spec)]


def _write_report(path: Path, result: dict[str, Any]) -> None:
    from ragcli.evaluate import render_html

    try:
        path.write_text(render_html(result), encoding="utf-8")
    except OSError as err:
        raise RagError(f"{path}: cannot write the report: {err.strerror or err}") from None


def _show(result: dict[str, Any], json_out: bool) -> None:
    from ragcli.cli import render
    from ragcli.evaluate import plain_table

    if json_out:
        render.print_json(result)
    elif render.is_terminal():
        print_rich(result)
    else:
        sys.stdout.write(plain_table(result))


class _Progress:
    """A rich bar on stderr while the rows run, only when stderr is a terminal."""

    def __enter__(self):
        from ragcli.cli import render

        if not render.is_terminal(sys.stderr):
            self._bar = None
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=render.console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        self._task = None

        def update(done: int, total: int) -> None:
            if self._task is None:
                self._task = self._bar.add_task("Evaluating", total=total)
            self._bar.update(self._task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _show_problems(result: dict[str, Any]) -> None:
    from ragcli.cli import render

    problems = result["problems"]
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        render.warn(f"{problem['file']}:{problem['line']}: {problem['message']}")
    if len(problems) > MAX_PROBLEMS_SHOWN:
        render.warn(f"{len(problems) - MAX_PROBLEMS_SHOWN} more problems (see --json)")
    skipped = {key: n for key, n in result["skipped"].items() if n}
    if skipped:
        parts = ", ".join(f"{key.replace('_', ' ')} {n}" for key, n in sorted(skipped.items()))
        render.warn(f"skipped: {parts}")


# tables -----------------------------------------------------------------------------


def print_rich(result: dict[str, Any]) -> None:
    from rich.table import Table

    from ragcli.cli import render
    from ragcli.evaluate.report import (
        SETTING_LABELS,
        metric_columns,
        ms_per_query,
        setting_columns,
        setting_text,
        table_footer,
        table_header,
        value_text,
    )

    keys = setting_columns(result)
    metrics = metric_columns(result)
    table = Table()
    table.add_column("#", justify="right")
    for key in keys:
        table.add_column(SETTING_LABELS[key])
    for metric in metrics:
        style = "bold" if metric == result["sort_by"] else None
        table.add_column(metric, justify="right", header_style=style)
    table.add_column("ms/q", justify="right", style="dim")
    for n, row in enumerate(result["rows"]):
        table.add_row(
            f"{n + 1}{' ★' if row['best'] else ''}",
            *(setting_text(k, row["settings"]) for k in keys),
            *(value_text(row["mean"].get(m)) for m in metrics),
            ms_per_query(row),
            style="bold green" if row["best"] else None,
        )
    console = render.console()
    console.print(table_header(result), style="bold")
    console.print(table)
    footer = table_footer(result)
    if footer:
        console.print(footer, style="dim")
    _print_kinds(result, console)


def _print_kinds(result: dict[str, Any], console: Any) -> None:
    """Each row's metrics per kind of question, when the questions carry a kind."""
    from rich.markup import escape
    from rich.table import Table

    from ragcli.evaluate.report import kind_table_header, kind_table_rows, setting_columns

    rows = kind_table_rows(result)
    if not rows:
        return
    left = 3 + len(setting_columns(result))
    table = Table(title="by kind", title_justify="left")
    for i, name in enumerate(kind_table_header(result)):
        table.add_column(name, justify="left" if i < left else "right")
    for cells in rows:
        table.add_row(*(escape(cell) for cell in cells))  # kinds come from the user's file
    console.print(table)
