"""Health monitoring, the failover controller, failback, and region-following clients."""
