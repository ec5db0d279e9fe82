"""When each driven update happens: whole rounds, each round split into evenly spaced slices.

A round updates every truck once (``1 / rate`` seconds). Writing a thousand rows in one
burst would hit the database and the gateway's pollers in the same millisecond, so a
round is cut into slices about 50 ms apart, and a truck always falls in the same slice:
its updates are exactly one round apart, which keeps "one write per poll interval"
true per truck and makes coalesced writes a property of the gateway, not of the driver.

Only whole rounds run, so at the end every truck has been updated the same number of
times and the expected deliveries are simply ``rounds x subscribers``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

SLICE_SPACING_S = 0.05


@dataclass(frozen=True, slots=True)
class Schedule:
    """Rounds of ``rate`` per second over ``trucks``, starting at wall time ``start``."""

    trucks: tuple[str, ...]
    rate: float
    start: float
    duration: float

    @property
    def period(self) -> float:
        return 1.0 / self.rate

    @property
    def rounds(self) -> int:
        """Whole rounds that fit in the duration (at least one)."""
        return max(1, int(self.duration * self.rate + 1e-9))

    @property
    def slices(self) -> int:
        return max(1, min(len(self.trucks), round(self.period / SLICE_SPACING_S)))

    def slice_trucks(self, index: int) -> tuple[str, ...]:
        """The trucks updated in slice ``index`` of every round."""
        return self.trucks[index :: self.slices]

    def at(self, round_no: int, slice_no: int) -> float:
        """Wall time of one slice of one round."""
        return self.start + round_no * self.period + slice_no * self.period / self.slices

    @property
    def end(self) -> float:
        """Wall time after the last slice of the last round."""
        return self.at(self.rounds, 0)


@dataclass(slots=True)
class DriveResult:
    """What a driver wrote: per truck, how many updates and the stamp of the last one."""

    writes: dict[str, int] = field(default_factory=dict)
    last_stamp_us: dict[str, int] = field(default_factory=dict)
    statements: int = 0
    max_lateness_s: float = 0.0
    errors: int = 0
    error_sample: str = ""

    def to_json(self) -> dict:
        total = sum(self.writes.values())
        return {
            "updates": total,
            "trucks": len(self.writes),
            "statements": self.statements,
            "max_lateness_ms": round(self.max_lateness_s * 1000, 1),
            "errors": self.errors,
            "error_sample": self.error_sample,
        }


async def run_schedule(
    schedule: Schedule,
    write_slice: Callable[[Sequence[str], int], Awaitable[None]],
    stop: asyncio.Event | None = None,
) -> DriveResult:
    """Call ``write_slice(trucks, stamp_us)`` for every slice of every round, on time.

    The stamp is taken just before the write starts. A late slice is written late rather
    than skipped (every round is complete); the worst lateness is reported. A failed
    write is counted and its trucks are not credited with the update.
    """
    result = DriveResult(writes=dict.fromkeys(schedule.trucks, 0))
    for round_no in range(schedule.rounds):
        for slice_no in range(schedule.slices):
            if stop is not None and stop.is_set():
                return result
            due = schedule.at(round_no, slice_no)
            late = time.time() - due
            # Event-loop timers may fire up to a millisecond early; a stamp before the
            # drive's start would not be counted as a driven write by the clients.
            while (delay := due - time.time()) > 0:
                await asyncio.sleep(delay)
            result.max_lateness_s = max(result.max_lateness_s, late)
            trucks = schedule.slice_trucks(slice_no)
            stamp_us = time.time_ns() // 1000
            try:
                await write_slice(trucks, stamp_us)
            except Exception as exc:  # a driver keeps its schedule through a failed write
                result.errors += 1
                result.error_sample = result.error_sample or f"{type(exc).__name__}: {exc}"[:200]
                continue
            result.statements += 1
            for truck in trucks:
                result.writes[truck] += 1
                result.last_stamp_us[truck] = stamp_us
    return result
