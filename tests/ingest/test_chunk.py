"""Token-aware chunking with the real all-MiniLM-L6-v2 tokenizer."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

from ragcli import chunk as chunk_module
from ragcli.chunk import Chunker
from ragcli.errors import RagError, UsageError
from ragcli.types import Chunk, Document, Location, Section
from ragcli.weights import DEFAULT_EMBED_MODEL, load_tokenizer, model_max_tokens

_WORD_TEXT = (
    "the model reads text in word pieces and every chunk must fit inside its window "
    "retrieval quality depends on clean boundaries between paragraphs sentences and words "
    "antidisestablishmentarianism photosynthesis mitochondria neurotransmitter"
)
WORDS = _WORD_TEXT.split()


@pytest.fixture(scope="module")
def tokenizer(embed_model_path: str) -> Tokenizer:
    return load_tokenizer(embed_model_path)


def n_pieces(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def sentence(rng: random.Random, n_words: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n_words)]
    return " ".join(words).capitalize() + "."


def prose(seed: int, paragraphs: int = 6, sentences: int = 6) -> str:
    rng = random.Random(seed)
    return "\n\n".join(
        " ".join(sentence(rng, rng.randint(5, 18)) for _ in range(sentences))
        for _ in range(paragraphs)
    )


def doc(text: str, **kwargs) -> Document:
    fields = {"doc_id": "d1", "source": "notes.txt", "title": "Notes", "kind": "text"}
    fields.update(kwargs)
    return Document(text=text, **fields)


def check_invariants(
    chunks: list[Chunk], document: Document, tokenizer: Tokenizer, size: int, slack: int = 0
) -> None:
    """Exact slices, no empty or padded chunk, within the token budget, ordinals in order."""
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert document.text[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()
        assert 1 <= c.n_tokens <= size
        assert n_pieces(tokenizer, c.text) <= size + slack
        assert (c.doc_id, c.source, c.title) == (document.doc_id, document.source, document.title)


# -- loading -----------------------------------------------------------------------------


def test_load_tokenizer_by_name_turns_off_truncation_and_padding(embed_model_path):
    tok = load_tokenizer(DEFAULT_EMBED_MODEL)  # resolved to the packaged folder
    assert tok.truncation is None and tok.padding is None
    # tokenizer.json of this model truncates and pads to 128; the chunker must see all.
    raw = Tokenizer.from_file(f"{embed_model_path}/tokenizer.json")
    assert raw.truncation is not None
    text = " ".join(["retrieval"] * 300)
    encoding = tok.encode(text, add_special_tokens=False)
    assert len(encoding.ids) == 300 and "[PAD]" not in encoding.tokens


def test_model_max_tokens(embed_model_path, tmp_path):
    assert model_max_tokens(embed_model_path) == 256
    assert model_max_tokens(DEFAULT_EMBED_MODEL) == 256
    # Without sentence_bert_config.json: the smaller of tokenizer and position limits.
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    (tmp_path / "config.json").write_text('{"max_position_embeddings": 384}')
    assert model_max_tokens(str(tmp_path)) == 384
    (tmp_path / "config.json").unlink()
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 1e30}')
    assert model_max_tokens(str(tmp_path)) is None


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(RagError, match="no tokenizer.json"):
        load_tokenizer(str(tmp_path))
    # HF_HUB_OFFLINE=1 (conftest): an uncached hub name fails with one clear line.
    with pytest.raises(RagError, match="cannot get tokenizer.json") as info:
        load_tokenizer("no-such-org/no-such-model-xyz")
    assert "\n" not in str(info.value)
    assert model_max_tokens("no-such-org/no-such-model-xyz") is None


@pytest.mark.slow  # a fresh interpreter
def test_chunker_does_not_import_torch(embed_model_path):
    code = (
        "import sys\n"
        "from ragcli.chunk import Chunker\nfrom ragcli.weights import load_tokenizer\n"
        "from ragcli.types import Document\n"
        f"tok = load_tokenizer({embed_model_path!r})\n"
        "chunks = Chunker(tok).chunk(Document('a', 'a', '', 'text', 'Hello world. ' * 300))\n"
        "assert len(chunks) > 1\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- validation --------------------------------------------------------------------------


def test_chunk_size_larger_than_model_max_is_a_usage_error(tokenizer, embed_model_path):
    limit = model_max_tokens(embed_model_path)
    with pytest.raises(UsageError, match="at most 254"):
        Chunker(tokenizer, chunk_size=300, max_tokens=limit)
    with pytest.raises(UsageError):
        Chunker(tokenizer, chunk_size=255, max_tokens=limit)  # 255 + [CLS] + [SEP] > 256
    assert Chunker(tokenizer, chunk_size=254, max_tokens=limit).chunk_size == 254


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [
        (32, 32, "smaller than the chunk size"),
        (32, 40, "smaller"),
        (0, 0, "positive"),
        (32, -1, "zero or more"),
    ],
)
def test_bad_sizes_are_usage_errors(tokenizer, size, overlap, message):
    with pytest.raises(UsageError, match=message):
        Chunker(tokenizer, chunk_size=size, overlap=overlap)


def test_tokenizer_with_truncation_is_copied_not_mutated(embed_model_path):
    raw = Tokenizer.from_file(f"{embed_model_path}/tokenizer.json")  # truncates at 128
    text = prose(7, paragraphs=8)
    chunks = Chunker(raw, chunk_size=200, overlap=20).chunk(doc(text))
    assert raw.truncation is not None  # the caller's object is left alone
    assert max(c.n_tokens for c in chunks) > 128
    assert chunks[-1].end == len(text.rstrip())  # nothing after token 128 was lost


# -- chunking ------------------------------------------------------------------------------


def test_long_text_invariants_overlap_and_coverage(tokenizer):
    text = prose(1, paragraphs=10, sentences=8)
    document = doc(text)
    chunks = Chunker(tokenizer, chunk_size=64, overlap=16).chunk(document)
    assert len(chunks) > 10
    check_invariants(chunks, document, tokenizer, 64)
    # Every re-tokenised chunk has exactly the counted pieces (cuts are at word boundaries).
    assert all(n_pieces(tokenizer, c.text) == c.n_tokens for c in chunks)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.start < nxt.start < prev.end  # overlapping, moving forward
        shared = n_pieces(tokenizer, text[nxt.start : prev.end])
        assert 1 <= shared <= 16
        assert text[nxt.start - 1].isspace()  # starts at a word
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_zero_overlap_gives_adjacent_chunks(tokenizer):
    text = prose(2)
    chunks = Chunker(tokenizer, chunk_size=48, overlap=0).chunk(doc(text))
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.end <= nxt.start and not text[prev.end : nxt.start].strip()
    assert sum(c.n_tokens for c in chunks) == n_pieces(tokenizer, text)


def test_paragraph_break_is_preferred_over_later_sentence_end(tokenizer):
    rng = random.Random(3)
    first = " ".join(sentence(rng, 8) for _ in range(5))
    second = " ".join(sentence(rng, 8) for _ in range(12))
    size = int(n_pieces(tokenizer, first) / 0.8)  # the break sits at ~80% of the window
    text = f"{first}\n\n{second}"
    chunks = Chunker(tokenizer, chunk_size=size, overlap=8).chunk(doc(text))
    assert chunks[0].text == first
    # Sentence ends lie after the break inside the first window, and were passed over.
    assert n_pieces(tokenizer, text[: len(first) + 2 + second.index(". ") + 1]) < size


def test_line_break_beats_sentence_end_and_sentence_beats_word(tokenizer):
    rng = random.Random(4)
    head = " ".join(sentence(rng, 10) for _ in range(4))
    tail = " ".join(sentence(rng, 10) for _ in range(10))
    size = int(n_pieces(tokenizer, head) / 0.85)
    chunks = Chunker(tokenizer, chunk_size=size, overlap=4).chunk(doc(f"{head}\n{tail}"))
    assert chunks[0].text == head

    # Sentences of one-piece words, shorter than the searched 30% (18 tokens) of a window.
    short = [w for w in WORDS if n_pieces(tokenizer, w) == 1]
    sentences = [
        " ".join(rng.choice(short) for _ in range(rng.randint(6, 12))).capitalize() + "."
        for _ in range(40)
    ]
    text = " ".join(sentences)
    chunks = Chunker(tokenizer, chunk_size=60, overlap=10).chunk(doc(text))
    assert len(chunks) > 5
    assert all(c.text.endswith(".") for c in chunks)  # every cut after a sentence end
    # With a sentence start within reach, the overlap begins at a sentence.
    assert sum(c.text[0].isupper() for c in chunks[1:]) >= len(chunks[1:]) // 2


def test_chunks_never_cross_sections(tokenizer):
    pages = [prose(10 + i, paragraphs=2) for i in range(3)]
    text, sections = "", []
    for number, page in enumerate(pages, start=1):
        start = len(text)
        text += page
        sections.append(Section(start, len(text), Location(page=number)))
        text += "\f"
    document = doc(text, kind="pdf", sections=sections)
    chunks = Chunker(tokenizer, chunk_size=40, overlap=8).chunk(document)
    check_invariants(chunks, document, tokenizer, 40)
    for c in chunks:
        (section,) = [s for s in sections if s.start <= c.start < s.end]
        assert c.end <= section.end
        assert c.location == section.location
    assert {c.location.page for c in chunks} == {1, 2, 3}
    # Each page's last chunk ends at that page's last character.
    for section in sections:
        last = max((c for c in chunks if c.location == section.location), key=lambda c: c.end)
        assert last.end == section.end


def test_short_doc_is_one_stripped_chunk(tokenizer):
    text = "  \n Hello world, this is short.  \n"
    chunks = Chunker(tokenizer).chunk(doc(text, title="Greeting"))
    assert len(chunks) == 1
    (c,) = chunks
    assert c.text == "Hello world, this is short." == text[c.start : c.end]
    assert (c.ordinal, c.title, c.location) == (0, "Greeting", Location())
    assert c.n_tokens == n_pieces(tokenizer, c.text) == 7
    # A section shorter than chunk_size is one chunk too, with the section's location.
    heading = Location(heading=("Setup", "Install"))
    document = doc(text + "Second part.", sections=[Section(0, len(text), heading)])
    assert [(c.text, c.location) for c in Chunker(tokenizer).chunk(document)] == [
        ("Hello world, this is short.", heading)
    ]


def test_empty_and_whitespace_sections_give_no_chunks(tokenizer):
    chunker = Chunker(tokenizer, chunk_size=16, overlap=4)
    assert chunker.chunk(doc("")) == []
    assert chunker.chunk(doc(" \n\n\t  \r\n")) == []
    text = "First page.\n   \n\n\t\fThird page."
    sections = [
        Section(0, 11, Location(page=1)),
        Section(11, 19, Location(page=2)),  # whitespace only
        Section(19, 19, Location(page=3)),  # empty
        Section(19, len(text), Location(page=4)),
    ]
    chunks = chunker.chunk(doc(text, sections=sections))
    assert [(c.text, c.location.page, c.ordinal) for c in chunks] == [
        ("First page.", 1, 0),
        ("Third page.", 4, 1),
    ]


def test_line_numbers_on_known_text(tokenizer):
    # Lines of about 8 pieces, so every searched area (last 12 of 40 tokens) has a break.
    short = WORDS[:-4]  # without the four long words
    lines = [
        f"line {n} says " + " ".join(short[(n + k) % len(short)] for k in range(4))
        for n in range(1, 31)
    ]
    text = "\n\n" + "\n".join(lines) + "\n"  # two blank lines first: line k is lines[k - 3]
    document = doc(text, kind="code", line_numbers=True)
    chunks = Chunker(tokenizer, chunk_size=40, overlap=8).chunk(document)
    assert len(chunks) > 3
    check_invariants(chunks, document, tokenizer, 40)
    first = chunks[0]
    assert first.location.line_start == 3 and first.text.startswith("line 1 says")
    for c in chunks:
        start_line, end_line = c.location.line_start, c.location.line_end
        body = c.text.splitlines()
        assert body[0] in lines[start_line - 3]
        assert body[-1] in lines[end_line - 3]
        assert end_line - start_line + 1 == len(body)
        assert c.text.endswith(lines[end_line - 3])  # cut at a line break
    assert chunks[-1].location.line_end == 32
    # Without line_numbers the location has no line range.
    plain = Chunker(tokenizer, chunk_size=40, overlap=8).chunk(doc(text))
    assert all(c.location.line_start is None and c.location.line_end is None for c in plain)


def test_line_numbers_within_sections(tokenizer):
    text = "# Title\n\nIntro text here.\n\n## Part\n\nBody line one.\nBody line two.\n"
    split = text.index("## Part")
    sections = [
        Section(0, split, Location(heading=("Title",))),
        Section(split, len(text), Location(heading=("Title", "Part"))),
    ]
    chunks = Chunker(tokenizer).chunk(doc(text, sections=sections, line_numbers=True))
    assert [(c.location.heading, c.location.line_start, c.location.line_end) for c in chunks] == [
        (("Title",), 1, 3),
        (("Title", "Part"), 5, 8),
    ]
    assert chunks[1].location.describe() == "Title > Part, lines 5-8"


@pytest.mark.parametrize(
    "text",
    [
        "abcdefghij" * 500,  # one over-long word: the tokenizer makes it a single [UNK]
        "zqxjkvbwpmfgtyhu" * 6,  # 96 letters: many word pieces, no word boundary at all
        "日本語のテキストを分割する。" * 120,  # CJK without spaces
        "a.b-c/d_e:f" * 300,  # punctuation between words, no whitespace
        "https://example.org/" + "path" * 20 + "?" + "&k=v" * 200,
    ],
    ids=["unk-word", "one-word", "cjk", "punct", "url"],
)
def test_long_unbroken_strings_still_chunk(tokenizer, text):
    document = doc(text)
    chunks = Chunker(tokenizer, chunk_size=12, overlap=3).chunk(document)
    assert chunks
    check_invariants(chunks, document, tokenizer, 12, slack=4)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.start < nxt.start <= prev.end  # progress, no gaps


def test_unicode_keeps_the_slice_invariant(tokenizer):
    rng = random.Random(5)
    pieces = [
        "Café crème brûlée, naïve façade — Ångström über Straße.",
        "東京都は日本の首都です。今日は良い天気ですね！",
        "Emoji 😀🎉 and family 👨‍👩‍👧‍👦 with flags 🇫🇷🇯🇵 and skin tones 👍🏽.",
        "Combining: e\u0301 n\u0303 a\u0308; zero\u200bwidth and nbsp\u00a0here.",
        "Ελληνικά κείμενα, русский текст, עברית, العربية.",
        "Control\x00chars\x07 and tabs\tand\r\nwindows lines.",
    ]
    text = "\n\n".join(" ".join(rng.choice(pieces) for _ in range(5)) for _ in range(8))
    document = doc(text, line_numbers=True)
    chunks = Chunker(tokenizer, chunk_size=48, overlap=12).chunk(document)
    assert len(chunks) > 5
    check_invariants(chunks, document, tokenizer, 48, slack=2)
    for c in chunks:
        assert c.location.line_start == text.count("\n", 0, c.start) + 1
        assert c.location.line_end == text.count("\n", 0, c.end - 1) + 1
    assert "😀" in "".join(c.text for c in chunks)


def test_chunk_many_matches_chunk_and_batches(tokenizer, monkeypatch):
    docs = [
        doc(prose(20 + i, paragraphs=i + 1), doc_id=f"d{i}", source=f"f{i}.txt", title=f"T{i}")
        for i in range(5)
    ]
    docs.insert(2, doc("   ", doc_id="blank"))
    chunker = Chunker(tokenizer, chunk_size=50, overlap=10)
    one_by_one = [c for d in docs for c in chunker.chunk(d)]
    monkeypatch.setattr(chunk_module, "_BATCH_SECTIONS", 2)  # force several encode_batch calls
    batched = chunker.chunk_many(iter(docs))
    assert batched == one_by_one
    assert [c.doc_id for c in batched] == sorted(c.doc_id for c in batched)
    assert "blank" not in {c.doc_id for c in batched}
    for d in docs:
        mine = [c for c in batched if c.doc_id == d.doc_id]
        assert [c.ordinal for c in mine] == list(range(len(mine)))
        assert all((c.source, c.title) == (d.source, d.title) for c in mine)


def test_sections_past_the_text_end_are_clipped(tokenizer):
    text = "Only this text exists."
    chunks = Chunker(tokenizer).chunk(doc(text, sections=[Section(5, 500, Location(page=1))]))
    assert [(c.text, c.start, c.end) for c in chunks] == [("this text exists.", 5, len(text))]
