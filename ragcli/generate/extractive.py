"""The no-model backend: quote the sentences that best answer the question.

Scoring (``score_sentences``): the sources are split into sentences; each sentence
scores the sum of the IDF weights (computed over all the sentences given) of the
question's content words it contains, divided by ``1 + 0.05 * (n - 1)`` where ``n`` is
its source number, so better-ranked sources win ties. Words are lower-cased ``\\w+``
runs reduced by the English Snowball stemmer ("died" and "die" match); CJK and Thai runs
become character bigrams. A small English stop list is removed from the question. The
question's type adds a small bonus to sentences that can hold that kind of answer: a
year or date for "when", a number for "how many/much", a capitalised name for "who".
Among equal scores the shorter sentence wins, a sentence made only of question words is
never picked, since it cannot hold the answer, nor is one of fewer than four words (a
title or heading); a sentence repeated, whole or in part, by overlapping chunks is
quoted once.

``extract_answer`` returns the single best sentence: a short-answer baseline for
SQuAD/XQuAD-style evaluation (EM/F1).

``extractive_answer`` (what ``rag ask`` prints without a model) quotes passages instead
of bare sentences (``passages.py``: a lead-in with its list or code block, list items,
code blocks, rows naming a question term; never headings, cut lead-ins or
cross-reference stubs), ranked by ``score_passages``: the same IDF-weighted question
words (a code name in the heading above a passage counting as if in it), plus the cosine
with the question under the search's embedding model when one is given, divided by
``1 + RANK_DECAY * (n - 1)`` so the search's ranking of the chunks weighs in. A sentence
is quoted with the sentences that continue it ("Or use X later.") and, in a short
paragraph, with the code block (or lead-in and code block) right after it.
With no passage that answers, it says so and cites the best source.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ragcli.generate.base import Backend
from ragcli.generate.passages import Passage, passages
from ragcli.prompt import Prompt
from ragcli.text import FUNCTION_WORDS, answer_terms, stem_words

HINT = (
    "(No language model configured: these are the best matching passages. For a written "
    "answer set ANTHROPIC_API_KEY, start Ollama, or use --llm openai --base-url URL "
    "--llm-model NAME.)"
)
MAX_SENTENCES = 3
NO_SENTENCE = (
    "No retrieved passage has a sentence that answers this directly; the best match is [1] "
    "({where})."
)
LEXICAL_WEIGHT = 1.0
COSINE_WEIGHT = 1.0
CONTEXT_WEIGHT = 0.5
CODE_NAME_WEIGHT = 2.0
TYPE_BONUS_SHARE = 0.2  # the answer-type bonus in a passage's score
MIN_LEXICAL = 0.3  # a passage below both bars does not answer
MIN_COSINE = 0.3
EMBED_CHARS = 600
# A passage from the n-th source is divided by 1 + RANK_DECAY * (n - 1): the search ranked
# the whole chunk with its heading, title and both retrievers, which one sentence's words
# and cosine do not see, so a passage from the second source must score 1.25 times one
# from the first to be quoted before it.
RANK_DECAY = 0.25
CODE_BONUS = 0.3  # a "how do I" question is often answered by a command or code
_HOWTO = re.compile(r"^\s*how (do|can|should|would) (i|you|we)\b|\bhow to\b", re.IGNORECASE)


_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n\s*\n|\n(?=\s*[-*\u2022]\s)")
_TOKEN = re.compile(r"\w+")
_YEAR_OR_DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})\b|\b(january|february|march|april|may|june|july|august|"
    r"september|october|november|december)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|"
    r"thousand|million|billion)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")
MIN_WORDS = 4
RUNNER_UP_SHARE = 0.6
TYPE_BONUS = 0.5  # in IDF units: about half a rare matching word


_QUESTION_TYPES = (
    ("date", re.compile(r"\bwhen\b|\bwhat (year|date|century|decade)\b|\bwhich year\b")),
    (
        "number",
        re.compile(r"\bhow (many|much|long|old|far|large|big)\b|\bwhat (number|percentage)\b"),
    ),
    ("name", re.compile(r"\bwho\b|\bwhom\b")),
    (
        "identifier",
        re.compile(
            r"\b(which|what)( \w+)? (parameter|argument|method|function|attribute|setting|"
            r"class|option|keyword|decorator|header|field|object|command|package|module)s?\b"
        ),
    ),
)
_IDENTIFIER = re.compile(r"`[^`]+`|\b\w+_\w+\b|\b[a-z]+[A-Z]\w*|\b[A-Z][a-z]+[A-Z]\w*|\w+\(")


def question_type(question: str) -> str | None:
    """ "date", "number", "name" or "identifier" (which parameter, method, setting...)
    when the question asks for one, else None."""
    q = question.lower()
    return next((kind for kind, pattern in _QUESTION_TYPES if pattern.search(q)), None)


def _answer_type_bonus(question: str):
    pattern = {
        "date": _YEAR_OR_DATE,
        "number": _NUMBER,
        "name": _NAME,
        "identifier": _IDENTIFIER,
    }.get(question_type(question) or "")
    if pattern is None:
        return lambda sentence: 0.0
    return lambda sentence: TYPE_BONUS if pattern.search(sentence) else 0.0


def split_sentences(text: str) -> list[str]:
    pieces = (" ".join(p.split()) for p in _SENTENCE_END.split(text))
    return [p for p in pieces if p and _TOKEN.search(p)]


def _text_of(item: Any) -> str:
    if isinstance(item, str):
        return item
    if hasattr(item, "chunk"):
        return item.chunk.text
    return str(getattr(item, "text", ""))


@dataclass(frozen=True)
class ScoredSentence:
    n: int  # 1-based source number
    text: str
    score: float
    matched: int = 0  # distinct question terms the sentence contains


def score_sentences(question: str, sources: Sequence[Any]) -> list[ScoredSentence]:
    """Every sentence of every source, best first (see the module docstring)."""
    stops = set(stem_words(sorted(FUNCTION_WORDS))) | FUNCTION_WORDS
    bonus = _answer_type_bonus(question)
    q_terms = {t for t in answer_terms(question) if t not in stops}
    if not q_terms:
        q_terms = set(answer_terms(question))
    sentences: list[tuple[int, str, set[str]]] = []
    for index, item in enumerate(sources):
        n = getattr(item, "n", None) or index + 1
        for sentence in split_sentences(_text_of(item)):
            if len(sentence.split()) < MIN_WORDS:
                continue  # titles and headings, not answers
            if any(sentence in kept for _, kept, _ in sentences):
                continue  # the same sentence, or a piece of it, from an overlapping chunk
            sentences = [entry for entry in sentences if entry[1] not in sentence]
            sentences.append((n, sentence, set(answer_terms(sentence))))
    if not sentences:
        return []
    df: dict[str, int] = {}
    for _, _, words in sentences:
        for word in words & q_terms:
            df[word] = df.get(word, 0) + 1
    total = len(sentences)
    idf = {word: math.log((total + 1) / (count + 0.5)) + 0.1 for word, count in df.items()}
    scored = []
    for n, sentence, words in sentences:
        if not words - q_terms:
            continue  # only question words: no room for an answer
        matched = sum(idf[word] for word in words & q_terms)
        if matched <= 0:
            continue
        score = (matched + bonus(sentence)) / (1 + 0.05 * (n - 1))
        scored.append((round(score, 9), len(sentence), n, sentence, len(words & q_terms)))
    scored.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [
        ScoredSentence(n, sentence, score, matched) for score, _, n, sentence, matched in scored
    ]


_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)"
)
_DATE_SPAN = re.compile(
    rf"\b(?:\d{{1,2}} {_MONTH},? \d{{3,4}}|{_MONTH} \d{{1,2}},? \d{{3,4}}|{_MONTH} \d{{3,4}}|"
    r"(?:the )?\d{3,4}s|\d{1,2}(?:st|nd|rd|th) century|\d{3,4})\b"
)
_NUMBER_SPAN = re.compile(
    r"\b\d+(?:[.,]\d+)*"
    r"(?: ?(?:%|percent|per cent|million|billion|thousand|hundred))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|"
    r"thousand|million)\b",
    re.IGNORECASE,
)
_NAME_SPAN = re.compile(r"\b[A-Z][\w'-]+(?:(?: and| of| de| von| van)? [A-Z][\w'-]+)*")


def answer_span(question: str, sentence: str) -> str | None:
    """For a "when", "how many" or "who" question, the date, number or name in
    ``sentence`` that the question does not already contain; None for other questions."""
    pattern = {"date": _DATE_SPAN, "number": _NUMBER_SPAN, "name": _NAME_SPAN}.get(
        question_type(question) or ""
    )
    if pattern is None:
        return None
    q = question.lower()
    spans = [m.group().strip() for m in pattern.finditer(sentence)]
    spans = [span for span in spans if span and span.lower() not in q]
    if not spans:
        return None
    if pattern is _NAME_SPAN:  # the fullest name: "Robert Lane and Benjamin Vail"
        return max(spans, key=lambda span: len(span.split()))
    return spans[0]


def extract_answer(question: str, sources: Sequence[Any]) -> str:
    """A short answer for ``question`` from ``sources`` (texts, Sources or Hits): the
    date, number or name the question asks for when it asks for one (``answer_span``),
    else the best sentence. The baseline that SQuAD-style EM/F1 scores in ``rag eval``."""
    ranked = score_sentences(question, sources)
    if not ranked:
        return ""
    best = ranked[0].text
    return answer_span(question, best) or best


@dataclass(frozen=True)
class ScoredPassage:
    n: int  # 1-based source number
    passage: Passage
    score: float
    lexical: float  # share of the question's term weight the passage (or its heading) holds
    cosine: float | None  # the embedding model's cosine with the question, if it ran
    matched: int = 0  # distinct question terms in the passage itself


def _heading_of(item: Any) -> str:
    location = getattr(item, "location", None) or getattr(
        getattr(item, "chunk", None), "location", None
    )
    heading = getattr(location, "heading", None) or ()
    return heading[-1] if heading else ""


def _source_passages(sources: Sequence[Any]) -> list[tuple[int, Passage]]:
    """Every quotable passage of every source once (overlapping chunks repeat text)."""
    found: list[tuple[int, Passage]] = []
    for index, item in enumerate(sources):
        n = getattr(item, "n", None) or index + 1
        for passage in passages(_text_of(item), _heading_of(item)):
            if any(passage.text in kept.text for _, kept in found):
                continue  # the same passage, or a piece of it, from an overlapping chunk
            found = [(m, kept) for m, kept in found if kept.text not in passage.text]
            found.append((n, passage))
    return found


def _row_names_question_term(passage: Passage, q_terms: set[str]) -> bool:
    first_cell = passage.text.split(" | ", 1)[0]
    return bool(set(answer_terms(first_cell)) & q_terms)


def score_passages(
    question: str, sources: Sequence[Any], encoder: Any = None
) -> list[ScoredPassage]:
    """Every quotable passage of the sources, best first.

    A passage scores ``LEXICAL_WEIGHT`` x the IDF-weighted share of the question's
    content words it holds (a code name weighing ``CODE_NAME_WEIGHT``; words only in its
    heading count ``CONTEXT_WEIGHT``, code names fully), plus, with an ``encoder``,
    ``COSINE_WEIGHT`` x its cosine with the question, plus the answer-type bonus; divided
    by ``1 + RANK_DECAY * (n - 1)`` so better-ranked sources win. Table rows whose first
    cell names nothing the question asks about are left out.
    """
    stops = set(stem_words(sorted(FUNCTION_WORDS))) | FUNCTION_WORDS
    q_terms = {t for t in answer_terms(question) if t not in stops} or set(answer_terms(question))
    found = [
        (n, p)
        for n, p in _source_passages(sources)
        if p.kind != "row" or _row_names_question_term(p, q_terms)
    ]
    if not found:
        return []
    words = [set(answer_terms(p.text)) for _, p in found]
    context = [set(answer_terms(p.context)) for _, p in found]
    df: dict[str, int] = {}
    for text_words, context_words in zip(words, context, strict=True):
        for word in (text_words | context_words) & q_terms:
            df[word] = df.get(word, 0) + 1
    total = len(found)
    idf = {
        word: (math.log((total + 1) / (count + 0.5)) + 0.1) * _name_weight(word)
        for word, count in df.items()
    }
    weight = sum(idf.values()) or 1.0
    cosines = _cosines(question, [p for _, p in found], encoder)
    bonus = _answer_type_bonus(question)
    howto = bool(_HOWTO.search(question))
    scored = []
    for k, (n, passage) in enumerate(found):
        in_text = words[k] & q_terms
        if not words[k] - q_terms:
            continue  # only question words: no room for an answer
        lexical = (
            sum(idf[w] for w in in_text)
            + sum(_context_weight(w) * idf[w] for w in (context[k] & q_terms) - in_text)
        ) / weight
        cosine = cosines[k] if cosines is not None else None
        score = LEXICAL_WEIGHT * lexical + COSINE_WEIGHT * (cosine or 0.0)
        score += bonus(passage.text) * TYPE_BONUS_SHARE
        if howto and _shows_code(passage):
            score += CODE_BONUS
        final = score / (1 + RANK_DECAY * (n - 1))
        scored.append(ScoredPassage(n, passage, final, lexical, cosine, len(in_text)))
    order = {id(s): k for k, s in enumerate(scored)}
    # among equal scores the earlier passage: the first under a heading describes it
    scored.sort(key=lambda s: (-round(s.score, 9), order[id(s)]))
    return scored


def _is_code_name(term: str) -> bool:
    return "_" in term or "." in term


def _name_weight(term: str) -> float:
    """A code name the question asks about weighs ``CODE_NAME_WEIGHT`` times a word: the
    question is about it, not about "value" or "default"."""
    return CODE_NAME_WEIGHT if _is_code_name(term) else 1.0


def _context_weight(term: str) -> float:
    """A code name (``SESSION_COOKIE_SAMESITE``, ``app.route``) in the heading above a
    passage counts fully: the passage is that name's description ("Default: None")."""
    return 1.0 if _is_code_name(term) else CONTEXT_WEIGHT


def _shows_code(passage: Passage) -> bool:
    if passage.kind == "lead":  # a lead-in with code, not with a list ("  - item")
        return not passage.text.partition("\n")[2].startswith("  - ")
    return passage.kind == "code"


def _cosines(question: str, found: list[Passage], encoder: Any) -> list[float] | None:
    if encoder is None:
        return None
    texts = [_embedding_text(p) for p in found]
    vectors = encoder.encode(texts)
    query = encoder.encode_query(question)
    return [float(v) for v in vectors @ query]


def _embedding_text(passage: Passage) -> str:
    """What the model compares with the question: a lead-in and the start of what it
    leads to; a code block with its heading, so its subject is known."""
    text = passage.text[:EMBED_CHARS]
    if passage.kind in ("code", "row") and passage.context:
        return f"{passage.context}: {text}"
    return text


def answers(ranked: list[ScoredPassage], max_passages: int = MAX_SENTENCES) -> list[ScoredPassage]:
    """The passages to quote: the best, and runners-up that score within
    ``RUNNER_UP_SHARE`` of it and hold as many of the question's words, or one fewer when
    the best holds three or more (a passage on
    another subject that shares one rare word is not evidence); a passage inside one
    already quoted, or holding one, is not quoted again."""
    if not ranked or not _answers_at_all(ranked[0]):
        return []
    best = ranked[0]
    kept = [best]
    for candidate in ranked[1:]:
        if len(kept) >= max_passages or candidate.score < RUNNER_UP_SHARE * best.score:
            break
        if candidate.matched < min(best.matched, max(2, best.matched - 1)):
            continue  # on another subject: it shares fewer of the question's words
        if any(_overlaps(_quoted(candidate.passage), _quoted(k.passage)) for k in kept):
            candidate = _without_example(candidate)  # its example is quoted already
            if any(_overlaps(_quoted(candidate.passage), _quoted(k.passage)) for k in kept):
                continue
        kept.append(candidate)
    return kept


def _answers_at_all(best: ScoredPassage) -> bool:
    if best.cosine is None:
        return best.lexical > 0
    return best.lexical >= MIN_LEXICAL or best.cosine >= MIN_COSINE


def _without_example(scored: ScoredPassage) -> ScoredPassage:
    return dataclasses.replace(scored, passage=dataclasses.replace(scored.passage, example=""))


def _quoted(passage: Passage) -> str:
    return f"{passage.shown}\n{passage.example}" if passage.example else passage.shown


def _overlaps(a: str, b: str) -> bool:
    a_lines, b_lines = set(a.splitlines()), set(b.splitlines())
    return a in b or b in a or bool(a_lines & b_lines - {"", "..."})


def format_passage(scored: ScoredPassage) -> str:
    """One bullet: the first line, then a list's items or a code block indented under it."""
    passage = scored.passage
    marker = f"[{scored.n}]"
    if passage.kind == "code":
        return f"- Code {marker}:\n" + _indent(passage.text)
    first, _, rest = passage.shown.partition("\n")
    if passage.example:
        rest = passage.example
    if not rest:
        return f"- {first} {marker}"
    if rest.lstrip().startswith("- "):
        return f"- {first} {marker}\n" + rest
    return f"- {first} {marker}\n" + _indent(rest)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def extractive_answer(
    prompt: Prompt, max_sentences: int = MAX_SENTENCES, encoder: Any = None
) -> str:
    """Quoted best passages, one bullet each followed by its ``[n]``, then a
    configuration hint. With no passage that answers, says so and names the best source."""
    if not prompt.sources:
        body = "No sources were retrieved, so there is nothing to quote."
    else:
        ranked = score_passages(prompt.question, prompt.sources, encoder)
        kept = answers(ranked, max_sentences)
        if kept:
            body = "\n".join(format_passage(s) for s in kept)
        else:
            body = NO_SENTENCE.format(where=prompt.sources[0].describe())
    return f"{body}\n\n{HINT}"


class ExtractiveBackend(Backend):
    name = "extractive"
    default_model = "extractive"
    cacheable = False

    def __init__(self, *args: Any, encoder: Callable[[], Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.encoder = encoder  # made on first use: the index's query encoder

    def with_encoder(self, encoder: Callable[[], Any] | None) -> ExtractiveBackend:
        """A copy that ranks passages with the embedding model ``encoder()`` returns."""
        backend = copy.copy(self)
        backend.encoder = encoder
        return backend

    def _run(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        yield extractive_answer(prompt, encoder=self.encoder() if self.encoder else None)
