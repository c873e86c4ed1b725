"""Where a producer sends: one stream in one region, reachable at one endpoint, and
the set of such destinations a spool's records may go to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from shardline.credentials import StaticCredentials
from shardline.kinesis import Endpoint


@dataclass(frozen=True)
class Destination:
    """A Kinesis stream at an endpoint.

    Example::

        Destination("orders", endpoint_url="http://127.0.0.1:4567")
        Destination("orders", region_name="eu-west-1")          # AWS itself
        Destination("orders", "https://127.0.0.1:4567", ca_bundle="certs/ca.pem")

    The producer's destination can change at run time
    (:meth:`shardline.producer.Producer.switch_destination`); the failover controller
    does that when the active region changes.
    """

    stream_name: str
    #: None means AWS's own endpoint for ``region_name``.
    endpoint_url: str | None = None
    region_name: str = "us-east-1"
    #: Keys for this destination, over the producer's ``client_options`` (a region
    #: that verifies signatures may know other keys than its peer region).
    credentials: StaticCredentials | None = None
    #: PEM file of the CAs an ``https://`` endpoint's certificate is checked against
    #: (None: the system's store or ``$AWS_CA_BUNDLE``).
    ca_bundle: str | None = None

    def endpoint(self, options: Mapping[str, Any]) -> Endpoint:
        """Where and how to reach this destination; ``options``: the producer's client_options."""
        return Endpoint(
            self.region_name, self.endpoint_url, options, self.credentials, self.ca_bundle
        )

    def __str__(self) -> str:
        where = self.endpoint_url or f"aws:{self.region_name}"
        return f"{self.stream_name}@{where}"


@dataclass(frozen=True)
class SpoolBinding:
    """The destinations a spool's records may be sent to.

    :mod:`shardline.producer.spool_file` says how a spool is bound and why.
    """

    destinations: tuple[Destination, ...]

    @classmethod
    def of(cls, *destinations: Destination) -> SpoolBinding:
        """A binding in canonical order, so equal sets compare and store equal."""
        unique = {(d.stream_name, d.endpoint_url or "", d.region_name): d for d in destinations}
        return cls(tuple(unique[key] for key in sorted(unique)))

    def admits(self, destination: Destination) -> bool:
        return destination in self.destinations

    def to_json(self) -> str:
        return orjson.dumps(
            [[d.stream_name, d.endpoint_url, d.region_name] for d in self.destinations]
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> SpoolBinding:
        return cls.of(*(Destination(s, e, r) for s, e, r in orjson.loads(text)))

    def __str__(self) -> str:
        return " or ".join(str(d) for d in self.destinations)
