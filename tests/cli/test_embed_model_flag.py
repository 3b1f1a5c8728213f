"""`--embed-model` names the embedding model in `rag ingest` and `rag eval`; their old
`--model` still works, hidden, with a one-line deprecation note (everywhere else
`--model` is the language model)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.cli.options import embed_model_flag
from ragcli.errors import UsageError

NOTE = "rag: warning: --model is deprecated here; use --embed-model (the embedding model)\n"


def help_of(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", ["ingest", "eval"])
def test_help_offers_embed_model_and_hides_the_old_model(command):
    text = help_of(command)
    assert "--embed-model" in text and "Embedding model" in text
    assert "--model " not in text


def test_ask_keeps_model_for_the_language_model():
    assert "--model" in help_of("ask") and "--embed-model" not in help_of("ask")


def test_old_model_flag_gives_the_embedding_model_with_a_note(capsys):
    assert embed_model_flag(None, "acme/e5") == "acme/e5"
    assert capsys.readouterr().err == NOTE
    assert embed_model_flag("acme/e5", None) == "acme/e5"
    assert embed_model_flag(None, None) is None
    assert capsys.readouterr().err == ""


def test_both_flags_with_different_models_are_refused():
    with pytest.raises(UsageError, match="give the embedding model once"):
        embed_model_flag("acme/e5", "acme/bge")


def test_eval_refuses_two_different_embedding_models(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "q", "relevant": ["a.md"]}\n')
    result = CliRunner().invoke(
        app, ["eval", str(questions), "--embed-model", "acme/e5", "--model", "acme/bge"]
    )
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("give the embedding model once, with --embed-model")
    )
