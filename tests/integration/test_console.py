"""The web console in a real browser, against a real ``shardline up``.

One ``shardline up`` (the reference pipeline, with a short detection window) and one
headless Chromium serve every test of this module, in order: the page and its
charts, the live tail, the dashboards' metrics in live scrapes of every component,
and last (it changes the pipeline) an outage injected from the page with the
keyboard, which must turn the primary FAILED on screen and put the failover
decision in the timeline. Screenshots go to the test artefacts folder.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import chromium, console_errors, screenshot
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from shardline.framing import aggregation, envelope
from shardline.pipeline.launch import default_topology
from shardline.testing import (
    ShardlineProcess,
    kinesis_client,
    scrape_metrics,
    wait_active,
    wait_for,
)
from shardline.topology import Topology, load_topology

DOCS = Path(__file__).resolve().parents[2] / "docs"
POLICY: dict[str, float] = {
    "window_s": 10.0,
    "threshold": 0.01,
    "min_samples": 20,
    "check_interval_s": 1.0,
    "consecutive_checks": 3,
    "canary_interval_s": 0.5,
    "min_switch_interval_s": 5.0,
}
#: Longest wait for the failover to show: the window and the hysteresis's checks,
#: a page update, and room for a loaded CI machine.
DETECTION_BOUND_S = POLICY["window_s"] + 3 * POLICY["check_interval_s"] + 30


@dataclass
class Up:
    url: str
    topology: Topology


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    data_dir = tmp_path_factory.mktemp("up")
    path = default_topology(data_dir, failover={**POLICY}, pipeline={"rate": 20.0})
    process = ShardlineProcess(
        "up", str(path), ready=r"console at (http://\S+)", start_timeout=180
    ).start()
    try:
        assert process.ready_match is not None
        yield Up(process.ready_match.group(1), load_topology(path))
    finally:
        process.stop(timeout=120)  # up stops its own children first


@pytest.fixture(scope="module")
def page(up: Up) -> Iterator[Any]:
    with chromium() as driver:
        driver.get(up.url)
        yield driver


def script(driver: Any, code: str) -> Any:
    return driver.execute_script(f"return {code}")


def text_of(driver: Any, selector: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


def test_the_page_loads_without_javascript_errors_and_the_charts_draw(up: Up, page: Any) -> None:
    points = "Object.values(window.shardlineConsole.charts).map(chart => chart.points)"
    wait_for(lambda: min(script(page, points)) >= 5, 90, "every chart to draw 5 updates")
    assert len(page.find_elements(By.CSS_SELECTOR, "#charts .uplot canvas")) == 4
    wait_for(
        lambda: (
            script(
                page,
                "Math.max(0, ...window.shardlineConsole.charts.throughput.data[1]"
                ".filter(value => value !== null))",
            )
            > 0
        ),
        60,
        "the throughput chart to show acknowledged records",
    )
    for region in ("us-east-1", "us-west-2"):
        badge = f'#regions .card[data-region="{region}"] .health'

        def healthy(selector: str = badge) -> bool:
            return text_of(page, selector) == "HEALTHY"

        wait_for(healthy, 60, f"{region} HEALTHY")
    assert "epoch 1: us-east-1 active" in text_of(page, "#decisions")
    processes = {
        row.get_attribute("data-process")
        for row in page.find_elements(By.CSS_SELECTOR, "#process-rows tr")
    }
    assert {"monitor", "replicator", "producer", "region-us-east-1"} <= processes
    screenshot(page, "console-overview.png")
    assert console_errors(page) == []


def test_the_tail_shows_records_as_they_are_put(up: Up, page: Any) -> None:
    endpoint = up.topology.primary.endpoint_url
    assert endpoint is not None
    kinesis = kinesis_client(endpoint)
    kinesis.create_stream(StreamName="console-tail", ShardCount=2)
    wait_active(kinesis, "console-tail")
    page.find_element(By.ID, "browse-refresh").click()
    tail_button = 'button[data-stream="console-tail"]'
    wait_for(lambda: page.find_elements(By.CSS_SELECTOR, tail_button), 30, "the new stream")
    page.find_element(By.CSS_SELECTOR, tail_button).click()

    marker = uuid.uuid4().hex[:8]
    sent: list[str] = []

    def shown(data: bytes, partition_key: str, expect: str) -> bool:
        # The tail starts at LATEST once it is open: put until a record shows.
        kinesis.put_record(StreamName="console-tail", Data=data, PartitionKey=partition_key)
        sent.append(partition_key)
        return expect in text_of(page, "#tail-rows")

    wait_for(lambda: shown(f"plain {marker}".encode(), "p", f"plain {marker}"), 30, "a record")
    record_id = uuid.uuid4().hex
    aggregate = aggregation.aggregate(
        [
            aggregation.UserRecord("agg", envelope.encode(record_id, b"first user record")),
            aggregation.UserRecord("agg", f"second {marker}".encode()),
        ]
    )
    wait_for(lambda: shown(aggregate, "agg", f"second {marker}"), 30, "an aggregate, split")
    rows = text_of(page, "#tail-rows")
    assert record_id in rows and "first user record" in rows  # the envelope, decoded
    assert "agg (KPL #1)" in rows
    assert len(sent) < 150
    screenshot(page, "console-tail.png")
    assert console_errors(page) == []


#: Metric names in a PromQL expression: ours, the process collector's, and the
#: KCL/KPL CamelCase families.
METRIC_NAME = re.compile(
    r"\b((?:kinesis|shardline|process)_[a-z_]+|[A-Z][A-Za-z]+_total|MillisBehindLatest)\b"
)


def dashboard_metric_names() -> set[str]:
    """Every metric name the Grafana dashboard and the alert rules query."""
    dashboard = json.loads((DOCS / "grafana" / "shardline.json").read_text())
    rules = yaml.safe_load((DOCS / "prometheus" / "alerts.yml").read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return {name for expression in expressions for name in METRIC_NAME.findall(expression)}


def test_every_metric_the_dashboards_name_is_in_a_live_scrape(up: Up) -> None:
    ports = up.topology.metrics
    components = [ports.monitor, ports.replicator, ports.producer, ports.console]
    pages = [region.endpoint_url or "" for region in up.topology.regions]
    pages += [f"http://127.0.0.1:{port}" for port in [*components, *ports.consumers.values()]]
    wanted = dashboard_metric_names()
    assert len(wanted) > 20
    # The per-shard panels need shard-level metrics, which an operator turns on.
    for region in up.topology.regions:
        kinesis_client(region.endpoint_url or "").enable_enhanced_monitoring(
            StreamName="ticker", ShardLevelMetrics=["ALL"]
        )

    def missing() -> set[str]:
        served = {name for url in pages for name, _ in scrape_metrics(url)}
        served |= {re.sub(r"_(bucket|sum|count)$", "", name) for name in served}
        return wanted - served

    # A few families appear with the first event they count (a copy, a lease taken).
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not missing(), 60, "every dashboard metric in a scrape")
    assert missing() == set()


def test_shardline_console_serves_the_same_pipeline_from_its_topology_file(up: Up) -> None:
    path = up.topology.pipeline.data_dir / "shardline.toml"
    console = ShardlineProcess(
        "console", "-t", str(path), "--port", "0", ready=r"console at (http://\S+)"
    )
    with console:
        assert console.ready_match is not None
        url = console.ready_match.group(1)
        with urllib.request.urlopen(f"{url}api/snapshot", timeout=30) as response:
            document = json.loads(response.read())
    assert document["state"]["active_region"] == "us-east-1"
    processes = {p["name"]: p for p in document["processes"]}  # read from up.json
    assert processes["monitor"]["alive"] and processes["monitor"]["pid"] > 0
    assert [d["epoch"] for d in document["decisions"]] == [1]


def test_an_outage_injected_from_the_page_fails_the_region_and_the_decision_shows(
    up: Up, page: Any
) -> None:
    card = '#regions .card[data-region="us-east-1"]'
    wait_for(lambda: text_of(page, f"{card} .health") == "HEALTHY", 60, "a healthy primary")
    # Keyboard only: Enter on the button, then Tab from Cancel (focused) to Confirm.
    page.find_element(By.CSS_SELECTOR, f'{card} button[data-fault="outage"]').send_keys(Keys.ENTER)
    wait_for(
        lambda: page.find_element(By.ID, "confirm").get_attribute("open") is not None,
        10,
        "the confirmation",
    )
    assert page.switch_to.active_element.text == "Cancel"
    page.switch_to.active_element.send_keys(Keys.TAB)
    assert page.switch_to.active_element.get_attribute("id") == "confirm-yes"
    page.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(lambda: "fault set" in text_of(page, "#notice"), 30, "the fault to be set")

    wait_for(
        lambda: text_of(page, f"{card} .health") == "FAILED",
        DETECTION_BOUND_S,
        "us-east-1 FAILED on screen",
    )
    decision = '#decisions li[data-epoch="2"]'
    wait_for(lambda: text_of(page, decision), DETECTION_BOUND_S, "the failover decision")
    assert "us-west-2 active" in text_of(page, decision)
    assert "automatic" in text_of(page, decision)
    assert "epoch 1: us-east-1 active" in text_of(page, "#decisions")  # still listed
    wait_for(
        lambda: "active" in text_of(page, '#regions .card[data-region="us-west-2"] .active-mark'),
        30,
        "us-west-2 marked active",
    )
    screenshot(page, "console-failover.png")
    assert console_errors(page) == []
