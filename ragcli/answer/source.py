"""What answering needs of an index, as a protocol: ``ragcli.Index`` is one, and so is
anything else with these members (a test double, another store's facade)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ragcli.config import Settings
from ragcli.types import Hit, SearchParams


class ChunkCount(Protocol):
    @property
    def n_chunks(self) -> int: ...


class SearchSource(Protocol):
    path: Path  # a local folder for the answer cache and chat history (cache/)
    settings: Settings  # the defaults an answer's settings start from
    query_encoder: Any  # embeds questions; a served language model may reuse it

    @property
    def store(self) -> ChunkCount:
        """How many chunks the index holds (an empty index explains a lack of hits)."""
        ...

    def search(self, query: str, *, params: SearchParams) -> list[Hit]: ...
