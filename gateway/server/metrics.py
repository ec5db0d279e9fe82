"""Prometheus metrics (prometheus_client), one registry per application.

Hot-path counts (frames sent, queries run) are kept as plain integers by the hub and the
store and read at scrape time by a collector, so a broadcast to 5,000 sockets costs one
addition, not 5,000 metric calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.live.cluster import Cluster
from gateway.live.hub import Hub
from gateway.server.keys import METRICS
from gateway.store import Store

if TYPE_CHECKING:
    pass

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
        slow = CounterMetricFamily("gateway_slow_consumers", "Slow-consumer events (resync or 4008 close)",
                                   labels=["action"])
        for action, count in hub.counters.slow_consumers.items():
            slow.add_metric([action], count)
        yield slow
        queries = CounterMetricFamily("gateway_db_queries", "Database queries run, by kind", labels=["kind"])
        for kind, count in sorted(self._store.queries.items()):
            queries.add_metric([kind], count)
        yield queries
        yield from _feed_metrics(hub)
        yield from _change_metrics(hub)
        cluster = hub.cluster
        if cluster is not None:
            yield from _cluster_metrics(cluster)


def _feed_metrics(hub: Hub) -> Iterator:
    """The fleet and alerts channels."""
    feeds = hub.feeds
    yield GaugeMetricFamily("gateway_fleet_subscribers", "Connections subscribed to the fleet channel",
                            value=len(feeds.fanout.subscribers))
    yield GaugeMetricFamily("gateway_fleet_trucks", "Truck watches held for the fleet and alerts channels",
                            value=len(feeds.fanout.trucks))
    yield CounterMetricFamily("gateway_fleet_writes", "Socket writes of fleet batches (one per subscriber per tick)",
                              value=hub.counters.fleet_writes)
    yield GaugeMetricFamily("gateway_alerts_subscribers", "Connections subscribed to the alerts channel",
                            value=sum(1 for c in feeds.alerts.subscribers if c in hub.connections))
    yield GaugeMetricFamily("gateway_alerts_deriving", "1 when this process derives the alerts (in a cluster: "
                            "it holds the alerts lease), 0 when it follows another", value=int(feeds.alerts.deriving))
    events = CounterMetricFamily("gateway_alert_events", "Alert events derived, by kind", labels=["kind"])
    for kind, count in sorted(feeds.alerts.deriver.counts.items()):
        events.add_metric([kind], count)
    yield events


def _change_metrics(hub: Hub) -> Iterator:
    """Which change source runs (1 for the active one), and the binlog reader's work."""
    feed, active = hub.change_feed, hub.change_source
    clustered = feed is not None and hub.cluster is not None
    source = GaugeMetricFamily("gateway_change_source",
                               "1 for the change source in use (binlog, poll, or cluster: another process "
                               "follows the binlog), else 0", labels=["source"])
    for name in ("binlog", "poll", *(("cluster",) if clustered else ())):
        source.add_metric([name], 1 if name == active else 0)
    yield source
    if feed is None:
        return
    reader = feed.reader_counters()
    counts = feed.counters
    for name, help_text, value in (
        ("gateway_binlog_events", "Binary log events received (heartbeats included)", reader.events),
        ("gateway_binlog_transactions", "Committed transactions seen in the binary log", reader.transactions),
        ("gateway_binlog_rows_decoded", "Rows of watched trucks decoded from the binary log", reader.rows_decoded),
        ("gateway_binlog_rows_skipped", "Rows of unwatched trucks dropped before decoding", reader.rows_skipped),
        ("gateway_binlog_reconnects", "Binary log stream connections after the first", reader.reconnects),
        ("gateway_binlog_rows_fast", "After-images read straight into JSON rows (not by the library's decoder)",
         reader.rows_fast),
        ("gateway_binlog_decode_mismatches", "Fast-path rows the library decoded differently (fast path then off)",
         reader.decode_mismatches),
        ("gateway_binlog_rows_pushed", "After-images handed to this process's pollers", counts.rows_pushed),
        ("gateway_binlog_rows_coalesced", "After-images replaced by a later one of their truck (loop behind the log)",
         counts.rows_coalesced),
        ("gateway_binlog_event_rows", "dtc_events / refuel_events after-images read from the binary log",
         counts.event_rows),
        ("gateway_binlog_positions_lost", "Resume positions the server no longer had (watched rows re-read)",
         counts.positions_lost),
        ("gateway_binlog_position_reads", "Log positions read for pollers joining the feed", counts.position_reads),
        ("gateway_binlog_checks_failed", "Checks that found the binary log unusable (polling instead)",
         counts.checks_failed),
    ):
        yield CounterMetricFamily(name, help_text, value=value)


def _cluster_metrics(cluster: Cluster) -> Iterator:
    """Cluster mode: leases, broker health and the relay's work (plain counters, read here)."""
    broker = cluster.broker
    yield GaugeMetricFamily("gateway_leases_held", "Truck leases this process holds (it reads them for the cluster)",
                            value=len(cluster.readers))
    if cluster.binlog_enabled:
        yield GaugeMetricFamily("gateway_binlog_leader", "1 while this process follows the binary log for the cluster",
                                value=1 if cluster.binlog_leader else 0)
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
