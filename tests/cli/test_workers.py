"""``gateway serve --workers N``: one port served by N processes, stopped and restarted as one."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp
import orjson

GATEWAY = [sys.executable, "-m", "gateway"]


async def _read_until(stream: asyncio.StreamReader, pattern: str, timeout: float = 30) -> re.Match:
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            assert line, f"stream ended before {pattern!r}"
            match = re.search(pattern, line)
            if match:
                return match


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_workers_share_one_port_restart_when_killed_and_stop_together(tmp_path):
    db = f"sqlite:///{tmp_path}/fleet.db"
    init = await asyncio.create_subprocess_exec(*GATEWAY, "initdb", "--db", db, "--sample-trucks", "2")
    assert await init.wait() == 0
    proc = await asyncio.create_subprocess_exec(
        *GATEWAY, "serve", "--db", db, "--port", "0", "--workers", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        base = (await _read_until(proc.stdout, r"listening on (http://\S+)")).group(1)
        pids = [int(p) for p in (await _read_until(proc.stderr, r"pids ([\d, ]+)")).group(1).split(", ")]
        assert len(set(pids)) == 2 and all(_alive(p) for p in pids)
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(base + "/v1/ws") for _ in range(8)]
            for ws in sockets:
                assert orjson.loads((await ws.receive(timeout=5)).data)["type"] == "welcome"
            os.kill(pids[0], signal.SIGKILL)  # a worker dies: it is logged and started again
            await _read_until(proc.stderr, rf"worker \d \(pid {pids[0]}\) exited .* restarting")
            await _read_until(proc.stderr, r"listening on|using the embedded database")
            assert (await session.get(base + "/healthz")).status == 200
            survivors = [ws for ws in sockets if not ws.closed]
            proc.send_signal(signal.SIGTERM)
            closes = await asyncio.gather(*(ws.receive(timeout=15) for ws in survivors))
            assert {m.data for m in closes if m.type is aiohttp.WSMsgType.CLOSE} <= {1001, 1006}
            assert any(m.data == 1001 for m in closes)  # the live worker's sockets got the graceful close
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        assert not _alive(pids[1])
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
