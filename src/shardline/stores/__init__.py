"""Where the toolkit keeps its own state, each store with an embedded default and a
scale backend behind one interface.

- ``leases``: the KCL lease table model and the ``LeaseStore`` interface;
  ``sqlite_leases`` (one SQLite file shared by the workers of a host) and
  ``dynamodb_leases`` (the KCL's item schema, readable by the Java KCL).
- ``control``: the failover authority's state (active region, epoch, watermarks,
  reports) and the ``ControlStore`` interface; ``sqlite_control``,
  ``dynamodb_control``, and ``replicated_control`` (one store per region).
- ``sqlite_file`` and ``dynamodb_table``: what the backends of each kind share.
- ``factory``: the store a topology file asks for.
"""
