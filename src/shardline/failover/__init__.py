"""Health monitoring, the failover controller, failback, and region-following clients.

The public surface, for embedding the HA toolkit in a Python process (the
``shardline monitor`` and ``shardline failback`` commands are thin layers over it):

- :class:`Monitor` and :func:`manual_failover`: the health monitor and the failover
  controller (``monitor``);
- :func:`failback` and :class:`FailbackError`: the resumable return to the primary
  (``failback``);
- :class:`FailoverProducer` and :class:`RegionConsumer`: a producer and a consumer
  application that follow the control state (``producer``, ``consumer``).

Inner modules, one job each: ``decisions`` (the authority's pure decision
functions), ``health`` (error-rate windows and hysteresis), ``watch`` (following the
control state), ``metrics`` (the monitor's Prometheus metrics).
"""

from shardline.failover.consumer import RegionConsumer
from shardline.failover.failback import FailbackError, failback
from shardline.failover.monitor import Monitor, manual_failover
from shardline.failover.producer import FailoverProducer

__all__ = [
    "FailbackError",
    "FailoverProducer",
    "Monitor",
    "RegionConsumer",
    "failback",
    "manual_failover",
]
