"""Every JSONL reader (questions for eval, a JSONL corpus, `rag search --batch`) says
what is wrong with a bad line in the same words, after its own file-and-line prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.cli.search import read_batch
from ragcli.errors import RagError
from ragcli.evaluate.datasets import read_questions
from ragcli.load import load_file


def _problem(read, path: Path) -> str:
    with pytest.raises(RagError) as info:
        read(path)
    message = str(info.value)
    assert "\n" not in message
    return message.split("line 2: ")[-1].split(":2: ")[-1]


READERS = {
    "questions": lambda path: read_questions(path),
    "corpus": lambda path: list(load_file(path, path.parent)),
    "batch": lambda path: list(read_batch(path)),
}


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ('{"question": "q", "text": "t", "_id": "x",', "invalid JSON (Expecting"),
        ('{"question": "q" "text"}', "invalid JSON (Expecting ',' delimiter)"),
    ],
)
def test_a_line_that_is_not_json_is_reported_alike(tmp_path, bad, problem):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "a", "question": "q?", "text": "fine"}\n' + bad + "\n")
    said = {name: _problem(read, path) for name, read in READERS.items()}
    assert all(text.startswith(problem) for text in said.values()), said
    assert len(set(said.values())) == 1, said


def test_a_line_that_is_not_an_object_is_reported_alike(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "a", "question": "q?", "text": "fine"}\n["a", "list"]\n')
    readers = {name: READERS[name] for name in ("questions", "corpus")}  # batch: plain text
    said = {name: _problem(read, path) for name, read in readers.items()}
    assert set(said.values()) == {"expected a JSON object, got a list"}, said
