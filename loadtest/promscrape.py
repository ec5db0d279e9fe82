"""Read a server's Prometheus text at the window's edges, as a cross-check of the client-side counts.

Only sums per metric name are kept (labels added up), which is all the report needs:
frames sent, queries run by kind in total, slow consumers, open connections. The few
metrics in ``LABELED`` also keep each sample under its full name with labels (queries by
kind, the change source in use). A server without ``/metrics`` (or any error) gives an
empty dict; scraping is never what fails a run.
"""

from __future__ import annotations

import aiohttp

_SCRAPE_TIMEOUT_S = 5.0
WATCHED = (
    "gateway_messages_sent_total",
    "gateway_broadcasts_total",
    "gateway_fleet_writes_total",
    "gateway_leases_held",
    "gateway_binlog_leader",
    "gateway_binlog_events_total",
    "gateway_relay_published_total",
    "gateway_relay_received_total",
    "gateway_relay_gap_fills_total",
    "gateway_relay_resyncs_total",
    "gateway_broker_round_trips_total",
    "gateway_db_queries_total",
    "gateway_slow_consumers_total",
    "gateway_ws_connections",
    "gateway_pollers",
    "gateway_push_latency_seconds_sum",
    "gateway_push_latency_seconds_count",
    "gateway_binlog_rows_pushed_total",
    "gateway_binlog_rows_decoded_total",
    "gateway_binlog_checks_failed_total",
    "gateway_binlog_reconnects_total",
    "reference_messages_sent_total",
    "reference_ws_connections",
)

# Kept per sample too, e.g. ``gateway_db_queries_total{kind="sensor_rows"}``.
LABELED = ("gateway_db_queries_total", "gateway_change_source")


def _base(name: str) -> str:
    return name.split("{", 1)[0]


def parse(text: str) -> dict[str, float]:
    """Sum every sample of the watched metrics in a Prometheus text exposition."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = _base(name_part)
        if name not in WATCHED and name not in LABELED:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if name in WATCHED:
            totals[name] = totals.get(name, 0.0) + number
        if name in LABELED and "{" in name_part:
            totals[name_part] = number
    return totals


async def scrape(session: aiohttp.ClientSession, base_url: str) -> dict[str, float]:
    """GET ``base_url``/metrics and parse it; an empty dict when that fails."""
    try:
        async with session.get(base_url.rstrip("/") + "/metrics",
                               timeout=aiohttp.ClientTimeout(total=_SCRAPE_TIMEOUT_S)) as resp:
            if resp.status != 200:
                return {}
            return parse(await resp.text())
    except (aiohttp.ClientError, TimeoutError):
        return {}


def deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counter increases over the window (``_total``/``_sum``/``_count``) and gauges as last read."""
    out: dict[str, float] = {}
    for name, value in after.items():
        if _base(name).endswith(("_total", "_sum", "_count")):
            out[name] = round(value - before.get(name, 0.0), 6)
        else:
            out[name] = value
    return out
