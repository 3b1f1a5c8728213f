"""The one text analyser: what a chunk is indexed as, and how text becomes terms.

* ``index_text``: what gets embedded and BM25-indexed for a chunk (title, then text).
* ``tokenize``: the BM25 analysis (lowercased word tokens of two or more characters,
  stopwords out, Snowball-stemmed). The BM25 sidecar, the Milvus store, the terminal's
  match highlighting and reranking inputs all use it, so a term means the same
  everywhere.
* ``answer_terms`` and ``FUNCTION_WORDS``: the extractive answerer's lighter analysis
  (every word, CJK as bigrams, stemmed), with a short list of function words it
  ignores when matching a question to sentences.
* ``snippet``: the window of a chunk a search result shows (the most query terms).
* ``language_hint``: whether a text is mostly in another language or script.

Nothing heavy is imported here: PyStemmer loads on first use, and bm25s's stopword list
only when an index is built (a saved index carries its own list).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# The analyser half of the BM25 settings (ragcli.store.sparse.DEFAULT_PARAMS adds the
# scoring half); an index records both in its manifest.
ANALYSER = {"stemmer": "english", "stopwords": "en", "names": 1, "headings": 1}

_BM25_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WORD_TOKEN = re.compile(r"\w+")
_BIGRAM_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")

_FUNCTION_WORDS_TEXT = """a an the of to in on at by for from with without about into over
    under and or but not no is are was were be been being am do does did done has have had
    having it its this that these those there here what which who whom whose when where
    why how than then so as if i you he she we they me him her us them my your his our
    their can could would should will shall may might must also just very much many more
    most some any each every other such only own same too s t"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())


def index_text(title: str, text: str) -> str:
    """What gets embedded and BM25-indexed for a chunk: its document title, then its text.

    The title puts every chunk of a long document in context (a chunk from the middle of
    a paper still says which paper it is from).
    """
    if title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


def sparse_text(title: str, heading: Sequence[str], text: str) -> str:
    """What BM25 indexes for a chunk: ``index_text`` with the chunk's heading path in
    front when its text does not already open with it, so every chunk of a section
    matches the section's name (measured on the shared documentation folders: FastAPI
    identifier questions hit@1 0.6 -> 0.8; no change where there are no headings)."""
    body = index_text(title, text)
    path = " ".join(heading)
    if path and path not in body[: len(path) + 200]:
        return f"{path}\n{body}"
    return body


@lru_cache(maxsize=4)
def stemmer(language: str):
    import Stemmer

    return Stemmer.Stemmer(language)


@lru_cache(maxsize=4)
def stopword_list(name: str) -> frozenset[str]:
    """A named stopword list (``en``: bm25s's English list); ``""`` is none."""
    if not name:
        return frozenset()
    if name != "en":
        raise ValueError(f"unsupported stopword list {name!r}")
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(
    text: str, params: dict | None = None, stopwords: frozenset[str] | None = None
) -> list[str]:
    """The BM25 terms of ``text``: lowercased words of two or more characters, stopwords
    out, Snowball-stemmed; with ``names`` on (the default analyser), code-like names are
    also kept whole (see ``name_terms``).

    ``params`` names the ``stemmer`` and ``stopwords`` list (default ``ANALYSER``);
    ``stopwords`` overrides the named list (an index's own saved list). An index records
    the params it was built with, so it keeps being queried with its own analysis."""
    params = params or ANALYSER
    stop = stopwords if stopwords is not None else stopword_list(params.get("stopwords", ""))
    if params.get("names"):
        words, exact = name_terms(text, stop)
    else:
        words, exact = [w for w in _BM25_TOKEN.findall(text.lower()) if w not in stop], []
    language = params.get("stemmer")
    stemmed = stemmer(language).stemWords(words) if language and words else words
    return stemmed + exact if exact else stemmed


# Code-like names: a word, optionally a --flag, with its dotted, path or :: parts.
_NAME = re.compile(r"(?:--?(?=[^\W\d_]))?\w+(?:(?:[./]|::|-)\w+)*")
_NAME_SEPARATOR = re.compile(r"([./]|::|-)")
# The pieces of one identifier: ``PyArray`` -> Py, Array; ``HTTPServer`` -> HTTP,
# Server; ``int64`` -> int, 64; underscores split too.
_SUBWORD = re.compile(
    r"[^\W\d_]*?[a-z](?=[A-Z\d])"  # letters up to a lower-to-upper or letter-to-digit step
    r"|[A-Z]+(?=[A-Z][a-z])"  # capitals before a capitalised word: HTTP in HTTPServer
    r"|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_]+"
)
MAX_NAME_SEGMENTS = 8  # longer dotted names and paths add no runs of their segments
MAX_RUN = 4  # segments in the longest run of a name kept as a term of its own


def name_terms(text: str, stop: frozenset[str]) -> tuple[list[str], list[str]]:
    """(words to stem, exact terms) of ``text``. Prose words are what they always were.
    A code-like name is kept whole and in parts: ``dtype.fields`` gives the exact term
    ``dtype.fields`` and the words ``dtype`` and ``fields``; ``invalid_raise``,
    ``PyArray_PromoteDType``, ``NPY201``, ``int64``, ``--long-flag``, ``CONFIG_KEY``,
    ``docs/config.rst`` likewise, a dotted name or path also by each run of two to
    ``MAX_RUN`` of its segments (``Flask.route`` in ``flask.Flask.route``). So a query
    for a whole name prefers the chunks holding the whole name, and its parts still
    match."""
    words: list[str] = []
    exact: list[str] = []
    for found in _NAME.finditer(text):
        token = found.group()
        if token.isdigit() or (token.isalpha() and _is_plain(token)):
            _plain_word(token, words, stop)
        elif token[0] == "-":
            _flag(token, words, exact, stop)
        elif _NAME_SEPARATOR.search(token):
            _compound(token, words, exact, stop)
        else:
            _identifier(token, words, exact, stop)
    return words, exact


def holds_name(text: str) -> bool:
    """Whether ``text`` holds a code-like name (``name_terms`` keeps one whole)."""
    return bool(name_terms(text, frozenset())[1])


def _plain_word(word: str, words: list[str], stop: frozenset[str]) -> None:
    lower = word.lower()
    if len(lower) > 1 and lower not in stop:
        words.append(lower)


def _identifier(token: str, words: list[str], exact: list[str], stop) -> None:
    """One word with underscores, digits or inner capitals: whole, then its pieces (a
    plain word is only its own word)."""
    if _is_plain(token):
        _plain_word(token, words, stop)
        return
    if len(token) > 1:
        exact.append(token.lower())
    for piece in _SUBWORD.findall(token):
        _plain_word(piece, words, stop)


def _is_plain(word: str) -> bool:
    """A word as prose has it: digits, or letters with no capital after the first
    (``tesla``, ``Tesla``, scripts without case) or all capitals (``NASA``)."""
    if word.isdigit():
        return True
    return word.isalpha() and (word.isupper() or not any(c.isupper() for c in word[1:]))


def _flag(token: str, words: list[str], exact: list[str], stop) -> None:
    """``--long-flag`` whole, and its words."""
    exact.append(token.lower())
    for piece in token.lstrip("-").split("-"):
        _identifier(piece, words, exact, stop)


def _compound(token: str, words: list[str], exact: list[str], stop) -> None:
    """A dotted name, path or hyphenated word. Hyphenated prose (``well-known``) and
    numbers (``3.14``) stay their words as before; a name with a letter is also kept
    whole and by its runs of segments."""
    pieces = _NAME_SEPARATOR.split(token)  # segment, separator, segment, ...
    segments = pieces[::2]
    for segment in segments:
        _identifier(segment, words, exact, stop)
    separators = set(pieces[1::2])
    if separators == {"-"} or len(token) < 4 or not any(c.isalpha() for c in token):
        return
    exact.append(token.lower())
    if len(segments) > MAX_NAME_SEGMENTS:
        return
    for size in range(2, min(MAX_RUN, len(segments) - 1) + 1):
        for start in range(len(segments) - size + 1):
            run = "".join(pieces[2 * start : 2 * (start + size) - 1])
            if len(run) > 3:
                exact.append(run.lower())


def stem_words(words: list[str]) -> list[str]:
    return stemmer(ANALYSER["stemmer"]).stemWords(words)


# Irregular English past forms the stemmer cannot join to their verb ("written" and
# "write"); forms that are also other words ("found", "left", "lay") are left out.
_IRREGULAR = {
    form: verb
    for verb, forms in {
        "write": "wrote written", "build": "built", "begin": "began begun",
        "bring": "brought", "buy": "bought", "choose": "chose chosen", "come": "came",
        "draw": "drew drawn", "drive": "drove driven", "eat": "ate eaten",
        "fall": "fell fallen", "fight": "fought", "give": "gave given", "go": "went gone",
        "grow": "grew grown", "hold": "held", "keep": "kept", "know": "knew known",
        "lead": "led", "lose": "lost", "make": "made", "mean": "meant", "meet": "met",
        "pay": "paid", "run": "ran", "say": "said", "see": "saw seen", "send": "sent",
        "show": "shown", "sell": "sold", "speak": "spoke spoken", "spend": "spent",
        "stand": "stood", "teach": "taught", "take": "took taken", "think": "thought",
        "tell": "told", "win": "won", "break": "broke broken", "hide": "hid hidden",
        "rise": "rose risen", "throw": "threw thrown", "understand": "understood",
        "become": "became", "forget": "forgot forgotten", "get": "got gotten",
        "fly": "flew flown", "freeze": "froze frozen", "strike": "struck",
        "seek": "sought", "catch": "caught", "feel": "felt", "flee": "fled",
        "deal": "dealt", "sing": "sang sung",
    }.items()
    for form in forms.split()
}  # fmt: skip


def answer_terms(text: str) -> list[str]:
    """Every word of ``text`` stemmed (an irregular past form as its verb), CJK and Thai
    runs as character bigrams."""
    out: list[str] = []
    latin: list[str] = []
    for token in _WORD_TOKEN.findall(text.lower()):
        if _BIGRAM_SCRIPT.search(token):
            out.extend(token[i : i + 2] for i in range(max(1, len(token) - 1)))
        else:
            latin.append(_IRREGULAR.get(token, token))
    return out + stem_words(latin)


# Language hints: cheap enough for every query. A text is "mostly" in a script when most
# of its letters are; Latin-script languages are told apart by their commonest words,
# chosen not to be English words too.
_SCRIPTS = (
    ("Cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("Greek", re.compile(r"[\u0370-\u03ff]")),
    ("Arabic", re.compile(r"[\u0600-\u06ff]")),
    ("Hebrew", re.compile(r"[\u0590-\u05ff]")),
    ("Devanagari", re.compile(r"[\u0900-\u097f]")),
    ("Thai", re.compile(r"[\u0e00-\u0e7f]")),
    ("Japanese", re.compile(r"[\u3040-\u30ff]")),
    ("Chinese", re.compile(r"[\u3400-\u9fff]")),
    ("Korean", re.compile(r"[\uac00-\ud7af]")),
)
_COMMON_WORDS = {
    "English": "the of and to is that for with was are this from which have has were",
    "French": "le la les des est une et du qui pour dans avec sur pas sont aux été par",
    "German": "der und das ist nicht ein eine mit den dem auf sich zu für von wurde",
    "Spanish": "el la los las del que y es en una por para con se fue como más pero",
    "Portuguese": "o os das dos que é uma para com não foi pelo pela em ao são",
    "Italian": "il di che è per una con non gli della sono nel alla come più",
    "Dutch": "de het een van en is dat niet zijn met voor op werd ook",
}
_COMMON = {language: frozenset(words.split()) for language, words in _COMMON_WORDS.items()}


def language_hint(text: str) -> str | None:
    """The language or script ``text`` is mostly in when that is not English, else None.

    By script: more than half the letters in one non-Latin script. By words, for Latin
    text: at least two distinct words of a language's commonest, and more than of English's.
    """
    letters = [char for char in text if char.isalpha()]
    if len(letters) < 2:
        return None
    joined = "".join(letters)
    for name, pattern in _SCRIPTS:
        if len(pattern.findall(joined)) * 2 > len(letters):
            return name if name in ("Japanese", "Chinese", "Korean") else f"{name} script"
    words = set(_WORD_TOKEN.findall(text.lower()))
    counts = {lang: len(words & common) for lang, common in _COMMON.items()}
    english = counts.pop("English")
    language, count = max(counts.items(), key=lambda item: item[1])
    return language if count >= 2 and count > english else None


# Snippets: the part of a chunk a search result shows, the window with the most query
# terms. Words are stemmed as above without the function words (the BM25 stopword list
# would import bm25s into every search); windows start at a sentence or a little before a
# matching word, end on a sentence or word boundary, with an ellipsis where text was cut.
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?:;])\s+|\n\s*)(?=\S)")
ELLIPSIS = "…"
LEAD = 60  # characters of context kept before a matching word that starts a window


@dataclass(frozen=True)
class Snippet:
    start: int  # offsets into the chunk's text
    end: int
    text: str  # whitespace flattened, with ellipses where cut

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "text": self.text}


def snippet(text: str, query: str, width: int = 300) -> Snippet:
    """The window of at most ``width`` characters of ``text`` that holds the most
    distinct query terms (then the most matches, then the earliest)."""
    if len(text) <= width:
        return Snippet(0, len(text), _flat(text))
    matches = _matches(text, {term for _, term in _terms(query)})
    windows = [(start, _cut_end(text, start, width)) for start in _starts(text, matches)]
    best, end = max(windows, key=lambda w: (*_evidence(matches, *w), -w[0]))
    shown = _flat(text[best:end])
    return Snippet(
        best,
        end,
        (ELLIPSIS if best > 0 else "") + shown + (ELLIPSIS if end < len(text) else ""),
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def _terms(text: str) -> list[tuple[int, str]]:
    """(offset, stem) of each word of ``text`` that is not a function word."""
    words = [(m.start(), m.group().lower()) for m in _BM25_TOKEN.finditer(text)]
    words = [(at, word) for at, word in words if word not in FUNCTION_WORDS]
    stems = stem_words([word for _, word in words])
    return [(at, stem) for (at, _), stem in zip(words, stems, strict=True)]


def _matches(text: str, terms: set[str]) -> list[tuple[int, str]]:
    """(offset, term) of every word of ``text`` that is one of the query's ``terms``."""
    return [(at, term) for at, term in _terms(text) if term in terms] if terms else []


def _starts(text: str, matches: list[tuple[int, str]]) -> list[int]:
    sentences = [m.end() for m in _SENTENCE_START.finditer(text)]
    before_match = [_lead_in(text, at, sentences) for at, _ in matches]
    return sorted({0, *sentences, *before_match} - {len(text)})


def _lead_in(text: str, at: int, sentences: list[int]) -> int:
    """A start shortly before the word at ``at``: its sentence's start when that is
    near, else a word ``LEAD`` characters back."""
    near = [start for start in sentences if at - 2 * LEAD <= start <= at]
    return near[-1] if near else _word_start(text, max(0, at - LEAD))


def _evidence(matches: list[tuple[int, str]], start: int, end: int) -> tuple[int, int]:
    inside = [term for at, term in matches if start <= at < end]
    return len(set(inside)), len(inside)


def _word_start(text: str, at: int) -> int:
    """``at`` moved forward to the start of a word (it stays if it already is one)."""
    if at == 0 or text[at - 1].isspace():
        return at
    space = re.compile(r"\s").search(text, at)
    return space.end() if space else at


def _cut_end(text: str, start: int, width: int) -> int:
    """Where a window from ``start`` ends: at the last sentence end in its last third,
    else at the last word boundary, within ``width`` characters."""
    limit = start + width
    if limit >= len(text):
        return len(text)
    window = text[start:limit]
    sentence_ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", window)]
    if sentence_ends and sentence_ends[-1] >= width * 2 // 3:
        return start + sentence_ends[-1]
    space = window.rfind(" ")
    return start + space if space > 0 else limit
