"""Tagged-topic messages -> Elasticsearch documents: decoding, dead-letter reasons, the mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.es import decode_tagged_story, load_template, story_document
from streams.index import story_doc
from streams.records import FocusPlace, LocationTag, TaggedStory, ViolenceTag


def tagged(**changes: Any) -> TaggedStory:
    fields: dict[str, Any] = dict(
        id="reuters-almaty-1", body="Protesters stormed the mayor's office in Almaty.",
        headline="Unrest in Almaty", language="en", languages=["en"], source="Reuters", url="",
        published_at="2022-01-05T10:00:00Z", received_at=1_641_376_800.5,
        tagged_at=1_641_376_801.0,
        locations=[LocationTag(text="Almaty", start=41, end=47, name="Almaty", country_code="KZ",
                               geonames_id=1526384, lat=43.25, lon=76.91, kind="city")],
        focus=FocusPlace(name="Kazakhstan", country_code="KZ", geonames_id=1522867, lat=48.0,
                         lon=68.0, kind="country"),
        violence=[ViolenceTag(text="stormed", start=11, end=18, category="storming")],
        categories=["storming"], countries=["KZ"], severity=35, killed=0, injured=0,
        sources=["Reuters"], lemmas="protester storm the mayor office in almaty",
        fingerprint=[1, 2, 3],
    )
    fields.update(changes)
    return TaggedStory(**fields)


def test_document_of_a_tagged_story_message() -> None:
    doc = story_document(json.loads(tagged().dumps()), now=1_641_376_802.0)
    assert doc["id"] == "reuters-almaty-1"
    assert doc["@timestamp"] == "2022-01-05T10:00:00.500000+00:00"  # arrival time
    assert doc["place_names"] == ["Almaty"]
    assert doc["place_ids"] == ["1526384"]
    assert doc["place_points"] == [{"lat": 43.25, "lon": 76.91}]
    assert doc["focus"]["point"] == {"lat": 48.0, "lon": 68.0}
    assert doc["locations"][0]["point"] == {"lat": 43.25, "lon": 76.91}
    assert doc["violence"] == [{"text": "stormed", "start": 11, "end": 18, "category": "storming"}]
    assert doc["violent"] is True
    assert doc["violence_terms"] == ["stormed"]
    assert doc["indexed_at"] == 1_641_376_802.0


def test_document_fields_are_exactly_the_mapped_ones() -> None:
    """The stories mapping is strict: a field it does not declare would be refused."""
    mapped = set(load_template("stories")["template"]["mappings"]["properties"])
    doc = story_document(json.loads(tagged().dumps()))
    assert set(doc) == mapped
    no_focus = story_document(json.loads(tagged(focus=None, locations=[], violence=[]).dumps()))
    assert no_focus["focus"] is None
    assert no_focus["violent"] is False
    assert no_focus["place_names"] == []


@pytest.mark.parametrize(("value", "reason"), [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'{"id": "x", "body": "b", "received_at": 1.0}', "missing or empty tagged_at"),
    (b'{"id": "", "body": "b", "received_at": 1.0, "tagged_at": 1.0}', "missing or empty id"),
    ("text, not bytes", "expected TaggedStory JSON bytes"),
])
def test_undecodable_messages_say_why(value: object, reason: str) -> None:
    decoded = decode_tagged_story(value)
    assert isinstance(decoded, str)
    assert reason in decoded


def test_a_field_of_the_wrong_shape_is_a_reason_not_a_crash() -> None:
    data = json.loads(tagged().dumps())
    data["locations"] = [{"text": "Almaty"}]  # no name, no coordinates
    result = story_doc(json.dumps(data).encode())
    assert isinstance(result, str)
    assert result.startswith("not a TaggedStory: KeyError")
    good = story_doc(tagged().dumps())
    assert not isinstance(good, str)
    assert good[0] == "reuters-almaty-1"
