"""schemas/*.schema.json are what the Faust Records generate, and Records validate against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faust
import pytest
from jsonschema import Draft202012Validator

from streams import schemagen
from streams.records import Alert, FocusPlace, LocationTag, RawStory, TaggedStory, ViolenceTag
from streams.schemagen import (
    MESSAGE_RECORDS,
    SCHEMA_DIR,
    record_schema,
    rendered_schemas,
    schema_path,
    stale_schemas,
    type_schema,
    write_schemas,
)


def committed_schema(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return result


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(committed_schema(name))


def errors(name: str, message: object) -> list[str]:
    return [e.message for e in validator(name).iter_errors(message)]


ALMATY = LocationTag(
    text="Αλμάτι", start=4, end=10, name="Almaty", country_code="KZ", geonames_id=1526384,
    lat=43.25, lon=76.91667, kind="city",
)  # fmt: skip
FOCUS = FocusPlace(
    name="Almaty", country_code="KZ", geonames_id=1526384, lat=43.25, lon=76.91667, kind="city"
)
SHOTS = ViolenceTag(text="Πυροβολισμοί", start=120, end=132, category="shooting")

FULL_RECORDS: dict[str, faust.Record] = {
    "raw_story": RawStory(
        id="urn:newsml:reuters.com:20220106:nL1N2TL0CX",
        body="ALMATY, Jan 6 (Reuters) - Troops and protesters clashed on the main square.",
        headline="Troops and protesters clash on Almaty's main square",
        language="en",
        source="Reuters",
        url="https://www.reuters.com/world/asia-pacific/almaty-2022-01-06/",
        published_at="2022-01-06T05:42:00Z",
        received_at=1641447725.25,
        format="ninjs",
    ),
    "tagged_story": TaggedStory(
        id="sha256:" + "ab" * 32,
        body="Η αστυνομία της Αλμάτι ανακοίνωσε ότι δεκάδες ταραξίες εξαλείφθηκαν. Πυροβολισμοί.",
        headline="Η αστυνομία της Αλμάτι ανακοινώνει ότι δεκάδες ταραξίες εξαλείφθηκαν",
        language="el",
        languages=["el", "en"],
        source="ΑΠΕ-ΜΠΕ",
        url="",
        published_at="2022-01-01T00:00:00Z",
        received_at=1641447725.25,
        tagged_at=1641447725.75,
        locations=[ALMATY],
        focus=FOCUS,
        violence=[SHOTS],
        categories=["shooting"],
        countries=["KZ"],
        severity=4,
        killed=24,
        injured=0,
        sources=["Interfax", "Reuters", "TASS"],
        lemmas="αστυνομία αλμάτι ανακοινώνω δεκάδα ταραξίας",
        fingerprint=[123456789, 4294967295, 0],
    ),
    "alert": Alert(
        id="alert:kz-desk:cluster-7",
        kind="rule",
        desk="central-asia",
        rule="shooting-in-capital-region",
        story_id="urn:newsml:reuters.com:20220106:nL1N2TL0CX",
        cluster_id="cluster-7",
        headline="Troops and protesters clash on Almaty's main square",
        message="Shooting in Almaty (KZ), severity 4, 3 sources",
        severity=4,
        countries=["KZ"],
        places=["Almaty"],
        categories=["shooting", "riot"],
        sources=["Interfax", "Reuters", "TASS"],
        story_ids=["urn:newsml:reuters.com:20220106:nL1N2TL0CX", "urn:tass.com:news:1384761"],
        story_count=2,
        update=True,
        created_at=1641447726.0,
        updated_at=1641448300.5,
        received_at=1641447725.25,
        latency_seconds=0.75,
        lat=43.25,
        lon=76.91667,
    ),
}


# --- no drift ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MESSAGE_RECORDS))
def test_committed_schema_equals_regenerated(name: str) -> None:
    text = schema_path(name).read_text(encoding="utf-8")
    assert text == rendered_schemas()[name], (
        f"{schema_path(name)} is out of date: run python -m streams.schemagen"
    )


def test_schema_folder_has_no_stale_files() -> None:
    assert stale_schemas(SCHEMA_DIR) == []


def test_generation_is_stable_and_sorted() -> None:
    first = rendered_schemas()
    assert rendered_schemas() == first
    for text in first.values():
        assert text.endswith("}\n")
        assert (
            json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            == text
        )


def test_check_and_write_on_a_folder(tmp_path: Path) -> None:
    assert schemagen.main(["--check", "--dir", str(tmp_path)]) == 1  # nothing there yet
    assert sorted(p.name for p in write_schemas(tmp_path)) == [
        "alert.schema.json",
        "raw_story.schema.json",
        "tagged_story.schema.json",
    ]
    assert schemagen.main(["--check", "--dir", str(tmp_path)]) == 0
    edited = schema_path("alert", tmp_path)
    edited.write_text(edited.read_text().replace('"severity"', '"gravity"'))
    assert stale_schemas(tmp_path) == [edited]
    assert schemagen.main(["--dir", str(tmp_path)]) == 0
    assert stale_schemas(tmp_path) == []
    assert write_schemas(tmp_path) == []  # unchanged files are not rewritten


@pytest.mark.parametrize(("name", "record"), sorted(MESSAGE_RECORDS.items()))
def test_schema_properties_are_the_record_fields(name: str, record: type[faust.Record]) -> None:
    schema = committed_schema(name)
    Draft202012Validator.check_schema(schema)
    fields = list(record._options.fields)
    assert list(schema["properties"]) == sorted([*fields, "__faust"])
    required = [f for f in fields if f not in record._options.defaults]
    assert schema["required"] == required
    assert schema["additionalProperties"] is False


def test_unsupported_field_types_fail_loudly() -> None:
    with pytest.raises(TypeError, match="no JSON Schema for field type"):
        type_schema(set[int], {})


# --- records validate -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FULL_RECORDS))
def test_record_with_every_field_round_trips_and_validates(name: str) -> None:
    record = FULL_RECORDS[name]
    for field, default in type(record)._options.defaults.items():  # none left to a default
        assert getattr(record, field) != default, field
    wire = record.dumps()
    message = json.loads(wire)
    assert "__faust" in message
    assert errors(name, message) == []
    assert type(record).loads(wire) == record


def test_records_with_defaults_and_nulls_validate() -> None:
    raw = RawStory(id="a", body="Shots heard in Almaty.")
    assert errors("raw_story", json.loads(raw.dumps())) == []
    tagged = json.loads(FULL_RECORDS["tagged_story"].dumps())
    tagged.update(focus=None, published_at=None, locations=[], violence=[])
    assert errors("tagged_story", tagged) == []
    alert = json.loads(FULL_RECORDS["alert"].dumps())
    alert.update(lat=None, lon=None)
    assert errors("alert", alert) == []


def test_raw_story_needs_only_id_and_body() -> None:
    assert errors("raw_story", {"id": "a", "body": "b"}) == []
    assert errors("raw_story", {"body": "b"}) == ["'id' is a required property"]
    assert errors("raw_story", {"id": "a"}) == ["'body' is a required property"]


BAD_MESSAGES = [
    ("raw_story", {"id": "a", "body": "b", "format": "nitf"}, "'nitf' is not one of"),
    ("raw_story", {"id": "a", "body": "b", "published_at": "06/01/2022"}, "does not match"),
    ("raw_story", {"id": "a", "body": "b", "keywords": []}, "'keywords' was unexpected"),
    (
        "tagged_story",
        {"locations": [{**ALMATY.asdict(), "kind": "region"}]},
        "'region' is not one of",
    ),
    ("tagged_story", {"focus": {**FOCUS.asdict(), "lat": 143.25}}, "not valid under any"),
    (
        "tagged_story",
        {"violence": [{"text": "x", "start": 0, "end": 1}]},
        "'category' is a required",
    ),
    ("tagged_story", {"severity": "high"}, "'high' is not of type 'integer'"),
    ("tagged_story", {"fingerprint": [1.5]}, "1.5 is not of type 'integer'"),
    ("alert", {"update": "yes"}, "'yes' is not of type 'boolean'"),
    ("alert", {"lon": -181.0}, "-181.0 is less than"),
    ("alert", {"story_ids": "urn:x"}, "'urn:x' is not of type 'array'"),
]


@pytest.mark.parametrize(("name", "change", "message"), BAD_MESSAGES)
def test_schema_rejects_bad_messages(name: str, change: dict[str, Any], message: str) -> None:
    good = json.loads(FULL_RECORDS[name].dumps())
    found = errors(name, {**good, **change})
    assert found, change
    assert any(message in e for e in found), found


def test_missing_required_field_of_tagged_story_is_an_error() -> None:
    tagged = json.loads(FULL_RECORDS["tagged_story"].dumps())
    del tagged["severity"]
    assert errors("tagged_story", tagged) == ["'severity' is a required property"]


def test_record_schema_describes_fields_from_record_comments() -> None:
    schema = record_schema(RawStory)
    assert schema["properties"]["language"]["description"] == (
        "ISO 639-1 hint from the feed, if any"
    )
    assert schema["properties"]["format"]["enum"] == ["ninjs", "jsonl", "rss", "text"]
    assert schema["description"] == "A story as published onto the raw topic (key = id)."
