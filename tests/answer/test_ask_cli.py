"""`rag generate`, `rag ask` and `rag chat` on the example corpus, against loopback LLM
servers speaking the real wire protocols through the real clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from llm_servers import (
    FakeServer,
    Reply,
    anthropic_error,
    anthropic_stream,
    free_port,
    ollama_server,
    ollama_stream,
    openai_error,
    openai_stream,
)
from typer.testing import CliRunner

from ragcli.answer import REWRITE_SYSTEM
from ragcli.cli import app
from ragcli.generate.claude import DEFAULT_MODEL as CLAUDE_DEFAULT
from ragcli.prompt import SYSTEM_PROMPT

KEY = "sk-ant-api03-LOOPBACK-cli-secret-0123456789"
TESLA = "When did Tesla die?"
JSON_KEYS = {
    "question",
    "query",
    "answer",
    "backend",
    "model",
    "selection_reason",
    "cached",
    "stop_reason",
    "citations",
    "sources",
    "usage",
    "timings",
    "context_tokens",
    "history_turns",
    "hint",
    "no_answer",
    "relevance",
}


@pytest.fixture
def cli(examples_project, monkeypatch, tmp_path):
    monkeypatch.chdir(examples_project)
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OLLAMA_API_KEY",
        "RAG_INDEX",
        "RAG_INDEX_NAME",
        "RAG_LLM",
        "RAG_LLM_MODEL",
        "RAG_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    # Nothing listens here, so automatic selection never finds a real Ollama.
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("RAG_RERANK", "false")  # the cross-encoder is not installed offline
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run


@pytest.fixture
def sparse(monkeypatch):
    """BM25 retrieval only, for tests about the model side: no embedding model to load."""
    monkeypatch.setenv("RAG_MODE", "sparse")


def claude_args(server: FakeServer, *extra: str) -> list[str]:
    return ["--llm", "claude", "--base-url", server.url, *extra]


def one_error_line(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rag: error: ")
    assert KEY not in result.stderr and KEY not in result.stdout
    return lines[0]


# ------------------------------------------------------------------ ask, per backend


def test_ask_claude_streams_answer_then_cited_sources(cli, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    parts = ["Tesla died ", "on 7 January 1943 [2]."]
    with FakeServer(default=anthropic_stream(parts)) as server:
        result = cli(
            "ask",
            TESLA,
            *claude_args(server, "--model", "claude-haiku-4-5", "--max-tokens", "300"),
            "--no-cache",
        )
    assert result.exit_code == 0, result.output
    [request] = server.posts()
    assert request.path == "/v1/messages"
    body = request.json
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 300 and body["stream"] is True
    assert body["system"] == SYSTEM_PROMPT
    user = body["messages"][0]["content"]
    assert '<source id="1" path="docs/nikola_tesla.txt"' in user
    assert "Tesla died on 7 January 1943." in user  # the passage holding the answer was sent
    assert user.rstrip().endswith(f"Question: {TESLA}")
    # Piped: the answer as plain text, then the cited source only, no colour codes.
    out = result.stdout
    assert out.startswith(
        "Tesla died on 7 January 1943 [2].\n\nSources:\n[2] docs/nikola_tesla.txt ("
    )
    assert "[1] " not in out.split("Sources:")[1]
    assert "\x1b[" not in out
    assert result.stderr == ""
    assert KEY not in out


def test_ask_ollama_auto_selected_and_explicit(cli, monkeypatch):
    with ollama_server(default=ollama_stream(["Robert Lane ", "and Benjamin Vail [1]."])) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        auto = cli("ask", "Who did Tesla partner with in 1886?", "--json", "--no-cache")
        explicit = cli(
            "ask",
            "Who did Tesla partner with in 1886?",
            "--llm",
            "ollama",
            "--model",
            "llama3.2",
            "--temperature",
            "0.3",
            "--no-cache",
        )
    assert auto.exit_code == 0, auto.output
    record = json.loads(auto.stdout)
    assert record["backend"] == "ollama" and record["model"] == "llama3.2:latest"
    assert record["selection_reason"].startswith("Ollama answered on")
    assert record["usage"] == {"input_tokens": 150, "output_tokens": 12}
    first, second = server.posts()
    assert first.path == second.path == "/api/chat"
    assert first.json["model"] == "llama3.2:latest"  # the first model /api/tags listed
    assert second.json["model"] == "llama3.2"
    assert second.json["options"] == {"temperature": 0.3, "num_predict": 1024}
    assert [m["role"] for m in second.json["messages"]] == ["system", "user"]
    assert "Robert Lane" in second.json["messages"][1]["content"]
    assert explicit.exit_code == 0, explicit.output
    assert explicit.stdout.startswith("Robert Lane and Benjamin Vail [1].\n\nSources:\n[1] docs/")


def test_ask_openai_json_shape(cli):
    with FakeServer(default=openai_stream(["Oxygen is ", "a chemical element [1][3]."])) as server:
        result = cli(
            "ask",
            "What is oxygen?",
            "--llm",
            "openai",
            "--base-url",
            server.url + "/v1",
            "--model",
            "local",
            "-k",
            "3",
            "--json",
            "--no-cache",
        )
    assert result.exit_code == 0, result.output
    [request] = server.posts()
    assert request.path == "/v1/chat/completions"
    assert request.json["model"] == "local" and request.json["stream"] is True
    assert request.json["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    record = json.loads(result.stdout)  # exactly one object
    assert set(record) == JSON_KEYS
    assert record["answer"] == "Oxygen is a chemical element [1][3]."
    assert (record["backend"], record["model"]) == ("openai", "local-model")
    assert record["citations"]["cited"] == [1, 3] and record["citations"]["ok"] is True
    assert record["citations"]["unknown"] == []
    assert [s["n"] for s in record["sources"]] == [1, 2, 3]
    assert [s["cited"] for s in record["sources"]] == [True, False, True]
    assert record["sources"][0]["source"] == "docs/oxygen.md"
    assert set(record["sources"][0]) >= {"source", "location", "text", "rank", "score"}
    assert record["usage"] == {"input_tokens": 200, "output_tokens": 9}
    assert set(record["timings"]) == {"retrieve_s", "first_token_s", "generate_s", "total_s"}
    assert record["timings"]["total_s"] >= record["timings"]["generate_s"] > 0
    assert record["cached"] is False and record["hint"] is None


def test_question_from_stdin(cli):
    result = cli(
        "ask", "-", "--llm", "extractive", "--json", input="Who did Tesla partner with in 1886?\n"
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["question"] == "Who did Tesla partner with in 1886?"
    assert "Robert Lane and Benjamin Vail" in record["answer"]
    assert record["hint"] is None and result.stderr == ""  # chosen explicitly: no hint


# ------------------------------------------------------------------ generate


def test_generate_prints_the_prompt_without_calling_a_model(cli):
    result = cli("generate", TESLA, "-k", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("[system]\n" + SYSTEM_PROMPT)
    assert "[user]\n" in out
    assert out.count("<source id=") == 2
    assert '<source id="1" path="docs/nikola_tesla.txt"' in out
    assert out.rstrip().endswith(f"Question: {TESLA}")


def test_generate_body_is_what_the_backend_sends(cli, sparse, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-LOOPBACK-cli-secret-0123456789")
    body = cli("generate", TESLA, "--format", "anthropic", "--llm", "claude", "--max-tokens", "200")
    assert body.exit_code == 0, body.output
    shown = json.loads(body.stdout)
    assert set(shown) == {"model", "max_tokens", "system", "messages", "stream"}
    assert "sk-" not in body.stdout
    with FakeServer(default=anthropic_stream(["ok [1]"])) as server:
        asked = cli("ask", TESLA, *claude_args(server, "--max-tokens", "200"), "--no-cache")
    assert asked.exit_code == 0, asked.output
    assert server.posts()[0].json == shown  # byte-for-byte the same request

    openai_body = cli("generate", TESLA, "--format", "openai", "--model", "local")
    ollama_body = cli("generate", TESLA, "--format", "ollama")
    assert json.loads(openai_body.stdout)["messages"][0]["role"] == "system"
    assert json.loads(openai_body.stdout)["model"] == "local"
    assert json.loads(ollama_body.stdout)["model"] == "llama3.2"
    assert "options" in json.loads(ollama_body.stdout)
    for result in (openai_body, ollama_body):
        assert "sk-" not in result.stdout
    missing_model = cli("generate", TESLA, "--format", "openai")
    assert missing_model.exit_code == 2
    assert "needs a model name" in one_error_line(missing_model)


# ------------------------------------------------------------------ fallback, cache, checks


def test_extractive_fallback_when_no_model_is_available(cli):
    result = cli("ask", "Who did Tesla partner with in 1886?")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("- ")
    assert "Robert Lane and Benjamin Vail" in result.stdout
    assert "\nSources:\n[1] docs/nikola_tesla.txt" in result.stdout
    assert "No language model configured" not in result.stdout  # the hint is on stderr
    [note] = result.stderr.splitlines()
    assert note.startswith("rag: note: no language model found (no ANTHROPIC_API_KEY")
    assert "ANTHROPIC_API_KEY" in note and "--llm openai" in note


@pytest.mark.slow
def test_readme_command_in_a_subprocess(examples_project, tmp_path):
    """The README's main command, offline, as a user runs it: plain text in a pipe."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "RAG_", "OLLAMA_"))
    }
    env.update(OLLAMA_HOST=f"127.0.0.1:{free_port()}", XDG_CONFIG_HOME=str(tmp_path))
    rag = Path(sys.executable).with_name("rag")
    done = subprocess.run(
        [str(rag), "ask", "How many people died of the plague in Paris in 1466?"],
        cwd=examples_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "40,000" in done.stdout
    assert "docs/black_death.md" in done.stdout.split("Sources:")[1]
    assert "\x1b[" not in done.stdout
    assert "rag: note: no language model found" in done.stderr
    assert "Traceback" not in done.stderr


def test_second_identical_ask_is_served_from_the_cache(cli, sparse, monkeypatch, examples_project):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    question = "What did Tesla's company install?"
    with FakeServer(default=anthropic_stream(["Arc lighting [1]."])) as server:
        first = cli("ask", question, *claude_args(server), "--json")
        second = cli("ask", question, *claude_args(server), "--json")
        assert len(server.posts()) == 1
        bypass = cli("ask", question, *claude_args(server), "--json", "--no-cache")
        assert len(server.posts()) == 2
    a, b, c = (json.loads(r.stdout) for r in (first, second, bypass))
    assert a["answer"] == b["answer"] == c["answer"] == "Arc lighting [1]."
    assert (a["cached"], b["cached"], c["cached"]) == (False, True, False)
    assert b["usage"] == a["usage"] == {"input_tokens": 321, "output_tokens": 17}
    entries = list((examples_project / ".rag" / "default" / "cache" / "llm").glob("*.json"))
    assert entries and all(KEY not in e.read_text() for e in entries)


def test_unknown_citation_is_flagged(cli, sparse, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with FakeServer(default=anthropic_stream(["Tesla died in 1943 [1][9]."])) as server:
        text = cli("ask", TESLA, *claude_args(server), "-k", "3", "--no-cache")
        data = cli("ask", TESLA, *claude_args(server), "-k", "3", "--no-cache", "--json")
    assert text.exit_code == 0 and data.exit_code == 0
    assert (
        text.stderr
        == "rag: warning: the answer cites [9], which is not among the 3 sources given\n"
    )
    assert "\nSources:\n[1] docs/nikola_tesla.txt" in text.stdout
    citations = json.loads(data.stdout)["citations"]
    assert citations["unknown"] == [9] and citations["ok"] is False


# ------------------------------------------------------------------ errors


def test_missing_api_key(cli, sparse):
    result = cli("ask", TESLA, "--llm", "claude")
    assert result.exit_code == 2
    assert "ANTHROPIC_API_KEY is not set" in one_error_line(result)
    assert result.stdout == ""


@pytest.fixture
def no_backoff(monkeypatch):
    """Ollama's retries still happen (three attempts), without the waits between them."""
    import ragcli.generate.ollama as ollama_module

    monkeypatch.setattr(ollama_module, "time", SimpleNamespace(sleep=lambda seconds: None))


def test_connection_refused(cli, sparse, no_backoff):
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("ask", TESLA, "--llm", "ollama", "--base-url", url, "--model", "x", "--no-cache")
    assert f"cannot connect to Ollama at {url}" in one_error_line(result)


def test_timeout(cli, sparse):
    slow = ollama_stream(["late"])
    slow.delay = 3.0
    with ollama_server(default=slow) as server:
        result = cli(
            "ask", TESLA, "--llm", "ollama", "--base-url", server.url, "--model", "x",
            "--timeout", "0.5", "--no-cache",
        )  # fmt: skip
    assert "did not answer within 0.5 s" in one_error_line(result)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (anthropic_error(429, "slow down", retry_after_ms=5), "rate limiting requests (HTTP 429)"),
        (
            anthropic_error(529, "overloaded", retry_after_ms=5),
            "failed with HTTP 529 after retries",
        ),
        (
            anthropic_error(400, "prompt is too long: 250000 tokens > 200000 maximum"),
            f"the prompt is too long for {CLAUDE_DEFAULT}",
        ),
    ],
    ids=["429", "5xx", "context-too-long"],
)
def test_claude_errors_after_retries(cli, sparse, monkeypatch, reply, expected):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with FakeServer(default=reply) as server:
        result = cli("ask", TESLA, *claude_args(server), "--no-cache")
    assert expected in one_error_line(result)
    assert len(server.posts()) == (1 if reply.status == 400 else 3)  # 2 retries
    assert result.stdout == ""


def test_openai_server_error_after_retries(cli, sparse):
    with FakeServer(default=openai_error(503, "busy", retry_after_ms=5)) as server:
        result = cli(
            "ask", TESLA, "--llm", "openai", "--base-url", server.url, "--model", "m",
            "--no-cache",
        )  # fmt: skip
    assert "failed with HTTP 503 after retries" in one_error_line(result)
    assert len(server.posts()) == 3


def test_bad_usage_is_one_line(cli, sparse):
    assert "give a question" in one_error_line(cli("ask"))
    assert "unknown LLM backend" in one_error_line(cli("ask", TESLA, "--llm", "gpt"))
    assert "unknown --format" in one_error_line(cli("generate", TESLA, "--format", "xml"))
    nothing = cli("ask", TESLA, "--doc", "no/such/doc", "--llm", "extractive")
    assert "no sources matched" in one_error_line(nothing)


# ------------------------------------------------------------------ chat


def history_records(project: Path) -> list[dict]:
    path = project / ".rag" / "default" / "cache" / "chat" / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_chat_rewrites_follow_ups_with_the_model(cli, monkeypatch, examples_project):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    server = FakeServer(default=Reply(status=500, body=b"{}"))
    server.push(
        anthropic_stream(["Tesla died on 7 January 1943 [2]."]),
        anthropic_stream(["When was Nikola Tesla born?"]),  # the standalone rewrite
        anthropic_stream(["The sources do not say where he was born."]),
    )
    with server:
        result = cli(
            "chat", "--new", "--json", *claude_args(server), "--no-cache",
            input=f"{TESLA}\nWhere was he born?\n/sources\n/exit\nnot reached\n",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["question"] for r in records] == [TESLA, "Where was he born?"]
    assert records[1]["query"] == "When was Nikola Tesla born?"
    assert records[1]["history_turns"] == 1
    first, rewrite, second = server.posts()
    assert rewrite.json["system"] == REWRITE_SYSTEM
    assert rewrite.json["max_tokens"] <= 100
    rewrite_user = rewrite.json["messages"][0]["content"]
    assert (
        f"User: {TESLA}" in rewrite_user
        and "Follow-up question: Where was he born?" in rewrite_user
    )
    user = second.json["messages"][0]["content"]
    assert "Conversation so far" in user
    assert f"User: {TESLA}\nAssistant: Tesla died on 7 January 1943." in user  # [2] removed
    assert user.rstrip().endswith("Question: Where was he born?")
    # /sources listed the last answer's sources; /exit stopped before the last line.
    assert any(line.startswith("  [1] docs/") for line in result.stdout.splitlines())
    history = history_records(examples_project)[-2:]
    assert [h["question"] for h in history] == [TESLA, "Where was he born?"]
    assert history[0]["session"] == history[1]["session"]
    assert history[1]["query"] == "When was Nikola Tesla born?"


def test_chat_extractive_heuristic_and_history_file(cli, examples_project):
    first = cli(
        "chat", "--new", "--json", "--llm", "extractive",
        input="Who did Tesla partner with in 1886?\nWhat did their company install?\n",
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    one, two = (json.loads(line) for line in first.stdout.splitlines())
    assert two["query"].startswith("What did their company install?")
    assert "Tesla" in two["query"]  # the first question's subject carried over
    assert two["sources"][0]["source"] == "docs/nikola_tesla.txt"
    session = history_records(examples_project)[-1]["session"]

    # A new process continues the stored conversation ...
    again = cli("chat", "--json", "--llm", "extractive", input="When did he die?\n")
    record = json.loads(again.stdout)
    assert record["history_turns"] == 2 and "Tesla" in record["query"]
    assert history_records(examples_project)[-1]["session"] == session
    # ... and --new starts fresh (the file is only appended to).
    before = len(history_records(examples_project))
    fresh = cli("chat", "--new", "--json", "--llm", "extractive", input="When did he die?\n")
    record = json.loads(fresh.stdout)
    assert record["history_turns"] == 0 and record["query"] == "When did he die?"
    records = history_records(examples_project)
    assert len(records) == before + 1 and records[-1]["session"] != session


def test_chat_turn_errors_do_not_end_the_loop(cli, sparse, no_backoff):
    url = f"http://127.0.0.1:{free_port()}"
    result = cli(
        "chat", "--new", "--llm", "ollama", "--base-url", url, "--model", "x",
        input="first?\nsecond?\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.count("rag: error: cannot connect to Ollama") == 2
    assert "Traceback" not in result.output
