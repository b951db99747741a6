"""Bursts: a country or city gets more violence stories in a tumbling window than its baseline.

Rule (after the Europe Media Monitor's breaking-news detection, which compares the latest count
of stories about a subject with its recent average): windows are tumbling, `window_seconds` long,
aligned to the epoch. For each country (and each city, by GeoNames id) the detector keeps the
count of the current window and the counts of the previous `history_windows` windows (a window
without stories counts 0, also before the first story seen). With mean m and population standard
deviation s of those counts, the current window is a burst as soon as

    count >= min_count   and   count > m + k * max(s, sqrt(m))

The sqrt(m) floor is the standard deviation of a Poisson count with mean m: a subject that
steadily gets 5 stories every window (s = 0) does not burst at the 6th. A burst is raised once
per subject and window, at the story that crosses the line (not at the end of the window).

What counts: stories with at least one violence category. A story counts for its focus country
and, when the focus is a city, for that city; a story without a focus counts for every country it
mentions. Each story is counted once per subject (its id is remembered in the window).

State is one JSON-able dict per subject in a MutableMapping (a dict or a Faust table, keyed
"country:KZ" / "city:1526384"); records are replaced, never mutated in place. Subjects that have
been quiet for longer than the history are forgotten as time moves on (a sweep at the first story
of each new window), so no timer is needed; a Faust table refuses writes from outside stream
iteration, so do not call `evict` from a timer on one. Timestamps are given by the caller (the
story's received_at, or the stream's clock); nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from streams.records import TaggedStory

Scope = Literal["country", "city"]

_MAX_STORY_IDS = 200  # per subject and window: enough to dedup redeliveries, bounded


@dataclass(frozen=True, slots=True)
class Subject:
    """What stories are counted for: a country (ISO code) or a city (GeoNames id)."""

    scope: Scope
    key: str
    name: str
    country_code: str
    lat: float | None = None
    lon: float | None = None

    @property
    def store_key(self) -> str:
        return f"{self.scope}:{self.key}"


@dataclass(frozen=True, slots=True)
class BurstEvent:
    """A subject whose count in a window went over its baseline."""

    scope: Scope
    key: str  # country code, or the city's GeoNames id as text
    name: str
    country_code: str
    window_start: float
    window_end: float
    count: int
    baseline: float  # mean count of the previous windows
    stddev: float
    threshold: float  # the count had to be above this (and at least min_count)
    story_ids: tuple[str, ...]  # the stories of the window so far (at most 200)
    lat: float | None = None
    lon: float | None = None


def story_subjects(story: TaggedStory) -> list[Subject]:
    """The subjects a violence story counts for ([] for a story without violence categories)."""
    if not story.categories:
        return []
    focus = story.focus
    if focus is None:
        return [Subject("country", code, code, code) for code in sorted(set(story.countries))]
    subjects: list[Subject] = []
    if focus.country_code:
        code = focus.country_code
        subjects.append(Subject("country", code, code, code))
    if focus.kind == "city" and focus.geonames_id is not None:
        subjects.append(
            Subject("city", str(focus.geonames_id), focus.name, focus.country_code,
                    focus.lat, focus.lon)
        )
    return subjects


class BurstDetector:
    """Counts violence stories per country and city in tumbling windows and reports bursts."""

    def __init__(
        self,
        store: MutableMapping[str, Any] | None = None,
        *,
        window_seconds: float = 600.0,
        history_windows: int = 12,
        min_count: int = 3,
        k: float = 3.0,
    ) -> None:
        if window_seconds <= 0 or history_windows < 1 or min_count < 1 or k < 0:
            raise ValueError("window_seconds > 0, history_windows >= 1, min_count >= 1, k >= 0")
        self.store: MutableMapping[str, Any] = {} if store is None else store
        self.window_seconds = float(window_seconds)
        self.history_windows = history_windows
        self.min_count = min_count
        self.k = k
        self._swept_window: float | None = None

    def window_start(self, at: float) -> float:
        """Start of the tumbling window that contains epoch second `at`."""
        return math.floor(at / self.window_seconds) * self.window_seconds

    def threshold(self, history: list[int]) -> tuple[float, float, float]:
        """(mean, stddev, threshold) of the previous windows' counts, missing windows as 0."""
        counts = [0] * (self.history_windows - len(history)) + history[-self.history_windows:]
        mean = sum(counts) / len(counts)
        stddev = math.sqrt(sum((c - mean) ** 2 for c in counts) / len(counts))
        return mean, stddev, mean + self.k * max(stddev, math.sqrt(mean))

    def observe(self, story: TaggedStory, at: float) -> list[BurstEvent]:
        """Count a tagged story at epoch second `at`; the bursts it completes (often none)."""
        events = []
        for subject in story_subjects(story):
            event = self.count(subject, story.id, at)
            if event is not None:
                events.append(event)
        return events

    def count(self, subject: Subject, story_id: str, at: float) -> BurstEvent | None:
        """Count one story for one subject; a BurstEvent if this story makes the window a burst."""
        window = self.window_start(at)
        if self._swept_window is None or window > self._swept_window:
            self._swept_window = window
            self.evict(at)
        state = self.store.get(subject.store_key)
        if state is None:
            state = _new_state(subject, window)
        else:
            state = dict(state)
        current = float(state["window"])
        if window < current:
            self._count_late(subject, state, current, window)
            return None
        if window > current:
            state = _rolled(state, window, current, self.window_seconds, self.history_windows)
        if story_id in state["story_ids"]:
            return None
        state["count"] = int(state["count"]) + 1
        state["story_ids"] = [*state["story_ids"], story_id][-_MAX_STORY_IDS:]
        mean, stddev, threshold = self.threshold(state["history"])
        event = None
        if not state["raised"] and state["count"] >= self.min_count and state["count"] > threshold:
            state["raised"] = True
            event = BurstEvent(
                scope=subject.scope,
                key=subject.key,
                name=subject.name,
                country_code=subject.country_code,
                window_start=window,
                window_end=window + self.window_seconds,
                count=state["count"],
                baseline=mean,
                stddev=stddev,
                threshold=threshold,
                story_ids=tuple(state["story_ids"]),
                lat=subject.lat,
                lon=subject.lon,
            )
        self.store[subject.store_key] = state
        return event

    def evict(self, now: float) -> int:
        """Forget subjects whose last window fell out of the history (their baseline is all 0)."""
        horizon = self.window_start(now) - self.history_windows * self.window_seconds
        stale = [key for key, state in self.store.items() if float(state["window"]) < horizon]
        for key in stale:
            del self.store[key]
        return len(stale)

    def to_state(self) -> dict[str, Any]:
        """A JSON-able copy of all subjects' counts."""
        return {key: {**value, "history": list(value["history"]),
                      "story_ids": list(value["story_ids"])}
                for key, value in self.store.items()}

    @classmethod
    def from_state(cls, state: dict[str, Any], **options: Any) -> BurstDetector:
        """A detector over a copy of a state from to_state()."""
        detector = cls(**options)
        detector.store.update(
            {key: {**value, "history": list(value["history"]),
                   "story_ids": list(value["story_ids"])} for key, value in state.items()}
        )
        return detector

    def _count_late(
        self, subject: Subject, state: dict[str, Any], current: float, window: float
    ) -> None:
        """A story of an already closed window: add it to that window's count, if still kept."""
        back = round((current - window) / self.window_seconds)  # 1 = the window before current
        history: list[int] = list(state["history"])
        if back <= len(history):
            history[-back] += 1
            state["history"] = history
            self.store[subject.store_key] = state


def _new_state(subject: Subject, window: float) -> dict[str, Any]:
    return {
        "scope": subject.scope,
        "key": subject.key,
        "name": subject.name,
        "country_code": subject.country_code,
        "window": window,
        "count": 0,
        "history": [],  # counts of the previous windows, oldest first
        "raised": False,
        "story_ids": [],
    }


def _rolled(
    state: dict[str, Any], window: float, current: float, window_seconds: float, keep: int
) -> dict[str, Any]:
    """State moved on to `window`: the current count joins the history, skipped windows count 0."""
    skipped = round((window - current) / window_seconds) - 1
    history = [*state["history"], int(state["count"]), *([0] * min(skipped, keep))][-keep:]
    return {**state, "window": window, "count": 0, "history": history, "raised": False,
            "story_ids": []}
