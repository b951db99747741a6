"""Walk generated dashboards and rules: panels, queries, fields and data sources they use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from grafana.esquery import FieldUse


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One query of one panel (or alert rule), with where it comes from."""

    source: str  # "<dashboard uid> / <panel title>" or "alert rule <uid>"
    ref_id: str
    datasource_uid: str
    target: Mapping[str, Any]

    @property
    def expr(self) -> str:
        return str(self.target.get("expr", ""))

    @property
    def instant(self) -> bool:
        return bool(self.target.get("instant"))


def panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel that shows data (rows are containers, collapsed ones hold their panels)."""
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            yield from panel.get("panels") or []
        else:
            yield panel


def panel_queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every target of every panel; a target without its own data source uses the panel's."""
    for panel in panels(dashboard):
        panel_ds = (panel.get("datasource") or {}).get("uid", "")
        for target in panel.get("targets") or []:
            ds = (target.get("datasource") or {}).get("uid") or panel_ds
            yield PanelQuery(source=f"{dashboard['uid']} / {panel['title']}",
                             ref_id=target.get("refId", ""), datasource_uid=ds, target=target)


def variable_queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Template variables that query a data source."""
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") == "query":
            query = variable["query"]
            expr = query if isinstance(query, str) else query.get("query", "")
            yield PanelQuery(source=f"{dashboard['uid']} / ${variable['name']}", ref_id="",
                             datasource_uid=(variable.get("datasource") or {}).get("uid", ""),
                             target={"expr": expr})


def rule_queries(rules_file: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every query of every alert rule in a rules provisioning file."""
    for group in rules_file["groups"]:
        for rule in group["rules"]:
            for item in rule["data"]:
                yield PanelQuery(source=f"alert rule {rule['uid']}", ref_id=item["refId"],
                                 datasource_uid=item["datasourceUid"], target=item["model"])


def panel_field_uses(panel: Mapping[str, Any]) -> list[FieldUse]:
    """Document fields a panel's display refers to (beyond its queries): table columns, map
    locations, bar chart x axis, per-field overrides."""
    uses: list[FieldUse] = []
    shown_as: dict[str, str] = {}  # column title -> document field (organize renames)
    for transformation in panel.get("transformations") or []:
        options = transformation.get("options") or {}
        if transformation["id"] == "filterFieldsByName":
            uses += [FieldUse(name, "column") for name in options["include"]["names"]]
        elif transformation["id"] == "organize":
            for key in ("indexByName", "renameByName", "excludeByName"):
                uses += [FieldUse(name, "column") for name in options.get(key) or {}]
            shown_as.update({title: name for name, title in
                             (options.get("renameByName") or {}).items()})
    options = panel.get("options") or {}
    for sort in options.get("sortBy") or []:
        uses.append(FieldUse(shown_as.get(sort["displayName"], sort["displayName"]), "column"))
    for layer in options.get("layers") or []:
        location = layer.get("location") or {}
        for key in ("geohash", "latitude", "longitude"):
            if location.get(key):
                uses.append(FieldUse(location[key], "geo_point" if key == "geohash" else "column"))
    if options.get("xField"):
        uses.append(FieldUse(options["xField"], "column"))
    for override in (panel.get("fieldConfig") or {}).get("overrides") or []:
        matcher = override["matcher"]
        if matcher["id"] == "byName":
            uses.append(FieldUse(shown_as.get(matcher["options"], matcher["options"]), "column"))
    return uses


def geohash_fields(panel: Mapping[str, Any]) -> list[str]:
    """Fields the map layers of a panel read geohashes from."""
    layers = (panel.get("options") or {}).get("layers") or []
    return [layer["location"]["geohash"] for layer in layers
            if (layer.get("location") or {}).get("geohash")]
