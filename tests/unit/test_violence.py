"""Violence lexicon and tagger: real newswire wording per language, vetoes, negation, data."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tagging.model import Segment, ViolenceMention
from streams.tagging.violence import (
    DATA_DIR,
    LexiconError,
    ViolenceLexicon,
    ViolenceTagger,
    compile_pattern,
    load_categories,
)

SAMPLE = Path(__file__).resolve().parents[2] / "streams" / "samples" / "almaty-2022-01-el.txt"

CATEGORIES = {
    "killing", "shooting", "explosion", "armed_clash", "assault", "riot_unrest", "arson",
    "storming", "security_crackdown", "kidnapping", "terrorism",
}


@pytest.fixture(scope="module")
def tagger() -> ViolenceTagger:
    return ViolenceTagger(ViolenceLexicon.load())


def tag(tagger: ViolenceTagger, text: str, language: str) -> list[ViolenceMention]:
    return tagger.tag(text, [Segment(0, len(text), language)])


def found(tagger: ViolenceTagger, text: str, language: str) -> set[tuple[str, str]]:
    return {(m.text, m.category) for m in tag(tagger, text, language)}


# (language, text, a mention that must be found as (surface text, category))
POSITIVE = [
    # Greek: the inflections and euphemisms of the Almaty coverage
    ("el", "δεκάδες άνθρωποι σκοτώθηκαν στην πόλη", ("σκοτώθηκαν", "killing")),
    ("el", "Ο στρατός σκότωσε δύο ενόπλους", ("σκότωσε", "killing")),
    ("el", "Ακούστηκαν πυροβολισμοί στο κέντρο", ("πυροβολισμοί", "shooting")),
    ("el", "Πυροβολισμοί ακούστηκαν καθώς οι στρατιώτες προσέγγιζαν", ("Πυροβολισμοί", "shooting")),
    ("el", "Σφοδρή ανταλλαγή πυροβολισμών βρίσκεται σε εξέλιξη",
     ("ανταλλαγή πυροβολισμών", "armed_clash")),
    ("el", "σφοδρές ανταλλαγές πυρών ξέσπασαν", ("ανταλλαγές πυρών", "armed_clash")),
    ("el", "δεκάδες επιτιθέμενοι \"εξαλείφθηκαν\", ανακοίνωσε η αστυνομία",
     ("εξαλείφθηκαν", "killing")),
    ("el", "Απόπειρα εισβολής στο αρχηγείο της αστυνομίας", ("εισβολής", "storming")),
    ("el", "κατά την προσπάθειά τους να εισβάλουν στα γραφεία", ("εισβάλουν", "storming")),
    ("el", "Στρατιώτες και διαδηλωτές συγκρούονταν στην πλατεία", ("συγκρούονταν", "armed_clash")),
    ("el", "δεκάδες ταραξίες σκοτώθηκαν", ("ταραξίες", "riot_unrest")),
    ("el", "εναντίον των ταραχοποιών", ("ταραχοποιών", "riot_unrest")),
    ("el", "άρχισαν εκκαθαριστική επιχείρηση εναντίον τους",
     ("εκκαθαριστική επιχείρηση", "security_crackdown")),
    ("el", "Ένοπλος άνοιξε πυρ μέσα σε σχολείο", ("άνοιξε πυρ", "shooting")),
    ("el", "Ισχυρή έκρηξη σημειώθηκε στο λιμάνι", ("έκρηξη", "explosion")),
    ("el", "ομάδα κουκουλοφόρων πέταξαν βόμβες μολότοφ κατά των ΜΑΤ",
     ("πέταξαν βόμβες μολότοφ", "arson")),
    ("el", "Πυρπολήθηκαν δύο κάδοι απορριμμάτων", ("Πυρπολήθηκαν", "arson")),
    ("el", "οι αστυνομικοί έκαναν χρήση χημικών", ("έκαναν χρήση χημικών", "security_crackdown")),
    ("el", "ξυλοκοπήθηκαν από άγνωστους", ("ξυλοκοπήθηκαν", "assault")),
    ("el", "τρομοκρατική επίθεση στο μετρό", ("τρομοκρατική επίθεση", "terrorism")),
    ("el", "την απαγωγή του επιχειρηματία", ("απαγωγή", "kidnapping")),
    ("el", "Επεισόδια σημειώθηκαν στα Εξάρχεια", ("Επεισόδια", "riot_unrest")),
    # Russian
    ("ru", "Протестующие штурмовали здание акимата", ("штурмовали", "storming")),
    ("ru", "Неизвестные подожгли здание администрации", ("подожгли", "arson")),
    ("ru", "В результате нападения убиты двое полицейских", ("убиты", "killing")),
    ("ru", "В ходе беспорядков погибли 164 человека", ("погибли", "killing")),
    ("ru", "В центре города слышна стрельба", ("стрельба", "shooting")),
    ("ru", "Между военными и боевиками произошла перестрелка", ("перестрелка", "armed_clash")),
    ("ru", "В центре Алматы прогремел взрыв", ("взрыв", "explosion")),
    ("ru", "Массовые беспорядки охватили город", ("Массовые беспорядки", "riot_unrest")),
    ("ru", "Силовики применили слезоточивый газ",
     ("применили слезоточивый газ", "security_crackdown")),
    ("ru", "Полиция разогнала демонстрантов", ("разогнала", "security_crackdown")),
    ("ru", "Мародеры разграбили магазины", ("Мародеры", "riot_unrest")),
    ("ru", "Террористы захватили заложников", ("захватили заложников", "kidnapping")),
    ("ru", "Военные открыли огонь по толпе", ("открыли огонь", "shooting")),
    # English
    ("en", "At least 12 people were killed in the attack", ("killed", "killing")),
    ("en", "Security forces opened fire on protesters", ("opened fire", "shooting")),
    ("en", "#Kazakhstan Shots heard in the city of #Almaty during the night",
     ("Shots heard", "shooting")),
    ("en", "Protesters stormed and set fire to this building", ("stormed", "storming")),
    ("en", "Protesters stormed and set fire to this building", ("set fire", "arson")),
    ("en", "Shots just in of the burning Akimat in Almaty", ("burning", "arson")),
    ("en", "Clashes broke out between police and demonstrators", ("Clashes", "armed_clash")),
    ("en", "Police fired tear gas and water cannon", ("tear gas", "security_crackdown")),
    ("en", "A 25-year-old man was shot dead outside his home", ("was shot dead", "killing")),
    ("en", "a car bomb exploded near the ministry", ("car bomb", "explosion")),
    ("en", "Gunmen kidnapped 30 students", ("kidnapped", "kidnapping")),
    ("en", "rioters looted shops overnight", ("looted", "riot_unrest")),
    ("en", "The attackers stormed the villages, setting houses on fire",
     ("setting houses on fire", "arson")),
    # French, Spanish, Ukrainian, Arabic, Kazakh, German
    ("fr", "des hommes armés ont ouvert le feu sur un poste", ("ouvert le feu", "shooting")),
    ("fr", "au moins 12 morts dans l'explosion d'une voiture piégée", ("explosion", "explosion")),
    ("fr", "de violents affrontements ont éclaté", ("affrontements", "armed_clash")),
    ("es", "murieron en enfrentamientos entre grupos armados", ("enfrentamientos", "armed_clash")),
    ("es", "Un tiroteo dejó tres muertos", ("tiroteo", "shooting")),
    ("uk", "Внаслідок обстрілу загинули троє людей", ("обстрілу", "explosion")),
    ("uk", "Поліція повідомила про стрілянину в центрі", ("стрілянину", "shooting")),
    ("ar", "اشتباكات عنيفة بين الجيش والمتمردين", ("اشتباكات", "armed_clash")),
    ("ar", "أطلقت قوات الأمن الغاز المسيل للدموع", ("الغاز المسيل للدموع", "security_crackdown")),
    ("kk", "Алматыда атыс болды", ("атыс", "shooting")),
    ("kk", "Наразылық білдірушілер әкімдікті өртеп жіберді", ("өртеп", "arson")),
    ("de", "Bei Zusammenstößen wurden mindestens zwölf Menschen getötet", ("getötet", "killing")),
    ("de", "Polizisten setzten Tränengas ein", ("Tränengas", "security_crackdown")),
]


@pytest.mark.parametrize(("language", "text", "expected"), POSITIVE)
def test_finds_violence_terms(
    tagger: ViolenceTagger, language: str, text: str, expected: tuple[str, str]
) -> None:
    assert expected in found(tagger, text, language)


# Non-violent senses and negated terms: nothing may be reported.
NEGATIVE = [
    ("en", "The club fired the coach after a third straight defeat."),
    ("en", "A shot of the skyline at dusk, taken from the ferry."),
    ("en", "Their killer app is killing it in the charts."),
    ("en", "They will shoot a film in Almaty next spring."),
    ("en", "The sequel bombed at the box office."),
    ("en", "An explosion of interest in electric cars."),
    ("en", "No one was killed."),
    ("en", "The burning question for investors is inflation."),
    ("en", "She stormed out of the meeting."),
    ("en", "Ministers clashed over the budget."),
    ("en", "He suffered a heart attack on Monday."),
    ("en", "Riot police stood by as the march passed."),
    ("en", "Storm Eunice damaged buildings across the south."),
    ("ru", "Никто не погиб."),
    ("ru", "Жертв нет."),
    ("ru", "Штурман самолета доложил о посадке."),
    ("ru", "На рынке наблюдается взрыв интереса к электромобилям."),
    ("el", "Δεν υπάρχουν θύματα."),
    ("el", "Κανείς δεν σκοτώθηκε."),
    ("el", "Η κυβέρνηση ανακοίνωσε κατάπαυση πυρός."),
    ("el", "Το νέο επεισόδιο της σειράς προβάλλεται απόψε."),
    ("el", "Μετωπική σύγκρουση δύο αυτοκινήτων στην εθνική οδό."),
    ("el", "σύγκρουση συμφερόντων στο υπουργείο"),
    ("fr", "Personne n'a été tué."),
    ("es", "No hubo muertos."),
    ("uk", "Ніхто не загинув."),
    ("de", "Niemand wurde getötet."),
]


@pytest.mark.parametrize(("language", "text"), NEGATIVE)
def test_ignores_non_violent_senses_and_negation(
    tagger: ViolenceTagger, language: str, text: str
) -> None:
    assert tag(tagger, text, language) == []


# Words whose category the rest of the story decides (rows marked @ in the lexicon).
CONTEXT = [
    ("en", "Gunmen opened fire on the crowd. The attack lasted an hour.",
     {("opened fire", "shooting"), ("attack", "armed_clash")}),
    ("en", "It was a terrorist attack, the minister said. The attack began at dawn.",
     {("terrorist attack", "terrorism"), ("attack", "terrorism")}),
    ("en", "A drone strike hit the depot. The attack destroyed fuel tanks.",
     {("drone strike", "explosion"), ("attack", "explosion")}),
    ("en", "A man attacked a woman in the street.", {("attacked", "assault")}),
    ("en", "Artillery shelling continued overnight. A strike damaged a school.",
     {("Artillery shelling", "explosion"), ("strike", "explosion")}),
    ("en", "Dock workers went on strike over pay.", set()),
    ("ru", "Удар пришелся по рынку.", set()),
    ("ru", "Обстрел продолжался всю ночь. Удар пришелся по рынку.",
     {("Обстрел", "explosion"), ("Удар", "explosion")}),
    ("el", "Η ομάδα δίνει μάχη για την παραμονή.", set()),
    ("el", "Ρωσικά drones έπληξαν το λιμάνι μετά από σφοδρούς βομβαρδισμούς.",
     {("έπληξαν", "explosion"), ("βομβαρδισμούς", "explosion")}),
]


@pytest.mark.parametrize(("language", "text", "expected"), CONTEXT)
def test_context_decides_generic_words(
    tagger: ViolenceTagger, language: str, text: str, expected: set[tuple[str, str]]
) -> None:
    assert found(tagger, text, language) == expected


def test_actors_are_not_events(tagger: ViolenceTagger) -> None:
    # Who did it is not a violence mention; what they did is.
    assert found(tagger, "Gunmen on motorcycles killed dozens of villagers.", "en") == {
        ("killed", "killing")}
    assert found(tagger, "The attackers were jihadists and rioters.", "en") == set()
    assert found(tagger, "Боевики и снайперы засели в здании.", "ru") == set()


def test_footage_sense_of_shots_keeps_the_burning() -> None:
    tagger = ViolenceTagger(ViolenceLexicon.load())
    text = "Shots just in of the burning Akimat in Almaty from earlier in the day."
    assert found(tagger, text, "en") == {("burning", "arson")}


def test_negation_stops_at_punctuation_and_scope_breaks(tagger: ViolenceTagger) -> None:
    assert found(tagger, "No, 12 people were killed.", "en") == {("killed", "killing")}
    assert found(tagger, "It is not clear how many were killed.", "en") == {("killed", "killing")}
    assert found(tagger, "Δεν είναι γνωστό πόσοι σκοτώθηκαν.", "el") == {("σκοτώθηκαν", "killing")}


def test_offsets_slice_the_text(tagger: ViolenceTagger) -> None:
    text = "Στρατιώτες και διαδηλωτές συγκρούονταν. Protesters stormed the Akimat."
    segments = [Segment(0, 40, "el"), Segment(40, len(text), "en")]
    mentions = tagger.tag(text, segments)
    assert [(m.category, text[m.start:m.end]) for m in mentions] == [
        ("armed_clash", "συγκρούονταν"),
        ("storming", "stormed"),
    ]
    assert all(m.text == text[m.start:m.end] and 0 < m.weight <= 1 for m in mentions)


def test_unknown_language_tries_every_lexicon_of_the_script(tagger: ViolenceTagger) -> None:
    assert ("стрельба", "shooting") in found(tagger, "Слышна стрельба", "und")
    assert ("stormed", "storming") in found(tagger, "Protesters stormed the palace", "und")
    # A Latin word inside a Greek segment is looked up in the Latin-script lexicons.
    assert ("stormed", "storming") in found(tagger, "Οι διαδηλωτές stormed το κτίριο", "el")


def test_elided_article_is_left_out_of_the_span(tagger: ViolenceTagger) -> None:
    mentions = tag(tagger, "dans l'explosion d'une bombe", "fr")
    assert [(m.text, m.category) for m in mentions] == [
        ("explosion", "explosion"), ("bombe", "explosion")]


def test_almaty_sample_categories(tagger: ViolenceTagger) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    from streams.tagging.langid import LanguageSegmenter

    categories = {m.category for m in tagger.tag(text, LanguageSegmenter().segments(text))}
    assert {"killing", "shooting", "riot_unrest", "arson", "storming", "armed_clash",
            "security_crackdown"} <= categories


# --------------------------------------------------------------------------- the data itself


def test_lexicon_has_the_required_languages_and_volume() -> None:
    lexicon = ViolenceLexicon.load()
    assert {"en", "el", "ru", "uk", "fr", "es", "ar", "kk", "de"} <= set(lexicon.languages)
    violence_rows: dict[str, int] = {}
    for entry in lexicon.entries:
        if entry.role == "violence":
            violence_rows[entry.language] = violence_rows.get(entry.language, 0) + 1
    for language in ("en", "el", "ru"):
        assert violence_rows[language] >= 100, language
    for language in ("uk", "fr", "es", "ar", "kk", "de"):
        assert violence_rows[language] >= 25, language
    used = {category for entry in lexicon.entries for category in entry.categories}
    assert CATEGORIES <= used


def test_categories_file_lists_every_category_with_a_weight() -> None:
    weights = load_categories()
    assert set(weights) == CATEGORIES
    assert all(0 < weight <= 50 for weight in weights.values())


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("..2 killed", "cannot start with a gap"), ("set ..3", "trailing gap"),
     ("set fire-to", "not one word")],
)
def test_bad_patterns_are_rejected(pattern: str, message: str) -> None:
    with pytest.raises(LexiconError, match=message):
        compile_pattern(pattern, "test:1")


def test_bad_rows_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "violence_categories.tsv").write_text(
        (DATA_DIR / "violence_categories.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "violence_xx.tsv").write_text("killed\tmayhem\t1.0\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="unknown category 'mayhem'"):
        ViolenceLexicon.from_dir(tmp_path)
    (tmp_path / "violence_xx.tsv").write_text("killed\tkilling\t3\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"outside 0\.\.1"):
        ViolenceLexicon.from_dir(tmp_path)


def test_lexicon_is_loaded_once() -> None:
    assert ViolenceLexicon.load() is ViolenceLexicon.load()
