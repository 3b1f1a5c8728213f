"""Hostile input where it enters ragcli: forged lines, invalid UTF-8, unbounded input."""

from __future__ import annotations

from types import SimpleNamespace

from ragcli import errors
from ragcli.cli import render, render_answer
from ragcli.errors import printable
from ragcli.types import Chunk, Hit, Location

FORGED = "x\nrag: error: fake.txt\x1b[2J\x1b]0;title\x07\r"


# ------------------------------------------------------------------ forged lines


def test_printable_escapes_every_control_character():
    assert printable(FORGED) == "x\\nrag: error: fake.txt\\x1b[2J\\x1b]0;title\\x07\\r"
    assert printable("a\u2028b\u202ec\x9bd\x7f") == "a\\u2028b\\u202ec\\x9bd\\x7f"
    # a name that is not UTF-8, as os.listdir returns it: the original byte is shown
    assert printable(b"bad_\xff.txt".decode("utf-8", "surrogateescape")) == "bad_\\xff.txt"
    assert printable("plain text, ünïcode ✓ 東京") == "plain text, ünïcode ✓ 東京"


def test_printable_can_keep_the_lines_of_multi_line_output():
    assert printable("one\ntwo\tthree\x1b[31m\r", keep_newlines=True) == (
        "one\ntwo\tthree\\x1b[31m\\r"
    )


def one_stderr_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "\x1b" not in err and "\r" not in err
    return err


def test_warnings_errors_and_notes_are_one_line(capsys):
    errors.warn(f"cannot read {FORGED}")
    assert one_stderr_line(capsys).startswith("rag: warning: cannot read x\\nrag: error: fake")
    render.error(f"bad {FORGED}")
    assert one_stderr_line(capsys).startswith("rag: error: bad x\\nrag: error:")
    render_answer.note(FORGED)
    assert one_stderr_line(capsys).startswith("rag: note: x\\n")


def test_ingest_skip_lines_cannot_forge_an_error(capsys):
    report = SimpleNamespace(
        to_dict=lambda: {
            "counts": dict.fromkeys(("added", "updated", "removed", "unchanged"), 0)
            | {"skipped": 1},
            "documents": 0,
            "chunks": 0,
            "seconds": 0.0,
            "skipped": [{"path": "d/" + FORGED, "reason": "empty\nrag: error: also fake"}],
        }
    )
    render.ingest_summary(report)
    err = one_stderr_line(capsys)
    assert err == (
        "rag: skipped d/x\\nrag: error: fake.txt\\x1b[2J\\x1b]0;title\\x07\\r: "
        "empty\\nrag: error: also fake\n"
    )


def make_hit(text: str, source: str, rank: int = 1) -> Hit:
    chunk = Chunk(
        doc_id=source,
        source=source,
        text=text,
        title="",
        location=Location(line_start=1, line_end=2),
        start=0,
        end=len(text),
        ordinal=0,
        chunk_id=rank,
    )
    return Hit(chunk=chunk, score=1.0, rank=rank)


def hostile_hit() -> Hit:
    return make_hit("text \x1b[31mred\x1b[0m and \x07 bell", "docs/" + FORGED)


def test_plain_search_output_escapes_names_and_text(capsys):
    render.search_plain("q", [hostile_hit()])
    out = capsys.readouterr().out
    assert out.count("\n") == 2
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "docs/x\\nrag: error: fake.txt" in out
    assert "text \\x1b[31mred\\x1b[0m and \\x07 bell" in out


def test_streamed_answers_and_source_lines_escape_terminal_codes(capsys):
    printer = render_answer.AnswerPrinter()
    printer("line one\n\x1b[2Jline two\x1b]0;pwned\x07")
    source = SimpleNamespace(n=1, source="docs/" + FORGED, location=Location())
    line = render_answer.source_line(source)
    out = capsys.readouterr().out
    assert out == "line one\n\\x1b[2Jline two\\x1b]0;pwned\\x07"
    assert "\n" not in line and "\x1b" not in line
