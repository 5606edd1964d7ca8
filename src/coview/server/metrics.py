"""Prometheus metrics of one server process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector


class Metrics:
    """The counters and histograms a server process exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "coview_http_requests", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "coview_http_request_duration_seconds", "Time to answer an HTTP request",
            ["route"], registry=self.registry,
        )
        self.logins = Counter(
            "coview_logins", "Agent sign-in attempts", ["outcome"], registry=self.registry
        )
        # Memory, descriptors and CPU of the process (process_resident_memory_bytes, ...).
        ProcessCollector(registry=self.registry)
        self.tasks = Gauge("coview_event_loop_tasks", "Tasks on the process's event loop",
                           registry=self.registry)
        self.tasks.set_function(_loop_tasks)
        self.live_sessions = Gauge("coview_live_sessions", "Sessions live on this process",
                                   registry=self.registry)

    def count_live_sessions(self, count: Callable[[], int]) -> None:
        """Read the number of live sessions from ``count`` at each scrape."""
        self.live_sessions.set_function(count)


def _loop_tasks() -> int:
    """Unfinished tasks of the running event loop (0 when read outside one)."""
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:
        return 0
