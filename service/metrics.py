"""Prometheus metrics of one app (own registry, so several apps in one process do not clash)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select


class _DatabaseCollector:
    """Gauges read from the database at scrape time: events by review status, jobs by status."""

    def __init__(self, app: Any):
        self.app = app

    def collect(self):
        from .models import EventRow, JobRow

        events = GaugeMetricFamily("crosswatch_events", "events stored, by review status", labels=["review_status"])
        jobs = GaugeMetricFamily("crosswatch_jobs", "jobs, by status", labels=["status"])
        try:
            with self.app.state.sessionmaker() as s:
                for status, n in s.execute(
                    select(EventRow.review_status, func.count()).group_by(EventRow.review_status)
                ):
                    events.add_metric([status], n)
                for status, n in s.execute(select(JobRow.status, func.count()).group_by(JobRow.status)):
                    jobs.add_metric([status], n)
        except Exception:  # a scrape must not fail because the database is busy
            pass
        yield events
        yield jobs


class Metrics:
    def __init__(self, app: Any):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "crosswatch_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "crosswatch_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10),
        )
        self.registry.register(_DatabaseCollector(app))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
