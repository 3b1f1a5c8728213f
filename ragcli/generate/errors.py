"""The errors a language-model call raises, and how they are worded without credentials.

Every failure is an ``LLMError`` (a ``RagError``) with a one-line message from which API
keys have been removed (``scrub``); ``status_error`` maps an HTTP status to the subclass.
"""

from __future__ import annotations

import re
import urllib.parse

from ragcli.errors import RagError, redact


class LLMError(RagError):
    """A language-model call failed."""


class MissingAPIKeyError(LLMError):
    exit_code = 2


class LLMConnectionError(LLMError):
    pass


class LLMTimeoutError(LLMError):
    pass


class RateLimitError(LLMError):
    pass


class ServerError(LLMError):
    pass


class AuthenticationError(LLMError):
    pass


class ContextTooLongError(LLMError):
    pass


class LLMRequestError(LLMError):
    """The server refused the request (bad model name, bad parameter, ...)."""


_KEY_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)"
        r"[^\s\"',}]+"
    ),
]


def scrub(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """One line, no credentials: configured key values, passwords in URLs and
    key-shaped strings become ***."""
    text = redact(text, secrets)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def url_password(url: str | None) -> str | None:
    """The password of ``scheme://user:password@host`` (or a bare ``user@host`` token)."""
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        return parts.password or (parts.username if "@" in parts.netloc else None)
    except ValueError:
        return None


# A stream that stops before its last event ("done": true, message_stop, finish_reason).
INCOMPLETE = "ended the stream before the answer was finished; the answer is incomplete"

CONTEXT_TOO_LONG = re.compile(
    r"context (?:length|size|window)|prompt is too long|too many tokens|maximum context"
    r"|context_length_exceeded|exceeds? the (?:available )?context|input is too long",
    re.IGNORECASE,
)


def status_error(
    status: int, detail: str, *, service: str, model: str, secrets: tuple[str, ...] = ()
) -> LLMError:
    """Map an HTTP error status from an LLM server to a one-line ``LLMError``."""
    detail = scrub(detail or "", secrets)
    said = f" (server said: {detail})" if detail else ""
    if status == 200:  # an error event inside a stream that had started well
        return ServerError(f"{service} reported an error in the middle of the stream{said}")
    if status == 413 or (status in (400, 422) and CONTEXT_TOO_LONG.search(detail)):
        return ContextTooLongError(
            f"the prompt is too long for {model} on {service}{said}; "
            "lower --max-context-tokens or --k"
        )
    if 300 <= status < 400:
        return LLMRequestError(
            f"{service} answered with a redirect (HTTP {status}), which is not followed; "
            "set --base-url to the address it redirects to"
        )
    if status in (401, 403):
        return AuthenticationError(f"{service} rejected the credentials (HTTP {status}){said}")
    if status == 404:
        return LLMRequestError(f"{service}: model {model!r} or endpoint not found{said}")
    if status == 429:
        return RateLimitError(f"{service} is rate limiting requests (HTTP 429) after retries{said}")
    if status >= 500:
        return ServerError(f"{service} failed with HTTP {status} after retries{said}")
    return LLMRequestError(f"{service} refused the request (HTTP {status}){said}")
