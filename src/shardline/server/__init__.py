"""The Kinesis wire protocol in front of a region: HTTP, codecs, validation, handlers.

Only the CLI and tests import this package; the toolkit talks to a region over the
wire like any other Kinesis client. To embed a region in a Python process,
:func:`serve` a :class:`~shardline.storage.RegionConfig` (``shardline serve`` does
exactly that); :class:`GateConfig` says how callers authenticate and
:class:`ServerLimits` bounds connections and request sizes.
"""

from shardline.server.auth.gate import GateConfig
from shardline.server.limits import ServerLimits
from shardline.server.runner import serve, server_url

__all__ = ["GateConfig", "ServerLimits", "serve", "server_url"]
