"""A bare HTTP/2 client (prior knowledge), for tests that need raw frames' worth of detail.

Sends several requests at once on one connection and returns each answer's status,
headers and body in request order, so a test sees exactly what the server sent.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded


@dataclass
class H2Answer:
    status: int = 0
    #: Header names lower-cased, as HTTP/2 carries them.
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def exchange(url: str, requests: list[tuple[list[tuple[str, str]], bytes]]) -> list[H2Answer]:
    """Send ``(headers, body)`` requests at once on one connection; answers in order.

    ``headers`` are the request's regular headers; the pseudo-headers are added
    (``:method`` defaults to POST unless given).
    """
    host, port = url.removeprefix("http://").split(":")
    connection = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
    answers: dict[int, H2Answer] = {}
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        connection.initiate_connection()
        for headers, body in requests:
            stream_id = connection.get_next_available_stream_id()
            pseudo = dict(headers)
            block = [
                (":method", pseudo.pop(":method", "POST")),
                (":path", "/"),
                (":scheme", "http"),
                (":authority", url.removeprefix("http://")),
                *pseudo.items(),
                ("content-length", str(len(body))),
            ]
            connection.send_headers(stream_id, block, end_stream=not body)
            if body:
                connection.send_data(stream_id, body, end_stream=True)
            answers[stream_id] = H2Answer()
        sock.sendall(connection.data_to_send())
        ended: set[int] = set()
        while ended != set(answers):
            data = sock.recv(65_536)
            assert data, "the server closed the connection early"
            for event in connection.receive_data(data):
                if isinstance(event, ResponseReceived):
                    assert event.stream_id is not None and event.headers is not None
                    answer = answers[event.stream_id]
                    answer.headers = {str(n): str(v) for n, v in event.headers}
                    answer.status = int(answer.headers.pop(":status"))
                elif isinstance(event, DataReceived):
                    assert event.stream_id is not None and event.data is not None
                    answers[event.stream_id].body += event.data
                    connection.acknowledge_received_data(
                        event.flow_controlled_length or 0, event.stream_id
                    )
                elif isinstance(event, StreamEnded):
                    assert event.stream_id is not None
                    ended.add(event.stream_id)
            sock.sendall(connection.data_to_send())
    return [answers[stream_id] for stream_id in sorted(answers)]
