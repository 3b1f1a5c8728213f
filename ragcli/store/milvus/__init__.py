"""The Milvus store: one index in a Milvus collection, on a server or in Milvus Lite.

URIs: ``milvus://HOST:PORT[/DB]``, ``milvus+https://HOST:PORT[/DB]`` or
``milvus-lite:PATH.db``, each with an optional ``?collection=NAME``. Credentials come
from ``RAG_MILVUS_TOKEN`` (or ``MILVUS_TOKEN``), else ``RAG_MILVUS_USER`` +
``RAG_MILVUS_PASSWORD``, else ``user:pass@`` in the URI; no message shows them.

Layout, for a collection ``C`` (ragcli passes ``ragcli_<index name>``):

* ``C`` holds one row per chunk: its text and metadata, the ``dense`` vector (HNSW,
  cosine) and ``sparse``, a BM25 vector Milvus computes from ``terms``;
* ``C__meta`` holds the manifest (key ``manifest``), one row per file (``file:<sha256
  of path>``), one per document (``doc:<sha256 of id>``: a per-file list of documents
  would not fit a VARCHAR for a JSONL corpus) and the writer's ``state`` (next chunk
  id, file being written). A Milvus server only loads a collection with a vector
  index, hence its 2-d ``vec``.

Same BM25 as the local store: ragcli analyses text itself. ``terms`` is
``" ".join(tokenize(index_text(title, text)))`` and queries are sent as
``" ".join(tokenize(query))``, so Milvus's ``standard`` analyzer only splits on the
spaces between ragcli's tokens (stemmed, stopwords out) and the BM25 function (Lucene
idf, k1 0.9, b 0.4) sees the terms bm25s sees. Milvus includes BM25's ``(k1 + 1)``
factor and bm25s does not, so scores are divided by it: on Milvus Lite they equal
``SparseIndex`` scores to ~1e-7 (tests/store/test_store_milvus.py). A server's standard
tokenizer is grammar-based, not Lite's regex split: it keeps ragcli's Latin tokens
whole but may split runs of ideographs, so CJK text can score differently there
(untested here: no server in the test suite).

Milvus Lite 3.2 quirks this module works around or documents:

* index build parameters are read only from a JSON ``params`` entry, but pymilvus 3
  sends them flattened; without ``_add_index``'s extra entry Lite silently builds
  BM25 with k1 1.5, b 0.75 and HNSW with its own M/efConstruction;
* BM25 statistics (N, df, avgdl) are per segment, and deleted rows count until a
  compaction: after incremental ingests (each commit flushes a segment) scores drift
  from global BM25; a fresh or rebuilt index is one segment and matches exactly;
* a filtered BM25 search over unflushed rows computes statistics over the rows the
  filter keeps, hence the flush at every commit;
* a reopened collection comes back released (searches fail until ``load_collection``);
* one process at a time may open a Lite file (a lock in the folder), and the server
  Lite runs in this process stays up until the process exits.

Writes are applied file by file as they are made; nothing is rolled back. A
file's chunks are written first and its file row last, and the ``state`` row names
the file being written: a writer opened after a crash removes that file's leftovers,
so the next ingest adds it again. ``commit`` writes the manifest and flushes.
"""

from ragcli.store.milvus.connection import filter_string, in_filter
from ragcli.store.milvus.reader import MilvusStore
from ragcli.store.milvus.uri import MilvusTarget, milvus_token, parse_store_uri
from ragcli.store.milvus.writer import MilvusWriter

__all__ = [
    "MilvusStore",
    "MilvusTarget",
    "MilvusWriter",
    "filter_string",
    "in_filter",
    "milvus_token",
    "parse_store_uri",
]
