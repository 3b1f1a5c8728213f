"""Reading a file for the loaders: its bytes within the format's limit, its text decoded,
its id, the format library it needs, and the checks on markup before it is parsed."""

from __future__ import annotations

import codecs
import errno
import importlib
import math
import os
from pathlib import Path
from types import ModuleType

from ragcli.errors import LoadError

# How much of a file is sniffed for binary content.
SNIFF_BYTES = 8192
# Text-like files above this size are refused rather than read into memory whole
# (JSONL corpora are streamed and PDFs are parsed lazily, so neither is limited).
MAX_TEXT_BYTES = 64 * 1024 * 1024
# Plain text, Markdown and source code are chunked a piece at a time, so a file costs a
# few times its size in memory (docs/benchmarks.md, "One large file"); the limit keeps a
# whole ingest of one such file under about 2 GiB.
MAX_PLAIN_TEXT_BYTES = 128 * 1024 * 1024
# HTML (pages, e-mail bodies) is parsed whole into an lxml tree, at about 150 bytes per
# element whatever the bytes: 16 MiB and a million elements (counted as "<") keep a
# page under about 600 MiB (a 60 MB page took 2 GB before these limits).
MAX_HTML_BYTES = 16 * 1024 * 1024
MAX_HTML_ELEMENTS = 1_000_000

# Control bytes that never occur in text (tab, newline, form feed, carriage return and
# ESC, used by coloured logs, are allowed).
_CONTROL = frozenset(range(0, 32)) - {9, 10, 12, 13, 27} | {127}


def os_reason(err: OSError) -> str:
    """One-line reason for an OSError, without the path (the caller adds it)."""
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    if err.errno == errno.ELOOP:
        return "symlink loop"
    return (err.strerror or type(err).__name__).lower()


def read_bytes(path: Path, limit: int | None = MAX_TEXT_BYTES) -> bytes:
    """The file's bytes; ``LoadError`` for unreadable, too large or empty files."""
    try:
        with path.open("rb") as handle:
            if limit is not None:
                size = os.fstat(handle.fileno()).st_size
                if size > limit:
                    raise LoadError(
                        f"file too large ({math.ceil(size / 2**20)} MiB; the limit for "
                        f"this format is {limit // 2**20} MiB)"
                    )
            data = handle.read()
    except OSError as err:
        raise LoadError(os_reason(err)) from None
    if not data:
        raise LoadError("empty file")
    return data


def without_internal_subset(markup):
    """``markup`` (str or bytes) without a DOCTYPE's internal subset (``<!DOCTYPE x [
    <!ENTITY ...> ]>``): the HTML parser does not know one and would keep its ``]>`` as
    text. Only a DOCTYPE near the start is looked at; the scan is linear."""
    as_bytes = isinstance(markup, bytes)
    text = markup.decode("latin-1") if as_bytes else markup
    start = text.lower().find("<!doctype", 0, 1024)
    if start == -1:
        return markup
    opening, close = text.find("[", start), text.find(">", start)
    if opening == -1 or (close != -1 and close < opening):
        return markup
    end = text.find("]", opening)
    while end != -1:
        after = end + 1
        while after < len(text) and text[after] in " \t\r\n":
            after += 1
        if after < len(text) and text[after] == ">":
            cut = text[:start] + text[after + 1 :]
            return cut.encode("latin-1") if as_bytes else cut
        end = text.find("]", end + 1)
    return markup


def check_markup_size(markup: str | bytes) -> None:
    """``LoadError`` naming the limit for HTML with more elements than a tree may hold."""
    opening = b"<" if isinstance(markup, bytes) else "<"
    if markup.count(opening) > MAX_HTML_ELEMENTS:
        raise LoadError(f"over {MAX_HTML_ELEMENTS:,} elements (the limit per HTML page)")


def looks_binary(sample: bytes) -> bool:
    """NUL bytes, or more than 5% control characters, in a leading sample."""
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte in _CONTROL)
    return controls / len(sample) > 0.05


def sniff_text(path: Path) -> bool:
    """Whether the file's first bytes look like text (for files without an extension)."""
    try:
        with path.open("rb") as handle:
            sample = handle.read(SNIFF_BYTES)
    except OSError:
        return True  # let the loader report why it cannot be read
    return not looks_binary(sample)


def decode_text(data: bytes, fallback_encoding: str | None = None) -> str:
    """UTF-8 (a UTF-8 BOM is dropped; UTF-16/32 with a BOM are accepted), else the
    declared ``fallback_encoding`` (an HTML ``<meta charset>``), else the encoding
    charset-normalizer detects (Latin-1, cp1252, Shift-JIS, ...).

    Newlines are normalised to ``\\n`` (line numbers are unchanged). Raises ``LoadError``
    for binary data and for bytes no encoding reads; nothing is ever decoded with
    replacement characters.
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise LoadError(f"not valid {encoding.upper()} (has a BOM)") from None
            return _normalise(text)
    if looks_binary(data[:SNIFF_BYTES]):
        raise LoadError("binary data, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        _refuse_encoded_surrogate(data, err)
        for encoding in (fallback_encoding, detect_encoding(data)):
            if encoding:
                try:
                    return _normalise(data.decode(encoding))
                except (UnicodeDecodeError, LookupError):
                    pass
        raise LoadError(f"not valid UTF-8 (bad byte at offset {err.start})") from None
    return _normalise(text)


def _refuse_encoded_surrogate(data: bytes, err: UnicodeDecodeError) -> None:
    """UTF-8 but for a surrogate encoded as three bytes (CESU-8, WTF-8: ``\\xed\\xa0\\x80``)
    is refused by name, not read as another encoding's mojibake."""
    bad = data[err.start : err.start + 3]
    if len(bad) == 3 and bad[0] == 0xED and 0xA0 <= bad[1] <= 0xBF:
        shown = "".join(f"\\x{byte:02x}" for byte in bad)
        raise LoadError(
            f"not valid UTF-8 (an encoded surrogate, {shown}, at offset {err.start}: "
            "CESU-8 or WTF-8)"
        )


def detect_encoding(data: bytes) -> str | None:
    """The most likely legacy encoding of bytes that are not UTF-8 (charset-normalizer),
    or None when nothing decodes them as readable text."""
    from charset_normalizer import from_bytes

    if _reads_as_western(data):
        return "cp1252"
    best = from_bytes(data[: 1 << 20]).best()
    if best is None or best.encoding in ("utf_8", "utf-8"):
        return None
    return best.encoding


_WESTERN_PUNCTUATION = frozenset("\u00a0’‘“”–—…€£©®°·«»§¶±×÷¿¡")


def _reads_as_western(data: bytes) -> bool:
    """Whether cp1252 (Windows' superset of Latin-1) gives Western text: accented Latin
    letters among mostly ASCII ones. Short texts are ambiguous for statistical
    detectors (charset-normalizer reads "café crème" as Farsi), and cp1252 is by far
    the most common legacy encoding; Cyrillic or Greek bytes read as cp1252 give almost
    only accented letters, so they fail the share test."""
    import unicodedata

    try:
        text = data[: 1 << 20].decode("cp1252")
    except UnicodeDecodeError:
        return False
    ascii_letters = accented = 0
    for char in text:
        if char.isascii():
            ascii_letters += char.isalpha()
        elif char.isalpha() and "LATIN" in unicodedata.name(char, ""):
            accented += 1
        elif char not in _WESTERN_PUNCTUATION:
            return False
    return accented > 0 and accented <= 0.4 * (accented + ascii_letters)


def _normalise(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text or text.isspace():  # not strip(): that would copy a large text
        raise LoadError("empty file (whitespace only)")
    return text


def read_text(path: Path, limit: int | None = MAX_TEXT_BYTES) -> str:
    return decode_text(read_bytes(path, limit))


def relative_id(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string; the file name if root is a file."""
    path = Path(os.path.abspath(path))
    root = Path(os.path.abspath(root))
    if path == root or not root.is_dir():
        return path.name
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def require(module: str, package: str, suffix: str) -> ModuleType:
    """Import a format library, or ``LoadError`` with the one-line install hint."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LoadError(
            f"install {package} to index {suffix} files (pip install {package})"
        ) from None
