"""`rag eval --fusion` sweeps take every fusion the retriever knows, and only those."""

from __future__ import annotations

import typing

import pytest

from ragcli.errors import UsageError
from ragcli.evaluate.sweep import parse_values
from ragcli.retrieve import FUSIONS
from ragcli.serve.tools import search_options


def test_every_fusion_can_be_swept():
    assert parse_values("fusion", ",".join(FUSIONS)) == list(FUSIONS)
    assert parse_values("fusion", "ZScore, dbsf") == ["zscore", "dbsf"]


def test_unknown_fusion_is_refused_naming_the_choices():
    with pytest.raises(UsageError, match="unknown fusion 'borda'.*adaptive"):
        parse_values("fusion", "minmax,borda")


def test_the_served_search_tool_offers_the_same_fusions():
    optional = typing.get_args(search_options()["fusion"])[0]  # Annotated[Literal | None]
    literal = typing.get_args(optional)[0]
    assert set(typing.get_args(literal)) == set(FUSIONS)
