"""The local stack is real: Kafka groups and offsets, Elasticsearch search, Prometheus scraping."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry, Counter, start_http_server

from tests.conftest import REPO, STACK, Stack, alive, free_port

pytestmark = pytest.mark.integration


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def consume_n(bootstrap: str, topic: str, group: str, n: int,
                    timeout: float = 30) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=n - len(got))
            for records in batch.values():
                got.extend(r.value for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def test_consumer_group_offset_survives_kafka_restart(stack: Stack, uid: str) -> None:
    topic, group = f"t-{uid}-offsets", f"g-{uid}"
    await create_topic(stack.kafka, topic)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"story-{i}".encode(), key=f"k{i}".encode())
    finally:
        await producer.stop()

    first = await consume_n(stack.kafka, topic, group, 4)
    assert first == [f"story-{i}".encode() for i in range(4)]

    stack.restart("kafka")

    # The same group resumes after the committed offset: nothing re-read, nothing skipped.
    rest = await consume_n(stack.kafka, topic, group, 6, timeout=60)
    assert rest == [f"story-{i}".encode() for i in range(4, 10)]
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka, group_id=group)
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()
    assert committed == 10


async def test_elasticsearch_indexes_and_searches(stack: Stack, uid: str, es: object) -> None:
    from elasticsearch import AsyncElasticsearch

    assert isinstance(es, AsyncElasticsearch)
    index = f"t-{uid}-docs"
    await es.indices.create(index=index, mappings={"properties": {
        "headline": {"type": "text"}, "country": {"type": "keyword"},
        "point": {"type": "geo_point"},
    }})
    try:
        await es.index(index=index, id="a", document={
            "headline": "Shots heard in Almaty as troops enter the square", "country": "KZ",
            "point": {"lat": 43.25, "lon": 76.92},
        })
        await es.index(index=index, id="b", document={
            "headline": "Markets calm in Athens", "country": "GR",
            "point": {"lat": 37.98, "lon": 23.73},
        }, refresh=True)
        hits = (await es.search(index=index, query={"match": {"headline": "almaty shots"}}))["hits"]
        assert [h["_id"] for h in hits["hits"]] == ["a"]
        near = await es.search(index=index, query={"geo_distance": {
            "distance": "50km", "point": {"lat": 43.3, "lon": 76.9}}})
        assert [h["_id"] for h in near["hits"]["hits"]] == ["a"]
    finally:
        await es.indices.delete(index=index)


def prometheus_query(stack: Stack, expr: str) -> list[dict[str, object]]:
    url = f"{stack.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_scrapes_a_real_exporter(stack: Stack, uid: str) -> None:
    registry = CollectorRegistry()
    counter = Counter(f"wirewatch_probe_{uid}_total", "probe", registry=registry)
    counter.inc(7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    target = stack.state_dir / "prometheus" / "targets" / f"probe-{uid}.json"
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"probe": uid}}]))
    try:
        deadline = time.monotonic() + 45
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            result = prometheus_query(stack, f'wirewatch_probe_{uid}_total{{probe="{uid}"}}')
            if result:
                break
            time.sleep(1)
        assert result, "Prometheus never scraped the exporter"
        assert float(result[0]["value"][1]) == 7.0  # type: ignore[index]
    finally:
        target.unlink()
        server.shutdown()
        thread.join(5)


def test_stack_up_is_idempotent_and_down_leaves_nothing(tmp_path: Path) -> None:
    """A second checkout's stack on other ports: up twice, then down; no stray processes."""
    env = {**os.environ,
           "WIREWATCH_STATE_DIR": str(tmp_path / "state"),
           "WIREWATCH_KAFKA_PORT": str(free_port()),
           "WIREWATCH_KAFKA_CONTROLLER_PORT": str(free_port()),
           "WIREWATCH_ES_PORT": str(free_port()),
           "WIREWATCH_PROMETHEUS_PORT": str(free_port()),
           "WIREWATCH_ALERTMANAGER_PORT": str(free_port()),
           "WIREWATCH_ES_HEAP": "256m", "WIREWATCH_KAFKA_HEAP": "256m"}

    def stack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(STACK), *args], env=env, capture_output=True,
                              text=True, timeout=600, cwd=REPO)

    def stack_pids(service: str) -> str:
        line = next(ln for ln in stack("status", service).stdout.splitlines() if ln.startswith(service))
        return line.split("pid ")[1].split(")")[0]

    def our_processes() -> list[str]:
        out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        marker = str(tmp_path)
        return [line for line in out.splitlines()
                if marker in line and alive(line.split()[0])]

    services = ["kafka", "elasticsearch", "prometheus", "alertmanager"]
    try:
        first = stack("up", *services)
        assert first.returncode == 0, first.stdout + first.stderr
        pids = {s: stack_pids(s) for s in services}
        second = stack("up", *services)
        assert second.returncode == 0, second.stderr
        assert second.stdout.count("already up") == len(services), second.stdout
        assert {s: stack_pids(s) for s in services} == pids
        assert stack("status", *services).returncode == 0
    finally:
        down = stack("down", *services)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 30
    while our_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert our_processes() == []
    for service, pid in pids.items():
        assert not alive(pid), f"{service} (pid {pid}) still running after down"
    status = stack("status", *services)
    assert status.returncode == 1 and status.stdout.count("stopped") == len(services)


async def test_two_consumers_in_a_group_split_partitions(stack: Stack, uid: str) -> None:
    topic, group = f"t-{uid}-split", f"g-{uid}"
    await create_topic(stack.kafka, topic, partitions=4)
    consumers = [
        AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka, group_id=group,
                         auto_offset_reset="earliest")
        for _ in range(2)
    ]
    for c in consumers:
        await c.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await asyncio.gather(*(c.getmany(timeout_ms=200) for c in consumers))
            sizes = [len(c.assignment()) for c in consumers]
            if sizes == [2, 2]:
                break
        assert sorted(len(c.assignment()) for c in consumers) == [2, 2]
        assert not (consumers[0].assignment() & consumers[1].assignment())
    finally:
        for c in consumers:
            await c.stop()


def test_stack_script_explains_a_taken_port(stack: Stack, tmp_path: Path) -> None:
    env = {**os.environ, "WIREWATCH_STATE_DIR": str(tmp_path / "s"),
           "WIREWATCH_PROMETHEUS_PORT": str(stack.settings.kafka_port)}
    proc = subprocess.run([sys.executable, str(STACK), "up", "prometheus"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 1
    assert f"port {stack.settings.kafka_port}" in proc.stderr
    assert "WIREWATCH_PROMETHEUS_PORT" in proc.stderr
