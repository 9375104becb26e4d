"""HTTP API for maintenance planners: machines and readings, alerts, work orders, the
service network, webhook deliveries, a dashboard page and the OpenAPI description."""
