"""The alert agent: tagged stories -> near-duplicate clusters, desk rules, bursts -> alerts and webhooks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.streams import Stream
from faust.types import StreamT

from streams import metrics
from streams.app import Topics
from streams.bursts import BurstDetector, BurstEvent
from streams.clustering import ClusterIndex, alert_id, cluster_alert
from streams.deadletter import send_to_deadletter
from streams.index import decode_record
from streams.records import Alert, TaggedStory
from streams.rules import DeskPager, PageDecision, RuleSet
from streams.settings import Settings
from streams.webhooks import WebhookNotifier

log = logging.getLogger(__name__)

BURST_DESK = "bursts"


@dataclass
class AlertAgentDeps:
    """What the alert agent needs besides the app: the desk rules and settings."""

    rules: RuleSet
    settings: Settings
    burst_window_seconds: float = 600.0
    notifier: WebhookNotifier | None = field(default=None)


def burst_alert(event: BurstEvent, now: float, received_at: float) -> Alert:
    """An alert for a burst of violence stories about one country or city in one window."""
    where = event.name if event.scope == "city" else event.country_code
    return Alert(
        id=f"burst/{event.scope}:{event.key}/{int(event.window_start)}",
        kind="burst",
        desk=BURST_DESK,
        rule=f"burst:{event.scope}",
        story_id=event.story_ids[-1] if event.story_ids else "",
        cluster_id="",
        headline=f"Burst of violence reports about {where}",
        message=(f"{event.count} violence stories about {where} in the "
                 f"{int(event.window_end - event.window_start) // 60}-minute window "
                 f"(baseline {event.baseline:.1f}, threshold {event.threshold:.1f})"),
        severity=min(100, 40 + 5 * event.count),
        countries=[event.country_code] if event.country_code else [],
        places=[event.name] if event.scope == "city" else [],
        categories=[],
        sources=[],
        story_ids=list(event.story_ids[-50:]),
        story_count=event.count,
        update=False,
        created_at=now,
        updated_at=now,
        received_at=received_at,
        latency_seconds=max(0.0, now - received_at),
        lat=event.lat,
        lon=event.lon,
    )


def register_alert_agent(app: faust.App, topics: Topics, deps: AlertAgentDeps) -> Any:
    """Declare the `alert` agent and its tables (clusters, alerts, bursts) on app.

    Tagged stories are keyed by focus country, so each table entry is only ever touched from
    the partition that owns its country: tables stay partition-local and survive restarts
    through their changelog topics.
    """
    settings = deps.settings
    clusters = app.Table("clusters", default=None, partitions=settings.topic_partitions)
    desk_alerts = app.Table("alerts", default=None, partitions=settings.topic_partitions)
    burst_counts = app.Table("bursts", default=None, partitions=settings.topic_partitions)
    # Only cluster records go to the table (one changelog write per story); the LSH band index
    # is in memory, rebuilt from the records after every rebalance.
    index = ClusterIndex(store=clusters, band_store={})
    bursts = BurstDetector(store=burst_counts, window_seconds=deps.burst_window_seconds)
    pager = DeskPager(deps.rules.desks)  # rate limits are per worker process
    notifier = deps.notifier or WebhookNotifier(
        on_result=lambda desk, outcome: metrics.WEBHOOK_DELIVERIES.labels(desk, outcome).inc(),
        default_secret=settings.webhook_secret.reveal(),
    )

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # Faust's stubs omit async receivers
    async def rebuild_band_index(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        nonlocal index
        index = ClusterIndex(store=clusters, band_store={})

    @app.task
    async def start_notifier() -> None:
        await notifier.start()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust's stubs omit async receivers
    async def stop_notifier(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        await notifier.close(timeout=5.0)

    async def emit(alert: Alert) -> None:
        await topics.alerts.send(key=alert.id.encode(), value=alert.dumps())

    def page(alert: Alert, webhooks: Any, now: float) -> None:
        decision = pager.decide(alert.desk, alert.severity, now) \
            if alert.desk in pager.desks else PageDecision.PAGE
        if decision is not PageDecision.PAGE:
            metrics.ALERTS_SUPPRESSED.labels(alert.desk, decision.value).inc()
            return
        for webhook in webhooks:
            notifier.submit(alert.desk, webhook, alert)

    @app.agent(topics.tagged, name="alert")
    async def alert(stream: StreamT[bytes]) -> None:
        stream = cast(Stream[bytes], stream)  # noack_take lives on the concrete class
        # (event with TaggedStory JSON) -> Alert JSON on the alerts topic (+ webhooks)
        async for event in stream.events():
            story = decode_record(TaggedStory, event.message.value)
            if isinstance(story, str):
                await send_to_deadletter(topics.deadletter, event.message, "undecodable", story,
                                         stage="alert")
                continue
            assert isinstance(story, TaggedStory)
            metrics.STORIES_IN.labels("alert").inc()
            at = story.received_at or story.tagged_at
            match = index.assign(story.id, story.fingerprint, at=at)
            if match.is_new and match.size == 1:
                metrics.CLUSTERS_CREATED.inc()
            elif not match.is_new:
                metrics.CLUSTER_MEMBERS.inc()
            seen_desks: set[str] = set()
            for rule in deps.rules.matching(story):
                if rule.desk in seen_desks:  # one alert per desk and cluster
                    continue
                seen_desks.add(rule.desk)
                key = alert_id(rule.desk, match.cluster_id)
                stored = desk_alerts.get(key)
                previous = Alert.from_data(stored) if stored else None
                now = time.time()
                new, is_update = cluster_alert(previous, story, desk=rule.desk, rule=rule.name,
                                               cluster_id=match.cluster_id, now=now)
                if new is previous:
                    continue
                desk_alerts[key] = new.asdict()
                await emit(new)
                if is_update:
                    metrics.ALERT_UPDATES.labels(rule.desk).inc()
                    continue
                metrics.INGEST_TO_ALERT_SECONDS.observe(new.latency_seconds)
                band = metrics.severity_band(new.severity)
                for category in new.categories or ["none"]:
                    metrics.ALERTS.labels(rule.desk, category, band, "rule").inc()
                page(new, rule.webhooks, now)
            # Bursts count distinct events: a story joining an existing cluster (another
            # agency's version, a re-send) is not another incident.
            new_events = bursts.observe(story, at=at) if match.is_new else []
            for burst in new_events:
                now = time.time()
                alert_ = burst_alert(burst, now, story.received_at)
                await emit(alert_)
                metrics.BURSTS.labels(burst.scope).inc()
                metrics.ALERTS.labels(BURST_DESK, "burst", metrics.severity_band(alert_.severity),
                                      "burst").inc()
            metrics.STORIES_OUT.labels("alert").inc()
            metrics.LAST_STORY_TIMESTAMP.labels("alert").set(time.time())

    return alert
