"""The console's parts without a pipeline: decisions, records, requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from shardline.console.actions import Actions
from shardline.console.browser import record_doc
from shardline.console.feed import FeedSources, decisions, drill_report
from shardline.console.server import build_console, serving_console
from shardline.consumer.tail import open_record
from shardline.framing import aggregation, envelope, origin
from shardline.stores.control import ControlState
from shardline.stores.reports import DecisionReport, Published
from shardline.topology import parse_topology

TOPOLOGY = parse_topology(
    {
        "regions": [
            {"name": "east", "role": "primary", "endpoint_url": "http://127.0.0.1:1"},
            {"name": "west", "role": "standby", "endpoint_url": "http://127.0.0.1:2"},
        ],
        "streams": [{"name": "ticker"}],
    }
)


class JournalOnly:
    """A control store that has only a decision journal (what ``decisions`` reads)."""

    def __init__(self, entries: list[DecisionReport]) -> None:
        self.entries = entries

    async def get_reports(self, kind: type[DecisionReport]) -> list[Published[DecisionReport]]:
        assert kind is DecisionReport
        return [Published(f"epoch-{d.epoch}", d, d.changed_at) for d in self.entries]


def decision(epoch: int, region: str, reason: str) -> DecisionReport:
    return DecisionReport(epoch, region, reason, changed_at=100.0 + epoch)


def state(epoch: int, region: str, reason: str) -> ControlState:
    return ControlState(epoch, region, 100.0 + epoch, reason)


def test_decisions_merge_the_journal_with_every_state_the_console_saw() -> None:
    seen: dict[int, DecisionReport] = {}
    store: Any = JournalOnly([])
    initial = state(1, "east", "initial")
    assert asyncio.run(decisions(store, initial, seen)) == [decision(1, "east", "initial")]
    store = JournalOnly([decision(3, "east", "failback"), decision(2, "west", "outage")])
    merged = asyncio.run(decisions(store, state(3, "east", "failback"), seen))
    assert [d.epoch for d in merged] == [1, 2, 3]
    assert merged[1].reason == "outage"


def test_the_drill_report_is_shown_when_an_attached_drill_left_one(tmp_path: Path) -> None:
    assert drill_report(tmp_path) is None
    (tmp_path / "drill-report.json").write_text(json.dumps({"rpo_records": 0, "rto_s": 4.2}))
    assert drill_report(tmp_path) == {"rpo_records": 0, "rto_s": 4.2}


def test_a_replicated_aggregate_opens_into_user_records_with_ids_and_origin() -> None:
    record_id = "0123456789abcdef0123456789abcdef"
    aggregate = aggregation.aggregate(
        [
            aggregation.UserRecord("k", envelope.encode(record_id, b"one")),
            aggregation.UserRecord("k", b"\xff\x00"),
        ]
    )
    record = {
        "Data": origin.mark("east", aggregate),
        "PartitionKey": "k",
        "SequenceNumber": "49",
        "ApproximateArrivalTimestamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
    first, second = open_record(record, "shardId-000000000000", None)
    assert (first.record_id, first.payload, first.origin_region) == (record_id, b"one", "east")
    assert first.aggregated and (first.sub_sequence_number, second.sub_sequence_number) == (0, 1)
    assert record_doc(first)["text"] == "one"
    assert record_doc(second)["base64"] == "/wA="


def test_actions_need_this_host_a_json_body_and_no_foreign_origin() -> None:
    async def scenario() -> list[int]:
        sources = FeedSources(TOPOLOGY, None, list, Actions(TOPOLOGY, None))  # type: ignore[arg-type]
        app = build_console(sources, {"127.0.0.1", "localhost"})
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            url = "/api/actions/fault"
            body = {"region": "nowhere", "fault": None}
            statuses = [
                (await client.post(url, json=body, headers={"Host": "evil.example"})).status,
                (await client.post(url, data=json.dumps(body))).status,
                (
                    await client.post(url, json=body, headers={"Origin": "http://evil.example"})
                ).status,
                (await client.post(url, json=body)).status,  # reaches the action: no such region
                (await client.get("/")).status,
            ]
        return statuses

    assert asyncio.run(scenario()) == [403, 415, 403, 409, 200]


def test_a_taken_console_port_falls_back_to_a_free_one() -> None:
    async def scenario() -> tuple[int, str]:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            async with serving_console(TOPOLOGY, None, list, "127.0.0.1", port) as url:  # type: ignore[arg-type]
                return port, url

    port, url = asyncio.run(scenario())
    assert url.startswith("http://127.0.0.1:") and f":{port}/" not in url
