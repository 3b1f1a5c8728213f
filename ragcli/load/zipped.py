"""Reading the zip containers of DOCX, PPTX, XLSX, ODF and EPUB files safely."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ragcli.errors import LoadError

# Limits on what members really inflate to, counted while inflating (the sizes an
# archive declares are not trusted): a markup member the reader parses whole into a
# tree, and all members of one archive together. Other members (images, and the
# worksheets of an XLSX, which are read as a stream with their cells bounded by
# builder.MAX_CELLS) may be larger (MAX_STREAMED_MEMBER_BYTES).
MAX_MEMBER_BYTES = 32 * 1024 * 1024
MAX_STREAMED_MEMBER_BYTES = 256 * 1024 * 1024
MAX_INFLATED_BYTES = 256 * 1024 * 1024
# Elements (counted as "<") of a member parsed whole: a tree costs memory per element,
# about 150 bytes in lxml, whatever the bytes (``<a/>`` is 4 of them).
MAX_MEMBER_ELEMENTS = 2_000_000
_CHUNK = 64 * 1024
# Members a reader parses whole into a tree; others (images, fonts) are only held.
_MARKUP = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx", ".svg", ".xht")


def _mib(size: int) -> str:
    return f"{size // 2**20} MiB" if size % 2**20 == 0 else f"{size:,} bytes"


def _data_start(archive, info) -> int:
    """Where the member's compressed bytes begin (after its local header)."""
    import struct

    archive.fp.seek(info.header_offset)
    header = archive.fp.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise LoadError(f"{info.filename}: bad local header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def _chunks(archive, info):
    """The member's real inflated bytes, at most ``_CHUNK`` at a time, whatever its
    header declares."""
    import zipfile
    import zlib

    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with archive.open(info) as member:  # zipfile bounds these by the declared size
            while data := member.read(_CHUNK):
                yield data
        return
    archive.fp.seek(_data_start(archive, info))
    left = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    pending = b""
    while inflater is None or not inflater.eof:
        if not pending:
            if left <= 0:
                return
            pending = archive.fp.read(min(left, _CHUNK))
            if not pending:
                return
            left -= len(pending)
        if inflater is None:
            data, pending = pending, b""
        else:
            data = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
        yield data


def _measure(archive, info, bound: int, tag_bound: int | None) -> tuple[int, int]:
    """(bytes, ``<`` characters) the member really inflates to, stopping once past
    either bound: a bomb costs at most ``bound`` bytes of work and no memory."""
    size = tags = 0
    for data in _chunks(archive, info):
        size += len(data)
        if tag_bound is not None:
            tags += data.count(b"<")
        if size > bound or (tag_bound is not None and tags > tag_bound):
            break
    return size, tags


def _check_members(archive, what: str, streamed) -> None:
    """Every member inflated once, counted: ``LoadError`` naming the limit for a member
    or an archive over it, or a member that inflates to other than it declares (which
    zipfile would inflate whole before checking)."""
    import zipfile
    import zlib

    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise LoadError(f"not a valid {what} file ({info.filename} is encrypted)")
        whole = info.filename.lower().endswith(_MARKUP) and not streamed(info.filename)
        limit = MAX_MEMBER_BYTES if whole else MAX_STREAMED_MEMBER_BYTES
        tag_limit = MAX_MEMBER_ELEMENTS if whole else None
        try:
            size, tags = _measure(archive, info, min(limit, MAX_INFLATED_BYTES - total), tag_limit)
        except (zlib.error, zipfile.BadZipFile, OSError, EOFError, RuntimeError,
                NotImplementedError) as err:  # fmt: skip
            raise LoadError(f"corrupt {what} file ({info.filename}: {err})") from None
        if size > limit:
            raise LoadError(f"{info.filename} inflates past {_mib(limit)} (the limit per member)")
        if tag_limit is not None and tags > tag_limit:
            raise LoadError(
                f"{info.filename} has over {tag_limit:,} elements (the limit per member)"
            )
        total += size
        if total > MAX_INFLATED_BYTES:
            raise LoadError(f"inflates past {_mib(MAX_INFLATED_BYTES)} (the limit per file)")
        if size != info.file_size:
            raise LoadError(
                f"corrupt {what} file ({info.filename} inflates to {size} bytes, "
                f"not the {info.file_size} it declares)"
            )


def _never(name: str) -> bool:
    return False


@contextmanager
def opened(path: Path, what: str, streamed=_never):
    """A ``ZipFile`` whose members have all been inflated once and found within the
    limits (``streamed(name)`` names the members read as a stream); ``LoadError``
    naming ``what`` when the file is not a zip (an encrypted Office file is an OLE
    container, not a zip) or is over a limit."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        if isinstance(err, OSError) and not isinstance(err, zipfile.BadZipFile):
            from ragcli.load.reading import os_reason

            raise LoadError(os_reason(err)) from None
        raise LoadError(f"not a valid {what} file (not a zip archive; encrypted?)") from None
    with archive:
        _check_members(archive, what, streamed)
        yield archive


def read_member(archive, name: str, what: str) -> bytes:
    """A member ``opened`` has checked (so its declared size is its real size)."""
    import zipfile

    try:
        info = archive.getinfo(name)
    except KeyError:
        raise LoadError(f"not a valid {what} file ({name} is missing)") from None
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
