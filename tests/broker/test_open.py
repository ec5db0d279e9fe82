"""Choosing a broker by URL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.broker import BrokerUnavailable, MemoryBroker, open_broker
from gateway.broker.space import drop_space


def test_schemes_pick_the_implementation():
    from gateway.broker.redis import RedisBroker

    assert isinstance(open_broker("redis://127.0.0.1:6379/0", "p"), RedisBroker)
    assert isinstance(open_broker("memory://x", "p"), MemoryBroker)
    assert isinstance(open_broker(None, "p"), MemoryBroker)
    with pytest.raises(ValueError, match="scheme"):
        open_broker("http://127.0.0.1:6379", "p")
    with pytest.raises(ValueError):
        open_broker("memory://x", "bad prefix")
    with pytest.raises(ValueError):
        open_broker("memory://x", "p", node_id="a|b")


async def test_memory_brokers_of_one_name_share_state_and_others_do_not():
    a, b = open_broker("memory://shared-test", "p", "a"), open_broker("memory://shared-test", "p", "b")
    alone = open_broker(None, "p", "c")
    for broker in (a, b, alone):
        await broker.start()
    try:
        assert set(await a.acquire(["T1"], 10_000)) == {"T1"}
        assert await b.holder("T1") == "a"
        assert await alone.holder("T1") is None
    finally:
        for broker in (a, b, alone):
            await broker.close()
        drop_space("shared-test")


async def test_calls_before_start_or_after_close_are_unavailable():
    broker = open_broker("redis://127.0.0.1:6379/0", "p")
    with pytest.raises(BrokerUnavailable):
        await broker.acquire(["T1"], 1000)
    memory = open_broker(None, "p")
    await memory.start()
    await memory.close()
    with pytest.raises(BrokerUnavailable):
        await memory.latest("T1")


def test_a_memory_broker_never_imports_redis():
    code = (
        "import sys, asyncio\n"
        "from gateway.broker import open_broker\n"
        "asyncio.run(open_broker('memory://', 'p').start())\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
