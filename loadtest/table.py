"""The report as a plain-text table: one column per run, one row per figure.

Rows whose value is missing in every run are left out, so a REST report does not show
empty WebSocket rows and a run without a server pid shows no CPU rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# (section, label, path into the report); a path is dot-separated keys.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("load", "clients / dashboards", "config.clients"),
    ("load", "trucks", "config.trucks"),
    ("load", "trucks per client", "config.trucks_per_client"),
    ("load", "updates / truck / s", "config.rate"),
    ("load", "measured window (s)", "window_s"),
    ("connect", "connected", "connect.ok"),
    ("connect", "failed", "connect.failed"),
    ("connect", "dropped by server", "connect.dropped_total"),
    ("connect", "connect+welcome p99 (ms)", "connect.latency.p99_ms"),
    ("connect", "connect→all snapshots p50 (ms)", "connect.ready_latency.p50_ms"),
    ("connect", "connect→all snapshots max (ms)", "connect.ready_latency.max_ms"),
    ("delivery", "diffs delivered / s", "delivery.diffs_per_s"),
    ("delivery", "diffs delivered (total)", "delivery.diffs"),
    ("requests", "requests / s", "requests.requests_per_s"),
    ("requests", "answered 200 or 304 / s", "requests.answered_per_s"),
    ("requests", "200 / 304 / errors", "requests.summary"),
    ("latency", "publish→receive p50 (ms)", "latency.publish_to_receive.p50_ms"),
    ("latency", "publish→receive p95 (ms)", "latency.publish_to_receive.p95_ms"),
    ("latency", "publish→receive p99 (ms)", "latency.publish_to_receive.p99_ms"),
    ("latency", "publish→receive max (ms)", "latency.publish_to_receive.max_ms"),
    ("latency", "write→receive p50 (ms)", "latency.write_to_receive.p50_ms"),
    ("latency", "write→receive p95 (ms)", "latency.write_to_receive.p95_ms"),
    ("latency", "write→receive p99 (ms)", "latency.write_to_receive.p99_ms"),
    ("latency", "write→receive max (ms)", "latency.write_to_receive.max_ms"),
    ("latency", "request p50 (ms)", "latency.request.p50_ms"),
    ("latency", "request p99 (ms)", "latency.request.p99_ms"),
    ("latency", "request max (ms)", "latency.request.max_ms"),
    ("latency", "write→observe p50 (ms)", "latency.write_to_observe.p50_ms"),
    ("latency", "write→observe p99 (ms)", "latency.write_to_observe.p99_ms"),
    ("latency", "write→observe max (ms)", "latency.write_to_observe.max_ms"),
    ("integrity", "seq gaps", "integrity.seq_gaps"),
    ("integrity", "resyncs", "integrity.resyncs"),
    ("integrity", "writes driven", "integrity.writes.updates"),
    ("integrity", "deliveries expected", "integrity.expected_deliveries"),
    ("integrity", "deliveries received", "integrity.received_deliveries"),
    ("integrity", "deliveries missing", "integrity.missing_deliveries"),
    ("integrity", "trucks converged", "integrity.converged_summary"),
    ("server", "change source (/metrics)", "change_capture.change_source"),
    ("server", "binlog rows pushed / s", "change_capture.binlog_rows_pushed_per_s"),
    ("server", "CPU % of one core", "server.cpu_pct"),
    ("server", "CPU % of each process", "server.cpu_each"),
    ("server", "frames sent / s (/metrics)", "rates.frames_sent"),
    ("server", "user CPU µs / frame", "server.user_us_per_frame"),
    ("server", "RSS at window (MiB)", "server.rss_window_start_mib"),
    ("server", "RSS peak (MiB)", "server.rss_peak_mib"),
    ("server", "RSS / connection (KiB)", "server.rss_per_connection_kib"),
    ("database", "SELECT / s (Com_select)", "database.com_select_per_s"),
    ("database", "statements / s (Questions)", "database.questions_per_s"),
    ("database", "SELECT / s before the run", "database.background_select_per_s"),
    ("database", "MariaDB CPU % of one core", "database.mariadb_cpu_pct"),
    ("database", "gateway queries / s (/metrics)", "database.gateway_reported_queries_per_s"),
    ("database", "gateway row reads / s (/metrics)", "change_capture.row_read_queries_per_s"),
    ("broker", "Redis commands / s", "probes.redis.commands_per_s"),
    ("broker", "Redis commands / s before the run", "probes.redis.background_commands_per_s"),
    ("broker", "Redis CPU % of one core", "probes.redis.cpu_pct"),
    ("broker", "frames relayed in / s", "rates.relay_received"),
    ("broker", "frames published / s", "rates.relay_published"),
    ("broker", "gap fills / resyncs", "rates.relay_repairs"),
    ("fleet", "socket writes of fleet batches / s", "rates.fleet_writes"),
    ("fleet", "frames sent per fleet write", "rates.frames_per_fleet_write"),
    ("clients", "busiest client process CPU %", "workers.cpu_max"),
    ("machine", "busy % of all cores", "machine.busy_pct_all_cores"),
    ("machine", "other processes CPU %", "machine.other_pct"),
)


def _get(report: dict[str, Any], path: str) -> Any:
    value: Any = report
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _derived(report: dict[str, Any]) -> dict[str, Any]:
    """A copy with the few combined figures the table shows in one cell."""
    out = {**report}
    connect = report.get("connect")
    if connect:
        out["connect"] = {**connect, "dropped_total": sum(connect.get("dropped", {}).values())}
    requests = report.get("requests")
    if requests:
        s = requests.get("statuses", {})
        out["requests"] = {**requests, "summary": f"{s.get('200', 0)} / {s.get('304', 0)} / {requests['errors']}"}
    integ = report.get("integrity")
    if integ and "trucks_converged" in integ:
        out["integrity"] = {**integ, "converged_summary": f"{integ['trucks_converged']} of {integ['trucks_watched']}"}
    server = report.get("server")
    if server and "cpu_pct_each" in server:
        out["server"] = {**server, "cpu_each": " + ".join(f"{c:.1f}" for c in server["cpu_pct_each"])}
    out["rates"] = _rates(report)
    cpus = [c for c in report.get("workers", {}).get("cpu_pct", []) if c is not None]
    if cpus:
        out["workers"] = {**report["workers"], "cpu_max": max(cpus)}
    return out


def _rates(report: dict[str, Any]) -> dict[str, Any]:
    """Per-second figures from the gateway's /metrics deltas over the window."""
    metrics, window = report.get("server_metrics", {}), report.get("window_s")
    if not metrics or not window:
        return {}

    def per_s(name: str) -> float | None:
        return round(metrics[name] / window, 1) if name in metrics else None

    out = {"relay_received": per_s("gateway_relay_received_total"),
           "relay_published": per_s("gateway_relay_published_total"),
           "frames_sent": per_s("gateway_messages_sent_total")}
    if metrics.get("gateway_fleet_writes_total"):
        out["fleet_writes"] = per_s("gateway_fleet_writes_total")
        if metrics.get("gateway_messages_sent_total"):
            out["frames_per_fleet_write"] = round(metrics["gateway_messages_sent_total"]
                                                  / metrics["gateway_fleet_writes_total"], 2)
    if "gateway_relay_gap_fills_total" in metrics:
        out["relay_repairs"] = (f"{metrics['gateway_relay_gap_fills_total']:.0f} / "
                                f"{metrics.get('gateway_relay_resyncs_total', 0):.0f}")
    return {k: v for k, v in out.items() if v is not None}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(reports: Sequence[dict[str, Any]], titles: Sequence[str] | None = None) -> str:
    """A table of one or more reports side by side."""
    rows = [_derived(r) for r in reports]
    titles = list(titles or [r.get("label", r.get("mode", "")) for r in reports])
    lines: list[list[str]] = [["", *titles]]
    section = ""
    for sec, label, path in ROWS:
        values = [_get(r, path) for r in rows]
        if all(v is None for v in values):
            continue
        if sec != section:
            section = sec
            lines.append([f"[{sec}]", *([""] * len(rows))])
        lines.append([f"  {label}", *(_fmt(v) for v in values)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)).rstrip()
        for line in lines
    )
