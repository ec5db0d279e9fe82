"""Drives the reference server over HTTP, with the same schedule the database driver follows."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from loadtest.schedule import DriveResult, Schedule

_ANSWER_MARGIN_S = 30.0


class ReferenceDriver:
    """Asks the reference server to run a schedule and returns what it wrote."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url.rstrip("/") + "/drive"
        self._session: aiohttp.ClientSession | None = None

    async def prepare(self, trucks: list[str]) -> None:
        self._session = aiohttp.ClientSession()

    async def run(self, schedule: Schedule, stop: asyncio.Event | None = None) -> DriveResult:
        """POST the schedule; the answer comes when its last round has been broadcast."""
        assert self._session is not None, "prepare() first"
        body = {"trucks": list(schedule.trucks), "rate": schedule.rate, "start": schedule.start,
                "duration": schedule.duration}
        wait = schedule.end - time.time() + _ANSWER_MARGIN_S
        async with self._session.post(self._url, data=orjson.dumps(body),
                                      headers={"Content-Type": "application/json"},
                                      timeout=aiohttp.ClientTimeout(total=wait)) as resp:
            resp.raise_for_status()
            answer = orjson.loads(await resp.read())
        return DriveResult(
            writes=answer["writes"], last_stamp_us=answer["last_stamp_us"], statements=answer["statements"],
            max_lateness_s=answer["max_lateness_s"], errors=answer["errors"], error_sample=answer["error_sample"],
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
