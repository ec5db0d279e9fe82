"""REST endpoints against MariaDB with known rows (README: endpoints)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gateway.store import open_store
from gateway.store.url import parse_db_url
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import recv
from tests.support.faultproxy import FaultProxy


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


async def get(gw, path: str, **kwargs):
    async with gw.session.get(gw.url + path, **kwargs) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body, resp.headers


async def test_list_trucks_pages_by_id(start_gateway):
    gw = await start_gateway()
    status, page, _ = await get(gw, "/v1/trucks?limit=2")
    assert status == 200 and [t["truck_id"] for t in page["items"]] == ["CO0681", "FL-0208"]
    assert set(page["items"][0]) == {"truck_id", "timestamp"} and page["items"][0]["timestamp"].endswith("Z")
    status, rest, _ = await get(gw, "/v1/trucks", params={"limit": "2", "cursor": page["next_cursor"]})
    assert [t["truck_id"] for t in rest["items"]] == ["TX-0001"] and rest["next_cursor"] is None


async def test_sensors_etag_304_and_change(start_gateway):
    gw = await start_gateway()
    status, row, headers = await get(gw, "/v1/trucks/FL-0208/sensors")
    assert status == 200 and row == await gw.store.fetch_sensor_row("FL-0208")
    etag = headers["ETag"]
    status, body, _ = await get(gw, "/v1/trucks/FL-0208/sensors", headers={"If-None-Match": etag})
    assert status == 304 and body is None
    for header in ("*", f'"other", {etag}', f"W/{etag}"):
        assert (await get(gw, "/v1/trucks/FL-0208/sensors", headers={"If-None-Match": header}))[0] == 304
    assert (await get(gw, "/v1/trucks/FL-0208/sensors", headers={"If-None-Match": '"other"'}))[0] == 200
    gw.execute("UPDATE truck_sensors_cache SET rpm = 999 WHERE truck_id = 'FL-0208'")
    status, row, headers = await get(gw, "/v1/trucks/FL-0208/sensors", headers={"If-None-Match": etag})
    assert status == 200 and row["rpm"] == 999 and headers["ETag"] != etag


async def test_sensors_of_a_watched_truck_come_from_memory(start_gateway):
    gw = await start_gateway(gated=True)
    ws = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(ws, "truck:CO0681"))
    await gw.gated.step()
    await subscribing
    snap = await recv(ws)
    queries = sum(gw.store.queries.values())
    status, row, headers = await get(gw, "/v1/trucks/CO0681/sensors")
    assert status == 200 and row == snap["data"]
    status, _, _ = await get(gw, "/v1/trucks/CO0681/sensors", headers={"If-None-Match": headers["ETag"]})
    assert status == 304
    assert sum(gw.store.queries.values()) == queries  # no database read for either
    gw.execute("UPDATE truck_sensors_cache SET rpm = 4321 WHERE truck_id = 'CO0681'")
    await gw.gated.step()
    await recv(ws)
    status, row, new_headers = await get(gw, "/v1/trucks/CO0681/sensors", headers={"If-None-Match": headers["ETag"]})
    assert status == 200 and row["rpm"] == 4321 and new_headers["ETag"] != headers["ETag"]
    await ws.close()


@pytest.mark.parametrize(("path", "status", "code", "names"), [
    ("/v1/trucks/NOPE-1/sensors", 404, "not_found", "NOPE-1"),
    ("/v1/trucks/NOPE-1/history", 404, "not_found", "NOPE-1"),
    ("/v1/trucks/bad%20id/sensors", 400, "bad_request", "truck_id"),
    ("/v1/trucks/FL-0208/history?limit=0", 400, "bad_request", "limit"),
    ("/v1/trucks/FL-0208/history?limit=5001", 400, "bad_request", "limit"),
    ("/v1/trucks/FL-0208/history?limit=-1", 400, "bad_request", "limit"),
    ("/v1/trucks/FL-0208/history?limit=1e3", 400, "bad_request", "limit"),
    ("/v1/trucks/FL-0208/history?since=yesterday", 400, "bad_request", "since"),
    ("/v1/trucks/FL-0208/history?until=2026-13-01T00:00:00Z", 400, "bad_request", "until"),
    ("/v1/trucks/FL-0208/history?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", 400, "bad_request", "since"),
    ("/v1/trucks/FL-0208/history?cursor=garbage", 400, "bad_request", "cursor"),
    ("/v1/trucks/FL-0208/history?since=9999-12-31T23:59:59-23:59", 400, "bad_request", "since"),
    ("/v1/trucks/FL-0208/refuels?until=0001-01-01T00:00:00%2B01:00", 400, "bad_request", "until"),
    ("/v1/trucks/FL-0208/history?from=2026-11-01T00:00:00Z", 400, "bad_request", "from"),
    ("/v1/trucks/FL-0208/history?limit=1&limit=2", 400, "bad_request", "limit"),
    ("/v1/trucks/FL-0208/dtcs?status=open", 400, "bad_request", "status"),
    ("/v1/trucks/FL-0208/dtcs?severity=urgent", 400, "bad_request", "severity"),
    ("/v1/trucks/FL-0208/dtcs?limit=1001", 400, "bad_request", "limit"),
    ("/v1/trucks/FL-0208/refuels?until=noon", 400, "bad_request", "until"),
    ("/v1/nothing", 404, "not_found", ""),
])
async def test_bad_requests_get_the_error_shape(start_gateway, path, status, code, names):
    gw = await start_gateway()
    queries = sum(gw.store.queries.values())
    got, body, _ = await get(gw, path)
    assert got == status and body["error"]["code"] == code and names in body["error"]["message"]
    if status == 400:
        assert sum(gw.store.queries.values()) == queries  # validated before any query


async def test_history_walks_12000_rows_once_each_in_time_order(start_gateway):
    gw = await start_gateway()
    start = utcnow() - dt.timedelta(hours=20)
    rows = [{"truck_id": "FL-0208", "timestamp_utc": start + dt.timedelta(seconds=5 * (i // 2)), "rpm": i}
            for i in range(12_000)]  # pairs share a timestamp: the cursor must split ties correctly
    for i in range(0, len(rows), 2000):
        await gw.store.insert_rows("fuel_metrics", rows[i:i + 2000])
    await gw.store.insert_rows("fuel_metrics", [
        {"truck_id": "FL-0208", "timestamp_utc": start - dt.timedelta(hours=5), "rpm": -1},  # outside 24 h
        {"truck_id": "CO0681", "timestamp_utc": start, "rpm": -2},  # another truck
    ])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "5000", **({"cursor": cursor} if cursor else {})}
        status, page, _ = await get(gw, "/v1/trucks/FL-0208/history", params=params)
        assert status == 200
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [r["rpm"] for r in seen] == list(range(12_000))
    status, page, _ = await get(gw, "/v1/trucks/FL-0208/history")  # default limit 500
    assert len(page["items"]) == 500 and page["next_cursor"]
    # A cursor is bound to its query: another truck or window is refused.
    status, body, _ = await get(gw, "/v1/trucks/CO0681/history", params={"cursor": page["next_cursor"]})
    assert status == 400 and "cursor" in body["error"]["message"]
    tampered = page["next_cursor"][:-3] + ("AAA" if not page["next_cursor"].endswith("AAA") else "BBB")
    status, body, _ = await get(gw, "/v1/trucks/FL-0208/history", params={"cursor": tampered})
    assert status == 400


async def test_history_explicit_window(start_gateway):
    gw = await start_gateway()
    t0 = dt.datetime(2026, 11, 22, 10, 0, 0)
    await gw.store.insert_rows("fuel_metrics", [
        {"truck_id": "TX-0001", "timestamp_utc": t0 + dt.timedelta(minutes=m), "rpm": m} for m in range(10)])
    status, page, _ = await get(gw, "/v1/trucks/TX-0001/history",
                                params={"since": "2026-11-22T10:02:00Z", "until": "2026-11-22T10:05:00Z"})
    assert status == 200
    assert [r["rpm"] for r in page["items"]] == [2, 3, 4] and page["next_cursor"] is None
    assert page["items"][0]["timestamp_utc"] == "2026-11-22T10:02:00Z"


async def test_dtcs_filters_newest_first_and_pages(start_gateway):
    gw = await start_gateway()
    t0 = utcnow() - dt.timedelta(hours=3)

    def dtc(minute, severity, status, code):
        return {"truck_id": "FL-0208", "timestamp_utc": t0 + dt.timedelta(minutes=minute), "dtc_code": code,
                "spn": 110, "fmi": 0, "severity": severity, "status": status}

    await gw.store.insert_rows("dtc_events", [
        dtc(1, "critical", "active", "P0217"), dtc(2, "low", "active", "P0128"),
        dtc(3, "critical", "cleared", "P0300"), dtc(4, "high", "active", "P0521"),
    ])
    _, page, _ = await get(gw, "/v1/trucks/FL-0208/dtcs")
    assert [d["dtc_code"] for d in page["items"]] == ["P0521", "P0300", "P0128", "P0217"]
    _, page, _ = await get(gw, "/v1/trucks/FL-0208/dtcs?status=active&severity=critical,high")
    assert [d["dtc_code"] for d in page["items"]] == ["P0521", "P0217"]
    _, page, _ = await get(gw, "/v1/trucks/FL-0208/dtcs?status=cleared")
    assert [d["dtc_code"] for d in page["items"]] == ["P0300"]
    since = (t0 + dt.timedelta(minutes=2)).isoformat() + "Z"
    _, page, _ = await get(gw, "/v1/trucks/FL-0208/dtcs", params={"since": since, "limit": "1"})
    codes = [page["items"][0]["dtc_code"]]
    while page["next_cursor"]:
        _, page, _ = await get(gw, "/v1/trucks/FL-0208/dtcs",
                               params={"since": since, "limit": "1", "cursor": page["next_cursor"]})
        codes += [d["dtc_code"] for d in page["items"]]
    assert codes == ["P0521", "P0300", "P0128"]


async def test_refuels_window_newest_first_and_pages(start_gateway):
    gw = await start_gateway()
    t0 = utcnow() - dt.timedelta(days=2)
    await gw.store.insert_rows("refuel_events", [
        {"truck_id": "CO0681", "refuel_time": t0 + dt.timedelta(hours=6 * h), "gallons_added": 50 + h}
        for h in range(6)])
    _, page, _ = await get(gw, "/v1/trucks/CO0681/refuels")
    assert [r["gallons_added"] for r in page["items"]] == [55, 54, 53, 52, 51, 50]
    until = (t0 + dt.timedelta(hours=24)).isoformat() + "Z"
    _, page, _ = await get(gw, "/v1/trucks/CO0681/refuels", params={"until": until, "limit": "2"})
    got = [r["gallons_added"] for r in page["items"]]
    _, page, _ = await get(gw, "/v1/trucks/CO0681/refuels",
                           params={"until": until, "limit": "2", "cursor": page["next_cursor"]})
    got += [r["gallons_added"] for r in page["items"]]
    assert got == [53, 52, 51, 50]


async def test_database_outage_gives_prompt_503_then_recovers(start_gateway, mysql_db):
    proxy = FaultProxy(MYSQL_HOST, MYSQL_PORT)
    await proxy.start()
    store = open_store(parse_db_url(f"mysql://root@127.0.0.1:{proxy.port}/{mysql_db}"),
                       pool_min=1, pool_max=4, query_timeout=1.0)
    gw = await start_gateway(store=store)
    assert (await get(gw, "/v1/trucks/FL-0208/sensors"))[0] == 200
    assert (await get(gw, "/readyz"))[0] == 200
    await proxy.blackhole()  # the worst kind: packets vanish, nothing is refused
    for path in ("/v1/trucks/FL-0208/sensors", "/v1/trucks", "/v1/trucks/FL-0208/history", "/readyz"):
        status, body, _ = await asyncio.wait_for(get(gw, path), 5)  # bounded by the 1 s query timeout
        assert status == 503 and body["error"]["code"] == "db_unavailable", path
    assert (await get(gw, "/healthz"))[0] == 200
    await proxy.restore()
    assert (await get(gw, "/v1/trucks/FL-0208/sensors"))[0] == 200
    deadline = asyncio.get_running_loop().time() + 5
    while (status := (await get(gw, "/readyz"))[0]) != 200:  # the probe is cached for a second
        assert asyncio.get_running_loop().time() < deadline, "/readyz never recovered"
        await asyncio.sleep(0.1)
    status, ready, _ = await get(gw, "/readyz")
    assert status == 200 and ready["status"] == "ready" and ready["pool_max"] == 4
    await proxy.stop()
