"""A ``rag eval`` report shown: the text table (``plain_table``) and a self-contained
HTML page (``render_html``: an SVG chart, the table, the hardest questions).

No dependencies and nothing fetched: the chart is inline SVG drawn here, the styles are
inline. Both take the dict :func:`ragcli.evaluate.runner.run_eval` returns.
"""

from __future__ import annotations

import html
from typing import Any

from ragcli.errors import printable

PALETTE = ("#2f6fb0", "#e07b39", "#3a9a5b", "#9b59b6")
HARDEST_SHOWN = 20

# Short column names for the settings a sweep can vary; the text tables use them too.
SETTING_LABELS = {
    "chunk_size": "chunk",
    "mode": "mode",
    "k": "k",
    "pool_factor": "pool",
    "fusion": "fusion",
    "alpha": "alpha",
    "rerank": "rerank",
}

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:70em;
color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td.s,th.s{text-align:left}
tr.best td{background:#e8f5e9;font-weight:600}
.meta{color:#555;font-size:.9em}code{font-size:.9em}
svg text{font-family:system-ui,sans-serif}
"""


def _esc(value: Any) -> str:
    """Text from the collection or the index as HTML text: no markup, no control
    characters (shown as escapes, like every message)."""
    return html.escape(printable(str(value)), quote=True)


def value_text(value: Any) -> str:
    """A metric value as shown: three decimals, "-" for none."""
    return "-" if value is None else f"{value:.3f}"


def setting_columns(report: dict[str, Any]) -> list[str]:
    """Settings shown as columns: mode and alpha always, plus whatever was swept."""
    varied = set(report.get("varied", []))
    return [key for key in SETTING_LABELS if key in varied or key in ("mode", "alpha")]


def setting_text(key: str, settings: dict[str, Any]) -> str:
    """A setting's value as shown: alpha outside hybrid mode is "-"."""
    value = settings.get(key)
    if key == "alpha" and settings.get("mode") != "hybrid":
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setting_label(settings: dict[str, Any], keys: list[str]) -> str:
    parts = [
        f"{SETTING_LABELS.get(key, key)}={setting_text(key, settings)}"
        for key in keys
        if setting_text(key, settings) != "-"
    ]
    return " ".join(parts) or "default"


def chart_metrics(report: dict[str, Any]) -> list[str]:
    """The sort metric and recall@100 (or the next metric measured), at most two."""
    measured = list(report.get("metrics", [])) + list(report.get("answer_metrics", []))
    chosen = [report["sort_by"]] if report.get("sort_by") in measured else measured[:1]
    for candidate in ("recall@100", *measured):
        if candidate in measured and candidate not in chosen:
            chosen.append(candidate)
            break
    return chosen


def svg_chart(report: dict[str, Any]) -> str:
    """A grouped bar chart, one group per row, one bar per chart metric (0-1 scale)."""
    rows = report.get("rows", [])
    metrics = chart_metrics(report)
    keys = setting_columns(report)
    if not rows or not metrics:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    bar_w, gap = 18, 22
    group_w = bar_w * len(metrics) + gap
    left, top, plot_h, bottom = 46, 30, 220, 120
    width = left + group_w * len(rows) + 20
    height = top + plot_h + bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="sweep chart">'
    ]
    for tick in range(0, 11, 2):
        value = tick / 10
        y = top + plot_h - value * plot_h
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{value:.1f}</text>"
        )
    for i, metric in enumerate(metrics):
        x = left + 10 + i * 130
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{x + 16}" y="18" font-size="12">{_esc(metric)}</text>'
        )
    for n, row in enumerate(rows):
        x0 = left + gap / 2 + n * group_w
        for i, metric in enumerate(metrics):
            value = row.get("mean", {}).get(metric)
            if value is None:
                continue
            h = max(0.0, min(1.0, float(value))) * plot_h
            x = x0 + i * bar_w
            y = top + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2}" height="{h:.1f}" '
                f'fill="{PALETTE[i % len(PALETTE)]}"><title>{_esc(metric)} = {value:.3f}'
                f"</title></rect>"
            )
        label = f"{n + 1}{' ★' if row.get('best') else ''} {setting_label(row['settings'], keys)}"
        cx = x0 + (bar_w * len(metrics)) / 2
        ly = top + plot_h + 12
        weight = ' font-weight="bold"' if row.get("best") else ""
        parts.append(
            f'<text x="{cx:.1f}" y="{ly}" font-size="11"{weight} text-anchor="end" '
            f'transform="rotate(-40 {cx:.1f} {ly})">{_esc(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#888"/></svg>'
    )
    return "".join(parts)


def _table(report: dict[str, Any]) -> str:
    keys = setting_columns(report)
    metrics = list(report.get("metrics", [])) + list(report.get("answer_metrics", []))
    head = (
        "<tr><th>#</th>"
        + "".join(f'<th class="s">{_esc(SETTING_LABELS[k])}</th>' for k in keys)
        + "".join(f"<th>{_esc(m)}</th>" for m in metrics)
        + "<th>ms/query</th></tr>"
    )
    body = []
    for n, row in enumerate(report.get("rows", [])):
        cells = [f"<td>{n + 1}{' ★' if row.get('best') else ''}</td>"]
        for key in keys:
            cells.append(f'<td class="s">{_esc(setting_text(key, row["settings"]))}</td>')
        cells += [f"<td>{value_text(row.get('mean', {}).get(m))}</td>" for m in metrics]
        ms = row.get("timings", {}).get("ms_per_query")
        shown = "-" if ms is None or row.get("same_as") is not None else _esc(ms)
        cells.append(f"<td>{shown}</td>")
        cls = ' class="best"' if row.get("best") else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _kind_table(report: dict[str, Any]) -> str:
    rows = kind_table_rows(report)
    if not rows:
        return ""
    left = 3 + len(setting_columns(report))

    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="s"' if i < left else ""
        return f"<{tag}{cls}>{_esc(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(kind_table_header(report)))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(cells)) + "</tr>" for cells in rows
    )
    return f"<h2>By kind of question</h2><table><tr>{head}</tr>{body}</table>"


def _hardest(report: dict[str, Any]) -> str:
    best = report.get("best")
    metric = report.get("sort_by")
    if best is None or not metric:
        return ""
    row = report["rows"][best]
    questions = report.get("questions", {})
    scored = [
        (values.get(metric), qid, values)
        for qid, values in row.get("per_query", {}).items()
        if isinstance(values.get(metric), (int, float))
    ]
    scored.sort(key=lambda item: (item[0], item[1]))
    if not scored:
        return ""
    items = []
    for value, qid, values in scored[:HARDEST_SHOWN]:
        q = questions.get(qid, {})
        relevant = ", ".join(sorted(q.get("relevant", {})))
        top = ", ".join(values.get("top", [])[:5])
        items.append(
            f'<tr><td class="s">{_esc(qid)}</td><td class="s">{_esc(q.get("question", ""))}'
            f'</td><td>{value_text(value)}</td><td class="s"><code>{_esc(relevant)}</code></td>'
            f'<td class="s"><code>{_esc(top)}</code></td></tr>'
        )
    return (
        f"<h2>Hardest questions (best row, lowest {_esc(metric)})</h2><table><tr>"
        '<th class="s">id</th><th class="s">question</th>'
        f'<th>{_esc(metric)}</th><th class="s">relevant</th><th class="s">retrieved (top 5)</th>'
        f"</tr>{''.join(items)}</table>"
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole page as one string."""
    info = report.get("collection", {})
    title = f"rag eval: {info.get('name', '')}" + (
        f" ({info['split']})" if info.get("split") else ""
    )
    indexes = ", ".join(_esc(i.get("path", "")) for i in report.get("indexes", []))
    skipped = ", ".join(f"{_esc(k)} {v}" for k, v in sorted(report.get("skipped", {}).items()))
    timings = report.get("timings", {})
    meta = (
        f'<p class="meta">{_esc(info.get("n_judged", 0))} judged questions'
        + (f", {_esc(info['n_docs'])} documents" if info.get("n_docs") else "")
        + f"; best by <b>{_esc(report.get('sort_by', ''))}</b>"
        + f"; total {timings.get('total_s', 0):.1f} s<br>index: <code>{indexes}</code>"
        + (f"<br>skipped: {skipped}" if skipped else "")
        + (f"<br>answers: {_esc(report['answerer'])}" if report.get("answerer") else "")
        + "</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_esc(title)}</h1>{meta}<h2>Sweep</h2>{svg_chart(report)}"
        f"<h2>Results</h2>{_table(report)}{_kind_table(report)}{_hardest(report)}"
        "</body></html>\n"
    )


# --------------------------------------------------------------------------------------
# text tables


def metric_columns(report: dict[str, Any]) -> list[str]:
    return list(report["metrics"]) + list(report["answer_metrics"])


def ms_per_query(row: dict[str, Any]) -> str:
    """A row's search time per query; "-" for a row copied from another (``same_as``)."""
    ms = row["timings"].get("ms_per_query")
    return "-" if ms is None or row.get("same_as") is not None else f"{ms:.1f}"


def table_header(report: dict[str, Any]) -> str:
    """The line above the table: the collection, its size, whether the index was built."""
    info = report["collection"]
    what = info["name"] + (f" ({info['split']})" if info.get("split") else "")
    reused = all(i.get("reused") for i in report["indexes"])
    parts = [
        f"{what}: {info['n_judged']} judged questions",
        f"{info['n_docs']} docs" if info.get("n_docs") else None,
        "index reused" if reused else "index built",
    ]
    return printable("; ".join(p for p in parts if p))


def table_footer(report: dict[str, Any]) -> str:
    """The line below the table: the best row and its settings ("" without rows)."""
    best = report["best"]
    if best is None:
        return ""
    row = report["rows"][best]
    settings = ", ".join(
        f"{SETTING_LABELS[key]}={setting_text(key, row['settings'])}"
        for key in setting_columns(report)
    )
    value = row["mean"].get(report["sort_by"])
    total = report["timings"].get("total_s", 0.0)
    return printable(
        f"best by {report['sort_by']}: row {best + 1} ({settings}) = {value_text(value)}; "
        f"{total:.1f} s; index {', '.join(i['path'] for i in report['indexes'])}"
    )


def kind_table_rows(report: dict[str, Any]) -> list[list[str]]:
    """The per-kind table's cells (kind, n, row number, settings, metrics), grouped by
    kind; [] when the questions carry no kind."""
    keys = setting_columns(report)
    metrics = metric_columns(report)
    rows = []
    for kind in report.get("kinds", []):
        for n, row in enumerate(report["rows"]):
            entry = row.get("by_kind", {}).get(kind)
            if entry is None:
                continue
            rows.append(
                [
                    printable(kind),
                    str(entry["n_queries"]),
                    str(n + 1),
                    *(setting_text(k, row["settings"]) for k in keys),
                    *(value_text(entry["mean"].get(m)) for m in metrics),
                ]
            )
    return rows


def kind_table_header(report: dict[str, Any]) -> list[str]:
    keys = setting_columns(report)
    return ["kind", "n", "#", *(SETTING_LABELS[k] for k in keys), *metric_columns(report)]


def _fixed_width(header: list[str], body: list[list[str]], left: int) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` columns flush left."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in [header, *body]
    ]


def plain_table(report: dict[str, Any]) -> str:
    """Fixed-width text for pipes and logs; the best row is marked with '*'. Questions
    with a ``kind`` get a second table: each row's metrics per kind."""
    keys = setting_columns(report)
    metrics = metric_columns(report)
    header = ["", "#", *(SETTING_LABELS[k] for k in keys), *metrics, "ms/q"]
    body = [
        [
            "*" if row["best"] else "",
            str(n + 1),
            *(setting_text(k, row["settings"]) for k in keys),
            *(value_text(row["mean"].get(m)) for m in metrics),
            ms_per_query(row),
        ]
        for n, row in enumerate(report["rows"])
    ]
    lines = [table_header(report), *_fixed_width(header, body, 2 + len(keys))]
    footer = table_footer(report)
    if footer:
        lines.append(footer)
    by_kind = kind_table_rows(report)
    if by_kind:
        lines.append("")
        lines.append("by kind:")
        lines.extend(_fixed_width(kind_table_header(report), by_kind, 3 + len(keys)))
    return "\n".join(lines) + "\n"
