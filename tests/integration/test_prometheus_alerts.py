"""Alerting end to end: a real worker's metrics fire a rule in the real Prometheus, and the real
Alertmanager routes and delivers it to a webhook receiver run by the test."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaProducer

from streams.publish import publish_stories, stories_from_paths
from tests.conftest import REPO, Pipeline, Stack
from tests.localhttp import LocalServer

pytestmark = pytest.mark.integration

PRODUCTION_RULES = REPO / "deploy" / "prometheus" / "rules" / "wirewatch.yml"
SAMPLE_WIRES = REPO / "streams" / "samples" / "wires-2022-01.jsonl"
DEADLETTER_SELECTOR = 'wirewatch_deadletter_total{job="wirewatch"}'

# Malformed messages as producers really get them wrong: each one is dead-lettered as not_json.
NOT_JSON = [
    b"not json",
    b'{"id": "reuters-1", "headline": "Shots in Almaty"',  # cut off mid-object
    "ΑΛΜΑΤΙ: πυροβολισμοί στην κεντρική πλατεία".encode(),  # plain text, not a JSON object
    b"\x00\x01\x02\x03",
]


def webhook_port() -> int:
    """The port Alertmanager's receivers post to, read as deploy/local/stack reads it."""
    return int(os.environ.get("WIREWATCH_ALERT_WEBHOOK_PORT") or 19096)


class AlertReceiver:
    """Alertmanager's webhook receiver: a real aiohttp server on 127.0.0.1 that keeps every post."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.posts: list[dict[str, Any]] = []
        self.server = LocalServer([("POST", "/alertmanager", self._handle)], port=port)

    async def _handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        return web.Response(text="ok")

    async def start(self) -> None:
        try:
            await self.server.start()
        except OSError as err:
            pytest.fail(f"cannot listen on 127.0.0.1:{self.port} for Alertmanager's webhooks "
                        f"({err}); stop what holds the port or set WIREWATCH_ALERT_WEBHOOK_PORT "
                        "and restart alertmanager (deploy/local/stack down/up alertmanager)")

    async def stop(self) -> None:
        await self.server.stop()

    def alerts(self, **labels: str) -> list[tuple[str, dict[str, Any]]]:
        """(receiver, alert) for every delivered alert whose labels include `labels`."""
        return [(post["receiver"], alert) for post in self.posts for alert in post["alerts"]
                if labels.items() <= alert["labels"].items()]

    async def wait_for(self, timeout: float, **labels: str) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.alerts(**labels)
            if found:
                return found
            await asyncio.sleep(0.5)
        raise AssertionError(f"no alert with labels {labels} reached the receiver within "
                             f"{timeout:.0f}s; it got {json.dumps(self.posts)[:3000]}")


@pytest.fixture
async def receiver() -> AsyncIterator[AlertReceiver]:
    r = AlertReceiver(webhook_port())
    await r.start()
    yield r
    await r.stop()


def http_json(url: str, body: object | None = None, method: str = "GET") -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw.strip() else None


def prometheus_query(stack: Stack, expr: str) -> list[dict[str, Any]]:
    url = f"{stack.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = http_json(url)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


async def wait_until(what: str, check: Callable[[], bool], timeout: float,
                     explain: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(1)
    raise AssertionError(f"not {what} within {timeout:.0f}s\n{explain()}")


def reload_prometheus(stack: Stack) -> None:
    req = urllib.request.Request(f"{stack.prometheus_url}/-/reload", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def loaded_rule_groups(stack: Stack) -> set[str]:
    groups = http_json(f"{stack.prometheus_url}/api/v1/rules")["data"]["groups"]
    return {g["name"] for g in groups}


def production_rule(alertname: str) -> dict[str, Any]:
    doc = yaml.safe_load(PRODUCTION_RULES.read_text())
    found = [r for g in doc["groups"] for r in g["rules"] if r.get("alert") == alertname]
    assert len(found) == 1, f"{alertname}: expected one rule in {PRODUCTION_RULES}, got {found}"
    return dict(found[0])


def narrowed_rule(alertname: str, selector: str, instance: str, uid: str) -> dict[str, Any]:
    """The production rule narrowed to one scrape target, firing at once, marked with the run."""
    rule = production_rule(alertname)
    expr = str(rule["expr"])
    assert expr.count(selector) == 1, f"{alertname}'s expression no longer reads {selector}: {expr}"
    narrowed = selector[:-1] + f', instance="{instance}"}}'
    return {**rule, "expr": expr.replace(selector, narrowed), "for": "0s",
            "labels": {**rule["labels"], "test_run": uid}}


async def send_raw(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send(topic, value=value, key=f"bad-{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def test_dead_letters_from_a_real_worker_page_the_operators(
    stack: Stack, pipeline: Pipeline, uid: str, receiver: AlertReceiver,
) -> None:
    rules_glob = str(stack.state_dir / "prometheus" / "rules" / "*.yml")
    config = http_json(f"{stack.prometheus_url}/api/v1/status/config")["data"]["yaml"]
    assert rules_glob in config, (
        f"the running Prometheus does not read {rules_glob}; it was started from an older "
        "deploy/prometheus/prometheus.yml: run `deploy/local/stack down prometheus && "
        "deploy/local/stack up prometheus`")

    worker = await asyncio.to_thread(pipeline.worker().start)
    instance = f"127.0.0.1:{worker.settings.metrics_port}"
    target = stack.state_dir / "prometheus" / "targets" / f"alerts-{uid}.json"
    rule_file = stack.state_dir / "prometheus" / "rules" / f"test-{uid}.yml"
    try:
        target.write_text(json.dumps([{"targets": [instance]}]))
        # Real stories and one malformed message, so the dead-letter series exists before the
        # spike: rate() counts increases between scrapes, not a counter's first value.
        stories = list(stories_from_paths([SAMPLE_WIRES]))[:12]
        await publish_stories(pipeline.settings, stories)
        await send_raw(stack.kafka, pipeline.settings.topic_raw, NOT_JSON[:1])
        tagged = f'wirewatch_stories_out_total{{instance="{instance}", stage="tag"}}'
        dead = f'wirewatch_deadletter_total{{instance="{instance}", reason="not_json"}}'
        await wait_until(
            "Prometheus scraped the worker's tagged stories and first dead letter",
            lambda: (sum(float(s["value"][1]) for s in prometheus_query(stack, tagged))
                     >= len(stories) and bool(prometheus_query(stack, dead))),
            timeout=120,
            explain=lambda: "worker metrics:\n" + "\n".join(
                ln for ln in worker.metrics().splitlines()
                if ln.startswith(("wirewatch_stories", "wirewatch_deadletter"))
            ) + f"\nworker log:\n{worker.log()[-3000:]}",
        )

        rule = narrowed_rule("WirewatchDeadLetterSpike", DEADLETTER_SELECTOR, instance,
                                      uid)
        rule_file.parent.mkdir(parents=True, exist_ok=True)
        rule_file.write_text(yaml.safe_dump({"groups": [{"name": f"test-{uid}", "rules": [rule]}]}))
        reload_prometheus(stack)
        assert f"test-{uid}" in loaded_rule_groups(stack)

        spike = [NOT_JSON[i % len(NOT_JSON)] for i in range(60)]
        await send_raw(stack.kafka, pipeline.settings.topic_raw, spike)

        delivered = await receiver.wait_for(120, alertname="WirewatchDeadLetterSpike",
                                            test_run=uid)
        route, alert = delivered[0]
        assert route == "operators"
        assert alert["status"] == "firing"
        assert alert["labels"] == {
            "alertname": "WirewatchDeadLetterSpike", "job": "wirewatch", "reason": "not_json",
            "severity": "warning", "team": "operators", "test_run": uid,
            "stack": "wirewatch-local",
        }
        assert "reason not_json" in alert["annotations"]["summary"]
        assert "wirewatch-reason" in alert["annotations"]["description"]
        # What fired is the production expression, on this worker's real counters.
        value = prometheus_query(stack, str(rule["expr"]))
        assert [s["metric"]["reason"] for s in value] == ["not_json"]
        assert float(value[0]["value"][1]) > 0.05
        assert "wirewatch_deadletter_total" in worker.metrics()
    finally:
        rule_file.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        reload_prometheus(stack)
    assert f"test-{uid}" not in loaded_rule_groups(stack)


def am_alert(labels: dict[str, str], summary: str, ends_in: timedelta) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"labels": labels, "annotations": {"summary": summary},
            "startsAt": now.isoformat(), "endsAt": (now + ends_in).isoformat()}


async def test_alertmanager_routes_by_team_and_severity_and_inhibits(
    stack: Stack, uid: str, receiver: AlertReceiver,
) -> None:
    down_job, live_job = f"wirewatch-test-{uid}-down", f"wirewatch-test-{uid}-live"
    routed = [  # (labels, job, the receiver Alertmanager must pick)
        ({"alertname": "WirewatchViolenceBurst", "severity": "info", "team": "newsdesk",
          "country": "KZ"}, live_job, "newsdesk"),
        ({"alertname": "WirewatchPipelineStalled", "severity": "critical", "team": "operators",
          "stage": "index"}, live_job, "operators-critical"),
        ({"alertname": "WirewatchElasticsearchErrors", "severity": "warning",
          "team": "operators", "index": "wirewatch-stories"}, live_job, "operators"),
        ({"alertname": "WirewatchWorkerDown", "severity": "warning", "team": "operators",
          "instance": "10.0.0.8:19108"}, live_job, "operators"),
        ({"alertname": "WirewatchNoWorkersUp", "severity": "critical", "team": "operators"},
         down_job, "operators-critical"),
    ]
    # Muted: every worker of its job is down already, and that alert says it all.
    muted = {"alertname": "WirewatchWorkerDown", "severity": "warning", "team": "operators",
             "instance": "10.0.0.9:19108"}
    body = [am_alert({**labels, "job": job, "test_run": uid}, f"test {labels['alertname']}",
                     timedelta(minutes=5))
            for labels, job in [*((labels, job) for labels, job, _ in routed), (muted, down_job)]]
    http_json(f"{stack.alertmanager_url}/api/v2/alerts", body, method="POST")
    try:
        for labels, job, route in routed:
            delivered = await receiver.wait_for(60, alertname=labels["alertname"], job=job,
                                                test_run=uid)
            assert {r for r, _ in delivered} == {route}, labels["alertname"]
        query = urllib.parse.urlencode({"filter": f'test_run="{uid}"'})
        state = {(a["labels"]["alertname"], a["labels"]["job"]): a["status"]
                 for a in http_json(f"{stack.alertmanager_url}/api/v2/alerts?{query}")}
        assert state["WirewatchWorkerDown", down_job]["state"] == "suppressed"
        assert state["WirewatchWorkerDown", down_job]["inhibitedBy"]
        assert state["WirewatchWorkerDown", live_job]["state"] == "active"
        assert receiver.alerts(alertname="WirewatchWorkerDown", job=down_job) == []
    finally:
        # Resolve them all, so nothing of this run stays active in Alertmanager.
        resolved = [{**a, "endsAt": datetime.now(UTC).isoformat()} for a in body]
        http_json(f"{stack.alertmanager_url}/api/v2/alerts", resolved, method="POST")
