"""moto's server with one request at a time: ``python serial_moto.py PORT``.

moto's DynamoDB checks a transaction's conditions and then writes, without a lock, so
under its threaded server two concurrent transactions on one item can both pass their
conditions, which real DynamoDB never allows. The sinks' race tests need the real
guarantee, so this server handles each request under one lock (keep-alive still works:
connections are threaded, requests are not).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def serialised(app: Any) -> Callable[..., Iterable[bytes]]:
    lock = threading.Lock()

    def handle(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return handle


if __name__ == "__main__":
    run_simple(
        "127.0.0.1",
        int(sys.argv[1]),
        serialised(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
