"""The poller's tick grid: spread over the interval, shared within a slot."""

from __future__ import annotations

import asyncio

from gateway.config import Settings
from gateway.live.poller import MAX_SLOTS, Poller


async def never(truck_id: str):
    await asyncio.Event().wait()


async def test_ticks_sit_on_a_grid_spread_over_the_interval():
    settings = Settings(poll_interval=1.0)
    pollers = [Poller(f"T{i:04d}", never, settings, lambda p, f, k: None) for i in range(400)]
    now = 1000.37
    ticks = [p._first_tick_after(now) for p in pollers]
    assert all(now < t <= now + 1.0 for t in ticks)
    slots = {round((t % 1.0) / (1.0 / MAX_SLOTS)) % MAX_SLOTS for t in ticks}
    assert len(slots) == MAX_SLOTS  # every slot used: reads spread over the second
    assert all(abs(t * MAX_SLOTS - round(t * MAX_SLOTS)) < 1e-6 for t in ticks)  # on the 50 ms grid
    same = pollers[0]._first_tick_after(now + 1.0)
    assert abs(same - ticks[0] - 1.0) < 1e-9  # one tick per interval, same phase
    for p in pollers:
        await p.stop()
