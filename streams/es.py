"""Elasticsearch adapters: index templates, story/alert documents, bulk writes that retry until acked."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from elasticsearch import ConnectionError as ESConnectionError

from streams import metrics
from streams.records import Alert
from streams.settings import Settings

log = logging.getLogger(__name__)

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / "es"
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


def es_client(settings: Settings) -> AsyncElasticsearch:
    """An async client for settings.es_url with the configured credentials."""
    kwargs: dict[str, Any] = {"request_timeout": 30, "max_retries": 0}
    if settings.es_api_key:
        kwargs["api_key"] = settings.es_api_key.reveal()
    elif settings.es_username:
        kwargs["basic_auth"] = (settings.es_username, settings.es_password.reveal())
    return AsyncElasticsearch(settings.es_url, **kwargs)


def load_template(name: str) -> dict[str, Any]:
    """The index template in schemas/es/<name>.template.json."""
    return json.loads((SCHEMAS / f"{name}.template.json").read_text(encoding="utf-8"))


def _epoch_to_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


# Fields a tagged story's JSON must carry to become a document (the rest have defaults here).
_REQUIRED_STORY_FIELDS = ("id", "body", "received_at", "tagged_at")


def decode_tagged_story(value: object) -> dict[str, Any] | str:
    """The JSON object of a TaggedStory message (as the tag agent wrote it), or why it is not
    one. Decoded as plain JSON: the index agent needs no Record objects, only the fields."""
    if not isinstance(value, bytes):
        return f"value is {type(value).__name__}, expected TaggedStory JSON bytes"
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as err:
        return f"not a TaggedStory: not JSON: {err}"[:1000]
    if not isinstance(data, dict):
        return f"not a TaggedStory: a JSON {type(data).__name__}, not an object"
    missing = [name for name in _REQUIRED_STORY_FIELDS if name not in data]
    if missing or not isinstance(data["id"], str) or not data["id"]:
        return f"not a TaggedStory: missing or empty {', '.join(missing) or 'id'}"
    return data


def story_document(story: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """The Elasticsearch document of a tagged story, from its JSON object (TaggedStory fields;
    mapping: schemas/es/stories.template.json)."""
    focus = None
    f = story.get("focus")
    if f:
        focus = {
            "name": f["name"], "country_code": f["country_code"],
            "geonames_id": f["geonames_id"], "kind": f["kind"],
            "point": {"lat": f["lat"], "lon": f["lon"]},
        }
    mentions = story.get("locations") or []
    locations = [
        {
            "text": m["text"], "start": m["start"], "end": m["end"], "name": m["name"],
            "country_code": m["country_code"], "geonames_id": m["geonames_id"],
            "kind": m["kind"], "point": {"lat": m["lat"], "lon": m["lon"]},
        }
        for m in mentions
    ]
    violence = story.get("violence") or []
    # @timestamp is when the wire reached wirewatch: dashboards and "--since" follow arrival, so
    # a late or re-sent story still shows up now; the feed's own date stays in published_at.
    stamp = _epoch_to_iso(story["received_at"] or story["tagged_at"])
    return {
        "@timestamp": stamp,
        "id": story["id"],
        "headline": story.get("headline", ""),
        "body": story["body"],
        "lemmas": story.get("lemmas", ""),
        "language": story.get("language", "und"),
        "languages": story.get("languages", []),
        "source": story.get("source", ""),
        "url": story.get("url", ""),
        "published_at": story.get("published_at"),
        "received_at": story["received_at"],
        "tagged_at": story["tagged_at"],
        "indexed_at": time.time() if now is None else now,
        "countries": story.get("countries", []),
        "categories": story.get("categories", []),
        "sources": story.get("sources", []),
        "place_names": sorted({m["name"] for m in mentions}),
        "place_ids": sorted({str(m["geonames_id"]) for m in mentions if m["geonames_id"]}),
        "place_points": [loc["point"] for loc in locations],
        "severity": story.get("severity", 0),
        "killed": story.get("killed", 0),
        "injured": story.get("injured", 0),
        "violent": bool(violence),
        "violence_terms": sorted({v["text"] for v in violence}),
        "focus": focus,
        "locations": locations,
        "violence": [
            {"text": v["text"], "start": v["start"], "end": v["end"], "category": v["category"]}
            for v in violence
        ],
    }


def alert_document(alert: Alert) -> dict[str, Any]:
    """The Elasticsearch document of an alert (mapping: schemas/es/alerts.template.json)."""
    doc = alert.asdict()
    doc.pop("__faust", None)
    lat, lon = doc.pop("lat", None), doc.pop("lon", None)
    doc["point"] = {"lat": lat, "lon": lon} if lat is not None and lon is not None else None
    doc["@timestamp"] = _epoch_to_iso(alert.updated_at)
    doc["severity_band"] = metrics.severity_band(alert.severity)
    return doc


@dataclass(frozen=True, slots=True)
class Rejected:
    """A document Elasticsearch refused for good (mapping error): retrying cannot help."""

    doc_id: str
    status: int
    reason: str


class BulkIndexer:
    """Writes documents to one alias with `_id` = the record key, so redelivery overwrites.

    `write()` returns only once Elasticsearch has acknowledged every document (or refused it
    for good); connection failures, 429s and 5xxs are retried with capped exponential backoff,
    for as long as it takes. The caller commits offsets after `write()` returns.
    """

    def __init__(self, client: AsyncElasticsearch, alias: str, template: str,
                 max_backoff: float = 15.0) -> None:
        self.client = client
        self.alias = alias
        self.template = template
        self.max_backoff = max_backoff

    async def setup(self) -> None:
        """Install the index template and the first index behind the alias, if missing; roll the
        alias over to a new index when its write index has an older mapping than the template."""
        body = load_template(self.template)
        body["index_patterns"] = [f"{self.alias}-*"]
        # Every index carries the version of the mapping it was created with.
        version = int(body.get("_meta", {}).get("schema_version", 1))
        body["template"]["mappings"]["_meta"] = {"schema_version": version}
        await self._retrying("setup", self._setup, body, version)

    async def _setup(self, body: dict[str, Any], version: int) -> None:
        await self.client.indices.put_index_template(name=self.alias, **body)
        if not await self.client.indices.exists_alias(name=self.alias):
            first = f"{self.alias}-000001"
            if not await self.client.indices.exists(index=first):
                await self.client.indices.create(
                    index=first, aliases={self.alias: {"is_write_index": True}}
                )
            return
        write_index = await self._write_index()
        mappings = (await self.client.indices.get_mapping(index=write_index))[write_index]["mappings"]
        current = int(mappings.get("_meta", {}).get("schema_version", 0))
        if current < version:
            # Documents of the new shape would be refused by the old strict mapping: new writes
            # go to a new index; searches through the alias still see the old documents.
            result = await self.client.indices.rollover(alias=self.alias)
            log.info("%s: mapping version %d -> %d, writes now go to %s", self.alias, current,
                     version, result["new_index"])

    async def _write_index(self) -> str:
        aliases = await self.client.indices.get_alias(name=self.alias)
        for index, entry in aliases.items():
            if entry["aliases"][self.alias].get("is_write_index"):
                return str(index)
        if len(aliases) == 1:  # a lone index is the write index even without the flag
            return str(next(iter(aliases)))
        raise RuntimeError(f"alias {self.alias} has no write index; set is_write_index on one "
                           f"of {', '.join(sorted(aliases))}")

    async def write(self, docs: Sequence[tuple[str, dict[str, Any]]]) -> list[Rejected]:
        """Index docs (id, source); returns those refused for good."""
        # Each action and document is encoded once (orjson), not again on every retry.
        pending = [(doc_id, orjson.dumps({"index": {"_index": self.alias, "_id": doc_id}}),
                    orjson.dumps(source)) for doc_id, source in docs]
        rejected: list[Rejected] = []
        attempt = 0
        while pending:
            operations = [line for _, action, source in pending for line in (action, source)]
            started = time.perf_counter()
            try:
                # Lines already encoded go out as they are (the client's NDJSON serializer
                # passes bytes through); its annotation only names dicts.
                resp = await self.client.bulk(
                    operations=operations, refresh=False)  # type: ignore[arg-type]
            except (ESConnectionError, TransportError, ApiError) as err:
                if isinstance(err, ApiError) and err.meta.status not in _RETRYABLE_STATUS:
                    raise
                metrics.ES_BULK_ERRORS.labels(self.alias, "connection").inc()
                attempt += 1
                await self._backoff(attempt, f"bulk request failed: {err}")
                continue
            finally:
                metrics.ES_BULK_SECONDS.labels(self.alias).observe(time.perf_counter() - started)
            retry: list[tuple[str, bytes, bytes]] = []
            for (doc_id, action, source), item in zip(pending, resp["items"], strict=True):
                result = item["index"]
                status = int(result.get("status", 500))
                if status < 300:
                    metrics.ES_DOCS_INDEXED.labels(self.alias).inc()
                elif status in _RETRYABLE_STATUS:
                    retry.append((doc_id, action, source))
                else:
                    metrics.ES_BULK_ERRORS.labels(self.alias, "item").inc()
                    error = result.get("error", {})
                    rejected.append(Rejected(doc_id, status, json.dumps(error)[:2000]))
            pending = retry
            if pending:
                metrics.ES_BULK_ERRORS.labels(self.alias, "item_retryable").inc(len(pending))
                attempt += 1
                await self._backoff(attempt, f"{len(pending)} documents were not accepted yet")
        return rejected

    async def _backoff(self, attempt: int, why: str) -> None:
        metrics.ES_BULK_RETRIES.labels(self.alias).inc()
        delay = min(self.max_backoff, 0.2 * 2 ** min(attempt, 10)) * (0.5 + random.random() / 2)  # noqa: S311
        log.warning("Elasticsearch %s: %s; retry %d in %.1fs", self.alias, why, attempt, delay)
        await asyncio.sleep(delay)

    async def _retrying(self, what: str, fn: Any, *args: Any) -> None:
        attempt = 0
        while True:
            try:
                await fn(*args)
                return
            except (ESConnectionError, TransportError, ApiError) as err:
                if isinstance(err, ApiError) and err.meta.status not in _RETRYABLE_STATUS:
                    raise
                attempt += 1
                await self._backoff(attempt, f"{what} failed: {err}")
