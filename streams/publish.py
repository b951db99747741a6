"""`wirewatch publish`: put stories from feed files onto the raw topic, keyed by stable story id."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from streams.feeds import FeedError, read_stories
from streams.records import RawStory
from streams.settings import Settings


def stories_from_paths(paths: Iterable[Path], fmt: str | None = None) -> Iterator[RawStory]:
    """Every story of every file; a file that cannot be read raises FeedError naming it."""
    for path in paths:
        if not path.exists():
            raise FeedError(f"{path}: no such file; give paths of ninjs, JSON Lines, RSS/Atom or "
                            "text story files")
        yield from read_stories(path, fmt)


async def publish_stories(settings: Settings, stories: Iterable[RawStory], rate: float = 0.0,
                          topic: str | None = None) -> list[RawStory]:
    """Send stories to the raw topic (acks=all); stamps received_at; returns what was sent."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                linger_ms=5, enable_idempotence=True)
    try:
        await producer.start()
    except KafkaConnectionError as err:
        await producer.stop()
        raise ConnectionError(
            f"cannot reach Kafka at {settings.kafka_bootstrap} ({err}); start the local stack with "
            "`deploy/local/stack up` or set WIREWATCH_KAFKA_BOOTSTRAP to your brokers"
        ) from err
    sent: list[RawStory] = []
    pending = []
    interval = 1.0 / rate if rate > 0 else 0.0
    started = time.monotonic()
    try:
        for i, story in enumerate(stories):
            if interval:
                delay = started + i * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            story.received_at = time.time()
            pending.append(await producer.send(topic or settings.topic_raw,
                                               key=story.id.encode(), value=story.dumps()))
            sent.append(story)
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def run_publish(settings: Settings, paths: list[Path], fmt: str | None = None,
                rate: float = 0.0) -> int:
    try:
        stories = list(stories_from_paths(paths, fmt))
    except FeedError as err:
        print(f"wirewatch publish: {err}", file=sys.stderr)
        return 1
    if not stories:
        print("wirewatch publish: the files hold no stories", file=sys.stderr)
        return 1
    try:
        sent = asyncio.run(publish_stories(settings, stories, rate=rate))
    except ConnectionError as err:
        print(f"wirewatch publish: {err}", file=sys.stderr)
        return 1
    print(f"published {len(sent)} stories to {settings.topic_raw} at {settings.kafka_bootstrap}")
    return 0
