"""Ingest: discover -> load -> chunk -> embed -> store, incrementally and atomically.

Each run compares the files under the given roots with the store's file records
(``plan``): new files are added, files whose content hash changed have their chunks
replaced, files gone from a root are removed, and the rest is left alone (their vectors
are carried over, not re-embedded). ``manifest`` checks that the run's settings match
the index; ``run`` loads, chunks, embeds and writes. The result is written as a new
generation (see ``ragcli.store.generations``); when nothing changed no generation is
written at all.
"""

from ragcli.embed import EMBED_BACKENDS, embed_variant
from ragcli.ingest.manifest import check_compatible, expected_manifest
from ragcli.ingest.run import IngestReport, Progress, ingest

__all__ = [
    "EMBED_BACKENDS",
    "IngestReport",
    "Progress",
    "check_compatible",
    "embed_variant",
    "expected_manifest",
    "ingest",
]
