"""Faults and hostile clients on a live gateway: slow consumers, outages, bad input, limits."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import orjson
import pytest

from gateway.core.diff import Diff, apply
from gateway.server.ws import WS_CLOSE_TIMEOUT_S, close_all
from gateway.store import open_store
from gateway.store.url import parse_db_url
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import fresh_row, recv
from tests.support.faultproxy import FaultProxy
from tests.support.rawws import OP_PING, OP_TEXT, RawWebSocket

BIG = 40_000  # bytes of text per update: fills socket buffers in a few dozen diffs


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def raw_subscribe(raw: RawWebSocket, channel: str) -> list[dict]:
    """Subscribe on a raw socket; returns welcome, ack and snapshot frames."""
    frames = [orjson.loads((await raw.recv())[1])]
    raw.send(orjson.dumps({"op": "subscribe", "id": 1, "channels": [channel]}))
    frames.append(orjson.loads((await raw.recv())[1]))
    frames.append(orjson.loads((await raw.recv())[1]))
    return frames


async def test_stalled_client_never_delays_a_healthy_one_and_is_resynced(start_gateway):
    gw = await start_gateway(gated=True, send_buffer_bytes=64 * 1024, send_timeout=60)
    gw.execute("ALTER TABLE truck_sensors_cache ADD COLUMN notes MEDIUMTEXT NULL")  # a deployment's own column
    healthy = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(healthy, "truck:FL-0208"))
    await gw.gated.step()
    await subscribing
    snap = await recv(healthy)
    assert "notes" in snap["data"]  # whole rows pass through, extra columns included

    raw = await RawWebSocket.connect(*host_port(gw.url), rcvbuf=4096)
    _, ack, raw_snap = await raw_subscribe(raw, "truck:FL-0208")
    assert ack["ok"] == ["truck:FL-0208"] and raw_snap["type"] == "snapshot"
    raw.pause()  # from now on the raw client reads nothing

    updates = 0
    while gw.hub.counters.slow_consumers["resync"] == 0:
        updates += 1
        assert updates < 400, "the stalled client was never resynced"
        gw.execute("UPDATE truck_sensors_cache SET notes = %s, rpm = %s WHERE truck_id = 'FL-0208'",
                   (str(updates % 10) * BIG, 1000 + updates))
        await gw.gated.step()
        frame = await recv(healthy, timeout=2)  # the healthy client gets every diff at once
        assert frame["type"] == "diff" and frame["seq"] == snap["seq"] + updates
    assert gw.hub.counters.slow_consumers["close"] == 0

    # The stalled client catches up: its stream jumps to a fresh snapshot and stays consistent.
    raw.resume()
    row, seq, jumped = raw_snap["data"], raw_snap["seq"], False
    while seq < snap["seq"] + updates:
        _, payload = await asyncio.wait_for(raw.recv(), 5)
        frame = orjson.loads(payload)
        if frame["type"] == "snapshot":
            jumped = jumped or frame["seq"] > seq + 1
            row, seq = frame["data"], frame["seq"]
        else:
            assert frame["type"] == "diff" and frame["seq"] == seq + 1, "a diff was lost without a snapshot"
            row, seq = apply(row, Diff(frame["changed"], tuple(frame["removed"]))), frame["seq"]
    assert jumped
    assert row == await gw.store.fetch_sensor_row("FL-0208")
    await raw.close()
    await healthy.close()


async def test_socket_unwritable_past_hard_limit_is_closed_4008(start_gateway):
    gw = await start_gateway(gated=True, send_buffer_bytes=1 << 30, send_timeout=0.3)
    gw.execute("ALTER TABLE truck_sensors_cache ADD COLUMN notes MEDIUMTEXT NULL")
    raw = await RawWebSocket.connect(*host_port(gw.url), rcvbuf=4096)
    raw.send(orjson.dumps({"op": "subscribe", "id": 1, "channels": ["truck:CO0681"]}))
    await gw.gated.step()
    raw.pause()
    updates = 0
    while gw.hub.counters.slow_consumers["close"] == 0:
        updates += 1
        assert updates < 400, "the stalled client was never closed"
        gw.execute("UPDATE truck_sensors_cache SET notes = %s WHERE truck_id = 'CO0681'", (str(updates % 10) * BIG,))
        await gw.gated.step()
        if any(c.pending for c in gw.hub.connections):
            # Backpressure reached: wait out the hard limit rather than adding more data.
            await asyncio.wait_for(_until(lambda: gw.hub.counters.slow_consumers["close"] > 0), 5)
    raw.resume()
    assert await asyncio.wait_for(raw.recv_close_code(), 10) == 4008
    await raw.close()


async def test_shutdown_closes_in_bounded_time_even_with_a_stalled_client(start_gateway):
    gw = await start_gateway(gated=True, send_buffer_bytes=1 << 30, send_timeout=3600)
    gw.execute("ALTER TABLE truck_sensors_cache ADD COLUMN notes MEDIUMTEXT NULL")
    raw = await RawWebSocket.connect(*host_port(gw.url), rcvbuf=4096)
    raw.send(orjson.dumps({"op": "subscribe", "id": 1, "channels": ["truck:TX-0001"]}))
    await gw.gated.step()
    raw.pause()
    healthy = await gw.connect()
    for i in range(400):
        if any(c.pending for c in gw.hub.connections):
            break
        gw.execute("UPDATE truck_sensors_cache SET notes = %s WHERE truck_id = 'TX-0001'", (str(i % 10) * BIG,))
        await gw.gated.step()
    assert any(c.pending for c in gw.hub.connections), "the stalled client never backed up"
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(close_all(gw.hub), 10)
    assert asyncio.get_running_loop().time() - started < WS_CLOSE_TIMEOUT_S + 2
    msg = await healthy.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1001  # the others got their 1001 at once
    await raw.close()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.02)


async def test_database_outage_degrades_then_recovers_without_closing_sockets(start_gateway, mysql_db):
    proxy = FaultProxy(MYSQL_HOST, MYSQL_PORT)
    await proxy.start()
    store = open_store(parse_db_url(f"mysql://root@127.0.0.1:{proxy.port}/{mysql_db}"),
                       pool_min=1, pool_max=4, query_timeout=1.0)
    gw = await start_gateway(store=store, poll_interval=0.05, backoff_max=0.2)
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:FL-0208")
    snap = await recv(ws)

    await proxy.cut()
    degraded = await recv(ws)
    assert degraded["type"] == "status" and degraded["state"] == "degraded"
    gw.execute("UPDATE truck_sensors_cache SET rpm = 2222 WHERE truck_id = 'FL-0208'")  # written during the outage
    await proxy.restore()
    live = await recv(ws)
    assert live["type"] == "status" and live["state"] == "live"
    diff = await recv(ws)
    assert diff["type"] == "diff" and diff["changed"] == {"rpm": 2222} and diff["seq"] == snap["seq"] + 1
    assert not ws.closed
    await ws.close()
    await proxy.stop()


async def test_subscribe_while_database_down_gets_degraded_then_snapshot(start_gateway, mysql_db):
    proxy = FaultProxy(MYSQL_HOST, MYSQL_PORT)
    await proxy.start()
    store = open_store(parse_db_url(f"mysql://root@127.0.0.1:{proxy.port}/{mysql_db}"),
                       pool_min=0, pool_max=4, query_timeout=1.0)
    await proxy.cut()
    gw = await start_gateway(store=store, backoff_max=0.2)
    ws = await gw.connect()
    ack = await gw.subscribe(ws, "truck:TX-0001", "truck:NOSUCH-1")
    assert ack["ok"] == ["truck:TX-0001", "truck:NOSUCH-1"]
    frames = [await recv(ws), await recv(ws)]
    assert {(f["channel"], f["state"]) for f in frames} == {("truck:TX-0001", "degraded"),
                                                          ("truck:NOSUCH-1", "degraded")}
    await proxy.restore()
    later = [await recv(ws) for _ in range(3)]
    by_type = {(f["type"], f.get("channel")) for f in later}
    assert ("snapshot", "truck:TX-0001") in by_type and ("status", "truck:TX-0001") in by_type
    error = next(f for f in later if f["type"] == "error")
    assert error["code"] == "unknown_truck" and error["channel"] == "truck:NOSUCH-1"
    assert "NOSUCH-1" not in gw.hub.watches
    await ws.close()
    await proxy.stop()


@pytest.mark.parametrize(("message", "code"), [
    ("not json", "bad_request"),
    ("[1, 2]", "bad_request"),
    ('{"op": "dance", "id": 4}', "bad_request"),
    ('{"op": "subscribe", "id": "x", "channels": ["truck:A1"]}', "bad_request"),
    ('{"op": "subscribe", "id": 5, "channels": "truck:A1"}', "bad_request"),
])
async def test_bad_messages_get_an_error_and_the_connection_stays(start_gateway, message, code):
    gw = await start_gateway()
    ws = await gw.connect()
    await ws.send_str(message)
    error = await recv(ws)
    assert error["type"] == "error" and error["code"] == code and error["message"]
    await ws.send_str('{"op": "ping", "id": 6}')
    assert await recv(ws) == {"type": "pong", "id": 6}
    await ws.close()


async def test_binary_frame_is_bad_request(start_gateway):
    gw = await start_gateway()
    ws = await gw.connect()
    await ws.send_bytes(b'{"op": "ping", "id": 1}')
    assert (await recv(ws))["code"] == "bad_request"
    await ws.close()


async def test_channel_errors_are_per_channel_in_the_ack(start_gateway):
    gw = await start_gateway(max_subscriptions=2)
    ws = await gw.connect()
    ack = await gw.subscribe(ws, "truck:FL-0208", "bus:FL-0208", "truck:DROP TABLE;--", "truck:NOPE-9",
                             "truck:CO0681", "truck:TX-0001")
    assert ack["ok"] == ["truck:FL-0208", "truck:CO0681"]
    assert [(e["channel"], e["code"]) for e in ack["errors"]] == [
        ("bus:FL-0208", "invalid_channel"),
        ("truck:DROP TABLE;--", "invalid_channel"),
        ("truck:NOPE-9", "unknown_truck"),
        ("truck:TX-0001", "too_many_subscriptions"),
    ]
    assert "NOPE-9" not in gw.hub.watches  # unknown trucks get no poller
    await ws.close()


async def test_invalid_ids_never_reach_the_database(start_gateway):
    gw = await start_gateway()
    ws = await gw.connect()
    before = sum(gw.store.queries.values())
    ack = await gw.subscribe(ws, "truck:x' OR '1'='1", "truck:\u0410BC", "truck:" + "A" * 65, "truck:")
    assert ack["ok"] == [] and {e["code"] for e in ack["errors"]} == {"invalid_channel"}
    assert sum(gw.store.queries.values()) == before
    await ws.close()


async def test_subscription_limit_at_and_past_its_edge(start_gateway):
    gw = await start_gateway(max_subscriptions=2)
    ws = await gw.connect()
    assert (await gw.subscribe(ws, "truck:FL-0208", "truck:CO0681"))["ok"] == ["truck:FL-0208", "truck:CO0681"]
    await recv(ws)
    await recv(ws)
    ack = await gw.subscribe(ws, "truck:TX-0001", msg_id=2)
    assert ack["ok"] == [] and ack["errors"][0]["code"] == "too_many_subscriptions"
    # Re-subscribing to a channel already held does not count again.
    assert (await gw.subscribe(ws, "truck:CO0681", msg_id=3))["ok"] == ["truck:CO0681"]
    await ws.close()


async def test_rate_limit_then_1008_for_persistent_abuse(start_gateway):
    gw = await start_gateway(rate_limit=1, rate_burst=5, max_violations=3)
    ws = await gw.connect()
    for i in range(5):  # the burst is allowed
        await ws.send_str(orjson.dumps({"op": "ping", "id": i}).decode())
        assert (await recv(ws))["type"] == "pong"
    await ws.send_str('{"op": "ping", "id": 99}')
    limited = await recv(ws)
    assert limited["type"] == "error" and limited["code"] == "rate_limited"
    for i in range(2):
        await ws.send_str(orjson.dumps({"op": "ping", "id": 100 + i}).decode())
    frames = []
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            break
        frames.append(orjson.loads(msg.data))
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008
    assert [f["code"] for f in frames] == ["rate_limited", "rate_limited"]


async def test_other_clients_unaffected_by_an_abusive_one(start_gateway):
    gw = await start_gateway(gated=True, max_violations=2)
    good = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(good, "truck:FL-0208"))
    await gw.gated.step()
    await subscribing
    await recv(good)
    bad = await gw.connect()
    for _ in range(2):
        await bad.send_str("{")
    assert (await bad.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT
    assert (await bad.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT
    assert (await bad.receive(timeout=5)).data == 1008
    gw.execute("UPDATE truck_sensors_cache SET rpm = 777 WHERE truck_id = 'FL-0208'")
    await gw.gated.step()
    assert (await recv(good))["changed"] == {"rpm": 777}
    await good.close()


@pytest.mark.parametrize("size", [4096, 4097])
async def test_frame_size_limit_at_and_past_its_edge(start_gateway, size):
    gw = await start_gateway()
    ws = await gw.connect()
    prefix = '{"op": "ping", "id": 1, "pad": "'
    await ws.send_str(prefix + "x" * (size - len(prefix) - 2) + '"}')
    msg = await ws.receive(timeout=5)
    if size <= 4096:
        assert orjson.loads(msg.data) == {"type": "pong", "id": 1}
    else:
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1009


async def test_heartbeat_closes_a_peer_that_never_answers_pings(start_gateway):
    gw = await start_gateway(heartbeat=1.0)
    raw = await RawWebSocket.connect(*host_port(gw.url))
    opcode, _ = await raw.recv()
    assert opcode == OP_TEXT  # welcome
    opcode, _ = await asyncio.wait_for(raw.recv(), 5)
    assert opcode == OP_PING  # not answered on purpose
    assert await asyncio.wait_for(raw.recv_close_code(), 5) is None  # aiohttp drops it without a close frame
    await asyncio.wait_for(_until(lambda: not gw.hub.connections), 5)
    await raw.close()


async def test_answered_heartbeat_keeps_the_socket(start_gateway):
    gw = await start_gateway(heartbeat=0.5)
    ws = await gw.connect()
    receiver = asyncio.create_task(ws.receive())  # reading is what answers the server's pings
    await asyncio.sleep(2.0)  # four heartbeats pass on purpose
    assert not receiver.done()
    await ws.send_str('{"op": "ping", "id": 7}')
    assert orjson.loads((await asyncio.wait_for(receiver, 5)).data) == {"type": "pong", "id": 7}
    await ws.close()


async def test_first_frames_of_a_fresh_row_fleet_are_not_stale(start_gateway):
    gw = await start_gateway()
    await gw.store.upsert_sensor_rows([fresh_row("NEW-1", timestamp=dt.datetime.now(dt.UTC).replace(tzinfo=None))])
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:NEW-1")
    assert (await recv(ws))["type"] == "snapshot"
    await ws.send_str('{"op": "ping", "id": 2}')
    assert (await recv(ws))["type"] == "pong"
    await ws.close()

