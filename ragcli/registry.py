"""Things chosen by name: one ``Registry`` per kind, the same for the built-ins and for
third-party plugins.

ragcli has four: file formats (``ragcli.load.FORMATS``), encoders
(``ragcli.embed.ENCODERS``), language-model backends (``ragcli.generate.LLMS``) and
stores (``ragcli.store.STORES``). Each maps a name (and its aliases, any case) to a
target: the object itself, or ``"module:attribute"`` imported on first use (a string
target is always such a name), so that registering a backend never imports its SDK. An
unknown name is one ``UsageError`` line naming the known ones.

A plugin registers the same way, from Python::

    from ragcli.generate import LLMS
    LLMS.register("echo", EchoBackend, description="repeats the question")

or from its package metadata, as an entry point in the registry's group
(``ragcli.formats``, ``ragcli.encoders``, ``ragcli.llms``, ``ragcli.stores``)::

    [project.entry-points."ragcli.llms"]
    echo = "ragcli_echo:EchoBackend"

Entry points are read once, and only when a name is not a built-in one or the names are
listed: ``rag --help`` and a search with built-in parts never read them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ragcli.errors import UsageError

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    """One registered name: its target (an object, or ``"module:attribute"``)."""

    name: str
    target: Any
    description: str = ""
    aliases: tuple[str, ...] = ()
    plugin: bool = False

    def load(self) -> T:
        if isinstance(self.target, str):
            module, _, attribute = self.target.partition(":")
            self.target = getattr(importlib.import_module(module), attribute)
        return self.target


def _key(name: str) -> str:
    return name.strip().lower()


class Registry(Generic[T]):
    """Names of one kind (``what``: "LLM backend", words for messages) and their targets;
    ``group``: the entry-point group plugins of this kind are listed in; ``special``:
    names the caller resolves before asking (``auto``), listed first in the error."""

    def __init__(self, what: str, group: str | None = None, special: tuple[str, ...] = ()) -> None:
        self.what = what
        self.group = group
        self.special = special
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}
        self._plugins_read = group is None

    def register(
        self,
        name: str,
        target: T | str,
        *,
        description: str = "",
        aliases: tuple[str, ...] = (),
        plugin: bool = False,
    ) -> Entry[T]:
        """Add ``name``; a name or alias that is taken already is a ``ValueError``."""
        key = _key(name)
        for taken in (key, *map(_key, aliases)):
            if taken in self._entries or taken in self._aliases:
                raise ValueError(f"{self.what} {taken!r} is registered already")
        entry = Entry(key, target, description, tuple(map(_key, aliases)), plugin)
        self._entries[key] = entry
        self._aliases.update((alias, key) for alias in entry.aliases)
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` and its aliases (a plugin's, in its tests)."""
        entry = self._entries.pop(self.canonical(name))
        for alias in entry.aliases:
            del self._aliases[alias]

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases (any case); an unknown
        one is a ``UsageError`` naming the known ones."""
        key = _key(name)
        key = self._aliases.get(key, key)
        if key not in self._entries and not self._plugins_read:
            self._read_plugins()
            key = self._aliases.get(key, key)
        if key not in self._entries:
            choices = ", ".join([*self.special, *self])
            raise UsageError(f"unknown {self.what} {name!r}: choose one of {choices}")
        return key

    def entry(self, name: str) -> Entry[T]:
        return self._entries[self.canonical(name)]

    def get(self, name: str) -> T:
        """The target of ``name`` (imported now if it was given as a string)."""
        return self.entry(name).load()

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.canonical(name)
        except UsageError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        """The registered names, built-ins first, plugins after (in their order)."""
        if not self._plugins_read:
            self._read_plugins()
        return iter(list(self._entries))

    def registered(self) -> list[Entry[T]]:
        """The entries registered so far, in order (no entry points are read)."""
        return list(self._entries.values())

    def _read_plugins(self) -> None:
        from importlib.metadata import entry_points

        self._plugins_read = True
        for point in entry_points(group=self.group):
            if _key(point.name) not in self._entries:
                self.register(point.name, point.value, plugin=True)
