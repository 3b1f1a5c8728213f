"""Check the ``[n]`` citations in a generated answer against the numbered sources.

Recognised forms: ``[1]``, ``[1][2]``, ``[1, 2]``, ``[1; 2]``, ``[1-3]`` (also with an
en dash), and mixes such as ``[1, 3-4]``. A bracket followed by ``(`` is a Markdown link,
not a citation. Numbers outside ``1..n_sources`` are reported as unknown.
``strip_citations`` removes exactly these markers (earlier answers in a conversation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_ITEM = r"\d+(?:\s*[-\u2013]\s*\d+)?"
_CITATION = re.compile(rf"\[\s*({_ITEM}(?:\s*[,;]\s*{_ITEM})*)\s*\](?!\()")
_CITATION_WITH_SPACE = re.compile(r"\s*" + _CITATION.pattern)
_MAX_RANGE = 1000  # a range wider than this is taken as its two ends only


@dataclass
class CitationReport:
    cited: list[int] = field(default_factory=list)  # distinct numbers, first-use order
    unknown: list[int] = field(default_factory=list)  # cited numbers with no source
    uncited: list[int] = field(default_factory=list)  # sources never cited
    markers: int = 0  # bracket groups found

    @property
    def has_citations(self) -> bool:
        return bool(self.cited)

    @property
    def ok(self) -> bool:
        """At least one citation and none to an unknown source."""
        return bool(self.cited) and not self.unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "cited": self.cited,
            "unknown": self.unknown,
            "uncited": self.uncited,
            "markers": self.markers,
            "ok": self.ok,
        }


def _expand(item: str) -> list[int]:
    parts = re.split(r"\s*[-\u2013]\s*", item.strip())
    if len(parts) == 1:
        return [int(parts[0])]
    start, end = int(parts[0]), int(parts[1])
    if start > end:
        start, end = end, start
    if end - start > _MAX_RANGE:
        return [start, end]
    return list(range(start, end + 1))


def find_citations(text: str) -> list[int]:
    """Every cited number in order of appearance, repeats included."""
    numbers: list[int] = []
    for match in _CITATION.finditer(text):
        for item in re.split(r"\s*[,;]\s*", match.group(1)):
            numbers.extend(_expand(item))
    return numbers


def check_citations(answer_text: str, n_sources: int) -> CitationReport:
    numbers = find_citations(answer_text)
    cited = list(dict.fromkeys(numbers))
    return CitationReport(
        cited=cited,
        unknown=[n for n in cited if not 1 <= n <= n_sources],
        uncited=[n for n in range(1, n_sources + 1) if n not in set(cited)],
        markers=len(_CITATION.findall(answer_text)),
    )


def strip_citations(text: str) -> str:
    """``text`` without its citation markers and the spaces before them."""
    return _CITATION_WITH_SPACE.sub("", text)
