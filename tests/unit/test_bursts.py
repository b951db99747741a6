"""Burst detection: violence stories per country and city in tumbling windows against a baseline."""

from __future__ import annotations

import json
import math

import pytest

from streams.bursts import BurstDetector, BurstEvent, Subject, story_subjects
from streams.records import FocusPlace, TaggedStory

T0 = 1_641_427_200.0  # 2022-01-06 00:00 UTC, a window boundary for 10 minute windows
WINDOW = 600.0
KZ = Subject("country", "KZ", "KZ", "KZ")

ALMATY = FocusPlace(name="Almaty", country_code="KZ", geonames_id=1526384, lat=43.25249,
                    lon=76.9115, kind="city")
KAZAKHSTAN = FocusPlace(name="Kazakhstan", country_code="KZ", geonames_id=1522867, lat=48.0,
                        lon=68.0, kind="country")


def tagged(story_id: str, *, focus: FocusPlace | None, countries: list[str],
           categories: list[str]) -> TaggedStory:
    return TaggedStory(
        id=story_id, body="", headline="", language="ru", languages=["ru"], source="Interfax",
        url="", published_at=None, received_at=0.0, tagged_at=0.0, locations=[], focus=focus,
        violence=[], categories=categories, countries=countries, severity=50, killed=0,
        injured=0, sources=[], lemmas="", fingerprint=[],
    )


def feed(detector: BurstDetector, counts: list[int]) -> list[tuple[int, int, float]]:
    """counts[i] stories about KZ in window i (10 s apart); events as (window, count, baseline)."""
    events = []
    for window, count in enumerate(counts):
        for j in range(count):
            event = detector.count(KZ, f"kz-{window}-{j}", T0 + window * WINDOW + 10 * j)
            if event is not None:
                assert event.window_start == T0 + window * WINDOW
                assert event.window_end == event.window_start + WINDOW
                events.append((window, event.count, round(event.baseline, 3)))
    return events


@pytest.mark.parametrize(
    ("case", "counts", "expected"),
    [
        ("cold start: the third story of a window bursts", [3], [(0, 3, 0.0)]),
        ("two stories are not a burst", [2], []),
        ("a burst is raised once per window", [8], [(0, 3, 0.0)]),
        # history [2]*6: mean 2, s 0, floor sqrt(2) -> threshold 2 + 3*1.414 = 6.24
        ("a steady background is not a burst", [2, 2, 2, 2, 2, 2, 6], []),
        ("a jump over a steady background is", [2, 2, 2, 2, 2, 2, 7], [(6, 7, 2.0)]),
        # history [0,4,0,4,0,4]: mean 2, s 2 -> threshold 2 + 3*2 = 8
        ("an uneven background raises the bar", [0, 4, 0, 4, 0, 4, 8], [(1, 3, 0.0)]),
        ("and a count above it bursts", [0, 4, 0, 4, 0, 4, 9], [(1, 3, 0.0), (6, 9, 2.0)]),
        # after more quiet windows than the history keeps, the baseline is back to 0
        ("a long gap forgets the past", [3, *[0] * 10, 3], [(0, 3, 0.0), (11, 3, 0.0)]),
        # history [6,0,0,0,0,0]: mean 1, s 2.236 -> threshold 1 + 3*2.236 = 7.71
        ("a recent burst raises the bar", [6, 0, 0, 0, 0, 0, 7], [(0, 3, 0.0)]),
    ],
)
def test_bursts_per_window(
    case: str, counts: list[int], expected: list[tuple[int, int, float]]
) -> None:
    detector = BurstDetector(window_seconds=WINDOW, history_windows=6, min_count=3, k=3.0)
    assert feed(detector, counts) == expected


@pytest.mark.parametrize(
    ("history", "mean", "stddev", "threshold"),
    [
        ([], 0.0, 0.0, 0.0),
        ([2] * 6, 2.0, 0.0, 2 + 3 * math.sqrt(2)),
        ([0, 4, 0, 4, 0, 4], 2.0, 2.0, 8.0),
        ([5, 5, 5, 5, 5, 5, 9, 9], 6.333, 1.886, 6.333 + 3 * 2.517),  # only the last 6 count
        ([1], 1 / 6, 0.373, 1 / 6 + 3 * 0.408),  # missing windows count 0
    ],
)
def test_threshold(history: list[int], mean: float, stddev: float, threshold: float) -> None:
    detector = BurstDetector(history_windows=6, k=3.0)
    got = detector.threshold(history)
    assert got == pytest.approx((mean, stddev, threshold), abs=2e-3)


@pytest.mark.parametrize(
    ("focus", "countries", "categories", "expected"),
    [
        (ALMATY, ["KZ", "RU"], ["shooting"], [("country", "KZ"), ("city", "1526384")]),
        (KAZAKHSTAN, ["KZ"], ["riot_unrest"], [("country", "KZ")]),
        (None, ["RU", "KZ"], ["armed_clash"], [("country", "KZ"), ("country", "RU")]),
        (ALMATY, ["KZ"], [], []),  # no violence: not counted
    ],
)
def test_what_a_story_counts_for(
    focus: FocusPlace | None, countries: list[str], categories: list[str],
    expected: list[tuple[str, str]],
) -> None:
    story = tagged("s", focus=focus, countries=countries, categories=categories)
    assert [(s.scope, s.key) for s in story_subjects(story)] == expected


def test_city_and_country_burst_together() -> None:
    detector = BurstDetector(window_seconds=WINDOW, min_count=3)
    events: list[BurstEvent] = []
    for i in range(3):
        story = tagged(f"almaty-{i}", focus=ALMATY, countries=["KZ"], categories=["shooting"])
        events += detector.observe(story, T0 + 60 * i)
    assert [(e.scope, e.key, e.name, e.count) for e in events] == [
        ("country", "KZ", "KZ", 3), ("city", "1526384", "Almaty", 3),
    ]
    city = events[1]
    assert (city.lat, city.lon, city.country_code) == (43.25249, 76.9115, "KZ")
    assert city.story_ids == ("almaty-0", "almaty-1", "almaty-2")


def test_stories_without_violence_are_not_counted() -> None:
    detector = BurstDetector()
    for i in range(5):
        story = tagged(f"s{i}", focus=ALMATY, countries=["KZ"], categories=[])
        assert detector.observe(story, T0 + i) == []
    assert detector.store == {}


def test_a_redelivered_story_counts_once() -> None:
    detector = BurstDetector(window_seconds=WINDOW, min_count=3)
    for _ in range(3):
        assert detector.count(KZ, "same-story", T0 + 5) is None
    assert detector.store["country:KZ"]["count"] == 1


def test_a_late_story_joins_its_own_window() -> None:
    detector = BurstDetector(window_seconds=WINDOW, history_windows=6, min_count=3)
    detector.count(KZ, "a", T0 + 10)
    detector.count(KZ, "b", T0 + WINDOW + 10)
    assert detector.count(KZ, "late", T0 + 20) is None  # arrives in window 1, belongs to 0
    state = detector.store["country:KZ"]
    assert (state["history"], state["count"]) == ([2], 1)
    assert detector.count(KZ, "too-late", T0 - 10 * WINDOW) is None  # beyond the history
    assert detector.store["country:KZ"]["history"] == [2]


def test_evict_forgets_quiet_subjects() -> None:
    detector = BurstDetector(window_seconds=WINDOW, history_windows=6)
    detector.count(KZ, "a", T0)
    detector.count(Subject("country", "GR", "GR", "GR"), "b", T0 + 5 * WINDOW)
    assert detector.evict(now=T0 + 7 * WINDOW) == 1
    assert list(detector.store) == ["country:GR"]


def test_quiet_subjects_are_swept_as_time_moves_on() -> None:
    """No timer needed: the first story of a new window sweeps subjects beyond the history."""
    detector = BurstDetector(window_seconds=WINDOW, history_windows=6)
    detector.count(Subject("country", "GR", "GR", "GR"), "athens", T0)
    detector.count(KZ, "almaty-1", T0 + 3 * WINDOW)
    assert sorted(detector.store) == ["country:GR", "country:KZ"]
    detector.count(KZ, "almaty-2", T0 + 7 * WINDOW)
    assert sorted(detector.store) == ["country:KZ"]


def test_state_is_json_and_survives_a_restart() -> None:
    detector = BurstDetector(window_seconds=WINDOW, history_windows=6, min_count=3)
    feed(detector, [2, 2, 2, 2, 2, 2])
    state = json.loads(json.dumps(detector.to_state()))
    restarted = BurstDetector.from_state(state, window_seconds=WINDOW, history_windows=6,
                                         min_count=3)
    events = [restarted.count(KZ, f"new-{j}", T0 + 6 * WINDOW + j) for j in range(7)]
    raised = [e for e in events if e is not None]
    assert [(e.count, e.baseline) for e in raised] == [(7, 2.0)]


def test_never_reads_the_clock() -> None:
    """Timestamps decide everything: the same input far in the past gives the same events."""
    a = BurstDetector(window_seconds=WINDOW, history_windows=6, min_count=3)
    b = BurstDetector(window_seconds=WINDOW, history_windows=6, min_count=3)
    counts = [1, 0, 2, 5]
    events_now = feed(a, counts)
    shifted = [
        (w, e.count)
        for w, n in enumerate(counts)
        for j in range(n)
        if (e := b.count(KZ, f"kz-{w}-{j}", 600.0 * 10 + w * WINDOW + 10 * j)) is not None
    ]
    assert [(w, c) for w, c, _ in events_now] == shifted == [(3, 3)]
