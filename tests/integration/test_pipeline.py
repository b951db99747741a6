"""The whole path on the real stack: publish -> tag -> Elasticsearch -> alerts, and its failure modes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from elasticsearch import AsyncElasticsearch

from streams.feeds import read_stories, text_story
from streams.publish import publish_stories
from streams.records import Alert, RawStory
from streams.webhooks import verify_signature
from tests.conftest import SAMPLE_STORY, Pipeline, alive
from tests.localhttp import LocalServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BUNDLED_SAMPLE = REPO / "streams" / "samples" / "almaty-2022-01-el.txt"
SECRET = "test-secret-for-signatures"

AGENCY_VERSIONS = [
    ("reuters-1", "Reuters", "Kazakh troops open fire on protesters in Almaty square",
     "ALMATY, Jan 5 (Reuters) - Kazakh troops opened fire on protesters in the main square of "
     "Almaty on Wednesday and dozens of people were killed, witnesses said, as unrest spread "
     "across Kazakhstan. Armoured vehicles entered the square and shots were heard for hours. "
     "Protesters stormed the mayor's office and set fire to the building, police said."),
    ("tass-1", "TASS", "Troops open fire on protesters in Almaty's main square",
     "ALMATY, January 5 (TASS) - Troops opened fire on protesters in the main square of Almaty "
     "on Wednesday and dozens of people were killed, witnesses said, as unrest spread across "
     "Kazakhstan. Armoured vehicles entered the square and shots were heard for hours. "
     "Protesters stormed the mayor's office and set fire to the building, police said."),
    ("interfax-1", "Interfax", "Kazakh troops fire on protesters in Almaty",
     "ALMATY, Jan 5 (Interfax) - Kazakh troops opened fire on protesters in the central square "
     "of Almaty on Wednesday and dozens of people were killed, witnesses said, as unrest spread "
     "across Kazakhstan. Armoured vehicles entered the square and shots were heard for hours. "
     "Protesters stormed the mayor's office and set fire to the building, police said today."),
]


def rules_yaml(webhook_url: str) -> str:
    return f"""
version: 1
desks:
  eurasia:
    webhooks:
      - url: {webhook_url}
        format: json
        secret: {SECRET}
rules:
  - name: kz-violence
    desk: eurasia
    match:
      countries: [KZ]
      categories: [killing, shooting, armed_clash, storming, riot_unrest, arson]
"""


class Receiver:
    """A real HTTP webhook receiver on 127.0.0.1 that checks signatures."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.server = LocalServer([("POST", "/hook", self.handle)])

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(SECRET, request.headers, body)
        if not ok:
            self.bad_signatures += 1
            return web.Response(status=401)
        self.received.append(json.loads(body))
        return web.Response(status=204)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
def kz_pipeline(pipeline: Pipeline, receiver: Receiver) -> Pipeline:
    pipeline.rules_file = pipeline.tmp / "rules.yaml"
    pipeline.rules_file.write_text(rules_yaml(receiver.url))
    return pipeline


async def collect(bootstrap: str, topic: str, until: Any, timeout: float) -> list[Any]:
    """Read a topic from the start until `until(records)` holds or the timeout passes."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None)
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(records):
            batch = await consumer.getmany(timeout_ms=300)
            for rs in batch.values():
                records.extend(rs)
    finally:
        await consumer.stop()
    return records


async def es_count(es: AsyncElasticsearch, index: str) -> int:
    try:
        await es.indices.refresh(index=index)
        return int((await es.count(index=index))["count"])
    except Exception:
        return -1


async def wait_count(es: AsyncElasticsearch, index: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        count = await es_count(es, index)
        if count >= expected:
            # Give stragglers a moment: a count above `expected` would be a duplicate.
            await asyncio.sleep(1.0)
            return await es_count(es, index)
        await asyncio.sleep(0.5)
    return count


def many_stories(uid: str, n: int) -> list[RawStory]:
    """n distinct stories (unique ids, varied text) built from the bundled sample."""
    base = text_story(BUNDLED_SAMPLE.read_text(encoding="utf-8"))
    assert base is not None
    out = []
    for i in range(n):
        out.append(RawStory(id=f"{uid}-{i:05d}", body=f"{base.body}\n\nΕνημέρωση {i}.",
                            headline=f"{base.headline} ({i})", source="ANA-MPA", format="text"))
    return out


async def test_greek_sample_flows_to_es_alert_topic_webhook(kz_pipeline: Pipeline, es: Any,
                                                            receiver: Receiver) -> None:
    worker = kz_pipeline.worker().start()
    s = kz_pipeline.settings
    stories = list(read_stories(SAMPLE_STORY))
    assert len(stories) == 1
    sent_at = time.time()
    await publish_stories(s, stories)

    records = await collect(s.kafka_bootstrap, s.topic_alerts, lambda rs: len(rs) >= 1, 60)
    assert records, f"no alert arrived; worker log:\n{worker.log()[-3000:]}"
    alert = Alert.loads(records[0].value)
    assert alert.desk == "eurasia" and alert.kind == "rule" and not alert.update
    assert "KZ" in alert.countries
    assert {"killing", "shooting"} <= set(alert.categories)
    assert alert.story_id == stories[0].id
    assert 0 <= alert.latency_seconds < time.time() - sent_at + 1

    assert await wait_count(es, s.stories_index, 1, 30) == 1
    doc = (await es.get(index=s.stories_index, id=stories[0].id))["_source"]
    assert "Almaty" in doc["place_names"] and "KZ" in doc["countries"]
    assert doc["focus"]["country_code"] == "KZ"
    assert {"Interfax", "Reuters", "TASS", "Sputnik"} <= set(doc["sources"])
    assert doc["language"] == "el" and "en" in doc["languages"]
    hits = await es.search(index=s.stories_index, query={"match": {"lemmas": "αλματι"}})
    assert hits["hits"]["total"]["value"] == 1

    assert await wait_count(es, s.alerts_index, 1, 30) == 1
    deadline = time.monotonic() + 20
    while not receiver.received and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert receiver.bad_signatures == 0
    assert [r["id"] for r in receiver.received] == [alert.id]
    assert 'wirewatch_webhook_deliveries_total{desk="eurasia",outcome="delivered"} 1.0' \
        in worker.metrics()


async def test_three_agency_versions_make_one_alert(kz_pipeline: Pipeline, es: Any,
                                                    receiver: Receiver) -> None:
    kz_pipeline.worker().start()
    s = kz_pipeline.settings
    stories = [RawStory(id=f"{kz_pipeline.uid}-{sid}", source=src, headline=h, body=b,
                        language="en") for sid, src, h, b in AGENCY_VERSIONS]
    for story in stories:  # one after the other, as wires arrive
        await publish_stories(s, [story])
        await asyncio.sleep(0.3)
    records = await collect(s.kafka_bootstrap, s.topic_alerts,
                            lambda rs: any(Alert.loads(r.value).story_count >= 3 for r in rs), 60)
    alerts = [Alert.loads(r.value) for r in records]
    assert len({a.id for a in alerts}) == 1, [a.id for a in alerts]
    assert [a.update for a in alerts] == [False, True, True]
    final = alerts[-1]
    assert final.story_count == 3 and set(final.sources) == {"Reuters", "TASS", "Interfax"}
    assert "+2 sources" in final.message or "TASS" in final.message
    await asyncio.sleep(2)
    assert len(receiver.received) == 1, "a cluster must page its desk once"
    assert await wait_count(es, s.alerts_index, 1, 30) == 1
    alert_doc = (await es.get(index=s.alerts_index, id=final.id))["_source"]
    assert alert_doc["story_count"] == 3


async def test_bad_input_goes_to_deadletter_and_stream_continues(pipeline: Pipeline,
                                                                 es: Any) -> None:
    pipeline.worker(WIREWATCH_MAX_BODY_BYTES="8000").start()
    s = pipeline.settings
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap)
    await producer.start()
    bad = {
        "not_json": b"this is not json {",
        "invalid_utf8": b'{"id": "x", "body": "\xff\xfe caf\xe9"}',
        "empty_body": json.dumps({"id": "e", "body": "   "}).encode(),
        "schema": json.dumps({"id": 5, "body": ["list"]}).encode(),
        "body_too_large": json.dumps({"id": "big", "body": "Almaty " * 2000}).encode(),
    }
    try:
        for value in bad.values():
            await producer.send_and_wait(s.topic_raw, value, key=b"bad")
    finally:
        await producer.stop()
    good = many_stories(pipeline.uid, 1)
    await publish_stories(s, good)

    assert await wait_count(es, s.stories_index, 1, 60) == 1
    records = await collect(s.kafka_bootstrap, s.topic_deadletter, lambda rs: len(rs) >= 5, 30)
    reasons = {dict(r.headers)["wirewatch-reason"].decode(): r.value for r in records}
    assert set(reasons) == set(bad), reasons.keys()
    for reason, original in bad.items():
        assert reasons[reason] == original, f"{reason}: original bytes must be kept"
    detail = {dict(r.headers)["wirewatch-reason"].decode(): dict(r.headers)["wirewatch-detail"]
              for r in records}
    assert all(len(d) > 10 for d in detail.values())


async def test_worker_killed_mid_stream_loses_and_duplicates_nothing(pipeline: Pipeline,
                                                                     es: Any) -> None:
    s = pipeline.settings
    first = pipeline.worker().start()
    stories = many_stories(pipeline.uid, 400)
    publishing = asyncio.create_task(publish_stories(s, stories, rate=100))
    await asyncio.sleep(1.5)
    import signal

    tagging_processes = first.child_pids()
    assert tagging_processes, "the worker should tag in a child process"
    first.stop(sig=signal.SIGKILL)  # the harshest restart: no clean shutdown, no final commit
    await publishing
    # The tagging process notices its worker is gone and exits: no orphan holds memory.
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in tagging_processes) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not any(alive(pid) for pid in tagging_processes)
    pipeline.worker().start()
    count = await wait_count(es, s.stories_index, len(stories), 120)
    assert count == len(stories)
    ids = await es.search(index=s.stories_index, size=0,
                          aggs={"ids": {"cardinality": {"field": "id"}}})
    assert ids["aggregations"]["ids"]["value"] == len(stories)


async def test_elasticsearch_outage_delays_but_loses_nothing(pipeline: Pipeline, es: Any) -> None:
    s = pipeline.settings
    worker = pipeline.worker().start()
    await publish_stories(s, many_stories(pipeline.uid + "a", 20))
    assert await wait_count(es, s.stories_index, 20, 60) == 20

    down = pipeline.stack.run("down", "elasticsearch")
    assert down.returncode == 0, down.stderr
    try:
        await publish_stories(s, many_stories(pipeline.uid + "b", 30))
        await asyncio.sleep(8)  # the worker keeps retrying; it must not crash or commit
        assert worker.proc is not None and worker.proc.poll() is None
        assert "wirewatch_es_bulk_retries_total" in worker.metrics()
    finally:
        up = pipeline.stack.run("up", "elasticsearch")
        assert up.returncode == 0, up.stdout + up.stderr
    assert await wait_count(es, s.stories_index, 50, 120) == 50


async def test_kafka_restart_loses_nothing(pipeline: Pipeline, es: Any) -> None:
    s = pipeline.settings
    pipeline.worker().start()
    await publish_stories(s, many_stories(pipeline.uid + "a", 30))
    assert await wait_count(es, s.stories_index, 30, 60) == 30
    pipeline.stack.restart("kafka")
    await publish_stories(s, many_stories(pipeline.uid + "b", 30))
    assert await wait_count(es, s.stories_index, 60, 120) == 60


async def test_two_workers_share_partitions_and_index_each_story_once(pipeline: Pipeline,
                                                                      es: Any) -> None:
    s = pipeline.settings
    a = pipeline.worker().start()
    b = pipeline.worker().start()
    stories = many_stories(pipeline.uid, 200)
    await publish_stories(s, stories)
    assert await wait_count(es, s.stories_index, 200, 120) == 200

    def tagged(worker: Any) -> float:
        for line in worker.metrics().splitlines():
            if line.startswith('wirewatch_stories_out_total{stage="tag"}'):
                return float(line.split()[-1])
        return 0.0

    counts = [tagged(a), tagged(b)]
    assert all(c > 0 for c in counts), f"both workers must take a share: {counts}"
    assert sum(counts) >= 200
