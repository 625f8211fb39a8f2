"""Shared test helpers: the simulator, exporter, PostgreSQL, Prometheus/Alertmanager and webhook
receivers started on loopback ports of their own, and small utilities the test files share."""
