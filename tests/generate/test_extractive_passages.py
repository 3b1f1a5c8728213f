"""The offline answer quotes what answers: no headings, cut lead-ins, cross-reference
stubs, rows of other entries or flattened code; one clean bullet per passage."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.answer import ask
from ragcli.config import Settings
from ragcli.generate import make_backend
from ragcli.generate.extractive import (
    NO_SENTENCE,
    ScoredPassage,
    extractive_answer,
    format_passage,
    score_passages,
)
from ragcli.generate.passages import passages
from ragcli.index import Index
from ragcli.prompt import build_prompt
from ragcli.text import answer_terms
from ragcli.types import Chunk, Hit, Location


def hits_of(*texts: str, heading: tuple[str, ...] = ()) -> list[Hit]:
    return [
        Hit(
            rank=i,
            score=1.0,
            chunk=Chunk("d", f"{i}.rst", "t", text, Location(heading=heading), 0, 0, i),
        )
        for i, text in enumerate(texts, 1)
    ]


def answer(question: str, *texts: str, encoder=None) -> str:
    prompt = build_prompt(question, hits_of(*texts), 4000)
    return extractive_answer(prompt, encoder=encoder).split("\n\n(No language model")[0]


BROADCASTING = (
    "Broadcasting rules\n\n"
    "When operating on two arrays, NumPy compares their shapes element-wise. "
    "Two dimensions are compatible when:\n\n"
    "- they are equal, or\n\n"
    "- one of them is 1.\n\n"
    "If these conditions are not met, an exception is thrown. "
    "For more details on compatible dimensions, see broadcasting-reference.\n"
)


def test_a_lead_in_is_quoted_with_the_list_it_introduces_whole():
    text = answer("When are two array dimensions compatible for broadcasting?", BROADCASTING)
    assert text.splitlines()[:3] == [
        "- Two dimensions are compatible when: [1]",
        "  - they are equal, or",
        "  - one of them is 1.",
    ]
    assert "Broadcasting rules [1]" not in text  # a heading is not an answer
    assert "For more details" not in text  # nor a cross-reference stub


def test_a_lead_in_cut_off_by_the_chunk_end_is_never_quoted():
    cut = "Reading files\n\nTwo dimensions are compatible when:"
    found = [p.text for p in passages(cut)]
    assert found == []
    assert answer("When are two dimensions compatible?", cut).startswith(
        NO_SENTENCE.split("[1]")[0]
    )


def test_no_answering_sentence_is_said_plainly_with_the_citation():
    stub = "Signature files\n\nFor more details on intent(hide), see signature-file."
    text = answer("What does intent(hide) do?", stub)
    assert text == NO_SENTENCE.format(where="1.rst")
    assert "[1]" in text


def test_a_code_block_holding_the_answer_is_quoted_whole_with_its_lines():
    chunk = (
        "Redirects and Errors\n\n"
        "To abort a request early with an error code, use the abort function:\n\n"
        "from flask import abort\n\n"
        "@app.route('/login')\ndef login():\n    abort(401)\n    this_is_never_executed()\n\n"
        "This is a rather pointless example but it shows how that works."
    )
    text = answer("How can I abort a request early with a 401 error inside a view?", chunk)
    lines = text.splitlines()
    assert lines[0] == "- To abort a request early with an error code, use the abort function: [1]"
    assert "        abort(401)" in lines  # indentation kept, code on its own lines
    assert "    def login():" in lines
    assert not any("def login(): abort(401)" in line for line in lines)  # not flattened


def test_table_rows_of_other_entries_are_not_quoted():
    table = (
        "| setting | meaning |\n|---|---|\n"
        "| `timeout` | seconds before a request to the server fails |\n"
        "| `retries` | how many times a failed request to the server is repeated |\n"
    )
    ranked = score_passages("What does the retries setting do?", [table])
    assert [s.passage.text for s in ranked] == [
        "`retries` | how many times a failed request to the server is repeated"
    ]


def test_markup_is_stripped_and_each_passage_is_one_bullet():
    chunk = (
        "## Upload files { #upload-files }\n\n"
        "<button class='btn btn-primary'>Run</button>\n\n"
        "`UploadFile` has the following attributes:\n\n"
        "* `filename`: A `str` with the **original** file name.\n"
        "* `file`: A [`SpooledTemporaryFile`](https://docs.python.org/3/library/tempfile.html) "
        "(a <abbr title='file-like'>file-like</abbr> object).\n"
    )
    text = answer("What object does the file attribute of UploadFile expose?", chunk)
    assert "- - " not in text and "<" not in text and "](" not in text and "**" not in text
    assert "{ #" not in text
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert bullets[0] == "- `UploadFile` has the following attributes: [1]"
    assert "  - `file`: A `SpooledTemporaryFile` (a file-like object)." in text.splitlines()


def test_a_heading_key_gives_context_to_the_description_under_it():
    config = (
        "USE_X_SENDFILE\n\nWhen serving files, set the X-Sendfile header instead.\n\n"
        "Default: False\n\n"
        "SEND_FILE_MAX_AGE_DEFAULT\n\n"
        "When serving files, set the cache control max age to this number of seconds.\n\n"
        "Default: None"
    )
    text = answer("SEND_FILE_MAX_AGE_DEFAULT", config)
    assert text.splitlines()[0] == (
        "- When serving files, set the cache control max age to this number of seconds. [1]"
    )


def test_a_chunk_starting_inside_a_fenced_block_is_code_up_to_the_closing_fence():
    chunk = "    return {'item': item}\n```\n\nThe item is returned as **JSON** to the client."
    kinds = [(p.kind, p.text) for p in passages(chunk)]
    assert kinds == [
        ("code", "return {'item': item}"),
        ("sentence", "The item is returned as JSON to the client."),
    ]


@pytest.fixture(scope="module")
def encoder(examples_project: Path):
    return Index(examples_project / ".rag" / "default").query_encoder


def test_the_embedding_model_picks_the_sentence_that_answers(encoder):
    chunk = (
        "The bridge collapse was filmed by a tourist on the bank. "
        "The bridge collapsed because its steel cables had corroded for decades."
    )
    question = "Why did the bridge collapse?"
    words_only = score_passages(question, [chunk])
    assert words_only[0].score == words_only[1].score  # the question's words tie them
    with_model = score_passages(question, [chunk], encoder)
    assert with_model[0].passage.text.startswith("The bridge collapsed because")
    assert with_model[0].cosine > with_model[1].cosine


def test_ask_ranks_passages_with_the_index_embedding_model(examples_project: Path):
    index = Index(examples_project / ".rag" / "default")
    settings = Settings(rerank=False, k=3)
    backend = make_backend(settings, "extractive")
    result = ask(
        index,
        "How many people died of the plague in Paris in 1466?",
        settings,
        backend=backend,
        cache=False,
    )
    assert "[1]" in result.text
    assert result.text.startswith("- ")
    sparse = Settings(rerank=False, k=3, mode="sparse")
    from ragcli.answer.ask import _with_search_model

    assert _with_search_model(backend, index, settings).encoder() is index.query_encoder
    assert _with_search_model(backend, index, sparse).encoder is None


def test_a_how_to_question_gets_the_command_and_a_comment_in_code_is_not_a_heading():
    chunk = (
        "Running\n\n"
        "The only required argument to Gunicorn tells it how to load your Flask application.\n\n"
        "# equivalent to 'from hello import app'\n$ gunicorn -w 4 'hello:app'\n\n"
        "It can also be a function call if you're using the app factory pattern."
    )
    found = passages(chunk)
    assert ("code", "# equivalent to 'from hello import app'\n$ gunicorn -w 4 'hello:app'") in [
        (p.kind, p.text) for p in found
    ]
    text = answer("How do I run a Flask app with Gunicorn using four worker processes?", chunk)
    assert text.splitlines()[:3] == [
        "- Code [1]:",
        "    # equivalent to 'from hello import app'",
        "    $ gunicorn -w 4 'hello:app'",
    ]


ERRORS = (
    "Registering\n\n"
    "Register handlers by decorating a function with errorhandler. Or use "
    "register_error_handler to register the function later. Remember to set the error "
    "code when returning the response.\n\n"
    "@app.errorhandler(BadRequest)\ndef handle_bad_request(e):\n    return 'bad request!', 400\n"
)


def test_a_sentence_is_quoted_with_the_sentence_that_continues_it():
    question = "Which method registers an error handler without the errorhandler decorator?"
    first = answer(question, ERRORS).splitlines()[0]
    assert first == (
        "- Register handlers by decorating a function with errorhandler. Or use "
        "register_error_handler to register the function later. [1]"
    )  # "Remember to ..." does not continue it


def test_a_short_paragraph_brings_the_code_block_after_it_as_its_example():
    code = "@app.route('/login', methods=['GET', 'POST'])\ndef login():\n    return 'ok'"
    short = (
        "By default, a route only answers to GET requests. You can use the methods argument "
        "of the route decorator to handle different HTTP methods."
    )
    long = " ".join([short] * 3)
    found = {p.text: p for p in passages(f"HTTP Methods\n\n{short}\n\n{code}\n")}
    sentence = found["You can use the methods argument of the route decorator to handle "
                     "different HTTP methods."]  # fmt: skip
    assert sentence.example == code
    assert format_passage(ScoredPassage(1, sentence, 1.0, 1.0, None)).splitlines() == [
        f"- {sentence.text} [1]",
        "    @app.route('/login', methods=['GET', 'POST'])",
        "    def login():",
        "        return 'ok'",
    ]
    # in a long paragraph the code block is not any one sentence's example
    assert not any(p.example for p in passages(f"{long}\n\n{code}\n"))


def test_a_lead_in_and_its_code_after_a_paragraph_are_its_example():
    chunk = (
        "Basic Configuration\n\n"
        "If app.logger is accessed before logging is configured, it adds a default handler. "
        "If possible, configure logging before creating the application object.\n\n"
        "This example uses dictConfig to create a logging configuration:\n\n"
        "from logging.config import dictConfig\n\ndictConfig({'version': 1})\n"
    )
    text = answer("How do I configure logging before the app object is created?", chunk)
    lines = text.splitlines()
    assert lines[0].startswith("- ") and lines[0].endswith("[1]")
    assert "    This example uses dictConfig to create a logging configuration:" in lines
    assert "    dictConfig({'version': 1})" in lines
    assert lines.count("    dictConfig({'version': 1})") == 1  # the example quoted once
    assert not any(line.startswith("- This example uses") for line in lines)


def test_a_code_name_heading_makes_its_description_the_answer(encoder):
    config = (
        "SESSION_COOKIE_PARTITIONED\n\n"
        "Browsers are beginning to disallow non-partitioned third party cookies.\n\n"
        "Default: False\n\n"
        "SESSION_COOKIE_SAMESITE\n\n"
        "Restrict how cookies are sent with requests from external sites.\n\n"
        "Default: None\n\n"
        "PERMANENT_SESSION_LIFETIME\n\n"
        "The default cookie implementation checks that the signature is not older than "
        "this value."
    )
    question = "What is the default value of the SESSION_COOKIE_SAMESITE setting?"
    text = answer(question, config, encoder=encoder)
    assert text.splitlines()[0] == "- Default: None [1]"


def test_a_passage_from_a_lower_ranked_source_must_score_clearly_better():
    # the search ranked the whole chunks (heading, title, both retrievers): a passage of
    # the second source is quoted first only when it scores well above the first's
    ranked = score_passages(
        "When did it open to traffic?",
        ["The bridge opened to traffic in 1901.", "The tunnel opened to traffic in 1902."],
    )
    assert [s.n for s in ranked] == [1, 2]
    assert ranked[0].score >= 1.2 * ranked[1].score


def test_an_initial_or_abbreviation_does_not_end_a_sentence():
    chunk = (
        "The committee was headed by Nicholas E. Golovin, e.g. for the launch vehicles. "
        "It met in 1961."
    )
    assert [p.text for p in passages(chunk)] == [
        "The committee was headed by Nicholas E. Golovin, e.g. for the launch vehicles.",
        "It met in 1961.",
    ]


def test_an_irregular_past_form_matches_its_verb():
    assert answer_terms("written wrote built ran") == answer_terms("write write build run")
    assert answer_terms("found") != answer_terms("find")  # also "to found": left alone
    found = score_passages(
        "What file does the task write to?",
        [
            "The task runs after the response is sent. "
            "The messages are written to the log.txt file after the response."
        ],
    )
    assert found[0].passage.text.startswith("The messages are written to the log.txt file")
