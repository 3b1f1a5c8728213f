from __future__ import annotations

from ragcli.answer.citations import check_citations, find_citations


def test_single_and_adjacent_citations():
    report = check_citations("Paris is the capital [1]. It is large [2][1].", 3)
    assert report.cited == [1, 2]
    assert report.unknown == []
    assert report.uncited == [3]
    assert report.markers == 3
    assert report.ok


def test_lists_and_ranges():
    assert find_citations("see [1, 2] and [4-6] and [3; 7] and [2 \u2013 3]") == [
        1,
        2,
        4,
        5,
        6,
        3,
        7,
        2,
        3,
    ]
    report = check_citations("A [1-3].", 3)
    assert report.cited == [1, 2, 3] and report.uncited == []


def test_unknown_numbers_are_flagged():
    report = check_citations("Claim [2]. Another [5]. Zero [0].", 3)
    assert report.cited == [2, 5, 0]
    assert report.unknown == [5, 0]
    assert not report.ok
    assert report.to_dict()["unknown"] == [5, 0]


def test_no_citations_and_markdown_links():
    report = check_citations("No sources here. See [docs](http://x) and [1](http://y).", 2)
    assert report.cited == []
    assert not report.has_citations and not report.ok
    assert report.uncited == [1, 2]


def test_huge_range_is_not_expanded():
    assert find_citations("[1-1000000]") == [1, 1000000]
