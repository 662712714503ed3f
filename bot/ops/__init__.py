"""Operating the service: Prometheus metrics and the health endpoints."""
