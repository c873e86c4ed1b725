"""The reference pipeline on one machine: ``shardline up`` and ``shardline drill``.

- ``ticker``: the example application (a stock-ticker producer, and a consumer that
  writes ``ticker-prices`` to an idempotent sink), run as child processes.
- ``acked``: the producer's ledger of acknowledged records, which a drill checks
  the sink against.
- ``supervisor``: starts, watches and restarts the child processes (as an Auto
  Scaling group would), and SIGKILLs them on request.
- ``launch``: the topology's processes (regions, replicator, monitor, producer,
  consumers) in one supervisor.
- ``status``: what the pipeline is doing, read from the control store and the sink.
- ``drill``: inject faults, fail over and back, verify, report RPO/RTO.
"""
