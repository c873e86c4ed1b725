"""Where a producer sends: one stream in one region, reachable at one endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
