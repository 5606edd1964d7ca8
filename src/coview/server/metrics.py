"""Prometheus metrics of one server process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
