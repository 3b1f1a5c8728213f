"""Broken LLM streams and echoed secrets, from loopback servers through the real clients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_servers import (
    FakeServer,
    Reply,
    anthropic_stream,
    free_port,
    malformed_stream,
    ollama_stream,
    openai_stream,
)

from ragcli.config import Settings
from ragcli.errors import RagError
from ragcli.generate import answer_stream, make_backend
from ragcli.generate.cache import LLMCache
from ragcli.prompt import build_prompt

KEY = "sk-ant-api03-LOOPBACK-echo-secret-0123456789"
OPENAI_KEY = "sk-openai-LOOPBACK-echo-secret-987654321"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def backend(name: str, url: str, timeout: float = 5.0):
    env = {"ANTHROPIC_API_KEY": KEY, "OPENAI_API_KEY": OPENAI_KEY}
    settings = Settings(base_url=url, llm_model=None if name == "claude" else "local-model")
    return make_backend(settings, name, env=env, timeout=timeout, max_retries=0)


PROMPT = build_prompt("q?", [], 100)

EXPECTED = {
    ("claude", "not-json"): "sent a malformed or incomplete stream",
    ("claude", "not-sse"): "sent a malformed or incomplete stream",
    ("claude", "silence"): "did not answer within 1 s",
    ("claude", "error-event"): "reported an error in the middle of the stream (server said: "
    "Overloaded)",
    ("openai", "not-json"): "sent a stream event that is not JSON",
    ("openai", "not-sse"): "sent no stream events; is --base-url an OpenAI-compatible API?",
    ("openai", "silence"): "did not answer within 1 s",
}


@pytest.mark.parametrize(("name", "kind"), list(EXPECTED), ids=lambda v: str(v))
def test_a_broken_stream_is_one_clear_line(name, kind):
    server = FakeServer(default=malformed_stream(kind, stall=10))
    with server, pytest.raises(RagError) as err:
        backend(name, server.url, timeout=1.0).generate(PROMPT)
    message = str(err.value)
    assert EXPECTED[(name, kind)] in message
    assert "HTTP 200" not in message and "\n" not in message
    assert KEY not in message and OPENAI_KEY not in message


def _cut(reply: Reply, last: int) -> Reply:
    """The stream without its last ``last`` events (a server that died, a cut proxy)."""
    return Reply(content_type=reply.content_type, chunks=reply.chunks[:-last])


def _events(content_type: str, *chunks: bytes) -> Reply:
    return Reply(content_type=content_type, chunks=list(chunks))


NDJSON, SSE = "application/x-ndjson", "text/event-stream"
INCOMPLETE = "ended the stream before the answer was finished; the answer is incomplete"
MALFORMED = "sent a malformed or incomplete stream"
CLAUDE_START = anthropic_stream(["a"]).chunks[:3]  # message_start, block start, ping
CLAUDE_BAD_UTF8 = (
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
    b'"delta": {"type": "text_delta", "text": "\xff"}}\n\n'
)
# (backend, what breaks) -> (the reply, what the one line says)
TRUNCATED_OR_GARBLED = {
    ("ollama", "no done line"): (_cut(ollama_stream(["Tesla ", "died"]), 1), INCOMPLETE),
    ("ollama", "empty body"): (_events(NDJSON), INCOMPLETE),
    ("ollama", "garbled line"): (
        _events(NDJSON, ollama_stream(["Tesla"]).chunks[0], b'{"model": "x", "mess\n'),
        "sent a line that is not JSON",
    ),
    ("ollama", "line not an object"): (
        _events(NDJSON, b"[1, 2]\n"),
        "sent a line that is not a JSON object",
    ),
    ("ollama", "message a string"): (
        _events(NDJSON, b'{"message": "hi", "done": true}\n'),
        "sent a message that is not text",
    ),
    ("ollama", "content a number"): (
        _events(NDJSON, b'{"message": {"content": 5}, "done": true}\n'),
        "sent a message that is not text",
    ),
    ("claude", "no message_stop"): (_cut(anthropic_stream(["Tesla ", "died"]), 1), INCOMPLETE),
    ("claude", "cut after a delta"): (_cut(anthropic_stream(["Tesla ", "died"]), 3), INCOMPLETE),
    ("claude", "garbled event"): (
        _events(SSE, *CLAUDE_START, b'event: content_block_delta\ndata: {"type": "con\n\n'),
        "sent a stream event that is not JSON",
    ),
    ("claude", "event a list"): (_events(SSE, b"event: message_start\ndata: [1]\n\n"), MALFORMED),
    ("claude", "empty body"): (_events(SSE), MALFORMED),
    ("claude", "not UTF-8"): (_events(SSE, *CLAUDE_START, CLAUDE_BAD_UTF8), "is not UTF-8"),
    ("openai", "no finish_reason, no [DONE]"): (
        _cut(openai_stream(["Tesla ", "died"]), 3),
        INCOMPLETE,
    ),
    ("openai", "garbled event"): (
        _events(SSE, *openai_stream(["a"]).chunks[:2], b'data: {"id": \n\n'),
        "sent a stream event that is not JSON",
    ),
    ("openai", "event a list"): (_events(SSE, b"data: [1]\n\n"), MALFORMED),
    ("openai", "choices a string"): (
        _events(SSE, b'data: {"choices": "x"}\n\n', b"data: [DONE]\n\n"),
        MALFORMED,
    ),
}


@pytest.mark.parametrize(
    ("name", "kind"), list(TRUNCATED_OR_GARBLED), ids=lambda v: str(v).replace(" ", "-")
)
def test_a_truncated_or_garbled_stream_is_one_line_and_never_cached(name, kind, tmp_path):
    reply, expected = TRUNCATED_OR_GARBLED[(name, kind)]
    cache = LLMCache(tmp_path / "llm")
    with FakeServer(default=reply) as server, pytest.raises(RagError) as err:
        answer_stream(backend(name, server.url), PROMPT, cache).finish()
    message = str(err.value)
    assert expected in message and "\n" not in message
    assert message.startswith(("Ollama at ", "Claude API at ", "OpenAI-compatible server at "))
    assert not list((tmp_path / "llm").glob("*.json")), "a cut answer must not be cached"


def test_a_complete_stream_still_answers_after_these_checks(tmp_path):
    """The checks above must not refuse what the real servers send."""
    replies = {
        "ollama": ollama_stream(["Tesla ", "died [1]."]),
        "claude": anthropic_stream(["Tesla ", "died [1]."]),
        "openai": openai_stream(["Tesla ", "died [1]."], usage=False),
    }
    for name, reply in replies.items():
        with FakeServer(default=reply) as server:
            answer = backend(name, server.url).generate(PROMPT)
        assert answer.text == "Tesla died [1].", name
        assert answer.stop_reason in ("stop", "end_turn"), name


# ------------------------------------------------------------------ secrets


@pytest.mark.parametrize("name", ["claude", "openai"])
def test_a_key_echoed_back_is_neither_shown_nor_cached(name, tmp_path):
    key = KEY if name == "claude" else OPENAI_KEY
    parts = ["Your key is ", key[:10], key[10:25], key[25:] + " [1]."]  # split across deltas
    reply = anthropic_stream(parts) if name == "claude" else openai_stream(parts)
    cache = LLMCache(tmp_path / "llm")
    with FakeServer(default=reply) as server:
        stream = answer_stream(backend(name, server.url), PROMPT, cache)
        deltas = list(stream)
    assert "".join(deltas) == "Your key is *** [1]."
    assert stream.answer.text == "Your key is *** [1]."
    [entry] = list((tmp_path / "llm").glob("*.json"))
    assert key not in entry.read_text() and "Your key is ***" in entry.read_text()


def test_url_credentials_are_neither_printed_nor_cached(tmp_path):
    url = f"http://user:Pa55word@127.0.0.1:{free_port()}/"
    with pytest.raises(RagError) as err:
        backend("openai", url, timeout=1.0).generate(PROMPT)
    assert "Pa55word" not in str(err.value) and "user:***@127.0.0.1" in str(err.value)
    with FakeServer(default=anthropic_stream(["ok"])) as server:
        url = server.url.replace("http://", "http://user:Pa55word@")
        claude = backend("claude", url)
        assert "Pa55word" not in claude.describe()
        answer_stream(claude, PROMPT, LLMCache(tmp_path / "llm")).finish()
    [entry] = list((tmp_path / "llm").glob("*.json"))
    stored = json.loads(entry.read_text())
    assert "Pa55word" not in entry.read_text()
    assert stored["params"]["base_url"] == url.replace("Pa55word", "***")


@pytest.fixture
def cli(examples_project, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from ragcli.cli import app

    monkeypatch.chdir(examples_project)
    for name in ("RAG_INDEX", "RAG_LLM", "RAG_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("RAG_RERANK", "false")
    monkeypatch.setenv("RAG_MODE", "sparse")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    runner = CliRunner()
    return lambda *args, input=None: runner.invoke(app, list(args), input=input)


def test_chat_keeps_an_echoed_key_out_of_output_and_history(cli, examples_project):
    history = Path(examples_project) / ".rag" / "default" / "cache" / "chat" / "history.jsonl"
    before = history.read_text() if history.exists() else ""
    reply = anthropic_stream(["The key: ", KEY[:12], KEY[12:], " [1]."])
    with FakeServer(default=reply) as server:
        args = ("--llm", "claude", "--base-url", server.url, "--no-cache")
        result = cli("chat", "--new", *args, input="What is the key of Tesla?\n")
    assert result.exit_code == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    assert "The key: *** [1]." in result.stdout
    added = history.read_text()[len(before) :]
    assert KEY not in added and "The key: ***" in added


def test_headers_then_silence_with_timeout_5(cli):
    with FakeServer(default=malformed_stream("silence", stall=20)) as server:
        result = cli(
            "ask",
            "When did Tesla die?",
            "--llm",
            "claude",
            "--base-url",
            server.url,
            "--timeout",
            "5",
            "--no-cache",
        )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rag: error: Claude API at http://127.0.0.1:")
    assert lines[0].endswith("did not answer within 5 s")


def test_ask_on_an_ollama_stream_without_done_is_one_error_line(cli):
    reply = _cut(ollama_stream(["Tesla died ", "in 1943"]), 1)
    with FakeServer(default=reply) as server:
        result = cli("ask", "When did Tesla die?", "--llm", "ollama", "--base-url", server.url)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rag: error: Ollama at http://127.0.0.1:")
    assert lines[0].endswith(INCOMPLETE)
