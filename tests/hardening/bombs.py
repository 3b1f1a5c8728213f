"""Hostile files for issue 25, written by the tests: small on disk, huge once parsed."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

MB = 1024 * 1024


def replace_member(source: Path, target: Path, name: str, head: bytes, unit: bytes,
                   tail: bytes, inflated: int) -> Path:  # fmt: skip
    """``source`` with member ``name`` replaced by ``head``, ``unit`` repeated to about
    ``inflated`` bytes (at least once), and ``tail``, written without holding it all."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != name:
                new.writestr(info, old.read(info))
        with new.open(name, "w") as member:
            member.write(head)
            if unit:
                block = unit * max(1, MB // len(unit))
                for _ in range(max(1, inflated // len(block))):
                    member.write(block)
            member.write(tail)
    return target


def lie_about_size(path: Path, name: str, declared: int) -> None:
    """Write ``declared`` as ``name``'s size in both headers (the data inflates further)."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    # (signature, offset of the uncompressed size, of the name length, of the name)
    for signature, size_at, length_at, name_at in ((b"PK\x03\x04", 22, 26, 30),
                                                   (b"PK\x01\x02", 24, 28, 46)):  # fmt: skip
        at = data.find(signature)
        while at != -1:
            (length,) = struct.unpack("<H", data[at + length_at : at + length_at + 2])
            if data[at + name_at : at + name_at + length] == encoded:
                data[at + size_at : at + size_at + 4] = struct.pack("<I", declared)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def pdf(path: Path, objects: list[bytes], root: int = 1) -> Path:
    """A PDF of ``objects`` (numbered from 1) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, xref)  # fmt: skip
    path.write_bytes(bytes(out))
    return path


def pdf_claiming_pages(path: Path, count: int) -> Path:
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"
    return pdf(path, [b"<< /Type /Catalog /Pages 2 0 R >>",
                      b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count, page])  # fmt: skip


def pdf_stream_bomb(path: Path, inflated: int) -> Path:
    """One page whose content stream inflates to ``inflated`` bytes of text operators."""
    stream = zlib.compress(b"BT /F1 12 Tf 72 700 Td (bomb) Tj ET\n" + b" " * inflated, 9)
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>")  # fmt: skip
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
    return pdf(path, [b"<< /Type /Catalog /Pages 2 0 R >>",
                      b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page,
                      content + stream + b"\nendstream", font])  # fmt: skip
