"""A conversation's turns: how they are shown to a model and kept on disk.

The last ``HISTORY_TURNS`` turns go into a prompt, with their citation markers removed
(their numbers referred to other sources) and each earlier answer cut to
``PAST_ANSWER_CHARS``. The same cut serves the answer prompt and the follow-up rewrite
prompt, so the rewriter sees the conversation the answering model saw; 600 characters
keep the two or three sentences that name what a follow-up's pronouns refer to.

Turns are appended to ``<index>/cache/chat/history.jsonl``, one JSON object per line,
each with a ``session`` id; ``load_history`` returns the latest session's turns.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli.answer.citations import strip_citations
from ragcli.answer.source import SearchSource
from ragcli.prompt import neutralize

HISTORY_TURNS = 3
PAST_ANSWER_CHARS = 600  # each earlier answer is cut to this in a prompt


@dataclass
class Turn:
    """One exchange of a conversation, as kept in the history file."""

    question: str
    answer: str
    query: str = ""  # the standalone query used for retrieval
    sources: list[dict[str, Any]] = field(default_factory=list)  # n, source, location
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.answer,
            "sources": self.sources,
            "time": self.time,
        }


def history_path(index: SearchSource) -> Path:
    return Path(index.path) / "cache" / "chat" / "history.jsonl"


def turn_lines(turns: list[Turn]) -> list[str]:
    """The turns fenced as untrusted data: ``<history>``, then ``User: ...`` /
    ``Assistant: ...`` lines (one line each, answers without citations and cut, fence
    look-alikes defused: an extractive answer is verbatim document text), ``</history>``."""
    lines = ["<history>"]
    for turn in turns:
        past = " ".join(strip_citations(turn.answer).split())
        if len(past) > PAST_ANSWER_CHARS:
            past = past[: PAST_ANSWER_CHARS - 1].rstrip() + "…"
        lines.append(f"User: {neutralize(' '.join(turn.question.split()))}")
        lines.append(f"Assistant: {neutralize(past)}")
    return [*lines, "</history>"]


def format_history(turns: list[Turn]) -> str:
    header = (
        "Conversation so far (for context only; answer the last question from the sources below):"
    )
    return "\n".join([header, *turn_lines(turns)])


def append_history(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and sync it to disk (the file is append-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("question"), str):
            records.append(record)
    return records


def load_history(path: Path) -> tuple[str, list[Turn]]:
    """The latest session id in the history file and its turns (unreadable lines skipped)."""
    records = _records(path)
    if not records:
        return "", []
    session = str(records[-1].get("session") or "")
    turns = [
        Turn(
            question=r["question"],
            answer=str(r.get("answer") or ""),
            query=str(r.get("query") or ""),
            sources=list(r.get("sources") or []),
            time=float(r.get("time") or 0.0),
        )
        for r in records
        if str(r.get("session") or "") == session
    ]
    return session, turns
