"""The index agents: tagged stories and alerts -> Elasticsearch, offsets acked only after the bulk ack."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT

from streams import metrics
from streams.app import Topics
from streams.deadletter import send_to_deadletter
from streams.es import BulkIndexer, alert_document, decode_tagged_story, story_document
from streams.records import Alert


def decode_record(record_type: type[faust.Record], value: object) -> faust.Record | str:
    """Decode a record from message bytes, or say why it cannot be decoded."""
    if not isinstance(value, bytes):
        return f"value is {type(value).__name__}, expected JSON bytes"
    try:
        return record_type.loads(value)
    except Exception as err:  # any decoding failure is a dead letter, never a crash
        return f"not a {record_type.__name__}: {type(err).__name__}: {err}"[:1000]


def story_doc(value: object) -> tuple[str, dict[str, Any]] | str:
    """(id, document) of a tagged-topic message, or why it cannot be indexed."""
    data = decode_tagged_story(value)
    if isinstance(data, str):
        return data
    try:
        return data["id"], story_document(data)
    except (KeyError, TypeError, ValueError, OverflowError) as err:  # a field of the wrong shape
        return f"not a TaggedStory: {type(err).__name__}: {err}"[:1000]


def alert_doc(value: object) -> tuple[str, dict[str, Any]] | str:
    """(id, document) of an alerts-topic message, or why it cannot be indexed."""
    alert = decode_record(Alert, value)
    if isinstance(alert, str):
        return alert
    assert isinstance(alert, Alert)
    return alert.id, alert_document(alert)


def register_index_agents(app: faust.App, topics: Topics, stories: BulkIndexer,
                          alerts: BulkIndexer, batch_size: int) -> tuple[Any, Any]:
    """Declare `index_stories` and `index_alerts` on app."""

    async def index_batch(stream: Stream[bytes], batch: Sequence[EventT], indexer: BulkIndexer,
                          to_doc: Callable[[object], tuple[str, dict[str, Any]] | str],
                          stage: str) -> None:
        docs: list[tuple[str, dict[str, Any]]] = []
        by_id: dict[str, EventT] = {}
        for event in batch:
            decoded = to_doc(event.message.value)
            if isinstance(decoded, str):
                await send_to_deadletter(topics.deadletter, event.message, "undecodable",
                                         decoded, stage=stage)
                continue
            docs.append(decoded)
            by_id[decoded[0]] = event
        if docs:
            if stage == "index":
                metrics.STORIES_IN.labels("index").inc(len(docs))
            # Duplicate ids inside one batch (a re-send): the last version wins, as in Kafka order.
            latest = list({doc_id: (doc_id, doc) for doc_id, doc in docs}.values())
            rejected = await indexer.write(latest)
            for item in rejected:
                await send_to_deadletter(
                    topics.deadletter, by_id[item.doc_id].message, "es_rejected",
                    f"Elasticsearch refused document {item.doc_id} with status {item.status}: "
                    f"{item.reason}", stage=stage,
                )
            if stage == "index":
                now = time.time()
                metrics.STORIES_OUT.labels("index").inc(len(latest) - len(rejected))
                metrics.LAST_STORY_TIMESTAMP.labels("index").set(now)
                for _, doc in latest:
                    if doc.get("received_at"):
                        metrics.INGEST_TO_INDEX_SECONDS.observe(max(0.0, now - doc["received_at"]))
        for event in batch:
            await stream.ack(event)

    @app.agent(topics.tagged, name="index_stories")
    async def index_stories(stream: StreamT[bytes]) -> None:
        stream = cast(Stream[bytes], stream)  # noack_take lives on the concrete class
        # (event with TaggedStory JSON) -> Elasticsearch stories alias
        async for batch in stream.noack_take(batch_size, within=0.2):
            # noack_take yields the events themselves, so each can be acked after the write.
            await index_batch(stream, cast(list[EventT], batch), stories, story_doc, "index")

    @app.agent(topics.alerts, name="index_alerts")
    async def index_alerts(stream: StreamT[bytes]) -> None:
        stream = cast(Stream[bytes], stream)  # noack_take lives on the concrete class
        # (event with Alert JSON) -> Elasticsearch alerts alias
        async for batch in stream.noack_take(batch_size, within=0.2):
            await index_batch(stream, cast(list[EventT], batch), alerts, alert_doc,
                              "index_alerts")

    return index_stories, index_alerts
