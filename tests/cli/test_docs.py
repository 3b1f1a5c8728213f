"""docs/commands.md stays true: every option of every command is described there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragcli.cli import app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
COMMANDS = [
    "ingest", "status", "search", "get", "generate", "ask", "chat", "eval", "mcp", "serve", "watch",
]  # fmt: skip


def options_of(command: str) -> set[str]:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", result.output))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_documented(command):
    text = DOCS.read_text()
    assert f"## rag {command}" in text
    missing = sorted(opt for opt in options_of(command) if f"`{opt}" not in text)
    assert missing == [], f"rag {command}: undocumented options {missing}"


def test_every_command_is_listed():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    listed = set(re.findall(r"│ (\w+)\s", result.output))
    assert set(COMMANDS) <= listed


def test_options_are_read_from_the_help_text():
    # guards the test above against passing on an empty option list
    assert {"--alpha", "--batch", "--no-rerank", "--json"} <= options_of("search")


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
