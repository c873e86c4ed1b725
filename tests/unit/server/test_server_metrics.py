"""Region metrics without a server: who may scrape."""

from __future__ import annotations

from unittest import mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from shardline.server.access import loopback_only


def request_from(peer: tuple[object, ...] | None) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.return_value = peer
    return make_mocked_request("GET", "/metrics", transport=transport)


def test_only_loopback_callers_may_scrape() -> None:
    assert loopback_only(request_from(("127.0.0.1", 5000)))
    assert loopback_only(request_from(("::1", 5000, 0, 0)))
    assert not loopback_only(request_from(("192.0.2.7", 5000)))
    assert not loopback_only(request_from(None))
