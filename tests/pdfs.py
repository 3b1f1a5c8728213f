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


# A font with the ﬁ/ﬂ ligature glyphs (the core PDF fonts are Latin-1 only); Debian's
# fonts-dejavu-core puts it here.
UNICODE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


class _Paper(FPDF):
    """Pages with a running header and a page-number footer, like a journal article."""

    running_header = "Journal of Test Systems 12 (2026)"

    def header(self) -> None:
        self.set_font("dejavu", size=8)
        self.cell(0, 6, self.running_header, align="C")
        self.ln(10)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("dejavu", size=8)
        self.cell(0, 6, str(self.page_no()), align="C")


def paper_pdf(
    path: Path, title: str, metadata_title: str, pages: list[dict], outline: bool = True
) -> Path:
    """A paper: a large title on page 1, then per page ``{"heading": str | None,
    "level": int, "left": [lines], "right": [lines]}`` set as two columns (the left one written
    first, as LaTeX does), headings in 14 pt (level 0) or 12 pt (deeper) over 10 pt body
    text, with outline entries for the headings unless ``outline`` is False. Every line
    is placed as given, so a line may end in "sec-" to break a word."""
    assert UNICODE_FONT.exists(), f"the PDF tests need {UNICODE_FONT} (fonts-dejavu-core)"
    pdf = _Paper()
    pdf.set_title(metadata_title)
    pdf.add_font("dejavu", fname=str(UNICODE_FONT))
    for number, page in enumerate(pages):
        pdf.add_page()
        if number == 0:
            pdf.set_font("dejavu", size=20)
            pdf.multi_cell(0, 10, title, align="C")
        top = pdf.get_y() + 4
        if page.get("heading"):
            pdf.set_font("dejavu", size=14 if page.get("level", 0) == 0 else 12)
            pdf.set_y(top)
            if outline:
                pdf.start_section(page["heading"], level=page.get("level", 0))
            pdf.cell(0, 8, page["heading"])
            top += 10
        pdf.set_font("dejavu", size=10)
        for x, lines in ((10, page.get("left", [])), (110, page.get("right", []))):
            pdf.set_xy(x, top)
            pdf.multi_cell(90, 5, "\n".join(lines))
    pdf.output(str(path))
    return path


def scanned_page_png(path: Path, lines: list[str], size: tuple[int, int] = (1700, 700)) -> Path:
    """A page of text as a scanner gives it: black text drawn on a white bitmap by PIL
    (DejaVu Sans about 11 pt at 200 dpi), no text layer anywhere."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(UNICODE_FONT), 32)
    for number, line in enumerate(lines):
        draw.text((80, 80 + 56 * number), line, fill=0, font=font)
    image.save(path)
    return path


def scanned_pdf(path: Path, pages: list[Path | str]) -> Path:
    """A PDF whose pages are the given PNG scans (image only) or, for a string, a page
    with a real text layer: a scan bound with a typed cover page."""
    pdf = _pdf()
    for page in pages:
        pdf.add_page()
        if isinstance(page, Path):
            pdf.image(str(page), x=0, y=0, w=pdf.w)
        else:
            pdf.multi_cell(0, 8, page)
    pdf.output(str(path))
    return path
