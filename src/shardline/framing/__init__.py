"""How records are framed inside Kinesis data: the ground floor every toolkit part shares.

Kinesis records carry only data, a partition key and an explicit hash key, so
everything Shardline adds to a record travels in its data, in three frames that
nest in this order (outermost first):

- :mod:`~shardline.framing.origin`: the replication origin marker (which region a
  copied record was first written to);
- :mod:`~shardline.framing.aggregation`: the KPL aggregate (many user records in
  one Kinesis record, byte-compatible with the KPL and KCL);
- :mod:`~shardline.framing.envelope`: the record-id envelope (the producer's id of
  one user record, for idempotent sinks).

The producer writes them, the replicator adds and checks origins, and the consumer,
the tail and the sinks take them apart. Living below all of them, this package
imports nothing of the toolkit, so no reader has to import a writer's package to
open a record.
"""

from shardline.framing import aggregation, envelope, origin

__all__ = ["aggregation", "envelope", "origin"]
