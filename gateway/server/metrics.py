"""Prometheus metrics (prometheus_client), one registry per application.

Hot-path counts (frames sent, queries run) are kept as plain integers by the hub and the
store and read at scrape time by a collector, so a broadcast to 5,000 sockets costs one
addition, not 5,000 metric calls.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.live.cluster import Cluster
from gateway.live.hub import Hub
from gateway.server.keys import METRICS
from gateway.store import Store

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _GatewayCollector(Collector):
    def __init__(self, hub: Hub, store: Store) -> None:
        self._hub = hub
        self._store = store

    def collect(self) -> Iterator:
        hub = self._hub
        yield GaugeMetricFamily("gateway_ws_connections", "Open WebSocket connections", value=len(hub.connections))
        yield GaugeMetricFamily("gateway_subscriptions", "Channel subscriptions across connections",
                                value=hub.subscription_count)
        yield GaugeMetricFamily("gateway_pollers", "Running truck pollers", value=len(hub.watches))
        yield CounterMetricFamily("gateway_messages_sent", "WebSocket frames sent to clients",
                                  value=hub.counters.frames_sent)
        yield CounterMetricFamily("gateway_broadcasts", "Frames published by pollers (each encoded once)",
                                  value=hub.counters.broadcasts)
        yield CounterMetricFamily("gateway_fleet_writes", "Socket writes of fleet batches (one a subscriber a tick)",
                                  value=hub.counters.fleet_writes)
        slow = CounterMetricFamily("gateway_slow_consumers", "Slow-consumer events (resync or 4008 close)",
                                   labels=["action"])
        for action, count in hub.counters.slow_consumers.items():
            slow.add_metric([action], count)
        yield slow
        queries = CounterMetricFamily("gateway_db_queries", "Database queries run, by kind", labels=["kind"])
        for kind, count in sorted(self._store.queries.items()):
            queries.add_metric([kind], count)
        yield queries
        cluster = hub.cluster
        if cluster is not None:
            yield from _cluster_metrics(cluster)


def _cluster_metrics(cluster: Cluster) -> Iterator:
    """Cluster mode: leases, broker health and the relay's work (plain counters, read here)."""
    broker = cluster.broker
    yield GaugeMetricFamily("gateway_leases_held", "Truck leases this process holds (it reads them for the cluster)",
                            value=len(cluster.readers))
    yield GaugeMetricFamily("gateway_broker_up", "1 while the broker answers, else 0 (each process reads for itself)",
                            value=1 if cluster.up else 0)
    yield CounterMetricFamily("gateway_relay_published", "Frames this process published to the broker",
                              value=broker.published)
    yield CounterMetricFamily("gateway_relay_received", "Frames this process received from the broker",
                              value=broker.received)
    yield CounterMetricFamily("gateway_relay_gap_fills", "Relay gaps filled from the broker's history",
                              value=broker.gap_fills)
    yield CounterMetricFamily("gateway_relay_resyncs", "Relay gaps the history could not fill (snapshot resync)",
                              value=broker.resyncs)
    yield CounterMetricFamily("gateway_broker_round_trips", "Round trips to the broker", value=broker.round_trips)


class Metrics:
    """The registry and the two histograms observed on the hot path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.poll_duration = Histogram("gateway_poll_duration_seconds", "Time of one poller database read",
                                       buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.broker_rtt = Histogram("gateway_broker_rtt_seconds", "Round-trip time of one broker call",
                                    buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.push_latency = Histogram("gateway_push_latency_seconds",
                                      "From the poller's read of a change to its frame handed to every socket",
                                      buckets=_LATENCY_BUCKETS, registry=self.registry)

    def watch(self, hub: Hub, store: Store) -> None:
        """Expose the hub's and the store's own counters (and the broker's round trips)."""
        self.registry.register(_GatewayCollector(hub, store))
        if hub.cluster is not None:
            hub.cluster.broker.observe_rtt = self.broker_rtt.observe


async def metrics_handler(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
