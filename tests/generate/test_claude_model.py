"""The default Claude model is one the installed anthropic SDK lists and does not deprecate."""

from __future__ import annotations

import typing
from pathlib import Path

from ragcli.generate.claude import DEFAULT_MODEL, ClaudeBackend


def sdk_models() -> set[str]:
    """The model names of ``anthropic.types.Model``: ``Union[Literal[...], str]``."""
    from anthropic.types import Model

    literals = [arg for arg in typing.get_args(Model) if typing.get_origin(arg) is typing.Literal]
    assert literals, "anthropic.types.Model no longer holds a Literal of model names"
    return {name for literal in literals for name in typing.get_args(literal)}


def sdk_deprecated_models() -> set[str]:
    """The names the SDK warns about when used (``anthropic._data.DEPRECATED_MODELS``)."""
    from anthropic._data import DEPRECATED_MODELS

    return set(DEPRECATED_MODELS)


def test_default_model_is_listed_by_the_sdk_and_not_deprecated():
    assert DEFAULT_MODEL in sdk_models()
    assert DEFAULT_MODEL not in sdk_deprecated_models()
    assert "claude-sonnet-4-5" not in sdk_models()  # the old default reached end of life


def test_backend_and_docs_use_the_one_default():
    assert ClaudeBackend.default_model == DEFAULT_MODEL
    commands = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    assert f"Claude default `{DEFAULT_MODEL}`" in commands
