"""Latency recording: cheap on the hot path, an HdrHistogram at the end, mergeable across processes.

``hdrh``'s ``record_value`` costs about 3 µs in pure Python, which at tens of thousands of
frames a second would be a measurable part of a client process's core. So the hot path
only bumps a dict entry keyed by the value rounded down to HdrHistogram's own bucket
(three significant digits = 2048 sub-buckets, i.e. keep the top 11 bits), which loses
nothing HdrHistogram would have kept; ``to_histogram`` then records each bucket once with
its count. Workers ship histograms as HdrHistogram's compressed base64 encoding, and the
parent adds them up: percentiles of the merged histogram are exact to three digits, not
an average of per-process percentiles.

All values are integers in microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped, never dropped
SIGNIFICANT_DIGITS = 3
_KEEP_BITS = 11  # 2 ** 11 = 2048 sub-buckets, what 3 significant digits give in HdrHistogram
# Percentiles stored in reports, enough to redraw the distribution without the raw histogram.
CURVE_PERCENTILES = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100)


def new_histogram() -> HdrHistogram:
    """An empty histogram with the range and precision every part of a run shares."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


class LatencyRecorder:
    """Counts values by HdrHistogram bucket in a plain dict (about 0.3 µs a value)."""

    __slots__ = ("buckets", "count")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0

    def record(self, value_us: int) -> None:
        """Record one value; negatives (clock steps between hosts) count as the lowest value."""
        if value_us < LOWEST_US:
            value_us = LOWEST_US
        elif value_us > HIGHEST_US:
            value_us = HIGHEST_US
        shift = value_us.bit_length() - _KEEP_BITS
        if shift > 0:
            value_us = (value_us >> shift) << shift
        buckets = self.buckets
        buckets[value_us] = buckets.get(value_us, 0) + 1
        self.count += 1

    def to_histogram(self) -> HdrHistogram:
        """The recorded values as an HdrHistogram."""
        hist = new_histogram()
        for value, count in self.buckets.items():
            hist.record_value(value, count)
        return hist

    def encode(self) -> str:
        """HdrHistogram's compressed base64 form, to send to another process."""
        return encode(self.to_histogram())


def encode(hist: HdrHistogram) -> str:
    """A histogram as compressed base64 text (empty string for an empty histogram)."""
    if hist.get_total_count() == 0:
        return ""
    raw = hist.encode()
    return raw.decode("ascii") if isinstance(raw, bytes) else raw


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """Add up histograms encoded by ``encode`` (empty strings are skipped)."""
    total = new_histogram()
    for text in encoded:
        if text:
            total.add(HdrHistogram.decode(text))
    return total


def summary(hist: HdrHistogram) -> dict[str, Any]:
    """Count, mean, p50/p95/p99/p99.9/max in milliseconds, the percentile curve and the encoding."""
    count = hist.get_total_count()
    if count == 0:
        return {"count": 0}

    def ms(value_us: float) -> float:
        return round(value_us / 1000.0, 3)

    return {
        "count": count,
        "mean_ms": ms(hist.get_mean_value()),
        "p50_ms": ms(hist.get_value_at_percentile(50)),
        "p95_ms": ms(hist.get_value_at_percentile(95)),
        "p99_ms": ms(hist.get_value_at_percentile(99)),
        "p999_ms": ms(hist.get_value_at_percentile(99.9)),
        "max_ms": ms(hist.get_max_value()),
        "curve_ms": [[p, ms(hist.get_value_at_percentile(p))] for p in CURVE_PERCENTILES],
        "hdr": encode(hist),
    }
