"""Lemmas for search and dedup: which languages are lemmatized, and that dictionaries stay read."""

from __future__ import annotations

import pytest

from streams.tagging import core


@pytest.mark.parametrize(("word", "language", "expected"), [
    ("σκοτώθηκαν", "el", "σκοτωνω"),
    ("убиты", "ru", "убить"),
    ("protesters", "en", "protester"),
    # Languages outside the set keep the word: their dictionaries take 100-380 MB each.
    ("zabici", "pl", "zabici"),
    ("mortos", "pt", "mortos"),
    ("word", "und", "word"),
])
def test_lemma_per_language(word: str, language: str, expected: str) -> None:
    assert core.lemma(word, language) == expected


def test_every_lemmatized_language_stays_in_the_dictionary_cache() -> None:
    """A smaller cache would evict a dictionary and read it again mid-stream (seconds each)."""
    cache = core._LEMMA_DICTIONARIES._get_dictionary.cache_info()
    assert cache.maxsize is not None
    assert cache.maxsize >= len(core._LEMMA_LANGUAGES)
