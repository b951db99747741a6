"""`wirewatch demo`: the main job on the local stack, with alerts shown live as they arrive."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from streams.publish import publish_stories, stories_from_paths
from streams.records import Alert
from streams.samples import sample_paths
from streams.settings import Settings

REPO = Path(__file__).resolve().parent.parent
STACK = REPO / "deploy" / "local" / "stack"


def say(text: str) -> None:
    print(text, flush=True)


def start_stack() -> None:
    say("== starting the local stack (Kafka, Elasticsearch, Prometheus, Alertmanager)")
    proc = subprocess.run([sys.executable, str(STACK), "up"], text=True)
    if proc.returncode != 0:
        raise SystemExit("the local stack did not start; see the messages above")


def start_worker(settings: Settings) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = settings.state_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], stdout=log,
                            stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
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
        sent = await publish_stories(settings, stories)
        say(f"== published {len(sent)} sample stories to {settings.topic_raw}; alerts as they arrive:")
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
        return count
    finally:
        await consumer.stop()


def run_demo(settings: Settings, start_stack_first: bool = True, keep_running: bool = False) -> int:
    if start_stack_first:
        start_stack()
    worker, log_path = start_worker(settings)
    try:
        count = asyncio.run(watch_alerts(settings, quiet=12.0, limit=120.0))
        say(f"== {count} alerts. Where to look:")
        say(f"   stories in Elasticsearch:  {settings.es_url}/{settings.stories_index}/_search")
        say(f"   alerts in Elasticsearch:   {settings.es_url}/{settings.alerts_index}/_search")
        say(f"   search from the terminal:  .venv/bin/wirewatch search --since 1d Almaty")
        say(f"   worker metrics:            http://127.0.0.1:{settings.metrics_port}/metrics")
        say(f"   Prometheus:                http://127.0.0.1:{settings.prometheus_port}/graph")
        say(f"   Alertmanager:              http://127.0.0.1:{settings.alertmanager_port}")
        if keep_running:
            say(f"== the worker keeps running (pid {worker.pid}); stop it with kill {worker.pid}")
            return 0 if count else 1
        return 0 if count else 1
    finally:
        if not keep_running and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
            say(f"== worker stopped; its log is {log_path}")
