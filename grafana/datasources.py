"""The Grafana data sources, with the fixed uids dashboards and alert rules refer to."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models.dashboard import DataSourceRef

from streams.settings import Settings

PROMETHEUS_UID = "wirewatch-prometheus"
ES_STORIES_UID = "wirewatch-es-stories"
ES_ALERTS_UID = "wirewatch-es-alerts"
EXPRESSION_UID = "__expr__"  # Grafana's server-side expressions (alert rule thresholds)

TIME_FIELD = "@timestamp"
# The local stack scrapes every 5 s (deploy/prometheus/prometheus.yml); Grafana needs it to size
# $__rate_interval so that a rate() window always holds enough samples.
SCRAPE_INTERVAL = "5s"

PROMETHEUS = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
ES_STORIES = DataSourceRef(type_val="elasticsearch", uid=ES_STORIES_UID)
ES_ALERTS = DataSourceRef(type_val="elasticsearch", uid=ES_ALERTS_UID)


def _elasticsearch(name: str, uid: str, url: str, index: str, log_field: str) -> dict[str, Any]:
    return {
        "name": name,
        "uid": uid,
        "type": "elasticsearch",
        "access": "proxy",
        "url": url,
        "editable": False,
        "jsonData": {
            # The alias the worker writes to; it spans every rolled-over index behind it.
            "index": index,
            "timeField": TIME_FIELD,
            "maxConcurrentShardRequests": 5,
            "logMessageField": log_field,
        },
    }


def datasources_provisioning(settings: Settings | None = None) -> dict[str, Any]:
    """The content of provisioning/datasources/wirewatch.yaml (local stack addresses by default)."""
    s = settings or Settings()
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "wirewatch Prometheus",
                "uid": PROMETHEUS_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": f"http://127.0.0.1:{s.prometheus_port}",
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": SCRAPE_INTERVAL, "httpMethod": "POST"},
            },
            _elasticsearch("wirewatch stories", ES_STORIES_UID, s.es_url, s.stories_index,
                           "headline"),
            _elasticsearch("wirewatch alerts", ES_ALERTS_UID, s.es_url, s.alerts_index,
                           "message"),
        ],
    }
