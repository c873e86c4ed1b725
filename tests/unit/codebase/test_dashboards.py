"""The ready-made dashboard and alert rules parse and have the shape their tools load.

That every metric they name is served is checked against a live pipeline in
``tests/integration/test_console.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_grafana_dashboard_parses_and_every_panel_queries_prometheus() -> None:
    dashboard = json.loads((DOCS / "grafana" / "shardline.json").read_text())
    assert dashboard["uid"] == "shardline" and dashboard["title"] == "Shardline"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["type"] == "prometheus"


def test_the_alert_rules_parse_and_cover_what_the_issue_asks() -> None:
    rules = yaml.safe_load((DOCS / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    for rule in alerts.values():
        assert rule["expr"].strip() and rule["labels"]["severity"]
        assert rule["annotations"]["summary"]
    expressions = " ".join(rule["expr"] for rule in alerts.values())
    for metric in (
        "shardline_replication_lag_seconds",  # replication lag
        "kinesis_get_records_iterator_age_seconds",  # iterator age
        "shardline_control_epoch",  # failover
        'shardline_region_health_state{state="FAILED"}',  # a region FAILED
        "shardline_process_restarts_total",  # restarts
        "shardline_storage_disk_free_bytes",  # a filling disk
    ):
        assert metric in expressions
