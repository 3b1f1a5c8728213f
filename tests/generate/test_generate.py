"""Backends against loopback servers speaking the real wire protocols, via the real clients."""

from __future__ import annotations

import time

import pytest
from llm_servers import (
    FakeServer,
    anthropic_error,
    anthropic_stream,
    free_port,
    ollama_error,
    ollama_server,
    ollama_stream,
    ollama_tags,
    openai_error,
    openai_stream,
)

from ragcli.config import Settings
from ragcli.errors import RagError, UsageError
from ragcli.generate import (
    ContextTooLongError,
    LLMConnectionError,
    LLMTimeoutError,
    MissingAPIKeyError,
    RateLimitError,
    ServerError,
    answer_stream,
    backend_class,
    canonical_name,
    choose_backend,
    make_backend,
    normalize_ollama_host,
    request_body,
    scrub,
    settings_body,
)
from ragcli.generate.cache import LLMCache
from ragcli.generate.claude import DEFAULT_MODEL as CLAUDE_DEFAULT
from ragcli.generate.extractive import (
    HINT,
    answer_span,
    extract_answer,
    extractive_answer,
    score_sentences,
)
from ragcli.prompt import SYSTEM_PROMPT, build_prompt
from ragcli.types import Chunk, Hit, Location

KEY = "sk-ant-api03-LOOPBACK-secret-0123456789"
OPENAI_KEY = "sk-openai-LOOPBACK-secret-0123456789"
FAST = {"timeout": 5.0, "max_retries": 2, "retry_backoff": 0.01}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_CONFIG_DIR",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OLLAMA_HOST",
        "OLLAMA_API_KEY",
        "RAG_LLM",
    ):
        monkeypatch.delenv(name, raising=False)


def hit(rank: int, text: str, source: str) -> Hit:
    chunk = Chunk(
        doc_id=source,
        source=source,
        title=source,
        text=text,
        location=Location(line_start=rank, line_end=rank + 4),
        start=0,
        end=len(text),
        ordinal=0,
        chunk_id=rank,
    )
    return Hit(rank=rank, score=1.0, chunk=chunk)


@pytest.fixture
def prompt():
    hits = [
        hit(1, "The Eiffel Tower is 330 metres tall. It was finished in 1889.", "paris.txt"),
        hit(2, "The Louvre is the most visited museum in the world.", "louvre.txt"),
    ]
    return build_prompt("How tall is the Eiffel Tower?", hits, 1000)


def claude(url: str, **kwargs):
    env = {"ANTHROPIC_API_KEY": KEY}
    return make_backend(Settings(base_url=url), "claude", env=env, **{**FAST, **kwargs})


def openai_backend(url: str, **kwargs):
    settings = Settings(
        base_url=url + "/v1", llm_model="local-model", temperature=0.2, max_tokens=77
    )
    return make_backend(settings, "openai", env={}, **{**FAST, **kwargs})


def ollama_backend(url: str, **kwargs):
    settings = Settings(base_url=url, llm_model="llama3.2", temperature=0.1, max_tokens=55)
    return make_backend(settings, "ollama", env={}, **{**FAST, **kwargs})


# ------------------------------------------------------------------ happy paths


def test_claude_request_and_streamed_answer(prompt):
    with FakeServer(default=anthropic_stream(["The tower ", "is 330 m tall ", "[1]."])) as server:
        stream = claude(server.url).stream(prompt)
        deltas = list(stream)
    assert deltas == ["The tower ", "is 330 m tall ", "[1]."]
    answer = stream.answer
    assert answer.text == "The tower is 330 m tall [1]."
    assert (answer.backend, answer.model, answer.stop_reason) == (
        "claude",
        CLAUDE_DEFAULT,
        "end_turn",
    )
    assert (answer.input_tokens, answer.output_tokens) == (321, 17)
    assert answer.total_s is not None and answer.first_token_s is not None
    [request] = server.posts()
    assert request.path == "/v1/messages"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["anthropic-version"]
    body = request.json
    assert body["system"] == SYSTEM_PROMPT
    assert body["model"] == CLAUDE_DEFAULT
    assert body["max_tokens"] == 1024 and body["stream"] is True
    assert "temperature" not in body  # rejected by Messages API 2026-10-21
    user = body["messages"][0]["content"]
    assert body["messages"][0]["role"] == "user"
    assert '<source id="1" path="paris.txt" location="lines 1-5">' in user
    assert "The Louvre is the most visited museum" in user
    assert body == request_body(prompt, "claude", CLAUDE_DEFAULT, 0.0, 1024, True)


def test_openai_compatible_request_and_streamed_answer(prompt, monkeypatch):
    with FakeServer(default=openai_stream(["330 ", "metres ", "[1]."])) as server:
        backend = make_backend(
            Settings(
                base_url=server.url + "/v1", llm_model="local-model", temperature=0.2, max_tokens=77
            ),
            "openai",
            env={"OPENAI_API_KEY": OPENAI_KEY},
            **FAST,
        )
        stream = backend.stream(prompt)
        deltas = list(stream)
    assert deltas == ["330 ", "metres ", "[1]."]
    assert stream.answer.text == "330 metres [1]."
    assert (stream.answer.input_tokens, stream.answer.output_tokens) == (200, 9)
    [request] = server.posts()
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = request.json
    assert body["model"] == "local-model"
    assert body["temperature"] == 0.2 and body["max_tokens"] == 77 and body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert "Question: How tall is the Eiffel Tower?" in body["messages"][1]["content"]
    assert body == request_body(prompt, "openai", "local-model", 0.2, 77, True)


def test_openai_placeholder_key_and_bare_base_url(prompt):
    with FakeServer(default=openai_stream(["ok"], usage=False)) as server:
        backend = make_backend(
            Settings(base_url=server.url, llm_model="m"), "openai", env={}, **FAST
        )
        answer = backend.generate(prompt)
    assert answer.text == "ok" and answer.input_tokens is None
    assert backend.base_url.endswith("/v1")
    assert server.posts()[0].headers["authorization"] == "Bearer sk-no-key-required"


def test_ollama_request_and_streamed_answer(prompt):
    with ollama_server(default=ollama_stream(["It is ", "330 m ", "[1]."])) as server:
        stream = ollama_backend(server.url).stream(prompt)
        deltas = list(stream)
    assert deltas == ["It is ", "330 m ", "[1]."]
    assert stream.answer.text == "It is 330 m [1]."
    assert (stream.answer.input_tokens, stream.answer.output_tokens) == (150, 12)
    assert stream.answer.model == "llama3.2:latest"
    [request] = server.posts()
    assert request.path == "/api/chat"
    body = request.json
    assert body == request_body(prompt, "ollama", "llama3.2", 0.1, 55, True)
    assert body["options"] == {"temperature": 0.1, "num_predict": 55}
    assert body["messages"][0]["content"] == SYSTEM_PROMPT


# ------------------------------------------------------------------ error paths


def test_claude_without_api_key_is_a_clear_error():
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY is not set") as info:
        make_backend(Settings(), "claude", env={})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("make", [claude, openai_backend, ollama_backend])
def test_refused_connection(make, prompt):
    url = f"http://127.0.0.1:{free_port()}"
    backend = make(url, max_retries=0)
    with pytest.raises(LLMConnectionError, match="connect") as info:
        backend.generate(prompt)
    assert "127.0.0.1" in str(info.value)
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "make, reply",
    [
        (claude, anthropic_stream(["late"])),
        (openai_backend, openai_stream(["late"])),
        (ollama_backend, ollama_stream(["late"])),
    ],
)
def test_timeout(make, reply, prompt):
    reply.delay = 3.0
    with FakeServer(default=reply) as server:
        backend = make(server.url, timeout=0.3, max_retries=0)
        start = time.perf_counter()
        with pytest.raises(LLMTimeoutError, match="did not answer within 0.3 s"):
            backend.generate(prompt)
        assert time.perf_counter() - start < 2.5


@pytest.mark.parametrize(
    "make, error, success",
    [
        (
            claude,
            anthropic_error(429, "rate limited", retry_after_ms=10),
            anthropic_stream(["fine"]),
        ),
        (
            openai_backend,
            openai_error(429, "slow down", retry_after_ms=10),
            openai_stream(["fine"]),
        ),
        (ollama_backend, ollama_error(429, "too many requests"), ollama_stream(["fine"])),
    ],
)
def test_429_then_success_after_retry(make, error, success, prompt):
    with FakeServer(default=success) as server:
        server.push(error)
        answer = make(server.url).generate(prompt)
    assert answer.text == "fine"
    assert len(server.posts()) == 2


@pytest.mark.parametrize(
    "make, error",
    [
        (claude, anthropic_error(500, "internal failure", retry_after_ms=5)),
        (openai_backend, openai_error(500, "internal failure", retry_after_ms=5)),
        (ollama_backend, ollama_error(500, "internal failure")),
    ],
)
def test_repeated_500_gives_up_with_a_clear_error(make, error, prompt):
    with (
        FakeServer(default=error) as server,
        pytest.raises(ServerError, match="HTTP 500 after retries") as info,
    ):
        make(server.url, max_retries=2).generate(prompt)
    assert len(server.posts()) == 3
    assert "internal failure" in str(info.value)
    assert "\n" not in str(info.value)


def test_429_repeated_is_a_rate_limit_error(prompt):
    with (
        FakeServer(default=anthropic_error(429, "rate limited", retry_after_ms=5)) as server,
        pytest.raises(RateLimitError, match="429"),
    ):
        claude(server.url, max_retries=1).generate(prompt)
    assert len(server.posts()) == 2


@pytest.mark.parametrize(
    "make, error",
    [
        (claude, anthropic_error(400, "prompt is too long: 250000 tokens > 200000 maximum")),
        (
            openai_backend,
            openai_error(
                400,
                "This model's maximum context length is 4096 tokens.",
                code="context_length_exceeded",
            ),
        ),
        (ollama_backend, ollama_error(400, "the input length exceeds the context length")),
    ],
)
def test_400_context_too_long(make, error, prompt):
    with (
        FakeServer(default=error) as server,
        pytest.raises(ContextTooLongError, match="too long") as info,
    ):
        make(server.url).generate(prompt)
    assert "--max-context-tokens" in str(info.value)
    assert len(server.posts()) == 1  # a 400 is not retried


def test_api_key_never_appears_in_error_messages(prompt):
    echo = anthropic_error(401, f"invalid x-api-key: {KEY}")
    with FakeServer(default=echo) as server, pytest.raises(RagError) as info:
        claude(server.url).generate(prompt)
    assert KEY not in str(info.value)
    assert "***" in str(info.value)
    assert scrub(f"Authorization: Bearer {OPENAI_KEY}") == "Authorization: Bearer ***"


def test_openai_backend_needs_base_url_and_model():
    with pytest.raises(UsageError, match="--base-url"):
        make_backend(Settings(llm_model="m"), "openai", env={})
    with pytest.raises(UsageError, match="model"):
        make_backend(Settings(base_url="http://127.0.0.1:1/v1"), "openai", env={})
    with pytest.raises(UsageError, match="unknown LLM backend"):
        make_backend(Settings(), "gpt-5", env={})


# ------------------------------------------------------------------ cache


def test_cache_hit_sends_no_second_request(prompt, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    cache = LLMCache(tmp_path / "cache" / "llm")
    with FakeServer(default=anthropic_stream(["Cached ", "[1]."])) as server:
        backend = claude(server.url)
        first = answer_stream(backend, prompt, cache)
        assert list(first) == ["Cached ", "[1]."]
        second = answer_stream(backend, prompt, cache)
        assert "".join(second) == "Cached [1]."
        assert len(server.posts()) == 1
        no_cache = answer_stream(
            backend, prompt, LLMCache(tmp_path / "cache" / "llm", no_cache=True)
        )
        assert "".join(no_cache) == "Cached [1]."
        assert len(server.posts()) == 2
    assert first.answer.cached is False and second.answer.cached is True
    assert second.answer.output_tokens == 17
    stored = "".join(p.read_text() for p in (tmp_path / "cache" / "llm").iterdir())
    assert KEY not in stored and "Cached [1]." in stored


def test_failed_stream_is_not_cached(prompt, tmp_path):
    cache = LLMCache(tmp_path)
    with FakeServer(default=anthropic_error(400, "bad request")) as server, pytest.raises(RagError):
        answer_stream(claude(server.url), prompt, cache).finish()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ extractive


def test_extractive_answer_quotes_best_sentences_with_citations(prompt):
    backend = make_backend(Settings(llm="extractive"), env={})
    stream = backend.stream(prompt)
    text = "".join(stream)
    first_line = text.splitlines()[0]
    assert first_line == "- The Eiffel Tower is 330 metres tall. [1]"
    assert HINT in text
    assert stream.answer.backend == "extractive"
    empty = build_prompt("anything?", [], 1000)
    assert "No sources" in extractive_answer(empty)


def test_extract_answer_picks_the_short_best_sentence():
    context = (
        "The Normans were the people who in the 10th and 11th centuries gave their name to "
        "Normandy, a region in France. They were descended from Norse raiders and pirates "
        "from Denmark, Iceland and Norway. The Norman dynasty had a major political impact."
    )
    assert extract_answer("Normandy is a region in which country?", [context]) == (
        "The Normans were the people who in the 10th and 11th centuries gave their name to "
        "Normandy, a region in France."
    )
    assert extract_answer("From which countries did the Norse originate?", [context]) == (
        "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway."
    )
    assert extract_answer("anything", []) == ""


def test_extract_answer_matches_inflected_words_and_prefers_the_asked_type():
    sources = [
        "Nikola Tesla\n\nTesla worked on alternating current. Tesla died on 7 January 1943.",
        "Tesla was born in Smiljan and liked pigeons very much.",
    ]
    # "die" must match "died" (stemming), a "when" question favours a dated sentence, and
    # the short answer is the date itself
    assert score_sentences("When did Tesla die?", sources)[0].text == (
        "Tesla died on 7 January 1943."
    )
    assert extract_answer("When did Tesla die?", sources) == "7 January 1943"


@pytest.mark.parametrize(
    ("question", "sentence", "span"),
    [
        ("How many people died in Paris in 1466?", "In 1466, perhaps 40,000 died.", "40,000"),
        (
            "Who did Tesla partner with in 1886?",
            "After leaving Edison's company Tesla partnered in 1886 with Robert Lane and "
            "Benjamin Vail.",
            "Robert Lane and Benjamin Vail",
        ),
        ("In what year did the war end?", "The war ended in 1453 after a siege.", "1453"),
        ("Why did the war end?", "The war ended in 1453 after a siege.", None),
    ],
)
def test_answer_span_picks_what_the_question_asks_for(question, sentence, span):
    assert answer_span(question, sentence) == span


def test_extractive_answer_quotes_overlapping_chunks_once_and_skips_headings():
    first = "Steam engines\n\nWatt improved the steam engine in 1769 with a separate condenser."
    overlap = "the steam engine in 1769 with a separate condenser. Later engines were compound."
    hits = [
        Hit(rank=i, score=1.0, chunk=Chunk("d", "a.md", "t", text, Location(), 0, 0, i))
        for i, text in enumerate([first, overlap], 1)
    ]
    text = extractive_answer(build_prompt("Who improved the steam engine?", hits, 1000))
    quoted = [line for line in text.splitlines() if line.startswith("- ")]
    assert quoted[0] == ("- Watt improved the steam engine in 1769 with a separate condenser. [1]")
    assert sum("separate condenser" in line for line in quoted) == 1
    assert not any(line.startswith("- Steam engines") for line in quoted)


# ------------------------------------------------------------------ selection


def test_selection_order(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    assert choose_backend(Settings(llm="openai")).name == "openai"
    assert choose_backend(Settings()).name == "extractive"
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    choice = choose_backend(Settings())
    assert choice.name == "claude" and "ANTHROPIC_API_KEY" in choice.reason
    assert choose_backend(Settings(llm="ollama")).name == "ollama"


def test_selection_finds_ollama_and_its_model(monkeypatch, prompt):
    with ollama_server(
        default=ollama_stream(["hi"]), models=["qwen2.5:3b", "llama3.2:latest"]
    ) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url.removeprefix("http://"))
        choice = choose_backend(Settings())
        assert choice.name == "ollama" and choice.models == ("qwen2.5:3b", "llama3.2:latest")
        assert len(server.requests) == 1
        backend = make_backend(Settings())
        assert backend.name == "ollama" and backend.model == "qwen2.5:3b"
        assert "answered" in backend.selection_reason
        assert backend.generate(prompt).text == "hi"
        # make_backend probed once more, then chatted
        assert [r.path for r in server.requests] == ["/api/tags", "/api/tags", "/api/chat"]
        # a key still wins over a running Ollama
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        assert choose_backend(Settings()).name == "claude"


def test_slow_ollama_is_skipped_quickly(monkeypatch):
    slow = ollama_tags(["llama3.2"])
    slow.delay = 3.0
    with FakeServer(routes={"GET /api/tags": slow}) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        start = time.perf_counter()
        assert choose_backend(Settings()).name == "extractive"
        assert time.perf_counter() - start < 1.5
        assert len(server.requests) == 1


def test_ollama_host_forms():
    assert normalize_ollama_host("0.0.0.0") == "http://127.0.0.1:11434"
    assert normalize_ollama_host("example.com:9999") == "http://example.com:9999"
    assert normalize_ollama_host("https://ollama.example.com") == "https://ollama.example.com:443"


def test_ollama_missing_model_hint(prompt):
    with (
        FakeServer(default=ollama_error(404, "model 'llama3.2' not found")) as server,
        pytest.raises(RagError, match="ollama pull llama3.2"),
    ):
        ollama_backend(server.url).generate(prompt)


def test_ollama_error_in_the_middle_of_the_stream(prompt):
    reply = ollama_stream(["partial "])
    reply.chunks.insert(1, b'{"error": "model runner crashed"}\n')
    with FakeServer(default=reply) as server:
        stream = ollama_backend(server.url).stream(prompt)
        assert next(stream) == "partial "
        with pytest.raises(RagError, match="failed mid-answer: model runner crashed"):
            next(stream)
    assert stream.answer is None


def test_auto_means_no_backend_named(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    assert choose_backend(Settings(llm="auto")).name == "claude"
    assert make_backend(Settings(), "auto").name == "claude"


def test_extractive_answer_leaves_out_runners_up_on_another_subject():
    hits = [
        Hit(rank=i, score=1.0, chunk=Chunk("d", f"{i}.md", "t", text, Location(), 0, 0, i))
        for i, text in enumerate(
            [
                "Tesla died on 7 January 1943 in New York. Tesla worked on motors all day. "
                "Tesla liked pigeons very much.",
                "Over 60% of Norway's population died in 1348.",
            ],
            1,
        )
    ]
    question = "When did Nikola Tesla die?"
    # the Norway sentence scores within RUNNER_UP_SHARE of the best (a rare shared word,
    # "died", and a year) but covers fewer of the question's terms
    ranked = score_sentences(question, hits)
    assert ranked[1].text.startswith("Over 60%") and ranked[1].score > 0.6 * ranked[0].score
    text = extractive_answer(build_prompt(question, hits, 1000))
    quoted = [line for line in text.splitlines() if line.startswith("- ")]
    assert quoted == ["- Tesla died on 7 January 1943 in New York. [1]"]


def test_one_alias_table_and_each_backend_builds_its_own_body(prompt):
    aliases = {
        "anthropic": "claude",
        "Claude": "claude",
        "openai-compat": "openai",
        "openai_compat": "openai",
        "openai-compatible": "openai",
        "ollama": "ollama",
        "none": "extractive",
    }
    assert {alias: canonical_name(alias) for alias in aliases} == aliases
    assert backend_class("anthropic").request_body(prompt, "m", 0.5, 9, True) == request_body(
        prompt, "claude", "m", 0.5, 9, True
    )
    with pytest.raises(UsageError, match="sends no request"):
        request_body(prompt, "extractive", "m", 0.0, 1, True)
    with pytest.raises(UsageError, match="needs a model name"):
        settings_body(prompt, Settings(), "openai")
    assert settings_body(prompt, Settings(), "ollama")["model"] == "llama3.2"
