"""Prometheus metrics of one server process: requests by status, latency, faces found, queue depth."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .limits import Receive, Scope, Send

#: routes reported by name; anything else is counted as "other" (bounded label values)
ROUTES = ("/v1/detect", "/v1/detect/batch", "/healthz", "/metrics", "/")


class Metrics:
    """The metrics, in a registry of their own (several apps in one process do not collide)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("openmtcnn_requests", "HTTP requests answered, by route and status", ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "openmtcnn_request_seconds", "time from request to the end of the answer, by route", ["route"], registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.faces = Counter("openmtcnn_faces", "faces found", registry=self.registry)
        self.images = Counter("openmtcnn_images", "images detected", registry=self.registry)
        self.waiting = Gauge("openmtcnn_queue_waiting", "requests waiting for a worker thread", registry=self.registry)
        self.running = Gauge("openmtcnn_queue_running", "requests being detected", registry=self.registry)

    def queue_changed(self, waiting: int, running: int) -> None:
        self.waiting.set(waiting)
        self.running.set(running)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Observe:
    """ASGI middleware: counts every HTTP answer by route and status and times it."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        route = path if path in ROUTES else ("/static" if path.startswith("/static/") else "other")
        status = 500  # what the server answers if the app fails before starting a response
        t0 = time.perf_counter()

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - t0)
