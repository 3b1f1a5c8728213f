"""Clean PDF text: ligatures, line-end hyphens, page furniture, outline headings, titles.

The papers are written by fpdf2 (tests/pdfs.py): two columns, a running header, page
numbers, words broken at line ends, ligature glyphs, bookmarks.
"""

from __future__ import annotations

import pytest
from pdfs import paper_pdf, text_pdf

from ragcli.load import load_file
from ragcli.load.clean import (
    dehyphenate,
    is_junk_title,
    normalise_unicode,
    remove_page_furniture,
)

PAGES = [
    {
        "heading": "1 Introduction",
        "left": [
            "Modern ﬁle systems ﬂush data within sec-",
            "onds of a write, using a state-of-the-",
            "art journal.",
        ],
        "right": [
            "Leaders have difﬁculty broad-",
            "casting heartbeats when the net-",
            "work is partitioned.",
        ],
    },
    {
        "heading": "2 Design",
        "left": ["The log is replicated to every follower", "before it is applied."],
        "right": ["Snapshots bound the size of the log."],
    },
    {
        "heading": "2.1 Log compaction",
        "level": 1,
        "left": ["Compaction discards entries that a", "snapshot already covers."],
        "right": ["Followers install snapshots sent by the leader."],
    },
]


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    folder = tmp_path_factory.mktemp("papers")
    path = paper_pdf(folder / "raft.pdf", "Consensus for Tests", "Microsoft Word - raft.doc", PAGES)
    [doc] = load_file(path, folder)
    return doc


def flat(text: str) -> str:
    return " ".join(text.split())


def test_ligatures_become_letters(paper):
    assert not any(char in paper.text for char in "ﬁﬂﬀﬃﬄ")
    assert "Modern file systems flush data" in flat(paper.text)


def test_line_end_hyphens_are_joined_and_real_hyphens_kept(paper):
    text = flat(paper.text)
    assert "flush data within seconds of a write, using a state-of-the-art journal." in text
    assert "Leaders have difficulty broadcasting heartbeats when the network is" in text
    assert "sec- onds" not in text and "sec-\nonds" not in paper.text


def test_two_columns_read_left_then_right(paper):
    text = flat(paper.text)
    assert text.index("state-of-the-art journal") < text.index("Leaders have difficulty")
    assert text.index("before it is applied.") < text.index("Snapshots bound")


def test_running_header_and_page_numbers_are_removed(paper):
    assert "Journal of Test Systems" not in paper.text
    assert not [line for line in paper.text.split("\n") if line.strip().isdigit()]


def test_sections_carry_outline_heading_paths(paper):
    by_page = {s.location.page: s.location.heading for s in paper.sections}
    assert by_page == {
        1: ("1 Introduction",),
        2: ("2 Design",),
        3: ("2 Design", "2.1 Log compaction"),
    }
    page_two = next(s for s in paper.sections if s.location.page == 2)
    assert paper.text[page_two.start : page_two.end].startswith("2 Design")


def test_junk_metadata_title_gives_way_to_the_first_page(paper):
    assert paper.title == "Consensus for Tests"


def test_good_metadata_title_is_kept(tmp_path):
    path = text_pdf(tmp_path / "r.pdf", ["Body text."], title="Quarterly Report 2026")
    [doc] = load_file(path, tmp_path)
    assert doc.title == "Quarterly Report 2026"


def test_text_at_body_size_is_not_a_title(tmp_path):
    path = text_pdf(tmp_path / "memo.pdf", ["All of this is body text."], title="paper.dvi")
    [doc] = load_file(path, tmp_path)
    assert doc.title == "memo"


@pytest.mark.parametrize(
    "title",
    ["", "   ", "Proceedings Template - WORD", "paper.dvi", "Microsoft Word - x.doc", "untitled"],
)
def test_junk_titles(title):
    assert is_junk_title(title)


@pytest.mark.parametrize(
    "title", ["In Search of an Understandable Consensus Algorithm", "The Google File System"]
)
def test_real_titles(title):
    assert not is_junk_title(title)


def test_dehyphenate_rules():
    assert dehyphenate("sec-\nonds pass") == "seconds\npass"
    assert dehyphenate("a state-of-the-\nart design") == "a state-of-the-art\ndesign"
    assert dehyphenate("non-\nblocking I/O") == "non-blocking\nI/O"
    # a capital after the break is a name or a compound, not a broken word
    assert dehyphenate("Jean-\nPaul wrote") == "Jean-\nPaul wrote"
    # the document spells the compound with a hyphen elsewhere and never without
    assert dehyphenate("well-known facts and well-\nknown names") == (
        "well-known facts and well-known\nnames"
    )
    assert dehyphenate("the pro-\ncess.\nNext") == "the process.\nNext"


def test_normalise_unicode():
    assert normalise_unicode("di\ufb03cult \ufb01le \ufb02ow") == "difficult file flow"
    assert normalise_unicode("hyphen\u00adation") == "hyphenation"


def test_page_furniture_only_at_page_edges():
    words = ["alpha", "beta", "gamma", "delta"]
    bodies = [
        [*(f"{word} {i}" for i in range(3)), "Raft Paper", *(f"{word} end {i}" for i in range(3))]
        for word in words
    ]
    pages = [
        "\n".join([f"Raft Paper {n}", *body, f"Page {n} of 4"]) for n, body in enumerate(bodies)
    ]
    cleaned = remove_page_furniture(pages)
    # the header and the page number go; the same words in the middle of a page stay
    assert cleaned[2] == "\n".join(bodies[2])
    # a line repeated on fewer than half the pages stays
    assert remove_page_furniture(["Note\na", "b", "c", "d", "Note\ne"])[0] == "Note\na"
