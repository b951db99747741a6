"""Casualty counts (digits and number words, many languages) and the 0..100 severity score."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tagging.model import Casualties, Segment, ViolenceMention
from streams.tagging.severity import casualty_counts, combine_number_words, severity_score
from streams.tagging.violence import NumberWord, ViolenceLexicon, ViolenceTagger

SAMPLE = Path(__file__).resolve().parents[2] / "streams" / "samples" / "almaty-2022-01-el.txt"


def counts(text: str, language: str) -> tuple[int, int]:
    found = casualty_counts(text, [Segment(0, len(text), language)])
    return found.killed, found.injured


# (language, text, killed, injured)
CASUALTIES = [
    ("en", "At least 12 people were killed and dozens injured in clashes.", 12, 24),
    ("en", "Gunmen killed 58 people and wounded 20 others.", 58, 20),
    ("en", "The death toll rose to 164, officials said.", 164, 0),
    ("en", "Hundreds injured as police fired tear gas.", 0, 200),
    ("en", "The blast killed 3 and injured 5.", 3, 5),
    ("en", "Two hundred and fifty people died in the fighting.", 250, 0),
    ("en", "1,200 people were killed in the siege.", 1200, 0),
    ("en", "Between 10 and 20 people were killed.", 20, 0),
    ("en", "A 25-year-old man was shot dead.", 0, 0),
    ("en", "Two days after the attack, no one was killed.", 0, 0),
    ("en", "In 2014 rebels killed soldiers.", 0, 0),
    ("en", "Officials said several people died and a dozen were hurt.", 3, 12),
    ("el", "δύο νεκροί και δεκάδες τραυματίες", 2, 24),
    ("el", "δεκάδες άνθρωποι σκοτώθηκαν στην πόλη", 24, 0),
    ("el", "Ο αριθμός των νεκρών ανήλθε σε 12.", 12, 0),
    ("el", "δύο αστυνομικοί τραυματίστηκαν ελαφρά", 0, 2),
    ("el", "Δεν υπάρχουν θύματα.", 0, 0),
    ("ru", "164 погибших, более 2 тысяч раненых", 164, 2000),
    ("ru", "Число погибших возросло до 164 человек.", 164, 0),
    ("ru", "не менее 12 человек погибли", 12, 0),
    ("ru", "убиты десятки человек", 24, 0),
    ("ru", "Погибли трое, пятеро ранены.", 3, 5),
    ("ru", "Никто не погиб.", 0, 0),
    ("uk", "загинули троє людей, ще п'ятеро поранені", 3, 5),
    ("fr", "Au moins 12 morts et des dizaines de blessés.", 12, 24),
    ("es", "Al menos 23 personas murieron en enfrentamientos.", 23, 0),
    ("es", "treinta y cinco muertos y cientos de heridos", 35, 200),
    ("ar", "قتل 12 شخصا وأصيب 30 آخرون", 12, 30),
    ("de", "mindestens zwölf Menschen getötet und Dutzende verletzt", 12, 24),
    ("kk", "ондаған адам қаза тапты", 24, 0),
]


@pytest.mark.parametrize(("language", "text", "killed", "injured"), CASUALTIES)
def test_casualty_counts(language: str, text: str, killed: int, injured: int) -> None:
    assert counts(text, language) == (killed, injured)


def test_units_and_dates_are_not_counts() -> None:
    assert counts("Three days later, 4 more were killed.", "en") == (4, 0)
    assert counts("12 января погибли военные", "ru") == (0, 0)


def test_largest_figure_of_a_story_wins() -> None:
    text = "Two people were killed on Monday. By Tuesday the death toll rose to 9."
    assert counts(text, "en") == (9, 0)


def test_sample_story_counts_dozens_killed() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    from streams.tagging.langid import LanguageSegmenter

    found = casualty_counts(text, LanguageSegmenter().segments(text))
    assert found.killed == 24


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ([NumberWord(2, "add"), NumberWord(100, "mul"), NumberWord(50, "add")], 250),
        ([NumberWord(3, "add"), NumberWord(1000, "scale"), NumberWord(5, "add")], 3005),
        ([NumberWord(12, "mul")], 12),
        ([NumberWord(3, "approx"), NumberWord(100, "mul")], 300),
        ([NumberWord(24, "approx")], 24),
    ],
)
def test_combine_number_words(words: list[NumberWord], value: int) -> None:
    assert combine_number_words(words) == value


def mention(category: str, weight: float = 1.0) -> ViolenceMention:
    return ViolenceMention(category, 0, 1, category, weight)


def test_no_violence_scores_zero_whatever_the_casualties() -> None:
    assert severity_score([], Casualties(killed=30, injured=100)) == 0


def test_severity_orders_typical_stories() -> None:
    arrest = severity_score([mention("security_crackdown", 0.3)], Casualties())
    stabbing = severity_score([mention("assault")], Casualties(injured=1))
    shooting = severity_score([mention("shooting"), mention("killing")], Casualties(killed=1))
    bombing = severity_score(
        [mention("explosion"), mention("killing"), mention("terrorism")],
        Casualties(killed=100, injured=300),
    )
    assert 0 < arrest < stabbing < shooting < bombing <= 100
    assert arrest <= 10
    assert bombing >= 80


def test_severity_grows_with_casualties_and_is_capped() -> None:
    mentions = [mention("killing")]
    scores = [severity_score(mentions, Casualties(killed=k)) for k in (0, 1, 10, 100, 10_000)]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    everything = [mention(c) for c in ("killing", "terrorism", "explosion", "shooting",
                                       "armed_clash", "storming", "arson", "kidnapping")] * 20
    assert severity_score(everything, Casualties(killed=10**6, injured=10**6)) == 100


def test_weak_verbs_score_lower_than_strong_ones() -> None:
    strong = severity_score([mention("assault", 1.0)], Casualties())
    weak = severity_score([mention("assault", 0.4)], Casualties())
    assert weak < strong


def test_almaty_sample_is_severe() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    from streams.tagging.langid import LanguageSegmenter

    segments = LanguageSegmenter().segments(text)
    violence = ViolenceTagger(ViolenceLexicon.load()).tag(text, segments)
    score = severity_score(violence, casualty_counts(text, segments))
    assert 75 <= score <= 100
