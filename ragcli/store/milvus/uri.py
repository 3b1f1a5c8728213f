"""Milvus store URIs and credentials (docs/scale-out.md)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ragcli.errors import UsageError

DEFAULT_PORT = 19530
META_SUFFIX = "__meta"  # the manifest and file records of collection C are in C__meta
_URI_HELP = "use milvus://HOST:PORT[/DB], milvus+https://HOST:PORT[/DB] or milvus-lite:PATH"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- URIs and credentials -------------------------------------------------------------
@dataclass(frozen=True)
class MilvusTarget:
    """A parsed store URI. ``display`` is the URI without credentials."""

    client_uri: str  # http(s)://host:port, or the Milvus Lite file path
    db_name: str
    lite: bool
    display: str
    collection: str | None = None
    uri_token: str = field(default="", repr=False, compare=False)  # user:pass from the URI


def parse_store_uri(uri: str, base_dir: Path | None = None) -> MilvusTarget:
    """The Milvus target of ``uri``; a relative Lite path is taken from ``base_dir``/cwd."""
    uri = uri.strip()
    if uri.startswith("milvus-lite:"):
        return _parse_lite(uri, base_dir)
    if uri.startswith(("milvus://", "milvus+https://")):
        return _parse_server(uri)
    raise _invalid(uri)


def _parse_lite(uri: str, base_dir: Path | None) -> MilvusTarget:
    rest = uri[len("milvus-lite:") :]
    path_text, _, query = rest.partition("?")
    collection = _collection_query(uri, query)
    if not path_text:
        raise _invalid(uri)
    if not path_text.endswith(".db"):
        raise _invalid(uri, "a Milvus Lite path must end in .db")
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return MilvusTarget(str(path.resolve()), "", True, uri, collection)


def _parse_server(uri: str) -> MilvusTarget:
    display = _strip_credentials(uri)
    try:
        parts = urlsplit(uri)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise _invalid(uri) from None
    host = parts.hostname
    db = parts.path.strip("/")
    if not host or parts.fragment or "/" in db:
        raise _invalid(uri)
    collection = _collection_query(uri, parts.query)
    scheme = "https" if parts.scheme == "milvus+https" else "http"
    host_part = f"[{host}]" if ":" in host else host
    token = ""
    if parts.username:
        token = unquote(parts.username)
        if parts.password:
            token = f"{token}:{unquote(parts.password)}"
    return MilvusTarget(f"{scheme}://{host_part}:{port}", db, False, display, collection, token)


def _collection_query(uri: str, query: str) -> str | None:
    if not query:
        return None
    fields = parse_qs(query, keep_blank_values=True)
    names = fields.pop("collection", [])
    if fields or len(names) != 1 or not valid_name(names[0]):
        raise _invalid(uri, "the only query is ?collection=NAME (letters, digits, _)")
    return names[0]


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and len(name) + len(META_SUFFIX) <= 255


def _strip_credentials(uri: str) -> str:
    """``uri`` without ``user:pass@``: everything from ``//`` to the last ``@`` goes, so
    a password with ``/`` or ``?`` in it is not shown either."""
    return re.sub(r"//.*@", "//", uri, count=1)


def _invalid(uri: str, why: str = "") -> UsageError:
    reason = f": {why}" if why else f": {_URI_HELP}"
    return UsageError(f"invalid store URI '{_strip_credentials(uri)}'{reason}")


def milvus_token(target: MilvusTarget) -> str:
    """The token to connect with: the environment's, else the URI's (empty for Lite)."""
    if target.lite:
        return ""
    token = os.environ.get("RAG_MILVUS_TOKEN") or os.environ.get("MILVUS_TOKEN")
    if token:
        return token
    user, password = os.environ.get("RAG_MILVUS_USER"), os.environ.get("RAG_MILVUS_PASSWORD")
    if user and password:
        return f"{user}:{password}"
    return target.uri_token
