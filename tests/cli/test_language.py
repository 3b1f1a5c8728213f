"""An English-only embedding model says so, once, when the query or the corpus is not English."""

from __future__ import annotations

import pytest

from ragcli.index import Index
from ragcli.text import language_hint
from ragcli.weights import DEFAULT_EMBED_MODEL, english_only, resolve_model_path

RUSSIAN = (
    "Никола Тесла был изобретателем в области электротехники и радиотехники. "
    "Он известен своими работами в области переменного тока и электрических машин."
)
ENGLISH = (
    "Nikola Tesla was an inventor known for his work on alternating current, the "
    "induction motor and the transmission of electrical power over long distances."
)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("Кто основал компанию в 1886 году?", "Cyrillic script"),
        ("特斯拉在1886年与谁合作？", "Chinese"),
        ("東京タワーはいつ建てられましたか", "Japanese"),
        ("Ποιος ίδρυσε την εταιρεία;", "Greek script"),
        ("¿Quién fundó la empresa en 1886?", "Spanish"),
        ("Qui a fondé la société en 1886 ?", "French"),
        ("Wer hat das Unternehmen 1886 gegründet und wann?", "German"),
        ("Who did Tesla partner with in 1886?", None),
        ("la la land", None),  # one French word, twice, is not French
        ("Die Hard is a film", None),
        ("Apollo 11", None),
        ("", None),
    ],
)
def test_language_hint(text, hint):
    assert language_hint(text) == hint


def test_the_default_model_and_its_packaged_folder_are_english_only(embed_model_path):
    assert english_only(DEFAULT_EMBED_MODEL) and english_only("all-MiniLM-L6-v2")
    assert english_only(resolve_model_path(DEFAULT_EMBED_MODEL))
    assert not english_only("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")


def test_ingest_and_search_warn_once_about_text_that_is_not_english(tmp_path, embed_model_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "tesla.txt").write_text(ENGLISH)
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "tesla.txt").write_text(RUSSIAN)
    messages: list[str] = []
    idx = Index(tmp_path / ".rag" / "default")
    idx.settings = idx.settings.with_overrides(rerank=False)
    idx.warn = messages.append
    idx.ingest([tmp_path / "en"])
    assert messages == []
    idx.ingest([tmp_path / "en", tmp_path / "ru"])
    assert len(messages) == 1
    assert messages[0].startswith("the text just ingested seems to be in Cyrillic script")
    assert f"{DEFAULT_EMBED_MODEL} is English-only" in messages[0]

    messages.clear()
    idx.search("Who invented alternating current motors?", k=1)
    assert messages == []
    for query in ("Кто изобрёл переменный ток?", "Кто такой Тесла?", "¿Quién fue Tesla?"):
        assert idx.search(query, k=1)
    assert len(messages) == 1 and messages[0].startswith("the query seems to be in Cyrillic")
    sparse = Index(idx.path)
    sparse.warn = messages.append
    sparse.search("Кто изобрёл переменный ток?", k=1, mode="sparse", rerank=False)
    assert len(messages) == 1  # BM25 alone does not depend on the model's languages
