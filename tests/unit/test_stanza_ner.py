"""NER place proposers: stanza with a tiny English model trained here, natasha on Russian."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from streams.tagging import stanza_ner
from streams.tagging.model import Segment
from streams.tagging.natasha_ner import NatashaPlaceProposer
from streams.tagging.stanza_ner import (
    ModelFilesMissing,
    StanzaPlaceProposer,
    find_model_files,
    split_sentences,
    stanza_available,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stanza"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "stanza_model_builder", FIXTURES / "build_model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stanza resource directory with an English NER model trained on the fixture sentences."""
    assert stanza_available(), "stanza must be installed for these tests: pip install '.[stanza]'"
    out = tmp_path_factory.mktemp("stanza-models")
    return _builder().build(out, work_dir=tmp_path_factory.mktemp("stanza-training"))


@pytest.fixture(scope="module")
def proposer(model_dir: Path) -> StanzaPlaceProposer:
    return StanzaPlaceProposer.from_dir(model_dir, ["en", "ru", "el"])


def _texts(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[start:end] for start, end in spans]


def _english(text: str) -> list[Segment]:
    return [Segment(0, len(text), "en")]


def test_stanza_imports() -> None:
    assert stanza_available() is True


def test_languages_that_loaded_and_those_missing(
    proposer: StanzaPlaceProposer, model_dir: Path
) -> None:
    assert proposer.languages == frozenset({"en"})
    assert set(proposer.missing) == {"ru", "el"}
    assert str(model_dir / "el") in proposer.missing["el"]


def test_model_files_are_found_in_stanza_layout(model_dir: Path) -> None:
    files = find_model_files(model_dir / "en", {})
    assert files.ner == model_dir / "en" / "ner" / "tiny.pt"
    assert files.pretrain == model_dir / "en" / "pretrain" / "tiny.pt"
    assert files.forward_charlm is None and files.backward_charlm is None
    assert set(files.pipeline_paths()) == {"ner_model_path", "ner_pretrain_path"}


@pytest.mark.parametrize(
    ("text", "places"),
    [
        # sentences of the training set
        ("Protesters gathered in Almaty on Wednesday.", ["Almaty"]),
        ("Troops from Russia landed at Almaty airport on Thursday.", ["Russia", "Almaty airport"]),
        # PERSON and ORG entities are not places
        (
            "President Kassym-Jomart Tokayev declared a state of emergency in Almaty.",
            ["Almaty"],
        ),
        ("Reuters reported heavy gunfire near Republic Square.", ["Republic Square"]),
        # known names in sentences the model has not seen
        ("Reuters said shots were heard in Kharkiv and Baghdad.", ["Kharkiv", "Baghdad"]),
        ("Police opened fire on protesters in Aktobe, witnesses said.", ["Aktobe"]),
        # no place at all
        ("Police said three people were killed and ten injured.", []),
    ],
)
def test_proposes_place_spans(proposer: StanzaPlaceProposer, text: str, places: list[str]) -> None:
    assert _texts(text, proposer.propose(text, _english(text))) == places


def test_spans_are_offsets_into_the_whole_story(proposer: StanzaPlaceProposer) -> None:
    greek = "Η αστυνομία της Αλμάτι ανακοινώνει ότι δεκάδες ταραξίες εξαλείφθηκαν.\n\n"
    english = (
        "Protesters gathered in Almaty on Wednesday.\nRockets hit Erbil airport late on Tuesday.\n"
    )
    russian = "Полиция открыла огонь в Алматы."
    text = greek + english + russian
    segments = [
        Segment(0, len(greek), "el"),
        Segment(len(greek), len(greek) + len(english), "en"),
        Segment(len(greek) + len(english), len(text), "ru"),
    ]
    spans = proposer.propose(text, segments)
    assert _texts(text, spans) == ["Almaty", "Erbil airport"]
    assert all(len(greek) <= start < end <= len(greek) + len(english) for start, end in spans)


def test_missing_language_yields_no_spans(model_dir: Path) -> None:
    only_missing = StanzaPlaceProposer.from_dir(model_dir, ["ru"])
    text = "Protesters gathered in Almaty on Wednesday."
    assert only_missing.languages == frozenset()
    assert "no model directory" in only_missing.missing["ru"]
    assert only_missing.propose(text, [Segment(0, len(text), "ru")]) == []
    assert only_missing.propose(text, _english(text)) == []


def test_without_stanza_every_language_is_missing(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stanza_ner, "stanza_available", lambda: False)
    without = StanzaPlaceProposer.from_dir(model_dir, ["en", "el"])
    text = "Protesters gathered in Almaty on Wednesday."
    assert without.languages == frozenset()
    assert set(without.missing) == {"en", "el"}
    assert "stanza is not installed" in without.missing["en"]
    assert without.propose(text, _english(text)) == []


def test_resources_json_picks_among_several_models(model_dir: Path, tmp_path: Path) -> None:
    en = tmp_path / "en"
    for folder, good, other in [("ner", "ontonotes", "conll03"), ("pretrain", "conll17", "glove")]:
        (en / folder).mkdir(parents=True)
        shutil.copy(model_dir / "en" / folder / "tiny.pt", en / folder / f"{good}.pt")
        (en / folder / f"{other}.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFilesMissing, match="several NER models"):
        find_model_files(en, {})
    no_choice = StanzaPlaceProposer.from_dir(tmp_path, ["en"])
    assert no_choice.languages == frozenset() and "several NER models" in no_choice.missing["en"]

    resources = {
        "en": {
            "lang_name": "English",
            "default_processors": {"ner": "ontonotes"},
            "ner": {"ontonotes": {"dependencies": [{"model": "pretrain", "package": "conll17"}]}},
        }
    }
    (tmp_path / "resources.json").write_text(json.dumps(resources))
    chosen = StanzaPlaceProposer.from_dir(tmp_path, ["en"])
    assert chosen.languages == frozenset({"en"}) and chosen.missing == {}
    text = "Police opened fire in Kharkiv on Tuesday."
    assert _texts(text, chosen.propose(text, _english(text))) == ["Kharkiv"]


def test_model_stanza_cannot_load_is_reported(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "en" / "ner").mkdir(parents=True)
    (tmp_path / "en" / "ner" / "broken.pt").write_bytes(b"not a model")
    shutil.copytree(model_dir / "en" / "pretrain", tmp_path / "en" / "pretrain")
    broken = StanzaPlaceProposer.from_dir(tmp_path, ["en"])
    assert broken.languages == frozenset()
    assert broken.missing["en"].startswith("stanza could not load the model")


def test_pretrain_is_required(model_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(model_dir / "en" / "ner", tmp_path / "en" / "ner")
    with pytest.raises(ModelFilesMissing, match="no word vectors"):
        find_model_files(tmp_path / "en", {})


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Shots were heard. Police fled!",
            [["Shots", "were", "heard", "."], ["Police", "fled", "!"]],
        ),
        ("Gunfire in Almaty...\nTroops", [["Gunfire", "in", "Almaty", "..."], ["Troops"]]),
        ("Стрельба в Алма-Ате\nВойска", [["Стрельба", "в", "Алма-Ате"], ["Войска"]]),
        ("Πυροβολισμοί στην Αλμάτι; Ναι.", [["Πυροβολισμοί", "στην", "Αλμάτι", ";"], ["Ναι", "."]]),
        ("", []),
    ],
)
def test_split_sentences(text: str, sentences: list[list[str]]) -> None:
    got = split_sentences(text, Segment(0, len(text), "und"))
    assert [[text[w.start : w.end] for w in sentence] for sentence in got] == sentences


@pytest.fixture(scope="module")
def natasha() -> NatashaPlaceProposer:
    return NatashaPlaceProposer()


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("В Алматы полиция открыла огонь по протестующим, сообщает ТАСС.", ["Алматы"]),
        (
            "Касым-Жомарт Токаев ввёл режим чрезвычайного положения в Мангистауской области.",
            ["Мангистауской области"],
        ),
        ("Ранее в Киеве и Харькове были слышны взрывы, сообщил Интерфакс.", ["Киеве", "Харькове"]),
        ("Полиция сообщила о трёх погибших.", []),
    ],
)
def test_natasha_proposes_russian_places(
    natasha: NatashaPlaceProposer, text: str, places: list[str]
) -> None:
    assert natasha.languages == frozenset({"ru"})
    assert _texts(text, natasha.propose(text, [Segment(0, len(text), "ru")])) == places


def test_natasha_ignores_other_languages_and_keeps_offsets(natasha: NatashaPlaceProposer) -> None:
    english = "Protesters gathered in Almaty on Wednesday. "
    russian = "Войска ОДКБ прибыли в аэропорт Алматы."
    text = english + russian
    segments = [Segment(0, len(english), "en"), Segment(len(english), len(text), "ru")]
    spans = natasha.propose(text, segments)
    assert _texts(text, spans) == ["Алматы"]
    assert spans[0][0] > len(english)
