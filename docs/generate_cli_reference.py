"""Write docs/cli-reference.md: the `--help` of `rag` and of every command under it.

    python docs/generate_cli_reference.py          # rewrite the file
    python docs/generate_cli_reference.py --check  # exit 1 if the file is out of date

The help is rendered as a terminal 100 columns wide without colour, whatever the
terminal or CI this runs in, so the file only changes when a command or option does.
tests/cli/test_docs.py fails when the file is out of date.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

WIDTH = 100
REFERENCE = Path(__file__).with_name("cli-reference.md")
PLAIN_TERMINAL = {"COLUMNS": str(WIDTH), "TERM": "dumb", "NO_COLOR": "1"}
FORCING_COLOUR = ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH")

HEADER = """\
# CLI reference

<!-- Generated from each command's --help by docs/generate_cli_reference.py: do not edit.
     After changing a command or an option, regenerate it (from the repository root):
         python docs/generate_cli_reference.py
     tests/cli/test_docs.py fails while this file is out of date. -->

The `--help` of every `rag` command as it prints it. [commands.md](commands.md) says
what the options mean in more words, with examples.
"""


def reference() -> str:
    """The whole file: each command's help, in the order `rag --help` lists them."""
    import typer.main

    from ragcli.cli import app

    root = typer.main.get_command(app)
    parts = [HEADER]
    for path in command_paths(root):
        title = " ".join(["rag", *path])
        parts.append(f"\n## {title}\n\n```text\n$ {title} --help\n{help_text(path)}```\n")
    return "".join(parts)


def command_paths(command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """``()`` for `rag` itself, then each visible command and subcommand, depth first."""
    yield path
    if hasattr(command, "list_commands"):  # a group (typer's own copy of click's)
        context = command.context_class(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from command_paths(sub, (*path, name))


def help_text(path: tuple[str, ...]) -> str:
    from typer.testing import CliRunner

    from ragcli.cli import app

    with plain_help():
        result = CliRunner().invoke(app, [*path, "--help"], env=PLAIN_TERMINAL)
    if result.exit_code != 0:
        raise SystemExit(f"rag {' '.join(path)} --help failed: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.splitlines()) + "\n"


@contextlib.contextmanager
def plain_help() -> Iterator[None]:
    """typer reads its width and colour settings from the environment when it is first
    imported (GITHUB_ACTIONS, FORCE_COLOR and TERMINAL_WIDTH among them): set them here
    for the duration, so the output does not depend on where this runs."""
    from typer import rich_utils

    saved = {name: getattr(rich_utils, name) for name in ("MAX_WIDTH", "FORCE_TERMINAL")}
    rich_utils.MAX_WIDTH, rich_utils.FORCE_TERMINAL = WIDTH, False
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(rich_utils, name, value)


def main(argv: list[str]) -> int:
    for name in FORCING_COLOUR:
        os.environ.pop(name, None)
    os.environ.update(PLAIN_TERMINAL)
    text = reference()
    if "--check" in argv:
        if REFERENCE.read_text(encoding="utf-8") == text:
            return 0
        print(f"{REFERENCE} is out of date: run python {Path(__file__).name}", file=sys.stderr)
        return 1
    REFERENCE.write_text(text, encoding="utf-8")
    print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's ragcli
    sys.exit(main(sys.argv[1:]))
