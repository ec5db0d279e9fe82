"""Tests for the fault-injecting TCP proxy, against an echo server and the real MariaDB."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiomysql
import pymysql
import pytest
import pytest_asyncio

from tests.support.faultproxy import FaultProxy

MARIADB = ("127.0.0.1", 3306)
# Generous bound for "promptly": failures must come from the proxy, not from a client timeout.
PROMPT = 2.0

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def echo_port() -> AsyncIterator[int]:
    """A local echo server; its handler tasks are awaited on teardown to keep the loop clean."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    await server.wait_closed()


@pytest_asyncio.fixture
async def proxy(echo_port: int) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", echo_port) as p:
        yield p


async def _open(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, msg: bytes
) -> None:
    writer.write(msg)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(msg)), PROMPT) == msg


async def _assert_dead(reader: asyncio.StreamReader) -> None:
    """The connection must report EOF or a reset quickly, not hang."""
    try:
        data = await asyncio.wait_for(reader.read(100), PROMPT)
    except (ConnectionResetError, BrokenPipeError):
        return
    assert data == b""


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def test_forwards_both_directions(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    await _roundtrip(reader, writer, b"hello")
    await _roundtrip(reader, writer, b"x" * 200_000)  # more than one read chunk each way
    assert proxy.connections_total == 1
    assert proxy.open_connections == 1
    await _close(writer)


async def test_cut_resets_open_and_new_connections_then_restore(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    await _roundtrip(reader, writer, b"before")

    await proxy.cut()
    await _assert_dead(reader)
    assert proxy.open_connections == 0
    await _close(writer)

    # While cut, a new client may get through connect() (the kernel completes the handshake)
    # but must then fail immediately.
    try:
        reader2, writer2 = await _open(proxy)
    except OSError:
        pass
    else:
        await _assert_dead(reader2)
        await _close(writer2)

    await proxy.restore()
    reader3, writer3 = await _open(proxy)
    await _roundtrip(reader3, writer3, b"after")
    assert proxy.connections_total == 3
    await _close(writer3)


async def test_blackhole_stalls_reads_but_keeps_connection_open(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    await _roundtrip(reader, writer, b"ping")

    await proxy.blackhole()
    writer.write(b"lost?")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(100), 0.3)
    assert not writer.is_closing()
    assert proxy.open_connections == 1

    # New connections are accepted but receive nothing.
    reader2, writer2 = await _open(proxy)
    writer2.write(b"anyone?")
    await writer2.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader2.read(100), 0.3)
    assert proxy.open_connections == 2

    # Held bytes were parked, not dropped, so the stream is intact after a restore.
    await proxy.restore()
    assert await asyncio.wait_for(reader.readexactly(5), PROMPT) == b"lost?"
    assert await asyncio.wait_for(reader2.readexactly(7), PROMPT) == b"anyone?"
    await _close(writer)
    await _close(writer2)


async def test_stop_closes_everything_and_leaves_no_tasks(echo_port: int) -> None:
    proxy = FaultProxy("127.0.0.1", echo_port)
    await proxy.start()
    port = proxy.port
    reader, writer = await _open(proxy)
    await _roundtrip(reader, writer, b"hi")
    reader2, writer2 = await _open(proxy)
    await proxy.blackhole()  # a parked connection must not keep stop() waiting

    await proxy.stop()
    assert proxy.open_connections == 0
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("faultproxy-")]
    assert leftover == []
    await _assert_dead(reader)
    await _assert_dead(reader2)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    await _close(writer)
    await _close(writer2)


async def _mysql_connect(port: int) -> aiomysql.Connection:
    return await aiomysql.connect(
        host="127.0.0.1", port=port, user="root", password="", connect_timeout=PROMPT
    )


async def _select_one(conn: aiomysql.Connection) -> object:
    async with conn.cursor() as cur:
        await cur.execute("SELECT 1")
        return (await cur.fetchone())[0]


async def test_mariadb_outage_through_proxy() -> None:
    async with FaultProxy(*MARIADB) as proxy:
        conn = await _mysql_connect(proxy.port)
        try:
            assert await _select_one(conn) == 1
            await proxy.cut()
            with pytest.raises((pymysql.err.Error, OSError)) as err:
                await asyncio.wait_for(_select_one(conn), PROMPT)
            assert not isinstance(err.value, TimeoutError)  # TimeoutError is an OSError too
        finally:
            conn.close()

        # Connecting during the outage fails fast instead of hanging.
        with pytest.raises((pymysql.err.Error, OSError)) as err:
            await asyncio.wait_for(_mysql_connect(proxy.port), PROMPT)
        assert not isinstance(err.value, TimeoutError)

        await proxy.restore()
        conn = await _mysql_connect(proxy.port)
        try:
            assert await _select_one(conn) == 1
        finally:
            conn.close()
        assert proxy.connections_total == 3
