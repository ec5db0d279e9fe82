"""A battery of hostile input against a live gateway: every answer correct, everyone else unaffected."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.server.conftest import recv
from tests.server.test_ws_faults import host_port
from tests.support.rawws import OP_TEXT, RawWebSocket

FLIPS = 5000

HOSTILE_TEXT = [
    ("deeply nested", "[" * 4000, "bad_request"),
    ("nested objects", '{"a":' * 600 + "1" + "}" * 600, "bad_request"),
    ("huge id", '{"op": "ping", "id": ' + "9" * 40 + "}", "bad_request"),
    ("float id", '{"op": "ping", "id": 1.5}', "bad_request"),
    ("bool id", '{"op": "ping", "id": true}', "bad_request"),
    ("NaN", '{"op": "ping", "id": NaN}', "bad_request"),
    ("null op", '{"op": null, "id": 1}', "bad_request"),
    ("channels object", '{"op": "subscribe", "id": 1, "channels": {"truck:A": 1}}', "bad_request"),
    ("channel number", '{"op": "subscribe", "id": 1, "channels": [42]}', "bad_request"),
    ("resume wrong shape", '{"op": "subscribe", "id": 1, "channels": ["truck:A1"], "resume": {"truck:A1": 5}}',
     "bad_request"),
    ("empty", "", "bad_request"),
    ("bom", "\ufeff{}", "bad_request"),
]

HOSTILE_CHANNELS = [
    "truck:FL-0208' OR 1=1 --", "truck:FL-0208;DROP TABLE truck_sensors_cache", "truck:%", "truck:_",
    "truck:\u0424L-0208", "truck:FL\u20110208", "truck:FL-0208\n", "truck:../../etc/passwd", "TRUCK:FL-0208",
    "truck: FL-0208", "truck:" + "x" * 100, "truck:\x00",
]


@pytest.fixture
async def watched(start_gateway):
    """A gateway, a healthy subscriber of FL-0208, and a way to prove its stream still flows."""
    gw = await start_gateway(gated=True, rate_limit=100_000, rate_burst=100_000, max_violations=100_000)
    healthy = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(healthy, "truck:FL-0208"))
    await gw.gated.step()
    await subscribing
    await recv(healthy)
    rpm = iter(range(3000, 4000))

    async def still_streams() -> None:
        value = next(rpm)
        gw.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'FL-0208'", (value,))
        await gw.gated.step()
        assert (await recv(healthy))["changed"] == {"rpm": value}

    yield gw, still_streams
    await healthy.close()


async def test_hostile_frames_each_get_an_error_and_the_connection_stays(watched):
    gw, still_streams = watched
    ws = await gw.connect()
    for name, text, code in HOSTILE_TEXT:
        await ws.send_str(text)
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["code"] == code, name
    await ws.send_str('{"op": "ping", "id": 1}')
    assert (await recv(ws)) == {"type": "pong", "id": 1}
    await still_streams()
    await ws.close()


async def test_hostile_channel_names_never_reach_the_database(watched):
    gw, still_streams = watched
    ws = await gw.connect()
    queries = sum(gw.store.queries.values())
    ack = await gw.subscribe(ws, *HOSTILE_CHANNELS)
    assert ack["ok"] == []
    assert [e["code"] for e in ack["errors"]] == ["invalid_channel"] * len(HOSTILE_CHANNELS)
    assert sum(gw.store.queries.values()) == queries
    await still_streams()
    await ws.close()


async def test_invalid_utf8_text_frame_closes_that_socket_1007_only(watched):
    gw, still_streams = watched
    raw = await RawWebSocket.connect(*host_port(gw.url))
    assert (await raw.recv())[0] == OP_TEXT
    raw.send(b'{"op": "ping", "id": \xff\xfe}')
    assert await asyncio.wait_for(raw.recv_close_code(), 5) == 1007  # RFC 6455: invalid payload data
    await raw.close()
    await still_streams()


async def test_ten_thousand_subscribe_unsubscribe_flips(start_gateway):
    gw = await start_gateway(linger=60, rate_limit=100_000, rate_burst=100_000)
    ws = await gw.connect()
    for i in range(FLIPS):
        await ws.send_str(orjson.dumps({"op": "subscribe", "id": 2 * i, "channels": ["truck:CO0681"]}).decode())
        await ws.send_str(orjson.dumps({"op": "unsubscribe", "id": 2 * i + 1, "channels": ["truck:CO0681"]}).decode())
    acks, epochs = 0, set()
    while acks < 2 * FLIPS:
        frame = await recv(ws, timeout=30)
        if frame["type"] == "ack":
            assert frame["id"] == acks and frame["ok"] == ["truck:CO0681"] and not frame["errors"]
            acks += 1
        else:
            assert frame["type"] == "snapshot" and frame["channel"] == "truck:CO0681"
            epochs.add(frame["epoch"])
    assert len(epochs) == 1  # one poller life served every flip: no poller churn
    assert list(gw.hub.watches) == ["CO0681"] and gw.hub.subscription_count == 0
    other = await gw.connect()  # the gateway still serves others normally
    await gw.subscribe(other, "truck:TX-0001")
    assert (await recv(other))["type"] == "snapshot"
    await other.close()
    await ws.close()
