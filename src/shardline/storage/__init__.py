"""Durable storage behind a region: shard logs, the stream catalog and retention.

Layering: ``engine`` owns the SQLite file (one writer thread with group commit,
reader threads); ``catalog`` keeps streams and shards in memory and persists them
through the engine; ``region`` implements the Kinesis operations on top of both.
Nothing here knows about HTTP or wire encodings.
"""
