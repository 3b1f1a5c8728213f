"""Which backend answers: the registry of backend names and aliases (``LLMS``), the automatic
choice, and setting a backend up from ``Settings``.

Selection when no backend is named (``choose_backend``), first match wins:

1. ``Settings.llm`` if set and not ``auto`` (``RAG_LLM``, config file or ``--llm``);
2. ``claude`` if ``ANTHROPIC_API_KEY`` is set;
3. ``ollama`` if it answers ``GET /api/tags`` on its host within 0.3 s;
4. ``extractive``.

Backend modules are imported only when their backend is used, so choosing one does not
import the SDKs of the others.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ragcli.config import Settings
from ragcli.errors import UsageError
from ragcli.generate.base import Backend
from ragcli.generate.ollama import (
    OLLAMA_PROBE_TIMEOUT,
    normalize_ollama_host,
    ollama_host,
    probe_ollama,
)
from ragcli.prompt import Prompt
from ragcli.registry import Registry

LLMS: Registry[type[Backend]] = Registry("LLM backend", group="ragcli.llms")
"""Language-model backends by name: a ``Backend`` class each (``rag ask --llm NAME``)."""
LLMS.register(
    "claude",
    "ragcli.generate.claude:ClaudeBackend",
    description="Anthropic's Messages API (ANTHROPIC_API_KEY)",
    aliases=("anthropic",),
)
LLMS.register("ollama", "ragcli.generate.ollama:OllamaBackend", description="a local Ollama server")
LLMS.register(
    "openai",
    "ragcli.generate.openai_compat:OpenAIBackend",
    description="any OpenAI-compatible chat.completions server",
    aliases=("openai-compat", "openai_compat", "openai-compatible"),
)
LLMS.register(
    "extractive",
    "ragcli.generate.extractive:ExtractiveBackend",
    description="no model: the passages' best sentences",
    aliases=("none",),
)


def canonical_name(name: str) -> str:
    """The registry name for ``name`` or one of its aliases (any case)."""
    return LLMS.canonical(name)


def backend_class(name: str) -> type[Backend]:
    return LLMS.get(name)


def request_body(
    prompt: Prompt,
    backend: str,
    model: str,
    temperature: float,
    max_tokens: int,
    stream: bool,
) -> dict[str, Any]:
    """The JSON body the named backend sends for ``prompt`` (no credentials).

    ``backend``: ``claude``/``anthropic`` (Messages API), ``openai`` (chat.completions)
    or ``ollama`` (native ``/api/chat``), or any alias of theirs.
    """
    return backend_class(backend).request_body(prompt, model, temperature, max_tokens, stream)


def settings_body(prompt: Prompt, settings: Settings, backend: str) -> dict[str, Any]:
    """The exact body the named backend would send with ``settings`` (``rag generate``):
    the model is the setting, else the backend's default."""
    cls = backend_class(backend)
    model = settings.llm_model or cls.default_model
    if not model:
        raise UsageError(f"the {cls.name} backend needs a model name (--model)")
    return cls.request_body(prompt, model, settings.temperature, settings.max_tokens, True)


@dataclass(frozen=True)
class Choice:
    name: str
    reason: str
    models: tuple[str, ...] = ()  # Ollama's installed models, when it was probed


def _settings_ollama_host(settings: Settings, env: Mapping[str, str]) -> str:
    return normalize_ollama_host(settings.base_url) if settings.base_url else ollama_host(env)


def choose_backend(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    probe_timeout: float = OLLAMA_PROBE_TIMEOUT,
) -> Choice:
    """Pick a backend in the documented order (see the module docstring)."""
    env = os.environ if env is None else env
    if settings.llm and settings.llm.strip().lower() != "auto":
        return Choice(canonical_name(settings.llm), "chosen by the llm setting")
    if env.get("ANTHROPIC_API_KEY"):
        return Choice("claude", "ANTHROPIC_API_KEY is set")
    host = _settings_ollama_host(settings, env)
    models = probe_ollama(host, probe_timeout)
    if models is not None:
        return Choice("ollama", f"Ollama answered on {host}", tuple(m for m in models if m))
    return Choice("extractive", "no ANTHROPIC_API_KEY and no Ollama answering on " + host)


def make_backend(
    settings: Settings,
    name: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Backend:
    """The backend ``name`` (or ``settings.llm``, or the auto choice) set up from settings.

    ``kwargs`` go to the backend (``timeout``, ``max_retries``, ``retry_backoff``).
    The chosen backend's ``selection_reason`` says why it was picked.
    """
    env = os.environ if env is None else env
    if name and name.strip().lower() != "auto":
        choice = Choice(canonical_name(name), "named explicitly")
    else:
        choice = choose_backend(settings, env)
    if choice.name == "ollama" and not settings.llm_model:
        settings = _with_installed_model(settings, choice, env)
    backend = backend_class(choice.name).from_settings(settings, env=env, **kwargs)
    backend.selection_reason = choice.reason
    return backend


def _with_installed_model(settings: Settings, choice: Choice, env: Mapping[str, str]) -> Settings:
    """Ollama with no model named uses the first model the server lists, if any."""
    models = choice.models
    if not models:
        models = tuple(probe_ollama(_settings_ollama_host(settings, env), timeout=2.0) or ())
    return settings.with_overrides(llm_model=models[0]) if models else settings
