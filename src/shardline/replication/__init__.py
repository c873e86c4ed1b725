"""Cross-region replication: a consumer of one region that writes to another."""
