"""Merge what the workers and the parent measured into one report (a JSON-ready dict).

Every figure is derived here once, so the table, the JSON file and the PNG all show the
same numbers. Histograms are merged from the workers' HdrHistograms, never averaged.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from loadtest import integrity, latency, machine
from loadtest.options import LoadOptions
from loadtest.procstats import ProcSampler, server_summary
from loadtest.schedule import DriveResult


def _sum_counters(dicts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d)
    return dict(total)


def _sum_series(series: list[list[int]]) -> list[int]:
    length = max((len(s) for s in series), default=0)
    return [sum(s[i] for s in series if i < len(s)) for i in range(length)]


def _config(opts: LoadOptions) -> dict[str, Any]:
    config = dataclasses.asdict(opts)
    trucks = config.pop("trucks")
    config["trucks"] = len(trucks)
    if config.get("watch") is not None:
        config["watch"] = len(config["watch"])
    config["workers"] = opts.worker_count()
    return config


def _phases(phases: dict[str, float]) -> dict[str, float]:
    t0 = phases.get("t0", 0.0)
    return {name: round(at - t0, 3) for name, at in phases.items() if name != "t0"}


def build_report(*, kind: str, label: str, opts: LoadOptions, results: list[Any], phases: dict[str, float],
                 drive: DriveResult | None, sampler: ProcSampler | None, server_extra: dict[str, Any],
                 database: dict[str, Any] | None, metrics: dict[str, float]) -> dict[str, Any]:
    """The whole report of one run; ``results`` may hold None for a worker that never answered."""
    done = [r for r in results if r]
    window_s = max(phases.get("window_end", 0.0) - phases.get("window_start", 0.0), 1e-9)
    report: dict[str, Any] = {
        "mode": kind, "label": label, "machine": machine.describe(), "config": _config(opts),
        "phases_s": _phases(phases), "window_s": round(window_s, 3),
        "workers": {"planned": len(results), "reported": len(done),
                    "cpu_pct": [r["cpu"].get("cpu_pct") for r in done]},
    }
    body = _ws_part(done, window_s) if kind == "ws" else _rest_part(done, window_s)
    # Workers size their series for the worst case (the hard deadline); keep the part that ran.
    seconds = int(report["phases_s"].get("stop", 0)) + 2
    body["timeline"] = {name: series[:seconds] for name, series in body["timeline"].items()}
    report.update(body)
    report["integrity"] = {
        **report.get("integrity", {}),
        **integrity.check(integrity.merge_trucks(r["trucks"] for r in done), drive),
    }
    if drive is not None:
        report["integrity"]["writes"] = drive.to_json()
    if sampler is not None:
        frames = report.get("delivery", {}).get("window_diffs") or report.get("requests", {}).get("window_requests", 0)
        connections = report.get("connect", {}).get("ok", 0) if kind == "ws" else 0
        report["server"] = {**server_summary(sampler, connections, frames), **server_extra}
    if database is not None:
        report["database"] = database
    if metrics:
        report["server_metrics"] = metrics
    return report


def _ws_part(done: list[dict[str, Any]], window_s: float) -> dict[str, Any]:
    planned = sum(r["clients"] for r in done)
    ok = sum(r["connect"]["ok"] for r in done)
    window_diffs = sum(r["window_diffs"] for r in done)
    connects = _sum_series([r["connect_timeline"] for r in done])
    drops = _sum_series([r["drop_timeline"] for r in done])
    connected, open_now = [], 0
    for made, lost in zip(connects, drops, strict=False):
        open_now += made - lost
        connected.append(open_now)
    return {
        "connect": {
            "attempted": planned, "ok": ok, "failed": sum(r["connect"]["failed"] for r in done),
            "failure_reasons": _sum_counters([r["connect"]["reasons"] for r in done]),
            "dropped": _sum_counters([r["dropped"] for r in done]),
            "not_ready": sum(r["not_ready"] for r in done),
            "latency": latency.summary(latency.merge(r["connect"]["latency_hdr"] for r in done)),
            "ready_latency": latency.summary(latency.merge(r["connect"]["ready_hdr"] for r in done)),
        },
        "delivery": {
            "diffs": sum(r["diffs"] for r in done), "window_diffs": window_diffs,
            "diffs_per_s": round(window_diffs / window_s, 1),
            "frames": _sum_counters([r["frames"] for r in done]),
            "status": _sum_counters([r["status"] for r in done]),
            "subscribe_errors": _sum_counters([r["subscribe_errors"] for r in done]),
        },
        "latency": {
            "publish_to_receive": latency.summary(latency.merge(r["publish_hdr"] for r in done)),
            "write_to_receive": latency.summary(latency.merge(r["write_hdr"] for r in done)),
        },
        "integrity": {
            "seq_gaps": sum(r["seq_gaps"] for r in done), "resyncs": sum(r["resyncs"] for r in done),
            "new_epochs": sum(r["new_epochs"] for r in done),
            "diff_before_snapshot": sum(r["diff_before_snapshot"] for r in done),
            "ineligible_subscriptions": sum(r["ineligible_subscriptions"] for r in done),
        },
        "timeline": {"diffs_per_s": _sum_series([r["timeline"] for r in done]), "connected": connected},
    }


def _rest_part(done: list[dict[str, Any]], window_s: float) -> dict[str, Any]:
    window_requests = sum(r["window_requests"] for r in done)
    window_answered = sum(r.get("window_answered", 0) for r in done)
    statuses = _sum_counters([r["statuses"] for r in done])
    return {
        "requests": {
            "dashboards": sum(r["clients"] for r in done), "total": sum(statuses.values()), "statuses": statuses,
            "errors": sum(n for code, n in statuses.items() if code not in ("200", "304")),
            "window_requests": window_requests, "requests_per_s": round(window_requests / window_s, 1),
            "answered_per_s": round(window_answered / window_s, 1),
            "late_polls": sum(r["late_polls"] for r in done),
        },
        "latency": {
            "request": latency.summary(latency.merge(r["request_hdr"] for r in done)),
            "write_to_observe": latency.summary(latency.merge(r["write_hdr"] for r in done)),
        },
        "timeline": {"requests_per_s": _sum_series([r["timeline"] for r in done]),
                     "fresh_per_s": _sum_series([r["fresh_timeline"] for r in done])},
    }
