"""`GET /metrics`: what the emulator does, per queue, in the Prometheus text format.

Nothing is counted here: the store keeps each queue's counters and histograms
(`emulator.store.stats`) and the delivery view says what is in flight; a scrape reads them.
`prometheus-client` writes the exposition (text, or OpenMetrics when asked) and is
imported on the first scrape, not at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web

from emulator.core.version import __version__
from emulator.dispatch.view import DeliveryView
from emulator.store import Store
from emulator.store.names import QueueName

PREFIX = "cloud_tasks_emulator"
LABELS = ["project", "location", "queue"]

# name (after the prefix), help, and the QueueStats counter it reads
COUNTERS = (
    ("tasks_created", "Tasks created in the queue.", "created"),
    ("tasks_dispatched", "Attempts started (RunTask included).", "dispatched"),
    ("tasks_succeeded", "Tasks deleted after a 2xx answer.", "succeeded"),
    ("tasks_retried", "Failed attempts whose task was scheduled again.", "retried"),
    ("tasks_dropped", "Tasks deleted because their retries ran out.", "dropped"),
)


class QueueCollector:
    """A prometheus-client collector reading the store and the dispatcher at each scrape."""

    def __init__(self, store: Store, delivery: DeliveryView) -> None:
        self.store, self.delivery = store, delivery

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        info = GaugeMetricFamily(f"{PREFIX}_info", "The emulator's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        names = sorted(self.store.queue_names(), key=str)
        in_flight = self.delivery.in_flight_by_queue()
        counters = {
            key: CounterMetricFamily(f"{PREFIX}_{name}", text, labels=LABELS)
            for name, text, key in COUNTERS
        }
        depth = GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Tasks in the queue (waiting or in flight).", labels=LABELS
        )
        flying = GaugeMetricFamily(
            f"{PREFIX}_attempts_in_flight", "Attempts sent and not yet answered.", labels=LABELS
        )
        latency = HistogramMetricFamily(
            f"{PREFIX}_dispatch_latency_seconds",
            "Real time from an attempt's dispatch to its outcome.",
            labels=LABELS,
        )
        lateness = HistogramMetricFamily(
            f"{PREFIX}_dispatch_lateness_seconds",
            "How long after its schedule time an attempt was dispatched.",
            labels=LABELS,
        )
        for name in names:
            labels = _labels(name)
            stats = self.store.stats(name)
            for key, family in counters.items():
                family.add_metric(labels, getattr(stats, key))
            depth.add_metric(labels, self.store.task_count(name))
            flying.add_metric(labels, in_flight[name])
            latency.add_metric(labels, stats.latency.cumulative(), stats.latency.total)
            lateness.add_metric(labels, stats.lateness.cumulative(), stats.lateness.total)
        yield from counters.values()
        yield from (depth, flying, latency, lateness)
        throttled = [(name, self.delivery.enforced_rate(name)) for name in names]
        if any(rate is not None for _, rate in throttled):  # rough edges: throttle
            enforced = GaugeMetricFamily(
                f"{PREFIX}_enforced_rate",
                "A throttled queue's dispatch rate, per second, after 429/503 answers.",
                labels=LABELS,
            )
            for name, rate in throttled:
                if rate is not None:
                    enforced.add_metric(_labels(name), rate)
            yield enforced


def _labels(name: QueueName) -> list[str]:
    return [name.project, name.location, name.queue]


def add_to(app: web.Application, store: Store, delivery: DeliveryView) -> None:
    registry: Any = None

    async def scrape(request: web.Request) -> web.Response:
        nonlocal registry
        from prometheus_client import CollectorRegistry, ProcessCollector
        from prometheus_client.exposition import choose_encoder

        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(QueueCollector(store, delivery))
            ProcessCollector(registry=registry)  # memory, CPU, open files of this process
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encode(registry))
        response.headers["Content-Type"] = content_type
        return response

    app.router.add_get("/metrics", scrape)
