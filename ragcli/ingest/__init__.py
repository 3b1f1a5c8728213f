"""Ingest: discover -> load -> chunk -> embed -> store, incrementally and atomically.

Each run compares the files under the given roots with the store's file records
(``plan``): new files are added, files whose content hash changed have their chunks
replaced, files gone from a root are removed, and the rest is left alone (their vectors
are carried over, not re-embedded). ``manifest`` checks that the run's settings match
the index; ``run`` loads, chunks, embeds and writes. The result is written as a new
generation (see ``ragcli.store.generations``); when nothing changed no generation is
written at all.
"""

from importlib import import_module
from typing import Any

# Loaded when first used, so `ragcli.ingest.plan` (which the freshness check of every
# `rag search` uses) does not bring in the whole ingest run and the embedding code.
_WHERE = {
    "EMBED_BACKENDS": "ragcli.embed",
    "embed_variant": "ragcli.embed",
    "check_compatible": "ragcli.ingest.manifest",
    "expected_manifest": "ragcli.ingest.manifest",
    "IngestReport": "ragcli.ingest.run",
    "Progress": "ragcli.ingest.run",
    "ingest": "ragcli.ingest.run",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'ragcli.ingest' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)


__all__ = [
    "EMBED_BACKENDS",
    "IngestReport",
    "Progress",
    "check_compatible",
    "embed_variant",
    "expected_manifest",
    "ingest",
]
