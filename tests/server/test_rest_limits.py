"""REST can no longer wear down the gateway: floods, rate limits, busy answers, /readyz and a
missing schema (issue: hardening, items 1, 2, 9; issue 10 item 6)."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import orjson
import pytest

from gateway.config import Settings
from gateway.config import networks as parse_networks
from gateway.server.app import make_app
from gateway.server.keys import REST_GUARD
from gateway.store import open_store
from gateway.store.url import DbUrl
from tests.conftest import MYSQL_USER, admin_connection
from tests.server.conftest import recv
from tests.server.test_access import SECRET, bearer, token

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)


async def get(gw, path: str, **kwargs) -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
    async with gw.session.get(gw.url + path, **kwargs) as resp:
        return resp.status, orjson.loads(await resp.read()) if resp.status != 304 else {}, resp.headers


async def watch(gw, ws, updates: int, rpm0: int) -> list[dict]:
    """Write ``updates`` changes, one at a time, and collect what the subscriber gets for each."""
    frames = []
    for n in range(updates):
        gw.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'FL-0208'", (rpm0 + n,))
        while True:
            frame = await recv(ws, timeout=5)  # far above one poll interval: an outcome, not a timing
            frames.append(frame)
            if frame["type"] == "diff" and frame["changed"].get("rpm") == rpm0 + n:
                break
    return frames


async def flood(gw, path: str, clients: int, rounds: int) -> list[tuple[int, str | None]]:
    """``clients`` parallel loops of ``rounds`` requests each: (status, error code) per answer."""
    async def one() -> list[tuple[int, str | None]]:
        out = []
        for _ in range(rounds):
            async with gw.session.get(gw.url + path) as resp:
                body = orjson.loads(await resp.read())
                out.append((resp.status, body.get("error", {}).get("code") if isinstance(body, dict) else None))
        return out
    return [answer for answers in await asyncio.gather(*(one() for _ in range(clients))) for answer in answers]


async def test_rest_flood_on_a_locked_table_never_stops_or_degrades_the_push_path(start_gateway, mysql_url, mysql_db):
    store = open_store(mysql_url, pool_min=1, pool_max=4, pool_live_reserve=2, query_timeout=1.0)
    gw = await start_gateway(store=store, poll_interval=0.1, rest_concurrency=16, rest_queue_timeout=1.0)
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:FL-0208")
    assert (await recv(ws))["type"] == "snapshot"
    lock = admin_connection(mysql_db)
    with lock.cursor() as cur:
        cur.execute("LOCK TABLES fuel_metrics WRITE")  # every history query now hangs until its timeout
    try:
        rest = asyncio.create_task(flood(gw, "/v1/trucks/FL-0208/history?limit=5000", clients=30, rounds=2))
        frames = await watch(gw, ws, updates=10, rpm0=5000)
        answers = await rest
    finally:
        with lock.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        lock.close()
    # Every change arrived, as diffs in order, and the subscriber never heard "degraded".
    assert [f["type"] for f in frames] == ["diff"] * 10
    assert [f["seq"] for f in frames] == list(range(frames[0]["seq"], frames[0]["seq"] + 10))
    # REST got prompt, honest answers: a wait for a connection is "busy", never a 500.
    assert {status for status, _ in answers} == {503} and len(answers) == 60
    assert {code for _, code in answers} <= {"busy", "db_unavailable"} and ("busy", 503) in {
        (c, s) for s, c in answers}
    await ws.close()
    await store.close()


async def test_rest_flood_of_large_pages_is_capped_and_the_pushes_keep_coming(start_gateway, seeded_store):
    await seeded_store.insert_rows("fuel_metrics", [
        {"truck_id": "CO0681", "timestamp_utc": NOW - dt.timedelta(seconds=i), "rpm": i, "speed_mph": 50.5}
        for i in range(1000)])
    gw = await start_gateway(poll_interval=0.1, rest_concurrency=2, rest_queue_timeout=30)
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:FL-0208")
    assert (await recv(ws))["type"] == "snapshot"
    rest = asyncio.create_task(flood(gw, "/v1/trucks/CO0681/history?limit=1000", clients=12, rounds=3))
    frames = await watch(gw, ws, updates=8, rpm0=7000)
    answers = await rest
    assert [f["type"] for f in frames] == ["diff"] * 8  # no status frame: never degraded
    assert answers == [(200, None)] * 36
    assert gw.app[REST_GUARD].max_in_flight == 2  # never more pages in the works than the cap
    await ws.close()


async def test_per_client_rate_limit_answers_429_with_retry_after(start_gateway):
    gw = await start_gateway(rest_rate_limit=1, rest_rate_burst=3, trusted_proxies=parse_networks("127.0.0.1"))
    statuses = [(await get(gw, "/v1/trucks/FL-0208/sensors"))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, body, headers = await get(gw, "/v1/trucks/FL-0208/sensors")
    assert status == 429 and body["error"]["code"] == "rate_limited" and headers["Retry-After"] == "1"
    # Another client behind the same trusted proxy has its own budget.
    assert (await get(gw, "/v1/trucks", headers={"X-Forwarded-For": "198.51.100.7"}))[0] == 200
    assert (await get(gw, "/healthz"))[0] == 200  # only /v1/trucks is limited


async def test_a_full_queue_is_503_busy_not_an_outage(start_gateway, mysql_db):
    gw = await start_gateway(rest_concurrency=1, rest_queue=0)
    lock = admin_connection(mysql_db)
    with lock.cursor() as cur:
        cur.execute("LOCK TABLES fuel_metrics WRITE")
    try:
        hung = asyncio.create_task(get(gw, "/v1/trucks/FL-0208/history"))
        deadline = asyncio.get_running_loop().time() + 5
        while gw.app[REST_GUARD].in_flight == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        status, body, headers = await get(gw, "/v1/trucks/FL-0208/dtcs")
        assert status == 503 and body["error"]["code"] == "busy" and headers["Retry-After"] == "1"
    finally:
        with lock.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        lock.close()
    assert (await hung)[0] in (200, 503)


async def test_readyz_is_cached_shared_and_names_no_internals(start_gateway, mysql_db):
    gw = await start_gateway()
    pings = gw.store.queries["ping"]
    answers = await asyncio.gather(*(get(gw, "/readyz") for _ in range(50)))
    assert {status for status, _, _ in answers} == {200}
    assert gw.store.queries["ping"] == pings + 1  # one probe for fifty hits
    body = answers[0][1]
    assert body["components"] == {"database": "up"} and body["pool_max"] == 10
    text = orjson.dumps(body).decode()
    assert mysql_db not in text and MYSQL_USER + "@" not in text and "database\":\"mysql" not in text


async def test_readyz_detail_when_configured_or_behind_a_token(start_gateway, mysql_db):
    gw = await start_gateway(readyz_detail=True)
    assert mysql_db in (await get(gw, "/readyz"))[1]["database"]
    gw = await start_gateway(jwt_secret=SECRET)
    assert "database" not in (await get(gw, "/readyz"))[1]
    assert mysql_db in (await get(gw, "/readyz", headers=bearer(token(("*",)))))[1]["database"]


async def _missing_schema_answers(client_get) -> None:
    status, body, _ = await client_get("/readyz")
    assert status == 503 and body["components"] == {"database": "schema_missing"}
    assert body["error"]["code"] == "schema_missing" and "gateway initdb" in body["error"]["message"]
    assert "detail" not in body["error"]
    for path in ("/v1/trucks", "/v1/trucks/FL-0208/sensors", "/v1/trucks/FL-0208/history"):
        status, body, _ = await client_get(path)
        assert status == 503 and body["error"]["code"] == "schema_missing", path
        assert "gateway initdb" in body["error"]["message"]


async def test_missing_tables_are_503_schema_missing_on_mariadb(aiohttp_client, mysql_url: DbUrl):
    client = await aiohttp_client(make_app(Settings(db=mysql_url)))

    async def client_get(path):
        resp = await client.get(path)
        return resp.status, orjson.loads(await resp.read()), resp.headers

    await _missing_schema_answers(client_get)


async def test_missing_tables_are_503_schema_missing_on_sqlite(aiohttp_client, sqlite_url: DbUrl):
    client = await aiohttp_client(make_app(Settings(db=sqlite_url)))

    async def client_get(path):
        resp = await client.get(path)
        return resp.status, orjson.loads(await resp.read()), resp.headers

    await _missing_schema_answers(client_get)


@pytest.mark.parametrize("rows", [3, 1200])
async def test_pages_encoded_in_slices_are_the_same_json(start_gateway, seeded_store, rows):
    await seeded_store.insert_rows("fuel_metrics", [
        {"truck_id": "TX-0001", "timestamp_utc": NOW - dt.timedelta(seconds=i), "rpm": i} for i in range(rows)])
    gw = await start_gateway()
    status, body, _ = await get(gw, f"/v1/trucks/TX-0001/history?limit={rows}")
    assert status == 200 and len(body["items"]) == rows and body["next_cursor"]
    expected = await seeded_store.history("TX-0001", NOW - dt.timedelta(days=1), NOW + dt.timedelta(seconds=1), None,
                                          rows)
    assert body["items"] == expected and len(expected) == rows
