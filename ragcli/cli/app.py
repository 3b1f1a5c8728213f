"""The typer application and the error handling every command shares."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

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
    tests/test_startup.py checks the two paths agree.
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


def handles_errors(func: F) -> F:
    """Turn library errors into one line on stderr and the error's exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RagError as err:
            error(str(err))
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # `rag search ... | head`: the reader went away; that is not an error.
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]
