"""Grafana-managed alert rules (violence burst, stalled stage, dead-letter spike, worker down).

Each rule is query A (PromQL, instant) and a threshold C on A. The PromQL keeps the measured
value so that notifications can quote it. Rules are built with the SDK and written in Grafana's
file-provisioning format (provisioning/alerting/*.yaml); a contact point sends them to the
Alertmanager of the stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import RelativeTimeRange
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from grafana import FOLDER_TITLE
from grafana.datasources import EXPRESSION_UID, PROMETHEUS, PROMETHEUS_UID
from grafana.promql import rule_selector
from streams.settings import Settings

GROUP = "wirewatch-pipeline"
GROUP_INTERVAL = "1m"
CONTACT_POINT = "wirewatch-alertmanager"
# Thresholds, one place to tune them.
BURST_WINDOW = "15m"
BURST_MIN_STORIES = 5
STALL_WINDOW = "10m"
STALL_FOR = "5m"
DEADLETTER_WINDOW = "5m"
DEADLETTER_MAX = 10


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What one rule watches and when it fires."""

    uid: str
    title: str
    expr: str  # PromQL of query A (instant)
    op: Literal["gt", "lt"]  # threshold on A
    threshold: float
    for_: str
    severity: str
    summary: str
    description: str
    window_seconds: int


def violence_burst_rule() -> RuleSpec:
    """More violence stories about one country in the window than usual news flow brings."""
    violence = rule_selector("wirewatch_violence_stories_total", 'country!="none"')
    return RuleSpec(
        uid="wirewatch-violence-burst",
        title="Violence burst in a country",
        expr=f"sum by (country) (increase({violence}[{BURST_WINDOW}]))",
        op="gt", threshold=BURST_MIN_STORIES, for_="0s", severity="warning",
        summary="Violence burst: {{ $labels.country }}",
        description=("{{ humanize $values.A.Value }} stories with violence terms about "
                     "{{ $labels.country }} in the last " + BURST_WINDOW + "."),
        window_seconds=900,
    )


def pipeline_stalled_rule() -> RuleSpec:
    """A stage reads stories but finishes none."""
    stories_in = rule_selector("wirewatch_stories_in_total")
    stories_out = rule_selector("wirewatch_stories_out_total")
    return RuleSpec(
        uid="wirewatch-pipeline-stalled",
        title="Pipeline stage stalled",
        expr=(f"(sum by (stage) (increase({stories_in}[{STALL_WINDOW}])) > 0) unless on (stage) "
              f"(sum by (stage) (increase({stories_out}[{STALL_WINDOW}])) > 0)"),
        op="gt", threshold=0, for_=STALL_FOR, severity="critical",
        summary="Stage {{ $labels.stage }} stalled",
        description=("Stage {{ $labels.stage }} read {{ humanize $values.A.Value }} stories in "
                     "the last " + STALL_WINDOW + " and finished none (Kafka, Elasticsearch or "
                     "the worker itself is stuck)."),
        window_seconds=600,
    )


def deadletter_spike_rule() -> RuleSpec:
    """Many messages dead-lettered in a short time, by reason."""
    return RuleSpec(
        uid="wirewatch-deadletter-spike",
        title="Dead-letter spike",
        expr=(f"sum by (reason) (increase({rule_selector('wirewatch_deadletter_total')}"
              f"[{DEADLETTER_WINDOW}]))"),
        op="gt", threshold=DEADLETTER_MAX, for_="0s", severity="warning",
        summary="Dead letters: {{ $labels.reason }}",
        description=("{{ humanize $values.A.Value }} messages dead-lettered with reason "
                     "{{ $labels.reason }} in the last " + DEADLETTER_WINDOW + "."),
        window_seconds=300,
    )


def worker_down_rule() -> RuleSpec:
    """Prometheus cannot scrape a worker."""
    return RuleSpec(
        uid="wirewatch-worker-down",
        title="Worker down",
        expr=rule_selector("up"),
        op="lt", threshold=1, for_="2m", severity="critical",
        summary="Worker {{ $labels.instance }} down",
        description="Prometheus cannot scrape the worker at {{ $labels.instance }}.",
        window_seconds=300,
    )


RULES = (violence_burst_rule, pipeline_stalled_rule, deadletter_spike_rule, worker_down_rule)


def build_rule(spec: RuleSpec) -> alerting.Rule:
    """The SDK rule: A = PromQL (instant), C = threshold on A."""
    query = (prometheus.Dataquery().datasource(PROMETHEUS).expr(spec.expr).instant()
             .legend_format("__auto").ref_id("A"))
    threshold = (
        expr.TypeThreshold().ref_id("C").expression("A")
        .datasource(DataSourceRef(type_val="__expr__", uid=EXPRESSION_UID))
        .conditions([expr.ExprTypeThresholdConditions().evaluator(
            expr.ExprTypeThresholdConditionsEvaluator().type(spec.op).params([spec.threshold]))])
    )
    return (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .condition("C")
        .queries([
            alerting.Query("A").datasource_uid(PROMETHEUS_UID).model(query)
            .relative_time_range(RelativeTimeRange(from_val=spec.window_seconds, to=0)),
            alerting.Query("C").datasource_uid(EXPRESSION_UID).model(threshold)
            .relative_time_range(RelativeTimeRange(from_val=0, to=0)),
        ])
        .for_val(spec.for_)
        .no_data_state("OK")  # the queries return nothing while all is well
        .exec_err_state("Error")
        .labels({"severity": spec.severity, "service": "wirewatch"})
        .annotations({"summary": spec.summary, "description": spec.description})
        .is_paused(False)
    )


def _file_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """An SDK rule (API shape) in the file-provisioning shape."""
    keep = ("uid", "title", "condition", "data", "noDataState", "execErrState", "for",
            "annotations", "labels", "isPaused")
    return {key: rule[key] for key in keep if key in rule}


def rules_provisioning() -> dict[str, Any]:
    """The content of provisioning/alerting/wirewatch-rules.yaml."""
    rules = [json.loads(json.dumps(build_rule(make()).build(), cls=JSONEncoder))
             for make in RULES]
    return {
        "apiVersion": 1,
        "groups": [{
            "orgId": 1,
            "name": GROUP,
            "folder": FOLDER_TITLE,
            "interval": GROUP_INTERVAL,
            "rules": [_file_rule(rule) for rule in rules],
        }],
    }


def contact_points_provisioning(settings: Settings | None = None) -> dict[str, Any]:
    """The content of provisioning/alerting/wirewatch-contact-points.yaml: alerts go to the
    stack's Alertmanager, which routes them to the operators (deploy/alertmanager)."""
    s = settings or Settings()
    return {
        "apiVersion": 1,
        "contactPoints": [{
            "orgId": 1,
            "name": CONTACT_POINT,
            "receivers": [{
                "uid": CONTACT_POINT,
                "type": "prometheus-alertmanager",
                "disableResolveMessage": False,
                "settings": {"url": f"http://127.0.0.1:{s.alertmanager_port}"},
            }],
        }],
        "policies": [{
            "orgId": 1,
            "receiver": CONTACT_POINT,
            "group_by": ["grafana_folder", "alertname"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "1h",
        }],
    }


def rule_expressions() -> dict[str, str]:
    """PromQL of every rule by uid."""
    return {make().uid: make().expr for make in RULES}
