"""Cited news agencies in any script, with canonical names in order of first mention."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tagging.sources import SourceMatcher

SAMPLE = Path(__file__).resolve().parents[2] / "streams" / "samples" / "almaty-2022-01-el.txt"


@pytest.fixture(scope="module")
def matcher() -> SourceMatcher:
    return SourceMatcher.load()


CITED = [
    ("μετέδωσε το Ίντερφαξ", ["Interfax"]),
    ("сообщил Интерфаксу источник в МВД", ["Interfax"]),
    ("сообщает агентство Интерфакс-Казахстан", ["Interfax"]),
    ("за даними Інтерфакс-Україна", ["Interfax"]),
    ("по данным ТАСС и РИА «Новости»", ["TASS", "RIA Novosti"]),
    ("according to ITAR-TASS", ["TASS"]),
    ("το πρακτορείο ΤΑΣΣ μετέδωσε", ["TASS"]),
    ("σύμφωνα με το Ρόιτερς", ["Reuters"]),
    ("передает агентство Рейтер", ["Reuters"]),
    ("told Reuters on Friday", ["Reuters"]),
    ("نقلت وكالة رويترز", ["Reuters"]),
    ("το ρωσικό πρακτορείο Sputnik", ["Sputnik"]),
    ("(AFP) - Des hommes armés", ["AFP"]),
    ("σύμφωνα με το Γαλλικό Πρακτορείο", ["AFP"]),
    ("сообщает Франс Пресс", ["AFP"]),
    ("Agence France-Presse reported", ["AFP"]),
    ("(AP) — Police said", ["AP"]),
    ("the Associated Press reported", ["AP"]),
    ("China's Xinhua news agency", ["Xinhua"]),
    ("сообщает Синьхуа", ["Xinhua"]),
    ("ANA-MPA reported", ["ANA-MPA"]),
    ("σύμφωνα με το ΑΠΕ-ΜΠΕ", ["ANA-MPA"]),
    ("Turkey's Anadolu Agency said", ["Anadolu"]),
    ("told Al Jazeera", ["Al Jazeera"]),
    ("Аль-Джазира сообщила", ["Al Jazeera"]),
    ("the BBC's correspondent", ["BBC"]),
    ("повідомляє Укрінформ", ["Ukrinform"]),
    ("передает Казинформ", ["Kazinform"]),
    ("пише УНІАН", ["UNIAN"]),
    ("told Bloomberg News", ["Bloomberg"]),
    ("reported dpa", ["dpa"]),
    ("informó la Agencia EFE", ["EFE"]),
    ("riferisce l'ANSA", ["ANSA"]),
    ("Reuters and TASS, citing Interfax; Reuters again", ["Reuters", "TASS", "Interfax"]),
]


@pytest.mark.parametrize(("text", "expected"), CITED)
def test_cited_sources(matcher: SourceMatcher, text: str, expected: list[str]) -> None:
    assert matcher.cited_sources(text) == expected


NOT_CITED = [
    "The AP-HP hospitals in Paris",  # Assistance Publique - Hôpitaux de Paris
    "the ap reported nothing",  # lower-case "ap" is not the agency
    "a TASSEL on the curtain",
    "Russia's Sputnik V vaccine",
    "Michael Bloomberg said on Monday",
    "efe is not an agency in lower case",
    "ansa del fiume",
    "Τα ΑΠΕ (ανανεώσιμες πηγές ενέργειας)",
]


@pytest.mark.parametrize("text", NOT_CITED)
def test_words_that_are_no_citation(matcher: SourceMatcher, text: str) -> None:
    assert matcher.cited_sources(text) == []


def test_sample_story(matcher: SourceMatcher) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    # "Ίντερφαξ" appears first, in the headline line.
    assert matcher.cited_sources(text) == ["Interfax", "Reuters", "TASS", "Sputnik"]


def test_matcher_is_loaded_once() -> None:
    assert SourceMatcher.load() is SourceMatcher.load()
