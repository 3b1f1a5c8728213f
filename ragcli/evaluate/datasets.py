"""Reading evaluation inputs: JSONL question sets and BEIR-layout collections.

Two inputs give the same thing, a list of :class:`Question` (id, text, graded relevant
documents, gold answers):

* :func:`read_questions` reads a JSONL file, one question per line::

      {"id": "q1", "question": "...", "relevant": ["a.md", "b.md"], "answers": ["42"]}
      {"question": "...", "relevant": {"doc-7": 2, "doc-9": 1}, "kind": "howto"}
      {"question": "...", "relevant": ["docs/config.rst"], "answer": "2678400"}

  ``question`` is required; ``id`` defaults to the 1-based line number; ``relevant`` is a
  list of document ids (grade 1 each) or an object ``{doc id: grade}`` (integer grade,
  > 0 = relevant, higher = more relevant); ``answers`` is a list of gold answer strings
  and ``answer`` one more gold answer (a string; ``""`` = none); ``kind`` an optional
  label (``identifier``, ``howto``, ...) that ``rag eval`` reports metrics by.

* :func:`read_beir` reads a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``,
  ``qrels/<split>.tsv`` and, for QA sets, ``questions.jsonl`` (gold answers).

Skipped, not fatal (counted in ``skipped``):

* blank lines in any JSONL file (``"blank_lines"``);
* relevance grades <= 0, in a ``relevant`` object or a qrels file: judged not relevant,
  so they are left out of ``Question.relevant`` (``"non_relevant_grades"``);
* BEIR only: queries with no relevant document in the split (``"queries_without_qrels"``),
  qrels lines whose query id is not in ``queries.jsonl`` (``"unknown_query_ids"``) or whose
  document id is not in ``corpus.jsonl`` (``"unknown_doc_ids"``); each such qrels line is
  also listed in ``problems`` with its line number.

Everything else that is wrong with an input (unreadable file, malformed JSON, missing or
empty ``question``, wrong types, duplicate question ids, a bad qrels line) raises
:class:`~ragcli.errors.UsageError` naming the file and line. So does a set with no
question left to evaluate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli.errors import BadJsonLine, UsageError, json_object, json_type

QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass
class Question:
    """One evaluation question.

    ``relevant`` maps document ids to grades (all > 0; higher = more relevant); empty when
    the set has no relevance judgments. ``answers`` are the gold answers (may be empty).
    """

    id: str
    text: str
    relevant: dict[str, int] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)
    kind: str | None = None  # a label the report groups by ("identifier", "howto", ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.text,
            "relevant": dict(self.relevant),
            "answers": list(self.answers),
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Problem:
    """A non-fatal defect in an input file, with the line it was found on."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


class _EvalSet:
    """What both inputs share: questions, their qrels, skipped counts and problems."""

    questions: list[Question]
    skipped: dict[str, int]
    problems: list[Problem]

    @property
    def qrels(self) -> dict[str, dict[str, int]]:
        """``{question id: {doc id: grade}}`` for the questions that have judgments."""
        return {q.id: dict(q.relevant) for q in self.questions if q.relevant}

    @property
    def has_relevance(self) -> bool:
        return any(q.relevant for q in self.questions)

    @property
    def has_answers(self) -> bool:
        return any(q.answers for q in self.questions)

    def __len__(self) -> int:
        return len(self.questions)


@dataclass
class QuestionSet(_EvalSet):
    """The questions of a JSONL file (see :func:`read_questions`)."""

    path: Path
    questions: list[Question]
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class BeirCollection(_EvalSet):
    """A BEIR folder, validated (see :func:`read_beir`).

    The corpus is not loaded: ``corpus_path`` is for the ingest pipeline. ``questions`` are
    the queries with at least one relevant document in ``split``, in ``queries.jsonl``
    order, with gold answers from ``questions.jsonl`` when the folder has one.
    """

    folder: Path
    split: str
    corpus_path: Path
    queries_path: Path
    qrels_path: Path
    questions_path: Path | None
    n_docs: int
    n_queries: int  # lines in queries.jsonl, judged or not
    n_relevant_pairs: int  # (query, doc) pairs with grade > 0 that were kept
    questions: list[Question]
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# helpers


def _bump(counts: dict[str, int], key: str, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(1-based line number, line without its newline)``; I/O and decoding as UsageError."""
    lineno = 0
    try:
        with path.open("r", encoding="utf-8-sig", newline=None) as handle:
            for lineno, line in enumerate(handle, start=1):  # noqa: B007
                yield lineno, line.rstrip("\r\n")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, expected a file") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}:{lineno + 1}: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from None


def _iter_jsonl(path: Path, skipped: dict[str, int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line as a JSON object; blank lines are counted and skipped."""
    for lineno, line in _read_lines(path):
        if not line.strip():
            _bump(skipped, "blank_lines")
            continue
        try:
            record = json_object(line)
        except BadJsonLine as err:
            raise UsageError(f"{path}:{lineno}: {err}") from None
        yield lineno, record


def _as_id(value: Any, where: str, what: str) -> str:
    """An id given as a non-empty string or an integer (JSON writers use both)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UsageError(f"{where}: {what} must be a string or an integer, got {json_type(value)}")
    text = str(value).strip()
    if not text:
        raise UsageError(f"{where}: {what} is empty")
    return text


def _parse_relevant(value: Any, where: str, skipped: dict[str, int]) -> dict[str, int]:
    if value is None:
        return {}
    relevant: dict[str, int] = {}
    if isinstance(value, list):
        for i, doc in enumerate(value):
            relevant[_as_id(doc, where, f"relevant[{i}]")] = 1
        return relevant
    if isinstance(value, dict):
        for doc, grade in value.items():
            doc_id = _as_id(doc, where, "a key of 'relevant'")
            if isinstance(grade, bool) or not isinstance(grade, int):
                # JSON has no int/float distinction, but 2.0 is still a whole number.
                if isinstance(grade, float) and grade.is_integer():
                    grade = int(grade)
                else:
                    raise UsageError(
                        f"{where}: grade of {doc_id!r} in 'relevant' must be an integer, "
                        f"got {json.dumps(grade)}"
                    )
            if grade <= 0:
                _bump(skipped, "non_relevant_grades")
                continue
            relevant[doc_id] = grade
        return relevant
    raise UsageError(
        f"{where}: 'relevant' must be a list of document ids or an object "
        f"{{doc id: grade}}, got {json_type(value)}"
    )


def _parse_answers(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"{where}: 'answers' must be a list of strings, got {json_type(value)}")
    answers = []
    for i, answer in enumerate(value):
        if not isinstance(answer, str):
            raise UsageError(f"{where}: answers[{i}] must be a string, got {json_type(answer)}")
        if not answer.strip():
            raise UsageError(f"{where}: answers[{i}] is empty")
        answers.append(answer)
    return answers


def _parse_answer(value: Any, where: str) -> list[str]:
    """The single gold answer of ``answer``: a string; empty means none (off-topic)."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise UsageError(f"{where}: 'answer' must be a string, got {json_type(value)}")
    return [value] if value.strip() else []


def _gold_answers(record: dict[str, Any], where: str) -> list[str]:
    """``answers`` and ``answer`` together, each answer once, in that order."""
    answers = _parse_answers(record.get("answers"), where)
    return list(dict.fromkeys([*answers, *_parse_answer(record.get("answer"), where)]))


def _parse_kind(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"{where}: 'kind' must be a string, got {json_type(value)}")
    return value.strip() or None


def _parse_question_records(
    path: Path, skipped: dict[str, int], *, question_key: str = "question", id_key: str = "id"
) -> list[tuple[int, Question]]:
    """Validate every line of a question JSONL file; duplicate ids are an error."""
    out: list[tuple[int, Question]] = []
    seen: dict[str, int] = {}
    for lineno, record in _iter_jsonl(path, skipped):
        where = f"{path}:{lineno}"
        text = record.get(question_key)
        if text is None:
            raise UsageError(f"{where}: missing '{question_key}'")
        if not isinstance(text, str):
            raise UsageError(f"{where}: '{question_key}' must be a string, got {json_type(text)}")
        if not text.strip():
            raise UsageError(f"{where}: '{question_key}' is empty")
        raw_id = record.get(id_key)
        qid = str(lineno) if raw_id is None else _as_id(raw_id, where, f"'{id_key}'")
        if qid in seen:
            raise UsageError(f"{where}: duplicate question id {qid!r} (first on line {seen[qid]})")
        seen[qid] = lineno
        question = Question(
            id=qid,
            text=text.strip(),
            relevant=_parse_relevant(record.get("relevant"), where, skipped),
            answers=_gold_answers(record, where),
            kind=_parse_kind(record.get("kind"), where),
        )
        out.append((lineno, question))
    return out


# --------------------------------------------------------------------------------------
# JSONL question sets


def read_questions(path: str | Path) -> QuestionSet:
    """Read a JSONL question set (format in the module docstring).

    Raises UsageError for any malformed line (naming file and line) and for a file with
    no questions. Blank lines and grades <= 0 are skipped and counted in ``skipped``.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; expected a JSONL question file")
    skipped: dict[str, int] = {}
    questions = [q for _, q in _parse_question_records(path, skipped)]
    if not questions:
        raise UsageError(f"{path}: no questions (the file is empty)")
    return QuestionSet(path=path, questions=questions, skipped=skipped)


# --------------------------------------------------------------------------------------
# BEIR folders


def _corpus_ids(path: Path, skipped: dict[str, int], problems: list[Problem]) -> set[str]:
    """Stream ``corpus.jsonl`` and collect its ``_id`` values (text is not kept)."""
    ids: set[str] = set()
    for lineno, record in _iter_jsonl(path, skipped):
        where = f"{path}:{lineno}"
        if "_id" not in record:
            raise UsageError(f"{where}: missing '_id'")
        doc_id = _as_id(record["_id"], where, "'_id'")
        if doc_id in ids:
            problems.append(Problem(path.name, lineno, f"duplicate document id {doc_id!r}"))
            continue
        ids.add(doc_id)
    return ids


def _read_queries(path: Path, skipped: dict[str, int]) -> dict[str, tuple[int, str]]:
    """``{query id: (line, text)}`` from ``queries.jsonl``, in file order."""
    queries: dict[str, tuple[int, str]] = {}
    for lineno, record in _iter_jsonl(path, skipped):
        where = f"{path}:{lineno}"
        if "_id" not in record:
            raise UsageError(f"{where}: missing '_id'")
        qid = _as_id(record["_id"], where, "'_id'")
        text = record.get("text")
        if not isinstance(text, str):
            what = "missing 'text'" if text is None else f"'text' is {json_type(text)}"
            raise UsageError(f"{where}: {what}, expected a string")
        if qid in queries:
            first = queries[qid][0]
            raise UsageError(f"{where}: duplicate query id {qid!r} (first on line {first})")
        queries[qid] = (lineno, text.strip())
    return queries


def _parse_qrels_line(line: str, where: str) -> tuple[str, str, int] | None:
    """``(query id, doc id, score)``; None for the header. 3 columns (BEIR) or 4 (TREC)."""
    fields = line.split("\t") if "\t" in line else line.split()
    fields = [f.strip() for f in fields]
    if len(fields) == 4:  # TREC: qid iteration docid relevance
        fields = [fields[0], fields[2], fields[3]]
    if len(fields) != 3:
        raise UsageError(
            f"{where}: expected 3 tab-separated columns (query-id, corpus-id, score), "
            f"got {len(fields)}"
        )
    qid, doc_id, raw_score = fields
    if tuple(f.lower() for f in fields) == QRELS_HEADER:
        return None
    if not qid or not doc_id:
        raise UsageError(f"{where}: empty query id or corpus id")
    try:
        score = int(raw_score)
    except ValueError:
        try:
            as_float = float(raw_score)
        except ValueError:
            as_float = None
        if as_float is None or not as_float.is_integer():
            raise UsageError(f"{where}: score {raw_score!r} is not an integer") from None
        score = int(as_float)
    return qid, doc_id, score


def available_splits(folder: str | Path) -> list[str]:
    """Split names with a ``qrels/<split>.tsv`` file in a BEIR folder."""
    qrels_dir = Path(folder) / "qrels"
    if not qrels_dir.is_dir():
        return []
    return sorted(p.stem for p in qrels_dir.glob("*.tsv"))


@dataclass
class _Qrels:
    """The kept judgments of a qrels file, and every positive pair before unknown doc ids
    were dropped (``questions.jsonl`` is checked against those)."""

    relevant: dict[str, dict[str, int]] = field(default_factory=dict)
    all_positive: dict[str, set[str]] = field(default_factory=dict)


def _beir_paths(folder: Path, split: str) -> tuple[Path, Path, Path]:
    """``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``, checked to exist."""
    if not folder.exists():
        raise UsageError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; a BEIR collection is a folder")
    corpus_path = folder / "corpus.jsonl"
    queries_path = folder / "queries.jsonl"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    missing = [p for p in (corpus_path, queries_path) if not p.is_file()]
    if missing:
        names = ", ".join(p.name for p in missing)
        raise UsageError(f"{folder}: not a BEIR folder (missing {names})")
    if not qrels_path.is_file():
        splits = available_splits(folder)
        have = f"available: {', '.join(splits)}" if splits else "no qrels/*.tsv files"
        raise UsageError(f"{folder}: no qrels for split {split!r} ({have})")
    return corpus_path, queries_path, qrels_path


def _qrels_lines(path: Path, skipped: dict[str, int]) -> Iterator[tuple[int, str, str, int]]:
    """``(line, query id, doc id, score)`` of a qrels file; blank lines and the header
    (allowed on line 1 only) are passed over."""
    for lineno, line in _read_lines(path):
        if not line.strip():
            _bump(skipped, "blank_lines")
            continue
        parsed = _parse_qrels_line(line, f"{path}:{lineno}")
        if parsed is None:
            if lineno != 1:
                raise UsageError(f"{path}:{lineno}: header line in the middle of the file")
            continue
        yield lineno, *parsed


def _read_qrels(
    path: Path,
    name: str,
    queries: dict[str, tuple[int, str]],
    doc_ids: set[str],
    skipped: dict[str, int],
    problems: list[Problem],
) -> _Qrels:
    """The positive judgments of known queries and documents; a pair judged twice keeps
    its higher score."""
    qrels = _Qrels()
    judged_lines: dict[tuple[str, str], int] = {}
    for lineno, qid, doc_id, score in _qrels_lines(path, skipped):
        pair = (qid, doc_id)
        if pair in judged_lines:
            message = (
                f"pair ({qid}, {doc_id}) already judged on line {judged_lines[pair]}; "
                "keeping the higher score"
            )
            problems.append(Problem(name, lineno, message))
        else:
            judged_lines[pair] = lineno
        if score <= 0:
            _bump(skipped, "non_relevant_grades")
            continue
        if qid not in queries:
            _bump(skipped, "unknown_query_ids")
            problems.append(Problem(name, lineno, f"query id {qid!r} not in queries.jsonl"))
            continue
        qrels.all_positive.setdefault(qid, set()).add(doc_id)
        if doc_id not in doc_ids:
            _bump(skipped, "unknown_doc_ids")
            problems.append(Problem(name, lineno, f"corpus id {doc_id!r} not in corpus.jsonl"))
            continue
        grades = qrels.relevant.setdefault(qid, {})
        grades[doc_id] = max(score, grades.get(doc_id, 0))
    return qrels


def _judged_questions(
    queries: dict[str, tuple[int, str]],
    relevant: dict[str, dict[str, int]],
    queries_path: Path,
    skipped: dict[str, int],
) -> list[Question]:
    """The queries with a relevant document, in file order; the others are counted."""
    questions = [
        Question(id=qid, text=text, relevant=relevant[qid])
        for qid, (_, text) in queries.items()
        if qid in relevant
    ]
    unjudged = len(queries) - len(questions)
    if unjudged:
        skipped["queries_without_qrels"] = unjudged
    for qid, (lineno, text) in queries.items():
        if qid in relevant and not text:
            raise UsageError(f"{queries_path}:{lineno}: 'text' is empty")
    return questions


def read_beir(folder: str | Path, split: str = "test") -> BeirCollection:
    """Validate a BEIR folder and read its judged queries for ``split``.

    Reads ``queries.jsonl`` and ``qrels/<split>.tsv``, streams ``corpus.jsonl`` for its
    ids only (the text is left to the ingest pipeline), and, if present, reads
    ``questions.jsonl`` (``{"id", "question", "answers", "answer", "relevant", "kind"}``)
    to attach gold answers and kinds. Only queries with at least one relevant document in
    the split are kept.
    qrels lines naming an unknown query or document are dropped, counted in ``skipped``
    and listed in ``problems``; it is an error only if no judged query is left.
    """
    folder = Path(folder)
    corpus_path, queries_path, qrels_path = _beir_paths(folder, split)
    skipped: dict[str, int] = {}
    problems: list[Problem] = []
    doc_ids = _corpus_ids(corpus_path, skipped, problems)
    if not doc_ids:
        raise UsageError(f"{corpus_path}: no documents")
    queries = _read_queries(queries_path, skipped)
    qrels_name = f"qrels/{split}.tsv"
    qrels = _read_qrels(qrels_path, qrels_name, queries, doc_ids, skipped, problems)
    questions = _judged_questions(queries, qrels.relevant, queries_path, skipped)
    if not questions:
        raise UsageError(
            f"{folder}: no query has a relevant document in {qrels_name} that is in the "
            f"corpus ({len(problems)} problems; first: {problems[0] if problems else 'none'})"
        )
    questions_path: Path | None = folder / "questions.jsonl"
    if questions_path.is_file():
        _attach_answers(questions_path, questions, qrels.all_positive, skipped, problems)
    else:
        questions_path = None
    return BeirCollection(
        folder=folder,
        split=split,
        corpus_path=corpus_path,
        queries_path=queries_path,
        qrels_path=qrels_path,
        questions_path=questions_path,
        n_docs=len(doc_ids),
        n_queries=len(queries),
        n_relevant_pairs=sum(len(q.relevant) for q in questions),
        questions=questions,
        skipped=skipped,
        problems=problems,
    )


def _attach_answers(
    path: Path,
    questions: list[Question],
    qrels_docs: dict[str, set[str]],
    skipped: dict[str, int],
    problems: list[Problem],
) -> None:
    """Copy gold answers (and kinds) from a BEIR ``questions.jsonl`` onto the judged
    questions.

    The qrels stay authoritative for relevance; a ``relevant`` list that disagrees with
    them is reported as a problem. Entries for queries not judged in this split are
    ignored (counted as ``"qa_without_qrels"``).
    """
    by_id = {q.id: q for q in questions}
    ignored: dict[str, int] = {}  # grades <= 0 here duplicate what the qrels already said
    for lineno, entry in _parse_question_records(path, ignored):
        question = by_id.get(entry.id)
        if question is None:
            _bump(skipped, "qa_without_qrels")
            continue
        question.answers = entry.answers
        question.kind = entry.kind
        if entry.relevant and set(entry.relevant) != qrels_docs.get(entry.id, set()):
            problems.append(
                Problem(
                    path.name,
                    lineno,
                    f"'relevant' of {entry.id!r} differs from the qrels (the qrels are used)",
                )
            )
    if ignored.get("blank_lines"):
        _bump(skipped, "blank_lines", ignored["blank_lines"])


def read_eval_set(path: str | Path, split: str = "test") -> QuestionSet | BeirCollection:
    """A folder is read as BEIR (:func:`read_beir`), a file as JSONL (:func:`read_questions`)."""
    path = Path(path)
    if path.is_dir():
        return read_beir(path, split)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    return read_questions(path)
