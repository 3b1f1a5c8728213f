"""Real PDF files for the loader tests, built with fpdf2 (no fixtures on disk)."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import EncryptionMethod


def _pdf(title: str | None = None) -> FPDF:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    return pdf


def text_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    """One page per string; an empty string makes a page with no text at all."""
    pdf = _pdf(title)
    for body in pages:
        pdf.add_page()
        if body:
            pdf.multi_cell(0, 8, body)
    pdf.output(str(path))
    return path


def image_only_pdf(path: Path) -> Path:
    """Pages with shapes but no text, like a scan."""
    pdf = _pdf()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 120, 160, style="F")
    pdf.output(str(path))
    return path


def encrypted_pdf(path: Path, body: str, user_password: str | None) -> Path:
    """Encrypted with AES-128; ``user_password=None`` opens with an empty password."""
    pdf = _pdf()
    pdf.add_page()
    pdf.multi_cell(0, 8, body)
    pdf.set_encryption(
        owner_password="owner-secret",
        user_password=user_password,
        encryption_method=EncryptionMethod.AES_128,
    )
    pdf.output(str(path))
    return path
