"""Output of `rag ask` and `rag chat`: the streamed answer, its sources list, notes.

On a terminal the answer streams as it arrives and the sources list is coloured (rich);
in a pipe everything is plain text. Notes and warnings go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ragcli.cli.render import console, error, is_terminal, print_json, use_color, warn
from ragcli.errors import message_line, printable


class AnswerPrinter:
    """``on_delta`` callback writing text to stdout as it arrives; remembers the last char."""

    def __init__(self) -> None:
        self.written = False
        self.ends_with_newline = True

    def __call__(self, delta: str) -> None:
        if not delta:
            return
        delta = printable(delta, keep_newlines=True)
        sys.stdout.write(delta)
        sys.stdout.flush()
        self.written = True
        self.ends_with_newline = delta.endswith("\n")

    def end_line(self) -> None:
        """Finish a partial line (after an answer, or before an error message)."""
        if self.written and not self.ends_with_newline:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.ends_with_newline = True


def source_line(source: Any) -> str:
    where = source.location.describe()
    return printable(f"[{source.n}] {source.source}" + (f" ({where})" if where else ""))


def sources_block(result: Any) -> list[str]:
    """Plain lines: the cited sources, or the retrieved ones when nothing was cited."""
    cited = result.cited_sources()
    if cited:
        return ["Sources:", *(source_line(s) for s in cited)]
    if not result.sources:
        return []
    return ["Sources (none cited; retrieved):", *(source_line(s) for s in result.sources)]


def print_sources(result: Any) -> None:
    lines = sources_block(result)
    if not lines:
        return
    if use_color(sys.stdout):
        from rich.text import Text

        out = console()
        out.print()
        out.print(Text(lines[0], style="bold"))
        for line in lines[1:]:
            number, _, rest = line.partition(" ")
            text = Text()
            text.append(number + " ", style="bold")
            path, sep, where = rest.partition(" (")
            text.append(path, style="cyan")
            if sep:
                text.append(" (" + where, style="dim")
            out.print(text)
    else:
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
        sys.stdout.flush()


def print_all_sources(result: Any) -> None:
    """Every source given to the model, cited ones marked with ``*`` (for /sources)."""
    if result is None:
        sys.stdout.write("(no answer yet)\n")
        return
    cited = set(result.citations.cited)
    lines = [("* " if s.n in cited else "  ") + source_line(s) for s in result.sources]
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    sys.stdout.flush()


def footer(result: Any) -> str:
    answer = result.answer
    same = not answer.model or answer.model == answer.backend
    parts = [answer.backend if same else f"{answer.backend} ({answer.model})"]
    total = result.timings.get("elapsed_s") or result.timings.get("total_s")
    if total is not None:
        parts.append(f"{total:.1f} s")
    if answer.input_tokens is not None or answer.output_tokens is not None:
        parts.append(f"{answer.input_tokens or 0} in / {answer.output_tokens or 0} out tokens")
    if answer.cached:
        parts.append("cached")
    return " · ".join(parts)


def print_footer(result: Any) -> None:
    """A dim summary line, on a terminal only."""
    if use_color(sys.stdout):
        from rich.text import Text

        console().print(Text(footer(result), style="dim"))


def report_citations(result: Any) -> None:
    """Warn on stderr about citations to sources that do not exist."""
    unknown = result.citations.unknown
    if unknown:
        numbers = ", ".join(f"[{n}]" for n in unknown)
        warn(
            f"the answer cites {numbers}, which {'is' if len(unknown) == 1 else 'are'} not "
            f"among the {len(result.sources)} sources given"
        )


def note(message: str) -> None:
    sys.stderr.write(f"rag: note: {message_line(message)}\n")
    sys.stderr.flush()


MAX_CHAT_LINE_BYTES = 100_000  # one question; the rest of a longer line is dropped


def chat_prompt() -> Callable[[], str | None]:
    """A line reader: ``input('> ')`` on a terminal, plain ``readline`` from a pipe.

    A line that is not valid UTF-8 or is too long gets a warning and reads as blank.
    """
    interactive = is_terminal(sys.stdin) and is_terminal(sys.stdout)

    def read() -> str | None:
        if interactive:
            try:
                return input("> ")
            except EOFError:
                sys.stdout.write("\n")
                return None
            except UnicodeDecodeError:
                warn("that line is not valid UTF-8; type it again")
                return ""
        return _read_pipe_line()

    return read


def _read_pipe_line() -> str | None:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return sys.stdin.readline() or None
    raw = stream.readline(MAX_CHAT_LINE_BYTES + 1)
    if not raw:
        return None
    if len(raw) > MAX_CHAT_LINE_BYTES:
        while raw and not raw.endswith(b"\n"):  # drop the rest of the line
            raw = stream.readline(MAX_CHAT_LINE_BYTES)
        warn(f"a line longer than {MAX_CHAT_LINE_BYTES:,} bytes was skipped")
        return ""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        warn("a line that is not valid UTF-8 was skipped")
        return ""


def show_result(result: Any, printer: AnswerPrinter, json_out: bool) -> None:
    """An answer after it streamed: JSON, or the sources and footer; then citation warnings."""
    if json_out:
        print_json(result.to_dict())
    else:
        printer.end_line()
        print_sources(result)
        print_footer(result)
    report_citations(result)


def show_chat_reply(reply: Any, printer: AnswerPrinter, json_out: bool) -> bool:
    """Show what one chat line did (a ``ChatReply``); True if its turn failed."""
    if reply.action == "sources":
        print_all_sources(reply.result)
    elif reply.action == "new":
        note(reply.message)
    elif reply.action == "unknown":
        warn(reply.message)
    elif reply.action == "failed":
        printer.end_line()
        error(str(reply.error))
        return True
    elif reply.action == "answer":
        show_result(reply.result, printer, json_out)
    return False
