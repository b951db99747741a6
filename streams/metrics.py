"""Every Prometheus metric wirewatch exports, in one place (labels of low cardinality only)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client import start_http_server as _start_http_server

# Stages of the pipeline, for stories_in/out: ingest -> tag -> index -> alert.
STAGES = ("tag", "index", "alert")

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
_TAG_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)

BUILD_INFO = Info("wirewatch_build", "Version of the running wirewatch worker")

STORIES_IN = Counter(
    "wirewatch_stories_in_total", "Stories read by a pipeline stage", ["stage"]
)
STORIES_OUT = Counter(
    "wirewatch_stories_out_total", "Stories a pipeline stage finished with", ["stage"]
)
DEADLETTER = Counter(
    "wirewatch_deadletter_total", "Messages sent to the dead-letter topic", ["reason"]
)
TAGGING_SECONDS = Histogram(
    "wirewatch_tagging_seconds", "Time to tag one story", buckets=_TAG_BUCKETS
)
INGEST_TO_INDEX_SECONDS = Histogram(
    "wirewatch_ingest_to_index_seconds",
    "From publish to the story being acknowledged by Elasticsearch",
    buckets=_LATENCY_BUCKETS,
)
INGEST_TO_ALERT_SECONDS = Histogram(
    "wirewatch_ingest_to_alert_seconds",
    "From publish of the triggering story to its alert being emitted",
    buckets=_LATENCY_BUCKETS,
)
VIOLENCE_STORIES = Counter(
    "wirewatch_violence_stories_total",
    "Stories with violence terms, by focus country (ISO 3166-1 alpha-2, 'none' without focus)",
    ["country"],
)
STORIES_BY_LANGUAGE = Counter(
    "wirewatch_stories_by_language_total", "Tagged stories by main language", ["language"]
)
ALERTS = Counter(
    "wirewatch_alerts_total",
    "Alerts emitted (updates of a cluster's alert excluded)",
    ["desk", "category", "severity_band", "kind"],
)
ALERT_UPDATES = Counter(
    "wirewatch_alert_updates_total", "Cluster members that updated an existing alert", ["desk"]
)
ALERTS_SUPPRESSED = Counter(
    "wirewatch_alerts_suppressed_total",
    "Alerts held back by a desk's quiet hours or rate limit",
    ["desk", "why"],
)
BURSTS = Counter(
    "wirewatch_bursts_total", "Burst alerts raised", ["scope"]
)
CLUSTERS_CREATED = Counter(
    "wirewatch_clusters_created_total", "Near-duplicate clusters started"
)
CLUSTER_MEMBERS = Counter(
    "wirewatch_cluster_members_total", "Stories that joined an existing cluster"
)
ES_BULK_SECONDS = Histogram(
    "wirewatch_es_bulk_seconds", "Duration of Elasticsearch bulk requests", ["index"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ES_BULK_ERRORS = Counter(
    "wirewatch_es_bulk_errors_total",
    "Elasticsearch bulk failures (connection = whole request, item = one document)",
    ["index", "kind"],
)
ES_BULK_RETRIES = Counter(
    "wirewatch_es_bulk_retries_total", "Elasticsearch bulk requests retried", ["index"]
)
ES_DOCS_INDEXED = Counter(
    "wirewatch_es_docs_indexed_total", "Documents acknowledged by Elasticsearch", ["index"]
)
WEBHOOK_DELIVERIES = Counter(
    "wirewatch_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["desk", "outcome"]
)
CONSUMER_LAG = Gauge(
    "wirewatch_consumer_lag_messages",
    "Messages not yet consumed by this worker (sum over its assigned partitions)",
    ["topic"],
)
LAST_STORY_TIMESTAMP = Gauge(
    "wirewatch_last_story_timestamp_seconds",
    "Unix time when a pipeline stage last finished a story",
    ["stage"],
)
NER_BACKEND = Gauge(
    "wirewatch_ner_backend",
    "1 for the place-span backend in use per language (stanza, natasha or gazetteer)",
    ["language", "backend"],
)


def severity_band(severity: int) -> str:
    """Low-cardinality band of a 0..100 severity."""
    if severity >= 70:
        return "high"
    if severity >= 40:
        return "medium"
    return "low"


def start_metrics_server(port: int, host: str = "127.0.0.1",
                         registry: CollectorRegistry = REGISTRY) -> None:
    """Serve /metrics on host:port (an HTTP thread)."""
    _start_http_server(port, addr=host, registry=registry)


def declare_label_values(deadletter_reasons: tuple[str, ...]) -> None:
    """Create the series a dashboard or alert rule compares from zero at start: `increase()`
    cannot see a counter's first value, so a stage stalled on its very first story would hide."""
    for stage in STAGES:
        STORIES_IN.labels(stage)
        STORIES_OUT.labels(stage)
    for reason in deadletter_reasons:
        DEADLETTER.labels(reason)
