"""`wirewatch worker`: assemble the Faust app with its agents, adapters and metrics, and run it."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path
from typing import Any

import faust

from streams import __version__, metrics
from streams.alert import AlertAgentDeps, register_alert_agent
from streams.app import Topics, build_app
from streams.es import BulkIndexer, es_client
from streams.index import register_index_agents
from streams.rules import RuleSet, load_rules
from streams.settings import Settings
from streams.tag import loaded_step, register_tag_agent
from streams.tagging.core import Tagger
from streams.tagpool import InlineTagging, ProcessTagging, TaggingRunner
from streams.validate import REJECTION_REASONS

log = logging.getLogger(__name__)

DEFAULT_RULES = Path(__file__).resolve().parent / "samples" / "demo-rules.yaml"


def load_desk_rules(settings: Settings) -> RuleSet:
    """The desk rules file from settings (the example rules when none is configured)."""
    path = settings.rules_file
    if path is None:
        path = DEFAULT_RULES
        log.info("WIREWATCH_RULES_FILE not set; using the demo desk rules in %s", path)
    return load_rules(path)


async def ensure_topics(settings: Settings) -> None:
    """Create the wire topics that do not exist yet (Faust only creates its own changelogs)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaConnectionError

    names = [settings.topic_raw, settings.topic_tagged, settings.topic_alerts,
             settings.topic_deadletter]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    for attempt in range(30):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            log.warning("Kafka at %s not reachable yet; retrying (start it with "
                        "`deploy/local/stack up` or set WIREWATCH_KAFKA_BOOTSTRAP)",
                        settings.kafka_bootstrap)
            await asyncio.sleep(min(10, 1 + attempt))
    else:
        raise SystemExit(f"Kafka at {settings.kafka_bootstrap} is not reachable; start it with "
                         "`deploy/local/stack up` or set WIREWATCH_KAFKA_BOOTSTRAP")
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            await admin.create_topics([
                NewTopic(n, num_partitions=settings.topic_partitions, replication_factor=1)
                for n in missing
            ])
            log.info("created topics %s with %d partitions", ", ".join(missing),
                     settings.topic_partitions)
    finally:
        await admin.close()


async def setup_indices(settings: Settings) -> None:
    """Index templates and aliases, before any agent writes (waits for Elasticsearch)."""
    client = es_client(settings)
    try:
        await BulkIndexer(client, settings.stories_index, "stories").setup()
        await BulkIndexer(client, settings.alerts_index, "alerts").setup()
    finally:
        await client.close()


def tagging_runner(settings: Settings, tagger: Tagger | None = None) -> TaggingRunner:
    """Where the worker tags: WIREWATCH_TAG_PROCESSES child processes (started and loaded when
    this returns), or the event loop itself when it is 0 or a tagger is given."""
    if tagger is None and settings.tag_processes > 0:
        pool = ProcessTagging(settings.tag_processes, settings.max_body_bytes, settings.stanza_dir,
                              cache_dir=settings.cache_dir)
        pool.start()
        return pool
    return InlineTagging(loaded_step(settings.max_body_bytes, settings.stanza_dir,
                                     settings.cache_dir, tagger))


def build_worker(settings: Settings, tagger: Tagger | None = None,
                 rules: RuleSet | None = None) -> tuple[faust.App, Topics]:
    """The app with every agent registered (does not start it; tagging processes are started)."""
    app, topics = build_app(settings)
    tagging = tagging_runner(settings, tagger)
    for language, backend in tagging.ner_backends.items():
        metrics.NER_BACKEND.labels(language, backend).set(1)
    metrics.NER_BACKEND.labels("*", "gazetteer").set(1)
    register_tag_agent(app, topics, tagging)
    client = es_client(settings)
    register_index_agents(
        app, topics,
        stories=BulkIndexer(client, settings.stories_index, "stories"),
        alerts=BulkIndexer(client, settings.alerts_index, "alerts"),
        batch_size=settings.es_bulk_max_docs,
    )
    register_alert_agent(app, topics, AlertAgentDeps(
        rules=rules or load_desk_rules(settings), settings=settings,
    ))

    @app.timer(interval=5.0)
    async def report_lag() -> None:
        lag: dict[str, int] = {}
        consumer = app.consumer
        for tp in consumer.assignment():
            try:
                high = consumer.highwater(tp)
            except Exception:  # noqa: S112 - no highwater before the first fetch: no lag to report
                continue
            # Faust exposes no public getter of the last offset read.
            offsets: dict[Any, int | None] = getattr(consumer, "_read_offset", {})
            read = offsets.get(tp)
            position = (read + 1) if read is not None else 0
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, (high or 0) - position)
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(topic).set(value)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust's stubs omit async receivers
    async def close_es(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        tagging.close()
        await client.close()

    return app, topics


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Run until stopped (SIGTERM/SIGINT): metrics server, index setup, then the Faust worker."""
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    metrics.BUILD_INFO.info({"version": __version__})
    metrics.declare_label_values((*REJECTION_REASONS, "undecodable", "es_rejected"))
    rules = load_desk_rules(settings)
    metrics.start_metrics_server(settings.metrics_port, host=settings.bind_host)
    log.info("metrics on http://%s:%d/metrics", settings.bind_host, settings.metrics_port)
    asyncio.run(ensure_topics(settings))
    asyncio.run(setup_indices(settings))
    app, _ = build_worker(settings, rules=rules)
    gc.freeze()  # modules, rules and clients live as long as the worker: collections skip them
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0
