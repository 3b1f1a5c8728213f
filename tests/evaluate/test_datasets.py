"""Reading JSONL question sets and BEIR folders (ragcli.evaluate.datasets)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ragcli.errors import UsageError
from ragcli.evaluate.datasets import (
    BeirCollection,
    Problem,
    QuestionSet,
    available_splits,
    read_beir,
    read_eval_set,
    read_questions,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "eval"
MINI = DATA / "mini_beir"
SHARED = Path("/work/shared/data")


def write_jsonl(path: Path, lines: list[str | dict]) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# read_questions


def test_read_questions_all_forms(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"id": "a", "question": " What is X? ", "relevant": ["x.md", "y.md"], "answers": ["X"]},
            "",
            {"question": "Graded?", "relevant": {"d1": 2, "d2": 1, "d3": 0, "d4": -1}},
            {"id": 7, "question": "Int id, list of int doc ids", "relevant": [12, "13"]},
            {"question": "No judgments at all"},
        ],
    )
    qset = read_questions(path)
    assert isinstance(qset, QuestionSet)
    assert [q.id for q in qset.questions] == ["a", "3", "7", "5"]  # default id = line number
    first = qset.questions[0]
    assert first.text == "What is X?"
    assert first.relevant == {"x.md": 1, "y.md": 1}
    assert first.answers == ["X"]
    # grades <= 0 are judged not relevant: dropped and counted
    assert qset.questions[1].relevant == {"d1": 2, "d2": 1}
    assert qset.questions[2].relevant == {"12": 1, "13": 1}
    assert qset.questions[3].relevant == {} and qset.questions[3].answers == []
    assert qset.skipped == {"blank_lines": 1, "non_relevant_grades": 2}
    # qrels only hold questions with judgments
    assert set(qset.qrels) == {"a", "3", "7"}
    assert qset.has_relevance and qset.has_answers and len(qset) == 4


def test_read_questions_answer_string_and_kind(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"question": "one", "answer": "2678400", "kind": "identifier"},
            {"question": "both", "answers": ["a", "b"], "answer": "b", "kind": " howto "},
            {"question": "new", "answers": ["a"], "answer": "c"},
            {"question": "off topic", "answer": "", "answers": [], "kind": "offtopic"},
        ],
    )
    one, both, new, off = read_questions(path).questions
    assert one.answers == ["2678400"] and one.kind == "identifier"
    assert both.answers == ["a", "b"] and both.kind == "howto"  # each answer once
    assert new.answers == ["a", "c"] and new.kind is None
    assert off.answers == [] and off.kind == "offtopic"  # "" is no answer, not an error
    assert one.to_dict()["kind"] == "identifier"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "q", "answer": 42}', "'answer' must be a string, got a number"),
        ('{"question": "q", "answer": ["x"]}', "'answer' must be a string, got a list"),
        ('{"question": "q", "kind": 3}', "'kind' must be a string, got a number"),
        ('{"question": "ok"', "invalid JSON (Expecting"),
        ('["a list"]', "expected a JSON object, got a list"),
        ('{"id": "x"}', "missing 'question'"),
        ('{"question": "   "}', "'question' is empty"),
        ('{"question": 5}', "'question' must be a string"),
        ('{"question": "q", "id": [1]}', "'id' must be a string or an integer"),
        ('{"question": "q", "relevant": "doc.md"}', "'relevant' must be a list"),
        ('{"question": "q", "relevant": [null]}', "relevant[0] must be a string or an integer"),
        ('{"question": "q", "relevant": {"d": "high"}}', "grade of 'd'"),
        ('{"question": "q", "relevant": {"d": 1.5}}', "must be an integer"),
        ('{"question": "q", "answers": "42"}', "'answers' must be a list of strings"),
        ('{"question": "q", "answers": [42]}', "answers[0] must be a string"),
        ('{"question": "q", "answers": [""]}', "answers[0] is empty"),
    ],
)
def test_read_questions_bad_line_names_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question": "fine"}, line])
    with pytest.raises(UsageError) as info:
        read_questions(path)
    assert f"{path}:2:" in str(info.value)
    assert message in str(info.value)


def test_read_questions_duplicate_id(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "dup.jsonl",
        [{"id": "q", "question": "a"}, {"id": "r", "question": "b"}, {"id": "q", "question": "c"}],
    )
    expected = r"dup.jsonl:3: duplicate question id 'q' \(first on line 1\)"
    with pytest.raises(UsageError, match=expected):
        read_questions(path)


def test_read_questions_float_grade_that_is_whole_is_accepted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "q", "relevant": {"d": 2.0}}])
    assert read_questions(path).questions[0].relevant == {"d": 2}


def test_read_questions_empty_or_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(UsageError, match="no questions"):
        read_questions(empty)
    with pytest.raises(UsageError, match="no such file"):
        read_questions(tmp_path / "missing.jsonl")
    with pytest.raises(UsageError, match="is a folder"):
        read_questions(tmp_path)


def test_read_questions_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "ok"}\n{"question": "caf\xe9"}\n')
    with pytest.raises(UsageError, match="not UTF-8"):
        read_questions(path)


def test_read_questions_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes('\ufeff{"question": "with a BOM"}\n'.encode())
    assert read_questions(path).questions[0].text == "with a BOM"


# ---------------------------------------------------------------------------------------
# read_beir on the small fixture


def test_read_beir_fixture() -> None:
    coll = read_beir(MINI)
    assert isinstance(coll, BeirCollection)
    assert coll.corpus_path == MINI / "corpus.jsonl"
    assert coll.n_docs == 3 and coll.n_queries == 4
    # q3's only qrel names an unknown doc, q4 has no qrels in this split: neither is kept
    assert [q.id for q in coll.questions] == ["q1", "q2"]
    assert coll.qrels == {"q1": {"d1": 2}, "q2": {"d2": 1}}
    assert coll.n_relevant_pairs == 2
    # answers come from questions.jsonl; the text from queries.jsonl
    assert coll.questions[0].answers == ["most of the day"]
    assert coll.questions[1].answers == ["daily walks", "walks"]
    assert coll.questions[1].text == "What do dogs need?"
    assert coll.questions_path == MINI / "questions.jsonl"
    assert coll.skipped == {
        "blank_lines": 1,  # in corpus.jsonl
        "non_relevant_grades": 1,  # q1 d3 0
        "unknown_doc_ids": 2,  # q2 d9, q3 d7
        "unknown_query_ids": 1,  # q5
        "queries_without_qrels": 2,  # q3, q4
        "qa_without_qrels": 1,  # q9 in questions.jsonl
    }
    assert [str(p) for p in coll.problems] == [
        "qrels/test.tsv:5: corpus id 'd9' not in corpus.jsonl",
        "qrels/test.tsv:6: corpus id 'd7' not in corpus.jsonl",
        "qrels/test.tsv:7: query id 'q5' not in queries.jsonl",
        "questions.jsonl:2: 'relevant' of 'q2' differs from the qrels (the qrels are used)",
    ]
    assert coll.problems[0] == Problem("qrels/test.tsv", 5, "corpus id 'd9' not in corpus.jsonl")


def test_read_beir_other_split_and_splits_listing() -> None:
    assert available_splits(MINI) == ["dev", "test"]
    coll = read_beir(MINI, split="dev")
    assert coll.qrels == {"q4": {"d2": 1}}
    assert coll.questions[0].answers == []  # q4 has no entry in questions.jsonl
    with pytest.raises(UsageError, match=r"no qrels for split 'train' \(available: dev, test\)"):
        read_beir(MINI, split="train")


def test_read_beir_missing_parts(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder"):
        read_beir(tmp_path / "nope")
    with pytest.raises(UsageError, match=r"missing corpus.jsonl, queries.jsonl"):
        read_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "t"}\n', encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "t"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="no qrels/.*tsv files"):
        read_beir(tmp_path)


def copy_mini(tmp_path: Path) -> Path:
    folder = tmp_path / "beir"
    shutil.copytree(MINI, folder)
    return folder


def test_read_beir_questions_file_gives_answer_strings_and_kinds(tmp_path: Path) -> None:
    folder = copy_mini(tmp_path)
    write_jsonl(
        folder / "questions.jsonl",
        [{"id": "q1", "question": "x", "answer": "most of the day", "kind": "howto"}],
    )
    first = read_beir(folder).questions[0]
    assert (first.id, first.answers, first.kind) == ("q1", ["most of the day"], "howto")


def test_read_beir_nothing_left_is_fatal(tmp_path: Path) -> None:
    folder = copy_mini(tmp_path)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tmissing\t1\n", encoding="utf-8"
    )
    with pytest.raises(UsageError, match="no query has a relevant document") as info:
        read_beir(folder)
    assert "qrels/test.tsv:2: corpus id 'missing'" in str(info.value)


@pytest.mark.parametrize(
    ("qrels", "line", "message"),
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\n", 2, "expected 3 tab-separated columns"),
        ("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", 2, "score 'high' is not an integer"),
        ("q1\td1\t1\nquery-id\tcorpus-id\tscore\n", 2, "header line in the middle"),
    ],
)
def test_read_beir_bad_qrels_line(tmp_path: Path, qrels: str, line: int, message: str) -> None:
    folder = copy_mini(tmp_path)
    path = folder / "qrels" / "test.tsv"
    path.write_text(qrels, encoding="utf-8")
    with pytest.raises(UsageError, match=message) as info:
        read_beir(folder)
    assert f"{path}:{line}:" in str(info.value)


def test_read_beir_headerless_trec_format_and_duplicates(tmp_path: Path) -> None:
    folder = copy_mini(tmp_path)
    # TREC 4-column qrels without a header, space separated; a repeated pair keeps the max
    (folder / "qrels" / "test.tsv").write_text(
        "q1 0 d1 1\nq1 0 d2 2\nq1 0 d1 3\n", encoding="utf-8"
    )
    coll = read_beir(folder)
    assert coll.qrels == {"q1": {"d1": 3, "d2": 2}}
    expected = "qrels/test.tsv:3: pair (q1, d1) already judged on line 1"
    assert str(coll.problems[0]).startswith(expected)


def test_read_beir_bad_corpus_and_queries(tmp_path: Path) -> None:
    folder = copy_mini(tmp_path)
    (folder / "corpus.jsonl").write_text('{"_id": "d1"}\n{"title": "no id"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"corpus.jsonl:2: missing '_id'"):
        read_beir(folder)
    folder = copy_mini(tmp_path / "again")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": 3}\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"queries.jsonl:1: 'text' is a number"):
        read_beir(folder)


def test_read_eval_set_dispatches(tmp_path: Path) -> None:
    assert isinstance(read_eval_set(MINI), BeirCollection)
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "q"}])
    assert isinstance(read_eval_set(path), QuestionSet)
    with pytest.raises(UsageError, match="no such file or folder"):
        read_eval_set(tmp_path / "nothing")


# ---------------------------------------------------------------------------------------
# the real collections (counts stated in their READMEs)


def need(name: str) -> Path:
    folder = SHARED / name / "beir"
    if not folder.is_dir():
        pytest.skip(f"the shared evaluation data is not on this machine ({folder} is missing)")
    return folder


def test_real_cranfield_counts() -> None:
    coll = read_beir(need("cranfield"))
    assert coll.n_docs == 1400
    assert len(coll.questions) == 225
    assert coll.n_relevant_pairs == 1612
    assert coll.problems == [] and not coll.has_answers
    grades = [g for q in coll.questions for g in q.relevant.values()]
    # README: codes 1:128, 2:387, 3:734, 4:363 become gains 4..1
    assert {g: grades.count(g) for g in (1, 2, 3, 4)} == {4: 128, 3: 387, 2: 734, 1: 363}


def test_real_scifact_counts() -> None:
    test = read_beir(need("scifact"))
    assert (test.n_docs, len(test.questions), test.n_relevant_pairs) == (5183, 300, 339)
    assert test.skipped["queries_without_qrels"] == 1109 - 300
    train = read_beir(need("scifact"), split="train")
    assert (len(train.questions), train.n_relevant_pairs) == (809, 919)


def test_real_xquad_has_answers() -> None:
    coll = read_beir(need("xquad_en"))
    assert coll.n_docs == 240 and len(coll.questions) == 1190
    assert all(len(q.answers) == 1 for q in coll.questions)  # README: exactly one gold answer
    assert coll.problems == []
    first = coll.questions[0]
    assert first.id == "56beb4343aeaaa14008c925b"
    assert first.answers == ["308"] and first.relevant == {"0-0": 1}
