"""wirewatch Grafana dashboards, data sources and alert rules as code (python -m grafana.build)."""

from __future__ import annotations

from pathlib import Path

GRAFANA_DIR = Path(__file__).resolve().parent
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
PROVISIONING_DIR = GRAFANA_DIR / "provisioning"
# The Grafana folder that holds the dashboards and the alert rules.
FOLDER_TITLE = "wirewatch"
FOLDER_UID = "wirewatch"
