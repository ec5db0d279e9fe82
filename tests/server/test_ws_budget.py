"""What one WebSocket client may cost: missing trucks, unchecked trucks in an outage, the
violation budget, and the one rule for the case of truck ids (issue: hardening, items 2, 3, 8, 11)."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from gateway.store import open_store
from gateway.store.url import parse_db_url
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import fresh_row, recv
from tests.server.test_access import SECRET, bearer, token
from tests.support.faultproxy import FaultProxy


async def _until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_a_missing_truck_costs_one_lookup_then_none_until_its_memory_expires(start_gateway):
    gw = await start_gateway(unknown_truck_ttl=0.5)
    ws = await gw.connect()
    reads = gw.store.queries["sensor_rows"]
    ack = await gw.subscribe(ws, "truck:NEW-7")
    assert ack["errors"][0]["code"] == "unknown_truck" and gw.store.queries["sensor_rows"] == reads + 1
    for msg_id in range(2, 12):  # asked again and again: no query, no poller
        ack = await gw.subscribe(ws, "truck:NEW-7", msg_id=msg_id)
        assert ack["errors"][0]["code"] == "unknown_truck"
    assert gw.store.queries["sensor_rows"] == reads + 1 and "NEW-7" not in gw.hub.watches
    # REST shares the memory: no lookup either.
    async with gw.session.get(gw.url + "/v1/trucks/NEW-7/history") as resp:
        assert resp.status == 404
    assert gw.store.queries["truck_exists"] == 0
    # The truck is created: it becomes subscribable once the memory of the miss expires.
    gw.execute("INSERT INTO truck_sensors_cache (truck_id, `timestamp`, updated_at) "
               "VALUES ('NEW-7', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
    deadline = asyncio.get_running_loop().time() + 5
    msg_id = 100
    while True:
        msg_id += 1
        ack = await gw.subscribe(ws, "truck:NEW-7", msg_id=msg_id)
        if ack["ok"]:
            break
        assert asyncio.get_running_loop().time() < deadline, "a created truck never became subscribable"
        await asyncio.sleep(0.1)
    assert (await recv(ws))["type"] == "snapshot"
    await ws.close()


async def test_unknown_trucks_count_toward_the_violation_budget(start_gateway):
    gw = await start_gateway(max_violations=5)
    ws = await gw.connect()
    ack = await gw.subscribe(ws, "truck:FL-0208", "truck:MADE-UP-1", "truck:MADE-UP-2")
    assert ack["ok"] == ["truck:FL-0208"] and len(ack["errors"]) == 2
    assert (await recv(ws))["type"] == "snapshot"  # a few misses are fine
    await ws.send_str(orjson.dumps({"op": "subscribe", "id": 2,
                                    "channels": [f"truck:MADE-UP-{i}" for i in range(3, 9)]}).decode())
    frames = []
    while (msg := await ws.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
        frames.append(orjson.loads(msg.data))
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008
    assert any(f["type"] == "ack" and len(f["errors"]) == 6 for f in frames)


async def test_an_outage_bounds_unchecked_subscriptions_then_checks_them(start_gateway, mysql_db):
    proxy = FaultProxy(MYSQL_HOST, MYSQL_PORT)
    await proxy.start()
    store = open_store(parse_db_url(f"mysql://root@127.0.0.1:{proxy.port}/{mysql_db}"),
                       pool_min=0, pool_max=4, query_timeout=1.0)
    await proxy.cut()
    gw = await start_gateway(store=store, backoff_max=0.2, max_unverified_per_connection=3, max_unverified=5)
    first, second = await gw.connect(), await gw.connect()
    ack = await gw.subscribe(first, "truck:TX-0001", *(f"truck:FAKE-{i}" for i in range(20)))
    assert ack["ok"] == ["truck:TX-0001", "truck:FAKE-0", "truck:FAKE-1"]
    assert {e["code"] for e in ack["errors"]} == {"too_many_subscriptions"} and len(ack["errors"]) == 18
    ack = await gw.subscribe(second, "truck:TX-0001", *(f"truck:OTHER-{i}" for i in range(20)))
    # TX-0001's poller exists already (no new cost); 3 of the 5 unchecked pollers are taken.
    assert ack["ok"] == ["truck:TX-0001", "truck:OTHER-0", "truck:OTHER-1"]
    assert len(gw.hub.watches) == 5  # not 41: made-up ids cannot pile up pollers
    await proxy.restore()
    # Back: the real truck gets its snapshot, each made-up one an unknown_truck error, and no poller stays.
    await _until(lambda: set(gw.hub.watches) == {"TX-0001"})
    seen = []
    while not any(f.get("type") == "snapshot" for f in seen) or sum(f["type"] == "error" for f in seen) < 2:
        seen.append(await recv(first))
    errors = {f["channel"] for f in seen if f["type"] == "error"}
    assert errors == {"truck:FAKE-0", "truck:FAKE-1"} and all(
        f["code"] == "unknown_truck" for f in seen if f["type"] == "error")
    assert gw.hub.unknown.known_missing("FAKE-0", asyncio.get_running_loop().time())
    await first.close()
    await second.close()
    await proxy.stop()


async def test_violations_decay_so_bursts_below_the_limit_are_forgiven(start_gateway):
    # 7 messages a second against 10/s with a burst of 5: every burst overflows by 2.
    gw = await start_gateway(rate_limit=10, rate_burst=5, max_violations=3, violation_decay=2)
    ws = await gw.connect()
    for burst in range(4):
        if burst:
            await asyncio.sleep(1.0)  # the client's own pace, not a wait for the server
        for i in range(7):
            await ws.send_str(orjson.dumps({"op": "ping", "id": burst * 10 + i}).decode())
        replies = [await recv(ws) for _ in range(7)]
        assert [r["type"] for r in replies].count("error") == 2, replies
    # A plain counter would have closed it at the 3rd violation, in the second burst.
    await asyncio.sleep(1.0)
    await ws.send_str('{"op": "ping", "id": 999}')
    assert (await recv(ws))["type"] == "pong"
    # Persistent abuse still fills the budget.
    for i in range(10):
        await ws.send_str(orjson.dumps({"op": "ping", "id": 1000 + i}).decode())
    while (msg := await ws.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
        pass
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008


async def test_truck_ids_are_case_sensitive_on_rest_websocket_and_grants(start_gateway, seeded_store):
    await seeded_store.upsert_sensor_rows([fresh_row("AZ0084")])
    gw = await start_gateway(jwt_secret=SECRET)
    lower = bearer(token(("az0084",)))
    # REST: a token for 'az0084' does not read 'AZ0084' (MariaDB's collation would match them).
    for path in ("/v1/trucks/az0084/sensors", "/v1/trucks/az0084/history", "/v1/trucks/az0084/dtcs"):
        async with gw.session.get(gw.url + path, headers=lower) as resp:
            assert resp.status == 404, path
    async with gw.session.get(gw.url + "/v1/trucks/AZ0084/sensors", headers=lower) as resp:
        assert resp.status == 403
    async with gw.session.get(gw.url + "/v1/trucks", headers=lower) as resp:
        assert (await resp.json())["items"] == []
    ws = await gw.connect(headers=lower)
    ack = await gw.subscribe(ws, "truck:az0084", "truck:AZ0084")
    assert [(e["channel"], e["code"]) for e in ack["errors"]] == [("truck:az0084", "unknown_truck"),
                                                                  ("truck:AZ0084", "forbidden")]
    await ws.close()
    exact = bearer(token(("AZ0084",)))
    async with gw.session.get(gw.url + "/v1/trucks/AZ0084/sensors", headers=exact) as resp:
        assert resp.status == 200 and (await resp.json())["truck_id"] == "AZ0084"
    ws = await gw.connect(headers=exact)
    assert (await gw.subscribe(ws, "truck:AZ0084"))["ok"] == ["truck:AZ0084"]
    await ws.close()
