"""Draw the newsroom dashboard's main panels from live Elasticsearch data into a PNG.

Grafana itself is not part of the local stack; this gives a reader of the README a picture of
what the panels show, from the same indices and fields the panels query:
`python -m grafana.preview [--out grafana/preview.png]` after `make demo`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from streams.es import es_client
from streams.settings import Settings

OUT = Path(__file__).resolve().parent / "preview.png"


async def fetch(settings: Settings) -> dict[str, Any]:
    """The data behind the map, the by-country bars, the severity histogram and the alert table."""
    client = es_client(settings)
    try:
        stories = await client.search(
            index=settings.stories_index, size=0, query={"term": {"violent": True}},
            aggs={
                "countries": {"terms": {"field": "countries", "size": 12}},
                "severity": {"histogram": {"field": "severity", "interval": 10,
                                           "extended_bounds": {"min": 0, "max": 100}}},
                "sources": {"terms": {"field": "sources", "size": 8}},
            },
        )
        places = await client.search(
            index=settings.stories_index, size=500, query={"term": {"violent": True}},
            source_includes=["locations.point", "locations.name", "severity"],
        )
        alerts = await client.search(
            index=settings.alerts_index, size=12, sort=[{"@timestamp": "desc"}],
            query={"term": {"update": False}},
            source_includes=["desk", "severity", "headline", "countries", "latency_seconds"],
        )
    finally:
        await client.close()
    return {"stories": stories, "places": places, "alerts": alerts}


def draw(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 9), dpi=100)
    grid = fig.add_gridspec(2, 3, height_ratios=[1.3, 1])

    ax = fig.add_subplot(grid[0, :2])
    points: dict[str, tuple[float, float, int]] = {}
    for hit in data["places"]["hits"]["hits"]:
        for loc in hit["_source"].get("locations", []):
            lat, lon = loc["point"]["lat"], loc["point"]["lon"]
            prev = points.get(loc["name"], (lat, lon, 0))
            points[loc["name"]] = (lat, lon, prev[2] + 1)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-60, 80)
    ax.grid(True, color="#dddddd")
    for name, (lat, lon, count) in points.items():
        ax.scatter(lon, lat, s=40 + 30 * count, color="#d62728", alpha=0.5)
        ax.annotate(name, (lon, lat), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_title("Violence by place (places named in violent stories)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")

    aggs = data["stories"]["aggregations"]
    ax = fig.add_subplot(grid[0, 2])
    buckets = aggs["countries"]["buckets"]
    ax.barh([b["key"] for b in buckets][::-1], [b["doc_count"] for b in buckets][::-1],
            color="#1f77b4")
    ax.set_title("Violence stories by country")

    ax = fig.add_subplot(grid[1, 0])
    buckets = aggs["severity"]["buckets"]
    ax.bar([b["key"] for b in buckets], [b["doc_count"] for b in buckets], width=8,
           color="#ff7f0e")
    ax.set_title("Severity distribution")
    ax.set_xlabel("severity")

    ax = fig.add_subplot(grid[1, 1])
    buckets = aggs["sources"]["buckets"]
    ax.barh([b["key"] for b in buckets][::-1], [b["doc_count"] for b in buckets][::-1],
            color="#2ca02c")
    ax.set_title("Top cited sources")

    ax = fig.add_subplot(grid[1, 2])
    ax.axis("off")
    rows = [[a["_source"]["desk"], str(a["_source"]["severity"]),
             ",".join(a["_source"]["countries"]), a["_source"]["headline"][:38]]
            for a in data["alerts"]["hits"]["hits"]]
    if rows:
        table = ax.table(cellText=rows, colLabels=["desk", "sev", "countries", "headline"],
                         loc="upper center", colWidths=[0.14, 0.08, 0.16, 0.62])
        table.auto_set_font_size(False)
        table.set_fontsize(6.5)
    ax.set_title("Live alerts (newest first)")
    fig.suptitle("wirewatch newsroom: panels drawn from the live Elasticsearch indices")
    fig.tight_layout()
    fig.savefig(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = asyncio.run(fetch(Settings.from_env()))
    draw(data, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
