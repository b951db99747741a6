"""The tag step's output: the TaggedStory JSON it writes without Records equals what the Record
would write, follows the schema, and carries the partition key and metric facts."""

from __future__ import annotations

import json

import orjson

from streams.records import FocusPlace, LocationTag, RawStory, TaggedStory, ViolenceTag
from streams.tag import partition_key, tagged_story_data
from streams.tagging.model import (
    Casualties,
    LocationMention,
    Place,
    Segment,
    StoryTags,
    ViolenceMention,
)
from tests.unit.test_schemas import errors

ALMATY = Place(1526384, "Almaty", "KZ", 43.25, 76.91667, "city", 2_000_000)
KAZAKHSTAN = Place(1522867, "Kazakhstan", "KZ", 48.0, 68.0, "country", 18_000_000)
BODY = "Στο Αλμάτι σκοτώθηκαν δεκάδες διαδηλωτές, μεταδίδει το Interfax."
RAW = RawStory(id="interfax-1", body=BODY, headline="Αλμάτι", language="el", source="Interfax",
               url="https://example.org/1", published_at="2022-01-06T08:00:00Z",
               received_at=1_641_456_000.25, format="text")
TAGS = StoryTags(
    language="el",
    segments=(Segment(0, len(BODY), "el"),),
    locations=(LocationMention("Αλμάτι", 4, 10, ALMATY),),
    focus=KAZAKHSTAN,
    violence=(ViolenceMention("σκοτώθηκαν", 11, 21, "killing", 1.0),),
    casualties=Casualties(killed=24, injured=0),
    severity=71,
    sources=("Interfax",),
    lemmas="στο αλματι σκοτωνω δεκαδα διαδηλωτης",
)


def test_plain_data_equals_what_the_record_writes() -> None:
    data = tagged_story_data(RAW, TAGS, ["el"], [7, 8, 9], tagged_at=1_641_456_001.5)
    record = TaggedStory(
        id="interfax-1", body=BODY, headline="Αλμάτι", language="el", languages=["el"],
        source="Interfax", url="https://example.org/1", published_at="2022-01-06T08:00:00Z",
        received_at=1_641_456_000.25, tagged_at=1_641_456_001.5,
        locations=[LocationTag(text="Αλμάτι", start=4, end=10, name="Almaty", country_code="KZ",
                               geonames_id=1526384, lat=43.25, lon=76.91667, kind="city")],
        focus=FocusPlace(name="Kazakhstan", country_code="KZ", geonames_id=1522867, lat=48.0,
                         lon=68.0, kind="country"),
        violence=[ViolenceTag(text="σκοτώθηκαν", start=11, end=21, category="killing")],
        categories=["killing"], countries=["KZ"], severity=71, killed=24, injured=0,
        sources=["Interfax"], lemmas="στο αλματι σκοτωνω δεκαδα διαδηλωτης",
        fingerprint=[7, 8, 9],
    )
    encoded = orjson.dumps(data)
    assert json.loads(encoded) == json.loads(record.dumps())
    assert list(json.loads(encoded)) == list(json.loads(record.dumps()))  # same field order
    decoded = TaggedStory.loads(encoded)
    assert decoded == record
    assert isinstance(decoded.locations[0], LocationTag)
    assert isinstance(decoded.focus, FocusPlace)
    assert errors("tagged_story", json.loads(encoded)) == []


def test_arrival_time_defaults_to_tagging_time_and_language_list_to_the_story_language() -> None:
    raw = RawStory(id="x", body=BODY)
    data = tagged_story_data(raw, TAGS, [], [], tagged_at=5.0)
    assert data["received_at"] == 5.0
    assert data["languages"] == ["el"]
    assert errors("tagged_story", json.loads(orjson.dumps(data))) == []


def test_partition_key_is_the_focus_country() -> None:
    assert partition_key("KZ") == b"KZ"
    assert partition_key(None) == b"none"
