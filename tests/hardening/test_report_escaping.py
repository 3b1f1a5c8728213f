"""`rag eval` reports of a hostile collection: file names, ids, questions and index paths
with markup and control characters are shown as text, never as markup or escapes."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.index import Index

SCRIPT = "<script>alert(1)</script>"
OPEN = "<script>alert(0)"  # a file name cannot hold the "/" of a closing tag
CONTROLS = "\x1b[31m\x07\u202e"  # colour, bell, right-to-left override
# file name -> text; the names are what reports show as document ids
FILES = {
    f"lava{OPEN}.txt": "A volcano erupts when magma rises and escapes as lava.",
    f'bee"><img src=x onerror=alert(2)>{CONTROLS}.txt': (
        "Honey bees communicate where flowers are with a waggle dance."
    ),
    "tide.txt": "Ocean tides are caused by the gravitational pull of the Moon.",
}
QUESTIONS = [
    (f"q{SCRIPT}", f"What makes a volcano erupt? {SCRIPT}\n{CONTROLS}", f"lava{OPEN}.txt"),
    ("q2", f"How do bees say where flowers are?{CONTROLS}<marquee>", list(FILES)[1]),
]
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
PROJECT = "project<img src=y onerror=alert(3)>\x1b]0;title\x07"


@pytest.fixture(scope="module")
def run(tmp_path_factory, embed_model_path):
    """`rag eval` of hostile questions on an index of hostile files in a hostile folder."""
    root = tmp_path_factory.mktemp("hostile")
    project = root / PROJECT
    (project / "docs").mkdir(parents=True)
    for name, text in FILES.items():
        (project / "docs" / name).write_text(text + "\n")
    index = project / ".rag" / "default"
    Index(index).ingest([project / "docs"])
    questions = root / "questions.jsonl"
    with questions.open("w") as out:
        for qid, question, relevant in QUESTIONS:
            row = {"id": qid, "question": question, "relevant": [f"docs/{relevant}"]}
            out.write(json.dumps(row) + "\n")
    out = root / "report.html"
    args = ["eval", str(questions), "--index", str(index), "--mode", "sparse", "--no-rerank"]
    result = CliRunner().invoke(app, [*args, "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert "relevant id" not in result.stderr  # every hostile id was found in the index
    return result, out.read_text(encoding="utf-8")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_the_html_report_has_no_markup_from_the_collection(run):
    _, page = run
    parsed = Tags()
    parsed.feed(page)
    assert not parsed.tags & {"script", "img", "marquee"}
    assert "onerror" not in parsed.attributes
    text = "".join(parsed.text)
    assert SCRIPT in text  # shown, as text: the hostile names are in the page
    assert "project<img src=y onerror=alert(3)>" in text  # the index path


def test_the_html_report_shows_control_characters_as_escapes(run):
    _, page = run
    assert not CONTROL_CHARS.search(page)
    assert "\\x1b[31m\\x07\\u202e" in page


def test_the_text_table_has_no_terminal_escapes(run):
    result, _ = run
    assert not CONTROL_CHARS.search(result.stdout)
    assert "\\x1b]0;title\\x07" in result.stdout  # the index path, escaped
