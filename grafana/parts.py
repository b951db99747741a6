"""Small shared pieces of panels: Prometheus and Elasticsearch targets, legends, thresholds."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import elasticsearch, prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode
from grafana_foundation_sdk.models.elasticsearch import TermsOrder

from grafana.datasources import PROMETHEUS, TIME_FIELD

Target = cogbuilder.Builder[cogvariants.Dataquery]


def prom_range(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    """A range query (time series panels)."""
    return (prometheus.Dataquery().datasource(PROMETHEUS).expr(expr).legend_format(legend)
            .range().ref_id(ref_id))


def prom_instant(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    """An instant query (stat and bar gauge panels)."""
    return (prometheus.Dataquery().datasource(PROMETHEUS).expr(expr).legend_format(legend)
            .instant().ref_id(ref_id))


def es_target(datasource: DataSourceRef, query: str, ref_id: str = "A") -> elasticsearch.Dataquery:
    """An Elasticsearch query on the data source's time field; add aggregations and metrics."""
    return (elasticsearch.Dataquery().datasource(datasource).query(query).time_field(TIME_FIELD)
            .ref_id(ref_id))


def es_terms(agg_id: str, field: str, size: int) -> elasticsearch.Terms:
    """Top `size` values of a keyword field by document count."""
    return elasticsearch.Terms().id(agg_id).field(field).settings(
        elasticsearch.ElasticsearchTermsSettings().size(str(size)).order(
            TermsOrder.DESC).order_by("_count").min_doc_count("1"))


def es_date_histogram(agg_id: str) -> elasticsearch.DateHistogram:
    """Buckets of the time field at Grafana's automatic interval."""
    return elasticsearch.DateHistogram().id(agg_id).field(TIME_FIELD).settings(
        elasticsearch.ElasticsearchDateHistogramSettings().interval("auto").min_doc_count("0"))


def es_count(metric_id: str = "1") -> elasticsearch.Count:
    return elasticsearch.Count().id(metric_id)


def legend(placement: common.LegendPlacement = common.LegendPlacement.BOTTOM,
           calcs: list[str] | None = None) -> common_builders.VizLegendOptions:
    """A legend; with calcs it becomes a table (e.g. mean and max per series)."""
    mode = common.LegendDisplayMode.TABLE if calcs else common.LegendDisplayMode.LIST
    return (common_builders.VizLegendOptions().display_mode(mode).placement(placement)
            .show_legend(True).calcs(calcs or []))


def tooltip() -> common_builders.VizTooltipOptions:
    return common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(
        common.SortOrder.DESCENDING)


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds: (None, base colour) first, then (value, colour) upwards."""
    return dashboard_builders.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=value, color=color) for value, color in steps])


def severity_thresholds() -> dashboard_builders.ThresholdsConfig:
    """Colours of the severity bands (streams.metrics.severity_band): low, medium, high."""
    return thresholds((None, "green"), (40, "orange"), (70, "red"))


def reduce_last(values: bool = False) -> common_builders.ReduceDataOptions:
    """Show each series' last value (or every row with values=True)."""
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(values)
