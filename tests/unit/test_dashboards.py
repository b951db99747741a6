"""Grafana dashboards, data sources and alert rules: generated files, uids, PromQL and ES fields."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram, Info
from prometheus_client.metrics import MetricWrapperBase

from grafana import DASHBOARDS_DIR, FOLDER_TITLE, PROVISIONING_DIR
from grafana.alerts import CONTACT_POINT
from grafana.build import DASHBOARDS, DASHBOARDS_MOUNT, generated_files
from grafana.datasources import EXPRESSION_UID, SCRAPE_INTERVAL, TIME_FIELD
from grafana.esquery import (
    FieldUse,
    field_uses,
    fits,
    mapped_field,
    query_field_uses,
    result_size,
    search_body,
)
from grafana.inventory import (
    PanelQuery,
    geohash_fields,
    panel_field_uses,
    panel_queries,
    panels,
    rule_queries,
    variable_queries,
)
from grafana.promql import (
    QueryInterval,
    UnresolvedVariable,
    duration,
    interpolate,
    parse_duration_ms,
)
from streams import metrics
from streams.es import load_template
from streams.settings import Settings

RULES_FILE = PROVISIONING_DIR / "alerting" / "wirewatch-rules.yaml"
CONTACT_POINTS_FILE = PROVISIONING_DIR / "alerting" / "wirewatch-contact-points.yaml"
DATASOURCES_FILE = PROVISIONING_DIR / "datasources" / "wirewatch.yaml"
PROVIDERS_FILE = PROVISIONING_DIR / "dashboards" / "wirewatch.yaml"


def committed_dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def provisioned_datasources() -> dict[str, dict[str, Any]]:
    return {ds["uid"]: ds for ds in load_yaml(DATASOURCES_FILE)["datasources"]}


def all_queries() -> Iterator[PanelQuery]:
    for dashboard in committed_dashboards().values():
        yield from panel_queries(dashboard)
        yield from variable_queries(dashboard)
    yield from rule_queries(load_yaml(RULES_FILE))


def prometheus_queries() -> list[PanelQuery]:
    datasources = provisioned_datasources()
    return [q for q in all_queries()
            if datasources.get(q.datasource_uid, {}).get("type") == "prometheus"]


def elasticsearch_targets() -> list[tuple[dict[str, Any], PanelQuery]]:
    datasources = provisioned_datasources()
    found = []
    for dashboard in committed_dashboards().values():
        for panel in panels(dashboard):
            for query in panel_queries({"uid": dashboard["uid"], "panels": [panel]}):
                if datasources[query.datasource_uid]["type"] == "elasticsearch":
                    found.append((dict(panel), query))
    return found


# Concrete values for the variables of the dashboards (6 h range, local scrape interval).
VARIABLES = {
    **QueryInterval.for_range(6 * 3_600_000, parse_duration_ms(SCRAPE_INTERVAL)).variables(),
    "instance": ".*",
}


def concrete(query: PanelQuery) -> str:
    expr = query.expr
    if expr.startswith("label_values("):  # a Grafana variable function, not PromQL
        expr = expr[len("label_values("):].rsplit(",", 1)[0]
    return interpolate(expr, VARIABLES)


# ----------------------------------------------------------------------------- generated files


def test_generated_files_equal_the_committed_ones() -> None:
    files = generated_files()
    assert {p.relative_to(DASHBOARDS_DIR.parent).as_posix() for p in files} == {
        "dashboards/newsroom.json", "dashboards/operations.json",
        "provisioning/datasources/wirewatch.yaml", "provisioning/dashboards/wirewatch.yaml",
        "provisioning/alerting/wirewatch-rules.yaml",
        "provisioning/alerting/wirewatch-contact-points.yaml",
    }
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is out of date: run `python -m grafana.build`")
    assert generated_files() == files  # stable from one run to the next


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_json_is_sorted_and_complete(name: str) -> None:
    text = (DASHBOARDS_DIR / f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert data["uid"] == f"wirewatch-{name}"
    assert FOLDER_TITLE in data["tags"]
    assert data["annotations"]["list"][0]["builtIn"] == 1
    shown = list(panels(data))
    assert len(shown) >= 7
    assert len({p["title"] for p in shown}) == len(shown), "panel titles must be unique"
    for panel in shown:
        assert panel["targets"], f"{panel['title']} has no query"
        assert panel.get("description"), f"{panel['title']} has no description"
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]


def test_dashboard_provider_loads_the_dashboards_into_the_rules_folder() -> None:
    provider = load_yaml(PROVIDERS_FILE)["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == DASHBOARDS_MOUNT
    groups = load_yaml(RULES_FILE)["groups"]
    assert {g["folder"] for g in groups} == {provider["folder"]} == {FOLDER_TITLE}


# ----------------------------------------------------------------------------- data sources


def test_datasources_point_at_the_local_stack_and_the_worker_aliases() -> None:
    settings = Settings()
    datasources = provisioned_datasources()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for ds in datasources.values():
        by_type.setdefault(ds["type"], []).append(ds)
    assert len(by_type["prometheus"]) == 1
    assert by_type["prometheus"][0]["url"] == f"http://127.0.0.1:{settings.prometheus_port}"
    assert by_type["prometheus"][0]["jsonData"]["timeInterval"] == SCRAPE_INTERVAL
    indices = sorted(ds["jsonData"]["index"] for ds in by_type["elasticsearch"])
    assert indices == sorted([settings.stories_index, settings.alerts_index])
    for ds in by_type["elasticsearch"]:
        assert ds["url"] == settings.es_url
        assert ds["jsonData"]["timeField"] == TIME_FIELD


def test_every_panel_query_and_variable_uses_a_provisioned_datasource() -> None:
    datasources = provisioned_datasources()
    checked = 0
    for name, dashboard in committed_dashboards().items():
        for panel in panels(dashboard):
            ref = panel["datasource"]
            assert ref["uid"] in datasources, f"{name} / {panel['title']}: {ref}"
            assert datasources[ref["uid"]]["type"] == ref["type"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == ref, f"{panel['title']} {target['refId']}"
                checked += 1
        for query in variable_queries(dashboard):
            assert query.datasource_uid in datasources, query.source
    assert checked >= 20


def test_every_alert_rule_query_uses_a_provisioned_datasource_or_an_expression() -> None:
    datasources = provisioned_datasources()
    rules = load_yaml(RULES_FILE)["groups"][0]["rules"]
    assert {r["title"] for r in rules} >= {
        "Violence burst in a country", "Pipeline stage stalled", "Dead-letter spike"}
    assert len({r["uid"] for r in rules}) == len(rules)
    for rule in rules:
        refs = {item["refId"]: item for item in rule["data"]}
        assert rule["condition"] in refs
        condition = refs[rule["condition"]]
        assert condition["datasourceUid"] == EXPRESSION_UID
        assert condition["model"]["type"] == "threshold"
        assert condition["model"]["expression"] in refs, rule["uid"]
        for item in rule["data"]:
            assert item["datasourceUid"] in {*datasources, EXPRESSION_UID}, rule["uid"]
        # Grafana expands ${VAR} from the environment in provisioned annotations and $VAR in
        # titles: neither may appear by accident.
        assert "$" not in rule["title"]
        for text in rule["annotations"].values():
            assert "${" not in text, rule["uid"]


def test_alerts_go_to_the_stack_alertmanager() -> None:
    data = load_yaml(CONTACT_POINTS_FILE)
    receiver = data["contactPoints"][0]["receivers"][0]
    assert receiver["type"] == "prometheus-alertmanager"
    assert receiver["settings"]["url"] == f"http://127.0.0.1:{Settings().alertmanager_port}"
    assert data["policies"][0]["receiver"] == data["contactPoints"][0]["name"] == CONTACT_POINT


# ----------------------------------------------------------------------------- PromQL


def exported_series() -> dict[str, frozenset[str]]:
    """Every series name streams.metrics exports, with the labels it carries."""
    series: dict[str, frozenset[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        name, labels = value._name, frozenset(value._labelnames)
        if isinstance(value, Counter):
            series[f"{name}_total"] = labels
        elif isinstance(value, Histogram):
            for suffix in ("_bucket", "_sum", "_count"):
                series[name + suffix] = labels | {"le"} if suffix == "_bucket" else labels
        elif isinstance(value, Info):
            series[f"{name}_info"] = labels | {"version"}
        elif isinstance(value, Gauge):
            series[name] = labels
    return series


SCRAPE_LABELS = frozenset({"job", "instance"})


def test_promql_names_only_series_and_labels_the_worker_exports() -> None:
    series = exported_series()
    assert "wirewatch_stories_in_total" in series  # the helper itself works
    used: set[str] = set()
    for query in prometheus_queries():
        expr = concrete(query)
        names = set(re.findall(r"\b(wirewatch_\w+)", expr))
        assert names or re.search(r"\bup\b", expr), query.source
        labels = frozenset().union(*(series[n] for n in names if n in series)) | SCRAPE_LABELS
        for name in names:
            assert name in series, f"{query.source}: {name} is not exported by streams.metrics"
        grouped = re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr)
        matched = re.findall(r"[{,]\s*(\w+)\s*(?:=~|!~|!=|=)", expr)
        for label in [part.strip() for g in grouped for part in g.split(",")] + matched:
            assert label in labels, f"{query.source}: label {label!r} not on {sorted(names)}"
        used |= names
    # Every stage, latency, lag and failure metric the brief asks for is on a panel or rule.
    assert used >= {
        "wirewatch_stories_in_total", "wirewatch_stories_out_total",
        "wirewatch_ingest_to_alert_seconds_bucket", "wirewatch_ingest_to_index_seconds_bucket",
        "wirewatch_tagging_seconds_bucket", "wirewatch_consumer_lag_messages",
        "wirewatch_deadletter_total", "wirewatch_es_bulk_errors_total",
        "wirewatch_es_bulk_retries_total", "wirewatch_webhook_deliveries_total",
        "wirewatch_violence_stories_total", "wirewatch_build_info",
    }


def promtool_check(expressions: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Prometheus' own parser (`promtool check rules`) on expressions as recording rules."""
    promtool = shutil.which("promtool")
    assert promtool, ("promtool is missing: install the Debian package `prometheus` "
                      "(deploy/local/stack up installs it)")
    rules = {"groups": [{"name": "check", "rules": [
        {"record": f"wirewatch_check_{i}", "expr": expr} for i, expr in enumerate(expressions)
    ]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_every_promql_expression_parses(tmp_path: Path) -> None:
    queries = prometheus_queries()
    assert len(queries) >= 25
    expressions = [concrete(q) for q in queries]
    assert not any("$" in e for e in expressions)
    proc = promtool_check(expressions, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(expressions)} rules found" in proc.stdout


@pytest.mark.parametrize("broken", [
    "sum by (stage) (rate(wirewatch_stories_in_total[5m])",  # unclosed
    "histogram_quantile(0.95, rate(wirewatch_tagging_seconds_bucket[$__rate_interval]))",
    "rate(wirewatch_deadletter_total{reason=\"x\"})",  # rate of an instant vector
])
def test_promtool_rejects_broken_expressions(broken: str, tmp_path: Path) -> None:
    proc = promtool_check([broken], tmp_path)
    assert proc.returncode != 0


@pytest.mark.parametrize(("expr", "variables", "expected"), [
    ("rate(x[$__rate_interval])", {"__rate_interval": "25s"}, "rate(x[25s])"),
    ('up{instance=~"${instance}"}', {"instance": ".*"}, 'up{instance=~".*"}'),
    ('up{instance=~"${instance:regex}"}', {"instance": "a|b"}, 'up{instance=~"a|b"}'),
    ("sum(x[[interval]])", {"interval": "1m"}, "sum(x1m)"),
])
def test_interpolate(expr: str, variables: dict[str, str], expected: str) -> None:
    assert interpolate(expr, variables) == expected


def test_interpolate_refuses_to_leave_a_variable() -> None:
    with pytest.raises(UnresolvedVariable, match="desk"):
        interpolate('x{desk="$desk"}', {"instance": ".*"})


@pytest.mark.parametrize(("range_ms", "scrape_ms", "interval", "rate_interval"), [
    (6 * 3_600_000, 5_000, "20s", "25s"),  # 21.6 s raw -> 20 s
    (3 * 3_600_000, 5_000, "10s", "20s"),  # 10.8 s -> 10 s; 4 x scrape wins
    (5 * 60_000, 5_000, "5s", "20s"),  # 300 ms raw, floored at the scrape interval
    (24 * 3_600_000, 15_000, "1m", "75s"),
])
def test_query_interval_follows_grafana(range_ms: int, scrape_ms: int, interval: str,
                                        rate_interval: str) -> None:
    values = QueryInterval.for_range(range_ms, scrape_ms).variables()
    assert values["__interval"] == interval
    assert values["__rate_interval"] == rate_interval


@pytest.mark.parametrize(("ms", "text"), [(75_000, "75s"), (60_000, "1m"), (250, "250ms"),
                                          (7_200_000, "2h")])
def test_duration_round_trips(ms: int, text: str) -> None:
    assert duration(ms) == text
    assert parse_duration_ms(text) == ms


# ----------------------------------------------------------------------------- Elasticsearch


def template_properties(index_alias: str) -> dict[str, Any]:
    settings = Settings()
    name = {settings.stories_index: "stories", settings.alerts_index: "alerts"}[index_alias]
    props: dict[str, Any] = load_template(name)["template"]["mappings"]["properties"]
    return props


STORIES = load_template("stories")["template"]["mappings"]["properties"]


@pytest.mark.parametrize(("field", "use", "ok"), [
    ("countries", "terms", True),
    ("sources", "terms", True),
    ("headline", "terms", False),  # text: no terms aggregation
    ("headline.raw", "terms", True),  # its keyword multi-field
    ("place_points", "geohash_grid", True),
    ("focus.point", "geohash_grid", True),
    ("violence_terms", "terms", True),
    ("focus.country_code", "terms", True),
    ("severity", "histogram", True),
    ("countries", "histogram", False),
    ("@timestamp", "time", True),
    ("received_at", "date_histogram", True),
    ("severity", "time", False),
    ("violent", "query:boolean", True),
    ("severity", "query:boolean", False),
    ("killed", "metric", True),
])
def test_field_fits_its_use(field: str, use: str, ok: bool) -> None:
    mapped = mapped_field(STORIES, field)
    assert mapped is not None
    assert fits(mapped, use) is ok


@pytest.mark.parametrize("field", ["headline.keyword", "focus", "place", "focus.point.lat", "",
                                   "locations.point", "violence.category"])  # kept, not indexed
def test_unmapped_fields_are_not_found(field: str) -> None:
    assert mapped_field(STORIES, field) is None


def test_fields_under_a_nested_object_do_not_fit_plain_aggregations() -> None:
    mapping = {"mentions": {"type": "nested", "properties": {"point": {"type": "geo_point"}}}}
    mapped = mapped_field(mapping, "mentions.point")
    assert mapped is not None and mapped.nested
    assert not fits(mapped, "geohash_grid")


@pytest.mark.parametrize(("query", "expected"), [
    ("violent:true", [FieldUse("violent", "query:boolean")]),
    ("severity:[70 TO *] AND countries:KZ", [FieldUse("severity", "query:number"),
                                             FieldUse("countries", "query")]),
    ('headline:"Almaty" OR focus.country_code:UA', [FieldUse("headline", "query"),
                                                    FieldUse("focus.country_code", "query")]),
    ("*", []),
    ("Αλμάτι πυροβολισμοί", []),
])
def test_query_field_uses(query: str, expected: list[FieldUse]) -> None:
    assert query_field_uses(query) == expected


def test_every_elasticsearch_field_exists_with_a_fitting_type() -> None:
    datasources = provisioned_datasources()
    targets = elasticsearch_targets()
    assert len(targets) >= 6
    checked: set[tuple[str, str]] = set()
    for panel, query in targets:
        ds = datasources[query.datasource_uid]
        properties = template_properties(ds["jsonData"]["index"])
        uses = field_uses(query.target, ds["jsonData"]["timeField"]) + panel_field_uses(panel)
        for use in uses:
            mapped = mapped_field(properties, use.field)
            assert mapped is not None, f"{query.source}: {use.field} is not in the mapping"
            assert fits(mapped, use.use), (
                f"{query.source}: {use.field} is {mapped.type} (nested={mapped.nested}), "
                f"cannot serve {use.use}")
            checked.add((ds["uid"], use.field))
        grids = {a["field"] for a in query.target.get("bucketAggs") or []
                 if a["type"] == "geohash_grid"}
        for field in geohash_fields(panel):
            assert field in grids, f"{query.source}: map reads {field}, query buckets {grids}"
    assert ("wirewatch-es-stories", "place_points") in checked
    assert ("wirewatch-es-alerts", "latency_seconds") in checked


def newsroom_target(title: str) -> dict[str, Any]:
    dashboard = committed_dashboards()["newsroom"]
    panel = next(p for p in panels(dashboard) if p["title"] == title)
    target: dict[str, Any] = panel["targets"][0]
    return target


def test_search_body_nests_bucket_aggregations_in_panel_order() -> None:
    body = search_body(newsroom_target("Violence stories by country"), 1_000, 2_000, "1m",
                       TIME_FIELD)
    assert body["size"] == 0
    time_filter, query = body["query"]["bool"]["filter"]
    assert time_filter["range"][TIME_FIELD] == {"gte": 1_000, "lte": 2_000,
                                                "format": "epoch_millis"}
    assert query["query_string"]["query"] == "violent:true"
    terms = body["aggs"]["2"]
    assert terms["terms"]["field"] == "countries"
    histogram = terms["aggs"]["3"]["date_histogram"]
    assert histogram["fixed_interval"] == "1m"
    assert histogram["extended_bounds"] == {"min": 1_000, "max": 2_000}


def test_search_body_of_raw_data_sorts_newest_first() -> None:
    body = search_body(newsroom_target("Live alerts"), 0, 1, "1m", TIME_FIELD)
    assert body["size"] == 200
    assert body["sort"][0] == {TIME_FIELD: {"order": "desc", "unmapped_type": "boolean"}}
    assert "aggs" not in body


def test_result_size_counts_non_empty_innermost_buckets() -> None:
    target = newsroom_target("Violence stories by country")
    response = {"aggregations": {"2": {"buckets": [
        {"key": "KZ", "doc_count": 3, "3": {"buckets": [{"key": 1, "doc_count": 0},
                                                      {"key": 2, "doc_count": 3}]}},
        {"key": "UA", "doc_count": 1, "3": {"buckets": [{"key": 1, "doc_count": 1}]}},
    ]}}}
    assert result_size(target, response) == 2
    assert result_size(target, {"aggregations": {"2": {"buckets": []}}}) == 0
