"""`rag chat` reports the time a turn really took, the follow-up rewrite included."""

from __future__ import annotations

import dataclasses
import json

from llm_servers import FakeServer, Reply, anthropic_stream, free_port
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.cli.render_answer import footer

KEY = "sk-ant-api03-LOOPBACK-elapsed-0123456789"
REWRITE_DELAY = 0.6


def test_chat_elapsed_time_includes_the_rewrite(examples_project, monkeypatch, tmp_path):
    monkeypatch.chdir(examples_project)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("RAG_RERANK", "false")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    server = FakeServer(default=Reply(status=500, body=b"{}"))
    rewrite = dataclasses.replace(
        anthropic_stream(["When was Nikola Tesla born?"]), delay=REWRITE_DELAY
    )
    server.push(
        anthropic_stream(["Tesla died in 1943 [1]."]),
        rewrite,
        anthropic_stream(["The sources do not say [1]."]),
    )
    with server:
        result = CliRunner().invoke(
            app,
            ["chat", "--new", "--json", "--no-cache", "--llm", "claude", "--base-url", server.url],
            input="When did Tesla die?\nWhere was he born?\n",
        )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    timings = records[1]["timings"]
    assert timings["elapsed_s"] >= timings["total_s"] + REWRITE_DELAY * 0.9
    assert f"{timings['elapsed_s']:.1f} s" in footer(_Result(records[1]))


@dataclasses.dataclass
class _Answer:
    backend: str = "claude"
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached: bool = False


class _Result:
    """The parts of an answer result the footer reads, from its JSON record."""

    def __init__(self, record: dict):
        self.timings = record["timings"]
        self.answer = _Answer()
