"""Issue 25, the smaller items: each ends in its one clear line."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from formats_corpus import make_docx, make_pptx
from llm_servers import FakeServer, Reply
from test_llm_faults import PROMPT, backend

from ragcli.errors import LoadError, RagError
from ragcli.load import load_file


def test_embed_workers_above_the_cpus_are_capped_with_a_note(capsys):
    from ragcli.embed.pool import cpu_count, worker_count

    assert worker_count(cpu_count() + 38) == cpu_count()
    err = capsys.readouterr().err
    assert err == (f"rag: warning: embed workers: {cpu_count() + 38} capped at {cpu_count()}, "
                   "the CPUs this process may use (each worker holds its own model, about "
                   "130 MiB)\n")  # fmt: skip
    assert worker_count(1) == 1 and capsys.readouterr().err == ""


def test_a_pdfium_success_code_is_not_given_as_the_reason():
    from ragcli.load.pdf import _pdfium_reason

    reason = _pdfium_reason(Exception("Failed to load document (PDFium: Success)."))
    assert reason == "PDFium cannot parse it (no error code)"
    assert _pdfium_reason(Exception("Failed (PDFium: Data format error).")) == ("data format error")


def with_entity(source: Path, target: Path, member: str, before: str) -> Path:
    """``source`` with a DTD declaring an external entity, and a reference to it put
    before ``before`` in ``member``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == member:
                head, rest = data.decode().split("?>", 1)
                rest = rest.replace(before, "&ext; " + before, 1)
                doctype = '<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/hostname">]>'
                data = (head + "?>\n" + doctype + rest).encode()
            new.writestr(info, data)
    return target


def test_text_after_an_unresolved_entity_is_kept(tmp_path):
    docx = with_entity(make_docx(tmp_path / "a.docx"), tmp_path / "entity.docx",
                       "word/document.xml", "before the first night shift")  # fmt: skip
    [doc] = load_file(docx, tmp_path)
    assert "Read this &ext; before" not in doc.text
    assert "before the first night shift." in doc.text.split("\n\n")[0]
    pptx = with_entity(make_pptx(tmp_path / "a.pptx"), tmp_path / "entity.pptx",
                       "ppt/slides/slide2.xml", "by a third")  # fmt: skip
    [doc] = load_file(pptx, tmp_path)
    assert "Consumption fell" in doc.text and "by a third after the new burner." in doc.text


def test_a_dtd_internal_subset_is_not_indexed(tmp_path):
    from ragcli.load import xhtml

    page = tmp_path / "page.html"
    page.write_text('<!DOCTYPE html [\n<!ENTITY x "y">\n]>\n<html><body><p>Hello there.</p>'
                    "</body></html>")  # fmt: skip
    [doc] = load_file(page, tmp_path)
    assert doc.text.strip() == "Hello there."
    chapter = b'<?xml version="1.0"?><!DOCTYPE html [ <!ENTITY x "y"> ] >' + (
        b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Gulls.</p></body></html>'
    )
    assert xhtml.blocks(chapter) == [(0, "Gulls.")]


def test_an_encoded_surrogate_is_named(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"Plain text about the harbour tides. \xed\xa0\x80 More text.\n")
    with pytest.raises(LoadError) as err:
        load_file(path, tmp_path)
    assert str(err.value) == (
        "not valid UTF-8 (an encoded surrogate, \\xed\\xa0\\x80, at offset 36: CESU-8 or WTF-8)"
    )


def test_a_too_deeply_nested_jsonl_record_is_skipped_by_line(tmp_path, capsys):
    path = tmp_path / "corpus.jsonl"
    nested = "[" * 100_000 + "]" * 100_000
    path.write_text(json.dumps({"_id": "a", "text": "one"}) + "\n"
                    + '{"_id": "b", "text": "two", "deep": ' + nested + "}\n"
                    + json.dumps({"_id": "c", "text": "three"}) + "\n")  # fmt: skip
    assert [doc.doc_id for doc in load_file(path, tmp_path)] == ["a", "c"]
    assert capsys.readouterr().err == (
        "rag: warning: corpus.jsonl: line 2: record nested too deeply to parse, skipped\n"
    )


def test_an_unknown_rag_variable_is_named_once(tmp_path, capsys, monkeypatch):
    import ragcli.config as config

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(config, "_WARNED", set())  # this test's own once-per-process record
    env = {"RAG_TOP_K": "3", "RAG_K": "4", "RAG_CACHE_DIR": "/tmp/x", "RAG_EMBED_API_KEY": "k"}
    assert config.load_settings(tmp_path, env=env).k == 4
    config.load_settings(tmp_path, env=env)
    assert capsys.readouterr().err == (
        "rag: warning: RAG_TOP_K: unknown setting, ignored (did you mean RAG_K?)\n"
    )


@pytest.mark.parametrize("name", ["claude", "openai", "ollama"])
def test_a_redirect_from_a_language_model_server_is_named(name):
    moved = Reply(status=307, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    server = FakeServer(default=moved)
    with server, pytest.raises(RagError) as err:
        backend(name, server.url).generate(PROMPT)
    message = str(err.value)
    assert "answered with a redirect (HTTP 307), which is not followed" in message, message
    assert len(server.requests) == 1 and "\n" not in message


@pytest.mark.slow  # a `rag` process on a pseudo-terminal
def test_rag_get_escapes_control_characters_on_a_terminal(tmp_path, onnx_export_dir):
    import os
    import pty
    import subprocess

    from helpers_ingest import rag_command, subprocess_env

    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    hostile = root / "docs" / "zz-hostile.txt"
    hostile.write_text("Title line of plain words\n\x1b]0;pwned\x07\x1b[2J cleared \x08 bs\n")
    env = subprocess_env(tmp_path)
    done = subprocess.run([*rag_command(), "ingest", "docs"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    piped = subprocess.run([*rag_command(), "get", "docs/zz-hostile.txt"], cwd=root, env=env,
                           capture_output=True, timeout=120)  # fmt: skip
    assert b"\x1b]0;pwned\x07" in piped.stdout  # a pipe gets the text as stored
    leader, follower = pty.openpty()
    child = subprocess.Popen([*rag_command(), "get", "docs/zz-hostile.txt"], cwd=root, env=env,
                             stdout=follower, stderr=subprocess.PIPE)  # fmt: skip
    os.close(follower)
    out = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not data:
            break
        out += data
    child.wait(timeout=120)
    os.close(leader)
    assert b"\x1b" not in out and b"\x07" not in out and b"\x08" not in out
    assert b"\\x1b]0;pwned\\x07\\x1b[2J cleared \\x08 bs" in out
