"""The newsroom dashboard: live alerts, where violence is reported, by whom, and how severe."""

from __future__ import annotations

from grafana_foundation_sdk.builders import (
    barchart,
    bargauge,
    elasticsearch,
    geomap,
    piechart,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataTransformerConfig,
    DynamicConfigValue,
    FieldColorModeId,
)
from grafana_foundation_sdk.models.geomap import TooltipMode
from grafana_foundation_sdk.models.piechart import PieChartLegendValues, PieChartType

from grafana import FOLDER_TITLE
from grafana.datasources import ES_ALERTS, ES_STORIES, PROMETHEUS, TIME_FIELD
from grafana.operations import instance_variable
from grafana.parts import (
    es_count,
    es_date_histogram,
    es_target,
    es_terms,
    legend,
    prom_range,
    reduce_last,
    severity_thresholds,
    tooltip,
)
from grafana.promql import dashboard_selector

UID = "wirewatch-newsroom"
VIOLENT = "violent:true"
# Alert fields shown in the live table, in order, with their column titles.
ALERT_COLUMNS: tuple[tuple[str, str], ...] = (
    (TIME_FIELD, "Updated"),
    ("desk", "Desk"),
    ("severity", "Severity"),
    ("headline", "Headline"),
    ("countries", "Countries"),
    ("categories", "Categories"),
    ("sources", "Sources"),
    ("story_count", "Stories"),
    ("latency_seconds", "Latency"),
)
GEOHASH_FIELD = "place_points"  # every resolved place of a story (geo_point)


def alert_table_panel() -> table.Panel:
    """The newest alerts (cluster updates overwrite an alert), newest first."""
    names = [field for field, _ in ALERT_COLUMNS]
    return (
        table.Panel()
        .title("Live alerts")
        .description("One row per alert (later stories of a cluster update it): desk, severity, "
                     "where, what, who reported it, how many stories, publish-to-alert latency.")
        .datasource(ES_ALERTS)
        .with_target(es_target(ES_ALERTS, "*").metrics([
            elasticsearch.RawData().id("1").settings(
                elasticsearch.ElasticsearchRawDataSettings().size("200")),
        ]))
        .with_transformation(DataTransformerConfig(
            id_val="filterFieldsByName", options={"include": {"names": names}}))
        .with_transformation(DataTransformerConfig(id_val="organize", options={
            "excludeByName": {},
            "indexByName": {field: i for i, field in enumerate(names)},
            "renameByName": dict(ALERT_COLUMNS),
        }))
        .sort_by([common_builders.TableSortByFieldState().display_name("Updated").desc(True)])
        .cell_height(common.TableCellHeight.SM)
        .thresholds(severity_thresholds())
        .override_by_name("Severity", [
            DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
        ])
        .override_by_name("Latency", [DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("Headline", [DynamicConfigValue(id_val="custom.width", value=480)])
        .span(24)
        .height(10)
    )


def violence_geomap_panel() -> geomap.Panel:
    """Violence stories on a map: geohash cells of every place they name, sized by count."""
    layer = (
        common_builders.MapLayerOptions()
        .type("markers")
        .name("Violence reports")
        .location(common_builders.FrameGeometrySource()
                  .mode(common.FrameGeometrySourceMode.GEOHASH).geohash(GEOHASH_FIELD))
        .config({
            "showLegend": True,
            "style": {
                "color": {"fixed": "dark-red"},
                "opacity": 0.6,
                "size": {"field": "Count", "fixed": 5, "min": 4, "max": 30},
                "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
            },
        })
        .tooltip(True)
    )
    return (
        geomap.Panel()
        .title("Violence by place")
        .description("Stories with violence terms, counted per geohash cell of the places they "
                     "name (all resolved places, not only the focus).")
        .datasource(ES_STORIES)
        .with_target(es_target(ES_STORIES, VIOLENT).bucket_aggs([
            elasticsearch.GeoHashGrid().id("2").field(GEOHASH_FIELD).settings(
                elasticsearch.ElasticsearchGeoHashGridSettings().precision("4")),
        ]).metrics([es_count()]))
        .view(geomap.MapViewConfig().id("zero").lat(25).lon(30).zoom(2))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .basemap(common_builders.MapLayerOptions().type("default").name("Basemap"))
        .layers([layer])
        .tooltip(geomap.TooltipOptions().mode(TooltipMode.DETAILS))
        .span(14)
        .height(12)
    )


def violence_by_country_panel() -> timeseries.Panel:
    """Violence stories per focus country over time, from the indexed stories."""
    return (
        timeseries.Panel()
        .title("Violence stories by country")
        .description("Indexed stories with violence terms, per country they mention, over time.")
        .datasource(ES_STORIES)
        .with_target(es_target(ES_STORIES, VIOLENT).bucket_aggs([
            es_terms("2", "countries", 10),
            es_date_histogram("3"),
        ]).metrics([es_count()]))
        .draw_style(common.GraphDrawStyle.BARS)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .fill_opacity(70)
        .legend(legend(common.LegendPlacement.RIGHT, ["sum"]))
        .tooltip(tooltip())
        .unit("short")
        .span(10)
        .height(12)
    )


def violence_rate_by_country_panel() -> timeseries.Panel:
    """Live rate of violence stories per focus country, as the workers tag them."""
    expr = (f"sum by (country) (rate({dashboard_selector('wirewatch_violence_stories_total')}"
            f"[$__rate_interval])) * 60")
    return (
        timeseries.Panel()
        .title("Violence stories per minute, by focus country (live)")
        .description("From the workers' counters: stories with violence terms per minute, by "
                     "the country the story is mainly about ('none' when it has no focus).")
        .datasource(PROMETHEUS)
        .with_target(prom_range(expr, "{{country}}"))
        .legend(legend(common.LegendPlacement.RIGHT, ["max"]))
        .tooltip(tooltip())
        .unit("short")
        .min(0)
        .span(12)
        .height(8)
    )


def top_sources_panel() -> bargauge.Panel:
    """The agencies and outlets stories cite most."""
    return (
        bargauge.Panel()
        .title("Top cited sources")
        .description("Sources named in the stories (Reuters, TASS, Interfax...), by story count.")
        .datasource(ES_STORIES)
        .with_target(es_target(ES_STORIES, "*").bucket_aggs([es_terms("2", "sources", 15)])
                     .metrics([es_count()]))
        .reduce_options(reduce_last(values=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .unit("short")
        .span(12)
        .height(8)
    )


def severity_distribution_panel() -> barchart.Panel:
    """How many stories fall in each severity band of ten."""
    return (
        barchart.Panel()
        .title("Severity distribution")
        .description("Stories per severity (0-100, in steps of 10).")
        .datasource(ES_STORIES)
        .with_target(es_target(ES_STORIES, "*").bucket_aggs([
            elasticsearch.Histogram().id("2").field("severity").settings(
                elasticsearch.ElasticsearchHistogramSettings().interval("10").min_doc_count("0")),
        ]).metrics([es_count()]))
        .x_field("severity")
        .thresholds(severity_thresholds())
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .legend(legend())
        .tooltip(tooltip())
        .span(12)
        .height(8)
    )


def alerts_by_band_panel() -> piechart.Panel:
    """Alerts in the time range per severity band."""
    return (
        piechart.Panel()
        .title("Alerts by severity band")
        .description("Alerts in the time range per band: low < 40 <= medium < 70 <= high.")
        .datasource(ES_ALERTS)
        .with_target(es_target(ES_ALERTS, "*").bucket_aggs([es_terms("2", "severity_band", 3)])
                     .metrics([es_count()]))
        .pie_type(PieChartType.DONUT)
        .reduce_options(reduce_last(values=True))
        .legend(piechart.PieChartLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
                .placement(common.LegendPlacement.RIGHT).show_legend(True)
                .values([PieChartLegendValues.VALUE, PieChartLegendValues.PERCENT]))
        .span(12)
        .height(8)
    )


def dashboard() -> dashboard_builders.Dashboard:
    """The newsroom dashboard, panels in reading order."""
    return (
        dashboard_builders.Dashboard("wirewatch - newsroom")
        .uid(UID)
        .description("What the wires report: live alerts, violence by place and country, sources "
                     "and severity (Elasticsearch), plus the workers' live violence rate.")
        .tags([FOLDER_TITLE, "newsroom"])
        .time("now-24h", "now")
        .refresh("30s")
        .timezone("utc")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .link(dashboard_builders.DashboardLink("wirewatch").type(DashboardLinkType.DASHBOARDS)
              .tags([FOLDER_TITLE]).as_dropdown(True).keep_time(True))
        .with_variable(instance_variable())
        .with_panel(alert_table_panel())
        .with_panel(violence_geomap_panel())
        .with_panel(violence_by_country_panel())
        .with_panel(violence_rate_by_country_panel())
        .with_panel(top_sources_panel())
        .with_panel(severity_distribution_panel())
        .with_panel(alerts_by_band_panel())
    )
