from __future__ import annotations

import json
from types import SimpleNamespace

from ragcli.generate.cache import LLMCache

PROMPT = SimpleNamespace(system="sys", user="user message")
PARAMS = {"temperature": 0.0, "max_tokens": 100}


def test_put_then_get_round_trips(tmp_path):
    cache = LLMCache(tmp_path / "cache" / "llm")
    key = cache.key("ollama", "llama3.2", PARAMS, PROMPT)
    assert len(key) == 64
    assert cache.get(key) is None
    cache.put(key, {"text": "Paris [1].", "model": "llama3.2"})
    entry = cache.get(key)
    assert entry["text"] == "Paris [1]." and "created" in entry
    files = list((tmp_path / "cache" / "llm").iterdir())
    assert [f.name for f in files] == [f"{key}.json"]  # no temporary file left behind


def test_key_depends_on_every_input():
    base = LLMCache.key("ollama", "m", PARAMS, PROMPT)
    assert LLMCache.key("ollama", "m", dict(reversed(list(PARAMS.items()))), PROMPT) == base
    assert LLMCache.key("claude", "m", PARAMS, PROMPT) != base
    assert LLMCache.key("ollama", "m2", PARAMS, PROMPT) != base
    assert LLMCache.key("ollama", "m", {**PARAMS, "temperature": 0.5}, PROMPT) != base
    other = SimpleNamespace(system="sys", user="user message!")
    assert LLMCache.key("ollama", "m", PARAMS, other) != base


def test_no_cache_neither_reads_nor_writes(tmp_path):
    key = LLMCache.key("ollama", "m", PARAMS, PROMPT)
    LLMCache(tmp_path).put(key, {"text": "old"})
    off = LLMCache(tmp_path, no_cache=True)
    assert off.get(key) is None
    off.put(LLMCache.key("ollama", "x", PARAMS, PROMPT), {"text": "new"})
    assert len(list(tmp_path.iterdir())) == 1


def test_corrupt_entry_is_a_miss_and_secrets_are_dropped(tmp_path):
    cache = LLMCache(tmp_path)
    key = LLMCache.key("claude", "m", PARAMS, PROMPT)
    (tmp_path / f"{key}.json").write_text("{not json", encoding="utf-8")
    assert cache.get(key) is None
    cache.put(key, {"text": "t", "api_key": "sk-secret-value", "headers": {"x": "y"}})
    stored = json.loads((tmp_path / f"{key}.json").read_text(encoding="utf-8"))
    assert stored["text"] == "t"
    assert "api_key" not in stored and "headers" not in stored
