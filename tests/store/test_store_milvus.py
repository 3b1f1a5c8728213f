"""The Milvus store against a real Milvus Lite in tmp_path (no server, no mocks).

One store is written once per module and only read by most tests; tests that change a
store make their own small one. Vectors come from the real embedding model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")
pytestmark = pytest.mark.slow  # Milvus Lite

from ragcli.errors import IndexStateError, RagError, UsageError  # noqa: E402
from ragcli.store import milvus  # noqa: E402
from ragcli.store.base import Restriction  # noqa: E402
from ragcli.store.catalog import FileRecord  # noqa: E402
from ragcli.store.milvus import (  # noqa: E402
    MilvusStore,
    MilvusWriter,
    filter_string,
    in_filter,
    parse_store_uri,
)
from ragcli.store.milvus import writer as milvus_writer  # noqa: E402
from ragcli.store.sparse import SparseIndex  # noqa: E402
from ragcli.text import index_text  # noqa: E402
from ragcli.types import (  # noqa: E402
    Chunk,
    Document,
    Location,
    SearchFilter,  # noqa: E402
)
from ragcli.weights import DEFAULT_EMBED_MODEL  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
COLLECTION = "ragcli_default"
NOW = "2026-01-01T00:00:00+00:00"
WEIRD = '/data/we"ird\\dir/notes "quoted".txt'  # a path with a quote and a backslash
QUERIES = [
    "steam engine pressure",
    "plague spread through Europe",
    "alternating current induction motor",
    "rainforest deforestation",
    "who invented the condenser",
    "rats and fleas",
]


# --- a small corpus -------------------------------------------------------------------
def paragraphs(name: str, limit: int = 8) -> list[str]:
    text = (EXAMPLES / name).read_text()
    found = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 60 and p[0] != "#"]
    return found[:limit]


def make_file(path, source, kind, title, texts, first_id, how):
    """A FileRecord and one Document whose chunks are ``texts`` (ids from ``first_id``)."""
    doc = Document(doc_id=source, source=source, title=title, kind=kind, text="\n\n".join(texts))
    chunks, offset = [], 0
    for ordinal, text in enumerate(texts):
        location = {
            "lines": Location(line_start=1 + 3 * ordinal, line_end=2 + 3 * ordinal),
            "heading": Location(heading=(title, f"Part {ordinal}")),
            "page": Location(page=ordinal + 1),
        }[how]
        chunks.append(
            Chunk(
                doc_id=doc.doc_id,
                source=source,
                title=title,
                text=text,
                location=location,
                start=offset,
                end=offset + len(text),
                ordinal=ordinal,
                n_tokens=len(text.split()),
                chunk_id=first_id + ordinal,
            )
        )
        offset += len(text) + 2
    record = FileRecord(path, source, f"sha-{source}", len(doc.text), 1_000 + first_id)
    return record, [(doc, chunks)]


def corpus() -> list[tuple[FileRecord, list]]:
    files, next_id = [], 0
    for path, source, kind, title, name, how in [
        ("/p/docs/amazon.txt", "docs/amazon.txt", "text", "", "amazon_rainforest.txt", "lines"),
        ("/p/docs/tesla.txt", "docs/tesla.txt", "text", "", "nikola_tesla.txt", "lines"),
        (
            "/p/docs/plague.md",
            "docs/plague.md",
            "markdown",
            "Black Death",
            "black_death.md",
            "heading",
        ),
        (
            "/p/papers/steam.pdf",
            "papers/steam.pdf",
            "pdf",
            "Steam engine",
            "steam_engine.md",
            "page",
        ),
        (WEIRD, 'we"ird\\dir/notes "quoted".txt', "text", "", "oxygen.md", "lines"),
    ]:
        texts = paragraphs(name)
        files.append(make_file(path, source, kind, title, texts, next_id, how))
        next_id += len(texts)
    return files


def all_chunks(files) -> list[Chunk]:
    return [chunk for _, docs in files for _, chunks in docs for chunk in chunks]


MANIFEST = {"embed_model": DEFAULT_EMBED_MODEL, "chunk_size": 200}
ROOTS = ["/p"]


def write(uri: str, files, vectors_of, rebuild: bool = False) -> MilvusWriter:
    with MilvusWriter.open(uri, COLLECTION, rebuild=rebuild) as writer:
        for record, docs in files:
            writer.add_file(record, docs, vectors_of(docs), NOW)
        writer.commit(MANIFEST, roots=ROOTS, dimension=384)
    return writer


# --- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder(embed_model_path):
    from ragcli.embed import SentenceTransformerEncoder as Encoder

    return Encoder(DEFAULT_EMBED_MODEL)


@pytest.fixture(scope="module")
def vectors_of(encoder):
    cache: dict[int, np.ndarray] = {}

    def embed(docs) -> np.ndarray:
        chunks = [chunk for _, cs in docs for chunk in cs]
        missing = [c for c in chunks if c.chunk_id not in cache]
        if missing:
            found = encoder.encode([index_text(c.title, c.text) for c in missing])
            cache.update(zip([c.chunk_id for c in missing], found, strict=True))
        return np.asarray([cache[c.chunk_id] for c in chunks], dtype=np.float32).reshape(
            len(chunks), 384
        )

    return embed


@pytest.fixture(scope="module")
def lite_paths():
    """Milvus Lite runs a server per file in this process: stop them after the module."""
    used: list[str] = []
    yield used
    from milvus_lite import server_manager_instance

    for path in used:
        server_manager_instance.release_server(path)


@pytest.fixture
def lite_uri(tmp_path, lite_paths):
    def make(name: str = "index.db") -> str:
        lite_paths.append(str(tmp_path / name))
        return f"milvus-lite:{tmp_path / name}"

    return make


@pytest.fixture(scope="module")
def built(tmp_path_factory, vectors_of, lite_paths):
    """The corpus written once; (uri, files, chunks, vectors by chunk id)."""
    folder = tmp_path_factory.mktemp("milvus")
    lite_paths.append(str(folder / "index.db"))
    uri = f"milvus-lite:{folder / 'index.db'}"
    files = corpus()
    write(uri, files, vectors_of)
    chunks = all_chunks(files)
    vectors = np.vstack([vectors_of(docs) for _, docs in files])
    return uri, files, chunks, vectors


@pytest.fixture(scope="module")
def store(built):
    store = MilvusStore.open(built[0], COLLECTION)
    yield store
    store.close()


@pytest.fixture(scope="module")
def local_bm25(built):
    _, _, chunks, _ = built
    return SparseIndex.build(
        [c.chunk_id for c in chunks], [index_text(c.title, c.text) for c in chunks]
    )


# --- URIs -----------------------------------------------------------------------------
def test_parse_server_uris():
    target = parse_store_uri("milvus://db.example.org")
    assert (target.client_uri, target.db_name, target.lite) == (
        "http://db.example.org:19530",
        "",
        False,
    )
    target = parse_store_uri("milvus+https://db.example.org:443/prod?collection=mine")
    assert target.client_uri == "https://db.example.org:443"
    assert (target.db_name, target.collection) == ("prod", "mine")
    assert target.display == "milvus+https://db.example.org:443/prod?collection=mine"
    assert parse_store_uri("milvus://[::1]:1234").client_uri == "http://[::1]:1234"


def test_parse_lite_uris(tmp_path):
    target = parse_store_uri("milvus-lite:./index.db", base_dir=tmp_path)
    assert target.lite and target.client_uri == str(tmp_path / "index.db")
    assert target.display == "milvus-lite:./index.db" and target.collection is None
    target = parse_store_uri("milvus-lite:idx/x.db?collection=other", base_dir=tmp_path)
    assert (target.client_uri, target.collection) == (str(tmp_path / "idx/x.db"), "other")


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:19530",
        "milvus:/localhost",
        "milvus://",
        "milvus://host:port",
        "milvus://host:1/db/extra",
        "milvus://host:1?other=x",
        "milvus://host:1?collection=bad-name",
        "milvus-lite:",
        "milvus-lite:./index",
        "./index.db",
    ],
)
def test_bad_uris_are_usage_errors_naming_the_uri(uri):
    with pytest.raises(UsageError) as err:
        parse_store_uri(uri)
    message = str(err.value)
    assert f"'{uri}'" in message and "\n" not in message
    assert message.startswith("invalid store URI")


def test_credentials_never_shown(monkeypatch):
    for name in ("RAG_MILVUS_TOKEN", "MILVUS_TOKEN", "RAG_MILVUS_USER", "RAG_MILVUS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    target = parse_store_uri("milvus://alice:s3cr%40tpw@db.example.org:19530/prod")
    assert target.display == "milvus://db.example.org:19530/prod"
    assert "s3cr" not in repr(target) and "s3cr" not in target.client_uri
    assert milvus.milvus_token(target) == "alice:s3cr@tpw"
    monkeypatch.setenv("RAG_MILVUS_USER", "bob")
    monkeypatch.setenv("RAG_MILVUS_PASSWORD", "pw2")
    assert milvus.milvus_token(target) == "bob:pw2"
    monkeypatch.setenv("MILVUS_TOKEN", "tok1")
    assert milvus.milvus_token(target) == "tok1"
    monkeypatch.setenv("RAG_MILVUS_TOKEN", "tok2")
    assert milvus.milvus_token(target) == "tok2"
    with pytest.raises(UsageError) as err:
        parse_store_uri("milvus://alice:s3cretpw@db.example.org:notaport")
    assert "s3cretpw" not in str(err.value) and "db.example.org" in str(err.value)
    with pytest.raises(UsageError) as err:
        parse_store_uri("milvus://alice:s3cret?pw@db.example.org")
    assert "s3cret" not in str(err.value)


def test_filter_strings_are_escaped():
    assert filter_string('a"b\\c') == '"a\\"b\\\\c"'
    assert filter_string("line\nbreak") == '"line\\nbreak"'
    assert in_filter("doc_id", ["x", 'y"']) == 'doc_id in ["x", "y\\""]'
    assert in_filter("chunk_id", [3, 1]) == "chunk_id in [3, 1]"


def test_importing_the_module_does_not_import_pymilvus():
    code = "import sys, ragcli.store.milvus; print('pymilvus' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- errors ---------------------------------------------------------------------------
def test_unreachable_server_fails_fast_without_the_token(monkeypatch):
    monkeypatch.setenv("RAG_MILVUS_TOKEN", "tok-SECRET-123")
    started = time.monotonic()
    with pytest.raises(RagError) as err:
        MilvusStore.open("milvus://127.0.0.1:1", COLLECTION)
    assert time.monotonic() - started < 6
    message = str(err.value)
    assert message.startswith("milvus://127.0.0.1:1: cannot connect to Milvus:")
    assert "\n" not in message and "SECRET" not in message


def test_unreachable_server_with_uri_credentials(monkeypatch):
    monkeypatch.delenv("RAG_MILVUS_TOKEN", raising=False)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    with pytest.raises(RagError) as err:
        MilvusWriter.open("milvus://alice:pw-SECRET@127.0.0.1:1/db", COLLECTION)
    assert "SECRET" not in str(err.value) and "alice" not in str(err.value)


def test_missing_index_is_an_index_state_error(tmp_path, built):
    with pytest.raises(IndexStateError) as err:
        MilvusStore.open(f"milvus-lite:{tmp_path / 'none.db'}", COLLECTION)
    assert "no index here yet" in str(err.value) and "none.db" in str(err.value)
    assert not (tmp_path / "none.db").exists()  # opening to read creates nothing
    with pytest.raises(IndexStateError) as err:
        MilvusStore.open(built[0], "ragcli_other")
    assert "collection 'ragcli_other': no index here yet" in str(err.value)


def test_a_lite_file_in_use_by_another_process(tmp_path, capfd):
    db = tmp_path / "busy.db"
    code = (
        "import sys; from pymilvus import MilvusClient; "
        f"client = MilvusClient({str(db)!r}); print('ready', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(RagError) as err:
            MilvusWriter.open(f"milvus-lite:{db}", COLLECTION)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert str(err.value) == (
        f"milvus-lite:{db}: cannot open Milvus Lite: "
        "another process is using it (Milvus Lite allows one at a time)"
    )
    assert "Traceback" not in capfd.readouterr().err  # pymilvus and Lite log quietly


def test_milvus_errors_are_one_line_rag_errors(store, capfd):
    with pytest.raises(RagError) as err:
        store.dense_search(np.zeros(384, np.float32), 3, Restriction(expression="nope == 1"))
    message = str(err.value)
    assert "Milvus search failed" in message and "nope" in message and "\n" not in message
    assert "Traceback" not in capfd.readouterr().err


# --- reading a written store ----------------------------------------------------------
def test_manifest_counts_and_documents(store, built):
    _, files, chunks, _ = built
    manifest = store.manifest
    assert manifest["embed_model"] == DEFAULT_EMBED_MODEL and manifest["roots"] == ["/p"]
    assert manifest["counts"] == {"files": 5, "documents": 5, "chunks": len(chunks)}
    assert manifest["next_chunk_id"] == len(chunks) and manifest["format_version"] == 1
    assert store.counts() == manifest["counts"] and store.n_chunks == len(chunks)
    assert store.kinds() == {"text": 3, "markdown": 1, "pdf": 1}
    docs = {doc.doc_id: doc for doc in store.documents()}
    assert docs["docs/plague.md"].title == "Black Death"
    assert docs["docs/plague.md"].file == "/p/docs/plague.md"
    assert {doc.file for doc in docs.values()} == {record.path for record, _ in files}


def test_describe_has_no_secrets(built, monkeypatch):
    monkeypatch.setenv("RAG_MILVUS_TOKEN", "tok-SECRET-456")
    store = MilvusStore.open(built[0], COLLECTION)
    info = store.describe()
    store.close()
    assert info["store"] == "milvus-lite" and info["collection"] == COLLECTION
    assert info["uri"] == built[0] and info["counts"]["chunks"] == len(built[2])
    assert "SECRET" not in json.dumps(info)


def test_chunks_round_trip(store, built):
    chunks = built[2]
    wanted = [c.chunk_id for c in chunks] + [10_000]
    found = store.chunks(wanted)
    assert set(found) == {c.chunk_id for c in chunks}
    for chunk in chunks:
        assert found[chunk.chunk_id] == chunk  # text, location (page, heading, lines), offsets
    assert found[chunks[0].chunk_id].location.line_start == 1
    heading = next(c for c in chunks if c.source == "docs/plague.md")
    assert found[heading.chunk_id].location.heading == ("Black Death", "Part 0")


def test_dense_search_and_scores(store, built, encoder):
    _, _, chunks, vectors = built
    ids = np.asarray([c.chunk_id for c in chunks])
    for query in QUERIES:
        vector = encoder.encode_query(query)
        found_ids, found_scores = store.dense_search(vector, 5)
        exact = vectors @ vector
        order = np.lexsort((ids, -exact))[:5]
        assert found_ids.tolist() == ids[order].tolist()
        np.testing.assert_allclose(found_scores, exact[order], atol=1e-5)
        assert found_ids.dtype == np.int64 and found_scores.dtype == np.float32
    some = ids[[3, 0, 7]]
    np.testing.assert_allclose(store.dense_scores(some, vector), exact[[3, 0, 7]], atol=1e-5)


def test_bm25_matches_the_local_sparse_index(store, local_bm25):
    worst = 0.0
    for query in QUERIES:
        want_ids, want_scores, all_scores = local_bm25.search(query, 10)
        got_ids, got_scores = store.sparse_search(query, 10)
        assert got_ids.tolist() == want_ids.tolist(), query
        # Milvus counts a chunk's length with its own tokenizer, which reads a few of
        # ragcli's whole-name terms differently: lengths, and so scores, differ by ~0.1%
        np.testing.assert_allclose(got_scores, want_scores, rtol=3e-3)
        worst = max(worst, float(np.max(np.abs(got_scores - want_scores))))
        # scores of given ids, zeros included
        some = np.asarray([0, 5, 9, 17, 24, 2], dtype=np.int64)
        rows = [int(np.flatnonzero(local_bm25.row_ids == i)[0]) for i in some]
        np.testing.assert_allclose(store.sparse_scores(some, query), all_scores[rows], rtol=3e-3)
    assert worst < 0.02  # absolute, on scores up to about 10


def test_sparse_search_without_known_terms_is_empty(store):
    assert store.sparse_search("the of and it", 5)[0].size == 0  # stopwords only
    assert store.sparse_search("zzxqv", 5)[0].size == 0
    assert not store.sparse_scores(np.asarray([0, 1]), "the").any()


def test_restrict_by_path_kind_and_doc_id(store, encoder):
    vector = encoder.encode_query("engines and energy")
    assert store.restrict(SearchFilter()) is None
    cases = [
        (SearchFilter(paths=["papers/"]), {"papers/steam.pdf"}),
        (SearchFilter(paths=["*.md"]), {"docs/plague.md"}),
        (SearchFilter(kinds=["PDF"]), {"papers/steam.pdf"}),
        (
            SearchFilter(kinds=[".txt"]),
            {"docs/amazon.txt", "docs/tesla.txt", 'we"ird\\dir/notes "quoted".txt'},
        ),
        (SearchFilter(paths=['we"ird*']), {'we"ird\\dir/notes "quoted".txt'}),
        (SearchFilter(doc_ids=["docs/tesla.txt"], kinds=["text"]), {"docs/tesla.txt"}),
    ]
    for filters, sources in cases:
        restriction = store.restrict(filters)
        ids, _ = store.dense_search(vector, 50, restriction)
        assert {c.source for c in store.chunks(ids).values()} == sources, filters
        ids, _ = store.sparse_search("energy heat water", 50, restriction)
        assert {c.source for c in store.chunks(ids).values()} <= sources, filters
    nothing = store.restrict(SearchFilter(kinds=["html"]))
    assert nothing.empty and store.dense_search(vector, 5, nothing)[0].size == 0
    assert store.sparse_search("plague", 5, nothing)[0].size == 0


def test_a_released_collection_is_loaded_again(built):
    from pymilvus import MilvusClient

    target = parse_store_uri(built[0])
    client = MilvusClient(target.client_uri)
    for name in (COLLECTION, COLLECTION + "__meta"):
        client.release_collection(name)
    client.close()
    reopened = MilvusStore.open(built[0], COLLECTION)
    assert reopened.sparse_search("plague", 3)[0].size == 3
    reopened.close()


# --- writing --------------------------------------------------------------------------
def test_remove_update_touch(lite_uri, vectors_of, encoder):
    uri = lite_uri()
    files = corpus()
    write(uri, files, vectors_of)
    plague = next(f for f in files if f[0].source == "docs/plague.md")
    n_plague = len(plague[1][0][1])
    with MilvusWriter.open(uri, COLLECTION) as writer:
        assert writer.manifest["counts"]["files"] == 5 and writer.dimension == 384
        assert writer.file_of_document("docs/plague.md") == "/p/docs/plague.md"
        assert writer.file_of_document("nope") is None
        assert writer.remove_file(WEIRD) == len(files[-1][1][0][1])
        assert writer.remove_file("/p/docs/plague.md") == n_plague
        # the updated file comes back with new chunk ids and text
        first = writer.next_chunk_id()
        texts = ["Fleas on black rats carried the plague bacterium Yersinia pestis."]
        record, docs = make_file(
            "/p/docs/plague.md",
            "docs/plague.md",
            "markdown",
            "Black Death",
            texts,
            first,
            "heading",
        )
        record = FileRecord(record.path, record.source, "sha-new", 10, 20)
        writer.add_file(record, docs, encoder.encode([index_text("Black Death", texts[0])]), NOW)
        tesla = next(f for f in files if f[0].source == "docs/tesla.txt")[0]
        writer.touch_file(FileRecord(tesla.path, tesla.source, tesla.sha256, 99, 12345), NOW)
        writer.commit(MANIFEST, roots=ROOTS, dimension=384)
        assert writer.manifest["counts"]["files"] == 4
    with MilvusWriter.open(uri, COLLECTION) as writer:
        records = writer.files()
        assert set(records) == {f[0].path for f in files[:4]}
        assert (records[tesla.path].size, records[tesla.path].mtime_ns) == (99, 12345)
        assert records["/p/docs/plague.md"].sha256 == "sha-new"
        assert writer.next_chunk_id() == first + 1
    store = MilvusStore.open(uri, COLLECTION)
    total = len(all_chunks(files))
    n_weird = len(files[-1][1][0][1])
    assert store.counts() == {"files": 4, "documents": 4, "chunks": total - n_plague - n_weird + 1}
    ids, _ = store.sparse_search("plague fleas rats", 10)
    plague_hits = [c for c in store.chunks(ids).values() if c.source == "docs/plague.md"]
    assert [c.chunk_id for c in plague_hits] == [first]
    assert not any("quoted" in c.source for c in store.chunks(ids).values())
    assert len(store.documents()) == 4
    store.close()


def test_a_crash_mid_file_is_cleaned_up_by_the_next_writer(lite_uri, vectors_of, monkeypatch):
    uri = lite_uri()
    files = corpus()
    write(uri, files[:2], vectors_of)
    before = len(all_chunks(files[:2]))

    def crash(*args):
        raise RuntimeError("power cut")

    monkeypatch.setattr(milvus_writer, "_file_row", crash)
    with pytest.raises(RuntimeError), MilvusWriter.open(uri, COLLECTION) as writer:
        writer.add_file(files[2][0], files[2][1], vectors_of(files[2][1]), NOW)
    monkeypatch.undo()
    with MilvusWriter.open(uri, COLLECTION) as writer:  # removes the half-written file
        assert files[2][0].path not in writer.files()
        assert writer.next_chunk_id() > max(c.chunk_id for c in all_chunks(files[:3]))
        writer.add_file(files[2][0], files[2][1], vectors_of(files[2][1]), NOW)
        writer.commit(MANIFEST, roots=ROOTS, dimension=384)
    store = MilvusStore.open(uri, COLLECTION)
    assert store.counts()["chunks"] == before + len(all_chunks([files[2]]))
    store.close()


def test_rebuild_drops_at_the_first_write(lite_uri, vectors_of):
    uri = lite_uri()
    files = corpus()
    write(uri, files[:2], vectors_of)
    with MilvusWriter.open(uri, COLLECTION, rebuild=True) as writer:
        assert writer.manifest is None and writer.files() == {} and writer.dimension is None
    store = MilvusStore.open(uri, COLLECTION)  # nothing written: the old index is intact
    assert store.counts()["files"] == 2
    store.close()
    write(uri, files[3:4], vectors_of, rebuild=True)
    store = MilvusStore.open(uri, COLLECTION)
    assert [d.source for d in store.documents()] == ["papers/steam.pdf"]
    assert store.counts()["chunks"] == len(all_chunks(files[3:4]))
    store.close()


def test_an_empty_commit_makes_an_empty_store(lite_uri):
    uri = lite_uri()
    with MilvusWriter.open(uri, COLLECTION) as writer:
        assert writer.manifest is None and writer.next_chunk_id() == 0
        writer.commit(MANIFEST, roots=ROOTS, dimension=384)
    store = MilvusStore.open(uri, COLLECTION)
    assert store.n_chunks == 0 and store.counts() == {"files": 0, "documents": 0, "chunks": 0}
    assert store.sparse_search("anything", 5)[0].size == 0
    assert store.dense_search(np.ones(384, np.float32) / np.sqrt(384), 5)[0].size == 0
    store.close()


def test_collection_from_the_uri_wins(lite_uri, vectors_of):
    uri = lite_uri()
    files = corpus()[:1]
    with MilvusWriter.open(uri + "?collection=custom", COLLECTION) as writer:
        writer.add_file(files[0][0], files[0][1], vectors_of(files[0][1]), NOW)
        writer.commit(MANIFEST, roots=ROOTS, dimension=384)
    store = MilvusStore.open(uri, "custom")
    assert store.describe()["collection"] == "custom" and store.counts()["files"] == 1
    store.close()
    with pytest.raises(IndexStateError):
        MilvusStore.open(uri, COLLECTION)


def test_the_writer_owns_ids_and_dimension_through_a_rebuild(lite_uri, vectors_of, encoder):
    uri = lite_uri()
    write(uri, corpus()[:2], vectors_of)
    texts = ["Fleas on black rats carried the plague."]
    vectors = encoder.encode([index_text("", texts[0])])
    with MilvusWriter.open(uri, COLLECTION, rebuild=True) as writer:
        assert writer.holds_index is False and writer.work_dir is None
        first = writer.take_chunk_ids(3)  # handed out, one of them written so far
        record, docs = make_file("/p/x.txt", "x.txt", "text", "", texts, first[0], "lines")
        writer.add_file(record, docs, vectors, NOW)  # the first write drops the old index
        assert list(first) == [0, 1, 2] and list(writer.take_chunk_ids(2)) == [3, 4]
        writer.commit(MANIFEST, roots=ROOTS)
        assert writer.manifest["next_chunk_id"] == 5 and writer.manifest["roots"] == ROOTS
    with MilvusWriter.open(uri, COLLECTION) as writer:
        assert writer.holds_index and list(writer.take_chunk_ids(1)) == [5]
        record, docs = make_file("/p/y.txt", "y.txt", "text", "", texts, 5, "lines")
        with pytest.raises(IndexStateError, match="holds 384-dimensional vectors but"):
            writer.add_file(record, docs, np.ones((1, 16), np.float32) / 4, NOW)
    store = MilvusStore.open(uri, COLLECTION)
    assert store.counts() == {"files": 1, "documents": 1, "chunks": 1}
    store.close()
