"""Where the toolkit keeps its own state: leases and checkpoints (and later the
control store and state snapshots), each with an embedded default and a scale backend
behind one interface.

- ``leases``: the KCL lease table model and the ``LeaseStore`` interface.
- ``sqlite_leases``: embedded default, one SQLite file shared by the workers of a host.
- ``dynamodb_leases``: DynamoDB with the KCL's item schema (readable by the Java KCL).
"""
