"""Grafana Elasticsearch panel queries as the search requests Grafana sends; the fields they use.

Grafana's Elasticsearch data source turns a panel target (Lucene query, bucket aggregations nested
in order, metrics in the innermost bucket) into one `_search` request. `search_body` builds the
same request so that tests can run a dashboard's queries against the real index.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

RAW_METRICS = frozenset({"raw_data", "raw_document", "logs"})
FIELD_METRICS = frozenset({"avg", "sum", "min", "max", "cardinality", "extended_stats",
                           "percentiles"})
NUMERIC_TYPES = frozenset({"integer", "long", "short", "byte", "float", "double", "half_float",
                           "scaled_float", "unsigned_long"})
DATE_TYPES = frozenset({"date", "date_nanos"})
# What type a field must have for each way a query uses it.
ALLOWED_TYPES: dict[str, frozenset[str]] = {
    "time": DATE_TYPES,
    "date_histogram": DATE_TYPES,
    "terms": frozenset({"keyword", "constant_keyword"}),
    "histogram": NUMERIC_TYPES,
    "geohash_grid": frozenset({"geo_point"}),
    "metric": NUMERIC_TYPES,
    "cardinality": frozenset({"keyword", "constant_keyword", *NUMERIC_TYPES}),
    "query:boolean": frozenset({"boolean"}),
    "query:number": NUMERIC_TYPES,
    "query": frozenset({"keyword", "text", "boolean", *NUMERIC_TYPES, *DATE_TYPES}),
    "column": frozenset({"keyword", "text", "boolean", "geo_point", *NUMERIC_TYPES,
                         *DATE_TYPES}),
    "geo_point": frozenset({"geo_point"}),
}
_LUCENE_FIELD = re.compile(r"(?<![\w.@\\])([A-Za-z@_][\w.@]*):\s*(\"[^\"]*\"|[^\s()]+)")


@dataclass(frozen=True, slots=True)
class FieldUse:
    """One field a query or panel refers to, and how (a key of ALLOWED_TYPES)."""

    field: str
    use: str


def field_uses(target: Mapping[str, Any], default_time_field: str) -> list[FieldUse]:
    """Every field an Elasticsearch target refers to: time field, aggregations, metrics, query."""
    uses = [FieldUse(target.get("timeField") or default_time_field, "time")]
    for agg in target.get("bucketAggs") or []:
        if agg.get("field") and agg["type"] in ALLOWED_TYPES:
            uses.append(FieldUse(agg["field"], agg["type"]))
    for metric in target.get("metrics") or []:
        if metric["type"] in FIELD_METRICS and metric.get("field"):
            kind = "cardinality" if metric["type"] == "cardinality" else "metric"
            uses.append(FieldUse(metric["field"], kind))
    uses.extend(query_field_uses(target.get("query") or ""))
    return uses


def query_field_uses(query: str) -> list[FieldUse]:
    """Fields named in a Lucene query string (`violent:true`, `severity:[70 TO *]`)."""
    uses = []
    for field, value in _LUCENE_FIELD.findall(query):
        if value in ("true", "false"):
            uses.append(FieldUse(field, "query:boolean"))
        elif value.startswith("[") or value.startswith("{") or re.fullmatch(r"-?\d+(\.\d+)?",
                                                                             value):
            uses.append(FieldUse(field, "query:number"))
        else:
            uses.append(FieldUse(field, "query"))
    return uses


@dataclass(frozen=True, slots=True)
class MappedField:
    """A field found in an index mapping."""

    type: str
    nested: bool  # under a `nested` object: plain aggregations and queries do not reach it


def mapped_field(properties: Mapping[str, Any], path: str) -> MappedField | None:
    """Look up a dotted field path (object properties and multi-fields) in mapping properties;
    None when the path is missing or names an object rather than a field."""
    *parents, leaf = path.split(".")
    scope: Mapping[str, Any] = properties
    nested = False
    for part in parents:
        node = scope.get(part)
        if node is None:
            return None
        if "properties" in node:
            nested = nested or node.get("type") == "nested"
            scope = node["properties"]
        elif "fields" in node:
            scope = node["fields"]
        else:
            return None
    found = scope.get(leaf)
    if found is None or "type" not in found or found["type"] in ("object", "nested"):
        return None
    return MappedField(type=str(found["type"]), nested=nested)


def fits(field: MappedField, use: str) -> bool:
    """Whether a mapped field can serve the given use."""
    return not field.nested and field.type in ALLOWED_TYPES[use]


# ----------------------------------------------------------------------------- requests


def _time_filter(time_field: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    return {"range": {time_field: {"gte": start_ms, "lte": end_ms, "format": "epoch_millis"}}}


def _bucket_agg(agg: Mapping[str, Any], time_field: str, start_ms: int, end_ms: int,
                interval: str) -> dict[str, Any]:
    settings = agg.get("settings") or {}
    kind = agg["type"]
    if kind == "date_histogram":
        chosen = settings.get("interval") or "auto"
        return {"date_histogram": {
            "field": agg.get("field") or time_field,
            "fixed_interval": interval if chosen == "auto" else chosen,
            "min_doc_count": int(settings.get("min_doc_count") or 0),
            "extended_bounds": {"min": start_ms, "max": end_ms},
            "format": "epoch_millis",
        }}
    if kind == "terms":
        size = int(settings.get("size") or 10)
        order_by = settings.get("orderBy") or "_count"
        order_key = "_key" if order_by == "_term" else order_by
        return {"terms": {
            "field": agg["field"],
            "size": size if size > 0 else 500,
            "order": {order_key: settings.get("order") or "desc"},
            "min_doc_count": int(settings.get("min_doc_count") or 1),
        }}
    if kind == "histogram":
        return {"histogram": {
            "field": agg["field"],
            "interval": float(settings.get("interval") or 1000),
            "min_doc_count": int(settings.get("min_doc_count") or 0),
        }}
    if kind == "geohash_grid":
        return {"geohash_grid": {"field": agg["field"],
                                 "precision": int(settings.get("precision") or 3)}}
    if kind == "filters":
        filters = {f.get("label") or f["query"]: {"query_string": {
            "query": f["query"] or "*", "analyze_wildcard": True}}
            for f in settings.get("filters") or []}
        return {"filters": {"filters": filters}}
    raise ValueError(f"bucket aggregation {kind!r} is not supported")


def _metric_agg(metric: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = metric["type"]
    if kind == "count":
        return None
    if kind in FIELD_METRICS:
        body: dict[str, Any] = {"field": metric["field"]}
        percents = (metric.get("settings") or {}).get("percents")
        if kind == "percentiles" and percents:
            body["percents"] = [float(p) for p in percents]
        return {kind: body}
    raise ValueError(f"metric {kind!r} is not supported")


def search_body(target: Mapping[str, Any], start_ms: int, end_ms: int, interval: str,
                default_time_field: str) -> dict[str, Any]:
    """The `_search` request body Grafana sends for one Elasticsearch target."""
    time_field = target.get("timeField") or default_time_field
    query = {"bool": {"filter": [
        _time_filter(time_field, start_ms, end_ms),
        {"query_string": {"analyze_wildcard": True, "query": target.get("query") or "*"}},
    ]}}
    metrics = target.get("metrics") or [{"type": "count", "id": "1"}]
    if metrics[0]["type"] in RAW_METRICS:
        size = int((metrics[0].get("settings") or {}).get("size") or 500)
        return {"size": size, "query": query,
                "sort": [{time_field: {"order": "desc", "unmapped_type": "boolean"}},
                         {"_doc": {"order": "desc"}}]}
    aggs: dict[str, Any] = {}
    for metric in metrics:
        agg = _metric_agg(metric)
        if agg is not None:
            aggs[str(metric["id"])] = agg
    for bucket in reversed(target.get("bucketAggs") or []):
        node = _bucket_agg(bucket, time_field, start_ms, end_ms, interval)
        if aggs:
            node["aggs"] = aggs
        aggs = {str(bucket["id"]): node}
    return {"size": 0, "query": query, "aggs": aggs}


def _leaf_doc_counts(aggs: Mapping[str, Any], path: list[str]) -> Iterator[int]:
    if not path:
        return
    node = aggs[path[0]]
    buckets = node["buckets"]
    items = buckets.values() if isinstance(buckets, dict) else buckets
    for bucket in items:
        if len(path) == 1:
            yield int(bucket["doc_count"])
        else:
            yield from _leaf_doc_counts(bucket, path[1:])


def result_size(target: Mapping[str, Any], response: Mapping[str, Any]) -> int:
    """Hits (raw queries) or innermost non-empty buckets (aggregations) of a response."""
    metrics = target.get("metrics") or [{"type": "count"}]
    if metrics[0]["type"] in RAW_METRICS:
        return len(response["hits"]["hits"])
    path = [str(b["id"]) for b in target.get("bucketAggs") or []]
    if not path:
        return int(response["hits"]["total"]["value"])
    return sum(1 for count in _leaf_doc_counts(response["aggregations"], path) if count > 0)
