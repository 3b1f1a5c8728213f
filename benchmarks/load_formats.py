"""Loading speed per format, and what is kept: files/s, MB/s, characters and sections.

    python benchmarks/load_formats.py [--docs 40] [--copies 10] [--markitdown SITE_DIR]

Each format gets one file written by its own library (python-docx, python-pptx,
openpyxl, odfpy, ebooklib, nbformat, the email package) holding ``--docs`` real
Cranfield abstracts (/work/shared/data/cranfield: titles as headings, slide titles,
rows or cells), copied ``--copies`` times; the CSV rows are SciFact's own
claims_train.csv. Only ``ragcli.load.load_file`` is timed (no chunking, no embedding).

``--markitdown`` names a folder where markitdown is installed (``pip install --target
DIR 'markitdown[docx,pptx,xlsx]'``): the same files are converted by it in a subprocess
(its dependencies stay out of ragcli's environment) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragcli.load import load_file  # noqa: E402

DATA = Path(os.environ.get("RAG_SHARED_DATA", "/work/shared/data"))


def abstracts(n: int) -> list[tuple[str, str]]:
    out = []
    with (DATA / "cranfield" / "beir" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            out.append((record["title"].strip(" ."), record["text"]))
            if len(out) == n:
                break
    return out


def write_docx(path: Path, docs) -> None:
    import docx

    document = docx.Document()
    for title, text in docs:
        document.add_heading(title, level=1)
        for sentence in text.split(" . "):
            document.add_paragraph(sentence)
    document.save(path)


def write_pptx(path: Path, docs) -> None:
    import pptx

    deck = pptx.Presentation()
    for title, text in docs:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = text
    deck.save(path)


def write_xlsx(path: Path, docs) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "title", "abstract"])
    for i, (title, text) in enumerate(docs):
        sheet.append([i, title, text])
    book.save(path)


def write_odt(path: Path, docs) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    for title, text in docs:
        document.text.addElement(H(outlinelevel=1, text=title))
        for sentence in text.split(" . "):
            document.text.addElement(P(text=sentence))
    document.save(str(path))


def write_epub(path: Path, docs) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("cranfield")
    book.set_title("Cranfield")
    chapters = []
    for i, (title, text) in enumerate(docs):
        chapter = epub.EpubHtml(title=title, file_name=f"c{i}.xhtml")
        chapter.content = f"<h1>{title}</h1><p>{text}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.spine = chapters
    book.add_item(epub.EpubNcx())
    epub.write_epub(str(path), book)


def write_ipynb(path: Path, docs) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = []
    for title, text in docs:
        cells.append(new_markdown_cell(f"## {title}\n{text}"))
        cells.append(new_code_cell(f"print({title[:30]!r})"))
    nbformat.write(new_notebook(cells=cells), str(path))


def write_eml(path: Path, docs) -> None:
    message = EmailMessage()
    message["From"], message["To"] = "a@example.org", "b@example.org"
    message["Subject"], message["Date"] = docs[0][0], "Tue, 02 Jan 2024 10:00:00 +0000"
    message.set_content("\n\n".join(text for _, text in docs))
    path.write_bytes(message.as_bytes())


WRITERS = {
    "docx": write_docx,
    "pptx": write_pptx,
    "xlsx": write_xlsx,
    "odt": write_odt,
    "epub": write_epub,
    "ipynb": write_ipynb,
    "eml": write_eml,
}

MARKITDOWN_SCRIPT = """
import sys, time, json
from markitdown import MarkItDown
md = MarkItDown()
for path in sys.argv[1:]:
    paths = [p for p in open(path).read().split("\\n") if p]
    start = time.perf_counter()
    try:
        chars = sum(len(md.convert(p).text_content) for p in paths)
    except Exception as err:  # a format markitdown does not read
        print(path, type(err).__name__, file=sys.stderr)
        continue
    print(json.dumps({"list": path, "seconds": time.perf_counter() - start, "chars": chars}))
"""


def corpus(folder: Path, n_docs: int, copies: int) -> dict[str, list[Path]]:
    docs = abstracts(n_docs)
    files: dict[str, list[Path]] = {}
    for ext, write in WRITERS.items():
        first = folder / f"bench0.{ext}"
        write(first, docs)
        files[ext] = [first]
        for i in range(1, copies):
            files[ext].append(Path(shutil.copy(first, folder / f"bench{i}.{ext}")))
    claims = DATA / "scifact" / "claims_train.csv"
    files["csv"] = [Path(shutil.copy(claims, folder / f"claims{i}.csv")) for i in range(copies)]
    return files


def measure(files: list[Path], root: Path) -> dict:
    start = time.perf_counter()
    docs = [doc for path in files for doc in load_file(path, root)]
    seconds = time.perf_counter() - start
    size = sum(path.stat().st_size for path in files)
    return {
        "files/s": len(files) / seconds,
        "MB/s": size / 1e6 / seconds,
        "KB/file": size / 1e3 / len(files),
        "chars/file": sum(len(doc.text) for doc in docs) / len(files),
        "sections/file": sum(len(doc.sections) for doc in docs) / len(files),
    }


def markitdown(files: dict[str, list[Path]], site: Path, folder: Path) -> dict[str, dict]:
    lists = []
    for ext, paths in files.items():
        listing = folder / f"{ext}.list"
        listing.write_text("\n".join(map(str, paths)))
        lists.append(str(listing))
    env = dict(os.environ, PYTHONPATH=str(site))
    run = subprocess.run(
        [sys.executable, "-S", "-c", MARKITDOWN_SCRIPT, *lists],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    out = {}
    for line in run.stdout.splitlines():
        record = json.loads(line)
        ext = Path(record["list"]).stem
        out[ext] = {
            "files/s": len(files[ext]) / record["seconds"],
            "chars/file": record["chars"] / len(files[ext]),
        }
    if run.returncode:
        print("markitdown failed:", run.stderr.strip().splitlines()[-1:], file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=40, help="abstracts per file")
    parser.add_argument("--copies", type=int, default=10, help="files per format")
    parser.add_argument("--markitdown", type=Path, help="folder where markitdown is installed")
    args = parser.parse_args()
    with open("/proc/loadavg") as handle:
        print("load average:", " ".join(handle.read().split()[:3]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = corpus(folder, args.docs, args.copies)
        for paths in files.values():  # first import of each library, outside the timing
            load_file(paths[0], folder)
        ours = {ext: measure(paths, folder) for ext, paths in files.items()}
        theirs = markitdown(files, args.markitdown, folder) if args.markitdown else {}
    header = (
        f"{'format':7} {'files/s':>8} {'MB/s':>6} {'KB/file':>8} {'chars/file':>10} {'sections':>8}"
    )
    if theirs:
        header += f" | {'markitdown files/s':>18} {'chars/file':>10}"
    print(header)
    for ext, row in ours.items():
        line = (
            f"{ext:7} {row['files/s']:8.1f} {row['MB/s']:6.2f} {row['KB/file']:8.1f} "
            f"{row['chars/file']:10.0f} {row['sections/file']:8.1f}"
        )
        if ext in theirs:
            line += f" | {theirs[ext]['files/s']:18.1f} {theirs[ext]['chars/file']:10.0f}"
        print(line)


if __name__ == "__main__":
    main()
