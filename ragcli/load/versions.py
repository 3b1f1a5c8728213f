"""Loader versions: which files an existing index must read again.

A loader's version goes up when the same file gives other text or locations than before
(``LOADER_CHANGES`` says what changed). An index's manifest records the versions it was
built with (``"loaders"``; an index built before versions were recorded has none, so
every kind counts as version 1), and the next ``rag ingest`` re-loads the indexed files
of every kind whose version differs, saying why in one line, as if they had changed.
"""

from __future__ import annotations

from collections.abc import Mapping

FIRST_VERSION = 1
# kind -> (current version, what the last change was)
LOADER_CHANGES: dict[str, tuple[int, str]] = {
    "rst": (2, "reST keeps each block's file lines and indexes directive text"),
    "markdown": (2, "Markdown pages carry the code they include (--8<--, {* *})"),
    "html": (2, "HTML keeps each block's file lines"),
}


def loader_versions() -> dict[str, int]:
    """The versions this ragcli's loaders are at (kinds at the first version left out)."""
    return {kind: version for kind, (version, _) in LOADER_CHANGES.items()}


def stale_kinds(recorded: Mapping[str, int] | None) -> dict[str, str]:
    """Kinds whose loader changed since an index recorded ``recorded`` (None: a new
    index, nothing is stale), each with the reason."""
    if recorded is None:
        return {}
    stale = {}
    for kind, (version, why) in LOADER_CHANGES.items():
        before = recorded.get(kind, FIRST_VERSION)
        if before != version:
            stale[kind] = f"{kind} loader {before} -> {version}: {why}"
    return stale
