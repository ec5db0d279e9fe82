"""Did every subscriber get every write? The end-to-end count, truck by truck.

Workers report, per truck, how many of their subscriptions were in place before the
driver started and stayed open (eligible), the writes those saw, and the lowest and
highest ``updated_at`` they ended on. With the driver's own count of writes per truck:

- expected deliveries = writes x eligible subscriptions, summed over trucks;
- missing = expected - received. With no seq gaps and no resyncs the gateway lost
  nothing, so a missing write can only be one the poller never saw on its own: two
  writes between two polls give one diff (polling coalesces; push cannot be faster
  than the poll interval). Drive slower than the poll interval and missing must be 0;
- a truck has *converged* when every eligible subscriber ended on the last write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loadtest.schedule import DriveResult

_EXAMPLES = 10


def merge_trucks(per_worker: Iterable[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Add up the workers' per-truck [eligible, received, min last stamp, max last stamp]."""
    merged: dict[str, list[int]] = {}
    for trucks in per_worker:
        for truck, (eligible, received, low, high) in trucks.items():
            entry = merged.get(truck)
            if entry is None:
                merged[truck] = [eligible, received, low, high]
            else:
                entry[0] += eligible
                entry[1] += received
                entry[2] = min(entry[2], low)
                entry[3] = max(entry[3], high)
    return merged


def check(trucks: dict[str, list[int]], drive: DriveResult | None) -> dict[str, Any]:
    """Expected against received deliveries, and which trucks every subscriber caught up on."""
    eligible = sum(entry[0] for entry in trucks.values())
    received = sum(entry[1] for entry in trucks.values())
    out: dict[str, Any] = {"eligible_subscriptions": eligible, "received_deliveries": received,
                           "trucks_watched": len(trucks)}
    if drive is None:
        return out
    expected = 0
    converged = 0
    short: list[dict[str, Any]] = []
    for truck, (subs, got, low, high) in sorted(trucks.items()):
        writes = drive.writes.get(truck, 0)
        expected += writes * subs
        last = drive.last_stamp_us.get(truck)
        caught_up = writes == 0 or low == high == last
        converged += caught_up
        if (not caught_up or got != writes * subs) and len(short) < _EXAMPLES:
            short.append({"truck": truck, "subscribers": subs, "writes": writes, "received": got,
                          "caught_up": caught_up})
    out.update({
        "expected_deliveries": expected,
        "missing_deliveries": expected - received,
        "trucks_converged": converged,
        "examples_short": short,
        "all_delivered": expected == received and converged == len(trucks),
    })
    return out
