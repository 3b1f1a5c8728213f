"""Settings are checked strictly: types and ranges, one line naming the file or variable."""

from __future__ import annotations

import pytest

from ragcli.config import Settings, load_settings
from ragcli.errors import UsageError


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-user-config"))


def project_with(tmp_path, toml: bytes | str):
    (tmp_path / "ragcli.toml").write_bytes(toml if isinstance(toml, bytes) else toml.encode())
    return tmp_path


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("RAG_EMBED_BATCH_SIZE", "0", "it must be at least 1"),
        ("RAG_EMBED_BATCH_SIZE", "-1", "it must be at least 1"),
        ("RAG_MAX_TOKENS", "-1", "it must be at least 1"),
        ("RAG_MAX_CONTEXT_TOKENS", "0", "it must be at least 1"),
        ("RAG_K", "2.5", "is not a valid integer"),
        ("RAG_ALPHA", "1.5", "it must be between 0 and 1"),
        ("RAG_ALPHA", "nan", "is not a finite number"),
        ("RAG_TEMPERATURE", "-0.1", "it must be between 0 and 2"),
        ("RAG_RERANK", "maybe", "is not a valid boolean"),
        ("RAG_CHUNK_OVERLAP", "500", "chunk_overlap (500) must be smaller than chunk_size (200)"),
    ],
)
def test_bad_environment_values_name_the_variable(tmp_path, variable, value, says):
    with pytest.raises(UsageError) as err:
        load_settings(tmp_path, env={variable: value})
    message = str(err.value)
    assert message.startswith(f"{variable}: ")
    assert says in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("k = 2.5", "k = 2.5 is not a valid integer"),
        ("k = true", "k = True is not a valid integer"),
        ("k = 0", "it must be at least 1"),
        ('k = "5"', "k = '5' is not a valid integer"),
        ("max_context_tokens = -5", "max_context_tokens = -5 is out of range"),
        ("embed_batch_size = 0", "it must be at least 1"),
        ("embed_workers = -1", "embed_workers = -1 is out of range; it must be at least 0"),
        ("alpha = true", "is not a valid number"),
        ("rerank = 1", "rerank = 1 is not a valid boolean"),
        ("llm_model = 3", "llm_model = 3 is not a valid string"),
        ("pool_factor = -2", "it must be at least 1"),
    ],
)
def test_bad_toml_values_name_the_file(tmp_path, line, says):
    project = project_with(tmp_path, line + "\n")
    with pytest.raises(UsageError) as err:
        load_settings(project, env={})
    assert str(err.value).startswith(f"{project / 'ragcli.toml'}: ")
    assert says in str(err.value)


def test_good_values_are_kept_with_their_types(tmp_path):
    project = project_with(tmp_path, "k = 7\nalpha = 1\nrerank = false\nllm_model = 'x'\n")
    env = {"RAG_MAX_TOKENS": "50", "RAG_TEMPERATURE": "0.5", "RAG_EMBED_WORKERS": "3"}
    settings = load_settings(project, env=env)
    assert settings.embed_workers == 3
    assert (settings.k, settings.alpha, settings.rerank, settings.llm_model) == (7, 1.0, False, "x")
    assert isinstance(settings.alpha, float)
    assert (settings.max_tokens, settings.temperature) == (50, 0.5)


def test_invalid_utf8_in_the_toml_file_is_one_line(tmp_path):
    project = project_with(tmp_path, b'k = 3\nllm_model = "caf\xff"\n')
    with pytest.raises(UsageError) as err:
        load_settings(project, env={})
    assert str(err.value) == f"{project / 'ragcli.toml'}: line 2: not valid UTF-8"


def test_invalid_utf8_in_an_environment_variable_is_one_line(tmp_path):
    # os.environ holds undecodable bytes as lone surrogates (surrogateescape)
    bad = b"llama\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(UsageError) as err:
        load_settings(tmp_path, env={"RAG_LLM_MODEL": bad})
    assert str(err.value) == "RAG_LLM_MODEL is not valid UTF-8 (at character 6)"


def test_overrides_from_flags_are_range_checked():
    with pytest.raises(UsageError, match=r"^--top-k: k = 0 is out of range"):
        Settings().with_overrides(k=0)
    with pytest.raises(UsageError, match=r"^--max-context-tokens: max_context_tokens = -5"):
        Settings().with_overrides(max_context_tokens=-5)
    assert Settings().with_overrides(k=3, alpha=None).k == 3


def test_a_config_folder_that_cannot_be_entered_is_one_line(tmp_path, monkeypatch):
    from privileges import public_dir, unprivileged

    with public_dir() as folder:
        config = folder / "config" / "ragcli"
        config.mkdir(parents=True)
        (config / "config.toml").write_text("k = 3\n")
        config.chmod(0o700)  # root's; nobody may not look inside
        monkeypatch.setenv("XDG_CONFIG_HOME", str(folder / "config"))
        with unprivileged() as enforced, pytest.raises(UsageError) as err:
            if not enforced:
                pytest.skip("running as root without the right to drop privileges")
            load_settings(None, env={})
    assert str(err.value) == f"{config / 'config.toml'}: cannot read config: Permission denied"
