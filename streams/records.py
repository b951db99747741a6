"""Message shapes on the wire topics: the Faust Records are the schema (schemas/*.json follow them)."""

from __future__ import annotations

import faust


class RawStory(faust.Record, serializer="json"):
    """A story as published onto the raw topic (key = id)."""

    id: str
    body: str
    headline: str = ""
    language: str | None = None  # ISO 639-1 hint from the feed, if any
    source: str = ""  # the feed or agency that delivered it (e.g. "Reuters", "ANA-MPA")
    url: str = ""
    published_at: str | None = None  # ISO 8601 from the feed
    received_at: float = 0.0  # epoch seconds when `wirewatch publish` sent it
    format: str = "jsonl"  # ninjs | jsonl | rss | text


class LocationTag(faust.Record, serializer="json"):
    """A toponym in the body, resolved to GeoNames."""

    text: str
    start: int
    end: int
    name: str
    country_code: str
    geonames_id: int | None
    lat: float
    lon: float
    kind: str  # city | country | admin


class FocusPlace(faust.Record, serializer="json"):
    """The place a story is mainly about."""

    name: str
    country_code: str
    geonames_id: int | None
    lat: float
    lon: float
    kind: str


class ViolenceTag(faust.Record, serializer="json"):
    """A violence term in the body with its category."""

    text: str
    start: int
    end: int
    category: str


class TaggedStory(faust.Record, serializer="json"):
    """A raw story plus everything the tagging core found (key = id)."""

    id: str
    body: str
    headline: str
    language: str
    languages: list[str]
    source: str
    url: str
    published_at: str | None
    received_at: float
    tagged_at: float
    locations: list[LocationTag]
    focus: FocusPlace | None
    violence: list[ViolenceTag]
    categories: list[str]
    countries: list[str]
    severity: int
    killed: int
    injured: int
    sources: list[str]
    lemmas: str
    fingerprint: list[int]


class Alert(faust.Record, serializer="json"):
    """An alert for a desk (key = alert id). Later members of a cluster update it (update=True)."""

    id: str
    kind: str  # rule | burst
    desk: str
    rule: str
    story_id: str
    cluster_id: str
    headline: str
    message: str
    severity: int
    countries: list[str]
    places: list[str]
    categories: list[str]
    sources: list[str]
    story_ids: list[str]
    story_count: int
    update: bool
    created_at: float
    updated_at: float
    received_at: float  # when the triggering story entered the pipeline
    latency_seconds: float  # received_at -> alert emitted
    lat: float | None = None
    lon: float | None = None
