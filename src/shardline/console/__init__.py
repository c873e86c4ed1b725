"""The web console: the HA pipeline on one page, live, with its actions.

``shardline up`` serves it on 127.0.0.1 and prints its URL; ``shardline console -t
FILE`` serves it for a pipeline run elsewhere. Modules:

- ``feed``: the document the page shows (built on the status collector of
  ``shardline up`` and ``shardline status``);
- ``processes``: pids, restarts and last log lines, from the supervisor or ``up.json``;
- ``actions``: failover, failback and faults, with the CLI's own functions;
- ``browser``: streams, shards, lineage and the live tail of a region;
- ``server``: the aiohttp server (page, Server-Sent Events, JSON API);
- ``static/``: the page, its script and styles, and the vendored uPlot charts.
"""

from __future__ import annotations

from shardline.console.processes import from_up_json, supervised
from shardline.console.server import serving_console
from shardline.pipeline.status import ProcessView

__all__ = ["ProcessView", "from_up_json", "serving_console", "supervised"]
