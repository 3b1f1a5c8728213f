"""Reading the zip containers of DOCX, PPTX, XLSX, ODF and EPUB files safely."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ragcli.errors import LoadError

# A member larger than this once inflated, or a whole archive larger than
# MAX_INFLATED_BYTES, is refused (a zip bomb, not a document).
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_INFLATED_BYTES = 1024 * 1024 * 1024


@contextmanager
def opened(path: Path, what: str):
    """A ``ZipFile``; ``LoadError`` naming ``what`` when the file is not one (an
    encrypted Office file is an OLE container, not a zip)."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        if isinstance(err, OSError) and not isinstance(err, zipfile.BadZipFile):
            from ragcli.load._common import os_reason

            raise LoadError(os_reason(err)) from None
        raise LoadError(f"not a valid {what} file (not a zip archive; encrypted?)") from None
    with archive:
        inflated = sum(info.file_size for info in archive.infolist())
        if inflated > MAX_INFLATED_BYTES:
            raise LoadError(f"inflates to {inflated / 1e6:.0f} MB, too large to read")
        yield archive


def read_member(archive, name: str, what: str) -> bytes:
    import zipfile

    try:
        info = archive.getinfo(name)
    except KeyError:
        raise LoadError(f"not a valid {what} file ({name} is missing)") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise LoadError(f"{name} inflates to {info.file_size / 1e6:.0f} MB, too large to read")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as err:
        raise LoadError(f"corrupt {what} file ({name}: {err})") from None


def parse_xml(data: bytes, name: str, what: str):
    """An lxml element tree root, without network access or entity expansion."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise LoadError(f"corrupt {what} file ({name}: {err})") from None


def opening(open_file, what: str):
    """``open_file()``, a library's reader; its failures as one ``LoadError`` line."""
    try:
        return open_file()
    except LoadError:
        raise
    except Exception as err:  # each library has its own exceptions for a broken package
        detail = " ".join(str(err).split())[:100] or type(err).__name__
        raise LoadError(f"not a valid {what} file ({detail})") from None
