"""Integrity of a region's files beyond what one read can check.

``wal``, ``dbfile`` and ``btree`` read SQLite's own file formats directly, so a
damaged write-ahead log or database is judged before SQLite opens it (``preflight``,
at every start). ``salvage`` reads whatever a damaged database still holds, row by
row; ``verify`` (``shardline verify``) reports damage by stream, shard and sequence
range, and ``recover`` (``shardline recover``) copies everything intact into a new
data directory. Neither ever writes to the directory it examines.
"""
