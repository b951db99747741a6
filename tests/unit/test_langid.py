"""Language per segment: scripts, Cyrillic languages, Latin-script function words, mixed text."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from streams.tagging.langid import LanguageSegmenter
from streams.tagging.model import Segment

# The sample story lives in the shared folder beside the repository (CI lays it out the same).
_SAMPLE_NAME = "samples/almaty-2022-01-el.txt"
SAMPLE = next(
    (path for path in (Path(__file__).resolve().parents[3] / "shared" / _SAMPLE_NAME,
                       Path("/work/shared") / _SAMPLE_NAME) if path.exists()),
    Path(__file__).resolve().parents[3] / "shared" / _SAMPLE_NAME,
)


@pytest.fixture(scope="module")
def segmenter() -> LanguageSegmenter:
    return LanguageSegmenter()


def languages(segments: list[Segment]) -> list[str]:
    return [s.language for s in segments]


def assert_covers(text: str, segments: list[Segment]) -> None:
    """Segments are in order, touch each other and cover the whole text."""
    assert segments[0].start == 0
    assert segments[-1].end == len(text)
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start
        assert before.language != after.language  # neighbours of one language are merged


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Η αστυνομία της Αλμάτι ανακοίνωσε ότι δεκάδες ταραξίες εξαλείφθηκαν.", "el"),
        ("Президент Казахстана Касым-Жомарт Токаев заявил, что в Алматы было нападение.", "ru"),
        ("Президент України заявив, що у Києві пролунали вибухи.", "uk"),
        ("Қазақстан Республикасының Президенті Алматыда болған оқиғалар туралы айтты.", "kk"),
        ("Президентът на България заяви, че страната ще изпрати помощ във Варна.", "bg"),
        ("Председник Србије је рекао да ће се ђаци вратити у школе у Београду.", "sr"),
        ("Shots were heard in the city of Almaty during the night, witnesses said.", "en"),
        ("Le président a annoncé mardi que des dizaines de manifestants avaient été tués.", "fr"),
        ("El presidente dijo que decenas de manifestantes murieron en la capital.", "es"),
        ("Der Präsident sagte, dass in der Stadt Dutzende Demonstranten getötet wurden.", "de"),
        ("Il presidente ha detto che decine di manifestanti sono stati uccisi nella città.", "it"),
        ("O presidente disse que dezenas de manifestantes foram mortos na cidade.", "pt"),
        ("قالت الشرطة في ألماتي إن العشرات من مثيري الشغب قتلوا", "ar"),
        ("پلیس گفت که چند نفر در این درگیری کشته شدند", "fa"),
        ("המשטרה אמרה כי עשרות מפגינים נעצרו בעיר", "he"),
    ],
)
def test_single_language(segmenter: LanguageSegmenter, text: str, language: str) -> None:
    segments = segmenter.segments(text)
    assert languages(segments) == [language]
    assert_covers(text, segments)
    assert segmenter.story_language(segments) == language


def test_sample_story_is_greek_with_english_tweets(segmenter: LanguageSegmenter) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    segments = segmenter.segments(text)
    assert_covers(text, segments)
    assert languages(segments) == ["el", "en", "el", "en"]
    tweets = [text[s.start:s.end] for s in segments if s.language == "en"]
    assert tweets[0].startswith("#Kazakhstan Shots heard in the city of #Almaty")
    assert tweets[1].startswith("Shots just in of the burning Akimat in Almaty")
    greek = text[segments[0].start:segments[0].end]
    assert "Reuters" in greek  # a Latin word inside a Greek sentence stays Greek
    assert segmenter.story_language(segments) == "el"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a quote in another language inside one line
        ("Πυροβολισμοί ακούστηκαν στην Αλμάτι. \"We will not tolerate this violence in our "
         "country any longer,\" he said on Twitter.", ["el", "en"]),
        # a Russian paragraph after an English one
        ("Troops moved into the main square of the city on Thursday.\n\n"
         "Военные вошли на главную площадь города в четверг.", ["en", "ru"]),
        # a long English paragraph that changes to French mid-line
        ("Police said on Tuesday that the protest had been peaceful and that nobody had been "
         "arrested in the centre of the city by the end of the day, according to a statement "
         "from the police. Le ministre a déclaré que la manifestation avait été pacifique et "
         "que personne n'avait été arrêté dans le centre de la ville avant la fin de la "
         "journée.", ["en", "fr"]),
    ],
)
def test_mixed_languages(segmenter: LanguageSegmenter, text: str, expected: list[str]) -> None:
    segments = segmenter.segments(text)
    assert languages(segments) == expected
    assert_covers(text, segments)


def test_hashtags_alone_are_undetermined(segmenter: LanguageSegmenter) -> None:
    segments = segmenter.segments("#Kazakhstan #Almaty")
    assert languages(segments) == ["und"]
    assert segmenter.story_language(segments) == "und"


def test_hint_decides_when_the_text_cannot(segmenter: LanguageSegmenter) -> None:
    assert languages(segmenter.segments("Almaty, Kazakhstan", hint="en")) == ["en"]
    assert languages(segmenter.segments("Almaty, Kazakhstan")) == ["und"]
    # the text outweighs a wrong hint
    text = "Президент України заявив, що у Києві пролунали вибухи."
    assert languages(segmenter.segments(text, hint="ru")) == ["uk"]


def test_lines_without_letters_join_their_neighbours(segmenter: LanguageSegmenter) -> None:
    text = "12:30\n\nShots were heard in the city during the night.\n---\n"
    segments = segmenter.segments(text)
    assert languages(segments) == ["en"]
    assert_covers(text, segments)


def test_empty_text(segmenter: LanguageSegmenter) -> None:
    assert segmenter.segments("") == []
    assert segmenter.story_language([]) == "und"


def test_story_language_counts_characters(segmenter: LanguageSegmenter) -> None:
    segments = [Segment(0, 10, "en"), Segment(10, 100, "el"), Segment(100, 120, "en")]
    assert segmenter.story_language(segments) == "el"
