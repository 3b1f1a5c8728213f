"""ragcli: retrieval-augmented generation from the command line.

The CLI is a thin layer over this package: ``from ragcli import Index``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ragcli.index import Index

__all__ = ["Index", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import ragcli` (and `rag --help`) does not pull in FAISS or numpy.
    if name == "Index":
        from ragcli.index import Index

        return Index
    raise AttributeError(name)
