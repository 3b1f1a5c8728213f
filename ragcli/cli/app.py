"""The typer application and the error handling every command shares."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer

from ragcli.cli.render import error
from ragcli.errors import RagError

app = typer.Typer(
    name="rag",
    help="Retrieval-augmented generation from the command line: ingest, search, ask, eval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


def _pass_through_plain_values() -> None:
    """Skip typer's pydantic coercion where it would return the value unchanged.

    typer (0.2x) builds a pydantic ``TypeAdapter`` for every parameter of the invoked
    command, given or not: about 0.1 s of each `rag` run (`rag search` has 16
    parameters), most of it importing pydantic. An option left unset (None, or an empty
    list for a repeatable one), a bool flag and a plain ``str`` value come out of that
    coercion unchanged, so they are returned as they are; everything else (numbers,
    paths, parsers) still goes through typer. Required-ness and callbacks are applied
    as typer applies them.
    tests/cli/test_startup.py checks the two paths agree.
    """
    try:
        from typer.core import _TyperParameter
    except ImportError:  # another typer: nothing to speed up
        return
    original = getattr(_TyperParameter, "process_value", None)
    if original is None or getattr(original, "_ragcli_pass_through", False):
        return

    def process_value(self, ctx, value):
        plain = _plain_value(self, value)
        if plain is _NOT_PLAIN or (self.required and self.value_is_missing(plain)):
            return original(self, ctx, value)  # coerces, or raises "missing"
        if self.callback is not None:
            plain = self.callback(ctx, self, plain)
        return plain

    process_value._ragcli_pass_through = True  # type: ignore[attr-defined]
    process_value._ragcli_original = original  # type: ignore[attr-defined]
    _TyperParameter.process_value = process_value


_NOT_PLAIN = object()


def _plain_value(param, value):
    """``value`` as typer would coerce it when that is a no-op, else ``_NOT_PLAIN``."""
    descriptor = getattr(param, "type_descriptor", None)
    info = getattr(descriptor, "parameter_info", None)
    if descriptor is None:
        return _NOT_PLAIN
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None):
        return _NOT_PLAIN
    multi = param.multiple or param.nargs == -1
    if value is None:
        return () if multi else None
    annotation = descriptor.annotation
    if multi:
        return [] if value in ((), []) and annotation == list[str] else _NOT_PLAIN
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is str and type(value) is str:
        return value
    return _NOT_PLAIN


_pass_through_plain_values()


def _flags_without_a_type() -> None:
    """In --help, a flag (``--json``) shows no ``<bool>``, a repeatable option its
    element type (``<str>``, not ``<list[str]>``), and a default given as text (a
    setting's) no parentheses: typer 0.2x shows the annotation and ``(text)``."""
    try:
        from typer.core import TyperOption
    except ImportError:  # another typer: its own display
        return
    original = TyperOption.display_type_rich
    if getattr(original, "_ragcli", False):
        return

    def display_type_rich(self, ctx):
        if self.is_flag:
            return None
        shown = original(self, ctx)
        if isinstance(shown, str) and shown.startswith("<list[") and shown.endswith("]>"):
            return "<" + shown[len("<list[") : -len("]>")] + ">"
        return shown

    def _get_default_string(self, *, ctx, show_default_is_str, default_value):
        shown = original_default(
            self, ctx=ctx, show_default_is_str=show_default_is_str, default_value=default_value
        )
        if show_default_is_str and shown.startswith("(") and shown.endswith(")"):
            return shown[1:-1]  # "[default: 5]", not "[default: (5)]"
        return shown

    original_default = TyperOption._get_default_string
    display_type_rich._ragcli = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich
    TyperOption._get_default_string = _get_default_string


_flags_without_a_type()


def show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"rag (ragcli) {version('ragcli')}")
        except PackageNotFoundError:
            typer.echo("rag (ragcli), version unknown (not installed)")
        raise typer.Exit(0)


@app.callback()
def main_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Retrieval-augmented generation from the command line: ingest, search, ask, eval."""


def quiet_library_logs() -> None:
    """Library log records below WARNING stay out of the output.

    Some libraries call ``logging.basicConfig`` when imported (onnxruntime's quantizer
    does, at INFO), after which every logger's records reach stderr: bm25s's DEBUG lines
    during `rag ingest --embed-backend onnx-int8`. A root handler installed first makes
    that call a no-op; `rag serve` replaces it with its log file.
    """
    import logging

    root = logging.getLogger()
    if any(getattr(h, "_ragcli", False) for h in root.handlers):
        return

    class CurrentStderr(logging.StreamHandler):
        """Writes to sys.stderr as it is when a record comes (tests swap it)."""

        @property
        def stream(self):
            return sys.stderr

        @stream.setter
        def stream(self, _value) -> None:
            pass

    handler = CurrentStderr()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("rag: warning: %(name)s: %(message)s"))
    handler._ragcli = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def fail(message: str, as_json: bool) -> None:
    if as_json:
        from ragcli.cli.render import print_json
        from ragcli.errors import message_line

        print_json({"error": message_line(message)})
    error(message)


def handles_errors(func: F) -> F:
    """Turn library errors into one line on stderr and the error's exit code; under
    ``--json`` also ``{"error": "..."}`` on stdout, so a script reading stdout sees it."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet_library_logs()
        as_json = kwargs.get("json_out") is True
        try:
            return func(*args, **kwargs)
        except RagError as err:
            fail(str(err), as_json)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            fail("interrupted", as_json)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # `rag search ... | head`: the reader went away; that is not an error.
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]
