"""The operations dashboard: throughput, latency, lag and failures of the pipeline workers."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from grafana import FOLDER_TITLE
from grafana.datasources import PROMETHEUS
from grafana.parts import legend, prom_instant, prom_range, reduce_last, thresholds, tooltip
from grafana.promql import INSTANCE_VARIABLE, JOB, dashboard_selector

UID = "wirewatch-operations"
QUANTILES = (0.5, 0.95, 0.99)


def _rate(metric: str, by: str, *matchers: str) -> str:
    return f"sum by ({by}) (rate({dashboard_selector(metric, *matchers)}[$__rate_interval]))"


def _quantile(q: float, histogram: str, by: str = "le") -> str:
    return (f"histogram_quantile({q}, sum by ({by}) "
            f"(rate({dashboard_selector(histogram + '_bucket')}[$__rate_interval])))")


def instance_variable() -> dashboard_builders.QueryVariable:
    """$instance: the workers to show (all by default), from their build info series."""
    return (
        dashboard_builders.QueryVariable(INSTANCE_VARIABLE)
        .label("Worker")
        .description("Worker processes (host:metrics port) to include.")
        .datasource(PROMETHEUS)
        .query(f'label_values(wirewatch_build_info{{job="{JOB}"}}, instance)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def _latency_panel(title: str, histogram: str, description: str) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit("s")
        .min(0)
        .legend(legend(common.LegendPlacement.BOTTOM, ["mean", "max"]))
        .tooltip(tooltip())
        .span(8)
        .height(8)
    )
    for ref_id, q in zip("ABC", QUANTILES, strict=True):
        panel = panel.with_target(prom_range(_quantile(q, histogram), f"p{round(q * 100)}",
                                             ref_id))
    return panel


def throughput_panel() -> timeseries.Panel:
    """Stories in and out of each stage per second."""
    return (
        timeseries.Panel()
        .title("Throughput per stage")
        .description("Stories read (in) and finished (out) per second by each stage: tag, "
                     "index, alert. Out below in for long means a stage is stuck or failing.")
        .datasource(PROMETHEUS)
        .with_target(prom_range(_rate("wirewatch_stories_in_total", "stage"), "{{stage}} in", "A"))
        .with_target(prom_range(_rate("wirewatch_stories_out_total", "stage"), "{{stage}} out",
                                "B"))
        .unit("suffix: stories/s")
        .min(0)
        .legend(legend(common.LegendPlacement.RIGHT, ["mean", "max"]))
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def seconds_since_last_story_panel() -> stat.Panel:
    """How long ago each stage last finished a story."""
    last = dashboard_selector("wirewatch_last_story_timestamp_seconds")
    expr = f"time() - max by (stage) ({last})"
    return (
        stat.Panel()
        .title("Since a stage last finished a story")
        .description("Seconds since each stage last finished a story (any worker).")
        .datasource(PROMETHEUS)
        .with_target(prom_instant(expr, "{{stage}}"))
        .unit("s")
        .reduce_options(reduce_last())
        .thresholds(thresholds((None, "green"), (300, "orange"), (900, "red")))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .span(8)
        .height(8)
    )


def ingest_to_alert_latency_panel() -> timeseries.Panel:
    """Publish to alert latency percentiles."""
    return _latency_panel(
        "Latency: publish to alert", "wirewatch_ingest_to_alert_seconds",
        "From a story being published to its alert leaving the alert stage (p50, p95, p99).")


def ingest_to_index_latency_panel() -> timeseries.Panel:
    """Publish to indexed latency percentiles."""
    return _latency_panel(
        "Latency: publish to indexed", "wirewatch_ingest_to_index_seconds",
        "From a story being published to Elasticsearch acknowledging it (p50, p95, p99).")


def tagging_latency_panel() -> timeseries.Panel:
    """Time to tag one story, percentiles."""
    return _latency_panel(
        "Tagging time per story", "wirewatch_tagging_seconds",
        "Time the tagger spends on one story: places, violence terms, severity (p50, p95, p99).")


def consumer_lag_panel() -> timeseries.Panel:
    """Messages waiting to be consumed, per topic."""
    expr = f"sum by (topic) ({dashboard_selector('wirewatch_consumer_lag_messages')})"
    return (
        timeseries.Panel()
        .title("Consumer lag")
        .description("Messages on each topic not yet consumed by the selected workers.")
        .datasource(PROMETHEUS)
        .with_target(prom_range(expr, "{{topic}}"))
        .unit("short")
        .min(0)
        .legend(legend(common.LegendPlacement.BOTTOM, ["last", "max"]))
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def deadletter_rate_panel() -> timeseries.Panel:
    """Dead letters per second by reason."""
    return (
        timeseries.Panel()
        .title("Dead letters by reason")
        .description("Messages sent to the dead-letter topic per second, by reason (invalid "
                     "story, undecodable record, tagging error, Elasticsearch rejection...).")
        .datasource(PROMETHEUS)
        .with_target(prom_range(_rate("wirewatch_deadletter_total", "reason"), "{{reason}}"))
        .unit("suffix: msg/s")
        .min(0)
        .legend(legend(common.LegendPlacement.BOTTOM, ["sum", "max"]))
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def es_bulk_failures_panel() -> timeseries.Panel:
    """Elasticsearch bulk errors by kind and retries."""
    return (
        timeseries.Panel()
        .title("Elasticsearch bulk errors and retries")
        .description("Bulk failures per second by index and kind (connection = whole request, "
                     "item = one document refused, item_retryable = one document to resend), "
                     "and bulk requests retried.")
        .datasource(PROMETHEUS)
        .with_target(prom_range(_rate("wirewatch_es_bulk_errors_total", "index, kind"),
                                "{{index}} {{kind}} errors", "A"))
        .with_target(prom_range(_rate("wirewatch_es_bulk_retries_total", "index"),
                                "{{index}} retries", "B"))
        .unit("reqps")
        .min(0)
        .legend(legend(common.LegendPlacement.BOTTOM, ["sum", "max"]))
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def es_bulk_duration_panel() -> timeseries.Panel:
    """Elasticsearch bulk request duration, p95 per index."""
    return (
        timeseries.Panel()
        .title("Elasticsearch bulk duration (p95)")
        .description("95th percentile of bulk request duration per index (alias).")
        .datasource(PROMETHEUS)
        .with_target(prom_range(_quantile(0.95, "wirewatch_es_bulk_seconds", "le, index"),
                                "{{index}}"))
        .unit("s")
        .min(0)
        .legend(legend(common.LegendPlacement.BOTTOM, ["mean", "max"]))
        .tooltip(tooltip())
        .span(24)
        .height(8)
    )


def webhook_deliveries_panel() -> timeseries.Panel:
    """Webhook delivery attempts per second by desk and outcome."""
    return (
        timeseries.Panel()
        .title("Webhook deliveries by outcome")
        .description("Desk webhook attempts per second: delivered, retried, failed, dropped.")
        .datasource(PROMETHEUS)
        .with_target(prom_range(_rate("wirewatch_webhook_deliveries_total", "desk, outcome"),
                                "{{desk}} {{outcome}}"))
        .unit("reqps")
        .min(0)
        .legend(legend(common.LegendPlacement.BOTTOM, ["sum"]))
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def alerts_rate_panel() -> timeseries.Panel:
    """Alerts emitted and held back, per desk."""
    return (
        timeseries.Panel()
        .title("Alerts emitted and held back")
        .description("Alerts per minute by desk and severity band, and pages held back by quiet "
                     "hours or rate limits.")
        .datasource(PROMETHEUS)
        .with_target(prom_range(
            _rate("wirewatch_alerts_total", "desk, severity_band") + " * 60",
            "{{desk}} {{severity_band}}", "A"))
        .with_target(prom_range(
            _rate("wirewatch_alerts_suppressed_total", "desk, why") + " * 60",
            "{{desk}} held back ({{why}})", "B"))
        .unit("suffix: /min")
        .min(0)
        .legend(legend(common.LegendPlacement.BOTTOM, ["sum"]))
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def workers_up_panel() -> stat.Panel:
    """How many selected workers Prometheus can scrape."""
    return (
        stat.Panel()
        .title("Workers up")
        .description("Selected workers whose /metrics Prometheus scraped successfully.")
        .datasource(PROMETHEUS)
        .with_target(prom_instant(f"sum({dashboard_selector('up')})", "up"))
        .reduce_options(reduce_last())
        .thresholds(thresholds((None, "red"), (1, "green")))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .span(4)
        .height(8)
    )


def stories_by_language_panel() -> timeseries.Panel:
    """Tagged stories per second by main language."""
    return (
        timeseries.Panel()
        .title("Tagged stories by language")
        .description("Stories the tag stage finished per second, by main language.")
        .datasource(PROMETHEUS)
        .with_target(prom_range(_rate("wirewatch_stories_by_language_total", "language"),
                                "{{language}}"))
        .unit("suffix: stories/s")
        .min(0)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .legend(legend(common.LegendPlacement.RIGHT, ["sum"]))
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def dashboard() -> dashboard_builders.Dashboard:
    """The operations dashboard, in rows: flow, latency, failures and delivery."""
    return (
        dashboard_builders.Dashboard("wirewatch - operations")
        .uid(UID)
        .description("How the pipeline workers are doing: throughput, latency, consumer lag, "
                     "dead letters, Elasticsearch and webhook delivery (Prometheus).")
        .tags([FOLDER_TITLE, "operations"])
        .time("now-3h", "now")
        .refresh("10s")
        .timezone("utc")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .link(dashboard_builders.DashboardLink("wirewatch").type(DashboardLinkType.DASHBOARDS)
              .tags([FOLDER_TITLE]).as_dropdown(True).keep_time(True).include_vars(True))
        .with_variable(instance_variable())
        .with_row(dashboard_builders.Row("Flow"))
        .with_panel(workers_up_panel())
        .with_panel(seconds_since_last_story_panel())
        .with_panel(throughput_panel())
        .with_panel(consumer_lag_panel())
        .with_panel(stories_by_language_panel())
        .with_row(dashboard_builders.Row("Latency"))
        .with_panel(ingest_to_alert_latency_panel())
        .with_panel(ingest_to_index_latency_panel())
        .with_panel(tagging_latency_panel())
        .with_row(dashboard_builders.Row("Failures"))
        .with_panel(deadletter_rate_panel())
        .with_panel(es_bulk_failures_panel())
        .with_panel(es_bulk_duration_panel())
        .with_row(dashboard_builders.Row("Alerts and delivery"))
        .with_panel(alerts_rate_panel())
        .with_panel(webhook_deliveries_panel())
    )
