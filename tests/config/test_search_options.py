"""Each search option is declared once (``ragcli.types.SearchOptions``); every consumer
agrees with that declaration: Settings and its defaults, SearchParams, RANGES, the CLI's
SEARCH bundle and --help, ``Flags.overrides``, the MCP/JSON search schema, ``rag
status``, ``Index.search``'s keywords, eval's sweep and the table in
docs/configuration.md."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest
from pydantic import create_model
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.cli.options import SEARCH, Flags
from ragcli.config import RANGES, Settings, load_settings
from ragcli.errors import UsageError
from ragcli.types import (
    MAX_SUBQUERIES,
    MAX_SUBQUERY_CHARS,
    SEARCH_FIELDS,
    SEARCH_OPTIONS,
    SUBQUERY_TYPES,
    SearchFilter,
    SearchParams,
    SubQuery,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
FILTERS = ("path_filter", "kind", "doc")
OPTIONS = list(SEARCH_OPTIONS.values())
BOUNDED = [o for o in OPTIONS if o.low is not None or o.high is not None]
SUBQUERY_OPTIONS = [o for o in OPTIONS if o.name == "searches"]
ONE_FLAG = [o for o in OPTIONS if o not in SUBQUERY_OPTIONS]


def test_the_declaration_lists_the_search_options():
    # guards the tests below against passing on an empty or partial declaration
    assert SEARCH_FIELDS == (
        "k",
        "mode",
        "alpha",
        "name_alpha",
        "fusion",
        "pool_factor",
        "rerank",
        "rerank_model",
        "rerank_depth",
        "min_score",
        "searches",
    )


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_settings_and_search_params_have_the_declared_default(option):
    assert getattr(Settings(), option.name) == option.default
    assert getattr(SearchParams(), option.name) == option.default
    setting = {f.name: f for f in dataclasses.fields(Settings)}[option.name]
    assert typing.get_type_hints(Settings)[setting.name] == option.kind


def test_search_params_of_the_default_settings_are_the_declared_defaults():
    assert Settings().search_params() == SearchParams(filters=SearchFilter())
    changed = Settings().with_overrides(k=9, rerank=False).search_params()
    assert (changed.k, changed.rerank) == (9, False)


@pytest.mark.parametrize("option", BOUNDED, ids=lambda o: o.name)
def test_ranges_are_the_declared_ones_and_enforced(option, tmp_path):
    assert RANGES[option.name] == (option.low, option.high)
    below = option.low - 1 if option.low is not None else None
    above = option.high + 1 if option.high is not None else None
    for bad in (v for v in (below, above) if v is not None):
        variable = f"RAG_{option.name.upper()}"
        env = {variable: str(bad), "XDG_CONFIG_HOME": str(tmp_path)}
        with pytest.raises(UsageError, match=f"{variable}: {option.name} = .* is out of range"):
            load_settings(env=env)
        with pytest.raises(UsageError, match=f"^{option.flag}: {option.name} = "):
            Settings().with_overrides(**{option.name: bad})


def test_unbounded_options_have_no_range():
    unbounded = {o.name for o in OPTIONS if o not in BOUNDED}
    assert unbounded and not unbounded & set(RANGES)


def _typer_option(annotation):
    return typing.get_args(annotation)[1]


def _declared_flags(typer_option) -> tuple[str, ...]:
    # typer keeps the first name of an Annotated option as its "default"
    first = typer_option.default
    return (first, *typer_option.param_decls) if isinstance(first, str) else ()


def _cli_names(name: str) -> tuple[str, ...]:
    # the sub-queries are one repeatable flag per type (--lex, --vec, --hyde)
    return tuple(SUBQUERY_TYPES) if name == "searches" else (name,)


def test_the_cli_bundle_has_every_option_with_its_flags_help_and_default():
    bundle = {name: annotation for name, annotation, _ in SEARCH.options}
    assert tuple(bundle) == (*(n for f in SEARCH_FIELDS for n in _cli_names(f)), *FILTERS)
    for option in SUBQUERY_OPTIONS:
        for kind, flag in zip(SUBQUERY_TYPES, option.flags, strict=True):
            typer_option = _typer_option(bundle[kind])
            assert _declared_flags(typer_option) == (flag,)
            assert typer_option.help == SUBQUERY_TYPES[kind]
    for option in ONE_FLAG:
        typer_option = _typer_option(bundle[option.name])
        assert _declared_flags(typer_option) == option.flags
        assert typer_option.help == option.help
        assert typer_option.show_default == (option.default_text or False)


@pytest.mark.parametrize("command", ["search", "ask", "chat", "generate"])
def test_help_shows_each_flag_with_its_help_and_default(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    for kind, help in SUBQUERY_TYPES.items():
        line = re.search(rf"^│ --{kind}\s.*$", result.output, re.MULTILINE)
        # sub-queries belong to one question: not to every turn of a chat
        assert (line is None) == (command == "chat"), (command, kind)
        assert line is None or help[:40] in line.group(0)
    for option in ONE_FLAG:
        line = re.search(rf"^│ {option.flag}\s.*$", result.output, re.MULTILINE).group(0)
        assert option.help in line, (option.name, line)
        default = f"[default: {option.default_text}]"
        assert (default in line) == (option.default_text is not None), (option.name, line)


def test_flags_overrides_pass_every_search_option_and_no_filter():
    flags = Flags({name: object() for name, _, _ in SEARCH.options})
    flags |= {"lex": ["SESSION_COOKIE_SECURE"], "vec": ["a question?"], "hyde": None}
    overrides = flags.overrides()
    assert set(overrides) == set(SEARCH_FIELDS)
    assert overrides["searches"] == (
        SubQuery("lex", "SESSION_COOKIE_SECURE"),
        SubQuery("vec", "a question?"),
    )
    flags |= {"lex": None, "vec": None}
    assert "searches" not in flags.overrides()  # none given: the setting stays as it is


def test_sub_queries_are_per_query_not_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    env = {"XDG_CONFIG_HOME": str(tmp_path), "RAG_SEARCHES": "lex"}
    assert load_settings(env=env).searches == ()  # no variable sets them (and one warns)
    (tmp_path / "ragcli").mkdir()
    (tmp_path / "ragcli" / "config.toml").write_text('searches = "lex"\n')
    with pytest.raises(UsageError, match="unknown setting 'searches'"):
        load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)})


def test_index_search_takes_each_option_as_a_keyword():
    from ragcli.index import Index

    parameters = inspect.signature(Index.search).parameters
    assert [p for p in parameters if p not in {"self", "query", "filters", "params"}] == list(
        SEARCH_FIELDS
    )
    for option in OPTIONS:
        assert parameters[option.name].default is None


def test_the_served_schema_has_each_option_described_and_bounded():
    from ragcli.serve.tools import LIMITS, SERVER_ONLY, described_option, search_options

    served = search_options()
    assert set(served) == set(SEARCH_FIELDS) - SERVER_ONLY
    schema = create_model("Search", **{n: (a, None) for n, a in served.items()})
    properties = schema.model_json_schema()["properties"]
    for name in served:
        option = SEARCH_OPTIONS[name]
        prop = properties[name]
        assert prop["description"] == described_option(option)
        assert option.help in prop["description"]
        assert str(option.default) in prop["description"] or option.default in (None, ())
        bounds = prop["anyOf"][0]
        if name == "searches":  # a bounded list of {type, query}
            assert bounds["maxItems"] == MAX_SUBQUERIES
            item = schema.model_json_schema()["$defs"][bounds["items"]["$ref"].split("/")[-1]]
            assert item["properties"]["type"]["enum"] == list(SUBQUERY_TYPES)
            assert item["properties"]["query"]["maxLength"] == MAX_SUBQUERY_CHARS
            assert item["required"] == ["type", "query"]
            continue
        assert bounds.get("minimum") == option.low
        assert bounds.get("maximum") == LIMITS.get(name, option.high)


def test_status_shows_the_declared_status_options_in_effect(examples_project):
    from ragcli.index import Index

    settings = Settings().with_overrides(pool_factor=7, min_score=0.1)
    index = Index(examples_project / ".rag" / "default", settings=settings)
    shown = index.status()["search"]
    assert list(shown) == [o.name for o in OPTIONS if o.status]
    assert shown == {name: getattr(settings, name) for name in shown}
    assert shown["pool_factor"] == 7
    status = (DOCS / "commands.md").read_text().split("## rag status", 1)[1]
    listed = re.search(r"`search` \(([^)]*)\)", status).group(1)
    assert re.findall(r"`(\w+)`", listed) == list(shown)


def test_index_search_keywords_reach_the_search(examples_project):
    from ragcli.index import Index

    index = Index(examples_project / ".rag" / "default")
    hits = index.search("oxygen steam tesla", k=2, mode="sparse", rerank=False)
    assert len(hits) == 2 and all(h.dense is None and h.sparse is not None for h in hits)
    with pytest.raises(UsageError, match="^--pool-factor: pool_factor = 0"):
        index.search("install", pool_factor=0)


def test_sweep_checks_the_declared_ranges():
    from ragcli.evaluate.sweep import SWEEP_KEYS, parse_values

    swept = [o for o in BOUNDED if o.name in SWEEP_KEYS]
    assert {o.name for o in swept} == {"k", "pool_factor", "alpha"}
    for option in swept:
        bad = [v for v in (option.low, option.high) if v is not None]
        for value in (bad[0] - 1, *(bad[1:] and [bad[1] + 1])):
            with pytest.raises(UsageError, match=f"^{option.flag}: .* is out of range"):
                parse_values(option.name, f"{option.default},{value}")


def _docs_rows() -> dict[str, list[str]]:
    text = (DOCS / "configuration.md").read_text().split("## Search options", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return {row[0].strip("`"): row[1:] for row in cells}


def _docs_default(option) -> str:
    if option.default is None:
        return "unset"
    if option.default == ():
        return "none"
    return f"`{option.default}`" if isinstance(option.default, str) else f"{option.default:g}"


def _docs_range(option) -> str:
    if option.low is None and option.high is None:
        return "-"
    if option.high is None:
        return f"at least {option.low:g}"
    return f"{option.low:g} to {option.high:g}"


def _docs_flags(option) -> str:
    return ", ".join(" / ".join(f"`{f}`" for f in flag.split("/")) for flag in option.flags)


def test_the_docs_table_matches_the_declaration():
    rows = _docs_rows()
    assert list(rows) == list(SEARCH_FIELDS)
    for option in OPTIONS:
        flags, default, bounds, meaning = rows[option.name]
        assert flags == _docs_flags(option), option.name
        assert default == _docs_default(option), option.name
        assert bounds == _docs_range(option), option.name
        assert meaning, option.name
