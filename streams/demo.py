"""`wirewatch demo`: the main job on the local stack, with alerts shown live as they arrive."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from streams.publish import publish_stories, stories_from_paths
from streams.records import Alert
from streams.samples import sample_paths
from streams.settings import Settings
from streams.webhooks import verify_signature
from streams.worker import DEFAULT_RULES

REPO = Path(__file__).resolve().parent.parent
STACK = REPO / "deploy" / "local" / "stack"
DEMO_SECRET = "wirewatch-demo-secret"  # noqa: S105 - a demo value, printed nowhere secret


def say(text: str) -> None:
    print(text, flush=True)


def start_stack() -> None:
    say("== starting the local stack (Kafka, Elasticsearch, Prometheus, Alertmanager)")
    proc = subprocess.run([sys.executable, str(STACK), "up"], text=True)
    if proc.returncode != 0:
        raise SystemExit("the local stack did not start; see the messages above")


def demo_rules(settings: Settings, webhook_url: str) -> Path:
    """The default desk rules, every desk also paging the demo's own webhook receiver."""
    rules = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    for desk in rules["desks"]:
        rules["desks"][desk] = {"webhooks": [{"url": webhook_url, "format": "json",
                                              "secret": DEMO_SECRET}]}
    path = settings.state_dir / "demo-rules.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    return path


class WebhookReceiver:
    """A local webhook endpoint that checks each delivery's signature and prints it."""

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.deliveries = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(DEMO_SECRET, request.headers, body)
        alert = json.loads(body)
        self.deliveries += ok
        say(f"        webhook -> desk {alert.get('desk')}: {'signature verified' if ok else 'BAD SIGNATURE'}"
            f" (alert {alert.get('id')})")
        return web.Response(status=204 if ok else 401)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def start_worker(settings: Settings, rules: Path,
                 env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = settings.state_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")  # a fresh log: readiness is read from it
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], stdout=log,
                            stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                            env={**os.environ, **env, "PYTHONUNBUFFERED": "1",
                                 "WIREWATCH_RULES_FILE": str(rules)})
    say(f"== worker started (pid {proc.pid}), log: {log_path}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited with {proc.returncode}:\n{text[-3000:]}")
        if "Ready" in text:
            return proc, log_path
        time.sleep(0.5)
    raise SystemExit(f"the worker was not ready after 120 s; see {log_path}")


def describe(alert: Alert) -> str:
    head = "UPDATE" if alert.update else ("BURST " if alert.kind == "burst" else "ALERT ")
    where = ", ".join(alert.places[:3] or alert.countries) or "-"
    cats = ",".join(alert.categories) or "-"
    return (f"{head} {alert.latency_seconds:5.2f}s  [{alert.desk}] sev {alert.severity:>3}  {where}"
            f"  ({cats})\n        {alert.headline[:110]}\n        {alert.message[:140]}")


async def watch_alerts(settings: Settings, quiet: float, limit: float) -> int:
    consumer = AIOKafkaConsumer(settings.topic_alerts, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="latest", group_id=None)
    await consumer.start()
    try:
        # Attach at the end of the topic before publishing, so only this run's alerts show.
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)
        stories = list(stories_from_paths(sample_paths()))
        say(f"== publishing {len(stories)} sample wires to {settings.topic_raw}, 3 a second, as a "
            "wire feed would; alerts as they arrive (latency = publish -> alert):")
        publishing = asyncio.create_task(publish_stories(settings, stories, rate=3.0))
        count = 0
        started = last = time.monotonic()
        while time.monotonic() - last < quiet and time.monotonic() - started < limit:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    alert = Alert.loads(record.value)
                    say(describe(alert))
                    count += 1
                    last = time.monotonic()
        await publishing
        return count
    finally:
        await consumer.stop()


async def demo_session(settings: Settings, env: dict[str, str], keep_running: bool) -> int:
    receiver = WebhookReceiver()
    url = await receiver.start()
    rules = demo_rules(settings, url)
    worker, log_path = await asyncio.to_thread(start_worker, settings, rules, env)
    try:
        count = await watch_alerts(settings, quiet=12.0, limit=120.0)
        say(f"== {count} alerts, {receiver.deliveries} signed webhook deliveries. Where to look:")
        say(f"   stories in Elasticsearch:  {settings.es_url}/{settings.stories_index}/_search")
        say(f"   alerts in Elasticsearch:   {settings.es_url}/{settings.alerts_index}/_search")
        say("   search from the terminal:  .venv/bin/wirewatch search --since 1d Almaty")
        say(f"   worker metrics:            http://127.0.0.1:{settings.metrics_port}/metrics")
        say(f"   Prometheus:                http://127.0.0.1:{settings.prometheus_port}/graph")
        say(f"   Alertmanager:              http://127.0.0.1:{settings.alertmanager_port}")
        if keep_running:
            say(f"== the worker keeps running (pid {worker.pid}); stop it with kill {worker.pid}")
        return 0 if count else 1
    finally:
        await receiver.stop()
        if not keep_running and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
            say(f"== worker stopped; its log is {log_path}")


def demo_stream(settings: Settings, run: str) -> tuple[Settings, dict[str, str]]:
    """Each demo run is a stream of its own (topics, consumer group, cluster tables) into the
    usual indices: a second run alerts afresh instead of folding into the first run's clusters."""
    overrides: dict[str, Any] = {
        "app_id": f"wirewatch-demo-{run}",
        "topic_raw": f"demo-{run}.stories.raw",
        "topic_tagged": f"demo-{run}.stories.tagged",
        "topic_alerts": f"demo-{run}.alerts",
        "topic_deadletter": f"demo-{run}.deadletter",
    }
    env = {f"WIREWATCH_{k.upper()}": v for k, v in overrides.items()}
    return dataclasses.replace(settings, **overrides), env


def run_demo(settings: Settings, start_stack_first: bool = True, keep_running: bool = False) -> int:
    if start_stack_first:
        start_stack()
    run = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    demo_settings, env = demo_stream(settings, run)
    return asyncio.run(demo_session(demo_settings, env, keep_running))
