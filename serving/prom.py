"""Prometheus metrics of one app, in its own registry (several apps may share a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _StateCollector(Collector):
    """Reads live state (model versions, writer counters) at scrape time."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Any]:
        state = self._read()
        version = GaugeMetricFamily(
            "relstream_serving_model_info", "Model version served, per holder",
            labels=["model", "spec", "version"],
        )
        sessions = GaugeMetricFamily(
            "relstream_serving_live_sessions", "onnxruntime models alive", labels=["model", "spec"]
        )
        swaps = CounterMetricFamily(
            "relstream_serving_model_swaps", "Hot swaps done", labels=["model", "spec"]
        )
        failures = CounterMetricFamily(
            "relstream_serving_model_swap_failures", "Failed loads (old model kept)",
            labels=["model", "spec"],
        )
        for h in state["holders"]:
            labels = [h["name"], h["spec"]]
            version.add_metric([*labels, h["version"] or "none"], 1.0)
            sessions.add_metric(labels, h["live_sessions"])
            swaps.add_metric(labels, h["swaps"])
            failures.add_metric(labels, h["failures"])
        yield from (version, sessions, swaps, failures)
        limiter = state.get("limiter")
        if limiter:
            for key, doc in (("in_flight", "Score requests admitted and not finished"),
                             ("running", "Model runs holding a slot now"),
                             ("queued", "Admitted score requests waiting for a slot"),
                             ("slots", "Model runs allowed at once")):
                yield GaugeMetricFamily(f"relstream_serving_{key}", doc, value=limiter[key])
        writer = state.get("writer")
        if writer:
            for key, doc in (
                ("written", "Request rows written to ClickHouse"),
                ("feedback_written", "Feedback rows written to ClickHouse"),
                ("dropped", "Metric rows dropped because the buffer was full"),
                ("insert_failures", "Failed ClickHouse inserts (rows kept for retry)"),
            ):
                yield CounterMetricFamily(f"relstream_serving_metrics_{key}", doc,
                                          value=writer[key])
            yield GaugeMetricFamily("relstream_serving_metrics_buffered",
                                    "Metric rows waiting for ClickHouse", value=writer["buffered"])


class ServingMetrics:
    """Request counters and latency histograms plus the live-state collector."""

    def __init__(self, read_state: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "relstream_serving_requests", "Score requests by arm and outcome",
            ["arm", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "relstream_serving_latency_seconds", "Score latency in the handler, by arm",
            ["arm"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.unknown_items = Counter(
            "relstream_serving_unknown_items", "Items scored null because they are unknown",
            registry=self.registry,
        )
        self.scored_items = Counter(
            "relstream_serving_scored_items", "Distinct item texts handed to the model (an "
            "item repeated within one request is scored once)", registry=self.registry,
        )
        self.overloaded = Counter(
            "relstream_serving_overloaded", "Score requests refused with 503 at the in-flight "
            "limit", registry=self.registry,
        )
        self.registry.register(_StateCollector(read_state))

    def render(self) -> bytes:
        return generate_latest(self.registry)
