"""Long sections are tokenised piece by piece; the chunks are the same as before.

``tests/data/chunking/reference.json`` holds the chunks the chunker gave before long
sections were tokenised in pieces (commit 18fe7b4), for real files: the example corpus,
SciFact abstracts as text and JSONL, Cranfield as Markdown and a C source file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models

from ragcli.chunk import PIECE_CHARS, Chunker
from ragcli.load import load_file
from ragcli.types import Document, Location, Section
from ragcli.weights import load_tokenizer

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "chunking"
REFERENCE = json.loads((DATA / "reference.json").read_text())


@pytest.fixture(scope="module")
def tokenizer(embed_model_path: str) -> Tokenizer:
    return load_tokenizer(embed_model_path)


def rows_and_digest(chunks) -> tuple[list, str]:
    rows = [[c.doc_id, c.ordinal, c.start, c.end, c.n_tokens, c.location.to_dict()] for c in chunks]
    sha = hashlib.sha256(json.dumps(rows).encode())
    for c in chunks:
        sha.update(c.text.encode())
    return rows, sha.hexdigest()


def boundaries(chunks) -> list[tuple]:
    return [(c.ordinal, c.start, c.end, c.n_tokens, c.location, c.text) for c in chunks]


# A piece of 2,000 characters puts many piece ends inside every long section; the default
# leaves scifact.txt (200 kB in one section) and cranfield's longest sections in pieces.
@pytest.mark.parametrize("piece_chars", [PIECE_CHARS, 2000, 300])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_chunks_of_real_files_are_the_reference_chunks(tokenizer, name, piece_chars):
    path = REPO / name
    docs = load_file(path, path.parent)
    for setting, expected in REFERENCE[name].items():
        if setting == "rows":
            continue
        size, overlap = map(int, setting.split("/"))
        chunker = Chunker(tokenizer, size, overlap, max_tokens=256, piece_chars=piece_chars)
        chunks = chunker.chunk_many(docs)
        rows, digest = rows_and_digest(chunks)
        if setting == "200/32":
            assert rows == REFERENCE[name]["rows"]
        assert (len(chunks), digest) == (expected["chunks"], expected["sha256"])
        texts = {doc.doc_id: doc.text for doc in docs}
        assert all(texts[c.doc_id][c.start : c.end] == c.text for c in chunks)


def test_reference_covers_long_sections():
    """The pinned files do reach the piece-wise path at the default piece size."""
    longest = max(len(doc.text) for doc in load_file(DATA / "scifact.txt", DATA))
    assert longest > 3 * PIECE_CHARS


def long_markdown() -> str:
    """About 2.4 MB of Markdown: SciFact abstracts, one long section of 1 MB without a
    heading, then sections of a few abstracts each."""
    abstracts = (DATA / "scifact.txt").read_text()
    head = "\n".join(abstracts for _ in range(5))
    parts = [f"# Notes\n\n{head}\n"]
    for number, paragraph in enumerate(abstracts.split("\n\n")[:300]):
        parts.append(f"## Part {number}\n\n{paragraph} {paragraph}\n\n" * 3)
    return "".join(parts)


@pytest.mark.slow  # the whole-section tokenisation of 1 MB takes a few seconds
def test_a_large_markdown_file_chunks_as_if_tokenised_whole(tokenizer, tmp_path):
    path = tmp_path / "large.md"
    path.write_text(long_markdown())
    assert path.stat().st_size > 2_000_000
    (document,) = load_file(path, tmp_path)
    in_pieces = Chunker(tokenizer).chunk(document)
    whole = Chunker(tokenizer, piece_chars=len(document.text)).chunk(document)
    assert boundaries(in_pieces) == boundaries(whole)
    spans = [(s.start, s.end, s.location) for s in document.sections]
    for chunk in in_pieces:
        assert document.text[chunk.start : chunk.end] == chunk.text
        inside = [s for s in spans if s[0] <= chunk.start and chunk.end <= s[1]]
        assert len(inside) == 1 and inside[0][2].heading == chunk.location.heading
        lines = (chunk.location.line_start, chunk.location.line_end)
        text = document.text
        assert lines == (
            text.count("\n", 0, chunk.start) + 1,
            text.count("\n", 0, chunk.end - 1) + 1,
        )


def character_tokenizer(text: str) -> Tokenizer:
    """A real tokenizer that looks across line breaks: one token per character and no
    pre-tokenizer, so the whole input is one word."""
    vocab = {char: number for number, char in enumerate(sorted(set(text)), 1)}
    vocab["[UNK]"] = 0
    return Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))


def test_a_tokenizer_that_looks_across_breaks_gets_the_whole_section_tokens():
    text = "\n".join(f"line {n} of a long text, with words." for n in range(400))
    tokenizer = character_tokenizer(text)
    document = Document("d", "d.txt", "d", "text", text, [Section(0, len(text), Location())])
    in_pieces = Chunker(tokenizer, 40, 8, piece_chars=500).chunk(document)
    whole = Chunker(tokenizer, 40, 8, piece_chars=len(text)).chunk(document)
    assert len(whole) > 100
    assert boundaries(in_pieces) == boundaries(whole)
