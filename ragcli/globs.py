"""Gitignore-style patterns matched in time linear in the name.

pathspec translates each pattern into a regular expression exactly as before (the same
gitignore semantics: ``**``, ``!``, trailing ``/``, last match wins), but Python's ``re``
backtracks: ``*a*a*a*a*a*a*a*a*b`` against a name of 100 ``a``\\ s never ends. Here every
translated expression is compiled by RE2 instead, an automaton that answers in time
linear in the name whatever the pattern, and pathspec's per-pattern loop decides the
verdict as it always has. A pattern longer than ``MAX_PATTERN_CHARS`` is refused: RE2's
automaton grows with the pattern.

Names that are not valid UTF-8 (``os.scandir`` gives them as lone surrogates) and
patterns holding such bytes are matched through a one-to-one map of the surrogates
onto private-use characters, so each still counts as one character for ``?`` and ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pathspec
import re2
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from ragcli.errors import UsageError

MAX_PATTERN_CHARS = 1024

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # failures are raised, not printed by the C++ library
# Lone surrogates (U+D800-U+DFFF) -> Supplementary Private Use Area-A.
_SURROGATES = {code: 0xF0000 + code - 0xD800 for code in range(0xD800, 0xE000)}


def _encodable(text: str) -> str:
    return text.translate(_SURROGATES)


class _Re2Match:
    """What pathspec reads of a match: ``groupdict()`` (the directory marker group)."""

    __slots__ = ("_match",)

    def __init__(self, match) -> None:
        self._match = match

    def groupdict(self) -> dict:
        return self._match.groupdict()


class _Re2Regex:
    """An RE2 program standing where pathspec keeps the ``re`` one."""

    __slots__ = ("pattern", "_program")

    def __init__(self, expression: str) -> None:
        self.pattern = expression
        self._program = re2.compile(_encodable(expression), _OPTIONS)

    def search(self, name: str):
        found = self._program.search(_encodable(name))
        return None if found is None else _Re2Match(found)

    match = search  # every translated expression is anchored with ^

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Re2Regex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


class _Re2Pattern(GitIgnoreSpecPattern):
    def __init__(self, pattern, include=None) -> None:
        if isinstance(pattern, str) and len(pattern) > MAX_PATTERN_CHARS:
            raise ValueError(f"longer than {MAX_PATTERN_CHARS} characters")
        super().__init__(pattern, include)
        if self.regex is not None:
            self.regex = _Re2Regex(self.regex.pattern)


def gitignore_spec(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    """The patterns as one gitignore spec; ``ValueError`` (or pathspec's own error)
    for a pattern that is invalid or too long."""
    try:
        return pathspec.GitIgnoreSpec.from_lines(_Re2Pattern, list(lines), backend="simple")
    except re2.error as err:
        raise ValueError(f"not a pattern RE2 can compile ({err})") from None


def user_spec(patterns: Iterable[str], what: str) -> pathspec.GitIgnoreSpec:
    """Patterns a user gave (``--exclude``, ``--filter``, an API filter, a ``rag get``
    glob); ``UsageError`` naming ``what`` and the pattern for one that cannot be used."""
    patterns = list(patterns)
    for pattern in patterns:
        try:
            gitignore_spec([pattern])
        except Exception as err:
            shown = pattern if len(pattern) <= 60 else pattern[:60] + "..."
            raise UsageError(f"{what}: invalid pattern {shown!r} ({err})") from None
    return gitignore_spec(patterns)
