"""The report as a picture (matplotlib, Agg): latency distribution, throughput and server load over time.

Left: latency percentiles on HdrHistogram's usual axis (1 / (1 - p), so the tail gets
the room it deserves). Middle: frames (or requests) per second over the run and the
clients connected. Right: the server's CPU% of one core and its RSS. The measured window
is shaded. Several reports (compare mode) are drawn on the same axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
from matplotlib.ticker import ScalarFormatter

_LATENCIES = (
    ("publish_to_receive", "publish→receive"),
    ("write_to_receive", "write→receive"),
    ("request", "request"),
    ("write_to_observe", "write→observe"),
)
_MAX_X = 1e5  # where "max" is drawn on the percentile axis


def _latency_axis(ax: Any, reports: Sequence[dict[str, Any]]) -> None:
    for report in reports:
        for key, name in _LATENCIES:
            curve = report.get("latency", {}).get(key, {}).get("curve_ms")
            if not curve:
                continue
            xs = [1 / (1 - p / 100) if p < 100 else _MAX_X for p, _ in curve]
            ax.plot(xs, [max(ms, 0.001) for _, ms in curve], marker=".", label=f"{report.get('label', '')} {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_xticks([2, 10, 100, 1000, 10000, _MAX_X], ["50%", "90%", "99%", "99.9%", "99.99%", "max"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("Latency distribution")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _shade(ax: Any, report: dict[str, Any]) -> None:
    phases = report.get("phases_s", {})
    if "window_start" in phases and "window_end" in phases:
        ax.axvspan(phases["window_start"], phases["window_end"], alpha=0.07)


def _throughput_axis(ax: Any, reports: Sequence[dict[str, Any]]) -> None:
    right = ax.twinx()
    for report in reports:
        label = report.get("label", "")
        timeline = report.get("timeline", {})
        unit = "diffs/s" if "diffs_per_s" in timeline else "requests/s"
        series = timeline.get("diffs_per_s") or timeline.get("requests_per_s") or []
        ax.plot(range(len(series)), series, label=f"{label} {unit}")
        if timeline.get("connected"):
            right.plot(range(len(timeline["connected"])), timeline["connected"], linestyle="--",
                       label=f"{label} connected")
        _shade(ax, report)
    ax.set_xlabel("seconds since ramp start")
    ax.set_ylabel("per second")
    right.set_ylabel("clients connected")
    ax.set_title("Throughput (shaded: measured window)")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = right.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, fontsize=7, loc="lower center")


def _server_axis(ax: Any, reports: Sequence[dict[str, Any]]) -> None:
    right = ax.twinx()
    for report in reports:
        points = report.get("server", {}).get("timeline") or []
        label = report.get("label", "")
        ax.plot([p[0] for p in points], [p[1] for p in points], label=f"{label} CPU %")
        right.plot([p[0] for p in points], [p[2] for p in points], linestyle="--", label=f"{label} RSS MiB")
        _shade(ax, report)
    ax.set_xlabel("seconds since ramp start")
    ax.set_ylabel("CPU % of one core")
    right.set_ylabel("RSS (MiB)")
    ax.set_title("Server process")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = right.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, fontsize=7, loc="lower center")


def draw(reports: Sequence[dict[str, Any]], path: str, title: str = "") -> None:
    """Write a PNG of one or more reports."""
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    _latency_axis(axes[0], reports)
    _throughput_axis(axes[1], reports)
    _server_axis(axes[2], reports)
    fig.suptitle(title or " vs ".join(str(r.get("label", r.get("mode", ""))) for r in reports))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
