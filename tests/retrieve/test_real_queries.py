"""Queries people and agents type: names are terms, exact matches stay on top, the
ranking is the same at any k, title-only records are found, old indexes keep working."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest

from ragcli.config import Settings
from ragcli.index import Index
from ragcli.retrieve import FUSIONS, POOL_FLOOR
from ragcli.text import tokenize
from ragcli.types import SearchFilter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"

NAMES_DOC = """# Array fields

The dtype of an array has fields. Each fields entry maps a name to a dtype, and a
structured dtype lists its fields in order. See the fields of a dtype below.

Use `np.cumsum` for running sums; the `invalid_raise` argument of genfromtxt decides
whether a bad line raises. Migration rule NPY201 flags removed aliases.
"""
GUIDE_DOC = """# Guide

## Quasar tuning

""" + " ".join(
    f"Step {n}: turn the left knob until the needle rests, then note the reading."
    for n in range(1, 12)
)
WHOLE_NAME_DOC = """# Record layout

The attribute dtype.fields is a mapping or None.
"""


# Small chunks, so the index (about 450 chunks) is several times the candidate pools.
SETTINGS = Settings(chunk_size=24, chunk_overlap=4)


@pytest.fixture(scope="module")
def project(tmp_path_factory, embed_model_path) -> Path:
    """The example corpus plus two short files about names, and one file (the Tesla
    article) carrying a made-up identifier once, ingested once in small chunks."""
    root = tmp_path_factory.mktemp("names")
    shutil.copytree(EXAMPLES, root / "docs")
    (root / "docs" / "arrays.md").write_text(NAMES_DOC)
    (root / "docs" / "layout.md").write_text(WHOLE_NAME_DOC)
    (root / "docs" / "guide.md").write_text(GUIDE_DOC)
    tesla = root / "docs" / "nikola_tesla.txt"
    tesla.write_text(tesla.read_text() + "\nThe frobnicate_widget setting was never his.\n")
    report = Index(root / ".rag" / "default", settings=SETTINGS).ingest([root / "docs"])
    assert report.chunks > 3 * POOL_FLOOR
    return root


@pytest.fixture
def index(project) -> Index:
    return Index(project / ".rag" / "default", settings=SETTINGS)


@pytest.mark.parametrize(
    ("name", "whole", "parts"),
    [
        ("dtype.fields", "dtype.fields", ["dtype", "field"]),
        ("invalid_raise", "invalid_raise", ["invalid", "rais"]),
        ("PyArray_PromoteDTypeSequence", "pyarray_promotedtypesequence", ["promot", "dtype"]),
        ("NPY201", "npy201", ["201"]),
        ("int64", "int64", ["int", "64"]),
        ("--long-flag", "--long-flag", ["long", "flag"]),
        ("CONFIG_KEYS", "config_keys", ["config", "key"]),
        ("docs/config.rst", "docs/config.rst", ["config", "rst"]),
        ("CORSMiddleware", "corsmiddleware", ["cor", "middlewar"]),
    ],
)
def test_names_are_terms_whole_and_in_parts(name, whole, parts):
    terms = tokenize(f"see {name} here")
    assert whole in terms
    assert set(parts) <= set(terms)


def test_a_dotted_name_is_also_found_by_its_runs_of_segments():
    terms = tokenize("flask.Flask.route")
    assert {"flask.flask.route", "flask.route", "flask.flask"} <= set(terms)


def test_prose_is_analysed_as_before():
    old = {"stemmer": "english", "stopwords": "en"}
    prose = "The well-known engines, running at 3.14 bar in 1886, were Tesla's (and NASA's)."
    assert tokenize(prose) == tokenize(prose, old)


def test_a_whole_name_query_prefers_the_chunk_holding_the_whole_name(index):
    hits = index.search("dtype.fields", k=3, mode="sparse", rerank=False)
    assert hits[0].chunk.source == "docs/layout.md"
    hits = index.search("dtype.fields", k=3, rerank=False)
    assert hits[0].chunk.source == "docs/layout.md"


@pytest.mark.parametrize("k", [1, 2, 5, 10])
@pytest.mark.parametrize("query", ["frobnicate_widget", "NPY201", "invalid_raise"])
def test_a_rare_exact_name_is_first_at_every_k(index, query, k):
    hits = index.search(query, k=k, rerank=False)
    expected = "docs/nikola_tesla.txt" if query == "frobnicate_widget" else "docs/arrays.md"
    assert hits[0].chunk.source == expected


def _ranking(index, query, k, **options):
    hits = index.search(query, k=k, rerank=False, **options)
    return [(h.chunk.chunk_id, round(h.score, 9)) for h in hits]


QUERIES = ["who founded the company in 1886", "moon landing", "dtype.fields"]
FILTERS = [None, SearchFilter(kinds=["markdown"]), SearchFilter(paths=["docs/*.txt"])]


@pytest.mark.slow
@pytest.mark.parametrize("fusion", FUSIONS)
def test_hybrid_top_n_is_a_prefix_of_any_larger_k(index, fusion):
    """For every fusion, k up to the pool floor's reach gives the same ranking and the
    same scores; linear ranks the whole index, so it holds at every k."""
    reach = POOL_FLOOR // index.settings.pool_factor
    ks = [1, 3, 8, reach] + ([45, 90, 200] if fusion == "linear" else [])
    for query, filters in itertools.product(QUERIES, FILTERS):
        runs = {k: _ranking(index, query, k, fusion=fusion, filters=filters) for k in ks}
        for small, large in itertools.combinations(ks, 2):
            assert runs[large][:small] == runs[small], (query, filters, small, large)


@pytest.mark.slow
def test_linear_ranks_the_whole_index_even_when_the_pools_are_too_shallow(index, monkeypatch):
    """With pools of k chunks (no floor) the k-th best fused chunk is often not provably
    above every chunk outside them: the lists are deepened until it is, so the hits are
    the top of the blend over every chunk of the index."""
    import numpy as np

    from ragcli import retrieve
    from ragcli.retrieve import linear, query_alpha

    monkeypatch.setattr(retrieve, "POOL_FLOOR", 1)
    monkeypatch.setattr(retrieve, "LINEAR_FIRST_POOL", 1)
    store = index.store
    every = np.asarray(sorted(store.catalog.chunks(range(10_000))), dtype=np.int64)
    for query in QUERIES:
        vector = index.query_encoder.encode_query(query)
        fused = linear(
            store.dense_scores(every, vector).astype(np.float64),
            store.sparse_scores(every, query).astype(np.float64),
            query_alpha(query, index.settings.search_params()),
            store.sparse_ceiling(query),
        )
        expected = every[np.lexsort((every, -fused))].tolist()
        for k in (1, 2, 5, 20, 60):
            hits = index.search(query, k=k, pool_factor=1, rerank=False)
            assert [h.chunk.chunk_id for h in hits] == expected[:k], (query, k)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_one_side_top_n_is_a_prefix_of_any_larger_k(index, mode):
    ks = [1, 5, 40, 200]
    for query, filters in itertools.product(QUERIES, FILTERS):
        runs = {k: _ranking(index, query, k, mode=mode, filters=filters) for k in ks}
        for small, large in itertools.combinations(ks, 2):
            assert runs[large][:small] == runs[small], (query, filters, small, large)


def test_linear_scores_are_the_formula_and_a_filter_does_not_change_them(index):
    alpha = 0.5
    ceiling = index.store.sparse_ceiling("energy")
    assert ceiling > 0
    everything = index.search("energy", k=60, rerank=False, fusion="linear", alpha=alpha)
    for hit in everything:
        assert hit.score == pytest.approx(alpha * hit.dense + (1 - alpha) * hit.sparse / ceiling)
        assert hit.sparse < ceiling
    scores = {hit.chunk.chunk_id: hit.score for hit in everything}
    filtered = index.search(
        "energy",
        k=5,
        rerank=False,
        fusion="linear",
        alpha=alpha,
        filters=SearchFilter(kinds=["html"]),
    )
    assert filtered
    for hit in filtered:
        assert hit.chunk.source.endswith(".html")
        if hit.chunk.chunk_id in scores:
            assert hit.score == pytest.approx(scores[hit.chunk.chunk_id])


def test_every_chunk_of_a_section_matches_the_section_heading(index):
    from ragcli.text import sparse_text

    assert sparse_text("Doc", ("Setup", "Install"), "pip install it").startswith("Setup Install")
    assert sparse_text("Doc", ("Setup",), "Setup\nfirst words") == "Doc\nSetup\nfirst words"
    section = [
        hit
        for hit in index.search("knob needle", k=50, mode="sparse", rerank=False)
        if hit.chunk.source == "docs/guide.md"
    ]
    assert len(section) >= 3
    by_heading = index.search("quasar tuning", k=len(section), mode="sparse", rerank=False)
    assert {h.chunk.chunk_id for h in by_heading} == {h.chunk.chunk_id for h in section}


def test_a_title_only_record_is_indexed_by_its_title(tmp_path, embed_model_path):
    records = [
        {"_id": "a", "title": "Boundary layer transition on swept wings", "text": ""},
        {"_id": "b", "title": "Heat transfer", "text": "Heat moves through a wall by conduction."},
        {"_id": "c", "title": "", "text": "Pressure rises behind a shock wave."},
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    index = Index(tmp_path / ".rag" / "default")
    report = index.ingest([corpus])
    assert report.documents == 3 and report.chunks == 3
    hits = index.search("boundary layer transition swept wings", k=1, mode="sparse")
    assert hits[0].chunk.doc_id == "a"


def test_an_index_with_the_older_analysis_is_searched_with_it_then_reanalysed(
    tmp_path, embed_model_path, monkeypatch, capsys
):
    from ragcli.store import sparse

    older = {key: value for key, value in sparse.DEFAULT_PARAMS.items() if key != "names"}
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "arrays.md").write_text(NAMES_DOC)
    (docs / "layout.md").write_text(WHOLE_NAME_DOC)
    index_dir = tmp_path / ".rag" / "default"
    with monkeypatch.context() as patch:
        patch.setattr(sparse, "DEFAULT_PARAMS", older)
        Index(index_dir).ingest([docs])
    params_file = index_dir / "CURRENT"
    assert params_file.exists()
    index = Index(index_dir)
    assert index.store.manifest["bm25"] == older
    assert index.search("dtype.fields", k=2, mode="sparse")  # read with its own analysis
    vectors_before = (_live(index_dir) / "dense.faiss").read_bytes()

    report = Index(index_dir).ingest([docs])
    assert "rebuilding it with this version's" in capsys.readouterr().err
    assert report.added == [] and report.updated == []
    index = Index(index_dir)
    assert index.store.manifest["bm25"] == sparse.DEFAULT_PARAMS
    assert (_live(index_dir) / "dense.faiss").read_bytes() == vectors_before  # no re-embed
    assert index.search("dtype.fields", k=1, mode="sparse")[0].chunk.source.endswith("layout.md")
    Index(index_dir).ingest([docs])  # now current: nothing to say, nothing written
    assert "rebuilding" not in capsys.readouterr().err


def _live(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def test_words_the_index_lacks_count_in_the_query_weight(examples_project):
    """`moon` is in no chunk of the example corpus: a chunk holding only `land` (on
    deforestation) holds half the query's weight, not all of it, and the Apollo program
    comes first, as the README's worked session shows."""
    index = Index(examples_project / ".rag" / "default")
    assert index.store.sparse_ceiling("moon landing") > index.store.sparse_ceiling("landing")
    hits = index.search("moon landing", k=2, rerank=False)
    assert hits[0].chunk.source.endswith("apollo_program.html")
