"""OCR (the ocr extra): a scanned page drawn by PIL, saved as PNG and bound into an
image-only PDF, read back by the real engines; off by default."""

from __future__ import annotations

import sys

import pytest
from pdfs import scanned_page_png, scanned_pdf

from ragcli.errors import LoadError
from ragcli.load import load_file, supported
from ragcli.load.ocr import HINT_MISSING, engines, read_image

LINES = [
    "Leaders broadcast heartbeats to every follower.",
    "A partitioned network delays the election timeout.",
]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    return scanned_page_png(folder / "memo.png", LINES)


def test_images_are_files_only_with_ocr():
    assert not supported("scan.png")
    assert supported("scan.png", ocr=True) and supported("scan.TIFF", ocr=True)


def test_scanned_pdf_without_ocr_says_how_to_turn_it_on(scan, tmp_path):
    path = scanned_pdf(tmp_path / "scan.pdf", [scan])
    with pytest.raises(LoadError) as info:
        load_file(path, tmp_path)
    assert (
        str(info.value)
        == "no extractable text (scanned PDF?; OCR is off: rag ingest --ocr reads it)"
    )


def test_ocr_without_an_engine_gives_the_install_hint(scan, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract binary
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # not installed
    assert engines() == {}
    with pytest.raises(LoadError) as info:
        load_file(scan, scan.parent, ocr=True)
    assert str(info.value) == f"no extractable text ({HINT_MISSING})"


@pytest.mark.slow  # tesseract runs as a subprocess, a page takes seconds
def test_png_is_read_by_ocr(scan):  # needs Debian's tesseract-ocr (.ci/run installs it)
    [doc] = load_file(scan, scan.parent, ocr=True)
    assert doc.kind == "image" and doc.metadata["ocr"] == "tesseract"
    assert flat(doc.text) == flat(" ".join(LINES))
    assert doc.title == LINES[0]
    assert [s.location.page for s in doc.sections] == [1]


@pytest.mark.slow
def test_scanned_pdf_pages_are_read_by_ocr_beside_a_text_layer(scan, tmp_path):
    path = scanned_pdf(tmp_path / "bound.pdf", ["Cover page typed with a text layer.", scan])
    [doc] = load_file(path, tmp_path, ocr=True)
    assert doc.metadata["pages_ocr"] == [2]
    pages = {s.location.page: flat(doc.text[s.start : s.end]) for s in doc.sections}
    assert pages[1] == "Cover page typed with a text layer."
    assert pages[2] == flat(" ".join(LINES))


@pytest.mark.slow  # the ONNX models load in seconds
def test_rapidocr_reads_the_words(scan):
    from PIL import Image

    rapid = engines()["rapidocr"]
    with Image.open(scan) as image:
        text = read_image(image, rapid)
    squeezed = text.replace(" ", "").lower()  # its recogniser may drop spaces
    for word in ("leaders", "heartbeats", "follower", "partitioned", "election"):
        assert word in squeezed, text


def test_discovery_lists_images_only_with_ocr(scan):
    from ragcli.discover import discover

    plain = discover(scan.parent)
    assert plain.files == [] and plain.skipped == [(str(scan), "unsupported type .png")]
    assert discover(scan.parent, ocr=True).files == [scan]


def test_ocr_setting_from_the_environment(tmp_path):
    from ragcli.config import Settings, load_settings

    assert Settings().ocr is False
    assert load_settings(tmp_path, env={"RAG_OCR": "1"}).ocr is True


def test_ocr_is_recorded_and_never_makes_an_index_incompatible(tmp_path):
    from ragcli.config import Settings
    from ragcli.ingest.manifest import check_compatible, expected_manifest

    with_ocr = expected_manifest(Settings(ocr=True))
    assert with_ocr["ocr"] is True and "ocr" not in expected_manifest(Settings())
    check_compatible(with_ocr, Settings(), tmp_path)  # no error either way
    check_compatible(expected_manifest(Settings()), Settings(ocr=True), tmp_path)


@pytest.mark.slow  # a real ingest with OCR
def test_an_index_built_with_ocr_keeps_its_images_on_a_plain_ingest(
    scan, tmp_path, monkeypatch, onnx_export_dir
):
    from helpers_ingest import clean_env

    from ragcli.config import Settings
    from ragcli.index import Index

    clean_env(monkeypatch, tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "memo.png").write_bytes(scan.read_bytes())
    (docs / "notes.txt").write_text("Followers reset their timers on each heartbeat.\n")
    where = tmp_path / ".rag" / "default"
    Index(where, settings=Settings(ocr=True, rerank=False), base_dir=tmp_path).ingest([docs])
    index = Index(where, settings=Settings(rerank=False), base_dir=tmp_path)
    report = index.ingest([docs])
    assert report.removed == [] and len(report.unchanged) == 2
    hits = index.search("partitioned network election timeout", k=1)
    assert hits[0].chunk.source.endswith("memo.png")
