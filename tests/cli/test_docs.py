"""docs/ stays true to the CLI: docs/cli-reference.md is every command's `--help` as it
is now, and docs/commands.md describes every option of a command in that command's own
section (or in the section it says it takes the options of)."""

from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path

import pytest

from ragcli.cli import app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
GENERATOR = DOCS.with_name("generate_cli_reference.py")
COMMANDS = [
    "ingest", "status", "search", "get", "generate", "ask", "chat", "eval", "mcp", "serve", "watch",
]  # fmt: skip


def _generator():
    spec = importlib.util.spec_from_file_location("generate_cli_reference", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_up_to_date():
    generator = _generator()
    written = generator.REFERENCE.read_text(encoding="utf-8")
    current = generator.reference()
    diff = difflib.unified_diff(
        written.splitlines(), current.splitlines(), "written", "now", lineterm="", n=0
    )
    assert written == current, (
        "docs/cli-reference.md is out of date: run python docs/generate_cli_reference.py\n"
        + "\n".join(list(diff)[:40])
    )


def test_the_cli_reference_holds_every_command_and_option():
    reference = _generator().REFERENCE.read_text(encoding="utf-8")
    titles = re.findall(r"^## (rag.*)$", reference, flags=re.M)
    assert titles == ["rag", *(f"rag {c}" for c in _listed_commands())]
    for command in COMMANDS:
        section = reference.split(f"\n## rag {command}\n", 1)[1].split("\n## ", 1)[0]
        assert options_of(command) <= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", section))


def options_of(command: str) -> set[str]:
    """The options `rag COMMAND` takes (hidden ones, like a deprecated alias, left out)."""
    import typer.main

    click_command = typer.main.get_command(app).commands[command]
    return {
        flag
        for param in click_command.params
        if not getattr(param, "hidden", False)
        for flag in [*param.opts, *param.secondary_opts]
        if flag.startswith("--")
    }


def commands_md_sections() -> dict[str, str]:
    """``""`` for the text before the first command, then ``command`` -> its section."""
    intro, *sections = re.split(r"^## ", DOCS.read_text(), flags=re.M)
    return {"": intro, **{s.split()[1]: s for s in sections if s.startswith("rag ")}}


def table_options(section: str) -> set[str]:
    """The options a section's tables describe (their first column)."""
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return set(re.findall(r"--[a-z][a-z0-9-]*", " ".join(rows)))


def documented_options(command: str, sections: dict[str, str]) -> set[str]:
    """What a command's section documents: the options every command takes (the intro's
    first sentence), those in its own option table and in the tables of each section it
    takes "the options of"."""
    every = re.search(r"Every command takes(.*?)`--help`", sections[""], flags=re.S)
    found = {"--help", *re.findall(r"`(--[a-z][a-z0-9-]*)", every.group(1))}
    pending, seen = [command], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        found |= table_options(sections[name])
        pending += [
            n for n in re.findall(r"options of `rag (\w+)`", sections[name]) if n not in seen
        ]
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_documented_in_its_commands_section(command):
    sections = commands_md_sections()
    assert command in sections, f"docs/commands.md has no section ## rag {command}"
    missing = sorted(options_of(command) - documented_options(command, sections))
    assert missing == [], f"rag {command}: options not in its section of commands.md {missing}"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sections_option_table_names_only_options_its_command_takes(command):
    named = table_options(commands_md_sections()[command])
    assert sorted(named - options_of(command)) == []


def test_a_section_is_checked_on_its_own():
    sections = commands_md_sections()
    # chat documents its options by taking those of ask, which takes those of search
    assert {"--new", "--llm", "--alpha"} <= documented_options("chat", sections)
    assert "--check" not in documented_options("search", sections)  # status's own option
    assert "--json" not in table_options(sections["chat"])  # chat's prose names it ...
    assert "--json" in table_options(sections["ask"])  # ... ask's table describes it
    assert {"--index", "--store", "--help"} <= documented_options("mcp", sections)


def _listed_commands() -> list[str]:
    """The commands `rag --help` lists (rendered plain, as the reference is)."""
    return re.findall(r"│ (\w+)\s", _generator().help_text(()).split("Commands")[1])


def test_every_command_is_listed():
    assert set(COMMANDS) == set(_listed_commands())


def test_options_are_read_from_the_commands():
    # guards the tests above against passing on an empty option list
    assert {"--alpha", "--batch", "--no-rerank", "--json", "--top-k"} <= options_of("search")
    assert "--model" not in options_of("ingest")  # hidden: a deprecated alias


DESIGN = DOCS.with_name("design.md")


def test_every_path_in_the_design_stage_table_exists():
    repo = DOCS.parent.parent
    table = DESIGN.read_text().split("## Stages", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    folders = [re.search(r"`(ragcli/[^`]*)`", row).group(1) for row in rows]
    assert len(folders) >= 12  # one row per stage
    missing = []
    for row, folder in zip(rows, folders, strict=True):
        if not (repo / folder).exists():
            missing.append(folder)
        if folder.endswith("/"):  # files named in the row are inside that folder
            for name in re.findall(r"`([\w/]+\.py)`", row):
                if not (repo / folder / name).exists():
                    missing.append(folder + name)
    assert missing == []


def test_every_test_file_the_docs_and_docstrings_cite_exists():
    repo = DOCS.parents[1]
    citing = [*repo.joinpath("docs").glob("*.md"), repo / "README.md"]
    citing += sorted(repo.joinpath("ragcli").rglob("*.py"))
    missing = [
        f"{path.relative_to(repo)}: {cited}"
        for path in citing
        for cited in sorted(set(re.findall(r"tests/[\w/]+\.py", path.read_text())))
        if not (repo / cited).is_file()
    ]
    assert missing == []
