"""The Faust app and the wire topics, declared once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TopicT

from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic wirewatch reads or writes."""

    # Values are bytes on every topic: each agent decodes them itself, so a message it cannot
    # decode goes to the dead-letter topic with a reason instead of being skipped by the consumer.
    raw: TopicT  # RawStory JSON as published; validated by the tag agent
    tagged: TopicT  # TaggedStory JSON, keyed by focus country code (co-partitions clusters, bursts)
    alerts: TopicT  # Alert JSON, keyed by alert id
    deadletter: TopicT  # original bytes; reason, detail and origin in message headers


async def _seek_to_committed_or_beginning(self: AIOKafkaConsumerThread) -> Mapping[Any, int]:
    """Faust seeks stream partitions to their committed offsets after every assignment. aiokafka
    leaves a partition without a committed offset wherever fetching had got to, and Faust drops
    records it fetched for a partition that was not active yet (during recovery): stories
    published while a worker joins or restarts were then skipped. Such partitions go back to
    their beginning instead, so every story is read at least once (the topics' earliest offset
    is the auto_offset_reset policy anyway)."""
    consumer = self._ensure_consumer()

    async def seek() -> Mapping[Any, int]:
        committed: Mapping[Any, int] = await consumer.seek_to_committed()
        uncommitted = [tp for tp, offset in committed.items() if not offset]
        if uncommitted:
            await consumer.seek_to_beginning(*uncommitted)
        return committed

    result: Mapping[Any, int] = await self.call_thread(seek)
    return result


AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_beginning  # type: ignore[method-assign]


def build_app(settings: Settings) -> tuple[faust.App, Topics]:
    """A Faust app tuned for quick group joins and at-least-once delivery, and its topics."""
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_url,
        store="memory://",  # tables are rebuilt from their changelog topics on start
        datadir=str(settings.state_dir / "faust"),
        web_host=settings.bind_host,
        web_port=settings.web_port,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_commit_interval=1.0,
        broker_commit_every=1000,
        stream_wait_empty=False,
        producer_acks=-1,
        producer_linger_ms=5,
        web_enabled=True,
    )
    topics = Topics(
        raw=app.topic(settings.topic_raw, value_serializer="raw", value_type=bytes,
                      key_serializer="raw"),
        tagged=app.topic(settings.topic_tagged, value_serializer="raw", value_type=bytes,
                         key_serializer="raw"),
        alerts=app.topic(settings.topic_alerts, value_serializer="raw", value_type=bytes,
                         key_serializer="raw"),
        deadletter=app.topic(settings.topic_deadletter, value_serializer="raw",
                             value_type=bytes, key_serializer="raw"),
    )
    return app, topics
