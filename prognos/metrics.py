"""Platform-wide Prometheus metrics: alerts, webhooks, rollups (ingest has its own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class PlatformCollector(Collector):
    """Reads the running platform's status (``Platform.status``) at every scrape."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        status = self.status()
        simple = {
            "alerts_opened": ("prognos_alerts_opened", "Alerts opened by this process"),
            "webhooks_delivered": ("prognos_webhooks_delivered", "Webhook deliveries made"),
            "webhook_failed_attempts": (
                "prognos_webhook_failed_attempts",
                "Webhook delivery attempts that failed (retried with backoff)",
            ),
            "retention_chunks_dropped": (
                "prognos_retention_chunks_dropped",
                "Chunks dropped by the retention job",
            ),
        }
        for key, (name, text) in simple.items():
            if key in status:
                yield CounterMetricFamily(name, text, value=float(status[key]))
        rollups = status.get("rollups")
        if rollups:
            family = CounterMetricFamily(
                "prognos_rollup_buckets", "Rollup buckets recomputed, by kind", labels=["kind"]
            )
            for kind, count in sorted(rollups.items()):
                family.add_metric([kind], float(count))
            yield family
