"""Every dashboard and alert-rule query runs against a live worker's data in the real stack.

A real worker (private topics and indices) reads real sample stories. Its Elasticsearch traffic
goes through a proxy that can answer bulk writes with 503, so the index stage really stalls and
the error, retry and stall series exist. Then every PromQL expression of the dashboards and the
alert rules runs through Prometheus' HTTP API, and every Elasticsearch panel query runs against
the worker's indices, and each must return data.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaProducer
from elasticsearch import AsyncElasticsearch, TransportError

from grafana import DASHBOARDS_DIR, PROVISIONING_DIR
from grafana.alerts import pipeline_stalled_rule
from grafana.datasources import SCRAPE_INTERVAL
from grafana.esquery import result_size, search_body
from grafana.inventory import panel_queries, rule_queries, variable_queries
from grafana.promql import JOB, RULE_SCOPE, QueryInterval, interpolate, parse_duration_ms
from streams.publish import publish_stories, stories_from_paths
from streams.records import RawStory
from streams.samples import sample_paths
from streams.validate import format_utc
from tests.conftest import Pipeline, Stack
from tests.localhttp import LocalServer

pytestmark = pytest.mark.integration

HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection",
                         "keep-alive", "content-encoding"})
VIOLENCE = ["killing", "shooting", "explosion", "armed_clash", "assault", "riot_unrest", "arson",
            "storming", "security_crackdown", "kidnapping", "terrorism"]
# Messages producers get wrong; each is dead-lettered with a reason.
BAD_MESSAGES = [
    b"not json",
    json.dumps({"id": "bad-date", "body": "Αλμάτι: πυροβολισμοί στην πλατεία.",
                "published_at": "yesterday"}).encode(),
]


class FlakyElasticsearch:
    """The real Elasticsearch behind a pass-through proxy that answers `_bulk` with 503 while
    `failing` is set, as an overloaded cluster does."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.failing = False
        self.refused = 0
        self.server = LocalServer([("*", "/{tail:.*}", self._handle)],
                                  client_max_size=64 * 1024 * 1024)
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return self.server.url

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.failing and request.path.endswith("/_bulk"):
            self.refused += 1
            return web.json_response(
                {"error": {"type": "unavailable_shards_exception",
                           "reason": "primary shard is not active"}, "status": 503},
                status=503, headers={"X-Elastic-Product": "Elasticsearch"})
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         data=body, headers=headers) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            return web.Response(status=upstream.status, body=payload, headers=out)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        if self._session is not None:
            await self._session.close()


class WebhookReceiver:
    """A desk's webhook endpoint on 127.0.0.1 that accepts every alert."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.server = LocalServer([("POST", "/hook", self._handle)])

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        self.alerts.append(await request.json())
        return web.Response(text="ok")

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()


def rules_yaml(webhook_url: str) -> str:
    """One desk that pages a local webhook for any violence, at most once an hour (so later
    alerts are held back by the rate limit)."""
    return yaml.safe_dump({
        "version": 1,
        "desks": {"newsroom": {
            "rate_limit": {"max_alerts": 1, "per": "1h"},
            "webhooks": [{"url": webhook_url, "format": "json", "secret": "dashboards-test"}],
        }},
        "rules": [{"name": "any-violence", "desk": "newsroom",
                   "match": {"categories": VIOLENCE}}],
    })


# ----------------------------------------------------------------------------- Prometheus


def http_json(url: str, params: dict[str, str] | None = None) -> Any:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(url + query, timeout=30) as resp:
        return json.load(resp)


def prometheus(stack: Stack, path: str, **params: str) -> Any:
    body = http_json(f"{stack.prometheus_url}/api/v1/{path}", params)
    assert body["status"] == "success", body
    return body["data"]


def instant(stack: Stack, expr: str) -> list[dict[str, Any]]:
    return list(prometheus(stack, "query", query=expr)["result"])


def finite_points(result: list[dict[str, Any]]) -> int:
    """Samples that are numbers (histogram_quantile gives NaN for windows without data)."""
    points = [s["value"] for s in result if "value" in s]
    points += [v for s in result for v in s.get("values", [])]
    return sum(1 for _, value in points if math.isfinite(float(value)))


def total(stack: Stack, expr: str) -> float:
    return sum(float(s["value"][1]) for s in instant(stack, expr))


async def wait_until(what: str, check: Callable[[], Any], timeout: float,
                     detail: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f}s {detail()}")


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def datasource_types() -> dict[str, dict[str, Any]]:
    path = PROVISIONING_DIR / "datasources" / "wirewatch.yaml"
    return {ds["uid"]: ds for ds in yaml.safe_load(path.read_text())["datasources"]}


def relative_ms(text: str) -> int:
    """Milliseconds of a Grafana relative time like `now-3h`."""
    found = re.fullmatch(r"now-(\w+)", text)
    assert found, f"dashboard time {text!r} is not now-<duration>"
    return parse_duration_ms(found[1])


def grafana_regex_value(value: str) -> str:
    """A variable value as Grafana writes it into a PromQL regex matcher (escaped)."""
    return re.escape(value).replace("\\", "\\\\")


def scoped(expr: str, instance: str) -> str:
    """An alert rule's PromQL narrowed to one worker (the rules watch every worker)."""
    narrowed = f'{RULE_SCOPE}, instance="{instance}"'
    count = expr.count(RULE_SCOPE)
    assert count == len(re.findall(r"\b(?:wirewatch_\w+|up)\{", expr)), (
        f"every selector of {expr!r} must carry {RULE_SCOPE}")
    return expr.replace(RULE_SCOPE, narrowed)


# ----------------------------------------------------------------------------- the test


def restamped(stories: list[RawStory]) -> list[RawStory]:
    """The sample stories as if they were on the wire now (one a minute, newest last)."""
    now = datetime.now(tz=UTC)
    for i, story in enumerate(stories):
        story.published_at = format_utc(now - timedelta(minutes=len(stories) - i))
    return stories


async def send_raw(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send(topic, value=value, key=f"bad-{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def drop_indices(es: AsyncElasticsearch, aliases: list[str]) -> None:
    """Remove a test's indices and templates; an unreachable cluster must not hide the failure
    that the test itself reports."""
    try:
        for alias in aliases:
            await es.indices.delete(index=f"{alias}-*", ignore_unavailable=True)
            await es.options(ignore_status=404).indices.delete_index_template(name=alias)
    except TransportError as err:
        warnings.warn(f"could not remove test indices {aliases}: {err}", stacklevel=1)


async def es_count(es: AsyncElasticsearch, alias: str) -> int:
    if not await es.indices.exists_alias(name=alias):
        return 0
    await es.indices.refresh(index=alias)
    return int((await es.count(index=alias))["count"])


async def test_every_dashboard_and_rule_query_returns_live_data(
    stack: Stack, pipeline: Pipeline, uid: str, es: AsyncElasticsearch, tmp_path: Path,
) -> None:
    receiver = WebhookReceiver()
    proxy = FlakyElasticsearch(stack.es_url)
    await receiver.start()
    await proxy.start()
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(rules_yaml(receiver.url))
    pipeline.rules_file = rules_file
    target = stack.state_dir / "prometheus" / "targets" / f"dashboards-{uid}.json"
    settings = pipeline.settings
    try:
        worker = await asyncio.to_thread(pipeline.worker(WIREWATCH_ES_URL=proxy.url).start)
        instance = f"127.0.0.1:{worker.settings.metrics_port}"
        target.write_text(json.dumps([{"targets": [instance], "labels": {"test_run": uid}}]))
        mine = f'job="{JOB}", instance="{instance}"'

        stories = restamped(list(stories_from_paths(sample_paths())))
        first = next(s for s in stories if "Αλμάτι" in s.body)
        rest = [s for s in stories if s is not first]

        # 1. One violent story goes all the way through while Elasticsearch is healthy.
        await publish_stories(settings, [first])
        out = f'wirewatch_stories_out_total{{{mine}, stage="index"}}'
        await wait_until("Prometheus saw the first story indexed",
                         lambda: total(stack, out) >= 1, 120, lambda: worker.log()[-3000:])

        # 2. Elasticsearch refuses bulk writes: the index stage reads stories, finishes none.
        proxy.failing = True
        await publish_stories(settings, rest)
        await send_raw(stack.kafka, settings.topic_raw, BAD_MESSAGES)
        stories_in = f'wirewatch_stories_in_total{{{mine}, stage="index"}}'
        retries = f'wirewatch_es_bulk_retries_total{{{mine}}}'
        await wait_until(
            "Prometheus saw the index stage read stories it cannot write, and the retries",
            lambda: total(stack, stories_in) > 1 and total(stack, retries) >= 1, 120,
            lambda: worker.log()[-3000:])
        stalled = scoped(pipeline_stalled_rule().expr, instance)
        assert [s["metric"]["stage"] for s in instant(stack, stalled)] == ["index"]
        assert proxy.refused >= 1

        # 3. Elasticsearch recovers: everything published is indexed, alerts too.
        proxy.failing = False
        stories_alias, alerts_alias = settings.stories_index, settings.alerts_index
        expected = len({s.id for s in stories})

        async def indexed() -> tuple[int, int]:
            return await es_count(es, stories_alias), await es_count(es, alerts_alias)

        deadline = time.monotonic() + 120
        counts = await indexed()
        while (counts[0] < expected or counts[1] < 1) and time.monotonic() < deadline:
            await asyncio.sleep(1)
            counts = await indexed()
        assert counts[0] == expected and counts[1] >= 1, (counts, worker.log()[-3000:])
        await wait_until(
            "Prometheus saw every story indexed and a webhook delivered",
            lambda: (total(stack, out) >= expected
                     and total(stack, f'wirewatch_webhook_deliveries_total{{{mine}}}') >= 1),
            120, lambda: worker.log()[-3000:])
        assert receiver.alerts, "the desk webhook received no alert"
        # Two more scrapes, so every rate() window holds the last increases.
        await asyncio.sleep(2.5 * parse_duration_ms(SCRAPE_INTERVAL) / 1000)
        assert instant(stack, stalled) == [], "the stall must clear once stories are indexed"

        # 4. Every PromQL expression of the dashboards returns data from this worker.
        datasources = datasource_types()
        scrape_ms = parse_duration_ms(datasources["wirewatch-prometheus"]["jsonData"]
                                      ["timeInterval"])
        now = time.time()
        checked: list[str] = []
        for name, dashboard in dashboards().items():
            range_ms = relative_ms(dashboard["time"]["from"])
            variables = {**QueryInterval.for_range(range_ms, scrape_ms).variables(),
                         "instance": grafana_regex_value(instance)}
            interval = variables["__interval"]
            for query in variable_queries(dashboard):
                matcher = query.expr[len("label_values("):].rsplit(",", 1)[0]
                values = prometheus(stack, "label/instance/values", **{"match[]": matcher})
                assert instance in values, f"{query.source}: {values}"
            for query in panel_queries(dashboard):
                if datasources[query.datasource_uid]["type"] != "prometheus":
                    continue
                expr = interpolate(query.expr, variables)
                if query.instant:
                    result = instant(stack, expr)
                else:
                    result = prometheus(stack, "query_range", query=expr,
                                        start=str(now - range_ms / 1000), end=str(now),
                                        step=interval)["result"]
                assert finite_points(result) > 0, f"{query.source} {query.ref_id}: {expr}"
                checked.append(f"{name}:{query.ref_id}:{expr}")
        assert len(checked) >= 20

        # 5. Every alert rule query (narrowed to this worker) returns data, except the stall
        # rule, which returned data while the stage was stalled (above) and none now.
        rules = yaml.safe_load((PROVISIONING_DIR / "alerting" / "wirewatch-rules.yaml")
                               .read_text())
        rule_results: dict[str, int] = {}
        for query in rule_queries(rules):
            if query.datasource_uid == "__expr__":
                continue
            expr = scoped(query.expr, instance)
            rule_results[query.source] = finite_points(instant(stack, expr))
        assert rule_results.pop(f"alert rule {pipeline_stalled_rule().uid}") == 0
        assert rule_results and all(rule_results.values()), rule_results

        # 6. Every Elasticsearch panel query returns hits or buckets from this worker's indices.
        index_of = {ds["uid"]: ds["jsonData"]["index"] for ds in datasources.values()
                    if ds["type"] == "elasticsearch"}
        private = {"wirewatch-stories": stories_alias, "wirewatch-alerts": alerts_alias}
        es_checked = 0
        for dashboard in dashboards().values():
            range_ms = relative_ms(dashboard["time"]["from"])
            end_ms = int(time.time() * 1000)
            interval = QueryInterval.for_range(range_ms, 10_000).variables()["__interval"]
            for query in panel_queries(dashboard):
                if query.datasource_uid not in index_of:
                    continue
                ds = datasources[query.datasource_uid]
                body = search_body(query.target, end_ms - range_ms, end_ms, interval,
                                   ds["jsonData"]["timeField"])
                response = await es.search(index=private[index_of[query.datasource_uid]],
                                           **body)
                size = result_size(query.target, response.body)
                assert size > 0, f"{query.source}: no hits or buckets for {json.dumps(body)}"
                es_checked += 1
        assert es_checked >= 6
    finally:
        target.unlink(missing_ok=True)
        for w in pipeline.workers:
            await asyncio.to_thread(w.stop)
        await proxy.stop()
        await receiver.stop()
        await drop_indices(es, [settings.stories_index, settings.alerts_index])


def test_scoped_refuses_a_rule_selector_without_the_job() -> None:
    with pytest.raises(AssertionError, match="must carry"):
        scoped('sum(rate(wirewatch_deadletter_total{reason="not_json"}[5m]))', "127.0.0.1:1")
    narrowed = scoped(f"up{{{RULE_SCOPE}}}", "127.0.0.1:1")
    assert narrowed == 'up{job="wirewatch", instance="127.0.0.1:1"}'

