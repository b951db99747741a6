"""Kibana saved objects (deploy/kibana) against the live Elasticsearch mapping and documents."""

from __future__ import annotations

import fnmatch
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch

from grafana.esquery import mapped_field
from streams.es import BulkIndexer, story_document
from streams.records import FocusPlace, LocationTag, TaggedStory, ViolenceTag
from streams.settings import Settings
from streams.validate import format_utc
from tests.conftest import REPO, Stack
from tests.integration.test_dashboards_live import drop_indices

pytestmark = pytest.mark.integration

SAVED_OBJECTS = REPO / "deploy" / "kibana" / "wirewatch.ndjson"


def saved_objects(path: Path = SAVED_OBJECTS) -> dict[str, dict[str, Any]]:
    """The NDJSON export by saved object id (one JSON object a line, as Kibana imports it)."""
    objects = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        objects[obj["id"]] = obj
    return objects


def search_source(search: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = json.loads(
        search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    return source


# ----------------------------------------------------------------------------- KQL

_KQL_CLAUSE = re.compile(r'^(?P<field>[\w.@]+)\s*:\s*(?P<value>"[^"]*"|[^\s"()]+)$')


def kql_clause(text: str) -> tuple[str, dict[str, Any]]:
    """One `field:value` KQL clause as Kibana translates it (match, match_phrase, exists)."""
    negate = text.lower().startswith("not ")
    body = text[4:].strip() if negate else text.strip()
    found = _KQL_CLAUSE.match(body)
    if not found:
        raise ValueError(f"KQL clause {text!r} is not field:value")
    field, value = found["field"], found["value"]
    if value == "*":
        query: dict[str, Any] = {"exists": {"field": field}}
    elif value.startswith('"'):
        query = {"bool": {"should": [{"match_phrase": {field: value[1:-1]}}],
                          "minimum_should_match": 1}}
    else:
        query = {"bool": {"should": [{"match": {field: value}}], "minimum_should_match": 1}}
    return field, ({"bool": {"must_not": query}} if negate else query)


def kql_to_query(kql: str) -> tuple[list[str], dict[str, Any]]:
    """The fields and the Elasticsearch query of a KQL string of clauses joined by `and`
    (or `or`, not mixed); anything else raises rather than being guessed."""
    if "(" in kql or ")" in kql:
        raise ValueError(f"KQL with parentheses is not supported here: {kql!r}")
    ands = re.split(r"\s+and\s+", kql.strip(), flags=re.IGNORECASE)
    ors = re.split(r"\s+or\s+", kql.strip(), flags=re.IGNORECASE)
    if len(ands) > 1 and len(ors) > 1:
        raise ValueError(f"KQL mixing and/or is not supported here: {kql!r}")
    clauses = [kql_clause(part) for part in (ors if len(ors) > 1 else ands)]
    fields = [field for field, _ in clauses]
    queries = [query for _, query in clauses]
    if len(queries) == 1:
        return fields, queries[0]
    if len(ors) > 1:
        return fields, {"bool": {"should": queries, "minimum_should_match": 1}}
    return fields, {"bool": {"filter": queries}}


@pytest.mark.parametrize(("kql", "fields", "query"), [
    ("violent:true", ["violent"],
     {"bool": {"should": [{"match": {"violent": "true"}}], "minimum_should_match": 1}}),
    ("violent:true and countries:KZ", ["violent", "countries"], {"bool": {"filter": [
        {"bool": {"should": [{"match": {"violent": "true"}}], "minimum_should_match": 1}},
        {"bool": {"should": [{"match": {"countries": "KZ"}}], "minimum_should_match": 1}},
    ]}}),
    ('not headline:"Almaty"', ["headline"], {"bool": {"must_not": {"bool": {
        "should": [{"match_phrase": {"headline": "Almaty"}}], "minimum_should_match": 1}}}}),
])
def test_kql_translation(kql: str, fields: list[str], query: dict[str, Any]) -> None:
    assert kql_to_query(kql) == (fields, query)


@pytest.mark.parametrize("kql", ["Αλμάτι", "(violent:true or killed:1)",
                                 "violent:true and countries:KZ or countries:UA"])
def test_kql_translation_refuses_what_it_does_not_know(kql: str) -> None:
    with pytest.raises(ValueError, match="KQL"):
        kql_to_query(kql)


# ----------------------------------------------------------------------------- the export


def test_saved_objects_are_kibana_8_exports_with_resolvable_references() -> None:
    objects = saved_objects()
    views = {i: o for i, o in objects.items() if o["type"] == "index-pattern"}
    searches = [o for o in objects.values() if o["type"] == "search"]
    settings = Settings()
    assert sorted(v["attributes"]["title"] for v in views.values()) == sorted(
        [f"{settings.stories_index}*", f"{settings.alerts_index}*"])
    for view in views.values():
        assert view["attributes"]["timeFieldName"] == "@timestamp"
        assert view["coreMigrationVersion"].startswith("8.")
        # The data view covers the alias and every rolled-over index behind it.
        title = view["attributes"]["title"]
        alias = title.rstrip("*")
        assert fnmatch.fnmatch(alias, title) and fnmatch.fnmatch(f"{alias}-000001", title)
    [search] = searches
    attributes = search["attributes"]
    assert attributes["title"] == "Violence in the last 24 h"
    assert attributes["columns"] == ["headline", "countries", "categories", "severity",
                                     "sources"]
    assert attributes["timeRestore"] is True
    assert attributes["timeRange"] == {"from": "now-24h", "to": "now"}
    source = search_source(search)
    assert source["query"] == {"query": "violent:true", "language": "kuery"}
    [reference] = search["references"]
    assert reference["name"] == source["indexRefName"]
    assert objects[reference["id"]]["attributes"]["title"] == f"{settings.stories_index}*"


def referenced_fields(obj: dict[str, Any]) -> list[str]:
    """Every document field a saved object names."""
    attributes = obj["attributes"]
    if obj["type"] == "index-pattern":
        return [attributes["timeFieldName"], *json.loads(attributes["fieldFormatMap"]),
                *json.loads(attributes["fieldAttrs"])]
    fields = [*attributes["columns"], *(field for field, _ in attributes["sort"])]
    return fields + kql_to_query(search_source(obj)["query"]["query"])[0]


# ----------------------------------------------------------------------------- live


def now_utc() -> datetime:
    return datetime.now(tz=UTC)


ALMATY_BODY = (
    "Η αστυνομία της Αλμάτι, της μεγαλύτερης πόλης και οικονομικής πρωτεύουσας του Καζακστάν, "
    "ανακοίνωσε ότι δεκάδες ταραξίες \"εξαλείφθηκαν\", μεταδίδει το ρωσικό πρακτορείο ειδήσεων "
    "Ίντερφαξ. Πυροβολισμοί ακούστηκαν καθώς οι στρατιώτες προσέγγιζαν το πλήθος, σύμφωνα με "
    "τους αυτόπτες μάρτυρες του Reuters."
)
KYIV_BODY = (
    "Через сильний снігопад у Києві ускладнено рух транспорту, на дорогах утворилися затори, "
    "повідомляє Київська міська державна адміністрація."
)


def tagged(story_id: str, body: str, headline: str, language: str, place: str, country: str,
           geonames_id: int, lat: float, lon: float, violence: list[ViolenceTag],
           sources: list[str], severity: int, published: datetime) -> TaggedStory:
    start = body.index(place[:4])
    location = LocationTag(text=body[start:start + len(place)], start=start,
                           end=start + len(place), name=place, country_code=country,
                           geonames_id=geonames_id, lat=lat, lon=lon, kind="city")
    return TaggedStory(
        id=story_id, body=body, headline=headline, language=language, languages=[language],
        source=sources[0] if sources else "", url="", published_at=format_utc(published),
        received_at=time.time(), tagged_at=time.time(), locations=[location],
        focus=FocusPlace(name=place, country_code=country, geonames_id=geonames_id, lat=lat,
                         lon=lon, kind="city"),
        violence=violence, categories=sorted({v.category for v in violence}),
        countries=[country], severity=severity, killed=0, injured=0, sources=sources,
        lemmas="", fingerprint=[],
    )


def live_stories() -> list[TaggedStory]:
    shots = ALMATY_BODY.index("Πυροβολισμοί")
    return [
        tagged("kibana-almaty", ALMATY_BODY,
               "Η αστυνομία της Αλμάτι ανακοινώνει ότι δεκάδες ταραξίες \"εξαλείφθηκαν\"",
               "el", "Αλμάτι", "KZ", 1526384, 43.25, 76.91667,
               [ViolenceTag(text="Πυροβολισμοί", start=shots, end=shots + 12,
                            category="shooting")],
               ["Interfax", "Reuters"], 62, now_utc() - timedelta(hours=2)),
        tagged("kibana-kyiv", KYIV_BODY, "У Києві через снігопад ускладнено рух транспорту",
               "uk", "Києві", "UA", 703448, 50.45466, 30.5238, [], [], 0,
               now_utc() - timedelta(hours=1)),
    ]


async def test_saved_objects_match_the_live_mapping_and_the_search_finds_violence(
    stack: Stack, uid: str, es: AsyncElasticsearch,
) -> None:
    settings = Settings()
    aliases = {settings.stories_index: f"t-{uid}-stories", settings.alerts_index: f"t-{uid}-alerts"}
    indexers = {
        settings.stories_index: BulkIndexer(es, aliases[settings.stories_index], "stories"),
        settings.alerts_index: BulkIndexer(es, aliases[settings.alerts_index], "alerts"),
    }
    try:
        for indexer in indexers.values():
            await indexer.setup()
        objects = saved_objects()
        views = {o["id"]: o for o in objects.values() if o["type"] == "index-pattern"}
        live_properties: dict[str, dict[str, Any]] = {}
        for view_id, view in views.items():
            default_alias = view["attributes"]["title"].rstrip("*")
            private = aliases[default_alias]
            pattern = f"{private}*"  # the same data view on this test's private alias
            # What the pattern reaches: the first index behind the alias, with the alias.
            resolved = (await es.indices.get(index=pattern)).body
            assert list(resolved) == [f"{private}-000001"]
            assert list(resolved[f"{private}-000001"]["aliases"]) == [private]
            mapping = await es.indices.get_mapping(index=private)
            [(concrete, body)] = mapping.body.items()
            assert fnmatch.fnmatch(concrete, pattern)
            live_properties[view_id] = body["mappings"]["properties"]

        checked = []
        for obj in objects.values():
            view_id = obj["id"] if obj["type"] == "index-pattern" else obj["references"][0]["id"]
            for field in referenced_fields(obj):
                found = mapped_field(live_properties[view_id], field)
                assert found is not None, f"{obj['id']}: {field} is not in the live mapping"
                assert not found.nested, f"{obj['id']}: {field} is nested"
                checked.append((obj["id"], field, found.type))
        assert ("wirewatch-stories", "@timestamp", "date") in checked
        assert ("wirewatch-violence-24h", "violent", "boolean") in checked
        assert ("wirewatch-alerts", "latency_seconds", "float") in checked

        stories = live_stories()
        rejected = await indexers[settings.stories_index].write(
            [(s.id, story_document(json.loads(s.dumps()))) for s in stories])
        assert rejected == []
        stories_alias = aliases[settings.stories_index]
        await es.indices.refresh(index=stories_alias)

        search = next(o for o in objects.values() if o["type"] == "search")
        attributes = search["attributes"]
        _, kql = kql_to_query(search_source(search)["query"]["query"])
        time_range = {"gte": attributes["timeRange"]["from"], "lte": attributes["timeRange"]["to"]}
        response = await es.search(
            index=stories_alias,
            query={"bool": {"filter": [kql, {"range": {"@timestamp": time_range}}]}},
            sort=[{field: {"order": order}} for field, order in attributes["sort"]],
            source_includes=attributes["columns"],
        )
        hits = response["hits"]["hits"]
        assert [h["_id"] for h in hits] == ["kibana-almaty"]
        row = hits[0]["_source"]
        assert row == {"headline": stories[0].headline, "countries": ["KZ"],
                       "categories": ["shooting"], "severity": 62,
                       "sources": ["Interfax", "Reuters"]}
        # Outside the saved 24 h window the same story is not shown.
        old = await es.search(index=stories_alias, query={"bool": {"filter": [
            kql, {"range": {"@timestamp": {"lte": "now-25h"}}}]}})
        assert old["hits"]["total"]["value"] == 0
    finally:
        await drop_indices(es, list(aliases.values()))
