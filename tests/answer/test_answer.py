"""ragcli.answer from Python: ask(), conversation history and standalone-question rewriting."""

from __future__ import annotations

import json

import pytest
from llm_servers import FakeServer, anthropic_stream, free_port

from ragcli.answer import (
    HISTORY_TURNS,
    ChatSession,
    Turn,
    ask,
    heuristic_rewrite,
    key_terms,
    line_action,
    load_history,
    make_prompt,
    standalone_query,
)
from ragcli.config import Settings
from ragcli.errors import RagError
from ragcli.generate import make_backend
from ragcli.generate.extractive import HINT
from ragcli.index import Index
from ragcli.types import SearchFilter

KEY = "sk-ant-api03-LOOPBACK-lib-secret-0123456789"
FAST = {"timeout": 5.0, "max_retries": 0}


@pytest.fixture
def index(examples_project) -> Index:
    idx = Index(examples_project / ".rag" / "default", settings=Settings(rerank=False))
    return idx


def claude(url: str):
    return make_backend(Settings(base_url=url), "claude", env={"ANTHROPIC_API_KEY": KEY}, **FAST)


def test_ask_streams_checks_citations_and_reports(index):
    deltas: list[str] = []
    with FakeServer(default=anthropic_stream(["Robert Lane and ", "Benjamin Vail [1][4]."])) as s:
        result = ask(
            index,
            "Who did Tesla partner with in 1886?",
            index.settings.with_overrides(k=3),
            backend=claude(s.url),
            cache=False,
            on_delta=deltas.append,
        )
    assert deltas == ["Robert Lane and ", "Benjamin Vail [1][4]."]
    assert result.text == "Robert Lane and Benjamin Vail [1][4]."
    assert len(result.sources) == 3 and len(result.hits) == 3
    assert result.citations.cited == [1, 4] and result.citations.unknown == [4]
    assert [s.n for s in result.cited_sources()] == [1]
    assert result.cited_sources()[0].source == "docs/nikola_tesla.txt"
    assert result.hint is None and result.history == []
    data = result.to_dict()
    assert data["answer"] == result.text and data["citations"]["ok"] is False
    assert data["sources"][0]["rank"] == 1 and data["sources"][0]["cited"] is True
    json.dumps(data)  # serialisable as is


def test_ask_extractive_automatic_and_explicit(index):
    question = "How many people died of the plague in Paris in 1466?"
    env = {"OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    auto = ask(index, question, backend=make_backend(index.settings, env=env), cache=False)
    assert auto.answer.backend == "extractive"
    assert "40,000" in auto.text and HINT not in auto.text  # the hint is kept apart
    assert auto.hint and auto.hint.startswith("no language model found")
    assert auto.citations.ok
    explicit = ask(index, question, backend=make_backend(index.settings, "extractive"), cache=False)
    assert explicit.text == auto.text and explicit.hint is None


def test_ask_without_matching_sources_raises(index):
    with pytest.raises(RagError, match="no sources matched"):
        ask(
            index,
            "anything",
            backend=make_backend(index.settings, "extractive"),
            filters=SearchFilter(doc_ids=["no/such/doc"]),
        )


def test_prompt_carries_only_the_last_turns_without_their_citations(index):
    turns = [Turn(question=f"question {i}?", answer=f"answer {i} [1][2].") for i in range(5)]
    hits = index.search("oxygen", k=2, rerank=False)
    prompt = make_prompt("and then?", hits, index.settings, turns)
    assert HISTORY_TURNS == 3
    assert "question 1?" not in prompt.user
    for i in (2, 3, 4):
        assert f"User: question {i}?\nAssistant: answer {i}.\n" in prompt.user + "\n"
    assert prompt.user.index("Conversation so far") < prompt.user.index("<sources>")
    assert prompt.question == "and then?" and len(prompt.sources) == 2


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        ("Where was he born?", "Where was he born? Tesla"),  # pronoun
        ("And the patents?", "And the patents? Tesla"),  # short
        ("What did Tesla die of in New York?", "What did Tesla die of in New York?"),
    ],
)
def test_heuristic_rewrite(follow_up, expected):
    history = [Turn(question="When did Tesla die?", answer="In 1943 [1].")]
    assert heuristic_rewrite(follow_up, history) == expected
    assert heuristic_rewrite(follow_up, []) == follow_up


def test_key_terms_prefers_names_and_numbers():
    assert key_terms("What changed in the v2 API?") == ["v2", "API"]
    assert key_terms("how do steam engines work?") == ["steam", "engines", "work"]


def test_model_rewrite_is_cleaned_and_falls_back(tmp_path):
    history = [Turn(question="When did Tesla die?", answer="In 1943 [1].", query="x")]
    replies = [
        anthropic_stream(['Standalone question: "Where was Nikola Tesla born?"\nNote: ...']),
        anthropic_stream(["   "]),
    ]
    with FakeServer() as server:
        server.push(*replies)
        backend = claude(server.url)
        assert standalone_query("Where was he born?", history, backend) == (
            "Where was Nikola Tesla born?"
        )
        # An empty rewrite falls back to the heuristic on the previous query.
        history[0].query = "When did Tesla die?"
        assert standalone_query("Where was he born?", history, backend) == (
            "Where was he born? Tesla"
        )
        assert standalone_query("Where was he born?", [], backend) == "Where was he born?"
    assert len(server.posts()) == 2  # no request without history


def test_chat_session_history_round_trip(index, tmp_path):
    history_file = tmp_path / "history.jsonl"
    backend = make_backend(index.settings, "extractive")
    chat = ChatSession(index, backend=backend, cache=False, new=True, history_file=history_file)
    chat.turn("Who did Tesla partner with in 1886?")
    second = chat.turn("What did their company install?")
    assert "Tesla" in second.query and len(second.history) == 1
    with history_file.open("a") as handle:
        handle.write("not json\n")  # a damaged line is skipped, not fatal
    session, turns = load_history(history_file)
    assert session == chat.session
    assert [t.question for t in turns] == [
        "Who did Tesla partner with in 1886?",
        "What did their company install?",
    ]
    resumed = ChatSession(index, backend=backend, cache=False, history_file=history_file)
    assert resumed.session == chat.session and len(resumed.turns) == 2
    fresh = ChatSession(index, backend=backend, cache=False, new=True, history_file=history_file)
    assert fresh.session != chat.session and fresh.turns == []


def test_chat_session_handles_each_line_of_the_repl(index, tmp_path):
    backend = make_backend(index.settings, "extractive")
    chat = ChatSession(
        index, backend=backend, cache=False, new=True, history_file=tmp_path / "h.jsonl"
    )
    assert [line_action(line) for line in ("  \n", "/q", "/exit", "/sources", "/new", "/x")] == [
        "skip",
        "exit",
        "exit",
        "sources",
        "new",
        "unknown",
    ]
    assert chat.handle("/sources").result is None  # no answer yet
    deltas: list[str] = []
    answered = chat.handle("When did Tesla die?\n", on_delta=deltas.append)
    assert answered.action == "answer" and "1943" in answered.result.text
    assert deltas == [answered.result.text] and len(chat.turns) == 1
    assert chat.handle("/sources").result is answered.result
    unknown = chat.handle("/bogus now")
    assert unknown.action == "unknown"
    assert unknown.message == "unknown command '/bogus'; try /sources, /new or /exit"
    session = chat.session
    assert chat.handle("/new").message == "new conversation"
    assert chat.session != session and chat.turns == [] and chat.last is None
    assert chat.handle("/quit").action == "exit" and chat.handle("").action == "skip"
    chat.filters = SearchFilter(doc_ids=["no/such/doc"])
    failed = chat.handle("When did Tesla die?")
    assert failed.action == "failed" and "no sources matched" in str(failed.error)
    assert "chatting with extractive" in chat.greeting()
