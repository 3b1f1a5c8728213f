"""E-mail messages (.eml) with the standard library's ``email`` package.

The document is the message: its header fields (From, To, Cc, Date, Subject) as the
first lines, the plain-text body (an HTML-only body is turned into text), and the
attachments listed by name, type and size (their content is not indexed). Every
chunk's heading is the subject and the sender with the date, so a hit says which
message it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.errors import LoadError
from ragcli.load import xhtml
from ragcli.load.builder import Builder
from ragcli.load.reading import read_bytes
from ragcli.types import Document, Location

if TYPE_CHECKING:
    from email.message import EmailMessage

EXTENSIONS = (".eml",)

_FIELDS = ("From", "To", "Cc", "Date", "Subject")


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a malformed address or date header
        value = message.get_all(name, failobj=[""])[0] if message.keys() else ""
    return " ".join(str(value or "").split())


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: read as Latin-1, never fail
        content = (part.get_payload(decode=True) or b"").decode("latin-1")
    if part.get_content_subtype() == "html":
        return "\n\n".join(text for _, text in xhtml.blocks(content))
    return str(content)


def _attachments(message: EmailMessage) -> list[str]:
    listed = []
    for part in message.iter_attachments():
        name = part.get_filename() or "(unnamed)"
        size = len(part.get_payload(decode=True) or b"")
        listed.append(f"{name} ({part.get_content_type()}, {_size(size)})")
    return listed


def _size(n: int) -> str:
    return (
        f"{n} bytes"
        if n < 1024
        else f"{n / 1024:.0f} KB"
        if n < 1 << 20
        else f"{n / (1 << 20):.1f} MB"
    )


def load_email(path: Path, root: Path) -> list[Document]:
    import email
    import email.policy

    data = read_bytes(path)
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not any(message.get(name) for name in ("From", "Subject", "Date", "To")):
        raise LoadError("not an e-mail message (no From, To, Date or Subject header)")
    fields = {name: _header(message, name) for name in _FIELDS}
    subject = fields["Subject"] or "(no subject)"
    sender = ", ".join(v for v in (fields["From"], fields["Date"]) if v)
    location = Location(heading=(subject, f"from {sender}") if sender else (subject,))
    builder = Builder("email", empty="no text in the message")
    builder.add("\n".join(f"{name}: {value}" for name, value in fields.items() if value), location)
    builder.add(_body(message), location)
    attachments = _attachments(message)
    if attachments:
        builder.add("Attachments (not indexed):\n" + "\n".join(attachments), location)
    metadata = {name.lower(): value for name, value in fields.items() if value}
    return [builder.document(path, root, subject, attachments=attachments, **metadata)]
