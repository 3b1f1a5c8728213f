"""Known-item search on a real folder: names drawn from its own files (issue 21).

    python benchmarks/known_items.py FOLDER [--index DIR] [--work DIR]
        [--queries 150] [--seed 21] [--max-files 3] [--min-chars 6] [--k 1,5,10]
        [--modes sparse,dense,hybrid] [--config NAME:key=value,...]...
        [--headings] [--questions FILE] [--save-queries FILE] [--by-kind]
        [--baseline OLD.json] [--json [OUT]]

The queries are the names people and coding agents type: dotted names
(``app.config.from_prefixed_env``), ``snake_case``, ``camelCase``/``PascalCase``, names
with digits (``NPY201``, ``tutorial001``), ``--long-flags``, ``CONFIG_KEYS``, file names
and paths, of ``--min-chars`` or more characters (a flag's dashes not counted; runs of
hex digits such as hashes and colours left out), that occur in 1 to ``--max-files`` of
the indexed files. A name occurs in a file where its exact text stands in the raw file
with no word character or hyphen on either side (``dtype.fields`` occurs in
``np.dtype.fields``, ``--color`` does not occur in ``--color-mode``); the relevant files
are those files, and for a file name or path also the file of that name. A name is kept
only if the index holds it in the text of at least one relevant file (the loader may drop
what the raw file has: markup, includes); those dropped are counted. Files named
``questions.jsonl`` and anything under ``.rag`` are left out. Sampling is seeded and
stratified: the kinds of name take turns, each in its own shuffled order.

``--headings`` adds section headings of two or more words as a kind of query
(``heading``): the heading paths the index stores for each chunk, as the loaders
rendered them; relevant = the files with that heading (compared without case), kept
when 1 to ``--max-files`` files have it.

``--questions FILE`` takes the queries from a question file instead (``rag eval``'s
JSONL; relevant paths resolve as ``rag eval`` resolves them) and reports per ``kind``.

Without ``--index``, FOLDER is copied to ``--work`` (default
``/tmp/known_items/<name>``, outside FOLDER so no ``.rag`` lands there) and ingested
there with the default settings; a later run reuses that index (ingest is incremental).
With ``--index``, FOLDER may be left out: the indexed files are the corpus.

Each configuration is searched in-process (``ragcli.Index.search``) once per ``k`` with
``-k`` = k chunks, as ``rag search -k`` would, and the hits are rolled up into files in
rank order: hit@1 (a relevant file first), hit@5 (one in the first five files; k >= 5)
and MRR (1 / rank of the first relevant file, 0 if none in the k chunks). ``prefix`` is
the share of queries whose k hits are the first k hits of the largest k asked for (the
same chunks in the same order), ``scores`` the share where their scores are the same
too: both 1.000 when the ranking does not depend on k. Query vectors
are embedded once and reused by every configuration and k.

Configurations: ``--modes`` (each a mode with the index's settings, reranking off), plus
each ``--config NAME:key=value,...``: keys are settings (``Settings``) or search
parameters (``SearchParams``), e.g. ``--config rrf:mode=hybrid,fusion=rrf,alpha=0.5``
or ``--config hybrid:alpha=0.5`` (a NAME that is a mode sets the mode; the row is then
labelled with the whole spec). ``rerank=on`` turns the cross-encoder on.

``--baseline OLD.json`` compares with an earlier ``--json`` report of the same queries
(the same folder, seed and options; the index rebuilt or the code changed): each
configuration and k present in both, hit@1 before and after, and the queries won and
lost. The JSON report keeps each query's rank (the first relevant file's, null if none).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ragcli.config import Settings  # noqa: E402
from ragcli.types import SearchParams  # noqa: E402

MODES = ("sparse", "dense", "hybrid")
SKIPPED_NAMES = {"questions.jsonl"}
# the extensions a file name or path ends with, as a regex alternation
FILE_EXTENSIONS = (
    "py|rst|md|txt|toml|json|jsonl|yaml|yml|cfg|ini|html|htm|js|ts|css|sh|bat|c|h|cpp|hpp|"
    "rs|go|java|rb|php|sql|xml|csv|tsv|ipynb|pyi|in|lock"
)
KINDS = ("flag", "path", "filename", "dotted", "constant", "snake", "camel", "digits")
HEADING = "heading"
MAX_CHARS = 80

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+|www\.\S+")
# A maximal run of name characters, or a --flag.
_RUN = re.compile(r"(?<![\w-])--[a-zA-Z][\w-]*[a-zA-Z0-9]|[\w][\w./-]*[\w]")
_EXT = FILE_EXTENSIONS
_PATTERNS = {
    "flag": re.compile(r"--[a-zA-Z][a-zA-Z0-9]*(?:-[a-zA-Z0-9]+)*"),
    "path": re.compile(rf"[\w.-]+(?:/[\w.-]+)+\.(?:{_EXT})"),
    "filename": re.compile(rf"[\w-]+(?:\.[\w-]+)*\.(?:{_EXT})"),
    "dotted": re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"),
    "constant": re.compile(r"_*[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+_*"),
    "snake": re.compile(r"_*[A-Za-z][A-Za-z0-9]*(?:_+[A-Za-z0-9]+)+_*"),
    "camel": re.compile(r"_?(?:[a-z][a-z0-9]*[A-Z]|[A-Z][a-z0-9]+[A-Z])\w*"),
    "digits": re.compile(r"[A-Za-z_]+[0-9]\w*"),
}
# hashes, colours and hex ids: a run of 6+ hex digits with a digit in it
_HEXISH = re.compile(r"(?<![0-9a-zA-Z])(?=[a-fA-F]*[0-9])[0-9a-fA-F]{6,}(?![0-9a-zA-Z])")


# ----------------------------------------------------------------------------- names


def name_kind(token: str) -> str | None:
    """The kind of name a token is (the first of :data:`KINDS` it matches), else None."""
    if len(token) > MAX_CHARS or _HEXISH.search(token):
        return None
    for kind in KINDS:
        if _PATTERNS[kind].fullmatch(token):
            if kind == "digits" and not re.search(r"[A-Za-z]{2}", token):
                return None  # x86, a1b2: too little name around the digits
            return kind
    return None


def names_in(text: str, min_chars: int = 6) -> dict[str, str]:
    """``{name: kind}`` of the maximal name runs in ``text`` (URLs left out)."""
    text = _URL.sub(" ", text)
    found: dict[str, str] = {}
    for match in _RUN.finditer(text):
        token = match.group().rstrip(".-/")
        if len(token.lstrip("-")) < min_chars or token in found:  # --host is a word
            continue
        kind = name_kind(token)
        if kind is not None:
            found[token] = kind
    return found


def occurrence(name: str) -> re.Pattern[str]:
    """Where ``name`` occurs: its exact text, no word character or hyphen either side."""
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")


def occurs_in(name: str, text: str, pattern: re.Pattern[str] | None = None) -> bool:
    return name in text and bool((pattern or occurrence(name)).search(text))


# ----------------------------------------------------------------------------- corpus


@dataclass
class CorpusFile:
    source: str  # as the index names it (hit.chunk.source)
    path: str  # absolute
    raw: str  # the file's text (the indexed text if the file is not UTF-8 text)
    indexed: str  # the text of its chunks in the index
    headings: set[str] = field(default_factory=set)  # the headings of its chunks


def read_raw(path: str) -> str | None:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def indexed_texts(index: Any) -> tuple[dict[str, str], dict[str, set[str]]]:
    """``{absolute file: its chunks' text}`` and ``{absolute file: its chunks' headings}``
    from the local store's catalog."""
    store = index.store
    catalog = getattr(store, "catalog", None)
    if catalog is None:
        raise SystemExit("known_items.py: only local indexes are supported (no catalog)")
    texts: dict[str, list[str]] = {}
    headings: dict[str, set[str]] = {}
    rows = catalog.db.execute(
        "SELECT d.file, c.text, c.heading FROM chunks c JOIN documents d USING (doc_id) "
        "ORDER BY c.chunk_id"
    )
    for file, text, heading in rows:
        texts.setdefault(file, []).append(text)
        if heading:
            headings.setdefault(file, set()).update(json.loads(heading))
    return {file: "\n".join(parts) for file, parts in texts.items()}, headings


def skipped_file(path: str) -> bool:
    parts = Path(path).parts
    return Path(path).name in SKIPPED_NAMES or ".rag" in parts


def corpus_files(index: Any) -> list[CorpusFile]:
    """The indexed files, sorted by source (questions files and .rag left out)."""
    indexed, headings = indexed_texts(index)
    sources: dict[str, str] = {}
    for doc in index.store.documents():
        sources.setdefault(doc.file, doc.source)
    files = []
    for path, source in sorted(sources.items(), key=lambda item: item[1]):
        if skipped_file(path):
            continue
        text = indexed.get(path, "")
        raw = read_raw(path) or text
        files.append(CorpusFile(source, path, raw, text, headings.get(path, set())))
    return files


# ----------------------------------------------------------------------------- queries


@dataclass
class Query:
    id: str
    text: str
    kind: str
    relevant: set[str]  # sources


@dataclass
class Sampling:
    candidates: dict[str, int] = field(default_factory=dict)  # per kind, before checks
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def _named_files(name: str, kind: str, files: Sequence[CorpusFile]) -> set[str]:
    """For a file name or path: the indexed files it names."""
    if kind not in ("filename", "path"):
        return set()
    tail = "/" + name.lstrip("./")
    return {f.source for f in files if f.path.replace(os.sep, "/").endswith(tail)}


def _heading_candidates(files: Sequence[CorpusFile], min_chars: int) -> dict[str, set[str]]:
    """``{heading: the sources that have it}`` for headings of two or more words."""
    by_text: dict[str, set[str]] = {}
    shown: dict[str, str] = {}
    for file in files:
        for heading in file.headings:
            text = " ".join(heading.split())
            if len(text) < min_chars or len(text.split()) < 2:
                continue
            key = text.casefold()
            shown.setdefault(key, text)
            by_text.setdefault(key, set()).add(file.source)
    return {shown[key]: sources for key, sources in by_text.items()}


def known_item_queries(
    files: Sequence[CorpusFile],
    n: int = 150,
    seed: int = 21,
    max_files: int = 3,
    min_chars: int = 6,
    headings: bool = False,
) -> tuple[list[Query], Sampling]:
    """Up to ``n`` names that occur in 1..``max_files`` files (see the module docstring),
    and with ``headings`` section headings that as many files have."""
    seen_in: dict[str, set[int]] = {}
    kinds: dict[str, str] = {}
    for number, file in enumerate(files):
        for name, kind in names_in(file.raw, min_chars).items():
            seen_in.setdefault(name, set()).add(number)
            kinds[name] = kind
    sampling = Sampling()
    order = (*KINDS, HEADING) if headings else KINDS
    by_kind: dict[str, list[str]] = {kind: [] for kind in order}
    for name in sorted(seen_in):
        if len(seen_in[name]) <= max_files:  # as a whole run; checked exactly below
            by_kind[kinds[name]].append(name)
    heading_files = _heading_candidates(files, min_chars) if headings else {}
    if headings:
        by_kind[HEADING] = sorted(
            h for h, found in heading_files.items() if len(found) <= max_files
        )
    rng = random.Random(seed)
    for kind in order:
        rng.shuffle(by_kind[kind])
        sampling.candidates[kind] = len(by_kind[kind])
    queries: list[Query] = []
    cursors = {kind: 0 for kind in order}
    while len(queries) < n and any(cursors[k] < len(by_kind[k]) for k in order):
        for kind in order:
            if len(queries) >= n or cursors[kind] >= len(by_kind[kind]):
                continue
            name = by_kind[kind][cursors[kind]]
            cursors[kind] += 1
            if kind == HEADING:
                query: Query | None = Query("", name, kind, set(heading_files[name]))
            else:
                query = _checked(name, kind, files, max_files, sampling)
            if query is not None:
                query.id = f"{kind}-{len(queries) + 1:03d}"
                queries.append(query)
    return queries, sampling


def _checked(
    name: str,
    kind: str,
    files: Sequence[CorpusFile],
    max_files: int,
    sampling: Sampling,
) -> Query | None:
    pattern = occurrence(name)
    relevant = {f.source for f in files if occurs_in(name, f.raw, pattern)}
    relevant |= _named_files(name, kind, files)
    if not relevant:
        sampling.reject("no exact occurrence")
        return None
    if len(relevant) > max_files:
        sampling.reject(f"in more than {max_files} files")
        return None
    if not any(name in f.indexed for f in files if f.source in relevant):
        sampling.reject("not in the indexed text")
        return None
    return Query("", name, kind, relevant)


def questions_file_queries(index: Any, path: Path) -> tuple[list[Query], list[str]]:
    """The judged questions of a ``rag eval`` question file, relevant ids resolved as
    ``rag eval`` resolves them; and the relevant ids that name nothing indexed."""
    from ragcli.evaluate import Target, read_questions

    target = Target(index=index, chunk_size=None)
    target.scan()
    qset = read_questions(path)
    question_dir = path.resolve().parent
    queries, unknown = [], []
    for q in qset.questions:
        relevant = set()
        for doc in q.relevant:
            source = target.source_of(doc, question_dir)
            if source is None:
                unknown.append(f"{q.id}: {doc}")
            else:
                relevant.add(source)
        if relevant:
            queries.append(Query(q.id, q.text, q.kind or "(no kind)", relevant))
    return queries, unknown


# ----------------------------------------------------------------------------- configs


def parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("on", "true", "yes"):
        return True
    if lowered in ("off", "false", "no"):
        return False
    if lowered in ("none", "null", "auto"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


@dataclass
class Config:
    name: str
    overrides: dict[str, Any]

    def params(self, settings: Settings, k: int) -> SearchParams:
        """The search parameters at ``k``: the settings, then the overrides (settings
        keys through ``Settings.with_overrides``, other ``SearchParams`` keys on top)."""
        known = {f.name for f in dataclasses.fields(Settings)}
        as_settings = {key: v for key, v in self.overrides.items() if key in known}
        extra = {key: v for key, v in self.overrides.items() if key not in known}
        merged = dataclasses.replace(settings.with_overrides(**as_settings), rerank=False)
        if "rerank" in as_settings:
            merged = dataclasses.replace(merged, rerank=as_settings["rerank"])
        return dataclasses.replace(merged.search_params(), **extra, k=k)


def parse_config(spec: str) -> Config:
    """``NAME:key=value,...``, ``NAME`` (a mode) or ``key=value,...``."""
    name, sep, rest = spec.partition(":")
    if not sep and "=" in name:
        name, rest = spec, spec
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"--config {spec!r}: {item!r} is not key=value")
        overrides[key.strip().replace("-", "_")] = parse_value(value)
    if "mode" not in overrides and name in MODES:
        overrides["mode"] = name
        name = spec
    fields = {f.name for f in dataclasses.fields(Settings)} | {
        f.name for f in dataclasses.fields(SearchParams)
    }
    unknown = sorted(set(overrides) - fields - {"k"})
    if unknown:
        raise SystemExit(f"--config {spec!r}: unknown key(s) {', '.join(unknown)}")
    if "k" in overrides:
        raise SystemExit(f"--config {spec!r}: k is set by --k")
    return Config(name, overrides)


# ----------------------------------------------------------------------------- runs


def ranked_sources(hits: Iterable[Any]) -> list[str]:
    ranked: list[str] = []
    for hit in sorted(hits, key=lambda h: h.rank):
        if hit.chunk.source not in ranked:
            ranked.append(hit.chunk.source)
    return ranked


def first_relevant(ranked: Sequence[str], relevant: set[str]) -> int | None:
    return next((i + 1 for i, source in enumerate(ranked) if source in relevant), None)


def score(ranked: Sequence[str], relevant: set[str], k: int) -> dict[str, float | None]:
    rank = first_relevant(ranked, relevant)
    return {
        "hit@1": float(rank == 1),
        "hit@5": float(rank is not None and rank <= 5) if k >= 5 else None,
        "mrr": 1.0 / rank if rank else 0.0,
    }


def mean_of(values: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for metric in ("hit@1", "hit@5", "mrr"):
        scored = [v[metric] for v in values if v[metric] is not None]
        out[metric] = round(sum(scored) / len(scored), 4) if scored else None
    return out


def run_config(index: Any, queries: Sequence[Query], config: Config, k: int) -> dict[str, Any]:
    params = config.params(index.settings, k)
    per_query: dict[str, dict[str, float | None]] = {}
    ranks: dict[str, int | None] = {}
    lists: dict[str, list[tuple[int | None, float]]] = {}
    started = time.perf_counter()
    for query in queries:
        hits = index.search(query.text, params=params)
        ranked = ranked_sources(hits)
        per_query[query.id] = score(ranked, query.relevant, k)
        ranks[query.id] = first_relevant(ranked, query.relevant)
        lists[query.id] = [(hit.chunk.chunk_id, hit.score) for hit in hits]
    seconds = time.perf_counter() - started
    by_kind: dict[str, Any] = {}
    for kind in dict.fromkeys(q.kind for q in queries):
        values = [per_query[q.id] for q in queries if q.kind == kind]
        by_kind[kind] = {"n": len(values), **mean_of(values)}
    return {
        "config": config.name,
        "k": k,
        "n": len(queries),
        **mean_of(list(per_query.values())),
        "by_kind": by_kind,
        "missed_at_1": [q.id for q in queries if not per_query[q.id]["hit@1"]],
        "ranks": ranks,
        "hits": lists,  # (chunk id, score) in rank order; for prefix_agreement, not saved
        "ms_per_query": round(1000 * seconds / max(1, len(queries)), 1),
    }


def prefix_agreement(results: list[dict[str, Any]]) -> None:
    """Mark each row with the share of queries whose hits at this k are the first hits at
    the largest k of the same configuration: ``prefix`` the same chunks in the same
    order, ``same_scores`` also with the same scores (to 1e-6); "the same ranking at any
    k" is 1.000 for both. None for the largest k itself."""
    largest: dict[str, dict[str, Any]] = {}
    for row in results:
        if row["config"] not in largest or row["k"] > largest[row["config"]]["k"]:
            largest[row["config"]] = row
    for row in results:
        top = largest[row["config"]]
        row["prefix"] = row["same_scores"] = None
        if top is not row and row["hits"]:
            pairs = [(hits, top["hits"][qid]) for qid, hits in row["hits"].items()]
            row["prefix"] = _share(_is_prefix(a, b, scores=False) for a, b in pairs)
            row["same_scores"] = _share(_is_prefix(a, b, scores=True) for a, b in pairs)
    for row in results:
        row.pop("hits")


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return round(sum(values) / len(values), 4)


def _is_prefix(short: list[tuple[Any, float]], long: list[tuple[Any, float]], scores: bool) -> bool:
    head = long[: len(short)]
    return len(head) == len(short) and all(
        a[0] == b[0] and (not scores or abs(a[1] - b[1]) <= 1e-6)
        for a, b in zip(short, head, strict=True)
    )


# ----------------------------------------------------------------------------- index


def open_index(folder: Path | None, index_dir: Path | None, work: Path | None) -> Any:
    from ragcli.index import Index

    if index_dir is not None:
        index = Index(index_dir)
        if not index.exists():
            raise SystemExit(f"{index_dir}: no index there")
        return index
    if folder is None:
        raise SystemExit("give FOLDER or --index")
    folder = folder.resolve()
    copy = (work or Path("/tmp/known_items") / folder.name).resolve()
    if copy == folder or folder in copy.parents:
        raise SystemExit(f"--work {copy} must be outside {folder}")
    if not copy.exists():
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".rag"))
    index = Index(copy / ".rag" / "default", base_dir=copy)
    started = time.perf_counter()
    report = index.ingest([copy])
    print(
        f"index {index.path}: {report.documents} documents, {report.chunks} chunks "
        f"({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    return index


def share_query_vectors(index: Any, queries: Sequence[Query], configs: Sequence[Config]):
    from ragcli.evaluate import QueryVectorCache

    cache = QueryVectorCache(index.query_encoder)
    index.query_encoder = cache
    if any(c.overrides.get("mode", index.settings.mode) != "sparse" for c in configs):
        cache.prime([q.text for q in queries])


# ----------------------------------------------------------------------------- output


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(report: dict[str, Any], by_kind: bool) -> str:
    lines = [
        f"{report['what']}: {report['n_queries']} queries, {report['n_files']} files, "
        f"index {report['index']}",
        f"{'config':<28} {'k':>3} {'hit@1':>6} {'hit@5':>6} {'mrr':>6} {'prefix':>6} {'scores':>6}",
    ]
    for row in report["results"]:
        lines.append(
            f"{row['config']:<28} {row['k']:>3} {_cell(row['hit@1']):>6} "
            f"{_cell(row['hit@5']):>6} {_cell(row['mrr']):>6} {_cell(row.get('prefix')):>6} "
            f"{_cell(row.get('same_scores')):>6}"
        )
    if by_kind:
        ks = list(dict.fromkeys(row["k"] for row in report["results"]))
        lines += ["", "hit@1 by kind and k (mrr at the largest k):"]
        head = f"{'kind':<12} {'n':>4} {'config':<28}" + "".join(f" {'k=' + str(k):>6}" for k in ks)
        lines.append(head + f" {'mrr':>6}")
        kinds = list(report["results"][0]["by_kind"]) if report["results"] else []
        configs = list(dict.fromkeys(row["config"] for row in report["results"]))
        for kind in kinds:
            for name in configs:
                rows = {r["k"]: r for r in report["results"] if r["config"] == name}
                n = rows[ks[0]]["by_kind"][kind]["n"]
                cells = "".join(f" {_cell(rows[k]['by_kind'][kind]['hit@1']):>6}" for k in ks)
                mrr = _cell(rows[ks[-1]]["by_kind"][kind]["mrr"])
                lines.append(f"{kind:<12} {n:>4} {name:<28}{cells} {mrr:>6}")
    return "\n".join(lines) + "\n"


def compare(report: dict[str, Any], baseline: dict[str, Any], shown: int = 8) -> str:
    """hit@1 of each configuration and k in both reports, and the queries won and lost."""
    old_queries = {q["id"]: q["query"] for q in baseline["queries"]}
    new_queries = {q["id"]: q["query"] for q in report["queries"]}
    if old_queries != new_queries:
        return "baseline: not the same queries (folder, seed or options differ); no comparison\n"
    old_rows = {(r["config"], r["k"]): r for r in baseline["results"]}
    lines = [
        f"against {baseline.get('index', '?')}:",
        f"{'config':<28} {'k':>3} {'before':>7} {'after':>7}",
    ]
    for row in report["results"]:
        old = old_rows.get((row["config"], row["k"]))
        if old is None:
            continue
        lost = [i for i in row["missed_at_1"] if i not in old["missed_at_1"]]
        won = [i for i in old["missed_at_1"] if i not in row["missed_at_1"]]
        lines.append(
            f"{row['config']:<28} {row['k']:>3} {_cell(old['hit@1']):>7} {_cell(row['hit@1']):>7}"
            f"  won {len(won)}: {_names(won, new_queries, shown)}"
            f"  lost {len(lost)}: {_names(lost, new_queries, shown)}"
        )
    return "\n".join(lines) + "\n"


def _names(ids: Sequence[str], texts: dict[str, str], shown: int) -> str:
    names = ", ".join(texts[i] for i in ids[:shown])
    return names + (", ..." if len(ids) > shown else "")


def save_queries(path: Path, queries: Sequence[Query], files: Sequence[CorpusFile]) -> None:
    """The queries as a ``rag eval`` question file, relevant paths relative to it."""
    where = {f.source: f.path for f in files}
    base = path.resolve().parent
    with path.open("w", encoding="utf-8") as out:
        for q in queries:
            relevant = {os.path.relpath(where[s], base): 1 for s in sorted(q.relevant)}
            record = {
                "id": q.id,
                "question": q.text,
                "relevant": relevant,
                "kind": q.kind,
            }
            out.write(json.dumps(record) + "\n")


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--index", type=Path, help="an existing index folder")
    parser.add_argument("--work", type=Path, help="where FOLDER is copied and indexed")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--max-files", type=int, default=3)
    parser.add_argument("--min-chars", type=int, default=6)
    parser.add_argument("--k", default="1,5,10")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--config", action="append", default=[], metavar="NAME:key=v,...")
    parser.add_argument("--questions", type=Path, help="queries from a rag eval question file")
    parser.add_argument("--save-queries", type=Path, help="write the queries as JSONL")
    parser.add_argument("--by-kind", action="store_true", help="also a table per kind")
    parser.add_argument("--headings", action="store_true", help="also section headings")
    parser.add_argument("--baseline", type=Path, help="an earlier --json report to compare")
    parser.add_argument("--json", nargs="?", const="-", help="JSON report to a file or -")
    args = parser.parse_args(argv)

    ks = [int(k) for k in args.k.split(",") if k.strip()]
    configs = [parse_config(m) for m in args.modes.split(",") if m.strip()]
    configs += [parse_config(spec) for spec in args.config]
    load_before = loadavg()
    index = open_index(args.folder, args.index, args.work)
    files = corpus_files(index)
    extra: dict[str, Any] = {}
    if args.questions:
        queries, unknown = questions_file_queries(index, args.questions)
        what = f"questions {args.questions}"
        extra["unknown_relevant"] = unknown
    else:
        queries, sampling = known_item_queries(
            files,
            args.queries,
            args.seed,
            args.max_files,
            args.min_chars,
            args.headings,
        )
        what = f"known items of {args.folder or index.base_dir} (seed {args.seed})"
        extra["sampling"] = dataclasses.asdict(sampling)
        if args.save_queries:
            save_queries(args.save_queries, queries, files)
    if not queries:
        raise SystemExit("no queries")
    share_query_vectors(index, queries, configs)
    results = [run_config(index, queries, c, k) for c in configs for k in ks]
    prefix_agreement(results)
    report = {
        "what": what,
        "index": str(index.path),
        "n_files": len(files),
        "n_queries": len(queries),
        "configs": {c.name: c.overrides for c in configs},
        "results": results,
        "queries": [
            {
                "id": q.id,
                "query": q.text,
                "kind": q.kind,
                "relevant": sorted(q.relevant),
            }
            for q in queries
        ],
        "loadavg": {"before": load_before, "after": loadavg()},
        **extra,
    }
    if args.json == "-":
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(table(report, args.by_kind or bool(args.questions)))
    if args.baseline:
        sys.stdout.write(compare(report, json.loads(args.baseline.read_text(encoding="utf-8"))))
    print(f"loadavg before: {load_before}; after: {report['loadavg']['after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
