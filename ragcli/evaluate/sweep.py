"""Sweeps: the options ``rag eval`` can vary, their value lists, the grid and the best row."""

from __future__ import annotations

import itertools
import math
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from ragcli.config import Settings, check_range, flag_name
from ragcli.errors import UsageError

#: Options that can be swept, in the order the grid varies them (last fastest).
SWEEP_KEYS: tuple[str, ...] = (
    "chunk_size",
    "mode",
    "k",
    "pool_factor",
    "fusion",
    "alpha",
    "rerank",
)

_BOOL_WORDS = {
    "on": True,
    "true": True,
    "yes": True,
    "1": True,
    "off": False,
    "false": False,
    "no": False,
    "0": False,
}


def _parse_value(option: str, flag: str, part: str) -> Any:
    """One value of a swept setting, typed and range-checked as the setting declares."""
    if option == "rerank":
        if part.lower() not in _BOOL_WORDS:
            raise UsageError(f"{flag}: expected on or off, got {part!r}")
        return _BOOL_WORDS[part.lower()]
    kind = _setting_kind(option)
    if kind is str:
        return part.lower()
    try:
        value = kind(part)
    except ValueError:
        raise UsageError(f"{flag}: {part!r} is not {_KIND_WORDS[kind]}") from None
    check_range(option, value, flag)
    return value


_KIND_WORDS = {int: "an integer", float: "a number"}


def _setting_kind(option: str) -> type:
    """``int``, ``float`` or ``str``: the type a setting is declared with."""
    return typing.get_type_hints(Settings)[option]


def _check_names(option: str, flag: str, values: list[Any]) -> None:
    """Modes and fusions must be ones the retriever knows."""
    from ragcli.retrieve import FUSIONS, MODES

    known = MODES if option == "mode" else FUSIONS
    for value in values:
        if value not in known:
            raise UsageError(f"{flag}: unknown {option} {value!r} (choose from {', '.join(known)})")


def parse_values(option: str, text: str) -> list[Any]:
    """A comma list for one sweep option, typed: ``parse_values("alpha", "0,0.5")``."""
    if option not in SWEEP_KEYS:
        raise UsageError(f"cannot sweep {option!r} (can sweep: {', '.join(SWEEP_KEYS)})")
    flag = flag_name(option)
    parts = [part.strip() for part in str(text).split(",")]
    if not any(parts):
        raise UsageError(f"{flag}: no values")
    values: list[Any] = []
    for part in parts:
        if not part:
            raise UsageError(f"{flag}: empty value in {text!r}")
        value = _parse_value(option, flag, part)
        if value not in values:
            values.append(value)
    if option in ("mode", "fusion"):
        _check_names(option, flag, values)
    return values


def sweep_from_flags(flags: Mapping[str, str | None], no_rerank: bool = False) -> dict[str, list]:
    """The sweep of ``rag eval``'s flags: ``{option: comma list or None}`` (None = not
    swept) plus ``--no-rerank``, which is ``--rerank off``."""
    flags = dict(flags)
    if no_rerank and flags.get("rerank") is not None:
        raise UsageError("give either --rerank or --no-rerank, not both")
    if no_rerank:
        flags["rerank"] = "off"
    return {key: parse_values(key, text) for key, text in flags.items() if text is not None}


def ordered_sweep(sweep: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """The swept options with values, checked, in :data:`SWEEP_KEYS` order."""
    given = {key: list(values) for key, values in sweep.items() if values}
    for key in given:
        if key not in SWEEP_KEYS:
            raise UsageError(f"cannot sweep {key!r} (can sweep: {', '.join(SWEEP_KEYS)})")
    return {key: given[key] for key in SWEEP_KEYS if key in given}


def expand_grid(options: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the option values, as dicts.

    Stable order: keys in the given order, the last key varying fastest, values in the
    given order (like nested for-loops). No options gives one empty combination.
    """
    keys = list(options)
    value_lists = []
    for key in keys:
        values = options[key]
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise UsageError(f"sweep option {key!r}: expected a list of values")
        if not values:
            raise UsageError(f"sweep option {key!r}: no values")
        value_lists.append(list(values))
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*value_lists)]


def best_row(
    rows: Sequence[Mapping[str, Any]], metric: str, *, higher_is_better: bool = True
) -> Mapping[str, Any]:
    """The row with the best value of ``metric`` (a key of each row); first one on ties.

    Rows without the metric, or with a non-numeric or NaN value, are passed over. Raises
    UsageError when no row has a value.
    """
    best: Mapping[str, Any] | None = None
    best_value = 0.0
    for row in rows:
        value = row.get(metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            continue
        better = value > best_value if higher_is_better else value < best_value
        if best is None or better:
            best, best_value = row, float(value)
    if best is None:
        raise UsageError(f"no sweep result has a value for {metric!r}")
    return best
