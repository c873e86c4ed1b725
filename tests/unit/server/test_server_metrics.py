"""Region metrics without a server: who may scrape."""

from __future__ import annotations

from unittest import mock

from aiohttp.test_utils import make_mocked_request

from shardline.server.access import loopback_only


def request_from(peer: tuple[str, int] | None) -> object:
    transport = mock.Mock()
    transport.get_extra_info.return_value = peer
    return make_mocked_request("GET", "/metrics", transport=transport)


def test_only_loopback_callers_may_scrape() -> None:
    assert loopback_only(request_from(("127.0.0.1", 5000)))  # type: ignore[arg-type]
    assert loopback_only(request_from(("::1", 5000, 0, 0)))  # type: ignore[arg-type]
    assert not loopback_only(request_from(("192.0.2.7", 5000)))  # type: ignore[arg-type]
    assert not loopback_only(request_from(None))  # type: ignore[arg-type]
